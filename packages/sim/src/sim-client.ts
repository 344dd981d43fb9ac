import { BasaltError, ErrorCode, limits, type Prng } from '@basalt/stdx';
import { backoffMs, flushedEverywhere, mutationFailover } from '@basalt/client';
import { DataFlag, DataOp, parseToken, pieceCrcs, readResult, type ExtentRef, type ReplicaRef } from '@basalt/wire';
import { blockOf, checkBlock, type BlockRegisters, type Violation } from './checkers.js';
import type { SimConnection, SimNetwork } from './network.js';
import type { SignedPlacement, SimMetad } from './sim-metad.js';
import { serverIdOf } from './sim-chunk-server.js';

/**
 * A client of one volume (it holds the volume's writer lease), one operation at a time on a few
 * blocks of its own: whole-block writes (some with FUA), trims, reads, flushes. The decisions are
 * the SDK's (packages/client/src/volume.ts): flushes go to every member as LOCAL FLUSHes, and
 * through the primary unless flushedEverywhere() (shared); mutations go to the primary and follow
 * mutationFailover() (shared: refresh the set, resend, report the primary to metad, or give
 * up) with the SDK's backoffMs() (shared); a first timeout gets a second try; a reply from a newer
 * epoch re-reads the set; reads go to the active members only (never a rebuilding one) and fall
 * over on a failover code, a stale epoch or a checksum error. What is not shared: the SDK's
 * Volume, ExtentMap and ConnectionPool classes themselves (they take a gRPC MetaClient, real
 * sockets and real timers); this class repeats their retry loops in simulated time.
 */
export interface ClientBlock {
  readonly index: number;
  readonly block: number;
}

type Op = 'write' | 'trim' | 'read' | 'flush';

const block = limits.checksumBlockBytes;
const failoverCodes: ReadonlySet<string> = new Set([ErrorCode.Unavailable, ErrorCode.Timeout, ErrorCode.Closed]);

export class SimClient {
  private readonly maps = new Map<number, SignedPlacement>();
  /** The volume's capability from the last map fetch. */
  private capability: Buffer | undefined;
  /** The first placement this client saw of each extent: what a stale map goes back to. */
  private readonly firstMaps = new Map<number, SignedPlacement>();
  /** Extents whose next mutation starts from the first placement (the stale-map fault). */
  private readonly stale = new Set<number>();
  private readonly conns = new Map<string, Promise<SimConnection>>();
  private inc = 0;
  private running = false;
  private idle: Promise<void> = Promise.resolve();
  ops = 0;
  failedOps = 0;

  constructor(
    readonly id: string,
    private readonly net: SimNetwork,
    private readonly metad: SimMetad,
    private readonly volume: { readonly name: string; readonly id: number; readonly extentSizeBytes: number; readonly generation: number },
    private readonly blocks: readonly ClientBlock[],
    private readonly prng: Prng,
    private readonly registers: BlockRegisters,
    private readonly nextValue: () => number,
    private readonly report: (v: Violation) => void,
    private readonly thinkMs: { readonly min: number; readonly max: number },
    private readonly requestTimeoutMs: number,
  ) {}

  start(): void {
    this.inc = this.net.start(this.id);
    this.running = true;
    this.next();
  }

  /** Stops issuing operations; resolves when the one in flight ended. */
  stop(): Promise<void> {
    this.running = false;
    return this.idle;
  }

  private next(): void {
    if (!this.running) return;
    this.net.timersOf(this.id, this.inc).setTimeout(() => {
      if (!this.running) return;
      this.idle = this.one().finally(() => this.next());
    }, this.prng.int(this.thinkMs.min, this.thinkMs.max));
  }

  private async one(): Promise<void> {
    // Most operations go to the first extent: the other one's cached set goes stale between uses.
    const index = this.prng.chance(0.85) ? this.blocks[0]!.index : this.blocks[this.blocks.length - 1]!.index;
    const b = this.prng.pick(this.blocks.filter((x) => x.index === index));
    const roll = this.prng.int(0, 99);
    const op: Op = roll < 50 ? 'write' : roll < 55 ? 'trim' : roll < 85 ? 'read' : 'flush';
    this.ops++;
    const what = op === 'flush' ? `${this.id} flush ${this.volume.name}/${b.index}` : `${this.id} ${op} ${keyOf(this.volume.name, b)}`;
    try {
      if (op === 'read') await this.read(b);
      else if (op === 'flush') await this.flush(b.index);
      else await this.mutation(b, op === 'trim' ? 0 : this.nextValue(), this.prng.chance(0.2), what);
      this.net.sched.note(`${what}: done`);
    } catch (err) {
      if (!(err instanceof BasaltError)) throw err;
      this.failedOps++;
      this.net.sched.note(`${what}: failed (${err.code})`);
    }
  }

