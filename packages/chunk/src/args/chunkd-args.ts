import { parseArgs } from 'node:util';
import { invalidArgument } from '@basalt/stdx';
import { parseEndpoints, securityFromFlags, tlsFlags, tlsUsage } from '@basalt/wire';
import type { ChunkdOptions } from '../chunkd.js';

/**
 * The flags of `basalt chunk start` and of the standalone bin/chunkd.js, in one place. This
 * module loads no server code, so the CLI can declare the flags without loading LevelDB.
 */
export const chunkdUsage = `--id ID --zone ZONE --data-dir DIR --listen HOST:PORT [--metad HOST:PORT,...] [--metrics-port N [--metrics-tls]] [--advertise HOST:PORT] [--reclaim-interval-ms N] [--repair-bandwidth BYTES_PER_SEC] [--scrub-interval-ms N] [--require-capabilities] [--scrub-rate BYTES_PER_SEC] [--direct-writes members|off] ${tlsUsage}`;

export const chunkdFlags = {
  /** Stable id of this chunk server (1-64 of [A-Za-z0-9._-]). */
  id: { type: 'string' },
  /** Failure zone; replicas of an extent go to distinct zones where possible. */
  zone: { type: 'string' },
  /** Directory of the extent files and index (created if missing). */
  'data-dir': { type: 'string' },
  /** Data-plane address to bind (127.0.0.1:0 picks a free port). */
  listen: { type: 'string' },
  /** metad endpoints; without them the server neither registers nor drops replicas. */
  metad: { type: 'string' },
  /** Serve Prometheus metrics at http://HOST:PORT/metrics on the listen host (0: a free port). */
  'metrics-port': { type: 'string' },
  /** Serve the metrics over HTTPS to holders of a cluster certificate (needs the TLS flags; docs/security.md). */
  'metrics-tls': { type: 'boolean' },
  /** Address announced to metad and peers (default: the bound listen address). */
  advertise: { type: 'string' },
  /** How often to look for replicas of deleted volumes to remove (default 60000; 0: never). */
  'reclaim-interval-ms': { type: 'string' },
  /** Bytes per second of repair and scrub traffic this server reads and sends (default limits.repairBandwidthBytesPerSecDefault, 16 MiB/s; 0: unlimited). Foreground I/O never waits on it. */
  'repair-bandwidth': { type: 'string' },
  /** Time from the start of one scrub pass over every extent to the start of the next (default 86400000, a day; 0: never). */
  'scrub-interval-ms': { type: 'string' },
  /** Bytes per second the scrubber reads, within the repair bandwidth (default 16 MiB/s; 0: only the repair bandwidth). */
  'scrub-rate': { type: 'string' },
  /** members: a member's large data writes go past the page cache (O_DIRECT), which then holds only the primary's data, for its reads; off (default): all writes buffered. */
  'direct-writes': { type: 'string' },
  ...tlsFlags,
  /** Refuse every data request until metad's capability key is known (docs/data-path.md, "Capabilities"). */
  'require-capabilities': { type: 'boolean' },
} as const;

export function chunkdOptionsFrom(values: Readonly<Record<string, unknown>>): ChunkdOptions {
  const get = (name: Exclude<keyof typeof chunkdFlags, 'require-capabilities'>): string | undefined => {
    const v = values[name];
    if (v !== undefined && typeof v !== 'string') throw invalidArgument(`--${name} takes a value`);
    return v;
  };
  const need = (name: 'id' | 'zone' | 'data-dir' | 'listen'): string => {
    const v = get(name);
    if (v === undefined || v === '') throw invalidArgument(`--${name} is required (usage: basalt chunk start ${chunkdUsage})`);
    return v;
  };
  const metrics = get('metrics-port');
  if (metrics !== undefined && !/^\d{1,5}$/.test(metrics)) throw invalidArgument(`--metrics-port must be a port number 0-65535, got "${metrics}"`);
  const metad = get('metad');
  const advertise = get('advertise');
  const reclaim = get('reclaim-interval-ms');
  if (reclaim !== undefined && !/^\d{1,9}$/.test(reclaim)) throw invalidArgument(`--reclaim-interval-ms must be a whole number of milliseconds (0: never), got "${reclaim}"`);
  const repairBandwidth = wholeNumber(get('repair-bandwidth'), '--repair-bandwidth', 'bytes per second (0: unlimited)');
  const scrubInterval = wholeNumber(get('scrub-interval-ms'), '--scrub-interval-ms', 'milliseconds (0: never)');
  const directWrites = get('direct-writes');
  if (directWrites !== undefined && directWrites !== 'members' && directWrites !== 'off') throw invalidArgument(`--direct-writes must be members or off, got "${directWrites}"`);
  const scrubRate = wholeNumber(get('scrub-rate'), '--scrub-rate', 'bytes per second (0: only the repair bandwidth)');
  return {
    id: need('id'),
    zone: need('zone'),
    dataDir: need('data-dir'),
    listen: need('listen'),
    ...(metad === undefined ? {} : { metad: parseEndpoints(metad, '--metad') }),
    ...(metrics === undefined ? {} : { metricsPort: Number(metrics) }),
    ...(values['metrics-tls'] === true && { metricsTls: true }),
    ...(advertise === undefined ? {} : { advertise }),
    ...(reclaim === undefined ? {} : { reclaimIntervalMs: Number(reclaim) }),
    ...(repairBandwidth === undefined ? {} : { repairBandwidthBytesPerSec: repairBandwidth }),
    ...(scrubInterval === undefined ? {} : { scrubIntervalMs: scrubInterval }),
    ...(scrubRate === undefined ? {} : { scrubRateBytesPerSec: scrubRate }),
    ...(directWrites === undefined ? {} : { directWrites }),
    security: securityFromFlags(values),
    ...(values['require-capabilities'] === true && { requireCapabilities: true }),
  };
}

function wholeNumber(text: string | undefined, flag: string, unit: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,15}$/.test(text)) throw invalidArgument(`${flag} must be a whole number of ${unit}, got "${text}"`);
  return Number(text);
}

export function parseChunkdArgs(argv: readonly string[]): ChunkdOptions {
  const { values } = parseArgs({ args: [...argv], options: chunkdFlags, strict: true });
  return chunkdOptionsFrom(values);
}
