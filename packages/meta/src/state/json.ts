import { assert } from '@basalt/stdx';

/** UTF-8 JSON to a value; bytes that are not are corruption, hence an assertion. */
export function parseJson(bytes: Uint8Array, what: string): unknown {
  return parseJsonText(utf8Text(bytes, what), what);
}

/** The text of UTF-8 bytes; bytes that are not UTF-8 are corruption. */
export function utf8Text(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    assert(false, `${what} is not UTF-8 JSON: ${String(err)}`);
  }
}

/** JSON text to a value; text that is not JSON is corruption. */
export function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    assert(false, `${what} is not UTF-8 JSON: ${String(err)}`);
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
