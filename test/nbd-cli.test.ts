/**
 * `basalt agent`: flag validation, and the agent process core (startNbdAgent) serving NBD and
 * /metrics together. `basalt agent` as a process in front of a real cluster: nbd-cluster.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { MiB } from '@basalt/stdx';
import { startNbdAgent } from '@basalt/agent';
import { main } from '@basalt/cli';
import { captureIo } from '@basalt/cli/testing';
import { FileVolumeStore, httpGet, runOk, tempDir } from './nbd-support.js';
import { requireCommands } from './lib/process.js';

async function basalt(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await main(argv, io);
  return { code, out: io.stdout, err: io.stderr };
}

describe('basalt agent', () => {
  it('refuses inconsistent flags with the rule that was broken', async () => {
    const cases: [string[], RegExp][] = [
      [['--tls-required', '--metad', '127.0.0.1:1'], /--tls-required and --tls-ca need --tls-cert and --tls-key/],
      [['--tls-cert', 'x.pem', '--metad', '127.0.0.1:1'], /--tls-cert and --tls-key go together/],
      [['--tls-cert', '/nonexistent.pem', '--tls-key', '/nonexistent.key', '--metad', '127.0.0.1:1'], /--tls-cert \/nonexistent.pem: ENOENT/],
      [['--read-only', '--force-takeover', '--metad', '127.0.0.1:1'], /makes no sense with --read-only/],
      [['--listen', 'nowhere', '--metad', '127.0.0.1:1'], /--listen/],
      [['--metrics-port', '70000', '--metad', '127.0.0.1:1'], /--metrics-port must be an integer from 0 to 65535/],
      [['--write-cache', 'always', '--metad', '127.0.0.1:1'], /--write-cache must be one of writethrough, auto, writeback, got "always"/],
      [['--volume-thread', 'yes', '--metad', '127.0.0.1:1'], /--volume-thread must be one of off, on, got "yes"/],
      [[], /--metad/],
    ];
    for (const [argv, message] of cases) {
      const r = await basalt('agent', ...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toMatch(message);
    }
  });

  it('startNbdAgent serves NBD and Prometheus metrics side by side', async () => {
    requireCommands('qemu-io');
    const tmp = tempDir('nbd-cli');
    const store = new FileVolumeStore(tmp.dir);
    store.create('v', 4 * MiB);
    const agent = await startNbdAgent({ provider: store.provider(), listen: { host: '127.0.0.1', port: 0 }, metricsPort: 0, readOnly: false, forceTakeover: false, tls: undefined, writeCache: 'writethrough', log: () => {} });
    try {
      await runOk('qemu-io', ['-f', 'raw', `nbd://127.0.0.1:${agent.nbd.port}/v`, '-c', 'write -P 7 0 1M', '-c', 'read -P 7 0 1M']);
      const text = await httpGet(`http://127.0.0.1:${agent.metrics!.port}/metrics`);
      expect(text).toMatch(/basalt_nbd_bytes_total\{volume="v",op="write"\} 1048576/);
      expect(text).toMatch(/basalt_nbd_bytes_total\{volume="v",op="read"\} 1048576/);
      expect(text).toMatch(/basalt_nbd_handshakes_total\{outcome="transmission"\} 1/);
      expect(text).toContain('process_cpu_seconds_total');
    } finally {
      await agent.close();
      tmp.cleanup();
    }
  });
});
