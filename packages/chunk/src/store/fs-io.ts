import fs from 'node:fs';
import { assert, BasaltError, ErrorCode } from '@basalt/stdx';

/**
 * Promise wrappers over the fs callback API (the hot path: FACTS.md measured fs.promises at
 * 2.3-7x the CPU cost). Errors become BasaltErrors: ENOSPC is BASALT_NO_SPACE, others BASALT_IO.
 */
export function ioError(err: NodeJS.ErrnoException, what: string): BasaltError {
  if (err.code === 'ENOSPC' || err.code === 'EDQUOT') return new BasaltError(ErrorCode.NoSpace, `no space left on the chunk server's disk (${what})`, { errno: err.code }, { cause: err });
  return new BasaltError(ErrorCode.Io, `${what}: ${err.message}`, { errno: err.code }, { cause: err });
}

/**
 * Where a read or write runs: 'pool' in libuv's thread pool (the event loop goes on meanwhile),
 * 'inline' as a synchronous pread/pwrite on the event loop (inline-io.ts decides when).
 */
export type IoMode = 'pool' | 'inline';

export function writeFully(fd: number, buf: Uint8Array, position: number, what: string, mode: IoMode = 'pool'): Promise<void> {
  if (mode === 'inline') {
    try {
      for (let done = 0; done < buf.length; ) {
        const n = fs.writeSync(fd, buf, done, buf.length - done, position + done);
        if (n === 0) return Promise.reject(new BasaltError(ErrorCode.Io, `${what}: write made no progress`));
        done += n;
      }
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(ioError(err as NodeJS.ErrnoException, what));
    }
  }
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === buf.length) {
        resolve();
        return;
      }
      fs.write(fd, buf, done, buf.length - done, position + done, (err, n) => {
        if (err !== null) reject(ioError(err, what));
        else if (n === 0) reject(new BasaltError(ErrorCode.Io, `${what}: write made no progress`));
        else step(done + n);
      });
    };
    step(0);
  });
}

/** Reads length bytes at position (into `into`, of exactly that length, when given); bytes past the end of the file read as zeros. */
export function readFully(fd: number, length: number, position: number, what: string, mode: IoMode = 'pool', into?: Buffer): Promise<Buffer> {
  const buf = into ?? Buffer.allocUnsafe(length);
  assert(buf.length === length, 'a read fills its whole buffer');
  if (mode === 'inline') {
    try {
      for (let done = 0; done < length; ) {
        const n = fs.readSync(fd, buf, done, length - done, position + done);
        if (n === 0) {
          buf.fill(0, done);
          break;
        }
        done += n;
      }
      return Promise.resolve(buf);
    } catch (err) {
      return Promise.reject(ioError(err as NodeJS.ErrnoException, what));
    }
  }
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === length) {
        resolve(buf);
        return;
      }
      fs.read(fd, buf, done, length - done, position + done, (err, n) => {
        if (err !== null) reject(ioError(err, what));
        else if (n === 0) {
          buf.fill(0, done);
          resolve(buf);
        } else step(done + n);
      });
    };
    step(0);
  });
}

export function fdatasync(fd: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err === null ? resolve() : reject(ioError(err, what)))));
}

export function openFile(path: string, flags: string | number, what: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, 0o644, (err, fd) => (err === null ? resolve(fd) : reject(ioError(err, what)))));
}

export function closeFile(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err === null ? resolve() : reject(ioError(err, 'close')))));
}
