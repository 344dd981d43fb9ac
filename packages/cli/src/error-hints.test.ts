import { describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { errorHint, errorText } from './error-hints.js';

describe('errors that name their fix', () => {
  it('a missing volume: how to list volumes and create it', () => {
    expect(errorText(new BasaltError(ErrorCode.VolumeNotFound, 'no volume named "v9"', { volume: 'v9' }))).toBe(
      'error BASALT_VOLUME_NOT_FOUND: no volume named "v9"\n  next: list the volumes with "basalt volume list", or create this one with "basalt volume create v9 --size 1GiB"',
    );
  });

  it('a lease held by another writer: who holds it and how to take it over', () => {
    const hint = errorHint(new BasaltError(ErrorCode.LeaseConflict, 'volume v1 is open for writing by host/42/ab', { volume: 'v1', holder: 'host/42/ab', generation: 3 }));
    expect(hint).toMatch(/^host\/42\/ab holds the writer lease of v1\./);
    expect(hint).toContain('"basalt volume write v1 --from FILE --force"');
    expect(hint).toContain(ErrorCode.LeaseFenced);
  });

  it('a server that is down: which one, and where to see what is down', () => {
    expect(errorHint(new BasaltError(ErrorCode.Unavailable, 'data connection to 127.0.0.1:7122 failed: ECONNREFUSED', { address: '127.0.0.1:7122' })))
      .toBe('the server at 127.0.0.1:7122 did not answer: "basalt status" shows which metad members and chunk servers are down; start it again, then retry');
  });

  it('a refused shrink: --force for never-written space, or which extent holds data', () => {
    expect(errorHint(new BasaltError(ErrorCode.ShrinkNotAllowed, 'it can grow but not shrink', { volume: 'v1' }))).toContain('"basalt volume resize v1 --size SIZE --force"');
    expect(errorHint(new BasaltError(ErrorCode.ShrinkNotAllowed, 'holds data', { volume: 'v1', firstAllocatedIndex: 3 }))).toMatch(/^extent 3 and later ones of v1 hold data/);
  });

  it('a tenant quota or a tenant that still owns volumes: where to see its usage and its volumes', () => {
    expect(errorHint(new BasaltError(ErrorCode.QuotaExceeded, 'tenant t has 2 of its 2 volumes', { tenant: 't', quota: 'volumes', used: 2, max: 2 }))).toMatch(/^"basalt tenant ls" shows the quotas and usage of t:/);
    expect(errorHint(new BasaltError(ErrorCode.TenantNotEmpty, 'tenant t still owns 1 volume(s)', { tenant: 't', volumes: 1 }))).toBe('"basalt volume ls --tenant t" lists the volumes it still owns: delete them first');
  });

  it('leaves alone a message that already names a command to run', () => {
    expect(errorHint(new BasaltError(ErrorCode.Unavailable, 'no cluster runs in .basalt: start it with "basalt up"'))).toBeUndefined();
  });
});
