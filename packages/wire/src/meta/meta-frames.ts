import { BasaltError, ErrorCode, limits } from '@basalt/stdx';
import { FrameSplitter } from '../data/frame-splitter.js';
import { decodeMessageFrame, messageFrame } from '../data/message-frame.js';
import { pb } from './meta-service.js';

/**
 * The framed Meta API: the Meta service's calls on one TCP (or mutual-TLS) connection to a
 * member's port, as frames (magic u32, body length u32, body; FrameSplitter and SocketBatch).
 * The caller writes MetaCall frames (id, method, the request message's bytes, its timeout), the
 * member answers each with a MetaResult frame (the id, and the reply message's bytes or the
 * error's fields, errors.ts `errorFields`), in any order, many in flight. The first four bytes of
 * such a connection are the call magic, which is how metad's listener tells it from a Raft or a
 * gRPC connection.
 */
export const metaCallMagic = 0xba5a7203;
export const metaResultMagic = 0xba5a7204;
/** The ALPN name a framed Meta connection offers over TLS. */
export const metaAlpnProtocol = 'basalt-meta';

export function encodeMetaCall(call: pb.IMetaCall): Buffer[] {
  return messageFrame(metaCallMagic, pb.MetaCall.encode(call).finish());
}

export function encodeMetaResult(result: pb.IMetaResult): Buffer[] {
  return messageFrame(metaResultMagic, pb.MetaResult.encode(result).finish());
}

/** Cuts the call frames a member reads: a call is at most as large as gRPC's largest request. */
export function metaCallSplitter(): FrameSplitter {
  return new FrameSplitter(metaCallMagic, limits.raftTransportMessageBytesMax);
}

/** Cuts the result frames a caller reads: a reply is at most as large as gRPC's largest reply. */
export function metaResultSplitter(): FrameSplitter {
  return new FrameSplitter(metaResultMagic, limits.metaReplyBytesMax);
}

/** The call in a whole frame from metaCallSplitter; BASALT_PROTOCOL when the body is not one. */
export function decodeMetaCall(whole: Buffer): pb.MetaCall {
  return decodeMessageFrame(whole, (body) => pb.MetaCall.decode(body), 'Meta connection', 'call');
}

/** The result in a whole frame from metaResultSplitter; BASALT_PROTOCOL when the body is not one. */
export function decodeMetaResult(whole: Buffer): pb.MetaResult {
  return decodeMessageFrame(whole, (body) => pb.MetaResult.decode(body), 'Meta connection', 'result');
}

/** A framing error of FrameSplitter on a Meta connection, typed. */
export function metaFramingError(message: string): BasaltError {
  return new BasaltError(ErrorCode.Protocol, `Meta connection: ${message}`, {});
}
