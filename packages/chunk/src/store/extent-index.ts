import { Level } from 'level';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { extentKey, type ReplicaMeta } from '../replica/replica-meta.js';

/**
 * The LevelDB index of a chunk server: one record per extent replica ("x/<volume>/<index>"),
 * the highest writer generation seen per volume ("g/<volume>"), and per extent the stamp seqs
 * reserved at an epoch ("q/<volume>/<index>" -> "<epoch>:<highest seq reserved>"). Every put is
 * synced.
 */
export interface SeqReservation {
  readonly epoch: number;
  readonly upTo: number;
}

export class ExtentIndex {
  private constructor(private readonly db: Level<string, string>) {}

  static async open(path: string): Promise<ExtentIndex> {
    const db = new Level<string, string>(path, { valueEncoding: 'utf8' });
    await db.open().catch((err: unknown) => {
      throw levelError(err, `cannot open the extent index at ${path}`);
    });
    return new ExtentIndex(db);
  }

  async load(): Promise<{ extents: ReplicaMeta[]; generations: Map<number, number>; seqs: Map<string, SeqReservation> }> {
    const extents: ReplicaMeta[] = [];
    const generations = new Map<number, number>();
    const seqs = new Map<string, SeqReservation>();
    for await (const [key, value] of this.db.iterator()) {
      if (key.startsWith('x/')) extents.push(JSON.parse(value) as ReplicaMeta);
      else if (key.startsWith('g/')) generations.set(Number(key.slice(2)), Number(value));
      else if (key.startsWith('q/')) {
        const [epoch, upTo] = value.split(':').map(Number);
        seqs.set(key.slice(2), { epoch: epoch!, upTo: upTo! });
      }
    }
    return { extents, generations, seqs };
  }

  async putSeqReservation(volumeId: number, index: number, r: SeqReservation): Promise<void> {
    await this.db.put(`q/${extentKey(volumeId, index)}`, `${r.epoch}:${r.upTo}`, { sync: true }).catch((err: unknown) => {
      throw levelError(err, 'cannot update the extent index');
    });
  }

  async putExtents(metas: readonly ReplicaMeta[]): Promise<void> {
    const ops = metas.map((m) => ({ type: 'put' as const, key: `x/${extentKey(m.volumeId, m.index)}`, value: JSON.stringify(m) }));
    await this.db.batch(ops, { sync: true }).catch((err: unknown) => {
      throw levelError(err, 'cannot update the extent index');
    });
  }

  async putGeneration(volumeId: number, generation: number): Promise<void> {
    await this.db.put(`g/${volumeId}`, String(generation), { sync: true }).catch((err: unknown) => {
      throw levelError(err, 'cannot update the extent index');
    });
  }

  /** Deletes the records of a volume's replicas and its generation, in one synced batch. */
  async deleteVolume(volumeId: number, indexes: readonly number[]): Promise<void> {
    const ops = [
      ...indexes.flatMap((index) => [{ type: 'del' as const, key: `x/${extentKey(volumeId, index)}` }, { type: 'del' as const, key: `q/${extentKey(volumeId, index)}` }]),
      { type: 'del' as const, key: `g/${volumeId}` },
    ];
    await this.db.batch(ops, { sync: true }).catch((err: unknown) => {
      throw levelError(err, 'cannot update the extent index');
    });
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

function levelError(err: unknown, what: string): BasaltError {
  const text = String((err as { cause?: unknown }).cause ?? err);
  const code = /no space|ENOSPC/i.test(text) ? ErrorCode.NoSpace : ErrorCode.Io;
  return new BasaltError(code, `${what}: ${text}`, {}, { cause: err });
}
