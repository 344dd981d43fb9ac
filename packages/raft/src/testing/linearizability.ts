import { assert } from '@basalt/stdx';
import { OpSet, VisitedConfigurations } from './op-set.js';

/**
 * A sequential specification for the linearizability checker. States must be
 * immutable values: the search keeps old states on its stack and restores them.
 */
export interface Model<S, I, O> {
  init(): S;
  /**
   * The states the object may be in after `input` ran on `state` and answered
   * `output`; empty when that answer is impossible. `output` is undefined for an
   * operation whose outcome is unknown (it timed out): the model must then return
   * every state the operation could have left, whatever it answered.
   */
  step(state: S, input: I, output: O | undefined): readonly S[];
  /** Operations on different partitions never interact; each partition is checked alone. */
  partition(input: I): string;
  /** Equal states have equal keys (memoization of visited configurations). */
  stateKey(state: S): string;
  /** True when the input never changes the state; such ops with an unknown outcome are dropped. */
  readOnly(input: I): boolean;
  describe(input: I, output: O | undefined): string;
}

/**
 * One client operation. `callTime` is when the client sent it and `returnTime`
 * when it saw the answer. An operation with no `returnTime` has an unknown
 * outcome: it may or may not have taken effect, at any time after its call
 * (its return is +infinity and its output unconstrained). Intervals are closed:
 * a ends before b starts only if a.returnTime < b.callTime.
 */
export interface Operation<I, O> {
  readonly clientId: number;
  readonly input: I;
  readonly callTime: number;
  readonly returnTime?: number;
  readonly output?: O;
}

export type CheckOutcome = 'ok' | 'illegal' | 'unknown';

export interface PartitionResult {
  readonly partition: string;
  readonly outcome: CheckOutcome;
  readonly operations: number;
  /** Search steps taken (one per candidate tried or backtrack). */
  readonly steps: number;
  /** For 'illegal': the deepest order found and the operation it could not fit. */
  readonly explanation?: string;
}

export interface CheckResult {
  /** 'illegal' if any partition is; else 'unknown' if any search ran out of budget; else 'ok'. */
  readonly outcome: CheckOutcome;
  readonly partitions: readonly PartitionResult[];
}

export interface CheckOptions {
  /** Search steps allowed per partition; past it the partition is 'unknown', never 'ok'. */
  readonly maxStepsPerPartition?: number;
}

export const defaultMaxStepsPerPartition = 2_000_000;
/** Operations of the deepest order an 'illegal' explanation shows (the last ones). */
const explainOpsMax = 8;

/**
 * Checks that a concurrent history is linearizable with respect to `model`:
 * Wing & Gong's search, with Lowe's memoization of (set of linearized ops,
 * model state) as in porcupine, run on each partition separately.
 */
export function checkLinearizability<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult {
  const maxSteps = options.maxStepsPerPartition ?? defaultMaxStepsPerPartition;
  assert(Number.isSafeInteger(maxSteps) && maxSteps > 0, `maxStepsPerPartition must be a positive integer, got ${maxSteps}`);
  history.forEach(validateOperation);
  const partitions = [...partitionHistory(model, history)].map(([name, ops]) => checkPartition(model, name, ops, maxSteps));
  return { outcome: combineOutcomes(partitions.map((p) => p.outcome)), partitions };
}

function validateOperation<I, O>(op: Operation<I, O>, index: number): void {
  assert(Number.isFinite(op.callTime), `operation ${index}: callTime must be finite, got ${op.callTime}`);
  if (op.returnTime === undefined) return;
  assert(Number.isFinite(op.returnTime), `operation ${index}: returnTime must be finite or absent, got ${op.returnTime}`);
  assert(op.returnTime >= op.callTime, `operation ${index}: returns (${op.returnTime}) before its call (${op.callTime})`);
}

