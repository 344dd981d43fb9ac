import { describe, expect, it } from 'vitest';
import { limits } from '@basalt/stdx';
import { Code, CsiStatus } from './csi-status.js';
import { parseParameters } from './parameters.js';

function refusal(fn: () => unknown): CsiStatus {
  try {
    fn();
  } catch (err) {
    if (err instanceof CsiStatus) return err;
    throw err;
  }
  throw new Error('expected a CsiStatus');
}

describe('StorageClass parameters', () => {
  it('default to the cluster defaults when absent', () => {
    expect(parseParameters({})).toEqual({ replicationFactor: limits.replicationFactorDefault, extentSizeBytes: limits.extentSizeBytesDefault, encrypt: false });
  });

  it('read replicas and extentSizeBytes, and let the provisioner keys through', () => {
    expect(parseParameters({ replicas: '2', extentSizeBytes: String(2 ** 20), 'csi.storage.k8s.io/fstype': 'xfs' })).toEqual({ replicationFactor: 2, extentSizeBytes: 2 ** 20, encrypt: false });
  });

  it('read encrypted: "true" as an encrypted volume', () => {
    expect(parseParameters({ encrypted: 'true' })).toMatchObject({ encrypt: true });
    expect(parseParameters({ encrypted: 'false' })).toMatchObject({ encrypt: false });
  });

  it.each([
    [{ replicas: '0' }, 'replicas must be from 1'],
    [{ replicas: String(limits.replicationFactorMax + 1) }, 'replicas must be from 1'],
    [{ replicas: 'three' }, 'decimal integer'],
    [{ replicas: '-1' }, 'decimal integer'],
    [{ extentSizeBytes: String(3 * 2 ** 20) }, 'power of two'],
    [{ extentSizeBytes: String(limits.extentSizeBytesMin / 2) }, 'power of two'],
    [{ extentSizeBytes: String(limits.extentSizeBytesMax * 2) }, 'power of two'],
    [{ encryption: 'on' }, 'unknown parameter "encryption"'],
    [{ encrypted: 'yes' }, 'encrypted must be "true" or "false"'],
  ])('refuse %j with INVALID_ARGUMENT', (parameters, message) => {
    const err = refusal(() => parseParameters(parameters));
    expect(err.code).toBe(Code.invalidArgument);
    expect(err.message).toContain(message);
  });
});
