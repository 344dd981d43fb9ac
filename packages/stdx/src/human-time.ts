/** Times and durations for people to read (pure: the caller passes the clock's reading). */

/** "3 s ago", "5 min ago", or "never" for 0. */
export function humanAge(atMs: number, nowMs: number): string {
  if (atMs === 0) return 'never';
  const s = Math.max(0, Math.round((nowMs - atMs) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** "HH:MM:SS" of a Unix time in milliseconds, in UTC. */
export function utcClock(ms: number): string {
  const s = Math.floor(ms / 1000) % 86_400;
  return [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60].map((n) => String(n).padStart(2, '0')).join(':');
}

export function humanDuration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}
