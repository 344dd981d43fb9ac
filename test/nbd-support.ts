/**
 * Test support for the NBD interop tests: a volume store backed by sparse files (until the
 * client SDK provides real volumes), an in-process agent, and a way to run Debian's NBD clients
 * as child processes without blocking the event loop the agent runs on.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { get } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BasaltError, ErrorCode, KiB, assert } from '@basalt/stdx';
import { NbdServer } from '@basalt/agent';
import type { BlockDevice, Extent, NbdServerOptions, OpenOptions, VolumeInfo, VolumeProvider } from '@basalt/agent';

const blockBytes = 4 * KiB;

/** One volume: a sparse file plus a map of which 4 KiB blocks hold data (Node cannot punch holes). */
class FileVolume {
  readonly allocated: Uint8Array;
  /** Fencing token: bumped by every writer open; a device with an older token is fenced. */
  generation = 0;
  writers = 0;
  constructor(readonly name: string, readonly path: string, readonly sizeBytes: number) {
    this.allocated = new Uint8Array(Math.ceil(sizeBytes / blockBytes));
  }
}

/** Volumes in one directory, shared by every provider (agent) made from it, with writer leases. */
export class FileVolumeStore {
  readonly volumes = new Map<string, FileVolume>();
  constructor(readonly dir: string) {}

  create(name: string, sizeBytes: number): void {
    const path = join(this.dir, `${name}.img`);
    fs.writeFileSync(path, '');
    fs.truncateSync(path, sizeBytes);
    this.volumes.set(name, new FileVolume(name, path, sizeBytes));
  }

  /** A provider as one agent sees the store. */
  provider(): VolumeProvider {
    return {
      list: () => Promise.resolve([...this.volumes.values()].map((v): VolumeInfo => ({ name: v.name, sizeBytes: v.sizeBytes }))),
      open: (name, options) => this.open(name, options),
    };
  }

  private async open(name: string, options: OpenOptions): Promise<BlockDevice> {
    const volume = this.volumes.get(name);
    if (volume === undefined) throw new BasaltError(ErrorCode.VolumeNotFound, `no volume ${name}`);
    if (!options.readOnly) {
      if (volume.writers > 0 && !options.forceTakeover) throw new BasaltError(ErrorCode.LeaseConflict, `volume ${name} has a writer`);
      volume.writers = 1;
      volume.generation++;
    }
    const fd = await new Promise<number>((resolve, reject) => fs.open(volume.path, 'r+', (err, fd) => (err ? reject(err) : resolve(fd))));
    return new FileDevice(volume, fd, options.readOnly ? undefined : volume.generation);
  }
}

function io<T>(f: (cb: (err: NodeJS.ErrnoException | null, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => f((err, v) => (err ? reject(new BasaltError(ErrorCode.Io, err.message)) : resolve(v as T))));
}

class FileDevice implements BlockDevice {
  readonly sizeBytes: number;
  constructor(private readonly volume: FileVolume, private readonly fd: number, private readonly generation: number | undefined) {
    this.sizeBytes = volume.sizeBytes;
  }

  private checkRange(offset: number, length: number): void {
    assert(offset >= 0 && length >= 0 && offset + length <= this.sizeBytes, `range [${offset}, +${length}) outside the volume`);
  }

  private checkWriter(): void {
    if (this.generation === undefined) throw new BasaltError(ErrorCode.ReadOnly, 'opened read-only');
    if (this.generation !== this.volume.generation) throw new BasaltError(ErrorCode.LeaseFenced, 'another writer took the lease');
  }

  private mark(offset: number, length: number, data: boolean): void {
    const first = data ? Math.floor(offset / blockBytes) : Math.ceil(offset / blockBytes);
    const end = data ? Math.ceil((offset + length) / blockBytes) : Math.floor((offset + length) / blockBytes);
    for (let b = first; b < end; b++) this.volume.allocated[b] = data ? 1 : 0;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.checkRange(offset, length);
    const buf = Buffer.alloc(length);
    const n = await io<number>((cb) => fs.read(this.fd, buf, 0, length, offset, cb));
    assert(n <= length, 'read more than asked');
    return buf;
  }

  async write(offset: number, data: Buffer, options: { fua: boolean }): Promise<void> {
    this.checkRange(offset, data.length);
    this.checkWriter();
    await this.writeAll(offset, data);
    this.mark(offset, data.length, true);
    if (options.fua) await this.flush();
  }

  private async writeAll(offset: number, data: Buffer): Promise<void> {
    let done = 0;
    while (done < data.length) {
      done += await io<number>((cb) => fs.write(this.fd, data, done, data.length - done, offset + done, cb));
    }
  }

  flush(): Promise<void> {
    return io<void>((cb) => fs.fsync(this.fd, cb));
  }

  async trim(offset: number, length: number): Promise<void> {
    await this.zero(offset, length);
    this.mark(offset, length, false);
  }

  async writeZeroes(offset: number, length: number, options: { noHole: boolean; fastOnly: boolean }): Promise<void> {
    if (options.fastOnly && options.noHole) throw new BasaltError(ErrorCode.NotSupported, 'zeroing without a hole is as slow as writing');
    await this.zero(offset, length);
    this.mark(offset, length, options.noHole);
  }

  private async zero(offset: number, length: number): Promise<void> {
    this.checkRange(offset, length);
    this.checkWriter();
    const zeros = Buffer.alloc(Math.min(length, 1024 * KiB));
    for (let at = offset; at < offset + length; at += zeros.length) {
      await this.writeAll(at, zeros.subarray(0, Math.min(zeros.length, offset + length - at)));
    }
  }

  allocation(offset: number, length: number): Promise<Extent[]> {
    this.checkRange(offset, length);
    const extents: Extent[] = [];
    let at = offset;
    while (at < offset + length) {
      const block = Math.floor(at / blockBytes);
      const hole = this.volume.allocated[block] === 0;
      const end = Math.min((block + 1) * blockBytes, offset + length);
      const last = extents[extents.length - 1];
      if (last !== undefined && last.hole === hole) last.lengthBytes += end - at;
      else extents.push({ lengthBytes: end - at, hole });
      at = end;
    }
    return Promise.resolve(extents);
  }

  close(): Promise<void> {
    if (this.generation !== undefined && this.generation === this.volume.generation) this.volume.writers = 0;
    return io<void>((cb) => fs.close(this.fd, cb));
  }
}

/** A temp dir removed by `cleanup`. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `basalt-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type RunningAgent = { server: NbdServer; port: number; uri: (volume: string) => string; stop: () => Promise<void> };

/** Starts an agent in this process on an ephemeral loopback port. */
export async function startAgent(options: NbdServerOptions): Promise<RunningAgent> {
  const server = new NbdServer({ log: () => {}, ...options });
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port, uri: (volume) => `nbd://127.0.0.1:${port}/${volume}`, stop: () => server.close() };
}

