import { assert } from '@basalt/stdx';
import type { ConfChange, ConfChangeType } from './types.js';

/**
 * Binary form of a ConfChange, the `data` of a ConfChange entry:
 *   u8 version (1) | u8 type | u16 nodeId length | nodeId UTF-8 | u32 context length | context
 * Entries are written by encodeConfChange and read back from our own log, so a malformed
 * record is a bug (an assertion), not an input error.
 */
const version = 1;
const typeCodes: Record<ConfChangeType, number> = { AddNode: 1, AddLearner: 2, RemoveNode: 3 };
const typeByCode: ConfChangeType[] = ['AddNode', 'AddNode', 'AddLearner', 'RemoveNode'];

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const id = new TextEncoder().encode(cc.nodeId);
  assert(id.length > 0 && id.length <= 0xffff, `conf change node id must be 1..65535 bytes, got ${id.length}`);
  const context = cc.context ?? new Uint8Array(0);
  const out = new Uint8Array(2 + 2 + id.length + 4 + context.length);
  const view = new DataView(out.buffer);
  out[0] = version;
  out[1] = typeCodes[cc.type];
  view.setUint16(2, id.length);
  out.set(id, 4);
  view.setUint32(4 + id.length, context.length);
  out.set(context, 8 + id.length);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  assert(data.length >= 8, `conf change record too short: ${data.length} bytes`);
  assert(data[0] === version, `conf change record version ${data[0]}, expected ${version}`);
  const code = data[1] ?? 0;
  assert(code >= 1 && code <= 3, `conf change type code ${code} unknown`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const idLength = view.getUint16(2);
  assert(data.length >= 8 + idLength, 'conf change record truncated in node id');
  const nodeId = new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(4, 4 + idLength));
  const contextLength = view.getUint32(4 + idLength);
  assert(data.length === 8 + idLength + contextLength, 'conf change record length mismatch');
  const type = typeByCode[code] as ConfChangeType;
  if (contextLength === 0) return { type, nodeId };
  return { type, nodeId, context: data.slice(8 + idLength) };
}
