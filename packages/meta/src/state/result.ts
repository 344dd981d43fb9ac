import { BasaltError, type ErrorCode } from '@basalt/stdx';

/**
 * The outcome of a command or query. Bad input is an expected outcome, so it is a value,
 * never a throw: apply() runs on every replica and must not crash one on a user's typo.
 */
export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: StateError };

/** A refused command: a stable code, a message for humans, facts for programs. */
export interface StateError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
}

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: ErrorCode, message: string, details: Record<string, unknown> = {}): Result<T> {
  return { ok: false, error: { code, message, details } };
}

/** The value of a successful result; a refused one becomes a BasaltError with the same code. */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw new BasaltError(result.error.code, result.error.message, { ...result.error.details });
}
