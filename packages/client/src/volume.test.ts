import { describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { mutationFailover } from './volume.js';

const err = (code: ErrorCode, details: Record<string, unknown> = {}) => new BasaltError(code, 'x', details);

describe('what a failed mutation at the primary leads to', () => {
  it('reports a primary to metad only when it did not answer (a lost connection, a timeout, a failed probe)', () => {
    for (const code of [ErrorCode.Unavailable, ErrorCode.Timeout, ErrorCode.Closed]) {
      expect(mutationFailover(err(code, { address: 'c1:1' })), code).toBe('report');
      // The primary answered: alive, but could not replicate. Re-read the set, keep the primary.
      expect(mutationFailover(err(code, { address: 'c1:1', answered: true })), code).toBe('refresh');
    }
  });

  it('re-reads the set on a stale epoch or a server that no longer leads, resends after damage in transit, and throws the rest', () => {
    expect(mutationFailover(err(ErrorCode.StaleEpoch, { answered: true }))).toBe('refresh');
    expect(mutationFailover(err(ErrorCode.NotPrimary, { answered: true }))).toBe('refresh');
    expect(mutationFailover(err(ErrorCode.Checksum, { answered: true }))).toBe('resend');
    for (const code of [ErrorCode.NoSpace, ErrorCode.LeaseFenced, ErrorCode.Io, ErrorCode.OutOfRange]) expect(mutationFailover(err(code, { answered: true })), code).toBe('throw');
  });
});
