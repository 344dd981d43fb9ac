import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Prng } from '@basalt/stdx';
import { BlockCipher, blockTweak, dataKeyBytes } from './block-cipher.js';

const B = 4096;
const key = (seed: number): Buffer => Buffer.from(new Prng(seed).fill(new Uint8Array(dataKeyBytes)));
const random = (seed: number, n: number): Buffer => Buffer.from(new Prng(seed).fill(new Uint8Array(n)));

describe('AES-256-XTS per 4 KiB block', () => {
  it('agrees with IEEE 1619 test vector 10 (AES-256, data unit 0xff) with the tweak as a little-endian block number', () => {
    const k = Buffer.from('2718281828459045235360287471352662497757247093699959574966967627' + '3141592653589793238462643383279502884197169399375105820974944592', 'hex');
    const plain = Buffer.from(Array.from({ length: 512 }, (_, i) => i & 0xff));
    const cipher = createCipheriv('aes-256-xts', k, blockTweak(Buffer.alloc(16), 0xff));
    const ct = Buffer.concat([cipher.update(plain), cipher.final()]).toString('hex');
    const expected = [
      '1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b5d31e276f8fe4a8d66b317f9ac683f44680a86ac35adfc3345befecb4bb188fd',
      '5776926c49a3095eb108fd1098baec70aaa66999a72a82f27d848b21d4a741b0c5cd4d5fff9dac89aeba122961d03a757123e9870f8acf1000020887891429ca',
      '2a3e7a7d7df7b10355165c8b9a6d0a7de8b062c4500dc4cd120c0f7418dae3d0b5781c34803fa75421c790dfe1de1834f280d7667b327f6c8cd7557e12ac3a0f',
      '93ec05c52e0493ef31a12d3d9260f79a289d6a379bc70c50841473d1a8cc81ec583e9645e07b8d9670655ba5bbcfecc6dc3966380ad8fecb17b6ba02469a020a',
      '84e18e8f84252070c13e9f1f289be54fbc481457778f616015e1327a02b140f1505eb309326d68378f8374595c849d84f4c333ec4423885143cb47bd71c5edae',
      '9be69a2ffeceb1bec9de244fbe15992b11b77c040f12bd8f6a975a44a0f90c29a9abc3d4d893927284c58754cce294529f8614dcd2aba991925fedc4ae74ffac',
      '6e333b93eb4aff0479da9a410e4450e0dd7ae4c6e2910900575da401fc07059f645e8b7e9bfdef33943054ff84011493c27b3429eaedb4ed5376441a77ed4385',
      '1ad77f16f541dfd269d50d6a5f14fb0aab1cbb4c1550be97f7ab4066193c4caa773dad38014bd2092fa755c824bb5e54c4f36ffda9fcea70b9c6e693e148c151',
    ].join('');
    expect(ct).toBe(expected);
  });

  it('writes the block index as a 16-byte little-endian number, also past 2^32', () => {
    expect(blockTweak(Buffer.alloc(16), 0x0102).toString('hex')).toBe('02010000000000000000000000000000');
    expect(blockTweak(Buffer.alloc(16), 2 ** 40 + 5).toString('hex')).toBe('05000000000100000000000000000000');
  });

  it('decrypts what it encrypted, block by block from any first block, without changing the input', () => {
    const c = new BlockCipher(key(1));
    const plain = random(2, 3 * B);
    const copy = Buffer.from(plain);
    const ct = c.encrypt(plain, 1000);
    expect(plain.equals(copy)).toBe(true);
    expect(ct.equals(plain)).toBe(false);
    expect(c.decryptInPlace(Buffer.from(ct), 1000).equals(plain)).toBe(true);
    // Block 1001 alone decrypts from its own index.
    expect(c.decryptInPlace(Buffer.from(ct.subarray(B, 2 * B)), 1001).equals(plain.subarray(B, 2 * B))).toBe(true);
    expect(c.decryptInPlace(Buffer.from(ct.subarray(B, 2 * B)), 1000).equals(plain.subarray(B, 2 * B))).toBe(false);
  });

  it('encrypts the same plaintext differently at another block and under another key', () => {
    const plain = Buffer.alloc(B, 0x41);
    const a = new BlockCipher(key(1));
    expect(a.encrypt(plain, 0).equals(a.encrypt(plain, 1))).toBe(false);
    expect(a.encrypt(plain, 7).equals(new BlockCipher(key(3)).encrypt(plain, 7))).toBe(false);
    // The two 16-byte halves of a block of equal bytes differ too (XTS, not ECB).
    const ct = a.encrypt(plain, 0);
    expect(ct.subarray(0, 16).equals(ct.subarray(16, 32))).toBe(false);
  });

  it('reads a stored block of zeroes (never written, trimmed) as zeroes, and encrypts plaintext zeroes to non-zero bytes', () => {
    const c = new BlockCipher(key(1));
    const stored = Buffer.concat([Buffer.alloc(B), c.encrypt(random(4, B), 1), Buffer.alloc(B)]);
    const plain = c.decryptInPlace(Buffer.from(stored), 0);
    expect(plain.subarray(0, B).equals(Buffer.alloc(B))).toBe(true);
    expect(plain.subarray(2 * B).equals(Buffer.alloc(B))).toBe(true);
    expect(plain.subarray(B, 2 * B).equals(random(4, B))).toBe(true);
    expect(c.encrypt(Buffer.alloc(B), 0).equals(Buffer.alloc(B))).toBe(false);
  });

  it('asserts whole blocks and a 64-byte key', () => {
    expect(() => new BlockCipher(Buffer.alloc(32))).toThrow(/64 bytes/);
    expect(() => new BlockCipher(key(1)).encrypt(Buffer.alloc(512), 0)).toThrow(/whole/);
  });
});
