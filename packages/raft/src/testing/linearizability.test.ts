import { Prng } from '@basalt/stdx';
import { describe, expect, it } from 'vitest';
import { kvModel, type KvInput, type KvOutput, type KvState } from './kv-model.js';
import { KvStateMachine } from './kv-state-machine.js';
import { checkLinearizability, type Model, type Operation } from './linearizability.js';

type Op = Operation<KvInput, KvOutput>;

const read = (clientId: number, key: string, value: string | null, callTime: number, returnTime?: number): Op => ({
  clientId, callTime, returnTime, input: { kind: 'read', key }, output: { kind: 'read', value },
});
const write = (clientId: number, key: string, value: string, callTime: number, returnTime?: number): Op => ({
  clientId, callTime, returnTime, input: { kind: 'write', key, value }, output: { kind: 'write' },
});
const cas = (clientId: number, key: string, expected: string | null, value: string, ok: boolean, callTime: number, returnTime?: number): Op => ({
  clientId, callTime, returnTime, input: { kind: 'cas', key, expected, value }, output: { kind: 'cas', ok },
});

const check = (history: Op[]): string => checkLinearizability(kvModel, history).outcome;

describe('linearizability checker: histories that are linearizable', () => {
  it('accepts an empty history and sequential reads of written values', () => {
    expect(check([])).toBe('ok');
    expect(check([read(1, 'x', null, 0, 1), write(1, 'x', 'a', 2, 3), read(2, 'x', 'a', 4, 5)])).toBe('ok');
  });

  it('accepts a read concurrent with a write returning either the old or the new value', () => {
    expect(check([write(1, 'x', 'a', 0, 1), write(1, 'x', 'b', 2, 10), read(2, 'x', 'a', 3, 4)])).toBe('ok');
    expect(check([write(1, 'x', 'a', 0, 1), write(1, 'x', 'b', 2, 10), read(2, 'x', 'b', 3, 4)])).toBe('ok');
  });

  it('accepts overlapping writes read back in either order', () => {
    const writes = [write(1, 'x', 'a', 0, 10), write(2, 'x', 'b', 1, 9)];
    expect(check([...writes, read(3, 'x', 'a', 11, 12)])).toBe('ok');
    expect(check([...writes, read(3, 'x', 'b', 11, 12)])).toBe('ok');
  });

  it('treats touching intervals as concurrent', () => {
    expect(check([write(1, 'x', 'a', 0, 5), read(2, 'x', null, 5, 6)])).toBe('ok');
  });

  it('accepts compare-and-set chains that succeed and fail as the register says', () => {
    expect(check([
      cas(1, 'x', null, 'a', true, 0, 1),
      cas(2, 'x', null, 'b', false, 2, 3),
      cas(1, 'x', 'a', 'c', true, 4, 5),
      read(2, 'x', 'c', 6, 7),
    ])).toBe('ok');
  });

  it('accepts a write of unknown outcome that is seen, and one that is never seen', () => {
    expect(check([write(1, 'x', 'a', 0), read(2, 'x', 'a', 5, 6), read(2, 'x', 'a', 7, 8)])).toBe('ok');
    expect(check([write(1, 'x', 'a', 0), read(2, 'x', null, 5, 6), read(2, 'x', null, 7, 8)])).toBe('ok');
  });

  it('lets a write of unknown outcome take effect long after its call', () => {
    expect(check([write(1, 'x', 'a', 0), read(2, 'x', null, 100, 101), read(2, 'x', 'a', 200, 201)])).toBe('ok');
  });

  it('accepts a cas of unknown outcome that explains a later read', () => {
    expect(check([write(1, 'x', 'a', 0, 1), cas(2, 'x', 'a', 'b', true, 2), read(3, 'x', 'b', 10, 11)])).toBe('ok');
    expect(check([write(1, 'x', 'a', 0, 1), cas(2, 'x', 'a', 'b', true, 2), read(3, 'x', 'a', 10, 11)])).toBe('ok');
  });

  it('checks keys independently', () => {
    expect(check([write(1, 'x', 'a', 0, 10), write(2, 'y', 'b', 0, 10), read(1, 'x', 'a', 11, 12), read(2, 'y', 'b', 11, 12)])).toBe('ok');
  });
});

