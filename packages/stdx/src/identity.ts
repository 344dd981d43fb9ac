import { BasaltError, ErrorCode } from './errors.js';

/**
 * Who is on the other end of a connection, as its certificate says. The certificate carries it as
 * one URI subject-alternative name (see `identityUri`); a process that runs without TLS
 * (`--insecure`) treats every peer as `insecureIdentity`.
 *
 * Roles: a metad member, a chunk server, an NBD agent, a client of one tenant, an administrator.
 */
export const roles = ['metad', 'chunkd', 'agent', 'client', 'admin'] as const;
export type Role = (typeof roles)[number];

export interface Identity {
  readonly role: Role;
  /** The holder's name (a member id, a server id, a user name); [a-z0-9][a-z0-9._-]*. */
  readonly name: string;
  /** The tenant a client or agent acts for; absent for cluster roles and for admins. */
  readonly tenant?: string;
}

/** Every peer of a process that runs without TLS: it can prove nothing, so it is trusted with everything. */
export const insecureIdentity: Identity = { role: 'admin', name: 'insecure' };

const uriScheme = 'basalt:';
const namePattern = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function isValidIdentityName(name: string): boolean {
  return namePattern.test(name);
}

/** `basalt:ROLE/NAME` or `basalt:ROLE/NAME@TENANT`: the certificate's URI SAN. */
export function identityUri(id: Identity): string {
  checkIdentity(id);
  return `${uriScheme}${id.role}/${id.name}${id.tenant === undefined ? '' : `@${id.tenant}`}`;
}

/** Parses `identityUri`'s output; a typed error for anything else. */
export function parseIdentityUri(uri: string): Identity {
  const bad = (): BasaltError => new BasaltError(ErrorCode.InvalidArgument, `not a Basalt identity URI: ${JSON.stringify(uri)}`, { uri });
  if (!uri.startsWith(uriScheme)) throw bad();
  const rest = uri.slice(uriScheme.length);
  const slash = rest.indexOf('/');
  if (slash < 0) throw bad();
  const role = rest.slice(0, slash);
  const [name, tenant, extra] = rest.slice(slash + 1).split('@');
  if (!(roles as readonly string[]).includes(role) || name === undefined || extra !== undefined) throw bad();
  const id: Identity = tenant === undefined ? { role: role as Role, name } : { role: role as Role, name, tenant };
  try {
    checkIdentity(id);
  } catch {
    throw bad();
  }
  return id;
}

function checkIdentity(id: Identity): void {
  const fail = (why: string): never => {
    throw new BasaltError(ErrorCode.InvalidArgument, `invalid identity: ${why}`, { role: id.role, name: id.name, tenant: id.tenant });
  };
  if (!(roles as readonly string[]).includes(id.role)) fail(`unknown role ${JSON.stringify(id.role)}`);
  if (!isValidIdentityName(id.name)) fail(`name ${JSON.stringify(id.name)} must match ${namePattern.source}`);
  if (id.tenant !== undefined && !isValidIdentityName(id.tenant)) fail(`tenant ${JSON.stringify(id.tenant)} must match ${namePattern.source}`);
  if (id.tenant !== undefined && id.role !== 'client' && id.role !== 'agent') fail(`only a client or an agent acts for a tenant, not ${id.role}`);
  if (id.role === 'client' && id.tenant === undefined) fail('a client certificate names its tenant');
}

/**
 * The identity in a peer certificate's subject alternative names, as Node's
 * `PeerCertificate.subjectaltname` renders them ("DNS:localhost, URI:basalt:chunkd/cs-1"). Exactly
 * one `URI:basalt:` entry is required; a certificate without one proves no Basalt identity.
 */
export function identityFromSubjectAltName(subjectAltName: string | undefined): Identity {
  const uris = (subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith(`URI:${uriScheme}`))
    .map((entry) => entry.slice('URI:'.length));
  if (uris.length !== 1) {
    throw new BasaltError(ErrorCode.Unauthenticated, `the peer certificate names ${uris.length} Basalt identities; exactly one is required`, { reason: 'identity', subjectAltName });
  }
  return parseIdentityUri(uris[0] as string);
}
