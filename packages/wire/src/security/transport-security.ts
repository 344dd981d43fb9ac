import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { credentials, ServerCredentials } from '@grpc/grpc-js';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { BasaltError, ErrorCode, identityFromSubjectAltName, insecureIdentity } from '@basalt/stdx';
import type { Identity } from '@basalt/stdx';

/** Where a process finds its credentials: PEM files, reread on every reload. */
export interface TlsFiles {
  /** Trust bundle: one or more CA certificates (during a rotation, the old and the new CA). */
  readonly ca: string;
  /** This process's certificate (its URI SAN says who it is). */
  readonly cert: string;
  readonly key: string;
}

/** A gRPC server call, as far as identity goes (grpc-js 1.14: every server call has it). */
export interface CallWithAuthContext {
  getAuthContext(): { sslPeerCertificate?: tls.PeerCertificate } | undefined;
}

/** A data-plane socket as accepted or opened by a TransportSecurity. */
export type DataSocket = net.Socket | tls.TLSSocket;

/** How a listener of `createDataServer` accepts connections. */
export interface ListenerOptions {
  /** ALPN names offered over TLS, preferred first (metad's port: h2 for gRPC and the Raft transport's). */
  readonly alpnProtocols?: readonly string[];
  /** Keep a socket writable after its peer ended its side (default true, for the data protocol). */
  readonly allowHalfOpen?: boolean;
}

const minVersion = 'TLSv1.2';

/**
 * How a process secures every connection it opens or accepts: either not at all (`insecure()`,
 * every peer is `insecureIdentity`) or mutual TLS (`fromFiles`): TLS 1.3 preferred, 1.2 at least,
 * both sides present a certificate from the trust bundle, and a peer proves its Basalt identity
 * by the one `basalt:` URI SAN of its certificate.
 *
 * One instance per process, shared by its gRPC server and clients and its data-plane listener and
 * connections. `reload()` (on SIGHUP, see `reloadOnSighup`) rereads the files: listeners present
 * the new certificate and trust the new bundle from their next handshake on; live connections are
 * not touched; clients open new connections with the new material. Certificates whose serial is
 * on the deny list (`setRevokedSerials`, fed from metad) are refused at accept and at connect.
 *
 * Listeners complete the TLS handshake whatever certificate the client presents and then check
 * it (`peerIdentityOfCall`, `peerIdentityOfSocket`: verified against the bundle by TLS, not
 * revoked, with an identity), so that a refused peer learns why (BASALT_UNAUTHENTICATED) instead
 * of seeing its connection fail. Nothing is read from a connection before that check passes.
 */
export class TransportSecurity {
  private material: Material | undefined;
  private revoked: ReadonlySet<string> = new Set();
  private reloads = 0;
  private readonly grpcServerCredentials: ReloadableServerCredentials[] = [];
  private readonly dataServers = new Set<tls.Server>();
  private readonly revocationListeners = new Set<() => void>();
  /** Each gRPC call's peer certificate, once taken (certificateOfCall). */
  private readonly callCertificates = new WeakMap<CallWithAuthContext, tls.PeerCertificate | undefined>();

  private constructor(private readonly files: TlsFiles | undefined) {
    if (files !== undefined) this.material = loadMaterial(files);
  }

  static insecure(): TransportSecurity {
    return new TransportSecurity(undefined);
  }

  /** Mutual TLS with the PEM files; a typed error when one cannot be read or used. */
  static fromFiles(files: TlsFiles): TransportSecurity {
    return new TransportSecurity(files);
  }

  get secure(): boolean {
    return this.files !== undefined;
  }

  /** The credential files (undefined when insecure). */
  get tlsFiles(): TlsFiles | undefined {
    return this.files;
  }

  /** Bumped by every successful reload: clients that cache channels compare it to refresh them. */
  get generation(): number {
    return this.reloads;
  }

  /**
   * Rereads the files. On failure the old material stays in force and the error is thrown (a
   * half-written rotation must not take a process off the network).
   */
  reload(): void {
    if (this.files === undefined) return;
    const material = loadMaterial(this.files);
    this.material = material;
    this.reloads++;
    for (const c of this.grpcServerCredentials) c.update(material.options);
    for (const s of this.dataServers) s.setSecureContext(material.options);
  }

  /** Replaces the deny list: hex serial numbers (any case, with or without colons) of revoked certificates. */
  setRevokedSerials(serials: Iterable<string>): void {
    const next = new Set([...serials].map(normalizeSerial));
    const grew = [...next].some((s) => !this.revoked.has(s));
    this.revoked = next;
    if (grew) for (const l of this.revocationListeners) l();
  }

