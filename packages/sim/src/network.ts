import { assert, BasaltError, ErrorCode, errorFromWire, identityUri, insecureIdentity, limits, type Prng, type Timers } from '@basalt/stdx';
import { authRequest, copyRequest, copyResult, decodeRequest, decodeResponse, encodeRequest, encodeResponse, stampsRequest, stampsResult, type BlockStamps, type CopyResult, type DataRequest, type DataResponse, type ExtentRef, type StampsResult } from '@basalt/wire';
import { newGrants, type Grants, type PeerConnection } from '@basalt/chunk/parts';
import type { Scheduler } from './scheduler.js';


/** The one identity every simulated process proves and metad grants capabilities to (capabilities name their holder). */
export const simIdentity = identityUri(insecureIdentity);
/**
 * The simulated network and processes. Every node (chunk server, client, metad) is a process with
 * an incarnation; everything that runs "on" a node (a delivery to it, one of its timers) goes
 * through runOn(), which drops it when the process crashed or restarted since, and holds it while
 * the process is hung (replayed in order when it resumes).
 *
 * Connections are ordered byte streams like TCP: frames are really encoded and decoded
 * (packages/wire codec), arrive in send order after a random latency (plus the slowness of either
 * end), and a stream that breaks delivers nothing more:
 * - the target crashes: requests waiting fail with BASALT_UNAVAILABLE after one latency (a reset);
 * - a partition cuts the link: the stream stalls; requests waiting on it fail with
 *   BASALT_UNAVAILABLE after limits.dataProbeAfterMs + limits.dataProbeTimeoutMs, when a
 *   DataConnection's ping probe would have given up;
 * - a slow or hung target: each request fails with BASALT_TIMEOUT after the request timeout,
 *   the stream stays.
 * Connecting to a crashed node is refused (BASALT_UNAVAILABLE), to an unreachable one times out.
 */
export class SimNode {
  incarnation = 0;
  alive = false;
  hung = false;
  slowMs = 0;
  readonly held: (() => void)[] = [];
  /** The data-plane handler of the running incarnation (chunk servers only). */
  serve: ((req: DataRequest, grants: Grants) => Promise<DataResponse>) | undefined;

  constructor(readonly id: string) {}
}

type Ok = Extract<DataResponse, { ok: true }>;

export class SimNetwork {
  private readonly nodes = new Map<string, SimNode>();
  private readonly cuts = new Set<string>();
  private readonly conns = new Set<SimConnection>();

  constructor(
    readonly sched: Scheduler,
    private readonly prng: Prng,
    private readonly latencyMs: { readonly min: number; readonly max: number },
  ) {}

  node(id: string): SimNode {
    let n = this.nodes.get(id);
    if (n === undefined) {
      n = new SimNode(id);
      this.nodes.set(id, n);
    }
    return n;
  }

  /** Starts a new incarnation of the node's process; returns it. */
  start(id: string): number {
    const n = this.node(id);
    assert(!n.alive, `node ${id} is already running`);
    n.incarnation++;
    n.alive = true;
    n.hung = false;
    n.held.length = 0;
    return n.incarnation;
  }

  /** The process dies: its timers and deliveries are dropped, streams to it reset, streams from it vanish. */
  crash(id: string): void {
    const n = this.node(id);
    n.alive = false;
    n.serve = undefined;
    n.held.length = 0;
    for (const c of [...this.conns]) {
      if (c.to === id) c.breakOff(this.delay(c.from, c.to), new BasaltError(ErrorCode.Unavailable, `data connection to ${c.address} closed (reset)`, { address: c.address }));
      else if (c.from === id) c.vanish();
    }
  }

  hang(id: string, hung: boolean): void {
    const n = this.node(id);
    n.hung = hung;
    if (!hung) for (const fn of n.held.splice(0)) fn();
  }

  cut(a: string, b: string): void {
    this.cuts.add(linkKey(a, b));
    const probeMs = limits.dataProbeAfterMs + limits.dataProbeTimeoutMs;
    for (const c of [...this.conns]) {
      if (linkKey(c.from, c.to) === linkKey(a, b)) c.breakOff(probeMs, new BasaltError(ErrorCode.Unavailable, `chunk server at ${c.address} sent nothing and did not answer a ping: treated as unresponsive`, { address: c.address }));
    }
  }

  heal(a: string, b: string): void {
    this.cuts.delete(linkKey(a, b));
  }

