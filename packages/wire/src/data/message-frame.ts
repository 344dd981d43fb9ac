import { BasaltError, ErrorCode } from '@basalt/stdx';
import { framePrefixBytes } from './constants.js';

/**
 * Frames whose body is one encoded protobuf message (magic u32, body length u32, body), as the
 * Raft transport (meta/raft-frames.ts) and the framed Meta API (meta/meta-frames.ts) send them.
 * FrameSplitter cuts them on the receiving side.
 */

/** A message's bytes as the parts of one frame (the body not copied again). */
export function messageFrame(magic: number, body: Uint8Array): Buffer[] {
  const prefix = Buffer.allocUnsafe(framePrefixBytes);
  prefix.writeUInt32BE(magic, 0);
  prefix.writeUInt32BE(body.length, 4);
  return [prefix, Buffer.from(body.buffer, body.byteOffset, body.byteLength)];
}

/** The message in a whole frame; BASALT_PROTOCOL, naming `where` and `what`, when the body is not one. */
export function decodeMessageFrame<T>(whole: Buffer, parse: (body: Buffer) => T, where: string, what: string): T {
  try {
    return parse(whole.subarray(framePrefixBytes));
  } catch (err) {
    throw new BasaltError(ErrorCode.Protocol, `${where}: a ${what} that does not decode: ${(err as Error).message}`, {});
  }
}
