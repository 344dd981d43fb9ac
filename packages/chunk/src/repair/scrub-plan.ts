import { assert } from '@basalt/stdx';
import { compareStamps } from '@basalt/wire';
import { blockCount, type StampList } from './copy-plan.js';

/**
 * How the scrubber judges the members of one extent (pure). Every member lists, for the same
 * range and at the same point of the write stream (STAMPS with VERIFY through the primary's
 * ordered connections), each block's stamp and CRC and whether its data still matches the CRC.
 *
 * For each block the authoritative copy is the one with the highest stamp among those that
 * verify: evidence, never the primary's say-so alone (HEALING.md #5). Members whose block does
 * not verify, or verifies with a lower stamp, are repaired from it. Two copies that verify with
 * the same stamp and different CRCs cannot both be right and nothing says which is: such a
 * block, and one no member can read, is unrepairable (counted and logged, left alone).
 */
export interface MemberBlocks extends StampList {
  /** Per block: 1 when the stored data does not match its CRC. */
  readonly bad: Uint8Array;
}

export interface BlockRepair {
  readonly block: number;
  /** Index (into the members given) of the copy to repair from. */
  readonly source: number;
  /** Indexes of the members to repair. */
  readonly targets: readonly number[];
}

export interface ScrubFindings {
  readonly repairs: readonly BlockRepair[];
  /** Blocks with no copy that verifies, or with two verifying copies that disagree at one stamp. */
  readonly unrepairable: readonly number[];
}

export function judgeMembers(members: readonly MemberBlocks[]): ScrubFindings {
  assert(members.length > 0, 'a scrub compares at least one member');
  const n = blockCount(members[0]!);
  for (const m of members) assert(blockCount(m) === n && m.bad.length === n, 'members list the same blocks');
  const repairs: BlockRepair[] = [];
  const unrepairable: number[] = [];
  for (let i = 0; i < n; i++) {
    const best = authority(members, i);
    if (best === 'none') {
      unrepairable.push(i);
      continue;
    }
    const b = members[best]!;
    const targets: number[] = [];
    members.forEach((m, j) => {
      if (j === best) return;
      if (m.bad[i] === 1 || compareStamps(m.epochs[i]!, m.seqs[i]!, b.epochs[i]!, b.seqs[i]!) < 0) targets.push(j);
    });
    if (targets.length > 0) repairs.push({ block: i, source: best, targets });
  }
  return { repairs, unrepairable };
}

/** The member whose copy of block i verifies with the highest stamp; 'none' without evidence. */
function authority(members: readonly MemberBlocks[], i: number): number | 'none' {
  let best = -1;
  for (let j = 0; j < members.length; j++) {
    const m = members[j]!;
    if (m.bad[i] === 1) continue;
    if (best < 0) {
      best = j;
      continue;
    }
    const b = members[best]!;
    const order = compareStamps(m.epochs[i]!, m.seqs[i]!, b.epochs[i]!, b.seqs[i]!);
    if (order > 0) best = j;
    else if (order === 0 && m.crcs[i] !== b.crcs[i]) return 'none';
  }
  return best < 0 ? 'none' : best;
}
