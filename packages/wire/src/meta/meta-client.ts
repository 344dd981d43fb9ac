import { BasaltError, ErrorCode, assert, limits } from '@basalt/stdx';
import { MetaConnection } from './meta-connection.js';
import { metaService, readOnlyMethods, retrySafeMethods } from './meta-service.js';
import type { MetaMethodName, MetaReply, MetaRequest } from './meta-service.js';
import { TransportSecurity } from '../security/transport-security.js';

export interface MetaClientOptions {
  /** host:port of one or more metad members; the leader is found from there. */
  endpoints: readonly string[];
  /** Deadline of one attempt against one member. */
  attemptTimeoutMs?: number;
  /** Total time a call may take across attempts and backoff; then the last error is thrown. */
  callTimeoutMs?: number;
  /**
   * Retry mutations after a transport failure (BASALT_UNAVAILABLE), where the request may or may
   * not have reached the leader. Default true: convenient for tools, but a retried create may then
   * report BASALT_VOLUME_EXISTS for its own earlier attempt. Set false when every outcome must be
   * known (histories for linearizability checks): such a failure is then thrown at once.
   * Mutations are always retried after BASALT_NOT_LEADER and BASALT_BUSY, which guarantee that
   * nothing was applied, and the retry-safe ones (retrySafeMethods: AllocateExtent, DropReplica,
   * ...) also after BASALT_UNAVAILABLE and BASALT_TIMEOUT, like reads.
   */
  retryMutations?: boolean;
  /** Plain (default) or mutual TLS: the process's one TransportSecurity. */
  security?: TransportSecurity;
}

export interface CallOptions {
  /** Overrides callTimeoutMs for this call. */
  timeoutMs?: number;
  /** Overrides attemptTimeoutMs for this call: how long to wait for one member before trying another. */
  attemptTimeoutMs?: number;
  /** Send to exactly this member, without redirects or retries (e.g. Status of one member). */
  address?: string;
}

/**
 * A client of the metad cluster. It sends every call to the member it believes is the leader,
 * follows NOT_LEADER hints, rotates through the endpoints with exponential backoff while members
 * are unavailable or no leader is known, and throws BasaltErrors with stable codes. Calls travel
 * as frames (meta-frames.ts) on one connection per member, opened again after it fails; metad
 * also serves the same API over gRPC for other clients.
 */
export class MetaClient {
  private readonly endpoints: string[];
  private readonly connections = new Map<string, { connection: MetaConnection; generation: number }>();
  private readonly security: TransportSecurity;
  private leader: string | undefined;
  private next = 0;
  private closed = false;
  private readonly attemptTimeoutMs: number;
  private readonly callTimeoutMs: number;
  private readonly retryMutations: boolean;

  constructor(options: MetaClientOptions) {
    assert(options.endpoints.length > 0, 'MetaClient needs at least one endpoint');
    this.endpoints = [...options.endpoints];
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? limits.metaAttemptTimeoutMsDefault;
    this.callTimeoutMs = options.callTimeoutMs ?? limits.metaCallTimeoutMsDefault;
    this.retryMutations = options.retryMutations ?? true;
    this.security = options.security ?? TransportSecurity.insecure();
  }

  /** The member the next call goes to first. */
  get leaderHint(): string | undefined {
    return this.leader;
  }

  /** Calls a Meta method, following the leader; throws a BasaltError. */
  async call<K extends MetaMethodName>(method: K, request: MetaRequest<K>, options: CallOptions = {}): Promise<MetaReply<K>> {
    if (this.closed) throw new BasaltError(ErrorCode.Closed, 'MetaClient is closed');
    if (options.address !== undefined) {
      return this.attempt(method, request, options.address, Math.min(options.attemptTimeoutMs ?? this.attemptTimeoutMs, options.timeoutMs ?? Infinity));
    }
    const deadline = Date.now() + (options.timeoutMs ?? this.callTimeoutMs);
    const attemptTimeoutMs = options.attemptTimeoutMs ?? this.attemptTimeoutMs;
    /** When members last failed at the transport level in this call (see DownMembers). */
    const down = new DownMembers();
    let redirects = 0;
    let backoffs = 0;
    let polls = 0;
    for (;;) {
      const address = this.target(down);
      const timeLeft = deadline - Date.now();
      try {
        return await this.attempt(method, request, address, Math.max(1, Math.min(attemptTimeoutMs, timeLeft)));
      } catch (err) {
        if (!(err instanceof BasaltError)) throw err;
        if (err.code === ErrorCode.Unavailable) down.add(address);
        let next = this.onFailure(method, err, address, redirects, down);
        // Someone else may answer: only a cluster that cannot be reached at all grows the backoff.
        if (next === 'backoff' && err.code !== ErrorCode.Busy && this.endpoints.some((e) => !down.has(e))) next = 'poll';
        if (next === 'throw' || Date.now() >= deadline) throw err;
        if (next === 'now') redirects++;
        if (next === 'backoff' || next === 'poll') {
          redirects = 0;
          // Live members without a leader (an election, ~1 s) are polled at a short, capped
          // backoff; only failing to reach anyone grows it to limits.metaBackoffMsMax.
          const pause = next === 'poll' ? backoffMs(Math.min(polls++, pollBackoffStepsMax)) : backoffMs(backoffs++);
          await sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
        }
      }
    }
  }

