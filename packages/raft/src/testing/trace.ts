/**
 * A running hash of everything a simulation did (FNV-1a, 32 bits, over UTF-16
 * code units). Two runs of one seed must end with the same hash; a test
 * compares them. The lines themselves are kept only when asked (for replay).
 */
export class Trace {
  private h = 0x811c9dc5;
  private count = 0;
  readonly lines: string[] | undefined;

  constructor(keepLines: boolean, private readonly onLine?: (line: string) => void) {
    this.lines = keepLines ? [] : undefined;
  }

  record(line: string): void {
    this.count++;
    let h = this.h;
    for (let i = 0; i < line.length; i++) {
      h ^= line.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    this.h = Math.imul(h ^ 0x0a, 0x01000193) >>> 0;
    this.lines?.push(line);
    this.onLine?.(line);
  }

  get events(): number {
    return this.count;
  }

  /** The hash and the number of events, e.g. "3f2a9c01/18234". */
  digest(): string {
    return `${this.h.toString(16).padStart(8, '0')}/${this.count}`;
  }
}

/** FNV-1a of bytes, for fingerprints of entry payloads. */
export function fingerprint(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `${h.toString(16).padStart(8, '0')}:${bytes.length}`;
}
