/** A progress line on stderr (stdout carries the results), with the time of day. */
export function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

/** `--size`: a number of bytes with an optional K, M or G suffix (powers of 1024). */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(text);
  if (m === null) throw new Error(`--size must look like 256M or 1G, got "${text}"`);
  return Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] ?? '').toUpperCase() || ' ');
}
