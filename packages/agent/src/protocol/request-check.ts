import { ErrorCode } from '@basalt/stdx';
import { Cmd, CmdFlag, Errno } from './constants.js';
import type { TransmissionContext } from './negotiation.js';
import type { Request } from './request-codec.js';

/**
 * Validation of a request against the session before it touches the device. A refused request
 * gets an error reply; nothing outside [offset, offset + length) of the volume is ever touched.
 */

export type Refusal = { errno: Errno; message: string };

/** Command flags each command may carry (FUA is accepted on every command, as the spec requires). */
const allowedFlags: Record<number, number> = {
  [Cmd.Read]: CmdFlag.Fua | CmdFlag.Df,
  [Cmd.Write]: CmdFlag.Fua,
  [Cmd.Disc]: CmdFlag.Fua,
  [Cmd.Flush]: CmdFlag.Fua,
  [Cmd.Trim]: CmdFlag.Fua,
  [Cmd.Cache]: CmdFlag.Fua,
  [Cmd.WriteZeroes]: CmdFlag.Fua | CmdFlag.NoHole | CmdFlag.FastZero,
  [Cmd.BlockStatus]: CmdFlag.Fua | CmdFlag.ReqOne,
};

const writeCommands = new Set<number>([Cmd.Write, Cmd.Trim, Cmd.WriteZeroes]);

/** Returns why `req` must be refused, or undefined when it may run. */
export function checkRequest(req: Request, ctx: TransmissionContext, requestBytesMax: number): Refusal | undefined {
  const allowed = allowedFlags[req.type];
  if (allowed === undefined) return { errno: Errno.EINVAL, message: `unknown command ${req.type}` };
  if ((req.flags & ~allowed) !== 0) return { errno: Errno.EINVAL, message: `flags 0x${req.flags.toString(16)} are not valid for command ${req.type}` };
  if ((req.flags & CmdFlag.Df) !== 0 && !ctx.structuredReplies) return { errno: Errno.EINVAL, message: 'DF needs structured replies' };
  if (ctx.readOnly && writeCommands.has(req.type)) return { errno: Errno.EPERM, message: `volume ${ctx.volume} is exported read-only` };
  return checkShape(req, ctx, requestBytesMax);
}

function checkShape(req: Request, ctx: TransmissionContext, requestBytesMax: number): Refusal | undefined {
  switch (req.type) {
    case Cmd.Flush:
    case Cmd.Disc:
      return req.offset === 0 && req.length === 0 ? undefined : { errno: Errno.EINVAL, message: 'offset and length must be zero' };
    case Cmd.BlockStatus:
      if (ctx.allocationContextId === undefined) return { errno: Errno.EINVAL, message: 'no metadata context was negotiated' };
      if (req.length === 0) return { errno: Errno.EINVAL, message: 'BLOCK_STATUS of zero bytes' };
      return checkRange(req, ctx, Errno.EINVAL);
    case Cmd.Read:
    case Cmd.Write:
      if (req.length > requestBytesMax) return { errno: Errno.EINVAL, message: `length ${req.length} is above the maximum block size ${requestBytesMax}` };
      return checkRange(req, ctx, req.type === Cmd.Write ? Errno.ENOSPC : Errno.EINVAL);
    case Cmd.WriteZeroes:
      return checkRange(req, ctx, Errno.ENOSPC);
    default:
      return checkRange(req, ctx, Errno.EINVAL);
  }
}

function checkRange(req: Request, ctx: TransmissionContext, errno: Errno): Refusal | undefined {
  if (req.offset + req.length <= ctx.sizeBytes) return undefined;
  return { errno, message: `range [${req.offset}, +${req.length}) is beyond the end of ${ctx.volume} (${ctx.sizeBytes} bytes)` };
}

/** The NBD error for a failed device operation, from the BasaltError code (unknown: EIO). */
export function errnoForCode(code: string | undefined): Errno {
  switch (code) {
    case ErrorCode.OutOfRange:
    case ErrorCode.InvalidArgument:
      return Errno.EINVAL;
    case ErrorCode.NoSpace:
      return Errno.ENOSPC;
    case ErrorCode.ReadOnly:
    case ErrorCode.LeaseFenced:
    case ErrorCode.LeaseConflict:
      return Errno.EPERM;
    case ErrorCode.NotSupported:
      return Errno.ENOTSUP;
    case ErrorCode.Closed:
      return Errno.ESHUTDOWN;
    default:
      return Errno.EIO;
  }
}
