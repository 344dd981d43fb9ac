import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog, auditEntry } from './audit-log.js';

const dirs: string[] = [];
const freshDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'basalt-audit-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const who = { role: 'admin' as const, name: 'ops' };

describe('the audit log', () => {
  it('keeps entries across a reopen, oldest first, filtered by time and cut to the newest', async () => {
    const dir = freshDir();
    const log = await AuditLog.open(dir, () => undefined);
    for (let i = 0; i < 5; i++) log.append(auditEntry(1000 + i, who, 'createVolume', `v${i}`, i === 3 ? 'BASALT_QUOTA_EXCEEDED' : 'ok'));
    log.close();
    const again = await AuditLog.open(dir, () => undefined);
    expect((await again.list(0, 100)).map((e) => e.target)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    expect((await again.list(1003, 100)).map((e) => [e.target, e.outcome])).toEqual([['v3', 'BASALT_QUOTA_EXCEEDED'], ['v4', 'ok']]);
    expect((await again.list(0, 2)).map((e) => e.target)).toEqual(['v3', 'v4']);
    expect(await again.list(0, 1)).toEqual([{ atMs: 1004, role: 'admin', name: 'ops', tenant: '', method: 'createVolume', target: 'v4', outcome: 'ok' }]);
    again.append(auditEntry(1005, who, 'deleteVolume', 'v0', 'ok'));
    again.close();
    expect((await (await AuditLog.open(dir, () => undefined)).list(0, 100)).map((e) => e.target)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v0']);
  });

  it('stays within two files of its bound, dropping the oldest entries', async () => {
    const dir = freshDir();
    const fileBytesMax = 2000;
    const log = await AuditLog.open(dir, () => undefined, fileBytesMax);
    for (let i = 0; i < 200; i++) log.append(auditEntry(i, who, 'deleteVolume', `volume-${i}`, 'ok'));
    const entries = await log.list(0, 1000);
    expect(readdirSync(dir).sort()).toEqual(['audit.log', 'audit.log.1']);
    for (const file of readdirSync(dir)) expect(statSync(join(dir, file)).size).toBeLessThanOrEqual(fileBytesMax);
    expect(entries.length).toBeLessThan(200);
    expect(entries.at(-1)?.target).toBe('volume-199');
    expect(entries.map((e) => e.atMs)).toEqual(entries.map((_, i) => 200 - entries.length + i));
    log.close();
  });

  it('skips a torn last line left by a crash', async () => {
    const dir = freshDir();
    const log = await AuditLog.open(dir, () => undefined);
    log.append(auditEntry(1, who, 'removeServer', 'cs-1', 'ok'));
    appendFileSync(join(dir, 'audit.log'), '{"atMs":2,"role":"adm');
    expect((await log.list(0, 10)).map((e) => e.target)).toEqual(['cs-1']);
    log.close();
  });
});