  healAll(): void {
    this.cuts.clear();
  }

  reachable(a: string, b: string): boolean {
    return !this.cuts.has(linkKey(a, b));
  }

  /** One-way latency between two nodes. */
  delay(a: string, b: string): number {
    return this.prng.int(this.latencyMs.min, this.latencyMs.max) + this.node(a).slowMs + this.node(b).slowMs;
  }

  /** Runs fn as part of incarnation `inc` of node id (see the class comment). */
  runOn(id: string, inc: number, fn: () => void): void {
    const n = this.node(id);
    if (!n.alive || n.incarnation !== inc) return;
    if (n.hung) n.held.push(fn);
    else fn();
  }

  /** The timers of one incarnation of a process. */
  timersOf(id: string, inc: number): Timers {
    return {
      setTimeout: (fn, ms) => this.sched.at(ms, `${id} timer`, () => this.runOn(id, inc, fn)),
      clearTimeout: (h) => this.sched.clearTimeout(h),
    };
  }

  /** Opens a data connection from (from, inc) to the node `to` listening at `address`. */
  connect(from: string, inc: number, to: string, address: string, timeoutMs: number): Promise<SimConnection> {
    const timers = this.timersOf(from, inc);
    return new Promise((resolve, reject) => {
      if (!this.reachable(from, to)) {
        timers.setTimeout(() => reject(new BasaltError(ErrorCode.Timeout, `connecting to ${address} timed out after ${timeoutMs} ms`, { address })), timeoutMs);
        return;
      }
      const target = this.node(to);
      const rtt = this.delay(from, to) + this.delay(to, from);
      if (!target.alive) {
        timers.setTimeout(() => reject(new BasaltError(ErrorCode.Unavailable, `cannot connect to ${address}: connection refused`, { address })), rtt);
        return;
      }
      const conn = new SimConnection(this, from, inc, to, target.incarnation, address, timeoutMs);
      this.conns.add(conn);
      timers.setTimeout(() => resolve(conn), rtt);
    });
  }

  forget(c: SimConnection): void {
    this.conns.delete(c);
  }

