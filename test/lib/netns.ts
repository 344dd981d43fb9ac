/**
 * Test hosts with their own IP addresses, built from Linux network namespaces (needs root).
 *
 * Topology of one network (all names start with a per-run prefix `basalt-<pid>-<hex>`):
 *
 *   host namespaces  <prefix>-h1 .. -hN   eth0 = 10.231.S.i/24   (i = 1..N)
 *        | veth
 *   bridge namespace <prefix>-br          br0 joins every host's peer end
 *        | veth (optional, `rootAccess`)
 *   the test process's own namespace      link aliased <prefix>, 10.231.S.254/24
 *
 * The bridge lives in a namespace of its own so the host's firewall (and br_netfilter) never sees
 * the bridged traffic. The root link exists so the test process itself (clients in vitest) can
 * reach every host; cuts never touch it unless asked.
 *
 * Cuts are DROP rules in the INPUT chain of the receiving host's namespace: cutting `a -> b`
 * drops, inside b, every packet whose source is a. The full rule set of each host is rewritten
 * atomically with iptables-restore, so `heal()` is exact. Nothing outside the namespaces and the
 * one root link this module created is touched; `destroy()` (also run at process exit) removes
 * them, and `createNetwork` first sweeps networks left behind by test processes that have died.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { assert } from '@basalt/stdx';
import { requireCommands } from './process.js';

const execFileAsync = promisify(execFile);

/** The private /16 this module draws its subnets from; only ever used inside our namespaces. */
const subnetPrefix = '10.231';
const rootHostOctet = 254;
const hostsMax = 64;
const commandTimeoutMs = 30_000;
const namePattern = /^basalt-(\d+)-([0-9a-f]+)-/;

export interface NetnsHost {
  /** 1-based index; the host's address is `${subnet}.${index}`. */
  readonly index: number;
  /** The namespace's name, for `ip netns exec`. */
  readonly ns: string;
  readonly ip: string;
}

export interface CreateNetworkOptions {
  hosts: number;
  /** Give the calling process an address on the network (default true). */
  rootAccess?: boolean;
}

export interface NetnsNetwork {
  readonly prefix: string;
  readonly hosts: readonly NetnsHost[];
  /** The calling process's address on the network, or undefined without rootAccess. */
  readonly rootIp: string | undefined;
  /** `[command, args]` that run `command args` inside host's namespace (same PID: ip execs). */
  wrap(host: NetnsHost, command: string, args: readonly string[]): [string, string[]];
  /** Drops every packet from `from` arriving at `to` (one way). */
  cutOneWay(from: NetnsHost, to: NetnsHost): Promise<void>;
  /** Drops all traffic between each pair of hosts in different groups; hosts in no group are untouched. */
  partition(groups: readonly (readonly NetnsHost[])[]): Promise<void>;
  /** Cuts host off from every other host (and from the root link if `fromRoot`). */
  isolate(host: NetnsHost, options?: { fromRoot?: boolean }): Promise<void>;
  /** Removes every cut. */
  heal(): Promise<void>;
  /** Current cuts as `from->to` ip pairs, for logs. */
  cuts(): string[];
  /** Kills what still runs in the namespaces and deletes them and the root link. Idempotent. */
  destroy(): Promise<void>;
}

async function run(command: string, args: readonly string[], input?: string): Promise<string> {
  if (input === undefined) {
    const { stdout } = await execFileAsync(command, args, { timeout: commandTimeoutMs });
    return stdout;
  }
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: commandTimeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNamespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.length > 0);
}

/** Root-namespace links we created, as [ifname, alias] pairs. */
function listRootLinks(): [string, string][] {
  const links = JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string; ifalias?: string }[];
  return links.filter((l) => l.ifalias !== undefined && namePattern.test(`${l.ifalias}-`)).map((l) => [l.ifname, l.ifalias!]);
}

