import { BasaltError, ErrorCode, isBasaltError, limits, type Clock, type Timers } from '@basalt/stdx';
import { DataFlag, DataOp, encodeSnapshotRecords, type ExtentRef, type ReplicaRef, type StampsOutcome } from '@basalt/wire';
import type { ExtentStore, SnapshotRecordCopy } from '../store/extent-store.js';
import type { DropReason, ExtentPlacement, MetaLink, RepairProgress, RepairTask } from '../server/meta-link.js';
import type { ChunkMetrics } from '../server/metrics.js';
import type { Peer } from '../server/peer.js';
import type { ChunkUnsafeTestingKnobs } from '../server/unsafe-testing-knobs.js';
import { planCopy, type CopyRun } from './copy-plan.js';
import type { RepairBudget } from './repair-budget.js';
import type { TokenBucket } from '@basalt/stdx';

/**
 * The primary's side of repair: it copies the extents it leads to their rebuilding members.
 * After each heartbeat poll() asks metad for tasks (ListRepairTasks) and starts those not
 * running, at most limits.repairCopiesPerServerMax at once; when a copy ends, and every
 * limits.repairTaskPollMs while metad lists tasks, it asks again. One copy, for one (extent, member):
 *
 * 1. take the task's epoch and set locally if this server has not seen them yet (the set names
 *    the member, so forwarded writes reach it from now on);
 * 2. STAMPS of the member (over the replicator's ordered connection to it) and of the local
 *    store, called in one turn of the event loop so both answer at the same point of the write
 *    stream; planCopy() turns the two lists into runs of differing blocks;
 * 3. each run: its bytes from the repair budget, then data, CRCs and stamps read from the local
 *    store in one range-lock hold, then COPY with the task's epoch as the floor. The member keeps
 *    whatever is newer (copyApplies), so a copy racing a foreground write never undoes it. When
 *    no mutation arrived here between the read and the send (the extent's version did not move),
 *    the floor is the task's epoch + 1: the member then takes every block of the run as this
 *    server has it, since every write it received was forwarded before the COPY on the same
 *    connection and is in the data read, and every later one comes after. That replaces a block
 *    a partial-block write merged with stale data on the member (same stamp, other bytes), which
 *    the floor rule alone would keep;
 * Snapshots (docs/snapshots.md, "Healing"): right after step 1 the member gets every snapshot
 * mark this server holds (SNAPSHOT, FORWARDED, with the mark's own stamp), so that forwarded
 * writes preserve blocks on it as they do here; once the blocks agree (step 4), each snapshot's
 * layer is sent in batches (SNAPSHOT_INSTALL), replacing what the member preserved for the same
 * blocks before its blocks were right. Records preserved on both sides after that agree.
 *
 * 4. compare again; once nothing differs (normally the second round), FLUSH the member (the
 *    copied blocks must survive its power loss: writes made before it joined were flushed on the
 *    members of their time), then PromoteReplica at the task's epoch.
 *
 * An epoch change (metad changed the set; the local replica moved on or was fenced) aborts the
 * copy: metad re-plans. A failure of the member is reported with DropReplica and what was seen
 * (`unreachable`, `timeout`, `no_space`, `io`, `checksum`); a local failure only aborts.
 */
export interface RebuildDeps {
  readonly selfId: string;
  readonly store: ExtentStore;
  readonly link: MetaLink;
  /** The replicator's ordered connection to a server (the one forwarded writes use). */
  readonly peer: (address: string) => Peer;
  readonly budget: RepairBudget;
  /** The server's repair bucket (shared with the scrubber). */
  readonly bucket: TokenBucket;
  readonly metrics: ChunkMetrics;
  readonly clock: Clock;
  /** The process's timers in chunkd, the simulator's queue in packages/sim. */
  readonly timers: Timers;
  readonly log: (line: string) => void;
  /** Rule breakers for the simulation's tests (server/unsafe-testing-knobs.ts); none in chunkd. */
  readonly knobs?: ChunkUnsafeTestingKnobs;
}

type CopyKind = 'catchup' | 'rebuild';

interface Copy {
  readonly task: RepairTask;
  readonly target: ReplicaRef;
  readonly startedMs: number;
  kind: CopyKind;
  bytesLeft: number;
  bytesCopied: number;
  /** Set by the first failure; the other runs of the copy stop at their next step. */
  failure: Error | undefined;
  /** The failure came from the member (its answer or its connection), not from this server. */
  targetFailed: boolean;
  /** Settles when the copy ended, however. */
  done: Promise<void>;
}

