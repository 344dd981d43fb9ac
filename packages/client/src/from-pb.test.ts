import { describe, expect, it } from 'vitest';
import { volumeFromPb } from './from-pb.js';

describe('volumeFromPb', () => {
  const encryption = { cipher: 'aes-256-xts', keyId: 'file:0123456789abcdef', wrappedKey: new Uint8Array([1, 2, 3]) };

  it('binds an encrypted volume\'s key to its own id when metad names no other (key_volume_id 0)', () => {
    expect(volumeFromPb({ id: 7, name: 'v', encryption }).encryption).toEqual({ ...encryption, keyVolumeId: 7 });
  });

  it('binds a clone\'s key to the source id metad names', () => {
    expect(volumeFromPb({ id: 9, name: 'c', encryption: { ...encryption, keyVolumeId: 7 } }).encryption?.keyVolumeId).toBe(7);
  });

  it('a plaintext volume has no encryption', () => {
    expect(volumeFromPb({ id: 3, name: 'p' }).encryption).toBeUndefined();
  });
});
