/// <reference lib="dom" />
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import axe from 'axe-core';
import puppeteer from 'puppeteer-core';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '@basalt/client';
import { TransportSecurity } from '@basalt/wire';
import { cliBin, freePortRange, freePorts, ProcessScope, repoRoot, requireCommands, runCli, runCliJson, signalPid, waitFor } from './lib/process.js';

/**
 * The operator's view of a real local cluster (`basalt up --detach`): headless Chromium opens the
 * console at the address in cluster.json, finds the members, servers and a created volume with its
 * values (extents, where they live, I/O rates sampled from the agent), passes axe-core's WCAG A/AA
 * rules on every page, and sees a killed chunk server turn `down` without a reload; `basalt top`
 * runs in a real terminal (tmux) and shows the same; the CLI names the fix of its errors.
 * Screenshots go to .test-results/console/.
 */
const chromium = '/usr/bin/chromium';
/**
 * As root Chromium needs --no-sandbox; the rest keep it off the network (no update checks, sync or
 * QUIC probes: the only addresses it may reach are the cluster's on 127.0.0.1).
 */
const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const outDir = join(repoRoot, '.test-results', 'console');
const scope = new ProcessScope();
/** A tmux server of this test's own (its socket in a temp dir), so no other tmux session is touched. */
const tmuxSocket = join(scope.tempDir('basalt-tmux'), 'socket');
const tmuxSession = 'top';
let dir: string | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  try {
    execFileSync('tmux', ['-S', tmuxSocket, 'kill-server'], { stdio: 'ignore' });
  } catch {
    // Already gone: the server exits with its last session (top quit on `q`).
  }
  if (dir !== undefined && existsSync(join(dir, 'cluster.json'))) await runCli(['down', '--dir', dir]);
  await scope.cleanup();
});

interface ClusterJson {
  console: string;
  /** basalt up's TLS files for the CLI (it runs secure by default). */
  tls: { ca: string; cert: string; key: string };
  metad: { id: string; console: string }[];
  chunkd: { id: string; pid: number }[];
  agent: { nbd: string };
}

/** The text of each cell of column `col` in the table rows, keyed by the row's data-id. */
async function column(page: Page, col: string): Promise<Record<string, string>> {
  return page.$$eval(`tr[data-id] td[data-col="${col}"]`, (cells) => Object.fromEntries(cells.map((c) => [c.parentElement!.dataset.id!, (c.textContent ?? '').trim()])));
}

