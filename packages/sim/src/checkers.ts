/**
 * The simulation's safety checkers.
 *
 * BlockRegisters: every 4 KiB block a client writes is a register owned by that client (one
 * operation at a time per block), so each block's writes form one history. A write is `acked`
 * (the SDK call succeeded), `unknown` (it failed or timed out: it may or may not have landed,
 * on some members or all) or durable (acked with FUA, or acked before a FLUSH of its extent was
 * sent that then succeeded, if no power loss came between its ack and that FLUSH). A read (or
 * the final read of each member) must return a value the
 * history allows: the last write that must be visible, or a later one. A write must be visible
 * once acked, unless a power loss happened after its ack and it was not durable (then the last
 * durable write before it bounds the read). An unknown write older than that bound must never
 * come back.
 *
 * Primaries: every client mutation a chunk server acknowledged, by extent and the epoch the
 * server held when it admitted it (its reply may name a later one: the set can move on while
 * the write is replicated); two servers acknowledging in one epoch of one extent is a violation.
 */
export type ViolationKind = 'lost_write' | 'stale_read' | 'torn_block' | 'two_primaries' | 'liveness' | 'bug';

export interface Violation {
  readonly kind: ViolationKind;
  readonly message: string;
}

interface WriteRec {
  readonly value: number;
  status: 'pending' | 'acked' | 'unknown';
  durable: boolean;
  ackedAtMs: number;
}

export interface WriteHandle {
  readonly key: string;
  readonly rec: WriteRec;
}

export class BlockRegisters {
  private readonly history = new Map<string, WriteRec[]>();
  private lastPowerLossMs = -1;
  readsChecked = 0;

  begin(key: string, value: number): WriteHandle {
    const rec: WriteRec = { value, status: 'pending', durable: false, ackedAtMs: -1 };
    let h = this.history.get(key);
    if (h === undefined) {
      h = [];
      this.history.set(key, h);
    }
    h.push(rec);
    return { key, rec };
  }

  ack(w: WriteHandle, nowMs: number, durable: boolean): void {
    w.rec.status = 'acked';
    w.rec.ackedAtMs = nowMs;
    w.rec.durable = durable;
  }

  unknown(w: WriteHandle): void {
    w.rec.status = 'unknown';
  }

  /**
   * The acked writes of these blocks a FLUSH being sent now makes durable: those acknowledged
   * since the last power loss (one acknowledged before it may already be gone from a replica,
   * and a flush does not bring it back: docs/data-path.md, "Durability promises").
   */
  ackedOf(keys: readonly string[]): WriteRec[] {
    return keys.flatMap((k) => (this.history.get(k) ?? []).filter((r) => r.status === 'acked' && !r.durable && r.ackedAtMs > this.lastPowerLossMs));
  }

  flushed(recs: readonly WriteRec[]): void {
    for (const r of recs) r.durable = true;
  }

  powerLoss(nowMs: number): void {
    this.lastPowerLossMs = nowMs;
  }

  keys(): string[] {
    return [...this.history.keys()];
  }

  /** The values a read of `key` started now may return. */
  allowed(key: string): Set<number> {
    const h = this.history.get(key) ?? [];
    let bound = -1;
    for (let i = h.length - 1; i >= 0; i--) {
      const r = h[i]!;
      if (r.status === 'acked' && (r.durable || r.ackedAtMs > this.lastPowerLossMs)) {
        bound = i;
        break;
      }
    }
    const out = new Set<number>(bound < 0 ? [0] : []);
    for (let i = Math.max(0, bound); i < h.length; i++) out.add(h[i]!.value);
    return out;
  }

  /** Checks a read of `key` that returned `value` (allowed is what allowed() said when it started). */
  check(key: string, value: number, allowed: ReadonlySet<number>, who: string): Violation | undefined {
    this.readsChecked++;
    if (allowed.has(value)) return undefined;
    const h = this.history.get(key) ?? [];
    const known = value === 0 || h.some((r) => r.value === value);
    const kind: ViolationKind = known ? 'stale_read' : 'lost_write';
    return { kind, message: `${who} read block ${key} as ${value}; allowed ${[...allowed].join(',')}; history ${h.map((r) => `${r.value}:${r.status}${r.status === 'acked' ? `@${r.ackedAtMs}` : ''}${r.durable ? '/durable' : ''}`).join(' ')}` };
  }
}

/** Fills a block with a value (a u32 repeated), so that a torn or mixed block is seen. */
export function blockOf(value: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  if (value !== 0) for (let i = 0; i < bytes; i += 4) b.writeUInt32BE(value, i);
  return b;
}

/** The value a block holds, or undefined when it is not one value repeated (torn). */
export function valueOf(block: Buffer): number | undefined {
  const v = block.readUInt32BE(0);
  for (let i = 4; i < block.length; i += 4) if (block.readUInt32BE(i) !== v) return undefined;
  return v;
}

/** Checks a block a read returned against its register: torn, or a value the register does not allow. */
export function checkBlock(registers: BlockRegisters, key: string, data: Buffer, allowed: ReadonlySet<number>, who: string): Violation | undefined {
  const value = valueOf(data);
  if (value === undefined) return { kind: 'torn_block', message: `${who} read block ${key} with mixed contents` };
  return registers.check(key, value, allowed, who);
}

export class PrimaryLog {
  private readonly byEpoch = new Map<string, string>();

  /** A server acknowledged a client mutation of the extent at `epoch`. */
  acked(extent: string, epoch: number, serverId: string): Violation | undefined {
    const key = `${extent}@${epoch}`;
    const first = this.byEpoch.get(key);
    if (first === undefined) {
      this.byEpoch.set(key, serverId);
      return undefined;
    }
    if (first === serverId) return undefined;
    return { kind: 'two_primaries', message: `extent ${extent}: ${first} and ${serverId} both acknowledged client writes at epoch ${epoch}` };
  }
}
