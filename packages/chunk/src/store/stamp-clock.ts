import { BasaltError, ErrorCode, limits } from '@basalt/stdx';
import { stampFieldMax, type Stamp } from '@basalt/wire';
import type { SeqReservation } from './extent-index.js';

/**
 * A primary's stamp counter for one extent: seq counts mutations within the extent's epoch,
 * from 1. Seqs are reserved durably in blocks of limits.chunkStampSeqReserve: take() names the
 * reservation to persist when it starts a new block, and the store persists it before any block
 * carries a seq of that block. A restart continues after the last reservation (skipping its
 * unused seqs), so a primary that restarts within an epoch never hands out a seq twice.
 */
export class StampClock {
  private epoch = -1;
  private next = 1;
  private reservedUpTo = 0;

  constructor(private loaded: SeqReservation | undefined) {}

  /** The next stamp at `epoch`; `reserve` is set when a new block of seqs must be persisted first. */
  take(volumeId: number, index: number, epoch: number): { stamp: Stamp; reserve: SeqReservation | undefined } {
    if (epoch > stampFieldMax) throw new BasaltError(ErrorCode.LimitExceeded, `extent ${volumeId}/${index}: epoch ${epoch} does not fit a block stamp (u32)`, { volumeId, index, epoch });
    if (epoch !== this.epoch) {
      const resumed = this.loaded !== undefined && this.loaded.epoch === epoch ? this.loaded.upTo : 0;
      this.loaded = undefined;
      this.epoch = epoch;
      this.next = resumed + 1;
      this.reservedUpTo = resumed;
    }
    if (this.next > limits.stampSeqMax) {
      throw new BasaltError(ErrorCode.LimitExceeded, `extent ${volumeId}/${index} used every stamp seq of epoch ${epoch} (${limits.stampSeqMax}); mutations resume once its replica set changes epoch`, { volumeId, index, epoch });
    }
    let reserve: SeqReservation | undefined;
    if (this.next > this.reservedUpTo) {
      this.reservedUpTo = Math.min(limits.stampSeqMax, this.reservedUpTo + limits.chunkStampSeqReserve);
      reserve = { epoch, upTo: this.reservedUpTo };
    }
    return { stamp: { epoch, seq: this.next++ }, reserve };
  }
}
