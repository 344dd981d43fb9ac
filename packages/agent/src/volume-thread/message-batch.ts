import type { ThreadPort } from './serve-volumes.js';

/**
 * Messages to another thread, sent together: everything pushed while one task runs (the requests
 * one NBD socket read parsed, the replies one chunk server read completed) goes as one
 * postMessage once the task's microtasks ran, with every buffer to transfer. Each postMessage
 * costs a structured clone and a wakeup of the other thread, so at 4 KiB and QD32 one per
 * message would cost more than the work it carries. The receiver gets an array (`receiveBatches`).
 */
export class MessageBatch<M> {
  private messages: M[] = [];
  private transfer: ArrayBuffer[] = [];

  constructor(private readonly port: ThreadPort) {}

  push(message: M, transfer: readonly ArrayBuffer[] = []): void {
    if (this.messages.length === 0) queueMicrotask(() => this.send());
    this.messages.push(message);
    for (const b of transfer) this.transfer.push(b);
  }

  private send(): void {
    const { messages, transfer } = this;
    this.messages = [];
    this.transfer = [];
    this.port.postMessage(messages, transfer);
  }
}

/** Calls `receive` for each message of each batch that arrives on `port`. */
export function receiveBatches<M>(port: ThreadPort, receive: (message: M) => void): void {
  port.on('message', (batch) => {
    for (const m of batch as M[]) receive(m);
  });
}
