import { BasaltError, ErrorCode, limits } from '@basalt/stdx';
import { FrameSplitter } from '../data/frame-splitter.js';
import { decodeMessageFrame, messageFrame } from '../data/message-frame.js';
import { basalt } from '../gen/proto.js';

/** The protobuf messages of proto/raft.proto. */
export import raftpb = basalt.raft;

/**
 * The Raft transport between metad members: one TCP (or mutual-TLS) connection per ordered pair
 * of members, on the member's one port, carrying frames as the data plane does (magic u32, body
 * length u32, body; FrameSplitter and SocketBatch). The sender writes MessageBatch frames; the
 * receiver answers the batches that ask with SendAck frames. The first four bytes of a
 * connection are the batch magic, which is how metad tells a Raft connection from a gRPC one
 * (an HTTP/2 client starts with "PRI ").
 */
export const raftBatchMagic = 0xba5a7201;
export const raftAckMagic = 0xba5a7202;
/** The ALPN name a Raft connection offers over TLS (the member's listener also offers h2, for gRPC). */
export const raftAlpnProtocol = 'basalt-raft';

/** A batch as the parts of one frame (the body not copied again). */
export function encodeRaftBatch(batch: raftpb.IMessageBatch): Buffer[] {
  return messageFrame(raftBatchMagic, raftpb.MessageBatch.encode(batch).finish());
}

export function encodeRaftAck(ack: raftpb.ISendAck): Buffer[] {
  return messageFrame(raftAckMagic, raftpb.SendAck.encode(ack).finish());
}

/** Cuts the batch frames a Raft receiver reads. */
export function raftBatchSplitter(): FrameSplitter {
  return new FrameSplitter(raftBatchMagic, limits.raftTransportMessageBytesMax);
}

/** Cuts the ack frames a Raft sender reads. */
export function raftAckSplitter(): FrameSplitter {
  return new FrameSplitter(raftAckMagic, limits.raftTransportMessageBytesMax);
}

/** The batch in a whole frame from raftBatchSplitter; BASALT_PROTOCOL when the body is not one. */
export function decodeRaftBatch(whole: Buffer): raftpb.MessageBatch {
  return decodeMessageFrame(whole, (body) => raftpb.MessageBatch.decode(body), 'Raft connection', 'Raft message batch');
}

/** The ack in a whole frame from raftAckSplitter; BASALT_PROTOCOL when the body is not one. */
export function decodeRaftAck(whole: Buffer): raftpb.SendAck {
  return decodeMessageFrame(whole, (body) => raftpb.SendAck.decode(body), 'Raft connection', 'Raft ack');
}

/** A framing error of FrameSplitter on a Raft connection, typed. */
export function raftFramingError(message: string): BasaltError {
  return new BasaltError(ErrorCode.Protocol, `Raft connection: ${message}`, {});
}
