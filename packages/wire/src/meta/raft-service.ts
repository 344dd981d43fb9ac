import { basalt } from '../gen/proto.js';
import { bidiMethod, unaryMethod } from './grpc-method.js';

/** The protobuf messages of proto/raft.proto. */
export import raftpb = basalt.raft;

/** The Raft transport between metad members (proto/raft.proto): one stream per ordered pair of members. */
export const raftService = {
  stream: bidiMethod(unaryMethod('basalt.raft.Raft', 'Stream', raftpb.MessageBatch, raftpb.SendAck)),
} as const;