  private async mutation(b: ClientBlock, value: number, fua: boolean, what: string): Promise<void> {
    const w = this.registers.begin(keyOf(this.volume.name, b), value);
    this.net.sched.note(`${what}: value ${value}${fua ? ' fua' : ''}`);
    const flags = fua ? DataFlag.Fua : 0;
    try {
      const offset = b.block * block;
      if (value === 0) {
        await this.mutate(b.index, (ref) => ({ op: DataOp.Trim, flags, requestId: 0, extent: ref, offset, length: block }));
      } else {
        const payload = blockOf(value, block);
        await this.mutate(b.index, (ref) => ({ op: DataOp.Write, flags, requestId: 0, extent: ref, offset, length: block, crcs: pieceCrcs(offset, payload), payload }));
      }
      this.registers.ack(w, this.net.sched.nowMs(), fua);
    } catch (err) {
      this.registers.unknown(w);
      throw err;
    }
  }

  /** Volume.flushExtent: a LOCAL FLUSH to every member, else the plain FLUSH through the primary. */
  private async flush(index: number): Promise<void> {
    const keys = this.blocks.filter((b) => b.index === index).map((b) => keyOf(this.volume.name, b));
    const acked = this.registers.ackedOf(keys);
    if (!(await this.flushMembers(index))) await this.mutate(index, (ref) => ({ op: DataOp.Flush, flags: 0, requestId: 0, extent: ref, offset: 0, length: 0 }));
    this.registers.flushed(acked);
  }

  /**
   * Volume.flushMembers: true when every member of the set answered a LOCAL FLUSH OK at its
   * epoch. A stale map (the fault) applies to it as to a mutation: the primary's refusal of the
   * old epoch must send the flush down the primary path.
   */
  private async flushMembers(index: number): Promise<boolean> {
    const info = (this.stale.delete(index) ? this.firstMaps.get(index) : undefined) ?? this.maps.get(index) ?? (await this.lookup(index));
    const ref = this.ref(index, info);
    try {
      const epochs = await Promise.all(info.replicas.map(async (r) => (await (await this.conn(r.address)).send({ op: DataOp.Flush, flags: DataFlag.Local, requestId: 0, extent: ref, offset: 0, length: 0 })).epoch));
      return flushedEverywhere(epochs, info.replicas.length, info.epoch);
    } catch (err) {
      if (!(err instanceof BasaltError)) throw err;
      this.net.sched.note(`${this.id} flush ${this.volume.name}/${index}: a member answered ${err.code}, through the primary`);
      return false;
    }
  }

  /** Volume.mutate: the primary, with the SDK's failover decisions, within clientIoAttemptsMax attempts. */
  private async mutate(index: number, request: (ref: ExtentRef) => Parameters<SimConnection['send']>[0]): Promise<void> {
    let info = (this.stale.delete(index) ? this.firstMaps.get(index) : undefined) ?? this.maps.get(index) ?? (await this.lookup(index));
    let last: BasaltError | undefined;
    let timeouts = 0;
    let newer = false;
    for (let attempt = 0; attempt < limits.clientIoAttemptsMax; attempt++) {
      if (attempt > 0 && !newer) await this.backoff(attempt);
      const primary = info.replicas[0];
      if (primary === undefined) throw new BasaltError(ErrorCode.Unavailable, `extent ${index} has no replica left`);
      try {
        const conn = await this.conn(primary.address);
        const res = await conn.send(request(this.ref(index, info)));
        if (res.epoch > info.epoch) await this.lookup(index); // the SDK re-reads a set the primary changed
        return;
      } catch (err) {
        if (!(err instanceof BasaltError)) throw err;
        timeouts = err.code === ErrorCode.Timeout ? timeouts + 1 : 0;
        last = err;
        if (timeouts === 1) continue;
        const action = mutationFailover(err);
        if (action === 'throw') throw err;
        const epoch = info.epoch;
        if (action === 'refresh') info = this.carried(index, info, err) ?? (await this.lookup(index));
        else if (action === 'report') info = await this.reportFailed(index, info, primary, err.code === ErrorCode.Timeout ? 'timeout' : 'unreachable');
        newer = info.epoch > epoch; // the SDK sends to a newer set at once
      }
    }
    throw last ?? new BasaltError(ErrorCode.Unavailable, 'no attempt was made');
  }

  /** Volume.readSlice: the active members in turn; the value is checked against the registers. */
  private async read(b: ClientBlock): Promise<void> {
    const key = keyOf(this.volume.name, b);
    const allowed = this.registers.allowed(key);
    let info = this.maps.get(b.index) ?? (await this.lookup(b.index));
    let last: BasaltError | undefined;
    for (let attempt = 0; attempt < limits.clientIoAttemptsMax; attempt++) {
      if (attempt > 0) await this.backoff(attempt);
      const readable = info.replicas.filter((r) => r.rebuilding !== true);
      const replica = readable[attempt % Math.max(1, readable.length)];
      if (replica === undefined) break;
      try {
        const conn = await this.conn(replica.address);
        const ref = this.ref(b.index, info);
        const res = readResult(await conn.send({ op: DataOp.Read, flags: 0, requestId: 0, extent: ref, offset: b.block * block, length: block }), ref, b.block * block, block, replica.address);
        const v = checkBlock(this.registers, key, res.data, allowed, `${this.id} via ${replica.serverId} at epoch ${info.epoch}`);
        if (v !== undefined) this.report(v);
        return;
      } catch (err) {
        if (!(err instanceof BasaltError)) throw err;
        last = err;
        if (err.code === ErrorCode.StaleEpoch || err.code === ErrorCode.Unauthenticated) info = await this.lookup(b.index);
        else if (err.code !== ErrorCode.Checksum && !failoverCodes.has(err.code)) throw err;
      }
    }
    throw last ?? new BasaltError(ErrorCode.Unavailable, 'no replica answered');
  }

