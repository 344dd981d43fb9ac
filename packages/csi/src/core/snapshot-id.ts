/**
 * A CSI snapshot id: `<volume>@<snapshot>`, the Basalt volume name (the CSI volume id) and the
 * snapshot's name in it. Neither name may contain '@' (metad allows letters, digits, '.', '_', '-').
 */
export function snapshotId(volume: string, snapshot: string): string {
  return `${volume}@${snapshot}`;
}

/** The parts of a snapshot id; undefined when it is not one (a CO's id from another driver). */
export function parseSnapshotId(id: string): { volume: string; snapshot: string } | undefined {
  const at = id.indexOf('@');
  if (at <= 0 || at === id.length - 1 || id.indexOf('@', at + 1) >= 0) return undefined;
  return { volume: id.slice(0, at), snapshot: id.slice(at + 1) };
}

/** Where a ListSnapshots page starts: a decimal index from a previous page's next_token ('' = 0). */
export function pageStart(token: string, total: number): number | undefined {
  if (token === '') return 0;
  if (!/^[0-9]{1,9}$/.test(token)) return undefined;
  const n = Number(token);
  return n <= total ? n : undefined;
}
