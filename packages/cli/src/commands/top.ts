import { limits } from '@basalt/stdx';
import type * as MetaModule from '@basalt/meta';
import type { VolumeRates, VolumeTotals } from '@basalt/meta';
import type { BasaltClient } from '@basalt/client';
import { flag, int, str } from '../args.js';
import { clusterFileOf, clusterOptions } from '../cluster.js';
import type { Command, CommandGroup, Io, ParsedArgs } from '../command.js';
import { errorText } from '../error-hints.js';
import { withClient } from '../sdk.js';
import { renderTop, type TopSnapshot } from '../top/top-view.js';

type Meta = typeof MetaModule;

/**
 * `basalt top`: volumes by IOPS and latency and chunk servers by load, refreshed in place until
 * `q` (or Ctrl-C). Rates come from the agents' /metrics (the cluster file's agent, or
 * --agent-metrics); the rest from the Meta API. Without a terminal it prints one screen.
 */
const top: Command = {
  name: '',
  summary: 'live view of volumes (by IOPS and latency) and chunk servers (by load); q quits',
  usage: '[--interval-ms N (1000)] [--agent-metrics HOST:PORT,...] [--once]',
  options: { ...clusterOptions, 'interval-ms': { type: 'string' }, 'agent-metrics': { type: 'string' }, once: { type: 'boolean' } },
  run: (args, io) => withClient(args, io, async (client) => {
    const m: Meta = await import('@basalt/meta');
    const intervalMs = int(args, 'interval-ms', 100, 600_000) ?? 1_000;
    const agents = agentMetrics(args, io);
    const rates = new m.VolumeRates(1);
    const interactive = !flag(args, 'once') && process.stdin.isTTY && process.stdout.isTTY;
    if (!interactive) {
      await sample(m, agents, rates);
      await sleep(intervalMs);
      await sample(m, agents, rates);
      io.out(`${renderTop(await snapshot(client, rates, agents), 200, 1000).join('\n')}\n`);
      return 0;
    }
    return runInteractive(io, intervalMs, async () => {
      await sample(m, agents, rates);
      return snapshot(client, rates, agents);
    });
  }),
};

/** Redraws every interval on the alternate screen until `q` or Ctrl-C; restores the terminal. */
async function runInteractive(io: Io, intervalMs: number, next: () => Promise<TopSnapshot>): Promise<number> {
  const stdin = process.stdin;
  let quit: () => void = () => undefined;
  const quitting = new Promise<void>((resolve) => (quit = resolve));
  const onKey = (key: Buffer): void => {
    if (key.includes(0x71) || key.includes(0x51) || key.includes(0x03)) quit();
  };
  stdin.setRawMode(true);
  stdin.on('data', onKey);
  stdin.resume();
  io.out('\x1b[?1049h\x1b[?25l');
  let done = false;
  void quitting.then(() => (done = true));
  try {
    while (!done) {
      let screen: string[];
      try {
        screen = renderTop(await next(), process.stdout.columns, process.stdout.rows);
      } catch (err) {
        screen = ['basalt top   q: quit', '', ...errorText(err).split('\n')];
      }
      if (done) break;
      io.out(`\x1b[H\x1b[2J${screen.join('\r\n')}`);
      await Promise.race([sleep(intervalMs), quitting]);
    }
  } finally {
    stdin.off('data', onKey);
    stdin.setRawMode(false);
    stdin.pause();
    io.out('\x1b[?25h\x1b[?1049l');
  }
  return 0;
}

function agentMetrics(args: ParsedArgs, io: Io): string[] {
  const given = str(args, 'agent-metrics');
  if (given !== undefined) return given.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const file = clusterFileOf(args, io);
  return file === undefined ? [] : [file.agent.metrics];
}

async function sample(m: Meta, agents: readonly string[], rates: VolumeRates): Promise<void> {
  const totals = new Map<string, VolumeTotals>();
  await Promise.all(agents.map(async (agent) => {
    try {
      const res = await fetch(`http://${agent}/metrics`, { signal: AbortSignal.timeout(limits.consoleCallTimeoutMs) });
      m.addNbdTotals(await res.text(), totals);
    } catch {
      // An agent that does not answer adds nothing to this sample.
    }
  }));
  rates.add(Date.now(), totals);
}

async function snapshot(client: BasaltClient, rates: VolumeRates, agents: readonly string[]): Promise<TopSnapshot> {
  const [status, servers, volumes, degraded] = await Promise.all([
    client.memberStatus(), client.listServers(), client.listVolumes({ limit: limits.volumesPageMax }), client.degradedExtents(limits.extentMapCountMax),
  ]);
  const degradedBy = new Map<string, number>();
  for (const e of degraded.extents) degradedBy.set(e.volume, (degradedBy.get(e.volume) ?? 0) + 1);
  const latest = new Map(volumes.flatMap((v) => {
    const points = rates.of(v.name);
    const last = points[points.length - 1];
    return last === undefined ? [] : [[v.name, last] as const];
  }));
  return {
    nowMs: Date.now(), leaderId: status.leaderId, term: status.term, degradedTotal: degraded.total,
    servers: servers.map((s) => ({
      id: s.id, zone: s.zone, state: s.state, capacityBytes: s.capacityBytes, freeBytes: s.freeBytes, extentCount: s.extentCount, lastHeartbeatMs: s.lastHeartbeatMs,
    })),
    volumes: volumes.map((v) => ({
      name: v.name, sizeBytes: v.sizeBytes, allocatedBytes: v.allocatedExtents * v.extentSizeBytes, writer: v.leaseHolder, degradedExtents: degradedBy.get(v.name) ?? 0,
    })),
    rates: latest,
    ratesNote: agents.length === 0 ? 'No agent metrics to sample: pass --agent-metrics HOST:PORT (or --cluster FILE) for IOPS and latency.' : '',
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export const topGroup: CommandGroup = { name: 'top', summary: 'live view in the terminal', commands: [top] };