/** Kills the processes inside ns (all of them were started by a test through this module). */
function killNamespacePids(ns: string): void {
  const out = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  for (const pid of out.split('\n').filter((s) => s.length > 0).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Deletes namespaces and root links whose names carry `prefix`. Synchronous so it can run at exit. */
function removeByPrefix(prefix: string): void {
  // The root link first: deleting the bridge namespace would take it along silently.
  for (const [ifname, alias] of listRootLinks()) {
    if (alias === prefix) execFileSync('ip', ['link', 'delete', ifname]);
  }
  for (const ns of listNamespaces().filter((n) => n.startsWith(`${prefix}-`))) {
    killNamespacePids(ns);
    execFileSync('ip', ['netns', 'delete', ns]);
  }
}

/** Removes networks whose creating process no longer exists. */
function sweepStale(): void {
  const prefixes = new Set<string>();
  for (const name of [...listNamespaces(), ...listRootLinks().map(([, alias]) => `${alias}-`)]) {
    const m = namePattern.exec(name);
    if (m && !pidAlive(Number(m[1]))) prefixes.add(`basalt-${m[1]}-${m[2]}`);
  }
  for (const prefix of prefixes) removeByPrefix(prefix);
}

/** A third octet no root-namespace address uses yet, so our root link's route is unambiguous. */
function pickSubnetOctet(): number {
  const addrs = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
  const used = new Set([...addrs.matchAll(/inet 10\.231\.(\d+)\./g)].map((m) => Number(m[1])));
  const start = randomBytes(1)[0]! % 250;
  for (let i = 0; i < 250; i++) {
    const octet = ((start + i) % 250) + 1;
    if (!used.has(octet)) return octet;
  }
  throw new Error('netns: every 10.231.x.0/24 subnet is in use in the root namespace');
}

function rulesFor(host: NetnsHost, cuts: ReadonlySet<string>): string {
  const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'];
  for (const cut of cuts) {
    const [from, to] = cut.split('->');
    if (to === host.ip) lines.push(`-A INPUT -s ${from}/32 -j DROP`);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

async function build(prefix: string, hostCount: number, rootAccess: boolean): Promise<{ hosts: NetnsHost[]; rootIp: string | undefined }> {
  const subnet = `${subnetPrefix}.${pickSubnetOctet()}`;
  const br = `${prefix}-br`;
  await run('ip', ['netns', 'add', br]);
  await run('ip', ['-n', br, 'link', 'set', 'lo', 'up']);
  await run('ip', ['-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
  await run('ip', ['-n', br, 'link', 'set', 'br0', 'up']);
  const hosts: NetnsHost[] = [];
  for (let index = 1; index <= hostCount; index++) {
    const host = { index, ns: `${prefix}-h${index}`, ip: `${subnet}.${index}` };
    await run('ip', ['netns', 'add', host.ns]);
    await run('ip', ['link', 'add', `p${index}`, 'netns', br, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns]);
    await run('ip', ['-n', br, 'link', 'set', `p${index}`, 'master', 'br0', 'up']);
    await run('ip', ['-n', host.ns, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', host.ns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', host.ns, 'link', 'set', 'lo', 'up']);
    hosts.push(host);
  }
  if (!rootAccess) return { hosts, rootIp: undefined };
  const rootIp = `${subnet}.${rootHostOctet}`;
  const ifname = `bs${randomBytes(5).toString('hex')}`;
  await run('ip', ['link', 'add', ifname, 'type', 'veth', 'peer', 'name', 'up0', 'netns', br]);
  await run('ip', ['link', 'set', ifname, 'alias', prefix]);
  await run('ip', ['-n', br, 'link', 'set', 'up0', 'master', 'br0', 'up']);
  await run('ip', ['addr', 'add', `${rootIp}/24`, 'dev', ifname]);
  await run('ip', ['link', 'set', ifname, 'up']);
  return { hosts, rootIp };
}

/** Builds a network of `hosts` namespaces. Call `destroy()` when done (it also runs at exit). */
export async function createNetwork(options: CreateNetworkOptions): Promise<NetnsNetwork> {
  assert(Number.isInteger(options.hosts) && options.hosts >= 1 && options.hosts <= hostsMax, `hosts must be 1..${hostsMax}`);
  assert(process.getuid?.() === 0, 'network namespaces need root');
  requireCommands('ip', 'iptables-restore');
  sweepStale();
  const prefix = `basalt-${process.pid}-${randomBytes(3).toString('hex')}`;
  let destroyed = false;
  const onExit = (): void => removeByPrefix(prefix);
  process.on('exit', onExit);
  let built: Awaited<ReturnType<typeof build>>;
  try {
    built = await build(prefix, options.hosts, options.rootAccess ?? true);
  } catch (err) {
    removeByPrefix(prefix);
    process.off('exit', onExit);
    throw err;
  }
  const { hosts, rootIp } = built;
  const cutSet = new Set<string>();
  const known = (h: NetnsHost): void => assert(hosts.includes(h), `host ${h.ns} is not in network ${prefix}`);

  const apply = async (): Promise<void> => {
    assert(!destroyed, 'network destroyed');
    await Promise.all(hosts.map((h) => run('ip', ['netns', 'exec', h.ns, 'iptables-restore'], rulesFor(h, cutSet))));
  };
  const cutPair = (from: string, to: string): void => {
    if (from !== to) cutSet.add(`${from}->${to}`);
  };

  const network: NetnsNetwork = {
    prefix,
    hosts,
    rootIp,
    wrap: (host, command, args) => {
      known(host);
      return ['ip', ['netns', 'exec', host.ns, command, ...args]];
    },
    cutOneWay: async (from, to) => {
      known(from);
      known(to);
      cutPair(from.ip, to.ip);
      await apply();
    },
    partition: async (groups) => {
      groups.flat().forEach(known);
      for (const [gi, group] of groups.entries()) {
        for (const [gj, other] of groups.entries()) {
          if (gi === gj) continue;
          for (const a of group) for (const b of other) cutPair(a.ip, b.ip);
        }
      }
      await apply();
    },
    isolate: async (host, opts) => {
      known(host);
      for (const other of hosts) {
        cutPair(host.ip, other.ip);
        cutPair(other.ip, host.ip);
      }
      if (opts?.fromRoot && rootIp !== undefined) cutPair(rootIp, host.ip);
      await apply();
    },
    heal: async () => {
      cutSet.clear();
      await apply();
    },
    cuts: () => [...cutSet],
    destroy: () => {
      if (!destroyed) {
        destroyed = true;
        removeByPrefix(prefix);
        process.off('exit', onExit);
      }
      return Promise.resolve();
    },
  };
  return network;
}
