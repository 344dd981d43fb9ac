import { describe, expect, it } from 'vitest';
import { blockOf, BlockRegisters, checkBlock, PrimaryLog, valueOf } from './checkers.js';

describe('per-block registers', () => {
  it('an acknowledged write must be read; a later one that failed may or may not be; an older one never again', () => {
    const r = new BlockRegisters();
    expect([...r.allowed('b')]).toEqual([0]);
    const w1 = r.begin('b', 1);
    r.ack(w1, 10, false);
    const w2 = r.begin('b', 2);
    r.unknown(w2);
    expect([...r.allowed('b')].sort()).toEqual([1, 2]);
    const w3 = r.begin('b', 3);
    r.ack(w3, 20, false);
    expect([...r.allowed('b')]).toEqual([3]);
    expect(r.check('b', 2, r.allowed('b'), 'test')?.kind).toBe('stale_read');
    expect(r.check('b', 9, r.allowed('b'), 'test')?.kind).toBe('lost_write');
  });

  it('after a power loss, a write acknowledged before it without FUA or FLUSH may be gone, back to the last durable one', () => {
    const r = new BlockRegisters();
    const w1 = r.begin('b', 1);
    r.ack(w1, 10, true);
    const w2 = r.begin('b', 2);
    r.ack(w2, 20, false);
    const w3 = r.begin('b', 3);
    r.ack(w3, 30, false);
    expect([...r.allowed('b')]).toEqual([3]);
    r.flushed(r.ackedOf(['b']).filter((w) => w === w2.rec));
    r.powerLoss(40);
    expect([...r.allowed('b')].sort()).toEqual([2, 3]);
    const w4 = r.begin('b', 4);
    r.ack(w4, 50, false);
    expect([...r.allowed('b')]).toEqual([4]);
  });

  it('a block of mixed contents is torn', () => {
    const r = new BlockRegisters();
    const data = blockOf(7, 4096);
    expect(valueOf(data)).toBe(7);
    data.writeUInt32BE(8, 4092);
    expect(checkBlock(r, 'b', data, new Set([7]), 'test')?.kind).toBe('torn_block');
  });
});

describe('primaries', () => {
  it('two servers acknowledging client writes of one extent in one epoch is a violation; one in each epoch is not', () => {
    const p = new PrimaryLog();
    expect(p.acked('1/0', 3, 's1')).toBeUndefined();
    expect(p.acked('1/0', 3, 's1')).toBeUndefined();
    expect(p.acked('1/0', 4, 's2')).toBeUndefined();
    expect(p.acked('1/1', 3, 's2')).toBeUndefined();
    expect(p.acked('1/0', 3, 's2')?.kind).toBe('two_primaries');
  });
});
