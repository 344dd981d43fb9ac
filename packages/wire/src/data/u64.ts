import { assertSafeUint } from '@basalt/stdx';

/** Big-endian 64-bit fields holding JavaScript safe integers (< 2^53). */
export function writeU64(buf: Buffer, offset: number, value: number): void {
  // Checked before calling the assertion, whose messages would be built on every call (a hot path).
  if (!Number.isSafeInteger(value) || value < 0) assertSafeUint(value, 'u64 field');
  buf.writeUInt32BE(Math.floor(value / 2 ** 32), offset);
  buf.writeUInt32BE(value >>> 0, offset + 4);
}

/** Returns -1 when the value is not a safe integer (a malformed frame). */
export function readU64(buf: Buffer, offset: number): number {
  const hi = buf.readUInt32BE(offset);
  if (hi > 0x1fffff) return -1;
  return hi * 2 ** 32 + buf.readUInt32BE(offset + 4);
}
