import fs from 'node:fs';
import type { Volume } from '@basalt/client';

/** What a workload runs against: a Basalt volume through the SDK, or a local file for scale. */
export interface Target {
  readonly name: string;
  readonly sizeBytes: number;
  read(offset: number, length: number): Promise<unknown>;
  write(offset: number, data: Buffer): Promise<void>;
  close(): Promise<void>;
}

export function volumeTarget(name: string, volume: Volume): Target {
  return {
    name,
    sizeBytes: volume.size,
    read: (offset, length) => volume.read(offset, length),
    write: (offset, data) => volume.write(offset, data),
    close: () => volume.close(),
  };
}

/** A preallocated local file on the same disk, read and written with the fs callback API (no fsync, like SDK writes without FUA). */
export function fileTarget(path: string, sizeBytes: number): Target {
  const fd = fs.openSync(path, 'w+');
  fs.ftruncateSync(fd, sizeBytes);
  return {
    name: 'local file',
    sizeBytes,
    read: (offset, length) => new Promise((resolve, reject) => {
      const buf = Buffer.allocUnsafe(length);
      fs.read(fd, buf, 0, length, offset, (err) => (err ? reject(err) : resolve(buf)));
    }),
    write: (offset, data) => new Promise((resolve, reject) => fs.write(fd, data, 0, data.length, offset, (err) => (err ? reject(err) : resolve()))),
    close: () => new Promise((resolve) => fs.close(fd, () => {
      fs.rmSync(path, { force: true });
      resolve();
    })),
  };
}
