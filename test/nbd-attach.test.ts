import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '@basalt/cli';
import { findFreeDevice, nbdClientAttachArgs } from '@basalt/client';
import { captureIo } from '@basalt/cli/testing';

/** `basalt attach`: argument building, device choice, and the error on a kernel without nbd. */

describe('basalt attach', () => {
  const dir = mkdtempSync(join(tmpdir(), 'basalt-attach-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds nbd-client arguments for plain, read-only, multi-connection and TLS attaches', () => {
    const base = { host: '127.0.0.1', port: 10809, volume: 'db', device: '/dev/nbd3', readOnly: false, connections: 1 };
    expect(nbdClientAttachArgs(base)).toEqual(['127.0.0.1', '10809', '/dev/nbd3', '-N', 'db', '-block-size', '4096']);
    expect(nbdClientAttachArgs({ ...base, readOnly: true, connections: 4 })).toEqual(
      ['127.0.0.1', '10809', '/dev/nbd3', '-N', 'db', '-block-size', '4096', '-connections', '4', '-readonly']);
    expect(nbdClientAttachArgs({ ...base, tls: { cert: 'c.pem', key: 'k.pem', ca: 'ca.pem' } }).slice(-7)).toEqual(
      ['-enable-tls', '-certfile', 'c.pem', '-keyfile', 'k.pem', '-cacertfile', 'ca.pem']);
  });

  it('picks the lowest-numbered nbd device that no client holds', () => {
    const sys = join(dir, 'sys-block');
    const device = (name: string, size: string, pid?: string): void => {
      mkdirSync(join(sys, name), { recursive: true });
      writeFileSync(join(sys, name, 'size'), `${size}\n`);
      if (pid !== undefined) writeFileSync(join(sys, name, 'pid'), pid);
    };
    device('nbd0', '2097152', '123');
    device('nbd1', '0', '456');
    device('nbd10', '0');
    device('nbd2', '0');
    device('sda', '0');
    expect(findFreeDevice(sys)).toBe('/dev/nbd2');
  });

  it('rejects a device that is not /dev/nbdN before touching the kernel', async () => {
    const io = captureIo();
    expect(await main(['attach', 'db', '--agent', '127.0.0.1:10809', '--device', '/dev/sda'], io)).toBe(2);
    expect(io.stderr).toMatch(/BASALT_INVALID_ARGUMENT: --device must be \/dev\/nbdN/);
  });

  // This host's kernel has no nbd driver (FACTS.md), which is the case this test covers; on a
  // kernel that has one, attaching for real is covered by test/nbd-kernel.test.ts in a VM.
  it.skipIf(existsSync('/sys/module/nbd'))('explains what to do when the kernel has no nbd driver', async () => {
    const io = captureIo();
    expect(await main(['attach', 'db', '--agent', '127.0.0.1:10809'], io)).toBe(1);
    expect(io.stderr).toMatch(/BASALT_NOT_SUPPORTED: the kernel's nbd driver is not loaded.*userspace client/s);
  });
});