function partitionHistory<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[]): Map<string, Operation<I, O>[]> {
  const byKey = new Map<string, Operation<I, O>[]>();
  for (const op of history) {
    // An unknown read constrains nothing and changes nothing.
    if (op.returnTime === undefined && model.readOnly(op.input)) continue;
    const key = model.partition(op.input);
    const ops = byKey.get(key) ?? [];
    ops.push(op);
    byKey.set(key, ops);
  }
  return new Map([...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function combineOutcomes(outcomes: readonly CheckOutcome[]): CheckOutcome {
  if (outcomes.includes('illegal')) return 'illegal';
  if (outcomes.includes('unknown')) return 'unknown';
  return 'ok';
}

/** A call or return event in the doubly linked list the search lifts ops out of. */
interface Entry {
  readonly op: number;
  readonly isCall: boolean;
  /** For a call: its return entry, or undefined for an op of unknown outcome. */
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

interface Frame<S> {
  /** The frame below this one on the stack (frames are immutable: a popped one still names its past). */
  readonly parent: Frame<S> | undefined;
  readonly depth: number;
  readonly entry: Entry;
  readonly stateBefore: S;
  readonly successors: readonly S[];
  readonly alternative: number;
}

/** Events in time order; at equal times calls come first (touching intervals overlap). */
function buildEntries<I, O>(ops: readonly Operation<I, O>[]): Entry {
  const events: { time: number; entry: Entry }[] = [];
  ops.forEach((op, i) => {
    const call: Entry = { op: i, isCall: true, match: undefined, prev: undefined, next: undefined };
    events.push({ time: op.callTime, entry: call });
    if (op.returnTime === undefined) return;
    call.match = { op: i, isCall: false, match: undefined, prev: undefined, next: undefined };
    events.push({ time: op.returnTime, entry: call.match });
  });
  events.sort((a, b) => a.time - b.time || Number(b.entry.isCall) - Number(a.entry.isCall) || a.entry.op - b.entry.op);
  const head: Entry = { op: -1, isCall: false, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const { entry } of events) {
    entry.prev = last;
    last.next = entry;
    last = entry;
  }
  return head;
}

function unlink(e: Entry): void {
  assert(e.prev !== undefined, 'unlink of the list head');
  e.prev.next = e.next;
  if (e.next !== undefined) e.next.prev = e.prev;
}

function relink(e: Entry): void {
  assert(e.prev !== undefined, 'relink of the list head');
  e.prev.next = e;
  if (e.next !== undefined) e.next.prev = e;
}

/** Removes a call and its return from the list (ops are lifted and restored in LIFO order). */
function lift(e: Entry): void {
  unlink(e);
  if (e.match !== undefined) unlink(e.match);
}

function unlift(e: Entry): void {
  if (e.match !== undefined) relink(e.match);
  relink(e);
}

function checkPartition<S, I, O>(model: Model<S, I, O>, name: string, history: readonly Operation<I, O>[], maxSteps: number): PartitionResult {
  // Numbered in call order, the linearized ops are a prefix plus a few: OpSet stores them compactly.
  const ops = [...history].sort((a, b) => a.callTime - b.callTime);
  const search = new Search(model, ops, maxSteps);
  const outcome = search.run();
  const explanation = outcome === 'illegal' ? search.explain(name) : undefined;
  return { partition: name, outcome, operations: ops.length, steps: search.steps, ...(explanation === undefined ? {} : { explanation }) };
}

/** The search over one partition. Invariant: `linearized` holds op i iff op i is on `stack`. */
class Search<S, I, O> {
  steps = 0;
  private readonly head: Entry;
  private readonly stack: Frame<S>[] = [];
  private readonly visited = new VisitedConfigurations();
  private readonly linearized: OpSet;
  private state: S;
  /** The deepest stack a return blocked, as its top frame (walk `parent` for the order), and that op. */
  private deepest: { top: Frame<S> | undefined; blocked: number } = { top: undefined, blocked: -1 };

  constructor(
    private readonly model: Model<S, I, O>,
    private readonly ops: readonly Operation<I, O>[],
    private readonly maxSteps: number,
  ) {
    this.head = buildEntries(ops);
    this.linearized = new OpSet(ops.length);
    this.state = model.init();
  }

  /**
   * Walks the list: at a call, tries to linearize that op next; at a return,
   * the op that returns here was not linearized in time, so backtrack. The end
   * of the list without a return on the way means every op with a known
   * outcome is linearized (ops of unknown outcome have no return entry).
   */
  run(): CheckOutcome {
    let entry = this.head.next;
    while (entry !== undefined) {
      if (++this.steps > this.maxSteps) return 'unknown';
      if (entry.isCall) {
        entry = this.tryLinearize(entry, 0) ? this.head.next : entry.next;
        continue;
      }
      this.noteDeepest(entry.op);
      const frame = this.stack.pop();
      if (frame === undefined) return 'illegal';
      entry = this.backtrack(frame);
    }
    return 'ok';
  }

  /** Linearizes `entry`'s op into the first unvisited successor state from `alternative` on. */
  private tryLinearize(entry: Entry, alternative: number, known?: readonly S[]): boolean {
    const op = this.ops[entry.op];
    assert(op !== undefined, 'entry for a missing op');
    const successors = known ?? this.model.step(this.state, op.input, op.returnTime === undefined ? undefined : op.output);
    this.linearized.add(entry.op);
    for (let alt = alternative; alt < successors.length; alt++) {
      const next = successors[alt] as S;
      // A configuration seen before: nothing new can come of it.
      if (!this.visited.add(this.model.stateKey(next), this.linearized)) continue;
      const parent = this.stack.at(-1);
      this.stack.push({ parent, depth: (parent?.depth ?? 0) + 1, entry, stateBefore: this.state, successors, alternative: alt });
      this.state = next;
      lift(entry);
      return true;
    }
    this.linearized.delete(entry.op);
    return false;
  }

  /** Undoes the top frame and tries its op's next alternative; returns where to walk on. */
  private backtrack(frame: Frame<S>): Entry | undefined {
    this.state = frame.stateBefore;
    this.linearized.delete(frame.entry.op);
    unlift(frame.entry);
    if (this.tryLinearize(frame.entry, frame.alternative + 1, frame.successors)) return this.head.next;
    return frame.entry.next;
  }

  private noteDeepest(blocked: number): void {
    if (this.deepest.blocked !== -1 && this.stack.length <= (this.deepest.top?.depth ?? 0)) return;
    this.deepest = { top: this.stack.at(-1), blocked };
  }

  explain(partition: string): string {
    const show = (i: number): string => {
      const op = this.ops[i];
      assert(op !== undefined, 'explain: missing op');
      const ret = op.returnTime === undefined ? 'unknown' : String(op.returnTime);
      return `client ${op.clientId} ${this.model.describe(op.input, op.returnTime === undefined ? undefined : op.output)} [${op.callTime}, ${ret}]`;
    };
    const last: number[] = [];
    for (let f = this.deepest.top; f !== undefined && last.length < explainOpsMax; f = f.parent) last.unshift(f.entry.op);
    const depth = this.deepest.top?.depth ?? 0;
    const shown = last.map(show).join('; ');
    const skipped = depth > explainOpsMax ? `${depth - explainOpsMax} ops, then ` : '';
    return `partition ${partition}: after linearizing [${skipped}${shown}], no order fits ${show(this.deepest.blocked)}`;
  }
}
