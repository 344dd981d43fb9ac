import { describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { ReadBatcher } from './read-batcher.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ReadBatcher', () => {
  it('gives reads of one event-loop turn one round, and a later read a new round', async () => {
    const rounds: Uint8Array[] = [];
    const b = new ReadBatcher<{ v: number }>((ctx) => void rounds.push(ctx));
    const first = [b.read((s) => s.v, Infinity), b.read((s) => s.v * 2, Infinity)];
    await turn();
    const later = b.read((s) => s.v * 3, Infinity);
    await turn();
    expect(rounds).toHaveLength(2);
    b.onReadState(rounds[0]!, 5);
    b.onReadState(rounds[1]!, 6);
    b.serve(5, { v: 1 });
    expect(await Promise.all(first)).toEqual([1, 2]);
    b.serve(6, { v: 10 });
    expect(await later).toBe(30);
  });

  it('waits until the read index is applied', async () => {
    let ctx: Uint8Array | undefined;
    const b = new ReadBatcher<number>((c) => void (ctx = c));
    let done = false;
    const p = b.read((s) => s, Infinity).then((v) => ((done = true), v));
    await turn();
    b.onReadState(ctx!, 8);
    b.serve(7, 70);
    await turn();
    expect(done).toBe(false);
    b.serve(8, 80);
    expect(await p).toBe(80);
  });

  it('fails reads at once when no round can start, and rounds in flight when leadership is lost', async () => {
    const notLeader = new BasaltError(ErrorCode.NotLeader, 'not the leader');
    const refusing = new ReadBatcher<number>(() => notLeader);
    await expect(refusing.read((s) => s, Infinity)).rejects.toBe(notLeader);
    const b = new ReadBatcher<number>(() => undefined);
    const p = b.read((s) => s, Infinity);
    await turn();
    b.abortRounds(notLeader);
    await expect(p).rejects.toBe(notLeader);
  });

  it('times out a round that is never confirmed', async () => {
    const b = new ReadBatcher<number>(() => undefined);
    const p = b.read((s) => s, 100);
    await turn();
    b.expire(50);
    b.expire(150);
    await expect(p).rejects.toMatchObject({ code: ErrorCode.Timeout });
  });
});
