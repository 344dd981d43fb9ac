import { describe, expect, it } from 'vitest';
import { Prng } from '@basalt/stdx';
import { decodeClientFlags, decodeExportRequest, decodeMetaContextRequest, encodeGreeting, encodeOptionError, truncateUtf8 } from './option-codec.js';

describe('option codec', () => {
  it('greets with NBDMAGIC, IHAVEOPT and fixed newstyle + no zeroes', () => {
    const g = encodeGreeting();
    expect(g.toString('latin1', 0, 16)).toBe('NBDMAGICIHAVEOPT');
    expect(g.readUInt16BE(16)).toBe(3);
  });

  it('accepts only the client flags it offered', () => {
    const f = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return decodeClientFlags(b); };
    expect(f(1)).toEqual({ fixedNewstyle: true, noZeroes: false });
    expect(f(3)).toEqual({ fixedNewstyle: true, noZeroes: true });
    expect(f(4)).toBeUndefined();
    expect(f(0x80000001)).toBeUndefined();
  });

  it('refuses names with NUL, invalid UTF-8 or over 4096 bytes', () => {
    const exp = (name: Buffer) => Buffer.concat([Buffer.from([0, 0, (name.length >> 8) & 255, name.length & 255]), name, Buffer.from([0, 0])]);
    expect(decodeExportRequest(exp(Buffer.from('vol-ü')))?.name).toBe('vol-ü');
    expect(decodeExportRequest(exp(Buffer.from([0x61, 0])))).toBeUndefined();
    expect(decodeExportRequest(exp(Buffer.from([0xff, 0xfe])))).toBeUndefined();
    expect(decodeExportRequest(exp(Buffer.alloc(4097, 0x61)))).toBeUndefined();
  });

  it('never throws on random option data', () => {
    const prng = new Prng(5);
    for (let i = 0; i < 2000; i++) {
      const data = Buffer.from(prng.fill(new Uint8Array(prng.int(0, 64))));
      expect(() => decodeExportRequest(data)).not.toThrow();
      expect(() => decodeMetaContextRequest(data)).not.toThrow();
    }
  });

  it('cuts error messages at a character boundary', () => {
    expect(truncateUtf8('ééé', 5)).toBe('éé');
    const e = encodeOptionError(3, 0x80000001, 'x'.repeat(5000));
    expect(e.readUInt32BE(16)).toBe(4096);
  });
});
