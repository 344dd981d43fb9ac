import { crc32c } from '@node-rs/crc32';
import { ErrorCode, isBasaltError, limits, type Clock } from '@basalt/stdx';
import { compareStamps, DataOp, firstBadPiece, type DataRequest, type ExtentRef, type Stamp, type StampsOutcome } from '@basalt/wire';
import { extentKey, type ReplicaMeta } from '../replica/replica-meta.js';
import type { ExtentStore } from '../store/extent-store.js';
import type { ScrubFacts } from '../server/meta-link.js';
import type { ChunkMetrics } from '../server/metrics.js';
import type { Peer } from '../server/peer.js';
import { judgeMembers, type MemberBlocks } from './scrub-plan.js';
import type { RepairBudget } from './repair-budget.js';
import { ScrubSchedule } from './scrub-schedule.js';
import type { TokenBucket } from '@basalt/stdx';

/**
 * The scrubber: re-reads every extent replica this server holds, a piece
 * (limits.scrubReadBytes) at a time, paced by its own rate and the repair budget
 * (repair-budget.ts), on the schedule of scrub-schedule.ts.
 *
 * - Every replica: STAMPS with verify on the local store. A block whose data matches no stored
 *   CRC is fetched from a member whose copy verifies (STAMPS with verify and READ of that block,
 *   which must agree on the CRC) with a stamp at least as new as the local one, and rewritten
 *   locally with that stamp (repairBlocks). The rewrite happens only if no mutation of the
 *   extent arrived since the local check (the extent's version is unchanged): a foreground
 *   write always wins over a scrub repair.
 * - Extents this server leads: the members' (stamp, CRC, verifies) lists for the same piece,
 *   asked through the replicator's ordered connections in the same turn as the local list (so
 *   every member answers at the same point of the write stream), are judged by judgeMembers():
 *   the copy with the highest stamp that verifies is right. A member that verifies with an
 *   older stamp gets the block by COPY (applied only because it is newer); a local block is
 *   repaired as above; a member's block that fails its CRC is left to that member's own pass.
 *
 * - Snapshot layers (docs/snapshots.md), after the extent's blocks: every record is re-read; one
 *   whose data fails its CRC (the record's header has its own CRC) is fetched from a member by
 *   SNAPSHOT_READ of that block as of the snapshot, which must match the record's CRC, and
 *   installed over it (a record never changes, so no write can race the repair).
 *
 * Blocks with no good copy are counted as unrepairable and logged; reads of them keep failing
 * with BASALT_CHECKSUM on that replica.
 */
export interface ScrubberDeps {
  readonly selfId: string;
  readonly store: ExtentStore;
  readonly peer: (address: string) => Peer;
  readonly budget: RepairBudget;
  /** The scrub rate bucket and the server's repair bucket: each piece waits for both. */
  readonly buckets: readonly TokenBucket[];
  readonly metrics: ChunkMetrics;
  /** Monotonic time for the schedule. */
  readonly clock: Clock;
  /** Wall time (ms since the Unix epoch) for the facts reported to metad. */
  readonly wallMs: () => number;
  readonly intervalMs: number;
  readonly log: (line: string) => void;
}

const block = limits.checksumBlockBytes;

export class Scrubber {
  private readonly schedule: ScrubSchedule;
  private loop$: Promise<void> | undefined;
  private stopped = false;
  private lastPassWallMs = 0;
  /** Blocks repaired (locally or on a member) since start. */
  repairedBlocks = 0;
  /** Blocks found with no good copy since start. */
  unrepairableBlocks = 0;

  constructor(private readonly d: ScrubberDeps) {
    this.schedule = new ScrubSchedule(d.intervalMs, d.clock.nowMs() + Math.min(d.intervalMs, limits.scrubFirstPassDelayMsMax));
  }

  start(): void {
    this.loop$ ??= this.loop();
  }

