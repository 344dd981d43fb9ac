import { describe, expect, it } from 'vitest';
import { logLine } from './log-line.js';

describe('logLine', () => {
  it('puts the current time (ISO 8601, UTC) before the text and ends the line', () => {
    const before = Date.now();
    const line = logLine('extent 1/0: metad answered epoch 2');
    const after = Date.now();
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) extent 1\/0: metad answered epoch 2\n$/.exec(line);
    expect(m, line).not.toBeNull();
    const at = Date.parse(m![1]!);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
  });
});
