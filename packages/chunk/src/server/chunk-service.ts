import { BasaltError, ErrorCode, isBasaltError, limits } from '@basalt/stdx';
import { blockStamps, DataFlag, DataOp, dataOpNames, decodeSnapshotRecords, encodeBlockList, encodeStampsPayload, ExtentState, firstBadPiece, pieceCrcs, type DataRequest, type DataResponse, type Stamp } from '@basalt/wire';
import { admit, createsReplica, forwardedByPrimary, isMutation, takesStamp, type Admission } from '../replica/admission.js';
import { authorize, grant, newGrants, type Grants } from '../replica/authorize.js';
import type { ReplicaMeta } from '../replica/replica-meta.js';
import type { ExtentStore } from '../store/extent-store.js';
import type { Credentials } from './credentials.js';
import type { ChunkMetrics } from './metrics.js';
import type { Replicator } from './replicator.js';
import type { ChunkUnsafeTestingKnobs } from './unsafe-testing-knobs.js';

/**
 * Serves one data-plane request: admission (epochs, roles, leases; replica/admission.ts), the
 * local store operation, and on the primary the stamp of each mutation and the forwarding to
 * the other members (active and rebuilding). handle() does everything that fixes the order of
 * operations synchronously, before its first await, so requests apply in arrival order.
 *
 * With capabilities (docs/data-path.md, "Capabilities") each connection has its Grants: AUTH
 * verifies a token and adds it there, and every other request is checked against them
 * (replica/authorize.ts) before admission.
 */
type Ok = Extract<DataResponse, { ok: true }>;
type Local = Pick<Ok, 'crcs' | 'payload'>;

const empty = Buffer.alloc(0);
const noCrcs = new Uint32Array(0);
const zeroBlockCrc = pieceCrcs(0, Buffer.alloc(limits.checksumBlockBytes))[0]!;

/** Capability checking: metad's keys and what this server holds, and the wall clock expiries are checked against. */
export interface ServiceAuth {
  readonly credentials: Credentials;
  readonly nowMs: () => number;
}

/** The grants of a request that came with no connection (none: refused when capabilities are enforced). */
const noGrants = newGrants('');

export class ChunkService {
  constructor(
    readonly selfId: string,
    private readonly store: ExtentStore,
    private readonly replicator: Replicator,
    private readonly metrics: ChunkMetrics,
    private readonly knobs: ChunkUnsafeTestingKnobs = {},
    private readonly auth?: ServiceAuth,
  ) {}

  /** `grants`: what the request's connection presented (DataServer keeps one per connection). */
  async handle(req: DataRequest, grants: Grants = noGrants): Promise<DataResponse> {
    const started = performance.now();
    const op = dataOpNames[req.op];
    let res: DataResponse;
    try {
      res = await this.serve(req, grants);
    } catch (err) {
      if (!isBasaltError(err)) throw err;
      res = this.errorReply(req, err.code, err.message);
    }
    this.metrics.ops.inc({ op, result: res.ok ? 'ok' : res.code });
    if (res.ok) this.metrics.bytes.inc({ op }, req.op === DataOp.Read || req.op === DataOp.Write ? req.length : 0);
    this.metrics.latency.observe({ op }, (performance.now() - started) / 1000);
    return res;
  }

  errorReply(req: DataRequest, code: ErrorCode, message: string): DataResponse {
    const meta = this.store.get(req.extent.volumeId, req.extent.index);
    return { ok: false, requestId: req.requestId, code, message, ...this.head(meta) };
  }

