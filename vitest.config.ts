import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

// Tests run against the TypeScript sources of the workspace packages:
// '@basalt/x' is packages/x/src/index.ts and '@basalt/x/y' is packages/x/src/y/index.ts.
// Every test file starts without the developer's BASALT_* variables (test/lib/hermetic-setup.ts).
const setupFiles = [`${root}test/lib/hermetic-setup.ts`];

const alias = [
  { find: /^@basalt\/([a-z]+)$/, replacement: `${root}packages/$1/src/index.ts` },
  { find: /^@basalt\/([a-z]+)\/([a-z-]+)$/, replacement: `${root}packages/$1/src/$2/index.ts` },
];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          setupFiles,
          include: ['packages/*/src/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'system',
          setupFiles,
          include: ['test/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          // Cross-process tests start real clusters; running them one file at a time keeps a
          // 2-core machine from starving their timers.
          fileParallelism: false,
        },
      },
    ],
  },
});