  /**
   * A call to metad: runs `fn` there after one latency and brings its answer (or its BasaltError)
   * back after another. Unreachable or lost: BASALT_UNAVAILABLE after timeoutMs.
   */
  call<T>(from: string, inc: number, label: string, timeoutMs: number, fn: () => T): Promise<T> {
    const timers = this.timersOf(from, inc);
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = timers.setTimeout(() => {
        done = true;
        reject(new BasaltError(ErrorCode.Unavailable, `metad did not answer ${label} within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!this.reachable(from, 'meta')) return;
      this.sched.at(this.delay(from, 'meta'), `meta ${label} from ${from}`, () => {
        let outcome: { ok: true; value: T } | { ok: false; err: Error };
        try {
          outcome = { ok: true, value: fn() };
        } catch (err) {
          outcome = { ok: false, err: err instanceof Error ? err : new Error(String(err)) };
        }
        if (!this.reachable(from, 'meta')) return;
        this.sched.at(this.delay('meta', from), `meta reply ${label} to ${from}`, () => this.runOn(from, inc, () => {
          if (done) return;
          done = true;
          timers.clearTimeout(timer);
          if (outcome.ok) resolve(outcome.value);
          else reject(outcome.err);
        }));
      });
    });
  }
}

interface Waiting {
  readonly resolve: (res: Ok) => void;
  readonly reject: (err: BasaltError) => void;
  readonly timer: unknown;
}

/** One simulated data connection (see SimNetwork). Implements what Peer needs, and reads and writes for clients. */
export class SimConnection implements PeerConnection {
  private failure: BasaltError | undefined;
  /** No more deliveries in either direction. */
  private broken = false;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private lastToServer = 0;
  private lastToClient = 0;
  private readonly timers: Timers;
  private readonly presented = new WeakSet<Buffer>();
  /** The server side's grants for this connection (DataServer keeps one per socket). */
  private readonly grants = newGrants(simIdentity);

  constructor(
    private readonly net: SimNetwork,
    readonly from: string,
    private readonly fromInc: number,
    readonly to: string,
    private readonly toInc: number,
    readonly address: string,
    private readonly timeoutMs: number,
  ) {
    this.timers = net.timersOf(from, fromInc);
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  /** As DataConnection: each token of req.extent.auth goes once per connection, as AUTH ahead of the request. */
  send(req: DataRequest): Promise<Ok> {
    const auth = req.extent.auth;
    if (auth !== undefined && this.failure === undefined) {
      for (const token of auth) {
        if (this.presented.has(token)) continue;
        this.presented.add(token);
        this.transmit(authRequest(token)).catch(() => this.presented.delete(token));
      }
    }
    return this.transmit(req);
  }

  private transmit(req: DataRequest): Promise<Ok> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    const frame = Buffer.concat(encodeRequest(req, id));
    return new Promise<Ok>((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        if (!this.waiting.delete(id)) return;
        reject(new BasaltError(ErrorCode.Timeout, `request to ${this.address} timed out after ${this.timeoutMs} ms`, { address: this.address }));
      }, this.timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.toServer(frame);
    });
  }

  stamps(extent: ExtentRef, offset: number, length: number, options: { verify?: boolean; forwarded?: boolean } = {}): Promise<StampsResult> {
    return this.send(stampsRequest(extent, offset, length, options)).then((res) => stampsResult(res, length, this.address));
  }

  copy(extent: ExtentRef, offset: number, data: Buffer, crcs: Uint32Array, stamps: BlockStamps, floorEpoch: number): Promise<CopyResult> {
    return this.send(copyRequest(extent, offset, data, crcs, stamps, floorEpoch)).then((res) => copyResult(res, this.address));
  }

  close(): void {
    this.fail(new BasaltError(ErrorCode.Closed, `data connection to ${this.address} closed by this side`, { address: this.address }));
  }

  /** The stream delivers nothing more; waiting requests fail with err after ms. */
  breakOff(ms: number, err: BasaltError): void {
    if (this.broken) return;
    this.broken = true;
    this.timers.setTimeout(() => this.fail(err), ms);
  }

  /** The sending process died: nothing of this connection matters any more. */
  vanish(): void {
    this.broken = true;
    this.failure ??= new BasaltError(ErrorCode.Closed, 'the process died');
    this.waiting.clear();
    this.net.forget(this);
  }

  private fail(err: BasaltError): void {
    this.broken = true;
    this.failure ??= err;
    this.net.forget(this);
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) {
      this.timers.clearTimeout(w.timer);
      w.reject(err);
    }
  }

  private toServer(frame: Buffer): void {
    if (this.broken) return;
    const sched = this.net.sched;
    const at = Math.max(sched.nowMs() + this.net.delay(this.from, this.to), this.lastToServer);
    this.lastToServer = at;
    sched.at(at - sched.nowMs(), `deliver ${this.from}->${this.to}`, () => {
      if (this.broken) return;
      this.net.runOn(this.to, this.toInc, () => this.arrive(frame));
    });
  }

  /** At the server: decode, serve, answer (if the same process is still there). */
  private arrive(frame: Buffer): void {
    const decoded = decodeRequest(frame);
    assert(decoded.kind === 'ok', 'the simulation sends well-formed frames');
    const serve = this.net.node(this.to).serve;
    if (serve === undefined) return;
    void serve(decoded.value, this.grants).then((res) => this.net.runOn(this.to, this.toInc, () => this.toClient(Buffer.concat(encodeResponse(res)))));
  }

  private toClient(frame: Buffer): void {
    if (this.broken) return;
    const sched = this.net.sched;
    const at = Math.max(sched.nowMs() + this.net.delay(this.to, this.from), this.lastToClient);
    this.lastToClient = at;
    sched.at(at - sched.nowMs(), `reply ${this.to}->${this.from}`, () => {
      if (this.broken) return;
      this.net.runOn(this.from, this.fromInc, () => this.settle(frame));
    });
  }

  private settle(frame: Buffer): void {
    const decoded = decodeResponse(frame);
    assert(decoded.kind === 'ok', 'the simulation sends well-formed frames');
    const res = decoded.value;
    const w = this.waiting.get(res.requestId);
    if (w === undefined) return; // timed out earlier
    this.waiting.delete(res.requestId);
    this.timers.clearTimeout(w.timer);
    if (res.ok) w.resolve(res);
    else w.reject(errorFromWire(res.code, res.message, { address: this.address, epoch: res.epoch, state: res.state, answered: true, ...(res.signedState !== undefined && { signedState: res.signedState }) }));
  }
}

function linkKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
