import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetwork, type NetnsHost, type NetnsNetwork } from './netns.js';

const port = 7000;
/** Long enough for a loaded machine to connect; a dropped SYN never completes, so failure = timeout. */
const reachMs = 10_000;
const unreachMs = 1_500;

/** Node one-liners run inside namespaces; each exits 0 on success and 2 on timeout. */
const echoServer = `require('net').createServer((s) => s.pipe(s)).listen(${port}, process.argv[1], () => console.log('ready'))`;
const tcpProbe = `const s = require('net').connect(${port}, process.argv[1]);
setTimeout(() => process.exit(2), Number(process.argv[2]));
s.on('connect', () => s.write('ping')); s.on('data', (d) => { process.stdout.write(d); process.exit(0); }); s.on('error', () => process.exit(3));`;
const udpReceiver = `const s = require('dgram').createSocket('udp4');
setTimeout(() => process.exit(2), Number(process.argv[2]));
s.on('message', (m) => { process.stdout.write(m); process.exit(0); }); s.bind(${port}, process.argv[1], () => console.log('ready'));`;
const udpSender = `const s = require('dgram').createSocket('udp4'); let n = 0;
const t = setInterval(() => { s.send('hello', ${port}, process.argv[1]); if (++n === 40) { clearInterval(t); s.close(); } }, 50);`;

/** Runs a probe inside `from`; returns its exit code and output. */
function probe(network: NetnsNetwork, from: NetnsHost, script: string, args: string[]): { code: number; out: string } {
  const [cmd, argv] = network.wrap(from, process.execPath, ['-e', script, ...args]);
  try {
    return { code: 0, out: execFileSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 }) };
  } catch (err) {
    return { code: (err as { status: number }).status, out: '' };
  }
}

async function startInNs(network: NetnsNetwork, host: NetnsHost, script: string, args: string[]): Promise<ChildProcess> {
  const [cmd, argv] = network.wrap(host, process.execPath, ['-e', script, ...args]);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  expect(chunk.toString()).toContain('ready');
  return child;
}

function connectFromRoot(ip: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port, timeout: timeoutMs });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(false));
  });
}

describe('network namespaces for test hosts', () => {
  let network: NetnsNetwork;
  let server: ChildProcess;
  let h1: NetnsHost, h2: NetnsHost, h3: NetnsHost;

  beforeAll(async () => {
    network = await createNetwork({ hosts: 3 });
    [h1, h2, h3] = network.hosts as [NetnsHost, NetnsHost, NetnsHost];
    server = await startInNs(network, h1, echoServer, [h1.ip]);
  });

  afterAll(async () => {
    server?.kill('SIGKILL');
    await network?.destroy();
  });

  it('gives every host its own address on one subnet', () => {
    const ips = network.hosts.map((h) => h.ip);
    expect(new Set(ips).size).toBe(3);
    const shown = execFileSync(...network.wrap(h2, 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']), { encoding: 'utf8' });
    expect(shown).toContain(`inet ${h2.ip}/24`);
    expect(network.rootIp).toMatch(/^10\.231\.\d+\.254$/);
  });

  it('carries TCP between namespaces and from the test process', async () => {
    expect(probe(network, h2, tcpProbe, [h1.ip, String(reachMs)])).toEqual({ code: 0, out: 'ping' });
    expect(await connectFromRoot(h1.ip, reachMs)).toBe(true);
  });

  it('a full partition drops traffic both ways between the groups only, and heal restores it', async () => {
    await network.partition([[h1], [h2]]);
    expect(network.cuts().sort()).toEqual([`${h1.ip}->${h2.ip}`, `${h2.ip}->${h1.ip}`].sort());
    expect(probe(network, h2, tcpProbe, [h1.ip, String(unreachMs)]).code).toBe(2);
    expect(probe(network, h3, tcpProbe, [h1.ip, String(reachMs)]).code).toBe(0);
    expect(await connectFromRoot(h1.ip, reachMs)).toBe(true);
    await network.heal();
    expect(network.cuts()).toEqual([]);
    expect(probe(network, h2, tcpProbe, [h1.ip, String(reachMs)]).code).toBe(0);
  });

  it('a one-way cut drops datagrams in one direction only', async () => {
    await network.cutOneWay(h2, h3);
    const blocked = await startInNs(network, h3, udpReceiver, [h3.ip, String(unreachMs * 2)]);
    probe(network, h2, udpSender, [h3.ip]);
    const [blockedCode] = (await once(blocked, 'exit')) as [number];
    expect(blockedCode).toBe(2);
    const open = await startInNs(network, h2, udpReceiver, [h2.ip, String(reachMs)]);
    probe(network, h3, udpSender, [h2.ip]);
    const [openCode] = (await once(open, 'exit')) as [number];
    expect(openCode).toBe(0);
    await network.heal();
  });

  it('isolate can cut a host off from the test process too', async () => {
    await network.isolate(h1, { fromRoot: true });
    expect(await connectFromRoot(h1.ip, unreachMs)).toBe(false);
    expect(probe(network, h3, tcpProbe, [h1.ip, String(unreachMs)]).code).toBe(2);
    await network.heal();
    expect(await connectFromRoot(h1.ip, reachMs)).toBe(true);
  });

  it('a new network sweeps away the namespaces and link of a test process that died without cleaning up', async () => {
    // A child builds a network, reports its prefix, and is killed -9 (its exit hook never runs).
    const script = `const { createNetwork } = await import(${JSON.stringify(new URL('./netns.ts', import.meta.url).pathname)});
      const n = await createNetwork({ hosts: 1 }); console.log('ready ' + n.prefix); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
    const prefix = /ready (\S+)/.exec(chunk.toString())![1]!;
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).toContain(`${prefix}-h1`);
    expect(execFileSync('ip', ['link', 'show'], { encoding: 'utf8' })).toContain(`alias ${prefix}`);
    const next = await createNetwork({ hosts: 1 });
    await next.destroy();
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(prefix);
    expect(execFileSync('ip', ['link', 'show'], { encoding: 'utf8' })).not.toContain(prefix);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).toContain(`${network.prefix}-h1`);
  });

  it('destroy removes every namespace and link it created and nothing else', async () => {
    const other = await createNetwork({ hosts: 1 });
    const before = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    expect(before).toContain(`${other.prefix}-h1`);
    expect(before).toContain(`${network.prefix}-h1`);
    expect(execFileSync('ip', ['link', 'show'], { encoding: 'utf8' })).toContain(`alias ${other.prefix}`);
    await other.destroy();
    const after = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    expect(after).not.toContain(other.prefix);
    expect(after).toContain(`${network.prefix}-h1`);
    expect(execFileSync('ip', ['link', 'show'], { encoding: 'utf8' })).not.toContain(other.prefix);
  });
});
