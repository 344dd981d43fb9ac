import type { Budget, Endpoint } from './topology.js';
import { agentArgs, budgets, chunkdArgs, chunkServers, dataDir, image, metaMembers, metadArgs, names, nodeOptions, ports } from './topology.js';

/**
 * deploy/compose.yaml: 3 metad, 3 chunkd (one zone each) and one agent on one internal network, each
 * stateful service on its own named volume. Only the agent's NBD port is published, on the host's
 * loopback, through a second (non-internal) network: nothing else is reachable from outside.
 */

export const internalNetwork = 'basalt';
export const edgeNetwork = 'edge';

export interface ComposeService {
  image: string;
  hostname: string;
  command: string[];
  environment: Record<string, string>;
  volumes?: string[];
  /** Networks by name (the list form: podman-compose 1.0 rejects the mapping form); the service name is the DNS alias. */
  networks: string[];
  ports?: string[];
  depends_on?: string[];
  restart: 'unless-stopped';
  stop_grace_period: string;
  mem_limit: string;
}

export interface ComposeFile {
  name: string;
  services: Record<string, ComposeService>;
  networks: Record<string, { internal?: boolean }>;
  volumes: Record<string, Record<string, never>>;
}

function service(name: string, command: string[], budget: Budget, volume: boolean): ComposeService {
  return {
    image,
    hostname: name,
    command,
    environment: { BASALT_METRICS_PORT: String(ports.metrics), NODE_OPTIONS: nodeOptions(budget) },
    ...(volume && { volumes: [`${name}:${dataDir}`] }),
    networks: [internalNetwork],
    restart: 'unless-stopped',
    stop_grace_period: '30s',
    mem_limit: `${budget.memoryMiB}m`,
  };
}

export function composeFile(): ComposeFile {
  const metas: Endpoint[] = names('metad', metaMembers).map((id) => ({ id, host: id, port: ports.meta }));
  const chunks: Endpoint[] = names('chunkd', chunkServers).map((id) => ({ id, host: id, port: ports.chunk }));
  const services: Record<string, ComposeService> = {};
  for (const m of metas) services[m.id] = service(m.id, metadArgs(m, metas), budgets.meta, true);
  chunks.forEach((c, i) => {
    services[c.id] = { ...service(c.id, chunkdArgs(c, `zone-${i}`, metas), budgets.chunk, true), depends_on: metas.map((m) => m.id) };
  });
  const agent = service('agent', agentArgs(`0.0.0.0:${ports.nbd}`, metas), budgets.agent, false);
  services.agent = {
    ...agent,
    networks: [...agent.networks, edgeNetwork],
    ports: [`127.0.0.1:${ports.nbd}:${ports.nbd}`],
    depends_on: chunks.map((c) => c.id),
  };
  const volumes: Record<string, Record<string, never>> = {};
  for (const e of [...metas, ...chunks]) volumes[e.id] = {};
  return { name: 'basalt', services, networks: { [internalNetwork]: { internal: true }, [edgeNetwork]: {} }, volumes };
}