const block = limits.checksumBlockBytes;
/** Member failures that make the primary report it; refusals for a newer epoch only abort. */
/**
 * Failures of the member and the reason metad is told: a member that could not be reached (it may
 * be restarting: metad keeps its older copy in mind for a catch-up) or one that failed the copy.
 */
const memberFailures = new Map<string, DropReason>([
  [ErrorCode.Unavailable, 'unreachable'], [ErrorCode.Closed, 'unreachable'], [ErrorCode.Timeout, 'timeout'],
  [ErrorCode.NoSpace, 'no_space'], [ErrorCode.Io, 'io'], [ErrorCode.Checksum, 'checksum'],
]);

export class RebuildExecutor {
  private readonly running = new Map<string, Copy>();
  private polling = false;
  private closed = false;
  private copiedTotal = 0;
  private reportedCopied = 0;
  private reportedAtMs: number;
  private pollTimer: unknown;

  constructor(private readonly d: RebuildDeps) {
    this.reportedAtMs = d.clock.nowMs();
  }

  /** Asks metad for tasks and starts new copies up to the bound; errors are logged. */
  async poll(): Promise<void> {
    if (this.closed || this.polling || this.running.size >= limits.repairCopiesPerServerMax) return;
    this.polling = true;
    try {
      const tasks = await this.d.link.repairTasks(this.d.selfId, 0);
      for (const task of tasks) {
        for (const target of task.members.filter((m) => m.rebuilding === true)) this.maybeStart(task, target);
      }
      if (tasks.length > 0) this.pollSoon();
    } catch (err) {
      this.d.log(`asking metad for repair tasks failed: ${String(err)}`);
    } finally {
      this.polling = false;
    }
  }

  /** One more poll after limits.repairTaskPollMs, unless one is already due. */
  private pollSoon(): void {
    if (this.closed || this.pollTimer !== undefined) return;
    this.pollTimer = this.d.timers.setTimeout(() => {
      this.pollTimer = undefined;
      void this.poll();
    }, limits.repairTaskPollMs);
  }

  /** The copies in flight, for the heartbeat; the rate is over the time since the last call. */
  progress(): RepairProgress {
    const now = this.d.clock.nowMs();
    const elapsedMs = now - this.reportedAtMs;
    const rate = elapsedMs > 0 ? Math.round(((this.copiedTotal - this.reportedCopied) * 1000) / elapsedMs) : 0;
    this.reportedAtMs = now;
    this.reportedCopied = this.copiedTotal;
    return { copiesRunning: this.running.size, bytesLeft: this.bytesLeft(), bytesCopied: this.copiedTotal, rateBytesPerSec: rate };
  }

  /** Stops starting copies and waits for the running ones, which end at their next step (close the budget first to end their waits). */
  async close(): Promise<void> {
    this.closed = true;
    this.d.timers.clearTimeout(this.pollTimer);
    await Promise.all([...this.running.values()].map((c) => c.done));
  }

  private bytesLeft(): number {
    let left = 0;
    for (const c of this.running.values()) left += c.bytesLeft;
    return left;
  }

  private maybeStart(task: RepairTask, target: ReplicaRef): void {
    const key = `${task.volumeId}/${task.index}/${target.serverId}`;
    if (this.running.has(key) || this.running.size >= limits.repairCopiesPerServerMax) return;
    const c: Copy = { task, target, startedMs: this.d.clock.nowMs(), kind: 'rebuild', bytesLeft: 0, bytesCopied: 0, failure: undefined, targetFailed: false, done: Promise.resolve() };
    this.running.set(key, c);
    this.d.metrics.repairCopies.set(this.running.size);
    c.done = this.run(c).finally(() => {
      this.running.delete(key);
      this.d.metrics.repairCopies.set(this.running.size);
      this.d.metrics.repairBytesLeft.set(this.bytesLeft());
      void this.poll();
    });
  }

