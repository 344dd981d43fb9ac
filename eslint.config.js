// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * Pure modules: deterministic, synchronous, no I/O. They take time and randomness
 * as inputs so that a seeded simulation can drive them. Add a folder here when a
 * module joins that club (see STYLE.md, "Pure cores, thin shells").
 */
export const pureModules = [
  'packages/raft/src/core/**/*.ts',
  'packages/meta/src/state/**/*.ts',
  'packages/agent/src/protocol/**/*.ts',
  'packages/chunk/src/replica/**/*.ts',
  'packages/meta/src/server/console/view/**/*.ts',
  'packages/meta/src/server/deferred-apply.ts',
  'packages/chunk/src/repair/token-bucket.ts',
  'packages/chunk/src/repair/copy-plan.ts',
  'packages/chunk/src/repair/scrub-plan.ts',
  'packages/chunk/src/repair/scrub-schedule.ts',
  'packages/csi/src/core/**/*.ts',
  'packages/client/src/allocate-ahead.ts',
];

const purityRules = {
  'no-restricted-imports': ['error', {
    patterns: [{ group: ['node:*', 'fs', 'fs/*', 'net', 'http', 'http2', 'dgram', 'child_process', 'worker_threads', 'timers', 'timers/*', 'crypto', 'os', 'level', 'classic-level', '@grpc/*'], message: 'pure modules do no I/O: inject what you need' }],
  }],
  'no-restricted-globals': ['error',
    { name: 'setTimeout', message: 'pure modules take time from tick()' },
    { name: 'setInterval', message: 'pure modules take time from tick()' },
    { name: 'setImmediate', message: 'pure modules take time from tick()' },
    { name: 'queueMicrotask', message: 'pure modules are synchronous' },
    { name: 'process', message: 'pure modules do not touch the process' },
    { name: 'Date', message: 'pure modules take time as an input' },
    { name: 'performance', message: 'pure modules take time as an input' },
    { name: 'fetch', message: 'pure modules do no I/O' },
  ],
  'no-restricted-properties': ['error',
    { object: 'Math', property: 'random', message: 'pure modules take randomness as an input (a seeded Prng)' },
  ],
  'no-restricted-syntax': ['error',
    { selector: 'AwaitExpression', message: 'pure modules are synchronous' },
    { selector: 'FunctionDeclaration[async=true], FunctionExpression[async=true], ArrowFunctionExpression[async=true]', message: 'pure modules are synchronous' },
  ],
};

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'packages/wire/src/gen/**', '.basalt/**', 'bench/out/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: { allowDefaultProject: ['*.js', '*.mjs', '*.ts', 'scripts/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
      'no-console': 'off',
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  { files: pureModules, ignores: ['**/*.test.ts'], rules: purityRules },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);
