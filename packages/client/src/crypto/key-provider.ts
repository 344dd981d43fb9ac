/**
 * Where a volume's data key is wrapped and unwrapped: a key-encryption key (KEK) the client holds
 * and metad never sees. The file provider (file-key-provider.ts) ships; a KMS provider implements
 * the same two calls. Errors are BasaltErrors: BASALT_KEY_UNAVAILABLE (no KEK, or not the one
 * with `keyId`) and BASALT_KEY_MISMATCH (the KEK did not unwrap the key).
 */
export interface KeyProvider {
  /** Wraps a new volume's data key with the provider's current KEK, bound to `context`. */
  wrap(dataKey: Uint8Array, context: KeyContext): Promise<WrappedKey>;
  /** The data key of a volume; refused unless `wrapped` was made by wrap() with the same context. */
  unwrap(wrapped: WrappedKey, context: KeyContext): Promise<Uint8Array>;
}

/** What a wrapped key is bound to: the volume it belongs to (ids are never reused). */
export interface KeyContext {
  readonly volumeId: number;
  readonly volumeName: string;
}

/** A data key as metad stores it: the id of the KEK that wrapped it (so a KEK can be rotated) and the wrapped bytes. */
export interface WrappedKey {
  readonly keyId: string;
  readonly wrapped: Uint8Array;
}