describe('linearizability checker: histories that must be rejected', () => {
  it('rejects a stale read after a completed write', () => {
    const result = checkLinearizability(kvModel, [write(1, 'x', 'a', 0, 1), write(1, 'x', 'b', 2, 3), read(2, 'x', 'a', 4, 5)]);
    expect(result.outcome).toBe('illegal');
    expect(result.partitions[0]?.explanation).toContain('read(x) -> a');
  });

  it('rejects a lost write', () => {
    expect(check([write(1, 'x', 'a', 0, 1), read(2, 'x', null, 2, 3)])).toBe('illegal');
  });

  it('rejects a read of a value never written', () => {
    expect(check([write(1, 'x', 'a', 0, 1), read(2, 'x', 'z', 0, 3)])).toBe('illegal');
  });

  it('rejects a read that goes back in time (new value, then old value)', () => {
    expect(check([
      write(1, 'x', 'a', 0, 1),
      write(1, 'x', 'b', 2, 20),
      read(2, 'x', 'b', 3, 4),
      read(3, 'x', 'a', 5, 6),
    ])).toBe('illegal');
  });

  it('rejects two compare-and-sets that both succeed from the same value', () => {
    expect(check([
      write(1, 'x', 'a', 0, 1),
      cas(2, 'x', 'a', 'b', true, 2, 10),
      cas(3, 'x', 'a', 'c', true, 2, 10),
    ])).toBe('illegal');
  });

  it('rejects a failed compare-and-set whose expected value was certainly there', () => {
    expect(check([write(1, 'x', 'a', 0, 1), cas(2, 'x', 'a', 'b', false, 2, 3)])).toBe('illegal');
  });

  it('rejects a successful compare-and-set whose expected value was never there', () => {
    expect(check([write(1, 'x', 'a', 0, 1), cas(2, 'x', 'q', 'b', true, 2, 3)])).toBe('illegal');
  });

  it('rejects a read whose only explanation is a cas of unknown outcome that could not succeed', () => {
    expect(check([write(1, 'x', 'a', 0, 1), cas(2, 'x', 'z', 'b', true, 2), read(3, 'x', 'b', 10, 11)])).toBe('illegal');
  });

  it('rejects a history an unknown write cannot fix: it cannot take effect before its call', () => {
    expect(check([read(1, 'x', 'a', 0, 1), write(2, 'x', 'a', 5)])).toBe('illegal');
  });

  it('rejects a value that appears, vanishes and reappears with one unknown write', () => {
    expect(check([write(1, 'x', 'a', 0), read(2, 'x', 'a', 2, 3), read(2, 'x', null, 4, 5)])).toBe('illegal');
  });

  it('reports the illegal key while other keys are fine', () => {
    const result = checkLinearizability(kvModel, [write(1, 'x', 'a', 0, 1), write(1, 'y', 'a', 0, 1), read(2, 'y', null, 2, 3)]);
    expect(result.outcome).toBe('illegal');
    expect(result.partitions.map((p) => [p.partition, p.outcome])).toEqual([['x', 'ok'], ['y', 'illegal']]);
  });
});

describe('linearizability checker: bounds', () => {
  it('answers unknown, never ok, when the step budget runs out', () => {
    const history: Op[] = [];
    for (let c = 0; c < 12; c++) history.push(write(c, 'x', `v${c}`, 0, 100));
    history.push(read(99, 'x', 'v0', 101, 102));
    expect(checkLinearizability(kvModel, history, { maxStepsPerPartition: 5 }).outcome).toBe('unknown');
    expect(checkLinearizability(kvModel, history).outcome).toBe('ok');
  });

  it('checks a long sequential history in few steps', () => {
    const history: Op[] = [];
    for (let i = 0; i < 2000; i++) history.push(i % 2 === 0 ? write(1, 'x', `v${i}`, 2 * i, 2 * i + 1) : read(2, 'x', `v${i - 1}`, 2 * i, 2 * i + 1));
    const result = checkLinearizability(kvModel, history, { maxStepsPerPartition: 10_000 });
    expect(result.outcome).toBe('ok');
  });

  it('refuses an operation that returns before its call', () => {
    expect(() => checkLinearizability(kvModel, [read(1, 'x', null, 5, 4)])).toThrow(/returns \(4\) before its call \(5\)/);
  });
});

/** Tries every order of every subset that contains all ops of known outcome, respecting real time. */
function bruteForceOnList<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[]): boolean {
  const done = new Array<boolean>(history.length).fill(false);
  const blocked = (i: number): boolean =>
    history.some((other, j) => !done[j] && j !== i && other.returnTime !== undefined && other.returnTime < history[i]!.callTime);
  const search = (state: S): boolean => {
    if (history.every((op, i) => done[i] === true || op.returnTime === undefined)) return true;
    return history.some((op, i) => {
      if (done[i] === true || blocked(i)) return false;
      done[i] = true;
      const found = model.step(state, op.input, op.returnTime === undefined ? undefined : op.output).some((next) => search(next));
      done[i] = false;
      return found;
    });
  };
  return search(model.init());
}

