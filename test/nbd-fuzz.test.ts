/**
 * Fuzzing the agent with random and mutated handshakes and requests (bounded count, seeded:
 * a failure prints SEED=... and NBD_FUZZ_SEED reruns it). Checks: the agent keeps serving a
 * well-behaved client throughout; no connection leaks; the device only ever sees writes that
 * the bytes sent actually asked for (same offset, length and data), all inside the volume.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, Prng } from '@basalt/stdx';
import type { BlockDevice, VolumeProvider } from '@basalt/agent';
import { Cmd, CmdFlag, IHAVEOPT, REQUEST_MAGIC, encodeRequest } from '@basalt/agent/protocol';
import { FileVolumeStore, startAgent, tempDir, waitFor } from './nbd-support.js';
import type { RunningAgent } from './nbd-support.js';
import { RawNbd, exportData, metaContextData } from './nbd-raw-client.js';

const seed = Number(process.env.NBD_FUZZ_SEED ?? Date.now() % 1_000_000);
const size = 4 * MiB;
const connections = 240;
const requestsPerConnection = 24;

type Mutation = { op: string; offset: number; length: number; data?: string };

/** Records every mutation that reaches a device. */
function recording(inner: VolumeProvider, log: Map<string, Mutation[]>): VolumeProvider {
  const note = (volume: string, m: Mutation) => {
    if (!log.has(volume)) log.set(volume, []);
    log.get(volume)!.push(m);
  };
  return {
    list: () => inner.list(),
    open: async (name, options) => {
      const d = await inner.open(name, options);
      const wrapped: BlockDevice = {
        sizeBytes: d.sizeBytes,
        read: (o, l) => d.read(o, l),
        write: (o, data, x) => (note(name, { op: 'write', offset: o, length: data.length, data: data.toString('base64') }), d.write(o, data, x)),
        flush: () => d.flush(),
        trim: (o, l) => (note(name, { op: 'trim', offset: o, length: l }), d.trim(o, l)),
        writeZeroes: (o, l, x) => (note(name, { op: 'zero', offset: o, length: l }), d.writeZeroes(o, l, x)),
        allocation: (o, l) => d.allocation(o, l),
        close: () => d.close(),
      };
      return wrapped;
    },
  };
}

/** The mutations a byte stream of requests allows, parsed independently of the agent. */
function allowedBy(stream: Buffer): Mutation[] {
  const out: Mutation[] = [];
  let at = 0;
  while (stream.length - at >= 28 && stream.readUInt32BE(at) === REQUEST_MAGIC) {
    const type = stream.readUInt16BE(at + 6);
    const offset = Number(stream.readBigUInt64BE(at + 16));
    const length = stream.readUInt32BE(at + 24);
    at += 28;
    if (type === Cmd.Disc) break;
    if (type === Cmd.Write) {
      if (length > 32 * MiB || stream.length - at < length) break;
      out.push({ op: 'write', offset, length, data: stream.subarray(at, at + length).toString('base64') });
      at += length;
    } else if (type === Cmd.Trim) out.push({ op: 'trim', offset, length });
    else if (type === Cmd.WriteZeroes) out.push({ op: 'zero', offset, length });
  }
  return out;
}

function flipBits(prng: Prng, b: Buffer, flips: number): Buffer {
  const c = Buffer.from(b);
  for (let i = 0; i < flips && c.length > 0; i++) c[prng.int(0, c.length - 1)]! ^= 1 << prng.int(0, 7);
  return c;
}

function randomRequest(prng: Prng, handle: number): Buffer {
  const type = prng.chance(0.9) ? prng.pick([Cmd.Read, Cmd.Write, Cmd.Write, Cmd.Flush, Cmd.Trim, Cmd.WriteZeroes, Cmd.BlockStatus, Cmd.Cache]) : prng.int(0, 20);
  const flags = prng.chance(0.8) ? prng.pick([0, CmdFlag.Fua, CmdFlag.NoHole, CmdFlag.Df, CmdFlag.ReqOne]) : prng.int(0, 0xffff);
  const offset = prng.chance(0.85) ? BigInt(prng.int(0, size)) : BigInt(prng.int(0, 2 ** 31)) * 2n ** 32n + BigInt(prng.nextUint32());
  const length = prng.chance(0.9) ? prng.int(0, 70_000) : prng.nextUint32();
  const h = Buffer.alloc(8);
  h.writeUInt32BE(handle, 4);
  const header = encodeRequest({ flags, type, handle: h, offset, length: type === Cmd.Write && length > 70_000 ? prng.int(0, 70_000) : length });
  const payload = type === Cmd.Write ? Buffer.from(prng.fill(new Uint8Array(header.readUInt32BE(24)))) : Buffer.alloc(0);
  const msg = Buffer.concat([header, payload]);
  if (prng.chance(0.05)) return flipBits(prng, msg, prng.int(1, 4));
  if (prng.chance(0.03)) return msg.subarray(0, prng.int(0, msg.length));
  return msg;
}

