import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Identity } from '@basalt/stdx';
import type { TlsFiles } from '@basalt/wire';
import { certPaths, initCa, issueInto, tlsFilesOf } from '../certs/cert-store.js';
import type { ClusterFile, ClusterTls } from './cluster-file.js';

/** Every local server answers on the loopback address, by name or by number. */
const localHosts = ['localhost', '127.0.0.1'];

/** The identity each process of a local cluster runs as, and the CLI's. */
export const localIdentity = {
  metad: (id: string): Identity => ({ role: 'metad', name: id }),
  chunkd: (id: string): Identity => ({ role: 'chunkd', name: id }),
  agent: { role: 'agent', name: 'agent' } as Identity,
  admin: { role: 'admin', name: 'admin' } as Identity,
};

/**
 * The certificate folder of a local cluster (DIR/certs): made on first start (a CA, then one
 * certificate per process and one for the CLI), topped up with a certificate for each process
 * added since (more chunk servers). Existing certificates are left alone: rotation is
 * `basalt certs rotate --dir DIR/certs`.
 */
export async function ensureLocalCerts(file: ClusterFile, log: (line: string) => void): Promise<ClusterTls> {
  const dir = join(file.dir, 'certs');
  if (!existsSync(certPaths(dir).ca)) {
    await initCa(dir, `Basalt local cluster CA (${file.dir})`);
    log(`created a cluster CA in ${dir} (back up ${certPaths(dir).caKey}: whoever holds it can join the cluster as anyone)`);
  }
  const wanted = [...file.metad.map((m) => localIdentity.metad(m.id)), ...file.chunkd.map((c) => localIdentity.chunkd(c.id)), localIdentity.agent, localIdentity.admin];
  for (const id of wanted) {
    if (!existsSync(tlsFilesOf(dir, id).cert)) await issueInto(dir, id, localHosts);
  }
  return { dir, ...tlsFilesOf(dir, localIdentity.admin) };
}

/** The process flags for `identity`: its TLS files, or --insecure when the cluster has none. */
export function tlsArgs(tls: ClusterTls | undefined, identity: Identity): string[] {
  if (tls === undefined) return ['--insecure'];
  const f: TlsFiles = tlsFilesOf(tls.dir, identity);
  return ['--tls-ca', f.ca, '--tls-cert', f.cert, '--tls-key', f.key];
}

/** The environment the CLI finds its credentials in (for the agent: its own identity). */
export function tlsEnv(tls: ClusterTls | undefined, identity: Identity): Record<string, string> {
  if (tls === undefined) return {};
  const f = tlsFilesOf(tls.dir, identity);
  return { BASALT_TLS_CA: f.ca, BASALT_TLS_CERT: f.cert, BASALT_TLS_KEY: f.key };
}
