#!/usr/bin/env node
import { main } from './main.js';

// grpc-js sends the target's IP address as the TLS server name, which Node deprecates (DEP0123,
// printed once per process). Our certificates carry IP SANs, so it is harmless: not shown.
const [printWarning] = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (w: Error & { code?: string }) => {
  if (w.code !== 'DEP0123') printWarning?.(w);
});

const io = {
  out: (text: string) => void process.stdout.write(text),
  err: (text: string) => void process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
};

main(process.argv.slice(2), io).then(
  (code) => {
    process.exit(code);
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 70;
  },
);
