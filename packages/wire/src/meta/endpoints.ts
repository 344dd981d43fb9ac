import { invalidArgument, limits } from '@basalt/stdx';

/**
 * Parses "host:port" and checks the port. Hosts are not resolved here; IPv6 literals go in
 * brackets ("[::1]:7000").
 */
export function parseHostPort(text: string, what = 'address'): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw invalidArgument(`${what} must be host:port with a port in 1..65535, got "${text}"`, { [what]: text });
  }
  return { host: match[1] as string, port };
}

/** parseHostPort for node:net and node:tls, which take an IPv6 literal without its brackets. */
export function parseSocketAddress(text: string, what = 'address'): { host: string; port: number } {
  const { host, port } = parseHostPort(text, what);
  return { host: host.replace(/^\[|\]$/g, ''), port };
}

/** Parses a comma-separated list of host:port endpoints (at least one, no duplicates). */
export function parseEndpoints(text: string, what = 'endpoints'): string[] {
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw invalidArgument(`${what} must list at least one host:port`, { [what]: text });
  if (list.length > limits.metaEndpointsMax) {
    throw invalidArgument(`${what} lists ${list.length} endpoints; at most ${limits.metaEndpointsMax} are allowed`);
  }
  for (const e of list) parseHostPort(e, what);
  return [...new Set(list)];
}
