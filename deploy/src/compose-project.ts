import type { ComposeFile, ComposeService } from './compose.js';
import { podman, podmanOk } from './podman.js';

/**
 * Runs the services of deploy/compose.yaml with plain `podman run`, for tests and for hosts without a
 * compose tool: same image, commands, environment, memory limits, named volumes and internal
 * network. Every resource is named `<prefix>-<name>` and labelled `basalt-project=<prefix>`, so
 * cleanup() removes exactly what this project created. Published ports and non-internal networks
 * are left out: they would touch the host's ports; reach services from inside their network.
 */
export class ComposeProject {
  private readonly label: string;
  private readonly volumes = new Set<string>();
  private readonly networks = new Set<string>();

  constructor(
    readonly prefix: string,
    readonly compose: ComposeFile,
  ) {
    this.label = `basalt-project=${prefix}`;
  }

  container(service: string): string {
    return `${this.prefix}-${service}`;
  }

  /** Creates the internal networks and the named volumes (each once). */
  async create(): Promise<void> {
    for (const [name, net] of Object.entries(this.compose.networks)) {
      if (net.internal !== true || this.networks.has(name)) continue;
      await podmanOk(['network', 'create', '--internal', '--label', this.label, `${this.prefix}-${name}`]);
      this.networks.add(name);
    }
    for (const name of Object.keys(this.compose.volumes)) {
      if (this.volumes.has(name)) continue;
      await podmanOk(['volume', 'create', '--label', this.label, `${this.prefix}-${name}`]);
      this.volumes.add(name);
    }
  }

  /** `podman run` arguments for one service (after `run -d`). */
  runArgs(name: string): string[] {
    const s = this.service(name);
    const args = ['--name', this.container(name), '--label', this.label, '--hostname', s.hostname];
    // As with compose: the service name is the container's DNS name on each of its networks.
    for (const net of s.networks.filter((n) => this.networks.has(n))) args.push('--network', `${this.prefix}-${net}`, '--network-alias', name);
    for (const v of s.volumes ?? []) args.push('--volume', `${this.prefix}-${v}`);
    for (const [k, v] of Object.entries(s.environment)) args.push('--env', `${k}=${v}`);
    args.push('--memory', s.mem_limit, '--stop-timeout', String(parseInt(s.stop_grace_period, 10)));
    return [...args, s.image, ...s.command];
  }

  async start(name: string): Promise<void> {
    await podmanOk(['run', '--detach', ...this.runArgs(name)]);
  }

  /**
   * Stops (SIGTERM, then SIGKILL after the grace period) and removes a service's container, with the
   * anonymous volume podman made for the image's VOLUME when no named volume is mounted there (the
   * agent's); named volumes stay.
   */
  async remove(name: string): Promise<void> {
    await podmanOk(['rm', '--force', '--volumes', '--time', String(parseInt(this.service(name).stop_grace_period, 10)), this.container(name)]);
  }

  async kill(name: string): Promise<void> {
    await podmanOk(['kill', '--signal', 'KILL', this.container(name)]);
  }

  /** Runs `basalt ...args` inside a service's container. */
  exec(name: string, args: readonly string[], timeoutMs = 60_000): ReturnType<typeof podman> {
    return podman(['exec', this.container(name), 'basalt', ...args], timeoutMs);
  }

  async isRunning(name: string): Promise<boolean> {
    const r = await podman(['inspect', '--format', '{{.State.Running}}', this.container(name)]);
    return r.code === 0 && r.stdout.trim() === 'true';
  }

  /** Removes this project's containers, then its networks and volumes; only those with its label. */
  async cleanup(): Promise<void> {
    const ids = (await podman(['ps', '--all', '--quiet', '--filter', `label=${this.label}`])).stdout.split('\n').filter((l) => l !== '');
    if (ids.length > 0) await podman(['rm', '--force', '--time', '0', '--volumes', ...ids]);
    for (const net of this.networks) await podman(['network', 'rm', '--force', `${this.prefix}-${net}`]);
    for (const vol of this.volumes) await podman(['volume', 'rm', '--force', `${this.prefix}-${vol}`]);
    this.networks.clear();
    this.volumes.clear();
  }

  private service(name: string): ComposeService {
    const s = this.compose.services[name];
    if (s === undefined) throw new Error(`compose.yaml has no service "${name}" (it has ${Object.keys(this.compose.services).join(', ')})`);
    return s;
  }
}
