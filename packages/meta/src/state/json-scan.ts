import { assert } from '@basalt/stdx';

/**
 * Walks the text of a large JSON document without building all of it at once: the members of an
 * object and the elements of an array come out as their JSON text (substrings of the document,
 * unparsed), so a caller parses one element at a time and each element's tree dies young. A
 * snapshot of 100,000 volumes parsed whole holds every volume's tuple tree at once, tens of
 * megabytes that only a full collection frees.
 *
 * The walk finds only where values end (strings with their escapes, nesting); JSON.parse of each
 * piece checks the syntax. Malformed text is corruption, hence an assertion naming `what`.
 */

const quote = 0x22;
const backslash = 0x5c;
const comma = 0x2c;
const colon = 0x3a;
const openBracket = 0x5b;
const closeBracket = 0x5d;
const openBrace = 0x7b;
const closeBrace = 0x7d;

/** The members of the JSON object `text`, each value as its JSON text. */
export function jsonObjectMembers(text: string, what: string): Map<string, string> {
  const members = new Map<string, string>();
  let at = expect(text, skipSpace(text, 0), openBrace, what);
  at = skipSpace(text, at);
  if (text.charCodeAt(at) === closeBrace) return finish(text, at + 1, members, what);
  for (;;) {
    const keyEnd = stringEnd(text, expectAt(text, at, quote, what), what) + 1;
    const key = JSON.parse(text.slice(at, keyEnd)) as string;
    at = skipSpace(text, expect(text, skipSpace(text, keyEnd), colon, what));
    const end = valueEnd(text, at, what);
    members.set(key, text.slice(at, end));
    at = skipSpace(text, end);
    if (text.charCodeAt(at) === closeBrace) return finish(text, at + 1, members, what);
    at = skipSpace(text, expect(text, at, comma, what));
  }
}

/** The elements of the JSON array `text`, each as its JSON text, in order. */
export function* jsonArrayElements(text: string, what: string): Generator<string, void, undefined> {
  let at = skipSpace(text, expect(text, skipSpace(text, 0), openBracket, what));
  if (text.charCodeAt(at) === closeBracket) {
    finish(text, at + 1, undefined, what);
    return;
  }
  for (;;) {
    const end = valueEnd(text, at, what);
    yield text.slice(at, end);
    at = skipSpace(text, end);
    if (text.charCodeAt(at) === closeBracket) {
      finish(text, at + 1, undefined, what);
      return;
    }
    at = skipSpace(text, expect(text, at, comma, what));
  }
}

/** Where the value starting at `at` ends (one past its last character). */
function valueEnd(text: string, at: number, what: string): number {
  let depth = 0;
  for (let i = at; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === quote) {
      i = stringEnd(text, i, what);
      if (depth === 0) return i + 1;
    } else if (c === openBracket || c === openBrace) {
      depth += 1;
    } else if (c === closeBracket || c === closeBrace) {
      if (depth === 0) return end(i, at, what);
      depth -= 1;
      if (depth === 0) return i + 1;
    } else if (depth === 0 && (c === comma || isSpace(c))) {
      return end(i, at, what);
    }
  }
  assert(depth === 0, `${what} is not JSON: it ends inside a value at ${at}`);
  return end(text.length, at, what);
}

/** The end of a bare value (a number, true, false, null): at least one character. */
function end(i: number, at: number, what: string): number {
  assert(i > at, `${what} is not JSON: no value at ${at}`);
  return i;
}

/** The index of the quote that closes the string opening at `at`. */
function stringEnd(text: string, at: number, what: string): number {
  for (let i = at + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === backslash) i += 1;
    else if (c === quote) return i;
  }
  assert(false, `${what} is not JSON: a string at ${at} never ends`);
}

function finish<T>(text: string, at: number, value: T, what: string): T {
  assert(skipSpace(text, at) === text.length, `${what} is not JSON: text after the end at ${at}`);
  return value;
}

function expect(text: string, at: number, code: number, what: string): number {
  return expectAt(text, at, code, what) + 1;
}

function expectAt(text: string, at: number, code: number, what: string): number {
  assert(text.charCodeAt(at) === code, `${what} is not JSON: '${String.fromCharCode(code)}' expected at ${at}`);
  return at;
}

function skipSpace(text: string, at: number): number {
  while (at < text.length && isSpace(text.charCodeAt(at))) at += 1;
  return at;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