  private serve(req: DataRequest, grants: Grants): Promise<DataResponse> {
    if (req.op === DataOp.Ping) return Promise.resolve(this.absent(req)); // liveness only: no admission, no store
    if (req.op === DataOp.Auth) return Promise.resolve(this.authenticate(req, grants));
    const ext = req.extent;
    const local = this.store.get(ext.volumeId, ext.index);
    if (this.auth?.credentials.enforced === true) {
      const refused = authorize(grants, req, local, this.store.generation(ext.volumeId), this.auth.nowMs());
      if (refused !== undefined) return Promise.resolve(this.errorReply(req, refused.code, refused.message));
    }
    const verdict = this.admit(local, req);
    if (verdict.kind === 'refuse') {
      const fenced = verdict.fence === undefined ? Promise.resolve() : this.store.setMeta(verdict.fence);
      return fenced.then(() => this.withNewerState(this.errorReply(req, verdict.code, verdict.message), req, local));
    }
    if (local === undefined && (req.op === DataOp.SnapshotRead || req.op === DataOp.SnapshotDiff)) return Promise.resolve(this.errorReply(req, ErrorCode.SnapshotNotFound, `this chunk server holds no replica of extent ${ext.volumeId}/${ext.index}, so no snapshot of it`));
    if (local === undefined && !createsReplica(req.op)) return Promise.resolve(this.absent(req));
    const mutation = takesStamp(req.op);
    if (mutation && verdict.role !== 'primary' && req.stamp!.epoch === 0) return Promise.resolve(this.errorReply(req, ErrorCode.Protocol, 'a forwarded mutation without its primary\'s stamp'));
    const waits: Promise<unknown>[] = [];
    if (verdict.adopt !== undefined) waits.push(this.store.setMeta(verdict.adopt));
    const raised = mutation ? this.store.raiseGeneration(ext.volumeId, ext.generation) : undefined;
    if (raised !== undefined) waits.push(raised);
    const meta = this.store.get(ext.volumeId, ext.index)!;
    // The primary stamps a mutation on arrival; the other members store the stamp it forwarded.
    const stamp = !mutation ? undefined : verdict.role === 'primary' ? this.store.nextStamp(ext.volumeId, ext.index) : req.stamp!;
    const local$ = this.apply(req, stamp);
    // A LOCAL flush syncs this replica only: the SDK sent one to every member itself.
    if (verdict.role === 'primary' && forwardedByPrimary(req)) {
      const forwarded = this.replicator.forward(meta, req, stamp);
      if (this.knobs.ackBeforeReplicated === true) forwarded.catch(() => undefined);
      else waits.push(forwarded);
    }
    const reply = (outcome: Local): DataResponse => this.okReply(req, outcome);
    // Most requests (every one on a secondary, reads on the primary) wait for the local operation only.
    return waits.length === 0 ? local$.then(reply) : Promise.all([local$, ...waits]).then(([outcome]) => reply(outcome));
  }

  /**
   * A refusal of an older epoch than this server's carries metad's signed state of this server's
   * epoch when it holds it: the client re-sends with that set without asking metad. It cannot
   * forge one: a server takes a set only with metad's signature (authorize.ts).
   */
  private withNewerState(reply: DataResponse, req: DataRequest, local: ReplicaMeta | undefined): DataResponse {
    if (reply.ok || reply.code !== ErrorCode.StaleEpoch || local === undefined || local.state === 'fenced' || req.extent.epoch >= local.epoch) return reply;
    const signedState = this.auth?.credentials.stateAt(local.volumeId, local.index, local.epoch);
    return signedState === undefined ? reply : { ...reply, signedState };
  }

  /** AUTH: verifies the token and adds what it grants to the connection's grants (accepted unchecked while capabilities are off). */
  private authenticate(req: DataRequest, grants: Grants): DataResponse {
    const auth = this.auth;
    if (auth === undefined || !auth.credentials.enforced) return this.absent(req);
    const verified = auth.credentials.verify(req.payload!);
    const refused = verified.kind === 'ok' ? grant(grants, verified.claims, auth.nowMs()) : { code: ErrorCode.Unauthenticated, message: verified.message };
    return refused === undefined ? this.absent(req) : { ok: false, requestId: req.requestId, code: refused.code, message: refused.message, epoch: 0, version: 0, state: ExtentState.Absent };
  }

  /** admission.ts's verdict (unless a testing knob breaks the fence on purpose). */
  private admit(local: ReplicaMeta | undefined, req: DataRequest): Admission {
    const verdict = admit(this.selfId, local, req, this.store.generation(req.extent.volumeId));
    const forwarded = (req.flags & DataFlag.Forwarded) !== 0;
    if (verdict.kind === 'refuse' && this.knobs.acceptWhileFenced === true && local?.state === 'fenced' && isMutation(req.op) && !forwarded) return { kind: 'accept', role: 'primary' };
    return verdict;
  }

  /** The reply to a request whose local operation (and forwarding) succeeded: one object shape for all. */
  private okReply(req: DataRequest, outcome: Local): DataResponse {
    const { epoch, version, state } = this.head(this.store.get(req.extent.volumeId, req.extent.index));
    return { ok: true, requestId: req.requestId, epoch, version, state, crcs: outcome.crcs, payload: outcome.payload };
  }

