import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { SecureContext } from 'node:tls';
import { ErrorCode, isBasaltError, limits } from '@basalt/stdx';
import { SocketBatch } from '@basalt/wire';
import {
  ByteQueue, Negotiation, OPTION_HEADER_BYTES, Rep, decodeClientFlags, decodeOptionHeader, encodeGreeting,
} from '../protocol/index.js';
import type { NegotiationConfig, OpenRequest, OptionHeader, OptionOutcome, VolumeSummary } from '../protocol/index.js';
import type { BlockDevice, VolumeProvider } from '../block-device.js';
import type { DevicePool } from './device-pool.js';
import type { AgentMetrics } from './metrics.js';
import { Transmission } from './transmission.js';
import { TransmissionReads } from './transmission-reads.js';

/** What a connection needs from its server. */
export type ConnectionEnv = {
  id: string;
  provider: VolumeProvider;
  pool: DevicePool;
  metrics: AgentMetrics;
  negotiation: NegotiationConfig;
  tls: { context: SecureContext; requestCert: boolean } | undefined;
  /** Where a plain connection's transmission phase reads what is not a WRITE payload read in place (TransmissionReads). */
  readStaging: Buffer;
  log: (message: string) => void;
};

type State = 'flags' | 'option-header' | 'option-data' | 'busy' | 'transmission' | 'closing';

/**
 * One NBD client connection: the handshake, then the transmission phase. `pump` consumes whole
 * messages from `queue` for the current state. Invariants: at most one option is answered at a
 * time (state 'busy' while it is); once 'closing', nothing more is parsed or answered.
 */
export class NbdConnection {
  private socket: Socket;
  private readonly queue = new ByteQueue();
  private state: State = 'flags';
  private negotiator: Negotiation | undefined;
  private optionHeader: OptionHeader | undefined;
  /** The handshake's outcome was counted (abort, refusal or transmission). */
  private handshakeEnded = false;
  private transmission: Transmission | undefined;
  private readonly handshakeTimer: NodeJS.Timeout;
  private readonly onData = (chunk: Buffer): void => {
    this.queue.push(chunk);
    // Before transmission a client waits for each reply, so more than one option's worth of
    // queued bytes is a violation; this bounds what a handshaking client can make us hold.
    if (this.state !== 'transmission' && this.queue.length > limits.nbdOptionBytesMax + OPTION_HEADER_BYTES) {
      this.hardClose('client sent too much during the handshake');
      return;
    }
    this.pump();
  };
  private readonly onClose = (): void => void this.finish();
  /** Resolves when the socket is gone and every device operation of this connection has ended. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  constructor(socket: Socket, private readonly env: ConnectionEnv) {
    this.socket = socket;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    socket.setNoDelay(true);
    this.attach(socket);
    this.handshakeTimer = setTimeout(() => this.hardClose('handshake timed out'), limits.nbdHandshakeTimeoutMs);
    socket.write(encodeGreeting());
  }

  /** Ends the connection now (server shutdown or protocol violation). */
  hardClose(reason: string): void {
    if (this.state !== 'closing') this.env.log(`nbd connection ${this.env.id}: closing: ${reason}`);
    this.state = 'closing';
    this.socket.destroy();
  }

  private attach(socket: Socket): void {
    this.socket = socket;
    socket.on('data', this.onData);
    socket.on('error', (err) => this.env.log(`nbd connection ${this.env.id}: ${err.message}`));
    socket.on('close', this.onClose);
  }

  private detach(socket: Socket): void {
    socket.off('data', this.onData);
    socket.off('close', this.onClose);
  }

  private async finish(): Promise<void> {
    clearTimeout(this.handshakeTimer);
    this.state = 'closing';
    if (this.transmission !== undefined) {
      // A device whose close fails (its volume thread died, metad unreachable) must not keep the connection from ending.
      await this.transmission.shutdown().catch((err: unknown) => this.env.log(`nbd connection ${this.env.id}: releasing the volume failed: ${String(err)}`));
    } else if (!this.handshakeEnded) this.env.metrics.handshake('failed');
    this.resolveClosed();
  }

  private pump(): void {
    while (this.state !== 'closing' && this.step()) {
      // each step consumed one message
    }
  }

  /** Handles one message if enough bytes are queued; returns whether to look for another. */
  private step(): boolean {
    switch (this.state) {
      case 'flags':
        return this.readClientFlags();
      case 'option-header':
        return this.readOptionHeader();
      case 'option-data':
        return this.readOptionData();
      case 'transmission':
        return this.transmission!.step(this.queue);
      default:
        return false;
    }
  }

  private readClientFlags(): boolean {
    if (this.queue.length < 4) return false;
    const flags = decodeClientFlags(this.queue.take(4));
    if (flags === undefined) {
      this.hardClose('client flags not acceptable (a bit this server did not offer)');
      return false;
    }
    this.negotiator = new Negotiation(this.env.negotiation, flags);
    this.state = 'option-header';
    return true;
  }

  private readOptionHeader(): boolean {
    if (this.queue.length < OPTION_HEADER_BYTES) return false;
    const header = decodeOptionHeader(this.queue.take(OPTION_HEADER_BYTES));
    if (header === undefined || header.length > limits.nbdOptionBytesMax) {
      this.hardClose(header === undefined ? 'bad option magic' : `option data of ${header.length} bytes (max ${limits.nbdOptionBytesMax})`);
      return false;
    }
    this.optionHeader = header;
    this.state = 'option-data';
    return true;
  }

  private readOptionData(): boolean {
    const header = this.optionHeader!;
    if (this.queue.length < header.length) return false;
    const data = this.queue.take(header.length);
    this.state = 'busy';
    void this.answerOption(header.option, data);
    return false;
  }

