/**
 * V8 flags for a chunkd process, set with `v8.setFlagsFromString` before its modules load
 * (`packages/cli/src/bin.ts` for `basalt chunk start`, `bin/chunkd.ts`).
 *
 * Every byte a chunk server receives reaches JavaScript in a fresh ArrayBuffer that Node
 * allocates (16 KiB chunks of the decrypted stream with TLS, up to 64 KiB on plain TCP; they cannot
 * be pooled), ~1 MiB of external memory per MiB written, dead as soon as its frame is assembled.
 * V8 counts external memory allocated since the last mark-compact against the old generation's
 * limit, and starts incremental marking once what is left below the limit is no more than the
 * young generation's capacity. V8 sets that limit from the live size times a growing factor it
 * lowers towards 1.1 when collections are frequent: a chunkd's limit sat 8-16 MiB above its
 * ~17 MiB of live objects, so marking started, and a mark-compact ran, every 10-20 MiB received
 * (docs/data-path.md, "Large writes: the chunk server's heap").
 *
 * `--heap-growing-percent=200` fixes the factor at 3: after a mark-compact the old generation
 * may triple before the next one, so the chunks received between two scavenges (which free them
 * and subtract them from the external count) stay below the slack. Measured: with 100, plain-TCP
 * chunk servers (64 KiB chunks, faster) still ran a mark-compact every 30-60 MiB; with 200 none,
 * and peak RSS 117-191 MiB against 120-208 before. The young generation is left to grow: pinned
 * at 1 MiB semi-spaces it was scavenged so often that small requests cost 20-60 % more CPU.
 */
export const chunkdHeapFlags = '--heap-growing-percent=200';
