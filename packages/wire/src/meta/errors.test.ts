import { Metadata, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { BasaltError, ErrorCode } from '@basalt/stdx';
import { fromGrpcError, toGrpcError } from './errors.js';
import { parseEndpoints, parseHostPort, parseSocketAddress } from './endpoints.js';

function asServiceError(s: ReturnType<typeof toGrpcError>): ServiceError {
  return Object.assign(new Error(s.details), { code: s.code!, details: s.details!, metadata: s.metadata! });
}

describe('errors over gRPC', () => {
  it('carries the code, details and the leader hint through trailers', () => {
    const err = new BasaltError(ErrorCode.NotLeader, 'not the leader', { leaderId: 'm2', leaderAddress: '127.0.0.1:7002', term: 4 });
    const s = toGrpcError(err);
    expect(s.code).toBe(status.FAILED_PRECONDITION);
    const back = fromGrpcError(asServiceError(s), '127.0.0.1:7001');
    expect(back.code).toBe(ErrorCode.NotLeader);
    expect(back.message).toBe('not the leader');
    expect(back.details).toMatchObject({ leaderId: 'm2', leaderAddress: '127.0.0.1:7002', term: 4, address: '127.0.0.1:7001' });
  });

  it('carries details with any Unicode or control characters (grpc-js refuses them in metadata)', () => {
    const name = 'é\u0000\u007f😀\ud800';
    const s = toGrpcError(new BasaltError(ErrorCode.InvalidArgument, `bad volume name ${name}`, { name }));
    const back = fromGrpcError(asServiceError(s), '127.0.0.1:7001');
    expect(back.code).toBe(ErrorCode.InvalidArgument);
    expect(back.details.name).toBe(name);
  });

  it('maps transport failures without a Basalt code to UNAVAILABLE, TIMEOUT or IO', () => {
    const plain = (code: status): ServiceError => Object.assign(new Error('x'), { code, details: 'x', metadata: new Metadata() });
    expect(fromGrpcError(plain(status.UNAVAILABLE), 'a:1').code).toBe(ErrorCode.Unavailable);
    expect(fromGrpcError(plain(status.DEADLINE_EXCEEDED), 'a:1').code).toBe(ErrorCode.Timeout);
    expect(fromGrpcError(plain(status.INTERNAL), 'a:1').code).toBe(ErrorCode.Io);
  });

  it('turns an unknown code from a newer server into BASALT_IO rather than trusting it', () => {
    const md = new Metadata();
    md.set('basalt-code', 'BASALT_FROM_THE_FUTURE');
    const e = fromGrpcError(Object.assign(new Error('y'), { code: status.ABORTED, details: 'y', metadata: md }), 'a:1');
    expect(e.code).toBe(ErrorCode.Io);
  });
});

describe('endpoints', () => {
  it('parses host:port lists and refuses bad ones with INVALID_ARGUMENT', () => {
    expect(parseEndpoints('127.0.0.1:7001, localhost:7002,127.0.0.1:7001')).toEqual(['127.0.0.1:7001', 'localhost:7002']);
    expect(parseHostPort('[::1]:80')).toEqual({ host: '[::1]', port: 80 });
    expect(parseSocketAddress('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseSocketAddress('127.0.0.1:80')).toEqual({ host: '127.0.0.1', port: 80 });
    for (const bad of ['', 'host', 'host:0', 'host:70000', 'a b:1']) {
      expect(() => parseEndpoints(bad)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }) as Error);
    }
  });
});
