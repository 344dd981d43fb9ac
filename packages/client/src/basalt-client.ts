import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { BasaltError, ErrorCode, invalidArgument, limits } from '@basalt/stdx';
import { MetaClient, type FramePool, type TransportSecurity } from '@basalt/wire';
import type { ClientMetrics } from './client-metrics.js';
import type { AuditEntry, DegradedExtent, TenantInfo, ExtentPlacement, Lease, Member, MemberStatus, RepairStatus, ServerInfo, VolumeInfo } from './cluster-types.js';
import { ConnectionPool } from './connection-pool.js';
import { syncRevocations } from './revocation-sync.js';
import { auditEntryFromPb, degradedFromPb, tenantFromPb, memberFromPb, memberStatusFromPb, placementFromPb, repairFromPb, serverFromPb, volumeFromPb } from './from-pb.js';
import { Volume, type VolumeEvent } from './volume.js';
import { FileKeyProvider } from './crypto/file-key-provider.js';
import type { KeyProvider } from './crypto/key-provider.js';
import { newVolumeKey, volumeBlockCipher } from './crypto/volume-key.js';

export interface ConnectOptions {
  /** host:port of one or more metad members. */
  metad: readonly string[];
  /** Names this client as a lease holder; default host/pid/random. */
  clientId?: string;
  /** Timeout of one data-plane request (ms). */
  requestTimeoutMs?: number;
  /** Total time one metadata call may take across retries (ms). */
  metaTimeoutMs?: number;
  /** Failovers and bad replicas the client worked around, for logs and metrics. */
  onEvent?: (event: VolumeEvent) => void;
  /** Per-volume op metrics (ClientMetrics); none are kept without it. */
  metrics?: ClientMetrics;
  /**
   * Wraps and unwraps encrypted volumes' data keys (docs/security.md). Default: a
   * FileKeyProvider of the file BASALT_KEK_FILE names, if set; without one, encrypted volumes
   * can be neither created nor opened (BASALT_KEY_UNAVAILABLE), plaintext ones work as ever.
   */
  keyProvider?: KeyProvider;
  /**
   * Mutual TLS to metad and the chunk servers (`TransportSecurity.fromFiles({ ca, cert, key })`);
   * default plain TCP, for clusters run with --insecure.
   */
  security?: TransportSecurity;
  /**
   * Recycled memory for large replies. With it, the Buffer a plaintext read returns may be a view
   * into pooled memory; the caller may give it back (`framePool.give(data)`) once nothing reads it
   * any more, and a later read reuses it (fewer fresh 1 MiB buffers, so fewer garbage
   * collections). A buffer never given back is ordinary garbage.
   */
  framePool?: FramePool;
}

export interface OpenOptions {
  /** Take the volume's writer lease (default false: read-only). */
  writer?: boolean;
  /** With writer: take the lease even if another client holds it; that client is fenced. */
  force?: boolean;
}

export interface CreateVolumeOptions {
  sizeBytes: number;
  extentSizeBytes?: number;
  replicationFactor?: number;
  /** Encrypt every block in this client with a new data key, wrapped by the client's key provider (default false). */
  encrypt?: boolean;
  /**
   * The owning tenant. Absent: the caller's own (a client certificate's), or "default" (an
   * admin's). A client may name only its own; BASALT_QUOTA_EXCEEDED past the tenant's quotas.
   */
  tenant?: string;
}

export interface CreateTenantOptions {
  /** Quota on the sum of the tenant's volume sizes; absent or 0: none. */
  maxBytes?: number;
  /** Quota on the number of the tenant's volumes; absent or 0: none. */
  maxVolumes?: number;
}

/** Connects to a Basalt cluster. Nothing is sent until the first call. */
export function connect(options: ConnectOptions): BasaltClient {
  if (!Array.isArray(options.metad) || options.metad.length === 0) throw invalidArgument('connect() needs { metad: ["host:port", ...] } with at least one address');
  return new BasaltClient(options);
}

export interface SetLabelOptions {
  /** Compare-and-set: the label must have exactly this value now ('' means absent), else BASALT_COMPARE_FAILED. */
  expect?: string;
}

/**
 * A connection to one cluster: the whole control plane (volumes, labels, leases, chunk servers,
 * metad members, redundancy) and the data plane (openVolume). Every method throws BasaltErrors
 * with stable codes (docs/errors.md); the metad calls follow the leader and retry as MetaClient
 * does. Nothing is sent until the first call.
 */
