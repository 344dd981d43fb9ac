import { parseArgs } from 'node:util';
import { invalidArgument } from '@basalt/stdx';
import { parseEndpoints } from '@basalt/wire';
import type { ChunkdOptions } from './chunkd.js';

/** Usage of `basalt chunk start` (and of the standalone bin/chunkd.js). */
export const chunkdUsage = `usage: basalt chunk start --id ID --zone ZONE --data-dir DIR --listen HOST:PORT
                         [--metad HOST:PORT[,HOST:PORT...]] [--metrics-port PORT] [--advertise HOST:PORT]
  --id            stable id of this chunk server (1-64 of [A-Za-z0-9._-])
  --zone          failure zone; replicas of an extent go to distinct zones where possible
  --data-dir      directory of the extent files and index (created if missing)
  --listen        data-plane address to bind (127.0.0.1:0 picks a free port)
  --metad         metad endpoints; without them the server neither registers nor drops replicas
  --metrics-port  serve Prometheus metrics at http://HOST:PORT/metrics (0 picks a free port)
  --advertise     address announced to metad and peers (default: the bound listen address)`;

export function parseChunkdArgs(argv: readonly string[]): ChunkdOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      id: { type: 'string' },
      zone: { type: 'string' },
      'data-dir': { type: 'string' },
      listen: { type: 'string' },
      metad: { type: 'string' },
      'metrics-port': { type: 'string' },
      advertise: { type: 'string' },
    },
    strict: true,
  });
  const need = (name: 'id' | 'zone' | 'data-dir' | 'listen'): string => {
    const v = values[name];
    if (v === undefined || v === '') throw invalidArgument(`--${name} is required\n${chunkdUsage}`);
    return v;
  };
  const metricsPort = values['metrics-port'] === undefined ? undefined : Number(values['metrics-port']);
  return {
    id: need('id'),
    zone: need('zone'),
    dataDir: need('data-dir'),
    listen: need('listen'),
    ...(values.metad === undefined ? {} : { metad: parseEndpoints(values.metad, 'metad') }),
    ...(metricsPort === undefined ? {} : { metricsPort }),
    ...(values.advertise === undefined ? {} : { advertise: values.advertise }),
  };
}
