import { describe, expect, it } from 'vitest';
import { ErrorCode, MiB } from '@basalt/stdx';
import { DataFlag, DataOp, type DataRequest, type ReplicaRef } from '@basalt/wire';
import { admit, forwardedByPrimary } from './admission.js';
import type { ReplicaMeta } from './replica-meta.js';

const r = (id: string): ReplicaRef => ({ serverId: id, address: `${id}:1` });
const abc = [r('a'), r('b'), r('c')];

function req(op: DataRequest['op'], epoch: number, replicas: ReplicaRef[], o: { flags?: number; generation?: number } = {}): DataRequest {
  return { op, flags: o.flags ?? 0, requestId: 1, extent: { volumeId: 1, index: 0, extentSizeBytes: MiB, epoch, generation: o.generation ?? 3, replicas }, offset: 0, length: op === DataOp.Flush ? 0 : 4096 };
}

function meta(epoch: number, replicas: ReplicaRef[], state: ReplicaMeta['state'] = 'active'): ReplicaMeta {
  return { volumeId: 1, index: 0, extentSizeBytes: MiB, epoch, replicas, version: 7, state };
}

describe('admission of data-plane requests', () => {
  it('lets the primary take a client write and adopt the first epoch it sees', () => {
    expect(admit('a', undefined, req(DataOp.Write, 1, abc), 0)).toMatchObject({ kind: 'accept', role: 'primary', adopt: { epoch: 1, replicas: abc, version: 0 } });
  });

  it('refuses an epoch older than the one stored', () => {
    expect(admit('a', meta(4, abc), req(DataOp.Read, 3, abc), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.StaleEpoch });
  });

  it('adopts a newer epoch that still lists this server, keeping the version', () => {
    const ab = [r('a'), r('b')];
    expect(admit('b', meta(1, abc), req(DataOp.Write, 2, ab, { flags: DataFlag.Forwarded }), 0)).toMatchObject({ kind: 'accept', role: 'secondary', adopt: { epoch: 2, replicas: ab, version: 7 } });
  });

  it('fences a replica when a newer epoch leaves it out, and refuses it forever after', () => {
    const verdict = admit('c', meta(1, abc), req(DataOp.Read, 2, [r('a'), r('b')]), 0);
    expect(verdict).toMatchObject({ kind: 'refuse', code: ErrorCode.StaleEpoch, fence: { epoch: 2, state: 'fenced', replicas: [] } });
    const fenced = verdict.kind === 'refuse' ? verdict.fence! : meta(0, []);
    expect(admit('c', fenced, req(DataOp.Read, 2, abc), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.StaleEpoch });
    expect(admit('c', fenced, req(DataOp.Read, 3, abc), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.StaleEpoch });
  });

  it('sends client mutations to the primary only, and forwarded ones to secondaries only', () => {
    expect(admit('b', meta(1, abc), req(DataOp.Write, 1, abc), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.NotPrimary });
    expect(admit('b', meta(1, abc), req(DataOp.Flush, 1, abc), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.NotPrimary });
    expect(admit('a', meta(1, abc), req(DataOp.Write, 1, abc, { flags: DataFlag.Forwarded }), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.Protocol });
    expect(admit('b', meta(1, abc), req(DataOp.Read, 1, abc), 0)).toMatchObject({ kind: 'accept', role: 'secondary' });
  });

  it('refuses a different set at the same epoch, and a mutation from an older writer generation', () => {
    expect(admit('a', meta(1, abc), req(DataOp.Read, 1, [r('a'), r('c'), r('b')]), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.Protocol });
    expect(admit('a', meta(1, abc), req(DataOp.Write, 1, abc, { generation: 2 }), 3)).toMatchObject({ kind: 'refuse', code: ErrorCode.LeaseFenced });
    expect(admit('a', meta(1, abc), req(DataOp.Read, 1, abc, { generation: 0 }), 3)).toMatchObject({ kind: 'accept' });
  });

  it('lets a rebuilding member take forwarded mutations, flushes, COPY and STAMPS, and refuses its client reads as rebuilding', () => {
    const set = [r('a'), r('b'), { ...r('c'), rebuilding: true }];
    const local = meta(2, set);
    expect(admit('c', local, req(DataOp.Write, 2, set, { flags: DataFlag.Forwarded }), 0)).toMatchObject({ kind: 'accept', role: 'rebuilding' });
    expect(admit('c', local, req(DataOp.Flush, 2, set, { flags: DataFlag.Forwarded }), 0)).toMatchObject({ kind: 'accept', role: 'rebuilding' });
    expect(admit('c', local, req(DataOp.Copy, 2, set, { flags: DataFlag.Forwarded }), 0)).toMatchObject({ kind: 'accept', role: 'rebuilding' });
    expect(admit('c', local, req(DataOp.Stamps, 2, set), 0)).toMatchObject({ kind: 'accept', role: 'rebuilding' });
    const read = admit('c', local, req(DataOp.Read, 2, set), 0);
    expect(read).toMatchObject({ kind: 'refuse', code: ErrorCode.Unavailable });
    expect(read.kind === 'refuse' && read.message).toMatch(/rebuilding/);
    expect(admit('c', local, req(DataOp.Write, 2, set), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.NotPrimary });
    expect(admit('b', meta(2, set), req(DataOp.Read, 2, set), 0)).toMatchObject({ kind: 'accept', role: 'secondary' });
  });

  it('takes COPY only from the current primary: never on the primary itself, never at an older epoch', () => {
    const set = [r('a'), { ...r('b'), rebuilding: true }];
    expect(admit('a', meta(3, set), req(DataOp.Copy, 3, set, { flags: DataFlag.Forwarded }), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.Protocol });
    expect(admit('b', meta(3, set), req(DataOp.Copy, 2, [r('c'), { ...r('b'), rebuilding: true }], { flags: DataFlag.Forwarded }), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.StaleEpoch });
    // A COPY from an old primary at the same epoch names another set: refused.
    expect(admit('b', meta(3, set), req(DataOp.Copy, 3, [r('c'), { ...r('b'), rebuilding: true }], { flags: DataFlag.Forwarded }), 0)).toMatchObject({ kind: 'refuse' });
    // A COPY ignores the writer's lease generation: it is the primary's, not a client's.
    expect(admit('b', meta(3, set), req(DataOp.Copy, 3, set, { flags: DataFlag.Forwarded, generation: 0 }), 5)).toMatchObject({ kind: 'accept' });
  });

  it('lets a fenced replica rejoin when a newer epoch lists it as rebuilding, keeping its data, and not otherwise', () => {
    const fenced: ReplicaMeta = { ...meta(2, []), state: 'fenced' };
    const back = [r('a'), r('b'), { ...r('c'), rebuilding: true }];
    expect(admit('c', fenced, req(DataOp.Write, 3, back, { flags: DataFlag.Forwarded }), 0)).toMatchObject({ kind: 'accept', role: 'rebuilding', adopt: { epoch: 3, replicas: back, state: 'active', version: 7 } });
    expect(admit('c', fenced, req(DataOp.Write, 3, abc, { flags: DataFlag.Forwarded }), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.StaleEpoch });
    expect(admit('c', fenced, req(DataOp.Write, 2, back, { flags: DataFlag.Forwarded }), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.StaleEpoch });
  });

  it('refuses a set whose primary is flagged rebuilding', () => {
    const set = [{ ...r('a'), rebuilding: true }, r('b')];
    expect(admit('b', undefined, req(DataOp.Read, 1, set), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.Protocol });
  });

  it('refuses a request naming another extent size than the stored one', () => {
    const big = { ...req(DataOp.Read, 1, abc), extent: { ...req(DataOp.Read, 1, abc).extent, extentSizeBytes: 2 * MiB } };
    expect(admit('a', meta(1, abc), big, 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.InvalidArgument });
  });

  describe('a LOCAL flush (the SDK flushes every member itself)', () => {
    const set = [r('a'), r('b'), { ...r('c'), rebuilding: true }];
    const local = (epoch: number, replicas: ReplicaRef[], flags: number = DataFlag.Local): DataRequest => req(DataOp.Flush, epoch, replicas, { flags });

    it('is taken by every member of the set at its epoch: primary, secondary and rebuilding', () => {
      expect(admit('a', meta(2, set), local(2, set), 0)).toEqual({ kind: 'accept', role: 'primary' });
      expect(admit('b', meta(2, set), local(2, set), 0)).toEqual({ kind: 'accept', role: 'secondary' });
      expect(admit('c', meta(2, set), local(2, set), 0)).toEqual({ kind: 'accept', role: 'rebuilding' });
    });

    it('is never forwarded by the primary, while a plain FLUSH, writes and SNAPSHOT_DELETE are', () => {
      expect(forwardedByPrimary(local(2, set))).toBe(false);
      expect(forwardedByPrimary(req(DataOp.Flush, 2, set))).toBe(true);
      expect(forwardedByPrimary(req(DataOp.Write, 2, set))).toBe(true);
      expect(forwardedByPrimary(req(DataOp.SnapshotDelete, 2, set))).toBe(true);
      expect(forwardedByPrimary(req(DataOp.Read, 2, set))).toBe(false);
    });

    it('adopts a newer epoch that lists the member, as any request does', () => {
      expect(admit('b', meta(1, abc), local(2, set), 0)).toMatchObject({ kind: 'accept', role: 'secondary', adopt: { epoch: 2, replicas: set } });
    });

    it('is refused at a stale epoch, on every role', () => {
      for (const id of ['a', 'b', 'c']) expect(admit(id, meta(3, set), local(2, set), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.StaleEpoch });
    });

    it('is refused, and fences, on a server a newer epoch left out', () => {
      expect(admit('c', meta(2, set), local(3, [r('a'), r('b')]), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.StaleEpoch, fence: { epoch: 3, state: 'fenced' } });
      expect(admit('c', meta(3, [r('a'), r('b')], 'fenced'), local(3, set), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.StaleEpoch });
    });

    it('is refused with another set at the same epoch', () => {
      expect(admit('b', meta(2, set), local(2, [r('a'), r('b')]), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.Protocol });
    });

    it('is a protocol error with FORWARDED, on every role', () => {
      for (const id of ['a', 'b', 'c']) expect(admit(id, meta(2, set), local(2, set, DataFlag.Local | DataFlag.Forwarded), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.Protocol });
    });

    it('is a protocol error on any other op (a write on one replica only would leave the set diverged)', () => {
      for (const op of [DataOp.Write, DataOp.Trim, DataOp.WriteZeroes, DataOp.Read, DataOp.Stamps]) {
        expect(admit('a', meta(2, set), req(op, 2, set, { flags: DataFlag.Local }), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.Protocol });
      }
    });

    it('leaves a plain FLUSH to the primary (older clients keep working)', () => {
      expect(admit('a', meta(2, set), req(DataOp.Flush, 2, set), 0)).toEqual({ kind: 'accept', role: 'primary' });
      expect(admit('b', meta(2, set), req(DataOp.Flush, 2, set), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.NotPrimary });
      expect(admit('c', meta(2, set), req(DataOp.Flush, 2, set), 0)).toMatchObject({ kind: 'refuse', code: ErrorCode.NotPrimary });
    });
  });
});
