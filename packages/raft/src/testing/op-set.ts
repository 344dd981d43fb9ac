/**
 * The set of operations the linearizability search has linearized (ops are
 * numbered in call order): a bitset with a Zobrist hash kept up to date on
 * every add and remove (XOR of a fixed 53-bit value per op). Remembering and
 * looking up a configuration costs a number-keyed map probe plus a compare of
 * the words from the first op not linearized to the last one linearized (the
 * ops below are all in): its cost follows the ops in flight, not the length of
 * the history. Equal sets have equal hashes; a collision only costs a compare.
 */
export class OpSet {
  private readonly words: Uint32Array;
  /** XOR of the members' Zobrist values, as two 32-bit halves (numbers, not bigints). */
  private hi = 0;
  private lo = 0;
  /** Every op below `low` is a member (`low` itself may not be: it is a lower bound of the first gap). */
  private low = 0;
  /** No word above `highWord` has a member. */
  private highWord = -1;

  constructor(readonly capacity: number) {
    this.words = new Uint32Array(Math.ceil(capacity / 32));
  }

  has(op: number): boolean {
    return ((this.words[op >>> 5] as number) & (1 << (op & 31))) !== 0;
  }

  add(op: number): void {
    this.words[op >>> 5] = (this.words[op >>> 5] as number) | (1 << (op & 31));
    this.highWord = Math.max(this.highWord, op >>> 5);
    this.flip(op);
  }

  delete(op: number): void {
    this.words[op >>> 5] = (this.words[op >>> 5] as number) & ~(1 << (op & 31));
    this.low = Math.min(this.low, op);
    this.flip(op);
  }

  /** A 53-bit hash of the members (a safe integer: a cheap Map key). */
  get hash(): number {
    return (this.hi & 0x1fffff) * 0x100000000 + (this.lo >>> 0);
  }

  /** The members in a canonical form: the first word with a gap, then the words up to the last member. */
  snapshot(): CompactOps {
    while (this.low < this.capacity && this.has(this.low)) this.low++;
    while (this.highWord >= 0 && this.words[this.highWord] === 0) this.highWord--;
    const from = this.low >>> 5;
    return { from, words: this.words.slice(from, Math.max(from, this.highWord + 1)) };
  }

  private flip(op: number): void {
    this.hi ^= mix32(op * 2 + 1);
    this.lo ^= mix32(op * 2 + 2);
  }
}

/** An OpSet's members: all ops below word `from`, and the bits of `words` from there. */
export interface CompactOps {
  readonly from: number;
  readonly words: Uint32Array;
}

function sameOps(a: CompactOps, b: CompactOps): boolean {
  if (a.from !== b.from || a.words.length !== b.words.length) return false;
  for (let i = 0; i < a.words.length; i++) if (a.words[i] !== b.words[i]) return false;
  return true;
}

/** MurmurHash3's 32-bit finalizer: a fixed, well-spread value per input. */
function mix32(x: number): number {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** Visited configurations of the search: (model state key, set of linearized ops). */
export class VisitedConfigurations {
  private readonly byState = new Map<string, Map<number, CompactOps[]>>();

  /** Records the configuration; false if it was recorded before. */
  add(stateKey: string, ops: OpSet): boolean {
    let byHash = this.byState.get(stateKey);
    if (byHash === undefined) {
      byHash = new Map();
      this.byState.set(stateKey, byHash);
    }
    const hash = ops.hash;
    const compact = ops.snapshot();
    const same = byHash.get(hash);
    if (same === undefined) {
      byHash.set(hash, [compact]);
      return true;
    }
    if (same.some((other) => sameOps(other, compact))) return false;
    same.push(compact);
    return true;
  }
}
