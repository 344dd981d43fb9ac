import { closeSync, openSync, renameSync, writeSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
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
 * An entry is written synchronously, before the call's reply leaves (a write of one line to the
 * page cache, as Node writes metad's own log lines to a file): it survives a crash of the process,
 * and an audited call costs no thread-pool round trip and no wake-up of its own (on the leader's
 * path of every write). The file stays open.
 */
export class AuditLog {
  private bytes = 0;
  private fd: number | undefined;

  private constructor(private readonly dir: string, private readonly log: (line: string) => void, private readonly fileBytesMax: number) {}

  /** `fileBytesMax` is limits.auditLogFileBytesMax but in tests of the rotation. */
  static async open(dir: string, log: (line: string) => void, fileBytesMax: number = limits.auditLogFileBytesMax): Promise<AuditLog> {
    const audit = new AuditLog(dir, log, fileBytesMax);
    audit.bytes = await stat(join(dir, currentFile)).then((s) => s.size, () => 0);
    return audit;
  }

  /** Writes the entry, rotating the file first when the line would pass the bound. A failed write is logged, not thrown. */
  append(entry: AuditEntry): void {
    const line = `${JSON.stringify(entry)}\n`;
    const size = Buffer.byteLength(line);
    try {
      if (this.bytes > 0 && this.bytes + size > this.fileBytesMax) this.rotate();
      this.fd ??= openSync(join(this.dir, currentFile), 'a');
      writeSync(this.fd, line);
      this.bytes += size;
    } catch (err) {
      this.log(`metad: audit log write failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The newest `limit` entries at or after `sinceMs`, oldest first. */
  async list(sinceMs: number, limit: number): Promise<AuditEntry[]> {
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

  /** Closes the file (a later append opens it again). */
  close(): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) closeSync(fd);
  }

  private rotate(): void {
    this.close();
    renameSync(join(this.dir, currentFile), join(this.dir, previousFile));
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
