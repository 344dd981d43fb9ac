/**
 * V8 flags for a chunkd process, set with `v8.setFlagsFromString` before its modules load
 * (`packages/cli/src/bin.ts` for `basalt chunk start`, `bin/chunkd.ts`).
 *
 * Every byte a chunk server receives reaches JavaScript in a fresh ArrayBuffer that Node
 * allocates (16 KiB chunks of the decrypted stream with TLS, up to 64 KiB on plain TCP; they cannot
 * be pooled), ~1 MiB of external memory per MiB written, dead as soon as its frame is assembled. V8 counts
 * external memory allocated since the last mark-compact against the old generation's limit, and
 * starts incremental marking once what is left below the limit is no more than the young
 * generation's capacity. Left alone, the old generation's limit sits 8-16 MiB above a chunkd's
 * ~17 MiB of live objects and the young generation grows to 16 MiB semi-spaces: marking started
 * every 10-20 MiB received and a mark-compact ran about as often (docs/data-path.md, "Large
 * writes: the chunk server's heap"). The flags:
 *
 * - `--semi-space-growth-factor=1`: the young generation stays at its initial 1 MiB
 *   semi-spaces, so it is collected every few MiB received and frees the dead chunks with it
 *   (a scavenge subtracts freed ArrayBuffers from the external count), and it holds ~30 MiB less.
 * - `--heap-growing-percent=100`: after a mark-compact the old generation may double before the
 *   next, so the chunks received between two scavenges stay well below the slack.
 */
export const chunkdHeapFlags = '--semi-space-growth-factor=1 --heap-growing-percent=100';
