import { open, readFile, rename, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { limits, type Identity } from '@basalt/stdx';

/** One audited operation: who, what, when, and its outcome ("ok" or an error code). */
export interface AuditEntry {
  readonly atMs: number;
  readonly role: string;
  readonly name: string;
  /** '' for callers that act for no tenant. */
  readonly tenant: string;
  /** The RPC, camelCased as the Meta service keys it. */
  readonly method: string;
  /** The volume, tenant, server or member the request named ('' when none). */
  readonly target: string;
  readonly outcome: string;
}

export function auditEntry(atMs: number, caller: Identity, method: string, target: string, outcome: string): AuditEntry {
  return { atMs, role: caller.role, name: caller.name, tenant: caller.tenant ?? '', method, target: target.slice(0, limits.auditTargetBytesMax), outcome };
}

const currentFile = 'audit.log';
const previousFile = 'audit.log.1';

/**
 * The member's audit log: JSON lines appended to `audit.log` in its data dir (written, not
 * fsynced: losing the last entries to a power cut is accepted). Bounded: once the file would pass
 * limits.auditLogFileBytesMax it becomes `audit.log.1` (replacing the one before) and a new file
 * starts, so at most two files' worth is kept. Leader-local, not replicated: each member records
 * the operations it served (docs/design-notes.md, "Audit log").
 * The file stays open, and the entries queued while a write is in progress go out in the next
 * one: an audited call costs no open and close of its own (on the leader's path of every write).
 */
export class AuditLog {
  private bytes = 0;
  private writes: Promise<void> = Promise.resolve();
  /** Lines appended but not yet handed to a write; the write queued last takes them all. */
  private pending: string[] = [];
  private file: FileHandle | undefined;

  private constructor(private readonly dir: string, private readonly log: (line: string) => void, private readonly fileBytesMax: number) {}

  /** `fileBytesMax` is limits.auditLogFileBytesMax but in tests of the rotation. */
  static async open(dir: string, log: (line: string) => void, fileBytesMax: number = limits.auditLogFileBytesMax): Promise<AuditLog> {
    const audit = new AuditLog(dir, log, fileBytesMax);
    audit.bytes = await stat(join(dir, currentFile)).then((s) => s.size, () => 0);
    return audit;
  }

  /** Queues the entry; writes happen one at a time, in order. A failed write is logged, not thrown. */
  append(entry: AuditEntry): void {
    this.pending.push(`${JSON.stringify(entry)}\n`);
    if (this.pending.length > 1) return; // a queued write that has not started yet takes it too
    this.writes = this.writes.then(() => this.writePending()).catch((err: unknown) => {
      this.log(`metad: audit log write failed: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  /** The newest `limit` entries at or after `sinceMs`, oldest first (after every queued write). */
  async list(sinceMs: number, limit: number): Promise<AuditEntry[]> {
    await this.writes;
    const entries: AuditEntry[] = [];
    for (const file of [previousFile, currentFile]) {
      const text = await readFile(join(this.dir, file), 'utf8').catch(() => '');
      for (const line of text.split('\n')) {
        const entry = parseEntry(line);
        if (entry !== undefined && entry.atMs >= sinceMs) entries.push(entry);
      }
    }
    return entries.slice(Math.max(0, entries.length - limit));
  }

  /** Resolves once every queued entry is written. */
  flushed(): Promise<void> {
    return this.writes;
  }

  /** Writes what is queued and closes the file (a later append opens it again). */
  async close(): Promise<void> {
    await this.writes;
    const file = this.file;
    this.file = undefined;
    await file?.close();
  }

  /** Writes every pending line, rotating the file where the next line would pass the bound. */
  private async writePending(): Promise<void> {
    const lines = this.pending;
    this.pending = [];
    let chunk = '';
    let chunkBytes = 0;
    for (const line of lines) {
      const size = Buffer.byteLength(line);
      if (this.bytes + chunkBytes > 0 && this.bytes + chunkBytes + size > this.fileBytesMax) {
        await this.writeChunk(chunk, chunkBytes);
        chunk = '';
        chunkBytes = 0;
        await this.rotate();
      }
      chunk += line;
      chunkBytes += size;
    }
    await this.writeChunk(chunk, chunkBytes);
  }

  private async writeChunk(chunk: string, size: number): Promise<void> {
    if (size === 0) return;
    this.file ??= await open(join(this.dir, currentFile), 'a');
    await this.file.write(chunk);
    this.bytes += size;
  }

  private async rotate(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    await file?.close();
    await rename(join(this.dir, currentFile), join(this.dir, previousFile));
    this.bytes = 0;
  }
}

/** A line of the file, or undefined for a torn or foreign one (a crash mid-append leaves a partial last line). */
function parseEntry(line: string): AuditEntry | undefined {
  if (line === '') return undefined;
  try {
    const e = JSON.parse(line) as Partial<AuditEntry>;
    const fields = [e.role, e.name, e.tenant, e.method, e.target, e.outcome];
    return typeof e.atMs === 'number' && fields.every((f) => typeof f === 'string') ? (e as AuditEntry) : undefined;
  } catch {
    return undefined;
  }
}
