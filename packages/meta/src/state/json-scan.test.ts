import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonArrayElements, jsonObjectMembers } from './json-scan.js';

describe('jsonArrayElements and jsonObjectMembers', () => {
  it('cut any JSON array and object into the texts of their elements and members: parsed one by one, they are JSON.parse of the whole', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue()), fc.dictionary(fc.string(), fc.jsonValue()), fc.boolean(), (elements, members, spaced) => {
        const indent = spaced ? 2 : 0;
        const arrayText = JSON.stringify(elements, null, indent);
        expect([...jsonArrayElements(arrayText, 'test')].map((t) => JSON.parse(t) as unknown)).toEqual(JSON.parse(arrayText));
        const objectText = JSON.stringify(members, null, indent);
        const cut = jsonObjectMembers(objectText, 'test');
        expect(Object.fromEntries([...cut].map(([k, t]) => [k, JSON.parse(t) as unknown]))).toEqual(JSON.parse(objectText));
      }),
      { numRuns: 500 },
    );
  });

  it('find the ends of strings that hold quotes, backslashes and brackets', () => {
    const elements = ['a"]}', '\\', '\\"[{', { 'k"}': ['"', ']'] }, 'x\\\\"'];
    expect([...jsonArrayElements(JSON.stringify(elements), 'test')].map((t) => JSON.parse(t) as unknown)).toEqual(elements);
  });

  it.each([
    ['not an array', '{"a":1}'],
    ['an unclosed array', '[1,[2,3]'],
    ['an unclosed string', '["abc]'],
    ['text after the end', '[1,2] 3'],
    ['a missing value', '[1,,2]'],
    ['a missing comma', '[[1][2]]'],
  ])('refuse %s', (_what, text) => {
    expect(() => [...jsonArrayElements(text, 'the test')]).toThrow(/the test is not JSON/);
  });

  it.each([
    ['not an object', '[1]'],
    ['a key that is not a string', '{1:2}'],
    ['a missing colon', '{"a" 1}'],
    ['an unclosed object', '{"a":{"b":1}'],
  ])('refuse %s', (_what, text) => {
    expect(() => jsonObjectMembers(text, 'the test')).toThrow(/the test is not JSON/);
  });
});
