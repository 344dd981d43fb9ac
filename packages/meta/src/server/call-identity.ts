import type { ServerDuplexStream, ServerUnaryCall } from '@grpc/grpc-js';
import { identityFromSubjectAltName, insecureIdentity, type Identity } from '@basalt/stdx';

/**
 * The identity of the peer of one gRPC call: what its TLS certificate says, or `insecureIdentity`
 * (an admin) on a plaintext listener. The one place metad turns a call into an Identity;
 * authorization (state/authz.ts) starts from it. A certificate without one Basalt identity throws
 * BASALT_UNAUTHENTICATED.
 */
export function callIdentity(call: ServerUnaryCall<unknown, unknown> | ServerDuplexStream<unknown, unknown>): Identity {
  const cert = call.getAuthContext().sslPeerCertificate;
  return cert === undefined ? insecureIdentity : identityFromSubjectAltName(cert.subjectaltname);
}