  private async run(c: Copy): Promise<void> {
    const { task, target } = c;
    const what = `copy of extent ${task.volumeId}/${task.index} to ${target.serverId} at epoch ${task.epoch}`;
    try {
      await this.takeTask(task);
      await this.sendMarks(c);
      for (let round = 0; ; round++) {
        this.checkCurrent(c);
        const [mine, theirs] = await this.stampsOfBoth(c);
        const plan = planCopy(mine, theirs, limits.repairCopyRunBytesMax / block);
        if (round === 0) {
          // A block stamped before the task's epoch was on the member before this copy; writes
          // forwarded to it since metad added it carry the task's epoch or later.
          c.kind = theirs.epochs.some((e, i) => e < task.epoch && (e !== 0 || theirs.seqs[i] !== 0)) ? 'catchup' : 'rebuild';
          this.d.metrics.repairBytes.inc({ kind: c.kind, what: 'compared' }, plan.blocksCompared * block);
          this.d.log(`${what}: ${c.kind} starts, ${plan.blocksToCopy * block} of ${task.extentSizeBytes} bytes differ`);
        }
        if (plan.blocksToCopy === 0 || this.d.knobs?.promoteBeforeCopy === true) break;
        if (round + 1 === limits.repairCompareRoundsMax) throw new BasaltError(ErrorCode.Unavailable, `${plan.blocksToCopy} blocks still differ after ${round + 1} rounds`);
        c.bytesLeft = plan.blocksToCopy * block;
        await this.copyRuns(c, plan.runs);
      }
      await this.sendLayers(c);
      // What was copied must survive the member's power loss before it counts for redundancy:
      // earlier writes were flushed (or written with FUA) on the members of their time.
      this.checkCurrent(c);
      await this.atTarget(c, this.d.peer(target.address).flush(this.ref(task)));
      const placement = await this.d.link.promoteReplica(task.volumeId, task.index, target.serverId, task.epoch);
      await this.adopt(task, placement);
      this.d.metrics.repairs.inc({ result: 'promoted' });
      const secs = (this.d.clock.nowMs() - c.startedMs) / 1000;
      this.d.log(`${what}: ${c.kind} done in ${secs.toFixed(1)} s, copied ${c.bytesCopied} of ${task.extentSizeBytes} bytes; promoted, epoch ${placement.epoch}`);
    } catch (err) {
      await this.fail(c, what, c.failure ?? err);
    }
  }

  /** Takes the task's epoch and set if this server has not seen them; refuses a task it is past. */
  private async takeTask(task: RepairTask): Promise<void> {
    const local = this.d.store.get(task.volumeId, task.index);
    if (task.members[0]?.serverId !== this.d.selfId) throw stale(`this server does not lead it at epoch ${task.epoch}`);
    if (local !== undefined && (local.epoch > task.epoch || local.state !== 'active')) throw stale(`the local replica is at epoch ${local.epoch} (${local.state})`);
    if (local !== undefined && local.extentSizeBytes !== task.extentSizeBytes) throw new BasaltError(ErrorCode.InvalidArgument, `extent size ${task.extentSizeBytes} differs from the local ${local.extentSizeBytes}`);
    if (local !== undefined && local.epoch === task.epoch) return;
    const fresh = { volumeId: task.volumeId, index: task.index, extentSizeBytes: task.extentSizeBytes, version: 0 };
    await this.d.store.setMeta({ ...(local ?? fresh), epoch: task.epoch, replicas: task.members, state: 'active' });
  }

  /** Throws when the local replica moved past the task's epoch (or the copy failed elsewhere). */
  private checkCurrent(c: Copy): void {
    if (c.failure !== undefined) throw c.failure;
    if (this.closed) throw new BasaltError(ErrorCode.Closed, 'the chunk server is closing');
    const local = this.d.store.get(c.task.volumeId, c.task.index);
    if (local?.epoch !== c.task.epoch || local.state !== 'active') throw stale(`the extent moved to epoch ${local?.epoch ?? 0}`);
  }

  /** Both lists at one point of the write stream: both calls are made in this turn. */
  private stampsOfBoth(c: Copy): Promise<[StampsOutcome, StampsOutcome]> {
    const { task } = c;
    const theirs = this.atTarget(c, this.d.peer(c.target.address).stamps(this.ref(task), 0, task.extentSizeBytes, { forwarded: true }));
    const mine = this.d.store.stamps(task.volumeId, task.index, 0, task.extentSizeBytes, false);
    return Promise.all([mine, theirs]);
  }

