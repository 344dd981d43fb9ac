/**
 * A 64-bit non-cryptographic digest (two independent 32-bit FNV-1a lanes with a murmur3
 * finalizer) of the concatenated pieces, as 16 hex digits. For comparing replicas' states, not for security.
 */
export function digest64(pieces: Iterable<Uint8Array>): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x9e3779b9;
  let length = 0;
  for (const bytes of pieces) {
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i] as number;
      h1 = Math.imul(h1 ^ byte, 0x01000193);
      h2 = Math.imul(h2 ^ byte, 0x5bd1e995);
    }
    length += bytes.length;
  }
  const len = length >>> 0;
  return hex(fmix(h1 ^ len)) + hex(fmix(h2 ^ h1));
}

function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
