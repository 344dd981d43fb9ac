import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderAll } from './render.js';

/**
 * Writes deploy/'s generated files (compose.yaml, k8s/, dashboards/), or with --check compares them
 * with what is committed and exits 1 naming the stale ones.
 */

const deployDir = join(dirname(fileURLToPath(import.meta.url)), '..');

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function main(argv: readonly string[]): number {
  const check = argv.includes('--check');
  const stale: string[] = [];
  for (const [file, content] of renderAll()) {
    const path = join(deployDir, file);
    if (readOrEmpty(path) === content) continue;
    stale.push(file);
    if (!check) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
  }
  if (check && stale.length > 0) {
    console.error(`deploy: stale generated files (run \`pnpm --filter @basalt/deploy generate\`): ${stale.join(', ')}`);
    return 1;
  }
  console.log(check ? 'deploy: generated files are current' : `deploy: wrote ${stale.length} file(s)${stale.length > 0 ? `: ${stale.join(', ')}` : ''}`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
