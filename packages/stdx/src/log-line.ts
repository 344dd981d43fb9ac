/**
 * One line of a service log (metad, chunkd, the NBD agent): the time in ISO 8601 UTC, then the
 * text, then a newline. Failovers are read across several processes' logs; the times line them up.
 */
export function logLine(text: string): string {
  return `${new Date().toISOString()} ${text}\n`;
}
