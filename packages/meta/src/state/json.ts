import { assert } from '@basalt/stdx';

/** UTF-8 JSON to a value; bytes that are not are corruption, hence an assertion. */
export function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch (err) {
    assert(false, `${what} is not UTF-8 JSON: ${String(err)}`);
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
