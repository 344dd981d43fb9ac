#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

// The NBD agent keeps V8's young generation at its initial size (two 1 MiB semi-spaces) instead of
// letting it grow to 32 MiB, which its budget cannot afford (docs/nbd.md, "Memory"), and fixes
// the old generation's growing factor at 2.5 (chunkd: 3): the socket chunks of the NBD stream
// (~1 MiB of external memory per MiB written) otherwise start a mark-compact every 10-20 MiB
// (docs/data-path.md, "Large writes: the chunk server's heap"). Set before the other modules
// load: loading them is what would grow the young generation first.
const agent = process.argv[2] === 'agent';
if (agent) setFlagsFromString('--semi-space-growth-factor=1 --heap-growing-percent=150');
// A chunk server's heap flags (why: packages/chunk/src/heap-flags.ts), likewise before its modules load.
if (process.argv[2] === 'chunk') setFlagsFromString((await import('@basalt/chunk/heap-flags')).chunkdHeapFlags);
const { main } = await import('./main.js');
// The agent loads only its own command's modules (not metad's, chunkd's or the CSI driver's): ~9 MiB less.
const groups = agent ? [(await import('./commands/agent.js')).agentGroup] : undefined;

// DEP0123 (an IP address as TLS server name, from grpc-js) is harmless here: not shown.
(await import('@basalt/stdx')).hideIpServerNameWarning();

const io = {
  out: (text: string) => void process.stdout.write(text),
  err: (text: string) => void process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
};

main(process.argv.slice(2), io, groups).then(
  (code) => {
    process.exit(code);
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 70;
  },
);
