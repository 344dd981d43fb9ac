import { randomBytes } from 'node:crypto';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { BlockCipher, dataKeyBytes } from './block-cipher.js';
import type { KeyContext, KeyProvider } from './key-provider.js';

/** The one cipher an encrypted volume uses today; metad stores it with the wrapped key. */
export const volumeCipherName = 'aes-256-xts';

/** An encrypted volume's key as metad keeps it (proto VolumeEncryption). */
export interface VolumeEncryption {
  readonly cipher: string;
  readonly keyId: string;
  readonly wrappedKey: Uint8Array;
  /** The volume id the key is wrapped for (KeyContext.volumeId): the volume's own, or a clone's source's. */
  readonly keyVolumeId: number;
}

/** A fresh random data key for a new volume, wrapped by `provider` for the volume `context` names. */
export async function newVolumeKey(provider: KeyProvider | undefined, context: KeyContext): Promise<VolumeEncryption> {
  if (provider === undefined) throw noProvider(context, 'create');
  let dataKey = randomBytes(dataKeyBytes);
  // XTS refuses a key whose two halves are equal (a 2^-256 chance): draw again.
  while (dataKey.subarray(0, dataKeyBytes / 2).equals(dataKey.subarray(dataKeyBytes / 2))) dataKey = randomBytes(dataKeyBytes);
  const { keyId, wrapped } = await provider.wrap(dataKey, context);
  return { cipher: volumeCipherName, keyId, wrappedKey: wrapped, keyVolumeId: context.volumeId };
}

/** The block cipher of an encrypted volume: its data key unwrapped by `provider`. */
export async function volumeBlockCipher(provider: KeyProvider | undefined, encryption: VolumeEncryption, context: KeyContext): Promise<BlockCipher> {
  if (encryption.cipher !== volumeCipherName) {
    throw new BasaltError(ErrorCode.NotSupported, `volume ${context.volumeName} is encrypted with ${JSON.stringify(encryption.cipher)}; this client knows ${volumeCipherName}`, { volume: context.volumeName, cipher: encryption.cipher });
  }
  if (provider === undefined) throw noProvider(context, 'open', encryption.keyId);
  const dataKey = await provider.unwrap({ keyId: encryption.keyId, wrapped: encryption.wrappedKey }, context);
  if (dataKey.length !== dataKeyBytes) {
    throw new BasaltError(ErrorCode.KeyMismatch, `volume ${context.volumeName}'s unwrapped data key is ${dataKey.length} bytes, not ${dataKeyBytes}`, { volume: context.volumeName, keyId: encryption.keyId });
  }
  return new BlockCipher(dataKey);
}

function noProvider(context: KeyContext, what: string, keyId?: string): BasaltError {
  return new BasaltError(ErrorCode.KeyUnavailable, `cannot ${what} encrypted volume ${context.volumeName}: this client has no key provider (give --kek-file, kekFile in cluster.json or BASALT_KEK_FILE)`, {
    volume: context.volumeName, ...(keyId !== undefined && { keyId }),
  });
}
