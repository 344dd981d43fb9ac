import { describe, expect, it } from 'vitest';
import { ErrorCode, Prng } from '@basalt/stdx';
import { Cmd, CmdFlag, Errno } from './constants.js';
import type { TransmissionContext } from './negotiation.js';
import { checkRequest, errnoForCode } from './request-check.js';
import { decodeRequest, encodeBlockStatus, encodeRequest, planRead } from './request-codec.js';
import type { Extent, Request } from './request-codec.js';

const ctx: TransmissionContext = { volume: 'v', sizeBytes: 1 << 20, readOnly: false, transmissionFlags: 0, structuredReplies: true, allocationContextId: 1 };
const req = (type: number, offset: number, length: number, flags = 0): Request => ({ type, offset, length, flags, handle: Buffer.alloc(8) });

describe('request codec', () => {
  it('round-trips a request header, 64-bit offsets included', () => {
    const handle = Buffer.from('01234567');
    const b = encodeRequest({ flags: 5, type: Cmd.WriteZeroes, handle, offset: 2n ** 40n + 3n, length: 77 });
    expect(decodeRequest(b)).toEqual({ flags: 5, type: Cmd.WriteZeroes, handle, offset: 2 ** 40 + 3, length: 77 });
    b[0] = 0;
    expect(decodeRequest(b)).toBeUndefined();
  });

  it('keeps offsets beyond 2^53 out of range', () => {
    const b = encodeRequest({ flags: 0, type: Cmd.Read, handle: Buffer.alloc(8), offset: 2n ** 64n - 1n, length: 1 });
    const r = decodeRequest(b)!;
    expect(checkRequest(r, ctx, 1 << 25)?.errno).toBe(Errno.EINVAL);
  });
});

describe('checkRequest', () => {
  it('accepts in-range requests and refuses anything reaching past the end', () => {
    expect(checkRequest(req(Cmd.Read, 0, 1 << 20), ctx, 1 << 25)).toBeUndefined();
    expect(checkRequest(req(Cmd.Read, 1, 1 << 20), ctx, 1 << 25)?.errno).toBe(Errno.EINVAL);
    expect(checkRequest(req(Cmd.Write, (1 << 20) - 1, 2), ctx, 1 << 25)?.errno).toBe(Errno.ENOSPC);
    expect(checkRequest(req(Cmd.WriteZeroes, 1 << 20, 1), ctx, 1 << 25)?.errno).toBe(Errno.ENOSPC);
    expect(checkRequest(req(Cmd.Trim, 1 << 20, 1), ctx, 1 << 25)?.errno).toBe(Errno.EINVAL);
    expect(checkRequest(req(Cmd.Cache, 1 << 20, 1), ctx, 1 << 25)?.errno).toBe(Errno.EINVAL);
    expect(checkRequest(req(Cmd.BlockStatus, 0, 0), ctx, 1 << 25)?.errno).toBe(Errno.EINVAL);
  });

  it('refuses flags a command does not take, DF without structured replies, and oversize reads', () => {
    expect(checkRequest(req(Cmd.Write, 0, 1, CmdFlag.Df), ctx, 1 << 25)?.errno).toBe(Errno.EINVAL);
    expect(checkRequest(req(Cmd.Read, 0, 1, CmdFlag.Df), { ...ctx, structuredReplies: false }, 1 << 25)?.errno).toBe(Errno.EINVAL);
    expect(checkRequest(req(Cmd.Read, 0, 1, 1 << 9), ctx, 1 << 25)?.errno).toBe(Errno.EINVAL);
    expect(checkRequest(req(Cmd.Read, 0, 1 << 20, CmdFlag.Fua), ctx, 1 << 19)?.errno).toBe(Errno.EINVAL);
    expect(checkRequest(req(Cmd.WriteZeroes, 0, 1, CmdFlag.NoHole | CmdFlag.FastZero | CmdFlag.Fua), ctx, 1 << 25)).toBeUndefined();
    expect(checkRequest(req(99, 0, 0), ctx, 1 << 25)?.errno).toBe(Errno.EINVAL);
  });

  it('refuses every write on a read-only export with EPERM, and BLOCK_STATUS without a context', () => {
    const ro = { ...ctx, readOnly: true };
    for (const t of [Cmd.Write, Cmd.Trim, Cmd.WriteZeroes]) expect(checkRequest(req(t, 0, 1), ro, 1 << 25)?.errno).toBe(Errno.EPERM);
    expect(checkRequest(req(Cmd.Read, 0, 1), ro, 1 << 25)).toBeUndefined();
    expect(checkRequest(req(Cmd.BlockStatus, 0, 1), { ...ctx, allocationContextId: undefined }, 1 << 25)?.errno).toBe(Errno.EINVAL);
  });

  it('maps device error codes to NBD errors', () => {
    expect(errnoForCode(ErrorCode.NoSpace)).toBe(Errno.ENOSPC);
    expect(errnoForCode(ErrorCode.ReadOnly)).toBe(Errno.EPERM);
    expect(errnoForCode(ErrorCode.NotSupported)).toBe(Errno.ENOTSUP);
    expect(errnoForCode(ErrorCode.OutOfRange)).toBe(Errno.EINVAL);
    expect(errnoForCode(ErrorCode.Checksum)).toBe(Errno.EIO);
    expect(errnoForCode(undefined)).toBe(Errno.EIO);
  });
});

describe('block status and read planning', () => {
  it('merges runs, cuts them to the request and to the descriptor limit', () => {
    const extents: Extent[] = [{ lengthBytes: 100, hole: true }, { lengthBytes: 50, hole: true }, { lengthBytes: 10, hole: false }, { lengthBytes: 1000, hole: true }];
    const b = encodeBlockStatus(Buffer.alloc(8), 7, extents, 200, 100);
    expect(b.readUInt32BE(16)).toBe(4 + 3 * 8);
    expect(b.readUInt32BE(20)).toBe(7);
    const d = [0, 1, 2].map((i) => [b.readUInt32BE(24 + 8 * i), b.readUInt32BE(28 + 8 * i)]);
    expect(d).toEqual([[150, 3], [10, 0], [40, 3]]);
    const one = encodeBlockStatus(Buffer.alloc(8), 7, extents, 200, 1);
    expect(one.readUInt32BE(16)).toBe(12);
    expect(one.readUInt32BE(24)).toBe(150);
  });

  it('plans pieces that exactly cover the read for any extents', () => {
    const prng = new Prng(9);
    for (let round = 0; round < 500; round++) {
      const offset = prng.int(0, 1000);
      const length = prng.int(1, 5000);
      const extents: Extent[] = Array.from({ length: prng.int(0, 8) }, () => ({ lengthBytes: prng.int(1, 2000), hole: prng.chance(0.5) }));
      const pieces = planRead(offset, length, extents);
      let at = offset;
      for (const p of pieces) {
        expect(p.offset).toBe(at);
        expect(p.length).toBeGreaterThan(0);
        at += p.length;
      }
      expect(at).toBe(offset + length);
      for (let i = 1; i < pieces.length; i++) expect(pieces[i]!.hole).not.toBe(pieces[i - 1]!.hole);
    }
  });
});
