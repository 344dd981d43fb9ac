import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import type { KeyContext, KeyProvider, WrappedKey } from './key-provider.js';

const kekBytes = 32;
const nonceBytes = 12;
const tagBytes = 16;

/**
 * A KEK kept in a local file: 32 random bytes, raw or as 64 hex digits (`openssl rand -hex 32`),
 * readable by its owner only (mode 0600 or stricter: a file others may read is refused). Data
 * keys are wrapped with AES-256-GCM, a random 12-byte nonce, and the volume id as associated
 * data, so a wrapped key moved to another volume's record does not unwrap. Stored as
 * nonce | ciphertext | tag. The key id names the KEK without revealing it: "file:" and the first
 * 16 hex digits of a SHA-256 of it. The file is read at the first wrap or unwrap, so a client
 * without one works with unencrypted volumes.
 */
export class FileKeyProvider implements KeyProvider {
  private kek: Promise<{ key: Buffer; keyId: string }> | undefined;

  constructor(readonly path: string) {}

  async wrap(dataKey: Uint8Array, context: KeyContext): Promise<WrappedKey> {
    const { key, keyId } = await this.load();
    const nonce = randomBytes(nonceBytes);
    const cipher = createCipheriv('aes-256-gcm', key, nonce).setAAD(associatedData(context));
    const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    return { keyId, wrapped: Buffer.concat([nonce, body, cipher.getAuthTag()]) };
  }

  async unwrap(wrapped: WrappedKey, context: KeyContext): Promise<Uint8Array> {
    const { key, keyId } = await this.load();
    const details = { volume: context.volumeName, keyId: wrapped.keyId, providerKeyId: keyId, path: this.path };
    if (wrapped.keyId !== keyId) {
      throw new BasaltError(ErrorCode.KeyUnavailable, `volume ${context.volumeName}'s data key was wrapped by KEK ${wrapped.keyId}; ${this.path} holds KEK ${keyId}`, details);
    }
    const w = Buffer.from(wrapped.wrapped);
    const mismatch = (): BasaltError => new BasaltError(ErrorCode.KeyMismatch, `the KEK in ${this.path} does not unwrap volume ${context.volumeName}'s data key (wrong KEK, or the wrapped key was changed)`, details);
    if (w.length <= nonceBytes + tagBytes) throw mismatch();
    const decipher = createDecipheriv('aes-256-gcm', key, w.subarray(0, nonceBytes)).setAAD(associatedData(context));
    decipher.setAuthTag(w.subarray(w.length - tagBytes));
    try {
      return Buffer.concat([decipher.update(w.subarray(nonceBytes, w.length - tagBytes)), decipher.final()]);
    } catch {
      throw mismatch();
    }
  }

  private load(): Promise<{ key: Buffer; keyId: string }> {
    if (this.kek === undefined) {
      const kek = readKek(this.path);
      // A failed read is not kept: the file may be put right while the client runs.
      kek.catch(() => {
        if (this.kek === kek) this.kek = undefined;
      });
      this.kek = kek;
    }
    return this.kek;
  }
}

function associatedData(context: KeyContext): Buffer {
  return Buffer.from(`basalt volume key v1, volume id ${context.volumeId}`);
}

async function readKek(path: string): Promise<{ key: Buffer; keyId: string }> {
  const unavailable = (why: string): BasaltError => new BasaltError(ErrorCode.KeyUnavailable, `KEK file ${path}: ${why}`, { path });
  let bytes: Buffer;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw unavailable('not a regular file');
    if ((info.mode & 0o077) !== 0) throw unavailable(`mode ${(info.mode & 0o777).toString(8)} lets others read it; chmod 600 it`);
    bytes = await readFile(path);
  } catch (err) {
    if (err instanceof BasaltError) throw err;
    throw unavailable((err as Error).message);
  }
  const key = parseKek(bytes);
  if (key === undefined) throw unavailable(`holds ${bytes.length} bytes; a KEK is ${kekBytes} raw bytes or ${kekBytes * 2} hex digits`);
  const keyId = `file:${createHash('sha256').update('basalt kek id v1\n').update(key).digest('hex').slice(0, 16)}`;
  return { key, keyId };
}

function parseKek(bytes: Buffer): Buffer | undefined {
  if (bytes.length === kekBytes) return bytes;
  const text = bytes.toString('latin1').trim();
  return /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : undefined;
}
