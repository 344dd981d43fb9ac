/**
 * Assertions for invariants. A failed assertion is a bug: it throws an
 * AssertionError that nobody is expected to catch, so the process crashes
 * with a stack trace instead of going on with corrupt state.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}

/** Asserts a number is an integer in [0, Number.MAX_SAFE_INTEGER]. */
export function assertSafeUint(value: number, what: string): void {
  assert(Number.isSafeInteger(value), `${what} must be a safe integer, got ${value}`);
  assert(value >= 0, `${what} must not be negative, got ${value}`);
}
