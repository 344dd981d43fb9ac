import { createCipheriv, createDecipheriv } from 'node:crypto';
import { assert, limits } from '@basalt/stdx';

/** AES-256-XTS takes two AES-256 keys: 64 bytes. */
export const dataKeyBytes = 64;

const blockBytes = limits.checksumBlockBytes;
const zeroBlock = Buffer.alloc(blockBytes);

/**
 * AES-256-XTS over a volume's 4 KiB blocks (IEEE 1619): each block is one data unit, its tweak
 * the absolute block index in the volume (offset / 4096) as a 16-byte little-endian number. The
 * same plaintext at two places, or at one place in two volumes (two data keys), encrypts to
 * different bytes; a block's ciphertext has the block's length, so nothing else is stored.
 *
 * An all-zero stored block is a block the chunk server never wrote, or trimmed, or punched: it
 * decrypts to zeroes, not to the garbage AES would make of it (a real ciphertext is all zero with
 * probability 2^-32768). Which blocks hold data is thus visible to a chunk server, as it is anyway
 * from the holes in its files.
 */
export class BlockCipher {
  private readonly key: Buffer;

  constructor(dataKey: Uint8Array) {
    assert(dataKey.length === dataKeyBytes, `an XTS data key is ${dataKeyBytes} bytes, not ${dataKey.length}`);
    this.key = Buffer.from(dataKey);
  }

  /** The ciphertext of whole blocks starting at block `firstBlock`, in a new buffer (`plain` is not changed). */
  encrypt(plain: Uint8Array, firstBlock: number): Buffer {
    assert(plain.length % blockBytes === 0, `encrypt takes whole ${blockBytes}-byte blocks, not ${plain.length} bytes`);
    const out = Buffer.allocUnsafe(plain.length);
    const tweak = Buffer.alloc(16);
    for (let at = 0; at < plain.length; at += blockBytes) {
      const cipher = createCipheriv('aes-256-xts', this.key, blockTweak(tweak, firstBlock + at / blockBytes));
      const n = cipher.update(plain.subarray(at, at + blockBytes)).copy(out, at);
      assert(n === blockBytes && cipher.final().length === 0, 'XTS changed the length of a block');
    }
    return out;
  }

  /** Decrypts whole blocks in place, starting at block `firstBlock`; all-zero blocks stay zeroes. */
  decryptInPlace(data: Buffer, firstBlock: number): Buffer {
    assert(data.length % blockBytes === 0, `decrypt takes whole ${blockBytes}-byte blocks, not ${data.length} bytes`);
    const tweak = Buffer.alloc(16);
    for (let at = 0; at < data.length; at += blockBytes) {
      const block = data.subarray(at, at + blockBytes);
      if (block.equals(zeroBlock)) continue;
      const decipher = createDecipheriv('aes-256-xts', this.key, blockTweak(tweak, firstBlock + at / blockBytes));
      const n = decipher.update(block).copy(data, at);
      assert(n === blockBytes && decipher.final().length === 0, 'XTS changed the length of a block');
    }
    return data;
  }
}

/** The XTS tweak of a block: its index as a 16-byte little-endian number (into `into`). */
export function blockTweak(into: Buffer, block: number): Buffer {
  assert(Number.isSafeInteger(block) && block >= 0, `block index ${block} is not a safe non-negative integer`);
  into.fill(0);
  into.writeUInt32LE(block % 2 ** 32, 0);
  into.writeUInt32LE(Math.floor(block / 2 ** 32), 4);
  return into;
}