export type RunResult = { code: number | null; signal: string | null; stdout: string; stderr: string };

/** Runs a command asynchronously (the agent shares this event loop), killing it after `timeoutMs`. */
export function run(cmd: string, args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // libnbd's tools run Python helpers from /usr/bin (FACTS.md: another python3 may shadow it).
    const env = { ...process.env, PATH: `/usr/bin:/usr/sbin:/bin:${process.env.PATH ?? ''}`, ...options.env };
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // A command that exits without reading its input (or before we close it) makes the write
    // fail with EPIPE; its exit status tells what happened. Unhandled, it failed a CI run.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs a command and fails with its output unless it exits 0. */
export async function runOk(cmd: string, args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** SHA-256 of a file, streamed. */
/**
 * qemu-io's patterns through `uri` (a 6 MiB or larger export): FUA writes, async writes and
 * flushes, write-zeroes with and without unmap, discard, unaligned I/O, each read back with the
 * pattern it must have. Returns qemu-io's output and how many reads it ran.
 */
export async function qemuIoPatterns(uri: string): Promise<{ stdout: string; reads: number; expectedReads: number }> {
  const cmds = [
    'write -P 0xa1 0 1M', 'write -f -P 0xb2 1M 64k', 'aio_write -P 0xc3 2M 128k', 'aio_write -P 0xc4 3M 128k', 'aio_flush',
    'flush', 'read -P 0xa1 0 1M', 'read -P 0xb2 1M 64k', 'read -P 0xc3 2M 128k', 'read -P 0xc4 3M 128k',
    'write -z 0 64k', 'read -P 0 0 64k', 'read -P 0xa1 64k 960k', 'write -z -u 128k 64k', 'read -P 0 128k 64k',
    'discard 1M 64k', 'write -P 0xd5 1M 4k', 'read -P 0xd5 1M 4k', 'write -f -z 5M 1M', 'read -P 0 5M 1M',
    'write -P 0xe6 100 333', 'read -P 0xe6 100 333', 'read -P 0 0 100',
  ];
  const r = await runOk('qemu-io', ['-f', 'raw', uri, ...cmds.flatMap((c) => ['-c', c])]);
  return { stdout: r.stdout, reads: r.stdout.match(/^read /gm)?.length ?? 0, expectedReads: cmds.filter((c) => c.startsWith('read')).length };
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    fs.createReadStream(path).on('data', (d) => h.update(d)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

/** A file of `bytes` pseudo-random bytes from a seed, with `holes` zeroed 1 MiB runs (sparse regions). */
export function writeRandomFile(path: string, bytes: number, seed: number, zeroMiB: number[] = []): void {
  const fd = fs.openSync(path, 'w');
  const chunk = Buffer.alloc(1024 * KiB);
  let x = seed >>> 0 || 1;
  for (let at = 0, mib = 0; at < bytes; at += chunk.length, mib++) {
    if (zeroMiB.includes(mib)) chunk.fill(0);
    else for (let i = 0; i < chunk.length; i += 4) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      chunk.writeUInt32LE(x, i);
    }
    fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - at), at);
  }
  fs.closeSync(fd);
}

/** Polls `cond` until it holds; fails after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** GET a URL and return the body. */
export function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}