/** A random small history: a true execution at random linearization points, sometimes perturbed. */
function randomHistory(prng: Prng): Op[] {
  const clients = prng.int(1, 3);
  const keys = prng.chance(0.3) ? ['x', 'y'] : ['x'];
  const values = ['a', 'b', 'c'];
  const registers = new KvStateMachine();
  const planned: { op: Op; at: number }[] = [];
  for (let c = 0; c < clients; c++) {
    let t = prng.int(0, 3);
    const count = prng.int(1, 3);
    for (let k = 0; k < count; k++) {
      const callTime = t;
      const returnTime = callTime + prng.int(0, 6);
      const at = callTime + prng.float() * (returnTime - callTime);
      const key = prng.pick(keys);
      const roll = prng.int(0, 2);
      const input: KvInput = roll === 0 ? { kind: 'read', key } : roll === 1 ? { kind: 'write', key, value: prng.pick(values) }
        : { kind: 'cas', key, expected: prng.chance(0.3) ? null : prng.pick(values), value: prng.pick(values) };
      const unknown = prng.chance(0.15);
      planned.push({ op: { clientId: c, input, callTime, ...(unknown ? {} : { returnTime }) }, at: unknown && prng.chance(0.5) ? Infinity : at });
      if (unknown) break;
      t = returnTime + prng.int(1, 3);
    }
  }
  planned.sort((a, b) => a.at - b.at);
  return planned.map(({ op, at }) => {
    const output = at === Infinity ? undefined : registers.apply(op.input);
    const real = output === undefined ? op : { ...op, output };
    return prng.chance(0.15) ? perturb(prng, real) : real;
  });
}

function perturb(prng: Prng, op: Op): Op {
  if (op.output?.kind === 'read') return { ...op, output: { kind: 'read', value: prng.chance(0.3) ? null : prng.pick(['a', 'b', 'c']) } };
  if (op.output?.kind === 'cas') return { ...op, output: { kind: 'cas', ok: !op.output.ok } };
  return op;
}

describe('linearizability checker against brute force', () => {
  it('agrees with an exhaustive search on 3000 random small histories', { timeout: 600_000 }, () => {
    const prng = new Prng(20261127);
    const verdicts = { ok: 0, illegal: 0 };
    for (let i = 0; i < 3000; i++) {
      const history = randomHistory(prng);
      const expected = bruteForceOnList(kvModel, history.filter((op) => op.input.key === 'x'))
        && bruteForceOnList(kvModel, history.filter((op) => op.input.key === 'y'));
      const outcome = checkLinearizability<KvState, KvInput, KvOutput>(kvModel, history).outcome;
      expect(outcome, JSON.stringify(history)).toBe(expected ? 'ok' : 'illegal');
      verdicts[expected ? 'ok' : 'illegal']++;
    }
    // Both kinds of verdict are exercised in quantity.
    expect(verdicts.ok).toBeGreaterThan(300);
    expect(verdicts.illegal).toBeGreaterThan(300);
  });
});

/**
 * `clients` clients each run `opsPerClient` reads and writes of one register, overlapping:
 * op i of client c spans [20i + c, 20i + c + 15] and takes effect at a random point of it.
 */
function overlappingHistory(prng: Prng, clients: number, opsPerClient: number): Op[] {
  const sm = new KvStateMachine();
  const planned: { at: number; op: Op }[] = [];
  for (let c = 0; c < clients; c++) {
    for (let i = 0; i < opsPerClient; i++) {
      const callTime = 20 * i + c;
      const input: KvInput = prng.chance(0.5) ? { kind: 'read', key: 'x' } : { kind: 'write', key: 'x', value: `v${c}.${i}` };
      planned.push({ at: callTime + prng.float() * 15, op: { clientId: c, input, callTime, returnTime: callTime + 15 } });
    }
  }
  planned.sort((a, b) => a.at - b.at);
  return planned.map(({ op }) => ({ ...op, output: sm.apply(op.input) }));
}

describe('linearizability checker on long histories', () => {
  it('checks 10 clients x 60 overlapping ops on one register, and finds one stale read planted in it', { timeout: 600_000 }, () => {
    const history = overlappingHistory(new Prng(99), 10, 60);
    const good = checkLinearizability(kvModel, history);
    expect(good.outcome).toBe('ok');
    const bad = checkLinearizability(kvModel, [...history, read(99, 'x', 'v0.0', 100_000, 100_001)]);
    expect(bad.outcome).toBe('illegal');
    expect(bad.partitions[0]?.explanation).toContain('read(x) -> v0.0');
  });

  it('checks 10,000 overlapping ops on one register, in steps that grow in proportion to the ops', { timeout: 600_000 }, () => {
    const stepsPerOp = (opsPerClient: number): number => {
      const result = checkLinearizability(kvModel, overlappingHistory(new Prng(7), 10, opsPerClient));
      expect(result.outcome).toBe('ok');
      expect(result.partitions[0]?.operations).toBe(10 * opsPerClient);
      return (result.partitions[0]?.steps ?? Infinity) / (10 * opsPerClient);
    };
    const small = stepsPerOp(100);
    expect(stepsPerOp(1000)).toBeLessThan(1.5 * small);
  });
});
