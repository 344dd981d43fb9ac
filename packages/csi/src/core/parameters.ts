import { limits } from '@basalt/stdx';
import { invalid } from './csi-status.js';

/** What a StorageClass's parameters ask of a volume. */
export interface VolumeParameters {
  readonly replicationFactor: number;
  readonly extentSizeBytes: number;
  /** Encrypted at rest in the client (docs/security.md): the provisioner and the agent need the KEK. */
  readonly encrypt: boolean;
}

/** The StorageClass parameters the driver understands; any other key is refused. */
export const parameterKeys = ['replicas', 'extentSizeBytes', 'encrypted'] as const;

/** The external-provisioner's own keys (csi.storage.k8s.io/...): passed through, not ours. */
const provisionerPrefix = 'csi.storage.k8s.io/';

/**
 * Parses CreateVolume/GetCapacity/ValidateVolumeCapabilities parameters: `replicas` (1 to
 * replicationFactorMax, default replicationFactorDefault) and `extentSizeBytes` (a power of two
 * from extentSizeBytesMin to extentSizeBytesMax, default extentSizeBytesDefault), both decimal
 * integers, and `encrypted` ("true" or "false", default false). Throws INVALID_ARGUMENT saying what is allowed.
 */
export function parseParameters(parameters: Readonly<Record<string, string>>): VolumeParameters {
  for (const key of Object.keys(parameters)) {
    if (!key.startsWith(provisionerPrefix) && !(parameterKeys as readonly string[]).includes(key)) {
      throw invalid(`unknown parameter ${JSON.stringify(key)}: the parameters are ${parameterKeys.join(', ')}`);
    }
  }
  const replicationFactor = integer(parameters, 'replicas', limits.replicationFactorDefault);
  if (replicationFactor < 1 || replicationFactor > limits.replicationFactorMax) {
    throw invalid(`parameter replicas must be from 1 to ${limits.replicationFactorMax}, got ${replicationFactor}`);
  }
  const extentSizeBytes = integer(parameters, 'extentSizeBytes', limits.extentSizeBytesDefault);
  const powerOfTwo = extentSizeBytes > 0 && 2 ** Math.round(Math.log2(extentSizeBytes)) === extentSizeBytes;
  if (!powerOfTwo || extentSizeBytes < limits.extentSizeBytesMin || extentSizeBytes > limits.extentSizeBytesMax) {
    throw invalid(`parameter extentSizeBytes must be a power of two from ${limits.extentSizeBytesMin} to ${limits.extentSizeBytesMax}, got ${extentSizeBytes}`);
  }
  const encrypted = parameters.encrypted ?? 'false';
  if (encrypted !== 'true' && encrypted !== 'false') throw invalid(`parameter encrypted must be "true" or "false", got ${JSON.stringify(encrypted)}`);
  return { replicationFactor, extentSizeBytes, encrypt: encrypted === 'true' };
}

function integer(parameters: Readonly<Record<string, string>>, key: string, fallback: number): number {
  const text = parameters[key];
  if (text === undefined) return fallback;
  if (!/^[0-9]{1,16}$/.test(text)) throw invalid(`parameter ${key} must be a decimal integer, got ${JSON.stringify(text)}`);
  return Number(text);
}
