import { basalt } from '../gen/proto.js';
import { unaryMethod } from './grpc-method.js';

/** The protobuf messages of proto/raft.proto. */
export import raftpb = basalt.raft;

/** The Raft transport between metad members (proto/raft.proto). */
export const raftService = {
  send: unaryMethod('basalt.raft.Raft', 'Send', raftpb.MessageBatch, raftpb.SendAck),
} as const;
