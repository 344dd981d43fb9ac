// Generates static protobufjs code for every proto/*.proto into src/gen/ (gitignored) and copies it
// to dist/gen/, because tsc does not emit hand-off .js files. Run by `pnpm run build` (prebuild).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = dirname(dirname(fileURLToPath(import.meta.url)));
const protoDir = join(pkg, '..', '..', 'proto');
const genDir = join(pkg, 'src', 'gen');
const distDir = join(pkg, 'dist', 'gen');
const require = createRequire(join(pkg, '..', '..', 'package.json'));
const pbjs = require.resolve('protobufjs-cli/bin/pbjs');

const protos = readdirSync(protoDir).filter((f) => f.endsWith('.proto')).sort().map((f) => join(protoDir, f));
mkdirSync(genDir, { recursive: true });
mkdirSync(distDir, { recursive: true });
const out = join(genDir, 'proto.js');
execFileSync(process.execPath, [
  pbjs, '-t', 'static-module', '-w', 'esm', '--dependency', 'protobufjs/minimal.js',
  '--force-number', '--no-verify', '--no-delimited', '--no-typeurl', '-d', '-o', out, ...protos,
], { stdio: 'inherit' });
useNumbersForInt64(out);
for (const f of ['proto.js', 'proto.d.ts']) copyFileSync(join(genDir, f), join(distDir, f));

/**
 * --force-number types 64-bit fields as `number`, but the reader still returns Long objects when
 * the `long` package is present. Our 64-bit values are safe integers (validated at the
 * boundaries), so the generated module turns Long off for itself: uint64 decodes to a number.
 */
function useNumbersForInt64(file) {
  const importLine = 'import $protobuf from "protobufjs/minimal.js";';
  const text = readFileSync(file, 'utf8');
  if (!text.includes(importLine)) throw new Error(`gen-proto: ${file} does not import protobufjs/minimal.js as expected`);
  writeFileSync(file, text.replace(importLine, `${importLine}\n$protobuf.util.Long = undefined;\n$protobuf.configure();`));
}
console.log(`gen-proto: ${protos.length} proto file(s) -> ${out}`);
