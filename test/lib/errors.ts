/** What a call that may fail with a BasaltError ended in, for tests that assert on error codes. */
import { type ErrorCode, isBasaltError } from '@basalt/stdx';

/** The code of the BasaltError `call` rejects with, or `undefined` when it resolves; any other error propagates. */
export async function errorCodeOf(call: Promise<unknown>): Promise<ErrorCode | undefined> {
  try {
    await call;
  } catch (err) {
    if (isBasaltError(err)) return err.code;
    throw err;
  }
  return undefined;
}

/** The code of the BasaltError `call` must reject with; a call that resolves fails the test. */
export async function codeOf(call: Promise<unknown>): Promise<ErrorCode> {
  const code = await errorCodeOf(call);
  if (code === undefined) throw new Error('expected the call to fail');
  return code;
}