  /** Ends the loop after the piece it is on (the budget's close ends its waits, and the loop with them). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop$;
  }

  facts(): ScrubFacts {
    return { lastPassMs: this.lastPassWallMs, repairedBlocks: this.repairedBlocks };
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const passes = this.schedule.passes;
      const held = this.d.store.list().filter((m) => m.state === 'active').map((m) => extentKey(m.volumeId, m.index));
      const step = this.schedule.next(this.d.clock.nowMs(), held);
      if (this.schedule.passes !== passes) this.passFinished();
      try {
        if (step.kind === 'wait') await this.d.budget.sleep(step.untilMs - this.d.clock.nowMs());
        else await this.scrubExtent(step.key);
      } catch (err) {
        // A closed budget (the server is closing) ends the loop: retrying would only meet it again,
        // without ever yielding to the event loop.
        if (this.stopped || isBasaltError(err, ErrorCode.Closed)) return;
        this.d.log(`scrub of ${step.kind === 'scrub' ? `extent ${step.key}` : 'the schedule'} failed: ${String(err)}`);
      }
    }
  }

  private passFinished(): void {
    this.lastPassWallMs = this.d.wallMs();
    this.d.metrics.scrubPasses.inc();
    this.d.metrics.scrubLastPass.set(this.lastPassWallMs / 1000);
    this.d.log(`scrub pass ${this.schedule.passes} finished: ${this.repairedBlocks} blocks repaired, ${this.unrepairableBlocks} unrepairable since start`);
  }

  private async scrubExtent(key: string): Promise<void> {
    const [volumeId, index] = key.split('/').map(Number) as [number, number];
    let compare = true;
    for (let offset = 0; ; offset += limits.scrubReadBytes) {
      const before = this.d.store.get(volumeId, index);
      if (!this.stopped && before !== undefined && offset >= before.extentSizeBytes) await this.scrubLayers(before);
      if (this.stopped || before === undefined || offset >= before.extentSizeBytes) return;
      await this.d.budget.take(this.d.buckets, Math.min(limits.scrubReadBytes, before.extentSizeBytes - offset));
      const meta = this.d.store.get(volumeId, index);
      if (this.stopped || meta === undefined || meta.state !== 'active') return;
      if (meta.replicas.find((r) => r.serverId === this.d.selfId)?.rebuilding === true) return; // its copy is still arriving
      const length = Math.min(limits.scrubReadBytes, meta.extentSizeBytes - offset);
      const others = meta.replicas.slice(1).filter((r) => r.rebuilding !== true);
      if (compare && meta.replicas[0]?.serverId === this.d.selfId && others.length > 0) {
        compare = await this.compareMembers(meta, offset, length).then(
          () => true,
          (err: unknown) => {
            this.d.log(`scrub: comparing the members of extent ${key} failed (${String(err)}); checking the local copy only`);
            return false;
          },
        );
        if (compare) continue;
      }
      await this.checkLocal(meta, offset, length);
    }
  }

  private async checkLocal(meta: ReplicaMeta, offset: number, length: number): Promise<void> {
    const version = meta.version;
    const mine = await this.d.store.stamps(meta.volumeId, meta.index, offset, length, true);
    this.d.metrics.scrubBytes.inc(length);
    for (const b of mine.bad) {
      const i = b - offset / block;
      await this.repairLocal(meta, b, { epoch: mine.epochs[i]!, seq: mine.seqs[i]! }, version);
    }
  }

  /** All members' lists of one piece, judged; the repairs the judgement calls for. */
  private async compareMembers(meta: ReplicaMeta, offset: number, length: number): Promise<void> {
    const members = meta.replicas.filter((r) => r.rebuilding !== true);
    const ref = this.ref(meta);
    const version = meta.version;
    // One turn: the member requests queue behind every write forwarded before them, the local call behind every local apply.
    const remote = members.slice(1).map((m) => this.d.peer(m.address).stamps(ref, offset, length, { verify: true, forwarded: true }));
    const local = this.d.store.stamps(meta.volumeId, meta.index, offset, length, true);
    const lists = await Promise.all([local, ...remote]);
    this.d.metrics.scrubBytes.inc(length);
    const findings = judgeMembers(lists.map((l) => memberBlocks(l, offset)));
    for (const u of findings.unrepairable) this.unrepairable(meta, offset / block + u, 'no member holds a copy that verifies, or two disagree at one stamp');
    for (const r of findings.repairs) {
      const blockNo = offset / block + r.block;
      const source = lists[r.source]!;
      const good = { epoch: source.epochs[r.block]!, seq: source.seqs[r.block]! };
      for (const t of r.targets) {
        if (t === 0) {
          const mine = lists[0];
          const local = { epoch: mine.epochs[r.block]!, seq: mine.seqs[r.block]! };
          await this.repairLocal(meta, blockNo, compareStamps(local.epoch, local.seq, good.epoch, good.seq) > 0 ? local : good, version);
        } else if (lists[t]!.bad.includes(blockNo)) {
          continue; // that member's own pass rewrites it from a good copy
        } else if (r.source === 0) {
          await this.copyToMember(meta, members[t]!.address, blockNo, good);
        }
      }
    }
  }

  /** Sends the local block to a member whose copy is older (COPY applies it only as newer). */
  private async copyToMember(meta: ReplicaMeta, address: string, blockNo: number, good: Stamp): Promise<void> {
    try {
      const got = await this.d.store.readForCopy(meta.volumeId, meta.index, blockNo * block, block);
      if (compareStamps(got.epochs[0]!, got.seqs[0]!, good.epoch, good.seq) !== 0) return; // rewritten since: the write reached the member too
      const res = await this.d.peer(address).copy(this.ref(meta), blockNo * block, got.data, got.crcs, got, 0);
      if (res.applied > 0) this.repaired(meta, blockNo, `copied to ${address} (its copy was older)`);
    } catch (err) {
      this.d.log(`scrub: copying block ${blockNo} of extent ${meta.volumeId}/${meta.index} to ${address} failed: ${String(err)}`);
    }
  }

