import fs from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { limits } from '@basalt/stdx';
import { rawPublicKey, signingKeyFromPem, signToken } from '@basalt/wire';
import type { ExtentView } from '../state/index.js';

/**
 * metad's side of capabilities (docs/data-path.md, "Capabilities"): signs what it decided with
 * its Ed25519 key, which every member of one cluster loads from the same file (--signing-key).
 * Client capabilities expire after limits.capabilityTtlMs of the leader's wall clock; extent
 * states do not expire and are signed once per (volume, index, epoch) (a cache of the newest).
 */
export class CapabilitySigner {
  /** The raw public key chunk servers verify with (register and heartbeat replies). */
  readonly publicKey: Buffer;
  private readonly states = new Map<string, Buffer>();

  constructor(private readonly key: KeyObject, private readonly nowMs: () => number = () => Date.now()) {
    this.publicKey = rawPublicKey(key);
  }

  static fromFile(path: string): CapabilitySigner {
    return new CapabilitySigner(signingKeyFromPem(fs.readFileSync(path, 'utf8')));
  }

  /**
   * A capability for extents [0, extentCount) of a volume: read-write at `generation` for a
   * writer, else read-only; only `holder` (the caller's identity URI) may present it.
   */
  client(volumeId: number, extentCount: number, writer: boolean, generation: number, holder: string): Buffer {
    return signToken({ kind: 'client', volumeId, firstIndex: 0, endIndex: Math.max(1, extentCount), mode: writer ? 'rw' : 'ro', generation, expiresAtMs: this.nowMs() + limits.capabilityTtlMs, holder }, this.key);
  }

  /** A chunk server's capability to forward, copy and compare replicas; only `holder` (its identity URI) may present it. */
  peer(serverId: string, holder: string): Buffer {
    return signToken({ kind: 'peer', serverId, expiresAtMs: this.nowMs() + limits.capabilityTtlMs, holder }, this.key);
  }

  /** A grant to drop the blocks of snapshot `snapshotId` of a volume, which metad deleted for good. */
  dropped(volumeId: number, snapshotId: number): Buffer {
    return signToken({ kind: 'dropped', volumeId, snapshotId }, this.key);
  }

  /** The signed state of an extent: its epoch and its set, primary first. */
  extent(volumeId: number, e: ExtentView): Buffer {
    const key = `${volumeId}/${e.index}/${e.epoch}`;
    let token = this.states.get(key);
    if (token === undefined) {
      const replicas = e.replicas.map((r) => (r.rebuilding ? { serverId: r.serverId, address: r.address, rebuilding: true } : { serverId: r.serverId, address: r.address }));
      token = signToken({ kind: 'extent', volumeId, index: e.index, epoch: e.epoch, replicas }, this.key);
      this.states.set(key, token);
      if (this.states.size > limits.metaSignedStatesCachedMax) this.states.delete(this.states.keys().next().value!);
    }
    return token;
  }
}
