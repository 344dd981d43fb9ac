import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, Prng } from '@basalt/stdx';
import { FileKeyProvider } from './file-key-provider.js';
import { newVolumeKey, volumeBlockCipher } from './volume-key.js';

const dir = mkdtempSync(join(tmpdir(), 'basalt-kek-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A KEK file of `content` with `mode`. */
function kekFile(name: string, content: string | Buffer, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  return path;
}

const kekHex = (seed: number): string => Buffer.from(new Prng(seed).fill(new Uint8Array(32))).toString('hex');
const dataKey = Buffer.from(new Prng(9).fill(new Uint8Array(64)));
const ctx = { volumeId: 7, volumeName: 'v7' };

describe('the file key provider', () => {
  it('unwraps what it wrapped, for the same volume id only', async () => {
    const p = new FileKeyProvider(kekFile('a', kekHex(1) + '\n'));
    const w = await p.wrap(dataKey, ctx);
    expect(w.keyId).toMatch(/^file:[0-9a-f]{16}$/);
    expect(w.wrapped.length).toBe(12 + 64 + 16);
    expect(Buffer.from(await p.unwrap(w, ctx)).equals(dataKey)).toBe(true);
    await expect(p.unwrap(w, { volumeId: 8, volumeName: 'v7' })).rejects.toMatchObject({ code: ErrorCode.KeyMismatch });
  });

  it('reads a raw 32-byte KEK the same as its hex form', async () => {
    const raw = new FileKeyProvider(kekFile('raw', Buffer.from(kekHex(1), 'hex')));
    const hex = new FileKeyProvider(kekFile('hex', kekHex(1)));
    expect(Buffer.from(await raw.unwrap(await hex.wrap(dataKey, ctx), ctx)).equals(dataKey)).toBe(true);
  });

  it('says KEY_UNAVAILABLE for another KEK id and KEY_MISMATCH for a changed wrapped key', async () => {
    const p = new FileKeyProvider(kekFile('b', kekHex(1)));
    const other = new FileKeyProvider(kekFile('c', kekHex(2)));
    const w = await p.wrap(dataKey, ctx);
    await expect(other.unwrap(w, ctx)).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable, details: { keyId: w.keyId } });
    const changed = Buffer.from(w.wrapped);
    changed[20]! ^= 1;
    await expect(p.unwrap({ keyId: w.keyId, wrapped: changed }, ctx)).rejects.toMatchObject({ code: ErrorCode.KeyMismatch });
    await expect(p.unwrap({ keyId: w.keyId, wrapped: changed.subarray(0, 20) }, ctx)).rejects.toMatchObject({ code: ErrorCode.KeyMismatch });
  });

  it('refuses a KEK file that is missing, readable by others, or not a 32-byte key', async () => {
    const missing = new FileKeyProvider(join(dir, 'none'));
    await expect(missing.wrap(dataKey, ctx)).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    await expect(new FileKeyProvider(kekFile('open', kekHex(1), 0o644)).wrap(dataKey, ctx)).rejects.toThrow(/chmod 600/);
    await expect(new FileKeyProvider(kekFile('short', 'abcd')).wrap(dataKey, ctx)).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    // Put right while the client runs: the next call reads it again.
    kekFile('none', kekHex(3));
    expect((await missing.wrap(dataKey, ctx)).keyId).toMatch(/^file:/);
  });

  it('makes and opens a volume key; without a provider, neither', async () => {
    const p = new FileKeyProvider(kekFile('d', kekHex(4)));
    const enc = await newVolumeKey(p, ctx);
    expect(enc.cipher).toBe('aes-256-xts');
    const cipher = await volumeBlockCipher(p, enc, ctx);
    const plain = Buffer.alloc(4096, 3);
    expect(cipher.decryptInPlace(cipher.encrypt(plain, 5), 5).equals(plain)).toBe(true);
    await expect(newVolumeKey(undefined, ctx)).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    await expect(volumeBlockCipher(undefined, enc, ctx)).rejects.toMatchObject({ code: ErrorCode.KeyUnavailable });
    await expect(volumeBlockCipher(p, { ...enc, cipher: 'rot13' }, ctx)).rejects.toMatchObject({ code: ErrorCode.NotSupported });
  });
});