  /**
   * Rewrites a local block (bad, or older than a member's) from a member whose copy verifies
   * with a stamp at least `atLeast`, if no mutation of the extent arrived since `version`.
   */
  private async repairLocal(meta: ReplicaMeta, blockNo: number, atLeast: Stamp, version: number): Promise<void> {
    const ref = this.ref(meta);
    for (const m of meta.replicas) {
      if (m.serverId === this.d.selfId || m.rebuilding === true) continue;
      const peer = this.d.peer(m.address);
      let theirs: StampsOutcome;
      let data: Buffer;
      try {
        const read: DataRequest = { op: DataOp.Read, flags: 0, requestId: 0, extent: ref, offset: blockNo * block, length: block };
        const [s, r] = await Promise.all([peer.stamps(ref, blockNo * block, block, { verify: true }), peer.send(read)]);
        theirs = s;
        data = r.payload;
        // Bad there too, or rewritten between the two requests (the CRCs differ), or damaged on the way.
        if (theirs.bad.length > 0 || r.crcs[0] !== theirs.crcs[0] || firstBadPiece(read.offset, data, r.crcs) >= 0) continue;
      } catch (err) {
        this.d.log(`scrub: ${m.serverId} could not give block ${blockNo} of extent ${meta.volumeId}/${meta.index}: ${String(err)}`);
        continue;
      }
      if (compareStamps(theirs.epochs[0]!, theirs.seqs[0]!, atLeast.epoch, atLeast.seq) < 0) continue; // older than what this server lost
      if (this.d.store.get(meta.volumeId, meta.index)?.version !== version) return; // a write arrived: the next pass looks again
      await this.d.store.repairBlocks(meta.volumeId, meta.index, blockNo * block, data, theirs.crcs, theirs);
      this.repaired(meta, blockNo, `rewritten from ${m.serverId}`);
      return;
    }
    this.unrepairable(meta, blockNo, 'no other member holds a copy that verifies and is as new');
  }

  /** Checks every snapshot layer of the replica; repairs bad records from a member. */
  private async scrubLayers(meta: ReplicaMeta): Promise<void> {
    for (const mark of meta.snapshots ?? []) {
      if (this.stopped) return;
      const { bad, bytes } = await this.d.store.verifySnapshotLayer(meta.volumeId, meta.index, mark.id);
      if (bytes > 0) await this.d.budget.take(this.d.buckets, bytes);
      for (const r of bad) await this.repairRecord(meta, mark.id, r);
    }
  }

  private async repairRecord(meta: ReplicaMeta, id: number, r: { block: number; crc: number; epoch: number; seq: number }): Promise<void> {
    const now = this.d.store.get(meta.volumeId, meta.index) ?? meta;
    const ref = this.ref(now);
    for (const m of now.replicas) {
      if (m.serverId === this.d.selfId || m.rebuilding === true) continue;
      try {
        const read: DataRequest = { op: DataOp.SnapshotRead, flags: 0, requestId: 0, extent: ref, offset: r.block * block, length: block, snapshot: id };
        const got = await this.d.peer(m.address).send(read);
        if (got.payload.length !== block || crc32c(got.payload) !== r.crc) continue;
        await this.d.store.installSnapshotRecords(meta.volumeId, meta.index, id, [{ ...r, data: got.payload }]);
        this.repaired(meta, r.block, `of snapshot ${id}'s layer rewritten from ${m.serverId}`);
        return;
      } catch (err) {
        this.d.log(`scrub: ${m.serverId} could not give block ${r.block} of snapshot ${id} of extent ${meta.volumeId}/${meta.index}: ${String(err)}`);
      }
    }
    this.unrepairable(meta, r.block, `snapshot ${id}'s copy is bad and no member holds one that matches its checksum`);
  }

  private repaired(meta: ReplicaMeta, blockNo: number, how: string): void {
    this.repairedBlocks++;
    this.d.metrics.scrubBlocks.inc({ result: 'repaired' });
    this.d.log(`scrub: block ${blockNo} of extent ${meta.volumeId}/${meta.index} ${how}`);
  }

  private unrepairable(meta: ReplicaMeta, blockNo: number, why: string): void {
    this.unrepairableBlocks++;
    this.d.metrics.scrubBlocks.inc({ result: 'unrepairable' });
    this.d.log(`scrub: block ${blockNo} of extent ${meta.volumeId}/${meta.index} is bad and unrepairable here: ${why}`);
  }

  private ref(meta: ReplicaMeta): ExtentRef {
    return { volumeId: meta.volumeId, index: meta.index, extentSizeBytes: meta.extentSizeBytes, epoch: meta.epoch, generation: 0, replicas: meta.replicas };
  }
}

/** A STAMPS answer for the piece at offset as judgeMembers reads it (bad: extent block numbers -> flags). */
function memberBlocks(s: StampsOutcome, offset: number): MemberBlocks {
  const bad = new Uint8Array(s.epochs.length);
  for (const b of s.bad) bad[b - offset / block] = 1;
  return { epochs: s.epochs, seqs: s.seqs, crcs: s.crcs, bad };
}