  /** Calls `listener` whenever a serial joins the deny list (to close live connections of its holder); returns a function that removes it. */
  onRevocation(listener: () => void): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
  }

  /** Whether the peer of a live data-plane socket holds a revoked certificate. */
  isRevokedPeer(socket: DataSocket): boolean {
    return socket instanceof tls.TLSSocket && this.isRevoked(socket.getPeerCertificate().serialNumber ?? '');
  }

  isRevoked(serial: string): boolean {
    return this.revoked.has(normalizeSerial(serial));
  }

  /** Throws BASALT_UNAUTHENTICATED when the certificate of this serial is revoked (checked again on every call of a connection). */
  assertNotRevoked(serial: string): void {
    if (this.isRevoked(serial)) throw unauthenticated(`the peer's certificate (serial ${serial}) is revoked`, { serial, reason: 'revoked' });
  }

  /** The serial of a secure socket's peer certificate, taken once per connection for assertNotRevoked; undefined when insecure. */
  peerSerial(socket: DataSocket): string | undefined {
    return this.material !== undefined && socket instanceof tls.TLSSocket ? socket.getPeerCertificate().serialNumber : undefined;
  }

  /** Credentials for a gRPC server (metad): reloadable, client certificates required. */
  serverCredentials(): ServerCredentials {
    const m = this.material;
    if (m === undefined) return ServerCredentials.createInsecure();
    const c = new ReloadableServerCredentials(m.options);
    this.grpcServerCredentials.push(c);
    return c;
  }

  /** Credentials for a new gRPC channel, from the current material; the server's certificate is checked against the deny list. */
  channelCredentials(): ChannelCredentials {
    const m = this.material;
    if (m === undefined) return credentials.createInsecure();
    return credentials.createFromSecureContext(m.context, { checkServerIdentity: (host, cert) => this.checkServer(host, cert) });
  }

  /**
   * The identity of the peer of a gRPC server call: `insecureIdentity` when insecure, else the
   * one its certificate proves. Throws BASALT_UNAUTHENTICATED when the certificate names no
   * identity or is revoked.
   */
  peerIdentityOfCall(call: CallWithAuthContext): Identity {
    if (this.material === undefined) return insecureIdentity;
    return this.identityOf(this.certificateOfCall(call));
  }

  /**
   * The peer certificate of a call, taken from grpc-js once per call: getPeerCertificate builds a
   * new object (with three fingerprints) each time it is asked. A connection's certificate cannot
   * change (no renegotiation), so the cached one is the peer's; revocation is still checked every
   * time.
   */
  private certificateOfCall(call: CallWithAuthContext): tls.PeerCertificate | undefined {
    if (this.callCertificates.has(call)) return this.callCertificates.get(call);
    const cert = call.getAuthContext()?.sslPeerCertificate;
    this.callCertificates.set(call, cert);
    return cert;
  }

  /** As peerIdentityOfCall, for a data-plane socket accepted by `createDataServer` or opened by `connectData`. */
  peerIdentityOfSocket(socket: DataSocket): Identity {
    if (this.material === undefined) return insecureIdentity;
    if (!(socket instanceof tls.TLSSocket)) throw unauthenticated('the connection is not TLS', {});
    if (!socket.authorized) throw unauthenticated(`the peer's certificate is not trusted: ${String(socket.authorizationError)}`, { reason: String(socket.authorizationError) });
    return this.identityOf(socket.getPeerCertificate());
  }

  /**
   * A data-plane listener. `onSocket` gets each connection once its handshake is done, with
   * `refused` set when the peer's certificate proves no identity or is revoked: the caller then
   * tells the peer why (it speaks the data protocol) and closes the socket. A peer without a
   * certificate from the trust bundle never gets that far.
   */
  createDataServer(onSocket: (socket: DataSocket, refused: BasaltError | undefined) => void, options: ListenerOptions = {}): net.Server {
    const m = this.material;
    const allowHalfOpen = options.allowHalfOpen ?? true;
    if (m === undefined) return net.createServer({ noDelay: true, allowHalfOpen }, (s) => onSocket(s, undefined));
    const alpn = options.alpnProtocols === undefined ? {} : { ALPNProtocols: [...options.alpnProtocols] };
    const server = tls.createServer({ ...m.options, ...alpn, requestCert: true, rejectUnauthorized: false, allowHalfOpen }, (socket) => {
      let refused: BasaltError | undefined;
      try {
        this.peerIdentityOfSocket(socket);
      } catch (err) {
        refused = err as BasaltError;
      }
      onSocket(socket, refused);
    });
    server.on('tlsClientError', () => undefined);
    this.dataServers.add(server);
    server.on('close', () => this.dataServers.delete(server));
    return server;
  }

  /**
   * The HTTP server of a process's /metrics page: plain HTTP, or with `tls` HTTPS under this
   * process's certificate, answering only peers whose certificate the trust bundle verifies and
   * that is not revoked (any role: a Prometheus scraper gets one from `basalt certs issue`). A
   * peer without one fails the handshake; a revoked one gets 403. Reloads with the rest.
   */
  createMetricsServer(tlsWanted: boolean, handler: http.RequestListener): http.Server {
    if (!tlsWanted) return http.createServer(handler);
    const m = this.material;
    if (m === undefined) throw new BasaltError(ErrorCode.InvalidArgument, 'metrics over TLS need the process\'s TLS files (--tls-ca, --tls-cert, --tls-key); it runs --insecure', {});
    const server = https.createServer({ ...m.options, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      try {
        this.peerIdentityOfSocket(req.socket);
      } catch (err) {
        res.writeHead(403).end(`${(err as Error).message}\n`);
        return;
      }
      handler(req, res);
    });
    server.on('tlsClientError', () => undefined);
    this.dataServers.add(server);
    server.on('close', () => this.dataServers.delete(server));
    return server;
  }

  /**
   * Opens a data-plane connection; `onReady` runs once it can carry requests (after the handshake
   * when secure, with the server's certificate checked). Errors arrive as the socket's 'error'
   * event; `transportError` turns them into BasaltErrors. With `onread` the socket reads into the
   * caller's buffers and emits no 'data' (net.connect's option, which tls.connect passes on).
   */
  connectData(host: string, port: number, onReady: () => void, alpnProtocol?: string, onread?: net.OnReadOpts): DataSocket {
    const m = this.material;
    const reads = onread === undefined ? {} : { onread };
    if (m === undefined) return net.connect({ host, port, ...reads }, onReady);
    const servername = net.isIP(host) === 0 ? host : undefined;
    const alpn = alpnProtocol === undefined ? {} : { ALPNProtocols: [alpnProtocol] };
    return tls.connect({ host, port, secureContext: m.context, ...alpn, ...reads, ...(servername !== undefined && { servername }), checkServerIdentity: (h, cert) => this.checkServer(h, cert) }, onReady);
  }

  /** Server-side TLS options for a listener of another protocol (the NBD agent's STARTTLS). */
  secureContextOptions(): tls.SecureContextOptions | undefined {
    return this.material?.options;
  }

  private identityOf(cert: tls.PeerCertificate | undefined): Identity {
    // grpc-js reports no certificate for a peer whose certificate TLS did not verify.
    if (cert === undefined || Object.keys(cert).length === 0) throw unauthenticated('the peer presented no trusted certificate (none, one from another CA, or an expired one)', {});
    this.assertNotRevoked(cert.serialNumber);
    return identityFromSubjectAltName(cert.subjectaltname);
  }

  private checkServer(host: string, cert: tls.PeerCertificate): Error | undefined {
    const mismatch = tls.checkServerIdentity(host, cert);
    if (mismatch !== undefined) return mismatch;
    try {
      this.identityOf(cert);
      return undefined;
    } catch (err) {
      return err as Error;
    }
  }
}

