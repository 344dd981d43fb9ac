import { assert } from '@basalt/stdx';
import { compareStrings } from './order.js';

/**
 * The sorted list of volume names (compareStrings order) that paged listings read: a page is a
 * binary search and a slice, whatever the number of volumes. Kept by create and delete (an
 * insertion moves at most volumesMax pointers, a fraction of a millisecond).
 */

/** The position of the first name after `after` ('' is before every name). */
export function firstAfter(names: readonly string[], after: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareStrings(names[mid] as string, after) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function insertName(names: string[], name: string): void {
  const at = firstAfter(names, name);
  assert(at === 0 || names[at - 1] !== name, `volume name ${name} listed twice`);
  names.splice(at, 0, name);
}

export function removeName(names: string[], name: string): void {
  const at = firstAfter(names, name) - 1;
  assert(at >= 0 && names[at] === name, `volume name ${name} is not listed`);
  names.splice(at, 1);
}