  private async answerOption(option: number, data: Buffer): Promise<void> {
    let volumes: VolumeSummary[] = [];
    if (Negotiation.needsVolumes(option)) {
      try {
        volumes = await this.env.provider.list();
      } catch (err) {
        this.env.log(`nbd connection ${this.env.id}: listing volumes failed: ${String(err)}`);
        this.send([]);
        this.hardClose('cannot list volumes');
        return;
      }
    }
    if (this.state !== 'busy') return;
    await this.act(this.negotiator!.handle(option, data, volumes));
  }

  private async act(outcome: OptionOutcome): Promise<void> {
    switch (outcome.kind) {
      case 'reply':
        this.send(outcome.replies);
        return this.resumeOptions();
      case 'abort':
        this.send(outcome.replies);
        this.env.metrics.handshake('abort');
        this.handshakeEnded = true;
        this.state = 'closing';
        this.socket.end();
        return;
      case 'starttls':
        this.send(outcome.replies);
        return this.startTls();
      case 'close':
        this.env.metrics.handshake('refused');
        this.handshakeEnded = true;
        return this.hardClose(outcome.reason);
      case 'open':
        return this.open(outcome.volume, outcome.request);
    }
  }

  private resumeOptions(): void {
    if (this.state !== 'busy') return;
    this.state = 'option-header';
    this.pump();
  }

  private startTls(): void {
    const tls = this.env.tls;
    if (tls === undefined || this.queue.length > 0) {
      this.hardClose('bytes pipelined after NBD_OPT_STARTTLS');
      return;
    }
    const raw = this.socket;
    this.detach(raw);
    const secure = new TLSSocket(raw, { isServer: true, secureContext: tls.context, requestCert: tls.requestCert, rejectUnauthorized: tls.requestCert });
    this.attach(secure);
    secure.once('secure', () => this.resumeOptions());
  }

  /**
   * The size a new connection is told: read again, since the volume may have grown while it was
   * open for other connections; the last known size when that fails (the connection still works).
   */
  private async currentSize(volume: string, device: BlockDevice): Promise<number> {
    if (device.refreshSize === undefined) return device.sizeBytes;
    try {
      return await device.refreshSize();
    } catch (err) {
      this.env.log(`nbd connection ${this.env.id}: ${volume}: size not refreshed, using ${device.sizeBytes} bytes: ${String(err)}`);
      return device.sizeBytes;
    }
  }

  private async open(volume: string, request: OpenRequest): Promise<void> {
    let device;
    try {
      device = await this.env.pool.acquire(volume);
    } catch (err) {
      this.env.log(`nbd connection ${this.env.id}: open ${volume}: ${String(err)}`);
      return this.act(this.negotiator!.failOpen(request, refusalFor(err), openFailureMessage(volume, err)));
    }
    const sizeBytes = await this.currentSize(volume, device);
    if (this.state !== 'busy') {
      await this.env.pool.release(volume);
      return;
    }
    const { replies, context } = this.negotiator!.completeOpen(request, { name: volume, sizeBytes }, this.env.negotiation.readOnly);
    clearTimeout(this.handshakeTimer);
    this.send(replies);
    this.env.metrics.handshake('transmission');
    this.handshakeEnded = true;
    // Replies that complete in one callback (with the promise jobs it starts) go out in one writev,
    // right after it (SocketBatch). Only from here on: the socket is final now (STARTTLS cannot follow), so no corked bytes can
    // outlive a socket swap.
    const batch = SocketBatch.bounded(this.socket);
    this.transmission = new Transmission(context, device, {
      id: this.env.id,
      metrics: this.env.metrics,
      send: (buffers, sent) => {
        batch.write(buffers, sent);
      },
      pause: () => this.socket.pause(),
      resume: () => {
        this.socket.resume();
        this.pump();
      },
      end: () => batch.end(),
      close: (reason) => this.hardClose(reason),
      release: () => this.env.pool.release(volume),
      log: this.env.log,
    });
    this.state = 'transmission';
    // A STARTTLS connection (a TLSSocket around the accepted one) keeps reading 'data' events.
    if (!(this.socket instanceof TLSSocket)) new TransmissionReads(this.queue, this.transmission, this.env.readStaging, () => this.pump()).adopt(this.socket, this.onData);
    this.pump();
  }

  /** Writes one handshake message (header and payload) in one go, now. */
  private send(buffers: Buffer[]): void {
    if (this.socket.destroyed || buffers.length === 0) return;
    if (buffers.length === 1) {
      this.socket.write(buffers[0]!);
      return;
    }
    this.socket.cork();
    for (const b of buffers) this.socket.write(b);
    this.socket.uncork();
  }
}

/** NBD_REP_ERR_UNKNOWN for a volume that does not exist; NBD_REP_ERR_POLICY for one this agent may not open (another tenant's, a held lease). */
function refusalFor(err: unknown): number {
  if (isBasaltError(err, ErrorCode.VolumeNotFound)) return Rep.ErrUnknown;
  return Rep.ErrPolicy;
}

function openFailureMessage(volume: string, err: unknown): string {
  if (isBasaltError(err, ErrorCode.LeaseConflict)) {
    return `volume ${volume} is attached read-write elsewhere (its writer lease is held); attach read-only or force a takeover`;
  }
  if (isBasaltError(err, ErrorCode.PermissionDenied)) {
    return `this agent's identity may not open volume ${volume} (${ErrorCode.PermissionDenied}: it belongs to another tenant, or the agent's role does not allow it)`;
  }
  return `cannot open volume ${volume}: ${err instanceof Error ? err.message : String(err)}`;
}
