import { limits } from '@basalt/stdx';
import type { MetaClient, TransportSecurity } from '@basalt/wire';

/**
 * Keeps a client's deny list current: every limits.revocationRefreshMs it asks metad (any
 * member, stale read) for the revoked certificate serials and hands them to its transport
 * security, which then refuses chunk servers and metad members holding one. A failed fetch keeps
 * the list it had. Returns a function that stops it. Nothing to do for an insecure client.
 */
export function syncRevocations(meta: MetaClient, security: TransportSecurity): () => void {
  if (!security.secure) return () => undefined;
  let fetching = false;
  const timer = setInterval(() => {
    if (fetching) return;
    fetching = true;
    meta.call('listRevocations', { stale: true }).then(
      (reply) => security.setRevokedSerials(reply.serials),
      () => undefined,
    ).finally(() => (fetching = false));
  }, limits.revocationRefreshMs);
  timer.unref();
  return () => clearInterval(timer);
}