  private async lookup(index: number): Promise<SignedPlacement> {
    const placement = await this.net.call(this.id, this.inc, 'getExtentMap', this.requestTimeoutMs, () => {
      this.capability = this.metad.capability(this.volume.id, true);
      return this.metad.placement(this.volume.id, index);
    });
    if (placement === undefined) throw new BasaltError(ErrorCode.Io, `extent ${index} vanished from the extent map`);
    this.remember(index, placement);
    return placement;
  }

  /**
   * ExtentMap.reportFailed: DropReplica with the reason and fail_over_volume (the volume's other
   * extents the primary leads fail over too, and their new sets are remembered); a stale epoch
   * re-reads the set.
   */
  private async reportFailed(index: number, info: SignedPlacement, primary: ReplicaRef, reason: string): Promise<SignedPlacement> {
    try {
      const [next, ...others] = await this.net.call(this.id, this.inc, 'dropReplica', this.requestTimeoutMs, () =>
        this.metad.failoverReport(this.volume.id, index, primary.serverId, info.epoch, reason).map((e) => ({ index: e.index, placement: this.metad.signed(this.volume.id, e) })),
      );
      for (const o of others) this.rememberNewer(o.index, o.placement);
      this.remember(index, next!.placement);
      return next!.placement;
    } catch (err) {
      if (err instanceof BasaltError && err.code === ErrorCode.StaleEpoch) return this.lookup(index);
      throw err;
    }
  }

  /**
   * A fault: this client's next mutation of the extent starts from the first set it saw of it, as
   * if an older process of the same writer sent it. Epochs must make that harmless: whoever it
   * reaches refuses or fences it.
   */
  staleMap(index: number): boolean {
    if (!this.firstMaps.has(index)) return false;
    this.stale.add(index);
    return true;
  }

  /** ExtentMap.adoptSignedState: the newer set a STALE_EPOCH reply carried, if it is this extent's. */
  private carried(index: number, info: SignedPlacement, err: BasaltError): SignedPlacement | undefined {
    const token = err.code === ErrorCode.StaleEpoch ? err.details.signedState : undefined;
    if (!Buffer.isBuffer(token)) return undefined;
    const parsed = parseToken(token);
    if (parsed.kind !== 'ok' || parsed.claims.kind !== 'extent') return undefined;
    const { claims } = parsed;
    if (claims.volumeId !== this.volume.id || claims.index !== index || claims.epoch <= info.epoch || claims.replicas.length === 0) return undefined;
    const placement: SignedPlacement = { epoch: claims.epoch, replicas: claims.replicas, signedState: token };
    this.net.sched.note(`${this.id}: extent ${index} at epoch ${claims.epoch} from a refusal`);
    this.remember(index, placement);
    return placement;
  }

  /** ExtentMap.remember: a set that came with another extent's reply replaces only an older one. */
  private rememberNewer(index: number, placement: SignedPlacement): void {
    const known = this.maps.get(index);
    if (known === undefined || known.epoch <= placement.epoch) this.remember(index, placement);
  }

  private remember(index: number, placement: SignedPlacement): void {
    this.maps.set(index, placement);
    if (!this.firstMaps.has(index)) this.firstMaps.set(index, placement);
  }

  private conn(address: string): Promise<SimConnection> {
    let c = this.conns.get(address);
    if (c === undefined) {
      c = this.net.connect(this.id, this.inc, serverIdOf(address), address, this.requestTimeoutMs);
      this.conns.set(address, c);
      c.then(
        (conn) => conn,
        () => this.conns.delete(address),
      );
    }
    return c.then((conn) => {
      if (!conn.closed) return conn;
      if (this.conns.get(address) === c) this.conns.delete(address);
      return this.conn(address);
    });
  }

  private backoff(attempt: number): Promise<void> {
    return new Promise((resolve) => this.net.timersOf(this.id, this.inc).setTimeout(resolve, backoffMs(attempt)));
  }

  /** As the SDK: the volume's capability and the extent's signed state travel with each request (DataConnection sends each once per connection). */
  private ref(index: number, info: SignedPlacement): ExtentRef {
    const auth = this.capability === undefined ? [info.signedState] : [this.capability, info.signedState];
    return { volumeId: this.volume.id, index, extentSizeBytes: this.volume.extentSizeBytes, epoch: info.epoch, generation: this.volume.generation, replicas: info.replicas, auth };
  }
}

export function keyOf(volume: string, b: ClientBlock): string {
  return `${volume}/${b.index}/${b.block}`;
}