export class BasaltClient {
  readonly clientId: string;
  private readonly meta: MetaClient;
  private readonly pool: ConnectionPool;
  private readonly stopRevocationSync: () => void;
  private readonly onEvent: (event: VolumeEvent) => void;
  private readonly metrics: ClientMetrics | undefined;
  private readonly keyProvider: KeyProvider | undefined;

  constructor(options: ConnectOptions) {
    this.clientId = options.clientId ?? `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
    if (this.clientId === '' || Buffer.byteLength(this.clientId) > limits.clientIdBytesMax) {
      throw invalidArgument(`clientId must be 1..${limits.clientIdBytesMax} bytes`);
    }
    this.meta = new MetaClient({ endpoints: options.metad, ...(options.security !== undefined && { security: options.security }), ...(options.metaTimeoutMs !== undefined && { callTimeoutMs: options.metaTimeoutMs }) });
    this.stopRevocationSync = options.security === undefined ? () => undefined : syncRevocations(this.meta, options.security);
    this.pool = new ConnectionPool(options.requestTimeoutMs ?? limits.clientRequestTimeoutMsDefault, options.security, options.framePool);
    this.onEvent = options.onEvent ?? (() => undefined);
    this.metrics = options.metrics;
    const kekFile = process.env.BASALT_KEK_FILE;
    this.keyProvider = options.keyProvider ?? (kekFile !== undefined && kekFile !== '' ? new FileKeyProvider(kekFile) : undefined);
  }

  // ---- volumes ----

  /**
   * Creates a volume (BASALT_VOLUME_EXISTS when the name is taken). With `encrypt`, a new data key
   * is wrapped for the id the volume will get (the next id, read first; if another volume took it
   * meanwhile, metad refuses and this tries again with the next one).
   */
  async createVolume(name: string, options: CreateVolumeOptions): Promise<VolumeInfo> {
    const request = { name, sizeBytes: options.sizeBytes, extentSizeBytes: options.extentSizeBytes ?? 0, replicationFactor: options.replicationFactor ?? 0, tenant: options.tenant ?? '' };
    if (options.encrypt !== true) return volumeFromPb((await this.meta.call('createVolume', request)).volume);
    for (let attempt = 1; ; attempt++) {
      const { nextVolumeId } = await this.meta.call('listVolumes', { limit: 1 });
      const volumeId = Number(nextVolumeId);
      const encryption = await newVolumeKey(this.keyProvider, { volumeId, volumeName: name });
      try {
        return volumeFromPb((await this.meta.call('createVolume', { ...request, encryption, expectedVolumeId: volumeId })).volume);
      } catch (err) {
        if (!(err instanceof BasaltError && err.code === ErrorCode.CompareFailed) || attempt >= limits.clientCreateEncryptedAttemptsMax) throw err;
      }
    }
  }

  /**
   * The volumes the caller may see, by name: a client's or an agent's own tenant's; an admin's
   * every tenant's, or only `tenant`'s.
   */
  async listVolumes(options: { limit?: number; tenant?: string } = {}): Promise<VolumeInfo[]> {
    const tenant = options.tenant ?? '';
    if (options.limit !== undefined) return (await this.meta.call('listVolumes', { limit: options.limit, tenant })).volumes.map(volumeFromPb);
    return (await this.meta.listAllVolumes({ tenant })).volumes.map(volumeFromPb);
  }

  /** One volume (BASALT_VOLUME_NOT_FOUND when there is none of that name). */
  async getVolume(name: string): Promise<VolumeInfo> {
    return volumeFromPb((await this.meta.call('getVolume', { name })).volume);
  }

  /**
   * Grows a volume to `sizeBytes` (whole extents) while it may be open and written: an open
   * Volume sees the new size at its first access past its old end, or at refreshSize(); the
   * agent's new NBD connections get it. A smaller size is refused with BASALT_SHRINK_NOT_ALLOWED;
   * with `force` it is allowed over never-written space only (still refused while any extent at or
   * past the new end holds data, with `details.firstAllocatedIndex`): a resize never discards data.
   */
  async resizeVolume(name: string, sizeBytes: number, options: { force?: boolean } = {}): Promise<VolumeInfo> {
    return volumeFromPb((await this.meta.call('resizeVolume', { name, sizeBytes, force: options.force === true })).volume);
  }

  /** Deletes a volume; `force` deletes it even while a writer holds its lease. Chunk servers reclaim its space. */
  async deleteVolume(name: string, options: { force?: boolean } = {}): Promise<void> {
    await this.meta.call('deleteVolume', { name, force: options.force === true });
  }

  /** Sets a label (value) or removes it (undefined), optionally compare-and-set. */
  async setLabel(name: string, key: string, value: string | undefined, options: SetLabelOptions = {}): Promise<VolumeInfo> {
    const reply = await this.meta.call('setVolumeLabel', { name, key, ...(value !== undefined && { value }), ...(options.expect !== undefined && { expect: options.expect }) });
    return volumeFromPb(reply.volume);
  }

  /** Where a volume's allocated extents live, by index (extents never written are not listed). */
  async extentPlacements(name: string): Promise<ExtentPlacement[]> {
    const out: ExtentPlacement[] = [];
    const { extentCount } = await this.getVolume(name);
    for (let from = 0; from < extentCount; from += limits.clientExtentMapPageExtents) {
      const reply = await this.meta.call('getExtentMap', { volume: name, fromIndex: from, count: limits.clientExtentMapPageExtents });
      out.push(...reply.extents.map(placementFromPb));
    }
    return out;
  }

  // ---- leases ----

  /**
   * Takes a volume's writer lease for `holder` without opening it (openVolume({ writer: true })
   * does this itself). BASALT_LEASE_CONFLICT when another holder has it, unless `force`, which
   * fences that holder.
   */
  async acquireLease(name: string, holder: string, options: { force?: boolean } = {}): Promise<Lease> {
    const reply = await this.meta.call('acquireLease', { volume: name, clientId: holder, force: options.force === true });
    return { holder: reply.holder === '' ? holder : reply.holder, generation: Number(reply.generation) };
  }

  /** Releases a lease taken with acquireLease (BASALT_LEASE_FENCED when another holder took it over). */
  async releaseLease(name: string, lease: Lease): Promise<void> {
    await this.meta.call('releaseLease', { volume: name, clientId: lease.holder, generation: lease.generation });
  }

  /** Opens a volume, read-only unless `writer`; a writer holds the volume's lease until close(). */
  async openVolume(name: string, options: OpenOptions = {}): Promise<Volume> {
    if (options.force === true && options.writer !== true) throw invalidArgument('force takes the writer lease: use it with { writer: true }');
    const volume = await this.getVolume(name);
    // The data key first: a client without the right KEK fails here, before it takes the lease.
    const cipher = volume.encryption === undefined ? undefined : await volumeBlockCipher(this.keyProvider, volume.encryption, { volumeId: volume.id, volumeName: volume.name });
    let lease: { clientId: string; generation: number } | undefined;
    if (options.writer === true) {
      const granted = await this.acquireLease(name, this.clientId, { force: options.force === true });
      lease = { clientId: this.clientId, generation: granted.generation };
    }
    return new Volume(volume, { meta: this.meta, pool: this.pool, lease, onEvent: this.onEvent, metrics: this.metrics, cipher });
  }

  // ---- tenants and audit ----

  /** Creates a tenant (admin only; BASALT_TENANT_EXISTS when the name is taken). */
  async createTenant(name: string, options: CreateTenantOptions = {}): Promise<TenantInfo> {
    return tenantFromPb((await this.meta.call('createTenant', { name, maxBytes: options.maxBytes ?? 0, maxVolumes: options.maxVolumes ?? 0 })).tenant);
  }

  /** Every tenant with quotas and usage, "default" first (a client or an agent: its own only). */
  async listTenants(): Promise<TenantInfo[]> {
    return (await this.meta.call('listTenants', {})).tenants.map(tenantFromPb);
  }

  /**
   * Replaces a tenant's quotas (admin only; an absent quota becomes "no limit"). A quota below the
   * tenant's usage refuses later creates and growth; no volume changes.
   */
  async setTenantQuota(name: string, options: CreateTenantOptions): Promise<TenantInfo> {
    return tenantFromPb((await this.meta.call('setTenantQuota', { name, maxBytes: options.maxBytes ?? 0, maxVolumes: options.maxVolumes ?? 0 })).tenant);
  }

  /** Removes a tenant (admin only): BASALT_TENANT_NOT_EMPTY while it owns a volume. */
  async deleteTenant(name: string): Promise<void> {
    await this.meta.call('deleteTenant', { name });
  }

  /** The newest audit entries at or after `sinceMs`, oldest first (admin only; at most limits.auditReplyEntriesMax). */
  async auditLog(options: { sinceMs?: number; limit?: number } = {}): Promise<AuditEntry[]> {
    return (await this.meta.call('listAudit', { sinceMs: options.sinceMs ?? 0, limit: options.limit ?? 0 })).entries.map(auditEntryFromPb);
  }

  // ---- chunk servers and redundancy ----

  async listServers(): Promise<ServerInfo[]> {
    return (await this.meta.call('listServers', {})).servers.map(serverFromPb);
  }

  /** Moves every replica off a server (copies first); `false` ends draining. */
  async drainServer(id: string, drain = true): Promise<ServerInfo> {
    return serverFromPb((await this.meta.call('drainServer', { id, drain })).server);
  }

  /** Treats a server as lost now: its replicas are rebuilt elsewhere. */
  async markServerOut(id: string): Promise<ServerInfo> {
    return serverFromPb((await this.meta.call('markServerOut', { id })).server);
  }

  /** Forgets a server (refused while it holds the only good copy of any extent). */
  async removeServer(id: string): Promise<ServerInfo> {
    return serverFromPb((await this.meta.call('removeServer', { id })).server);
  }

  /** The cluster's redundancy and repair progress (GetRepairStatus). */
  async repairStatus(): Promise<RepairStatus> {
    return repairFromPb(await this.meta.call('getRepairStatus', {}));
  }

  /** Extents below their replication factor: `total` counts all, `extents` lists up to `limit`. */
  async degradedExtents(limit = 0): Promise<{ total: number; extents: DegradedExtent[] }> {
    const reply = await this.meta.call('listDegradedExtents', { limit });
    return { total: Number(reply.total), extents: reply.extents.map(degradedFromPb) };
  }

  // ---- metad members ----

  /**
   * The status of the member at `address` (no redirect); the leader's when no address is given.
   * `stateHash` asks for the hash of its applied state (a digest of the whole state: its cost grows
   * with the number of volumes), empty otherwise.
   */
  async memberStatus(address?: string, options: { stateHash?: boolean } = {}): Promise<MemberStatus> {
    const request = { stateHash: options.stateHash === true };
    return memberStatusFromPb(await this.meta.call('status', request, address === undefined ? {} : { address, timeoutMs: limits.clientMemberStatusTimeoutMs }));
  }

  /**
   * Every member's own status: the members the cluster lists (when any member answers) plus the
   * endpoints given, so an unreachable member shows up with its error instead of a status.
   */
  async memberStatuses(endpoints: readonly string[] = [], options: { stateHash?: boolean } = {}): Promise<MemberStatus[]> {
    const addresses = new Set(endpoints);
    try {
      for (const m of (await this.meta.call('listMembers', { stale: true }, { timeoutMs: limits.clientMemberStatusTimeoutMs })).members) if (m.address) addresses.add(m.address);
    } catch {
      // No member answered: report the endpoints alone.
    }
    return Promise.all([...addresses].sort().map(async (address) => {
      try {
        return await this.memberStatus(address, options);
      } catch (err) {
        if (!(err instanceof BasaltError)) throw err;
        return { ...memberStatusFromPb({ address }), error: { code: err.code, message: err.message } };
      }
    }));
  }

  async listMembers(): Promise<Member[]> {
    return (await this.meta.call('listMembers', {})).members.map(memberFromPb);
  }

  /** Adds a member (a voter, or a learner to promote once it caught up); returns the new membership. */
  async addMember(id: string, address: string, options: { learner?: boolean } = {}): Promise<Member[]> {
    return (await this.meta.call('addMember', { id, address, learner: options.learner === true })).members.map(memberFromPb);
  }

  async removeMember(id: string): Promise<Member[]> {
    return (await this.meta.call('removeMember', { id })).members.map(memberFromPb);
  }

  async promoteMember(id: string): Promise<Member[]> {
    return (await this.meta.call('promoteMember', { id })).members.map(memberFromPb);
  }

  /** Starts a leadership transfer to voter `id`. */
  async transferLeader(id: string): Promise<void> {
    await this.meta.call('transferLeader', { id });
  }

  /** Closes connections. Close volumes first: their leases are not released here. */
  // ---- transport security ----

  /** Puts a certificate serial (hex, as `basalt certs issue` prints it) on metad's deny list; returns the whole list. */
  async revokeCertificate(serial: string): Promise<string[]> {
    return (await this.meta.call('revokeCertificate', { serial })).serials;
  }

  /** The serials of revoked certificates. */
  async revokedSerials(): Promise<string[]> {
    return (await this.meta.call('listRevocations', {})).serials;
  }

  close(): void {
    this.stopRevocationSync();
    this.pool.close();
    this.meta.close();
  }
}
