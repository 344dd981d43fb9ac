import type { Socket } from 'node:net';
import { setAcceptedOnread } from '@basalt/wire';
import type { ByteQueue } from '../protocol/index.js';
import type { Transmission } from './transmission.js';

/**
 * The reads of a plain connection's transmission phase, in place (the `onread` option, set on the
 * accepted socket by setAcceptedOnread): a WRITE payload that did not arrive with its header is
 * read straight into its own buffer (Transmission.payloadTarget, the device's writeBuffer), the
 * rest (request headers, small payloads, the first bytes of a large one) into `staging`, from
 * which each read's bytes are copied to the connection's queue in that read's callback, so one
 * staging buffer may serve every connection of a server.
 *
 * Invariant: bytes reach the queue or the payload in the order the socket received them. A read
 * into `staging` while a payload is read in place (the payload began after Node had asked for
 * the read's buffer) goes to the payload first, up to its end.
 */
export class TransmissionReads {
  constructor(
    private readonly queue: ByteQueue,
    private readonly transmission: Transmission,
    private readonly staging: Buffer,
    /** Parses what the queue and the payload now hold (the connection's pump). */
    private readonly pump: () => void,
  ) {}

  readonly target = (): Buffer => this.transmission.payloadTarget() ?? this.staging;

  readonly received = (n: number, target: Uint8Array): boolean => {
    if (target === this.staging) {
      const bytes = this.staging.subarray(0, n);
      const taken = this.transmission.fillFrom(bytes);
      if (taken < n) this.queue.push(Buffer.from(bytes.subarray(taken)));
    } else this.transmission.payloadRead(target as Buffer, n);
    this.pump();
    return true;
  };

  /**
   * Makes the socket read this way from now on (it stops emitting 'data'; `onData` is removed
   * here): what it had received and not yet emitted is queued after what the queue holds, then
   * reads go in place. False, and 'data' events as before, on a Node that does not let it.
   */
  adopt(socket: Socket, onData: (chunk: Buffer) => void): boolean {
    socket.off('data', onData);
    const received = setAcceptedOnread(socket, this.target, this.received);
    if (received === undefined) {
      socket.on('data', onData);
      return false;
    }
    for (const chunk of received) this.queue.push(chunk);
    this.transmission.readPayloadsInPlace();
    return true;
  }
}