/** axe-core's WCAG 2 A and AA rules (labels, headings, contrast, ...) on the page as it is. */
async function accessibilityViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: axe.source });
  return page.evaluate(async () => {
    const run = (window as unknown as { axe: typeof axe }).axe.run;
    const result = await run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
}

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-S', tmuxSocket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('the web console and basalt top', () => {
  it('show a live cluster, a volume with its values, and a chunk server going down', { timeout: 420_000 }, async () => {
    requireCommands('chromium', 'tmux', 'qemu-io');
    mkdirSync(outDir, { recursive: true });
    dir = scope.tempDir('basalt-console');
    const base = await freePortRange(41);
    const [nbd] = await freePorts(1);
    const up = await runCli(['up', '--detach', '--dir', dir, '--base-port', String(base), '--nbd-port', String(nbd)], { timeoutMs: 300_000 });
    expect(up.code, up.stderr).toBe(0);
    const file = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterJson;
    expect(file.console).toBe(`http://127.0.0.1:${base + 3}/`);
    expect(up.stdout).toContain(`console  ${file.console}`);
    const cluster = ['--cluster', join(dir, 'cluster.json')];

    await runCliJson(['volume', 'create', 'web1', '--size', '64MiB', '--extent-size', '4MiB', '--json', ...cluster]);
    await runCliJson(['volume', 'label', 'web1', 'tier', '--value', 'gold', '--json', ...cluster]);
    // 8 MiB through the NBD agent: two extents, and I/O the agent's per-volume metrics count.
    execFileSync('qemu-io', ['-f', 'raw', `nbd://${file.agent.nbd}/web1`, '-c', 'write -P 0xab 0 8M', '-c', 'flush'], { timeout: 60_000 });

    browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: chromiumArgs, timeout: 60_000 });
    const page = await browser.newPage();
    page.setDefaultTimeout(60_000);
    await page.setViewport({ width: 1100, height: 760 });

    // Any member's console sends the browser to the leader's.
    const status = await runCliJson<{ members: { id: string; role: string }[] }>(['status', '--json', ...cluster]);
    const leader = status.members.find((m) => m.role === 'leader')!.id;
    const leaderConsole = `http://${file.metad.find((m) => m.id === leader)!.console}/`;
    for (const m of file.metad) {
      await page.goto(`http://${m.console}/`);
      expect(page.url(), `the console of ${m.id}`).toBe(leaderConsole);
    }

    expect(await page.$eval('[data-field="leader"]', (e) => e.textContent)).toBe(leader);
    expect(await column(page, 'role')).toEqual(Object.fromEntries(file.metad.map((m) => [m.id, m.id === leader ? 'leader' : 'follower'])));
    expect(await page.$eval('[data-field="servers-up"]', (e) => e.textContent)).toBe('3 of 3');
    expect(await accessibilityViolations(page)).toEqual([]);

    // Server-rendered: the tables are in the HTML itself, for a browser without JavaScript.
    const plain = await (await fetch(`${file.console}volumes`)).text();
    expect(plain).toMatch(/<tr data-id="web1"><td data-col="name"><a href="\/volumes\/web1">web1<\/a><\/td><td data-col="size">64 MiB<\/td>/);

    await page.goto(`${leaderConsole}volumes`);
    expect(await column(page, 'size')).toEqual({ web1: '64 MiB' });
    expect(await column(page, 'allocated')).toEqual({ web1: '8.0 MiB (2 of 16 extents)' });
    expect(await column(page, 'replicas')).toEqual({ web1: '3' });
    expect(await column(page, 'labels')).toEqual({ web1: 'tier=gold' });
    expect(await column(page, 'degraded')).toEqual({ web1: '0' });
    expect(await accessibilityViolations(page)).toEqual([]);

    // Clicked in the page: the live update may replace the link between a lookup and a click.
    await Promise.all([page.waitForNavigation(), page.$eval('a[href="/volumes/web1"]', (a) => a.click())]);
    expect(await page.$eval('h1', (e) => e.textContent)).toBe('Volume web1');
    const replicas = await column(page, 'replicas');
    expect(Object.keys(replicas)).toEqual(['0', '1']);
    for (const text of Object.values(replicas)) expect(text.split(', ').map((r) => r.replace(/ \(up\)$/, '')).sort()).toEqual(['c1', 'c2', 'c3']);
    // The console samples the agent every few seconds: reads keep coming until an interval that
    // saw some shows its IOPS on the open page.
    await waitFor('the volume page to show IOPS above 0', async () => {
      execFileSync('qemu-io', ['-r', '-f', 'raw', `nbd://${file.agent.nbd}/web1`, '-c', 'read -P 0xab 0 1M'], { timeout: 60_000 });
      return page.evaluate(() => Array.from(document.querySelectorAll('td[data-col="iops"]')).some((c) => Number(c.textContent) > 0));
    }, { timeoutMs: 90_000, intervalMs: 1_000 });
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.screenshot({ path: join(outDir, 'volume.png'), fullPage: true });

    // basalt top in a real terminal.
    tmux('new-session', '-d', '-s', tmuxSession, '-x', '150', '-y', '30', `${process.execPath} ${cliBin} top --interval-ms 500 ${cluster.join(' ')}`);
    const screen = (): string => tmux('capture-pane', '-p', '-t', tmuxSession);
    await waitFor('basalt top to list web1 and c3 up', () => /^web1\s/m.test(screen()) && /^c3\s+zone-c\s+up\s/m.test(screen()), { timeoutMs: 30_000 });
    expect(screen()).toMatch(new RegExp(`leader ${leader} \\(term \\d+\\)\\s+servers 3/3 up\\s+volumes 1`));

    // A chunk server dies: the open servers page turns it down without a reload.
    await page.goto(`${leaderConsole}servers`);
    expect(await column(page, 'state')).toEqual({ c1: 'up', c2: 'up', c3: 'up' });
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.evaluate(() => {
      (window as unknown as { loadedOnce: boolean }).loadedOnce = true;
    });
    signalPid(file.chunkd.find((c) => c.id === 'c3')!.pid, 'SIGKILL');
    await page.waitForFunction(() => document.querySelector('tr[data-id="c3"] td[data-col="state"]')?.textContent === 'down', { timeout: 60_000 });
    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true);
    expect(await column(page, 'state')).toEqual({ c1: 'up', c2: 'up', c3: 'down' });
    await page.screenshot({ path: join(outDir, 'servers-down.png'), fullPage: true });
    expect(statSync(join(outDir, 'servers-down.png')).size).toBeGreaterThan(1000);

    await page.goto(leaderConsole);
    expect(await page.$eval('[data-field="health"]', (e) => e.textContent)).toBe('degraded');
    expect(await page.$eval('[data-field="servers-up"]', (e) => e.textContent)).toBe('2 of 3');
    // Repairs: both written extents had a copy on c3; down is not out, so they wait for it.
    await page.waitForFunction(() => document.querySelector('[data-field="repair-waiting"]')?.textContent === '2', { timeout: 30_000 });
    expect(await page.$eval('[data-field="repair-degraded"]', (e) => e.textContent)).toBe('2');
    expect(await page.$eval('[data-field="repair-rebuilding"]', (e) => e.textContent)).toBe('0');
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.screenshot({ path: join(outDir, 'cluster.png'), fullPage: true });

    await waitFor('basalt top to show c3 down', () => /^c3\s+zone-c\s+down\s/m.test(screen()), { timeoutMs: 30_000 });
    writeFileSync(join(outDir, 'top.txt'), screen());
    tmux('send-keys', '-t', tmuxSession, 'q');
    await waitFor('basalt top to quit on q', () => {
      try {
        tmux('has-session', '-t', tmuxSession);
        return false;
      } catch {
        return true;
      }
    }, { timeoutMs: 10_000 });

    // Errors that name their fix.
    const missing = await runCli(['volume', 'info', 'nope', ...cluster]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('next: list the volumes with "basalt volume list", or create this one with "basalt volume create nope --size 1GiB"');
    const client = connect({ metad: [`127.0.0.1:${base}`], clientId: 'console-test-writer', security: TransportSecurity.fromFiles(file.tls) });
    const held = await client.openVolume('web1', { writer: true });
    try {
      const image = join(dir, 'img');
      writeFileSync(image, Buffer.alloc(4096, 1));
      const busy = await runCli(['volume', 'write', 'web1', '--from', image, ...cluster]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain('next: console-test-writer holds the writer lease of web1.');
      expect(busy.stderr).toContain('"basalt volume write web1 --from FILE --force"');
    } finally {
      await held.close();
      client.close();
    }
  });
});
