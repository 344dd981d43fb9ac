import { describe, expect, it } from 'vitest';
import { parseSize } from './args.js';
import { parsePeers } from './commands/meta.js';
import { main } from './main.js';
import { captureIo as io } from './testing/index.js';

describe('basalt CLI', () => {
  it('prints help listing every command group', async () => {
    const o = io();
    expect(await main(['help'], o)).toBe(0);
    for (const c of ['basalt meta start', 'basalt meta members', 'basalt volume create', 'basalt volume ls', 'basalt status']) expect(o.stdout).toContain(c);
  });

  it('prints the code and message of a usage error and exits 2', async () => {
    const o = io();
    expect(await main(['frobnicate'], o)).toBe(2);
    expect(o.stderr).toMatch(/^error BASALT_INVALID_ARGUMENT: unknown command "frobnicate"/);
    const flags = io();
    expect(await main(['volume', 'ls', '--bogus'], flags)).toBe(2);
    expect(flags.stderr).toContain('BASALT_INVALID_ARGUMENT');
  });

  it('asks for a cluster when neither --metad nor BASALT_METAD is given, with --json output too', async () => {
    const o = io();
    expect(await main(['volume', 'ls', '--json'], o)).toBe(2);
    expect(JSON.parse(o.stdout)).toMatchObject({ error: { code: 'BASALT_INVALID_ARGUMENT' } });
    expect(o.stderr).toContain('--metad');
  });

  it('parses sizes in binary and decimal units', () => {
    expect(parseSize('4096', 'x')).toBe(4096);
    expect(parseSize('64MiB', 'x')).toBe(64 * 2 ** 20);
    expect(parseSize('64M', 'x')).toBe(64 * 2 ** 20);
    expect(parseSize('10GiB', 'x')).toBe(10 * 2 ** 30);
    expect(parseSize('1TB', 'x')).toBe(10 ** 12);
    expect(() => parseSize('1.5B', 'x')).toThrow(/size/);
    expect(() => parseSize('ten', 'x')).toThrow(/size/);
  });

  it('parses --peers and refuses duplicates and bad addresses', () => {
    expect([...parsePeers('m1=127.0.0.1:1,m2=h:2')]).toEqual([['m1', '127.0.0.1:1'], ['m2', 'h:2']]);
    expect(() => parsePeers('m1=127.0.0.1:1,m1=127.0.0.1:2')).toThrow(/twice/);
    expect(() => parsePeers('m1')).toThrow(/id=host:port/);
    expect(() => parsePeers('m1=nope')).toThrow(/host:port/);
  });
});