interface Material {
  readonly options: tls.SecureContextOptions;
  readonly context: tls.SecureContext;
}

function loadMaterial(files: TlsFiles): Material {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new BasaltError(ErrorCode.InvalidArgument, `cannot read the TLS ${what} ${path}: ${(err as Error).message}`, { path });
    }
  };
  const ca = read('CA bundle', files.ca);
  const options: tls.SecureContextOptions = { ca, cert: read('certificate', files.cert), key: read('key', files.key), minVersion };
  try {
    return { options, context: tls.createSecureContext(options) };
  } catch (err) {
    throw new BasaltError(ErrorCode.InvalidArgument, `cannot use the TLS files (${files.cert}, ${files.key}, ${files.ca}): ${(err as Error).message}`, { cert: files.cert });
  }
}

/**
 * gRPC server credentials whose certificate and trust bundle can change while the server runs:
 * grpc-js applies an update to its listening sockets with setSecureContext (new handshakes only).
 */
class ReloadableServerCredentials extends ServerCredentials {
  constructor(options: tls.SecureContextOptions) {
    super({ requestCert: true, rejectUnauthorized: false }, options);
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }

  update(options: tls.SecureContextOptions): void {
    this.updateSecureContextOptions(options);
  }
}

/** A certificate serial as the deny list holds it: hex, upper case, no colons, no leading zeros. */
export function normalizeSerial(serial: string): string {
  return serial.replace(/:/g, '').toUpperCase().replace(/^0+(?=.)/, '');
}

function unauthenticated(message: string, details: Record<string, unknown>): BasaltError {
  return new BasaltError(ErrorCode.Unauthenticated, message, details);
}

/** OpenSSL and Node codes of a TLS failure caused by a certificate (ours or the peer's), not by the network. */
const certificateErrorCodes = /^(ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|ERR_TLS_CERT)/;

/**
 * A connection failure as a BasaltError: BASALT_UNAUTHENTICATED when the TLS handshake failed over
 * a certificate (from another CA, expired, revoked, none, or a peer that does not speak TLS),
 * else BASALT_UNAVAILABLE. A BasaltError (from the revocation check) passes through.
 */
export function transportError(err: Error, address: string, what: string): BasaltError {
  if (err instanceof BasaltError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (certificateErrorCodes.test(code)) return new BasaltError(ErrorCode.Unauthenticated, `${what} ${address}: TLS handshake refused: ${err.message}`, { address, tlsCode: code });
  return new BasaltError(ErrorCode.Unavailable, `${what} ${address}: ${err.message}`, { address });
}