  private async copyRuns(c: Copy, runs: readonly CopyRun[]): Promise<void> {
    const { task } = c;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < runs.length) {
        const run = runs[next++]!;
        const offset = run.firstBlock * block;
        const bytes = run.blocks * block;
        this.checkCurrent(c);
        await this.d.budget.take([this.d.bucket], bytes);
        this.checkCurrent(c);
        const version = this.d.store.get(task.volumeId, task.index)?.version;
        const got = await this.d.store.readForCopy(task.volumeId, task.index, offset, bytes);
        this.checkCurrent(c);
        const floor = this.d.store.get(task.volumeId, task.index)?.version === version ? task.epoch + 1 : task.epoch;
        await this.atTarget(c, this.d.peer(c.target.address).copy(this.ref(task), offset, got.data, got.crcs, got, floor));
        c.bytesCopied += bytes;
        c.bytesLeft -= bytes;
        this.copiedTotal += bytes;
        this.d.metrics.repairBytes.inc({ kind: c.kind, what: 'copied' }, bytes);
        this.d.metrics.repairBytesLeft.set(this.bytesLeft());
      }
    };
    const workers = Array.from({ length: Math.min(limits.repairCopyRunsInflightMax, runs.length) }, () =>
      worker().catch((err: unknown) => {
        c.failure ??= err instanceof Error ? err : new Error(String(err));
      }),
    );
    await Promise.all(workers);
    if (c.failure !== undefined) throw c.failure;
  }

  /** Gives the member this server's snapshot marks, with their stamps. */
  private async sendMarks(c: Copy): Promise<void> {
    const { task } = c;
    const peer = this.d.peer(c.target.address);
    for (const m of this.d.store.get(task.volumeId, task.index)?.snapshots ?? []) {
      await this.atTarget(c, peer.send({ op: DataOp.Snapshot, flags: DataFlag.Forwarded, requestId: 0, extent: this.ref(task), offset: 0, length: 0, snapshot: m.id, stamp: { epoch: m.epoch, seq: m.seq } }));
    }
  }

  /** Sends every snapshot layer's records to the member, a batch at a time, under the repair budget. */
  private async sendLayers(c: Copy): Promise<void> {
    const { task } = c;
    const peer = this.d.peer(c.target.address);
    const batch = limits.repairCopyRunBytesMax / block;
    for (const m of this.d.store.get(task.volumeId, task.index)?.snapshots ?? []) {
      for (let from: number | undefined = 0; from !== undefined; ) {
        this.checkCurrent(c);
        await this.d.budget.take([this.d.bucket], batch * block);
        const got: { records: SnapshotRecordCopy[]; next: number | undefined } = await this.d.store.snapshotRecords(task.volumeId, task.index, m.id, from, batch).catch((err: unknown) => {
          if (isBasaltError(err, ErrorCode.SnapshotNotFound)) return { records: [], next: undefined }; // deleted meanwhile
          throw err;
        });
        if (got.records.length > 0) {
          const payload = encodeSnapshotRecords(got.records);
          await this.atTarget(c, peer.send({ op: DataOp.SnapshotInstall, flags: DataFlag.Forwarded, requestId: 0, extent: this.ref(task), offset: 0, length: payload.length, snapshot: m.id, payload }));
          c.bytesCopied += got.records.length * block;
          this.copiedTotal += got.records.length * block;
          this.d.metrics.repairBytes.inc({ kind: c.kind, what: 'copied' }, got.records.length * block);
        }
        from = got.next;
      }
    }
  }

  /** Marks a failure of a call to the member as the member's. */
  private atTarget<T>(c: Copy, call: Promise<T>): Promise<T> {
    return call.catch((err: unknown) => {
      if (c.failure === undefined) c.targetFailed = true;
      throw err;
    });
  }

  private ref(task: RepairTask): ExtentRef {
    return { volumeId: task.volumeId, index: task.index, extentSizeBytes: task.extentSizeBytes, epoch: task.epoch, generation: this.d.store.generation(task.volumeId), replicas: task.members };
  }

  private async fail(c: Copy, what: string, err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    const reason = c.targetFailed && isBasaltError(err) && !this.closed ? memberFailures.get(err.code) : undefined;
    if (reason === undefined) {
      this.d.metrics.repairs.inc({ result: 'aborted' });
      this.d.log(`${what}: aborted after copying ${c.bytesCopied} bytes (${message}); metad re-plans`);
      return;
    }
    this.d.metrics.repairs.inc({ result: 'failed' });
    this.d.log(`${what}: the member failed (${message}) after ${c.bytesCopied} bytes; asking metad to drop it (${reason})`);
    try {
      await this.adopt(c.task, await this.d.link.dropReplica(c.task.volumeId, c.task.index, c.target.serverId, c.task.epoch, reason));
    } catch (dropErr) {
      this.d.log(`${what}: dropping ${c.target.serverId} failed: ${String(dropErr)}`);
    }
  }

  /** Takes a placement metad answered with, when it is newer and still names this server. */
  private async adopt(task: RepairTask, placement: ExtentPlacement): Promise<void> {
    const local = this.d.store.get(task.volumeId, task.index);
    if (local === undefined || placement.epoch <= local.epoch || !placement.replicas.some((r) => r.serverId === this.d.selfId)) return;
    await this.d.store.setMeta({ ...local, epoch: placement.epoch, replicas: placement.replicas });
  }
}

function stale(why: string): BasaltError {
  return new BasaltError(ErrorCode.StaleEpoch, why);
}