  /**
   * Every volume, by name, asked for in pages of limits.volumesPageMax (one reply stays small
   * however many volumes there are), and the next volume id of the last page. Pages are separate
   * reads: a volume created or deleted meanwhile may or may not be listed.
   */
  async listAllVolumes(request: { stale?: boolean; tenant?: string } = {}, options: CallOptions = {}): Promise<{ volumes: MetaReply<'listVolumes'>['volumes']; nextVolumeId: number }> {
    const volumes: MetaReply<'listVolumes'>['volumes'] = [];
    let pageToken = '';
    for (;;) {
      const reply = await this.call('listVolumes', { ...request, pageToken, limit: limits.volumesPageMax }, options);
      volumes.push(...reply.volumes);
      if (reply.nextPageToken === '') return { volumes, nextVolumeId: reply.nextVolumeId };
      pageToken = reply.nextPageToken;
    }
  }

  /** Closes every connection. Calls in flight fail with BASALT_CLOSED. */
  close(): void {
    this.closed = true;
    for (const { connection } of this.connections.values()) connection.close();
    this.connections.clear();
  }

  /** The believed leader, else the next endpoint in rotation, preferring members not `down`. */
  private target(down: DownMembers): string {
    if (this.leader !== undefined) return this.leader;
    for (let i = 0; i < this.endpoints.length; i++) {
      const address = this.endpoints[this.next % this.endpoints.length] as string;
      this.next++;
      if (!down.has(address)) return address;
    }
    const address = this.endpoints[this.next % this.endpoints.length] as string;
    this.next++;
    return address;
  }

  /**
   * Decides what to do after a failed attempt: retry at once (a new leader), poll again soon
   * (an election in progress), back off, or give up. A hint naming a member this call could
   * not reach is a follower's stale view of a leader that died: it is not followed.
   */
  private onFailure(method: MetaMethodName, err: BasaltError, address: string, redirects: number, down: DownMembers): 'now' | 'poll' | 'backoff' | 'throw' {
    if (err.code === ErrorCode.NotLeader) {
      const hint = err.details.leaderAddress;
      if (typeof hint === 'string' && hint !== '' && hint !== address && !down.has(hint)) {
        this.leader = hint;
        if (!this.endpoints.includes(hint)) this.endpoints.push(hint);
        // Members with stale views may point at each other during an election: back off then.
        return redirects < this.endpoints.length ? 'now' : 'poll';
      }
      this.leader = undefined;
      return 'poll';
    }
    if (err.code === ErrorCode.Busy) return 'backoff';
    if (err.code === ErrorCode.Unavailable || err.code === ErrorCode.Timeout) {
      if (this.leader === address) this.leader = undefined;
      if (readOnlyMethods.has(method) || retrySafeMethods.has(method)) return 'backoff';
      if (err.code === ErrorCode.Unavailable && this.retryMutations) return 'backoff';
      return 'throw';
    }
    return 'throw';
  }

  private async attempt<K extends MetaMethodName>(method: K, request: MetaRequest<K>, address: string, timeoutMs: number): Promise<MetaReply<K>> {
    const def = metaService[method];
    const bytes = def.requestSerialize(request);
    const reply = await this.connection(address).call(def.originalName, bytes, timeoutMs);
    try {
      return def.responseDeserialize(reply as Buffer) as MetaReply<K>;
    } catch (err) {
      throw new BasaltError(ErrorCode.Protocol, `metad ${address}: a ${def.originalName} reply that does not decode: ${(err as Error).message}`, { address });
    }
  }

  /**
   * The connection to a member: opened anew after it failed, or after the credentials were
   * reloaded (a rotation); the old one is closed once the calls on it had time to finish.
   */
  private connection(address: string): MetaConnection {
    const cached = this.connections.get(address);
    const generation = this.security.generation;
    if (cached !== undefined && cached.generation === generation && !cached.connection.failed) return cached.connection;
    if (cached !== undefined) setTimeout(() => cached.connection.close(), this.callTimeoutMs).unref();
    const connection = new MetaConnection(address, this.security);
    this.connections.set(address, { connection, generation });
    return connection;
  }
}

/**
 * Members a call could not reach recently. A killed leader stays in its followers' views (and
 * their NOT_LEADER hints) until they time out; for `downForMs` after a failure such hints are
 * not followed and the member is tried last. After that it is tried again: it may have come back.
 */
class DownMembers {
  private static readonly downForMs = 250;
  private readonly failedAt = new Map<string, number>();

  add(address: string): void {
    this.failedAt.set(address, Date.now());
  }

  has(address: string): boolean {
    const at = this.failedAt.get(address);
    return at !== undefined && Date.now() - at < DownMembers.downForMs;
  }
}

/** Polling backs off to at most 50 ms (25-50 jittered): ~27 calls/s per client during an election. */
const pollBackoffStepsMax = 1;

function backoffMs(tries: number): number {
  const base = Math.min(limits.metaBackoffMsMax, 25 * 2 ** Math.min(tries, 10));
  return base / 2 + Math.random() * (base / 2);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
