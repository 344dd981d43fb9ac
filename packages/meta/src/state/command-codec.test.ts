import { AssertionError, GiB, MiB } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand } from './command-codec.js';
import type { Command } from './commands.js';

const everyCommand: Command[] = [
  { type: 'registerServer', serverId: 's1', address: '127.0.0.1:7001', zone: 'z1', capacityBytes: 100 * GiB, freeBytes: 99 * GiB, nowMs: 1 },
  { type: 'heartbeat', serverId: 's1', freeBytes: 5, nowMs: 2 },
  { type: 'markServerDown', serverId: 's1', nowMs: 3 },
  { type: 'markServerUp', serverId: 's1', nowMs: 4 },
  { type: 'setServerDraining', serverId: 's1', draining: true },
  { type: 'removeServer', serverId: 's1' },
  { type: 'removeServer', serverId: 's1', dropFromSets: true },
  { type: 'markServerOut', serverId: 's1', nowMs: 4 },
  { type: 'createVolume', name: 'v', sizeBytes: 2 ** 50, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 5 },
  { type: 'createVolume', name: 'v', sizeBytes: 64 * MiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 5, cipher: 'aes-256-xts', keyId: 'file:0a', wrappedKey: 'AAAA', expectedId: 9 },
  { type: 'resizeVolume', name: 'v', sizeBytes: 128 * MiB },
  { type: 'deleteVolume', name: 'v', force: false },
  { type: 'setLabel', name: 'v', key: 'k', value: 'ü€', expect: null },
  { type: 'setLabel', name: 'v', key: 'k', value: null },
  { type: 'setLabel', name: 'v', key: 'k', value: 'x', expect: 'y' },
  { type: 'allocateExtent', name: 'v', index: 7 },
  { type: 'allocateExtent', name: 'v', index: 7, minReplicas: 2 },
  { type: 'dropReplica', name: 'v', index: 7, serverId: 's2', expectedEpoch: 3 },
  { type: 'dropReplica', name: 'v', index: 7, serverId: 's2', expectedEpoch: 3, reason: 'copy_failed' },
  { type: 'addRebuilding', name: 'v', index: 7, serverId: 's3', expectedEpoch: 4 },
  { type: 'promoteReplica', name: 'v', index: 7, serverId: 's3', expectedEpoch: 5 },
  { type: 'acquireLease', name: 'v', clientId: 'c-1', force: true, nowMs: 6 },
  { type: 'releaseLease', name: 'v', clientId: 'c-1', generation: 4 },
  { type: 'createVolume', name: 'v', sizeBytes: 64 * MiB, extentSizeBytes: 64 * MiB, replicationFactor: 3, nowMs: 5, tenant: 'team-a' },
  { type: 'resizeVolume', name: 'v', sizeBytes: 128 * MiB, requireTenant: 'team-a' },
  { type: 'deleteVolume', name: 'v', force: true, requireTenant: 'team-a' },
  { type: 'createTenant', name: 'team-a', maxBytes: GiB, maxVolumes: 10, nowMs: 7 },
  { type: 'deleteTenant', name: 'team-a' },
  { type: 'setTenantQuota', name: 'team-a', maxBytes: 0, maxVolumes: 3 },
];

const bytes = (text: string) => new TextEncoder().encode(text);

describe('command encoding', () => {
  it.each(everyCommand.map((c) => [c.type, c] as const))('%s survives a round trip', (_, cmd) => {
    expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
  });

  it('writes a versioned, compact entry with only the command fields', () => {
    const text = new TextDecoder().decode(encodeCommand({ type: 'allocateExtent', name: 'v', index: 7 }));
    expect(JSON.parse(text)).toEqual({ v: 1, c: { type: 'allocateExtent', name: 'v', index: 7 } });
  });

  it('leaves an absent optional field out of the entry, as entries written before it existed', () => {
    const text = new TextDecoder().decode(encodeCommand({ type: 'allocateExtent', name: 'v', index: 7, minReplicas: undefined }));
    expect(text).toBe('{"v":1,"c":{"type":"allocateExtent","name":"v","index":7}}');
    expect(decodeCommand(bytes(text))).toEqual({ type: 'allocateExtent', name: 'v', index: 7 });
  });

  it('asserts on a command with fields it does not know or numbers JSON cannot carry', () => {
    const extra = { type: 'removeServer', serverId: 's1', force: true } as unknown as Command;
    expect(() => encodeCommand(extra)).toThrow(AssertionError);
    expect(() => encodeCommand({ type: 'allocateExtent', name: 'v', index: NaN })).toThrow(AssertionError);
    expect(() => encodeCommand({ type: 'nope' } as unknown as Command)).toThrow(AssertionError);
  });

  it.each([
    ['bytes that are not UTF-8', new Uint8Array([0xff, 0xfe])],
    ['text that is not JSON', bytes('{"v":1,')],
    ['a newer format', bytes('{"v":2,"c":{"type":"removeServer","serverId":"s"}}')],
    ['no command', bytes('{"v":1}')],
    ['an unknown type', bytes('{"v":1,"c":{"type":"format","disk":"all"}}')],
    ['a missing field', bytes('{"v":1,"c":{"type":"allocateExtent","name":"v"}}')],
    ['a field of the wrong type', bytes('{"v":1,"c":{"type":"allocateExtent","name":"v","index":"7"}}')],
    ['an extra field', bytes('{"v":1,"c":{"type":"allocateExtent","name":"v","index":7,"x":1}}')],
    ['an optional number that is not a number', bytes('{"v":1,"c":{"type":"allocateExtent","name":"v","index":7,"minReplicas":null}}')],
    ['null where a string is needed', bytes('{"v":1,"c":{"type":"removeServer","serverId":null}}')],
    ['an inherited type name', bytes('{"v":1,"c":{"type":"toString"}}')],
  ])('decoding %s is an assertion failure (a corrupt entry is a bug)', (_, entry) => {
    expect(() => decodeCommand(entry)).toThrow(AssertionError);
  });
});
