import type { KeyObject } from 'node:crypto';
import { limits } from '@basalt/stdx';
import { parseToken, publicKeyFromRaw, verifyToken, type ExtentRef, type VerifiedToken } from '@basalt/wire';

/**
 * What a chunk server knows of metad's capabilities (docs/data-path.md, "Capabilities"): metad's
 * public keys (from the register and heartbeat replies; the newest first, at most
 * capabilityKeysMax, so a rotated key stays valid while capabilities signed with it live), this
 * server's own peer capability, and the newest signed extent state of each extent it heard of
 * (from metad's replies and from tokens clients presented), which it forwards with its writes
 * so that its members can check the epoch and set it sends.
 *
 * Capabilities are enforced once a key is known, or from the start with `required` (chunkd
 * --require-capabilities, which `basalt up` passes): then every request is refused until the
 * server has registered with a metad that signs.
 */
export class Credentials {
  private keys: KeyObject[] = [];
  private rawKeys: Buffer[] = [];
  private peerToken: Buffer | undefined;
  /** `volume/index` -> the newest signed state, and the auth list forwarded with it (built once per peer token). */
  private readonly states = new Map<string, { epoch: number; token: Buffer; auth?: readonly Buffer[]; peer?: Buffer }>();

  constructor(readonly required: boolean) {}

  get enforced(): boolean {
    return this.required || this.keys.length > 0;
  }

  /** Takes what a register or heartbeat reply carried (empty fields: metad signs nothing). */
  learn(reply: { capabilityKey?: Uint8Array | null; peerCapability?: Uint8Array | null }): void {
    const raw = reply.capabilityKey;
    if (raw != null && raw.length > 0 && !this.rawKeys.some((k) => k.equals(raw))) {
      this.rawKeys = [Buffer.from(raw), ...this.rawKeys].slice(0, limits.capabilityKeysMax);
      this.keys = this.rawKeys.map(publicKeyFromRaw);
    }
    const peer = reply.peerCapability;
    if (peer != null && peer.length > 0) this.peerToken = Buffer.from(peer);
  }

  /** Checks a presented token's signature; a verified extent state is remembered for forwarding. */
  verify(token: Buffer): VerifiedToken {
    const verified = verifyToken(token, this.keys);
    if (verified.kind === 'ok' && verified.claims.kind === 'extent') this.rememberState(token);
    return verified;
  }

  /** Remembers a signed extent state (from metad's replies, or verified) if it is the newest of its extent. */
  rememberState(token: Uint8Array | null | undefined): void {
    if (token == null || token.length === 0) return;
    const buf = Buffer.from(token);
    const parsed = parseToken(buf);
    if (parsed.kind !== 'ok' || parsed.claims.kind !== 'extent') return;
    const { volumeId, index, epoch } = parsed.claims;
    const key = `${volumeId}/${index}`;
    const known = this.states.get(key);
    if (known !== undefined && known.epoch >= epoch) return;
    this.states.delete(key);
    this.states.set(key, { epoch, token: buf });
    if (this.states.size > limits.chunkSignedStatesMax) this.states.delete(this.states.keys().next().value!);
  }

  /** metad's signed state of the extent at `epoch`, if this server holds it (a STALE_EPOCH reply carries it to the client). */
  stateAt(volumeId: number, index: number, epoch: number): Buffer | undefined {
    const state = this.states.get(`${volumeId}/${index}`);
    return state !== undefined && state.epoch === epoch ? state.token : undefined;
  }

  /**
   * The tokens a request this server sends to a member carries (DataConnection presents each
   * once per connection): its peer capability and, when known, the extent's signed state at the
   * request's epoch. The same array while neither changes, so the per-write cost is a map lookup.
   */
  peerAuth(volumeId: number, index: number, epoch: number): readonly Buffer[] | undefined {
    if (this.peerToken === undefined) return undefined;
    const state = this.states.get(`${volumeId}/${index}`);
    if (state === undefined || state.epoch !== epoch) return [this.peerToken];
    if (state.peer !== this.peerToken) {
      state.peer = this.peerToken;
      state.auth = [this.peerToken, state.token];
    }
    return state.auth;
  }

  /** The extent with peerAuth attached (for the rebuild executor's and scrubber's requests). */
  withPeerAuth(extent: ExtentRef): ExtentRef {
    if (extent.auth !== undefined) return extent;
    const auth = this.peerAuth(extent.volumeId, extent.index, extent.epoch);
    return auth === undefined ? extent : { ...extent, auth };
  }
}
