import { BasaltError, ErrorCode } from '@basalt/stdx';

/**
 * What the CLI tells a person to do next after an error: one place that maps a stable code (and
 * its details) to the fix. A message that already names a command to run ("basalt ...", as the
 * cluster-discovery errors do) carries its own fix and gets no hint.
 */
export function errorHint(e: BasaltError): string | undefined {
  if (/"basalt [a-z]/.test(e.message)) return undefined;
  const d = e.details;
  const volume = typeof d.volume === 'string' ? d.volume : 'NAME';
  switch (e.code) {
    case ErrorCode.VolumeNotFound:
      return `list the volumes with "basalt volume list", or create this one with "basalt volume create ${volume} --size 1GiB"`;
    case ErrorCode.VolumeExists:
      return `pick another name, or look at the existing volume with "basalt volume info ${volume}"`;
    case ErrorCode.LeaseConflict: {
      const holder = typeof d.holder === 'string' ? d.holder : 'another client';
      return `${holder} holds the writer lease of ${volume}. Open it read-only, wait until that writer closes it, or take it over by adding --force `
        + `(e.g. "basalt volume write ${volume} --from FILE --force"): the old writer is fenced and its next write fails with ${ErrorCode.LeaseFenced}`;
    }
    case ErrorCode.HolderTimeout:
      return `the writer of ${volume} did not answer in time (an NBD agent or SDK writer answers within a few seconds; one opened with serveRequests: false, an old client or a stuck one does not): check it, or wait longer with --wait SECONDS`;
    case ErrorCode.NoLeaseHolder:
      return `nobody writes ${volume} now: run the command without asking a writer (e.g. "basalt volume flatten ${volume}" in the foreground)`;
    case ErrorCode.LeaseFenced:
      return `another client took over the writer lease of ${volume}; open the volume again (with --force to take it back)`;
    case ErrorCode.Unavailable:
    case ErrorCode.Timeout:
      return typeof d.address === 'string'
        ? `the server at ${d.address} did not answer: "basalt status" shows which metad members and chunk servers are down; start it again, then retry`
        : 'a server did not answer: "basalt status" shows which metad members and chunk servers are down; start them again, then retry';
    case ErrorCode.NotEnoughServers:
      return '"basalt status" lists the chunk servers and their states: start the ones that are down, add servers, or use a lower --replicas';
    case ErrorCode.NoSpace:
      return '"basalt status" shows the free space of each chunk server: delete volumes you no longer need or add a chunk server';
    case ErrorCode.ShrinkNotAllowed:
      return typeof d.firstAllocatedIndex === 'number'
        ? `extent ${d.firstAllocatedIndex} and later ones of ${volume} hold data past the new size, and a resize never discards data: copy what you keep into a new, smaller volume`
        : `volumes grow but do not shrink; "basalt volume resize ${volume} --size SIZE --force" shrinks over never-written space only`;
    case ErrorCode.Unauthenticated:
      return 'the cluster refused this certificate: use the files cluster.json names (--cluster FILE), or set BASALT_TLS_CA, BASALT_TLS_CERT and BASALT_TLS_KEY to a certificate of the cluster\'s CA that is current and not revoked ("basalt certs issue"); docs/security.md';
    case ErrorCode.ReadOnly:
      return 'this command opened the volume read-only; commands that write take the writer lease';
    case ErrorCode.QuotaExceeded: {
      const tenant = typeof d.tenant === 'string' ? d.tenant : 'TENANT';
      return `"basalt tenant ls" shows the quotas and usage of ${tenant}: delete volumes it no longer needs, or ask an admin for a tenant with more room`;
    }
    case ErrorCode.TenantNotFound:
      return '"basalt tenant ls" lists the tenants; an admin creates one with "basalt tenant create NAME"';
    case ErrorCode.TenantNotEmpty:
      return `"basalt volume ls --tenant ${typeof d.tenant === 'string' ? d.tenant : 'NAME'}" lists the volumes it still owns: delete them first`;
    case ErrorCode.PermissionDenied:
      return 'the identity in your credentials may not do this (its role, or another tenant\'s volume): use credentials with the role or tenant needed';
    default:
      return undefined;
  }
}

/** "error CODE: message" and, when there is one, "  next: hint" on the line below. */
export function errorText(err: unknown): string {
  if (!(err instanceof BasaltError)) return `error: ${err instanceof Error ? err.message : String(err)}`;
  const hint = errorHint(err);
  return hint === undefined ? `error ${err.code}: ${err.message}` : `error ${err.code}: ${err.message}\n  next: ${hint}`;
}