function randomOption(prng: Prng): Buffer {
  const option = prng.chance(0.8) ? prng.int(0, 12) : prng.nextUint32();
  const data = prng.pick([
    () => Buffer.from(prng.fill(new Uint8Array(prng.int(0, 80)))),
    () => exportData(prng.pick(['hs', '', 'nope', 'hs\u0000x']), [prng.int(0, 5)]),
    () => metaContextData('hs', [prng.pick(['base:allocation', 'base:', 'x:y', ''])]),
    () => Buffer.alloc(0),
  ])();
  const h = Buffer.alloc(16);
  h.writeBigUInt64BE(IHAVEOPT, 0);
  h.writeUInt32BE(option >>> 0, 8);
  h.writeUInt32BE(prng.chance(0.95) ? data.length : prng.nextUint32(), 12);
  const msg = Buffer.concat([h, data]);
  return prng.chance(0.1) ? flipBits(prng, msg, prng.int(1, 3)) : msg;
}

describe('NBD agent under fuzzing', () => {
  const tmp = tempDir('nbd-fuzz');
  const store = new FileVolumeStore(tmp.dir);
  const mutations = new Map<string, Mutation[]>();
  let agent: RunningAgent;

  beforeAll(async () => {
    store.create('fz', size);
    store.create('hs', size);
    store.create('healthy', size);
    agent = await startAgent({ provider: recording(store.provider(), mutations) });
  });
  afterAll(async () => {
    await agent?.stop();
    tmp.cleanup();
  });

  it(`survives ${connections} hostile connections and never writes what was not asked (SEED=${seed})`, async () => {
    const prng = new Prng(seed);
    const healthy = await RawNbd.connect(agent.port);
    await healthy.handshake();
    await healthy.go('healthy');
    const allowed: Mutation[] = [];
    let probe = 0;
    const checkHealthy = async () => {
      const word = Buffer.from(`probe-${++probe}`);
      healthy.request(Cmd.Write, 0, BigInt(probe * 2), BigInt(probe * 64), word.length, word);
      expect((await healthy.reply()).error).toBe(0);
      healthy.request(Cmd.Read, 0, BigInt(probe * 2 + 1), BigInt(probe * 64), word.length);
      expect((await healthy.reply()).data.equals(word)).toBe(true);
    };

    for (let i = 0; i < connections; i += 4) {
      const batch = Array.from({ length: 4 }, () => fuzzOne(new Prng(prng.nextUint32()), agent.port, allowed));
      await Promise.all(batch);
      await checkHealthy();
    }

    for (const m of mutations.get('fz') ?? []) {
      expect(m.offset + m.length, `SEED=${seed} write past the end`).toBeLessThanOrEqual(size);
      const ok = allowed.some((a) => a.op === m.op && a.offset === m.offset && a.length === m.length && a.data === m.data);
      expect(ok, `SEED=${seed}: ${m.op} at ${m.offset}+${m.length} was never requested`).toBe(true);
    }
    expect(mutations.get('hs') ?? [], `SEED=${seed}: handshake fuzzing wrote data`).toEqual([]);
    expect((mutations.get('fz') ?? []).length).toBeGreaterThan(50); // the fuzzer did reach the device
    await waitFor(() => agent.server.connectionCount === 1);
    const fresh = await RawNbd.connect(agent.port);
    await fresh.handshake();
    await fresh.go('fz');
    fresh.request(Cmd.Read, 0, 1n, 0n, 4096);
    expect((await fresh.reply()).error).toBe(0);
    fresh.destroy();
    healthy.destroy();
  });
});

async function fuzzOne(prng: Prng, port: number, allowed: Mutation[]): Promise<void> {
  const c = await RawNbd.connect(port);
  try {
    const mode = prng.int(0, 2);
    if (mode === 0) {
      c.write(Buffer.from(prng.fill(new Uint8Array(prng.int(0, 300)))));
    } else if (mode === 1) {
      await c.handshake(prng.chance(0.9) ? 3 : prng.nextUint32());
      for (let i = 0; i < prng.int(1, 12); i++) c.write(randomOption(prng));
    } else {
      await c.handshake();
      await c.go('fz', { structured: prng.chance(0.7), meta: prng.chance(0.7) });
      const stream = Buffer.concat(Array.from({ length: prng.int(1, requestsPerConnection) }, (_, i) => randomRequest(prng, i)));
      allowed.push(...allowedBy(stream));
      c.write(stream);
    }
    await c.closedWithin(prng.int(0, 60));
  } finally {
    c.destroy();
  }
}
