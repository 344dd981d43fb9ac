/**
 * The fault injector of the Jepsen-style test: one fault at a time, chosen with a seeded Prng, each
 * held for a while and then repaired, until the deadline. Faults: kill -9 of a member then a restart
 * from its data dir; SIGSTOP then SIGCONT (a stopped member still completes TCP handshakes, so
 * clients hang rather than fail); a network partition (the leader or a random member cut off from
 * its peers, or one-way cuts) then heal. The clients' own links are never cut.
 */
import type { Prng } from '@basalt/stdx';

export interface NemesisCluster {
  readonly size: number;
  /** Index of the member that currently leads, if one is known. */
  leaderIndex(): Promise<number | undefined>;
  kill(index: number): Promise<void>;
  restart(index: number): Promise<unknown>;
  pause(index: number): void;
  resume(index: number): void;
  /** Cuts member `index` off from every other member, both ways. */
  isolate(index: number): Promise<void>;
  /** Drops what `from` sends to `to`. */
  cutOneWay(from: number, to: number): Promise<void>;
  heal(): Promise<void>;
}

export type FaultKind = 'kill' | 'pause' | 'isolate-leader' | 'isolate' | 'one-way';

export interface NemesisOptions {
  readonly prng: Prng;
  readonly durationMs: number;
  /** Quiet time between faults, and how long a fault is held, in ms (min, max). */
  readonly gapMs: readonly [number, number];
  readonly holdMs: readonly [number, number];
  readonly log: (line: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Nemesis {
  readonly counts: Record<FaultKind, number> = { kill: 0, pause: 0, 'isolate-leader': 0, isolate: 0, 'one-way': 0 };

  constructor(private readonly cluster: NemesisCluster, private readonly opts: NemesisOptions) {}

  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  /** Injects faults until the deadline; always leaves every member running and the network whole. */
  async run(): Promise<void> {
    const { prng } = this.opts;
    const end = performance.now() + this.opts.durationMs;
    // Rounds of every kind in a shuffled order: each kind is injected once five faults have been.
    let round: FaultKind[] = [];
    while (performance.now() < end) {
      await sleep(prng.int(...this.opts.gapMs));
      if (performance.now() >= end) break;
      if (round.length === 0) round = prng.shuffle<FaultKind>(['kill', 'pause', 'isolate-leader', 'isolate', 'one-way']);
      await this.inject(round.pop()!, prng.int(...this.opts.holdMs));
    }
  }

  private async inject(kind: FaultKind, holdMs: number): Promise<void> {
    const { prng, log } = this.opts;
    const n = this.cluster.size;
    const random = prng.int(0, n - 1);
    this.counts[kind]++;
    const at = `fault ${this.total} ${kind}`;
    switch (kind) {
      case 'kill':
        log(`${at}: kill -9 member ${random}, restart after ${holdMs} ms`);
        await this.cluster.kill(random);
        await sleep(holdMs);
        await this.cluster.restart(random);
        return;
      case 'pause':
        log(`${at}: SIGSTOP member ${random} for ${holdMs} ms`);
        this.cluster.pause(random);
        await sleep(holdMs);
        this.cluster.resume(random);
        return;
      case 'isolate-leader':
      case 'isolate': {
        const target = kind === 'isolate' ? random : ((await this.cluster.leaderIndex()) ?? random);
        log(`${at}: member ${target} cut off from its peers for ${holdMs} ms`);
        await this.cluster.isolate(target);
        await sleep(holdMs);
        await this.cluster.heal();
        return;
      }
      case 'one-way': {
        const to = (random + prng.int(1, n - 1)) % n;
        log(`${at}: member ${random} -> member ${to} dropped for ${holdMs} ms`);
        await this.cluster.cutOneWay(random, to);
        await sleep(holdMs);
        await this.cluster.heal();
        return;
      }
    }
  }
}
