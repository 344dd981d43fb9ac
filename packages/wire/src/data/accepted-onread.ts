import type net from 'node:net';

/** The socket's fields that net.Socket's `onread` option sets (node:net, Node 20). */
interface OnreadFields {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

/**
 * Gives an accepted socket the `onread` option, which Node passes only to sockets it connects
 * (net.Server and tls.Server create theirs without it): from now on reads go to the buffers
 * `buffer()` returns and to `callback` (as net.Socket's `onread` option), and the socket emits no 'data'. Returns what
 * the socket had already received and not yet emitted (in order: it comes before every read
 * in place), or undefined, and nothing changed, when the socket lacks the fields below or its
 * handle the method (another Node): the caller then reads 'data' events.
 *
 * It sets what net.Socket's constructor sets for the option (three own symbol-keyed fields,
 * found by their descriptions) and hands the handle its first buffer, as the constructor does; on
 * a TLS socket the handle is the TLSWrap, which decrypts each record into that buffer. It then
 * resumes the socket (no 'data' follows, but 'end' needs a flowing stream).
 */
export function setAcceptedOnread(socket: net.Socket, buffer: () => Uint8Array, callback: (n: number, buffer: Uint8Array) => boolean): Buffer[] | undefined {
  const fields = onreadFields(socket);
  const handle = (socket as unknown as { _handle: Partial<UserBufferHandle> | null })._handle;
  if (fields === undefined || handle === null || typeof handle.useUserBuffer !== 'function') return undefined;
  const received: Buffer[] = [];
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) received.push(chunk);
  const first = buffer();
  const target = socket as unknown as Record<symbol, unknown>;
  target[fields.buffer] = first;
  target[fields.generator] = buffer;
  target[fields.callback] = callback;
  handle.useUserBuffer(first);
  socket.resume();
  return received;
}

function onreadFields(socket: net.Socket): OnreadFields | undefined {
  const byName = new Map<string, symbol>();
  for (const s of Object.getOwnPropertySymbols(socket)) if (s.description !== undefined) byName.set(s.description, s);
  const buffer = byName.get('kBuffer');
  const callback = byName.get('kBufferCb');
  const generator = byName.get('kBufferGen');
  if (buffer === undefined || callback === undefined || generator === undefined) return undefined;
  return { buffer, callback, generator };
}
