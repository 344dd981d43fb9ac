import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { limits } from '@basalt/stdx';
import { MetaClient, type TransportSecurity } from '@basalt/wire';
import type { MetaHandlers } from '../meta-api.js';
import type { RaftHost } from '../raft-host.js';
import { page } from './view/html.js';
import type { PageFrame } from './view/html.js';
import { clusterPage, messagePage, serversPage, volumePage, volumesPage } from './view/pages.js';
import { AgentSampler } from './agent-sampler.js';
import { clusterSnapshot, volumeSnapshot } from './snapshots.js';

export interface ConsoleOptions {
  host: RaftHost;
  /** host:port to serve on; port 0 picks a free one. */
  listen: { host: string; port: number };
  cluster: string;
  /** host:port of agents' /metrics, sampled for the per-volume I/O charts. */
  scrape: readonly string[];
  /** Secures the console's calls to members. */
  security: TransportSecurity;
  log: (line: string) => void;
}

/** A running console: its bound address, and late wiring of the Meta API it reads through. */
export interface MetaConsole {
  readonly address: string;
  /** The handlers the pages read through (set once metad has built them). */
  serve(handlers: MetaHandlers): void;
  close(): Promise<void>;
}

type Route = { kind: 'cluster' | 'servers' | 'volumes'; nav: string } | { kind: 'volume'; nav: string; name: string };

/**
 * The read-only web console (docs/console.md). Only the leader renders pages: it reads through
 * the same handlers as the Meta API, so what the console shows is what `basalt status` shows. Any
 * other member answers 307 to the leader's console (found with a Status call to the leader), or
 * 503 while no leader is known.
 */
export async function startConsole(options: ConsoleOptions): Promise<MetaConsole> {
  const { host } = options;
  let handlers: MetaHandlers | undefined;
  const members = new MetaClient({ endpoints: [host.status().address], security: options.security, callTimeoutMs: limits.consoleCallTimeoutMs, attemptTimeoutMs: limits.consoleCallTimeoutMs });
  const sampler = new AgentSampler(options.scrape, options.log);
  const leaderConsole = new Map<string, string>();

  const respond = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://console');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end('the console is read-only\n');
      return;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    const route = routeOf(url.pathname);
    const fragment = url.searchParams.has('fragment');
    const frame = (title: string, nav: string): PageFrame => ({ title, nav, refreshMs: limits.consoleRefreshMs });
    const send = (status: number, title: string, nav: string, main: string): void => {
      const body = fragment ? main : page(frame(title, nav), main);
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
    };
    if (route === undefined) {
      send(404, 'Not found', '', messagePage('Not found', `There is no page at ${url.pathname}. The pages are /, /servers, /volumes and /volumes/NAME.`));
      return;
    }
    const status = host.status();
    if (status.role !== 'leader' || handlers === undefined) {
      const target = status.leaderId === '' ? undefined : await consoleOf(status.leaderId, status.leaderAddress);
      if (target !== undefined) {
        res.writeHead(307, { location: `http://${target}${url.pathname}${url.search}`, 'cache-control': 'no-store' }).end();
        return;
      }
      send(503, 'No leader', route.nav, messagePage('No leader', `Member ${status.id} is not the leader and knows no leader's console; this page retries by itself.`));
      return;
    }
    const h = handlers;
    if (route.kind === 'volume') {
      const snap = await volumeSnapshot(h, route.name, sampler);
      if (snap === undefined) send(404, 'No such volume', route.nav, messagePage('No such volume', `There is no volume "${route.name}"; the volumes are listed at /volumes.`));
      else send(200, `Volume ${route.name}`, route.nav, volumePage(snap));
      return;
    }
    const snap = await clusterSnapshot(h, host, members, options.cluster);
    if (route.kind === 'cluster') send(200, 'Cluster', route.nav, clusterPage(snap));
    else if (route.kind === 'servers') send(200, 'Chunk servers', route.nav, serversPage(snap));
    else send(200, 'Volumes', route.nav, volumesPage(snap));
  };

  /** The console address of the leader, asked of the leader once per leader. */
  const consoleOf = async (leaderId: string, leaderAddress: string): Promise<string | undefined> => {
    const known = leaderConsole.get(leaderId);
    if (known !== undefined) return known;
    try {
      const reply = await members.call('status', {}, { address: leaderAddress, timeoutMs: limits.consoleCallTimeoutMs });
      if (reply.consoleAddress === '') return undefined;
      leaderConsole.set(leaderId, reply.consoleAddress);
      return reply.consoleAddress;
    } catch {
      return undefined;
    }
  };

  const server: Server = createServer((req, res) => {
    respond(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`console error: ${(err as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => resolve());
  });
  const bound = server.address();
  const address = typeof bound === 'object' && bound !== null ? `${options.listen.host}:${bound.port}` : '';
  sampler.start(() => host.status().role === 'leader');
  return {
    address,
    serve: (h) => {
      handlers = h;
    },
    close: async () => {
      sampler.stop();
      members.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function routeOf(path: string): Route | undefined {
  if (path === '/') return { kind: 'cluster', nav: '/' };
  if (path === '/servers') return { kind: 'servers', nav: '/servers' };
  if (path === '/volumes') return { kind: 'volumes', nav: '/volumes' };
  const m = /^\/volumes\/([^/]+)$/.exec(path);
  if (m === null) return undefined;
  try {
    return { kind: 'volume', nav: '/volumes', name: decodeURIComponent(m[1]!) };
  } catch {
    return undefined;
  }
}