  /** Starts the local operation (synchronously taking its place in the extent's order). */
  private apply(req: DataRequest, stamp: Stamp | undefined): Promise<Local> {
    const { volumeId, index } = req.extent;
    const fua = (req.flags & DataFlag.Fua) !== 0;
    const done: Local = { crcs: noCrcs, payload: empty };
    switch (req.op) {
      case DataOp.Read:
        return this.store.read(volumeId, index, req.offset, req.length).then((r) => ({ crcs: r.crcs, payload: r.data }));
      case DataOp.Write: {
        const bad = firstBadPiece(req.offset, req.payload!, req.crcs!);
        if (bad >= 0) {
          this.metrics.checksumErrors.inc({ where: 'write' });
          return Promise.reject(new BasaltError(ErrorCode.Checksum, `write data does not match its checksum (piece ${bad}); nothing was stored`, { piece: bad }));
        }
        this.store.bumpVersion(volumeId, index);
        const member = (req.flags & DataFlag.Forwarded) !== 0;
        return this.durable(this.store.write(volumeId, index, req.offset, req.payload!, req.crcs!, stamp!, member), fua, volumeId, index).then(() => done);
      }
      case DataOp.Trim:
      case DataOp.WriteZeroes:
        this.store.bumpVersion(volumeId, index);
        return this.durable(this.store.zero(volumeId, index, req.offset, req.length, stamp!), fua, volumeId, index).then(() => done);
      case DataOp.Flush:
        return this.store.sync({ volumeId, index }).then(() => done);
      case DataOp.Stamps:
        return this.store.stamps(volumeId, index, req.offset, req.length, (req.flags & DataFlag.Verify) !== 0).then((out) => ({ crcs: out.crcs, payload: encodeStampsPayload(out) }));
      case DataOp.Copy: {
        const bad = firstBadPiece(req.offset, req.payload!, req.crcs!);
        if (bad >= 0) {
          this.metrics.checksumErrors.inc({ where: 'write' });
          return Promise.reject(new BasaltError(ErrorCode.Checksum, `copied block ${req.offset / limits.checksumBlockBytes + bad} does not match its checksum; nothing of this copy was stored`, { block: req.offset / limits.checksumBlockBytes + bad }));
        }
        return this.store.copyBlocks(volumeId, index, req.offset, req.payload!, req.crcs!, req.stamps!, req.floorEpoch!).then((applied) => {
          const payload = Buffer.allocUnsafe(4);
          payload.writeUInt32BE(applied, 0);
          return { crcs: noCrcs, payload };
        });
      }
      case DataOp.Snapshot:
        return this.store.takeSnapshot(volumeId, index, req.snapshot!, stamp!).then(() => done);
      case DataOp.SnapshotDelete:
        return this.store.deleteSnapshot(volumeId, index, req.snapshot!).then(() => done);
      case DataOp.SnapshotRead:
        return this.store.readSnapshot(volumeId, index, req.snapshot!, req.offset, req.length).then((r) => ({ crcs: r.crcs, payload: r.data }));
      case DataOp.SnapshotDiff:
        return this.store.changedBlocks(volumeId, index, req.snapshotFrom || undefined, req.snapshot || undefined, req.offset, req.length).then((blocks) => ({ crcs: noCrcs, payload: encodeBlockList(blocks) }));
      case DataOp.SnapshotInstall: {
        const records = decodeSnapshotRecords(req.payload!);
        if (records === undefined) return Promise.reject(new BasaltError(ErrorCode.Checksum, 'snapshot records are malformed or fail their checksums; nothing was installed'));
        return this.store.installSnapshotRecords(volumeId, index, req.snapshot!, records).then((installed) => {
          const payload = Buffer.allocUnsafe(4);
          payload.writeUInt32BE(installed, 0);
          return { crcs: noCrcs, payload };
        });
      }
      case DataOp.Info:
      case DataOp.Ping: // answered in serve() before admission; here for the exhaustive switch
      case DataOp.Auth: // likewise
        return Promise.resolve(done);
    }
  }

  /** A FUA mutation is acknowledged once its extent's writes are durable (not every extent's: a rebuild's buffered copy is not written back with it). */
  private durable(applied: Promise<void>, fua: boolean, volumeId: number, index: number): Promise<void> {
    return fua ? applied.then(() => this.store.sync({ volumeId, index })) : applied;
  }

  /** A request for an extent this server holds none of, at an epoch that lists it: zeros, stamps (0, 0). */
  private absent(req: DataRequest): DataResponse {
    let payload: Buffer = empty;
    let crcs: Uint32Array = noCrcs;
    if (req.op === DataOp.Read) {
      payload = Buffer.alloc(req.length);
      crcs = pieceCrcs(req.offset, payload);
    } else if (req.op === DataOp.Stamps) {
      const blocks = req.length / limits.checksumBlockBytes;
      crcs = new Uint32Array(blocks).fill(zeroBlockCrc);
      payload = encodeStampsPayload({ ...blockStamps(blocks), crcs, bad: [] });
    }
    return { ok: true, requestId: req.requestId, epoch: 0, version: 0, state: ExtentState.Absent, crcs, payload };
  }

  private head(meta: ReplicaMeta | undefined): { epoch: number; version: number; state: ExtentState } {
    if (meta === undefined) return { epoch: 0, version: 0, state: ExtentState.Absent };
    return { epoch: meta.epoch, version: meta.version, state: this.stateOf(meta) };
  }

  private stateOf(meta: ReplicaMeta): ExtentState {
    if (meta.state === 'fenced') return ExtentState.Fenced;
    for (const r of meta.replicas) if (r.serverId === this.selfId) return r.rebuilding === true ? ExtentState.Rebuilding : ExtentState.Active;
    return ExtentState.Active;
  }
}
