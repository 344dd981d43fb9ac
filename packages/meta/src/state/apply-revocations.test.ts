import { describe, expect, it } from 'vitest';
import { ErrorCode } from '@basalt/stdx';
import { decodeCommand, encodeCommand } from './command-codec.js';
import { MetaState } from './meta-state.js';

describe('revokeCertificate', () => {
  it('adds a serial once, keeps the list sorted, and survives a snapshot', () => {
    const state = MetaState.empty();
    const before = state.hash();
    expect(state.apply({ type: 'revokeCertificate', serial: 'BEEF' })).toEqual({ ok: true, value: { serials: ['BEEF'] } });
    expect(state.apply({ type: 'revokeCertificate', serial: '1A2B' })).toEqual({ ok: true, value: { serials: ['1A2B', 'BEEF'] } });
    expect(state.apply({ type: 'revokeCertificate', serial: 'BEEF' })).toEqual({ ok: true, value: { serials: ['1A2B', 'BEEF'] } });
    expect(state.revokedCount()).toBe(2);
    expect(state.hash()).not.toBe(before);
    const restored = MetaState.decodeSnapshot(state.encodeSnapshot());
    expect(restored.revokedSerials()).toEqual(['1A2B', 'BEEF']);
    expect(restored.hash()).toBe(state.hash());
  });

  it('a state without revocations encodes as before (no "revoked" field)', () => {
    expect(new TextDecoder().decode(MetaState.empty().encodeSnapshot())).not.toContain('revoked');
  });

  it('refuses a serial that is not normalized hex', () => {
    const state = MetaState.empty();
    for (const serial of ['', '0ABC', 'abc', 'AB:CD', 'G1', 'A'.repeat(41)]) {
      const r = state.apply({ type: 'revokeCertificate', serial });
      expect(r.ok ? 'ok' : r.error.code, serial).toBe(ErrorCode.InvalidArgument);
    }
    expect(state.revokedCount()).toBe(0);
  });

  it('round-trips through the log codec', () => {
    const cmd = { type: 'revokeCertificate', serial: 'ABCDEF' } as const;
    expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
  });
});
