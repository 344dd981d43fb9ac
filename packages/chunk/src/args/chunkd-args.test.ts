import { describe, expect, it } from 'vitest';
import { parseChunkdArgs } from './chunkd-args.js';

const base = ['--id', 'cs1', '--zone', 'a', '--data-dir', '/tmp/x', '--listen', '127.0.0.1:0', '--insecure'];

describe('chunkd flags of repair and scrub', () => {
  it('reads the repair bandwidth, scrub interval and scrub rate as whole numbers', () => {
    const o = parseChunkdArgs([...base, '--repair-bandwidth', '0', '--scrub-interval-ms', '250', '--scrub-rate', '1048576']);
    expect(o).toMatchObject({ repairBandwidthBytesPerSec: 0, scrubIntervalMs: 250, scrubRateBytesPerSec: 1048576 });
  });

  it('leaves them unset (the limits defaults apply) when not given', () => {
    const o = parseChunkdArgs(base);
    expect(o.repairBandwidthBytesPerSec).toBeUndefined();
    expect(o.scrubIntervalMs).toBeUndefined();
    expect(o.scrubRateBytesPerSec).toBeUndefined();
  });

  it('refuses sizes with units and fractions, saying what is allowed', () => {
    expect(() => parseChunkdArgs([...base, '--repair-bandwidth', '64MiB'])).toThrow(/--repair-bandwidth must be a whole number of bytes per second/);
    expect(() => parseChunkdArgs([...base, '--scrub-interval-ms', '1.5'])).toThrow(/--scrub-interval-ms must be a whole number of milliseconds/);
  });
});

describe('chunkd --direct-writes', () => {
  it('takes members or off, and leaves it unset (chunkd\'s default) when not given', () => {
    expect(parseChunkdArgs([...base, '--direct-writes', 'off']).directWrites).toBe('off');
    expect(parseChunkdArgs([...base, '--direct-writes', 'members']).directWrites).toBe('members');
    expect(parseChunkdArgs(base).directWrites).toBeUndefined();
  });

  it('refuses anything else, saying what is allowed', () => {
    expect(() => parseChunkdArgs([...base, '--direct-writes', 'all'])).toThrow(/--direct-writes must be members or off, got "all"/);
  });
});
