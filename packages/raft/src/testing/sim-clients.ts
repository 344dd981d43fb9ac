import type { Prng } from '@basalt/stdx';
import type { NodeId } from '../core/types.js';
import type { KvInput, KvOutput } from './kv-model.js';
import type { Operation } from './linearizability.js';
import type { ClientRequest, SimNode } from './sim-node.js';
import type { Trace } from './trace.js';

/** What the clients need from the simulation. */
export interface ClientHost {
  readonly prng: Prng;
  readonly trace: Trace;
  /** Calls `clients.act(client, requestId)` after `delay` time units. */
  schedule(delay: number, client: number, requestId: string | undefined): void;
  node(id: NodeId): SimNode | undefined;
  randomNode(): SimNode;
}

export interface ClientOptions {
  readonly clients: number;
  readonly keys: number;
  /** A request with no answer after this many time units has an unknown outcome. */
  readonly timeoutUnits: number;
  readonly thinkUnitsMax: number;
}

interface InFlight {
  readonly requestId: string;
  readonly input: KvInput;
  readonly callTime: number;
}

interface ClientState {
  /** The client id in the history; a new one after each unknown outcome (the old "process" may still act). */
  incarnation: number;
  seq: number;
  hint: NodeId;
  inflight: InFlight | undefined;
  /** Last value seen per key, to aim compare-and-sets at. */
  readonly seen: Map<string, string | null>;
  probing: boolean;
  probedWrite: boolean;
  probedRead: boolean;
}

/**
 * Closed-loop clients of the simulated key-value store: each has at most one
 * request in flight, to the leader it was last told of (sometimes to any node,
 * so followers serve ReadIndex reads too). Completed operations and those of
 * unknown outcome (timed out, or still pending at the end) go into the history;
 * refused ones certainly did not happen and are left out.
 */
export class SimClients {
  readonly history: Operation<KvInput, KvOutput>[] = [];
  private readonly clients: ClientState[] = [];
  /** Logical time of calls and returns: one step per event, so it orders them as they happened. */
  private clock = 0;
  private nextIncarnation = 0;
  /** While paused, clients issue nothing new (requests in flight still end). */
  private paused = false;

  constructor(private readonly host: ClientHost, private readonly opts: ClientOptions) {
    for (let i = 0; i < opts.clients; i++) {
      this.clients.push({ incarnation: this.nextIncarnation++, seq: 0, hint: '', inflight: undefined, seen: new Map(), probing: false, probedWrite: false, probedRead: false });
      host.schedule(host.prng.int(0, opts.thinkUnitsMax), i, undefined);
    }
  }

  /**
   * From now on each client must complete one read and then one write (the liveness probe;
   * reading first finds a new leader that cannot serve reads until something of its own term
   * commits). Then it goes on as before.
   */
  startProbing(): void {
    for (const c of this.clients) c.probing = true;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.clients.forEach((_, i) => this.host.schedule(this.host.prng.int(0, this.opts.thinkUnitsMax), i, undefined));
  }

  get allProbed(): boolean {
    return this.clients.every((c) => c.probedWrite && c.probedRead);
  }

  /** A human summary of clients still waiting, for the liveness report. */
  describeWaiting(): string {
    return this.clients
      .map((c, i) => `client ${i}: ${c.inflight === undefined ? 'idle' : `waiting on ${c.inflight.requestId}`}, probed write ${c.probedWrite} read ${c.probedRead}`)
      .join('; ');
  }

  /** Ends the run: requests still in flight have an unknown outcome. */
  finish(): Operation<KvInput, KvOutput>[] {
    for (const c of this.clients) {
      if (c.inflight !== undefined) this.history.push({ clientId: c.incarnation, input: c.inflight.input, callTime: c.inflight.callTime });
      c.inflight = undefined;
    }
    return this.history;
  }

  act(index: number, timeoutOf: string | undefined): void {
    const c = this.clients[index];
    if (c === undefined) return;
    if (timeoutOf !== undefined) {
      if (c.inflight?.requestId === timeoutOf) this.timeout(index, c);
      return;
    }
    if (c.inflight !== undefined || this.paused) return;
    this.issue(index, c);
  }

  private timeout(index: number, c: ClientState): void {
    const op = c.inflight;
    if (op === undefined) return;
    this.host.trace.record(`client ${index} timeout ${op.requestId}`);
    this.history.push({ clientId: c.incarnation, input: op.input, callTime: op.callTime });
    c.inflight = undefined;
    c.incarnation = this.nextIncarnation++;
    c.hint = '';
    this.host.schedule(1, index, undefined);
  }

  private issue(index: number, c: ClientState): void {
    const { prng } = this.host;
    const requestId = `c${index}.${c.seq++}`;
    const input = this.nextInput(index, c, requestId);
    const hinted = c.hint === '' ? undefined : this.host.node(c.hint);
    const node = hinted !== undefined && !prng.chance(0.2) ? hinted : this.host.randomNode();
    const op: InFlight = { requestId, input, callTime: this.clock++ };
    c.inflight = op;
    this.host.trace.record(`client ${index} call ${requestId} ${JSON.stringify(input)} at ${node.id}`);
    this.host.schedule(this.opts.timeoutUnits, index, requestId);
    node.submit(this.request(index, c, op));
  }

  private nextInput(index: number, c: ClientState, requestId: string): KvInput {
    const { prng } = this.host;
    const key = `k${prng.int(0, this.opts.keys - 1)}`;
    const value = `v${requestId.slice(1)}`;
    if (c.probing) return c.probedRead ? { kind: 'write', key, value } : { kind: 'read', key };
    const roll = prng.float();
    if (roll < 0.45) return { kind: 'read', key };
    if (roll < 0.8) return { kind: 'write', key, value };
    const expected = c.seen.get(key) ?? (prng.chance(0.5) ? null : `v${index}.${prng.int(0, Math.max(0, c.seq - 1))}`);
    return { kind: 'cas', key, expected, value };
  }

  private request(index: number, c: ClientState, op: InFlight): ClientRequest {
    const current = (): boolean => c.inflight === op;
    return {
      requestId: op.requestId,
      input: op.input,
      respond: (output) => {
        if (!current()) return;
        this.host.trace.record(`client ${index} return ${op.requestId} ${JSON.stringify(output)}`);
        this.history.push({ clientId: c.incarnation, input: op.input, callTime: op.callTime, returnTime: this.clock++, output });
        this.noteOutput(c, op.input, output);
        c.inflight = undefined;
        this.host.schedule(this.host.prng.int(0, this.opts.thinkUnitsMax), index, undefined);
      },
      refuse: (reason, leaderHint) => {
        if (!current()) return;
        this.host.trace.record(`client ${index} refused ${op.requestId} ${reason} hint ${leaderHint}`);
        c.inflight = undefined;
        c.hint = leaderHint;
        this.host.schedule(this.host.prng.int(1, 5), index, undefined);
      },
    };
  }

  private noteOutput(c: ClientState, input: KvInput, output: KvOutput): void {
    if (output.kind === 'read') {
      c.seen.set(input.key, output.value);
      if (c.probing) c.probedRead = true;
    } else if (input.kind !== 'read') {
      if (input.kind === 'write' || (output.kind === 'cas' && output.ok)) c.seen.set(input.key, input.value);
      if (c.probing && c.probedRead) c.probedWrite = true;
    }
    if (c.probedRead && c.probedWrite) c.probing = false;
  }
}
