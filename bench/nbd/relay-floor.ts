/**
 * The floor of Basalt's write message pattern on this machine: the same processes and TCP
 * messages as a 4 KiB write through the agent, with no work in them. A client sends a 4 KiB
 * request to a relay (the agent's place), the relay to a primary, the primary to its
 * secondaries; the acknowledgements come back the same way. Each hop is a separate Node process
 * on loopback that only frames bytes and forwards them (no parsing, checksums, files or metrics).
 *
 * What it answers: how much of a write's latency at queue depth 1 is the cost of the messages
 * themselves (wake-ups, loopback TCP, the scheduler), and how much is Basalt's code. Compare
 * its rows with the `rand write 4K QD1` rows of `bench:nbd` (fio -> agent -> chunkd) and of
 * chunkd-load.ts (client -> chunkd), run at the same time.
 *
 *   pnpm exec tsx bench/nbd/relay-floor.ts [--seconds 5]
 *
 * Roles (the script spawns itself): `sec`, `prim PEER...`, `relay UPSTREAM`; each prints its
 * port as one line on stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';
import { parseArgs } from 'node:util';

const requestBytes = 4096 + 64;
const ackBytes = 64;

/** Calls onMessage with each complete fixed-size message arriving on the socket. */
function framed(socket: net.Socket, size: number, onMessage: (m: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= size) {
      onMessage(pending.subarray(0, size));
      pending = pending.subarray(size);
    }
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Listens on a free loopback port, announces it, and hands each request to onRequest. */
function serve(onRequest: (reply: () => void, m: Buffer) => void): void {
  const server = net.createServer({ noDelay: true }, (s) => framed(s, requestBytes, (m) => onRequest(() => s.write(Buffer.alloc(ackBytes)), m)));
  server.listen(0, '127.0.0.1', () => console.log((server.address() as net.AddressInfo).port));
}

/** A secondary: acknowledges each request. */
function secondary(): void {
  serve((reply) => reply());
}

/** A primary: forwards each request to every peer and acknowledges once all did (FIFO per peer). */
async function primary(peerPorts: number[]): Promise<void> {
  const peers = await Promise.all(peerPorts.map(connect));
  const waiting = peers.map(() => [] as { left: number; reply: () => void }[]);
  peers.forEach((p, i) =>
    framed(p, ackBytes, () => {
      const w = waiting[i]!.shift()!;
      if (--w.left === 0) w.reply();
    }),
  );
  serve((reply, m) => {
    if (peers.length === 0) return reply();
    const w = { left: peers.length, reply };
    peers.forEach((p, i) => {
      waiting[i]!.push(w);
      p.write(m);
    });
  });
}

/** A relay (the agent's place): passes each request upstream and the acknowledgement back. */
async function relay(upstreamPort: number): Promise<void> {
  const up = await connect(upstreamPort);
  const replies: (() => void)[] = [];
  framed(up, ackBytes, () => replies.shift()!());
  serve((reply, m) => {
    replies.push(reply);
    up.write(m);
  });
}

interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly port: number;
}

async function start(name: string, args: string[]): Promise<Child> {
  const proc = spawn(process.execPath, [...process.execArgv, import.meta.filename, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: proc.stdout });
  for await (const line of lines) return { name, proc, port: Number(line) };
  throw new Error(`${name} exited before it listened`);
}

function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Sends requests one at a time (queue depth 1) for `ms`; returns the number completed. */
async function drive(port: number, ms: number): Promise<number> {
  const s = await connect(port);
  const request = Buffer.alloc(requestBytes, 0x5a);
  const deadline = performance.now() + ms;
  let done = 0;
  await new Promise<void>((resolve) => {
    framed(s, ackBytes, () => {
      done++;
      if (performance.now() < deadline) s.write(request);
      else resolve();
    });
    s.write(request);
  });
  s.destroy();
  return done;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
  const seconds = Math.max(1, Math.min(120, Number(values.seconds)));
  const children: Child[] = [];
  try {
    const s1 = await start('secondary 1', ['sec']);
    const s2 = await start('secondary 2', ['sec']);
    const p3 = await start('primary (3 replicas)', ['prim', String(s1.port), String(s2.port)]);
    const p1 = await start('primary (1 replica)', ['prim']);
    const r3 = await start('relay (3 replicas)', ['relay', String(p3.port)]);
    const r1 = await start('relay (1 replica)', ['relay', String(p1.port)]);
    children.push(s1, s2, p3, p1, r3, r1);
    const setups = [
      { name: '1 replica: client -> relay -> primary', port: r1.port, procs: [r1, p1] },
      { name: '3 replicas: client -> relay -> primary -> 2 secondaries', port: r3.port, procs: [r3, p3, s1, s2] },
    ];
    const ops = setups.map(() => 0);
    const cpu = setups.map(() => 0);
    // 1-second slices taking turns, so the machine's changing load hits both alike.
    for (let slice = 0; slice < seconds; slice++) {
      for (const [i, setup] of setups.entries()) {
        const before = setup.procs.map((c) => cpuMs(c.proc.pid!));
        ops[i]! += await drive(setup.port, 1000);
        cpu[i]! += setup.procs.reduce((sum, c, k) => sum + cpuMs(c.proc.pid!) - before[k]!, 0);
      }
      process.stderr.write(`\rslice ${slice + 1}/${seconds}`);
    }
    process.stderr.write('\n');
    console.log('| message pattern (4 KiB request, 64 B ack, QD1) | ops/s | µs per op | CPU µs per op (relay and servers) |');
    console.log('| --- | --- | --- | --- |');
    for (const [i, setup] of setups.entries()) {
      const perOp = (seconds * 1e6) / ops[i]!;
      console.log(`| ${setup.name} | ${Math.round(ops[i]! / seconds)} | ${perOp.toFixed(0)} | ${((cpu[i]! * 1000) / ops[i]!).toFixed(0)} |`);
    }
  } finally {
    for (const c of children) c.proc.kill('SIGTERM');
  }
}

const [role, ...rest] = process.argv.slice(2);
const ports = rest.map(Number);
if (role === 'sec') secondary();
else if (role === 'prim') await primary(ports);
else if (role === 'relay') await relay(ports[0]!);
else await main();
