import { BasaltError, ErrorCode, isBasaltError, limits } from '@basalt/stdx';
import type { MetaClient } from '@basalt/wire';
import type { FlattenRequestInfo, VolumeInfo } from './cluster-types.js';
import { volumeFromPb } from './from-pb.js';
import type { Volume, VolumeEvent } from './volume.js';

/**
 * A writer's answers to requests to the lease holder (docs/snapshots.md, "Requests to the lease
 * holder"). Every limits.clientHolderRequestPollMs it reads its volume from metad (GetVolume, a
 * stale read any member answers) and
 * - takes each requested snapshot with Volume.takeRequestedSnapshot: ordered in its own stream
 *   exactly as Volume.snapshot orders one (a request cancelled meanwhile is refused by metad and
 *   nothing is taken);
 * - runs a requested background flatten (Volume.flattenInBackground) under the request's byte
 *   rate (default limits.repairBandwidthBytesPerSecDefault, the chunk servers' repair budget),
 *   reporting progress to metad at most once per poll interval, then ends the read-through. A
 *   withdrawn request or a lost lease (metad refuses the report) stops it.
 * Failures go to the volume's events (`holder_request`) and the request stays: the next poll tries
 * again. stop() (Volume.close) ends the polls and the copy.
 */
export class HolderRequests {
  private timer: NodeJS.Timeout | undefined;
  /** Snapshots being taken for this poll's requests (stop waits for them; not for the read before). */
  private serving: Promise<void> | undefined;
  private flattening: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly volume: Volume,
    private readonly meta: MetaClient,
    private readonly onEvent: (event: VolumeEvent) => void,
  ) {
    this.schedule();
  }

  /** Ends the polls; waits for a snapshot being taken and a copy to stop, not for a read of metad under way. */
  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.timer);
    await this.serving;
    await this.flattening;
  }

  private schedule(): void {
    if (this.abort.signal.aborted) return;
    this.timer = setTimeout(() => {
      void this.poll().finally(() => this.schedule());
    }, limits.clientHolderRequestPollMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    let info: VolumeInfo;
    try {
      info = volumeFromPb((await this.meta.call('getVolume', { name: this.volume.name, stale: true }, { timeoutMs: limits.clientHolderRequestPollMs })).volume);
    } catch {
      return; // metad unreachable for now: the next poll asks again
    }
    // A writer fenced by a takeover (or a member that has not seen this lease yet) leaves the requests to the holder of the generation metad shows.
    if (this.abort.signal.aborted || info.generation !== this.volume.generation) return;
    this.serving = this.serve(info).finally(() => {
      this.serving = undefined;
    });
    await this.serving;
  }

  private async serve(info: VolumeInfo): Promise<void> {
    const { requestedSnapshots: requested, flatten } = info;
    for (const snapshot of requested) {
      if (this.abort.signal.aborted) return;
      try {
        await this.volume.takeRequestedSnapshot(snapshot);
        this.onEvent({ kind: 'holder_request', volume: this.volume.name, request: 'snapshot', snapshot });
      } catch (err) {
        this.onEvent({ kind: 'holder_request', volume: this.volume.name, request: 'snapshot', snapshot, error: codeOf(err) });
      }
    }
    if (flatten !== undefined && this.flattening === undefined && !this.abort.signal.aborted) {
      this.flattening = this.flatten(flatten).finally(() => {
        this.flattening = undefined;
      });
    }
  }

  private async flatten(request: FlattenRequestInfo): Promise<void> {
    const rate = request.bytesPerSec > 0 ? request.bytesPerSec : limits.repairBandwidthBytesPerSecDefault;
    let reportedAtMs = 0;
    const report = async (doneBytes: number, totalBytes: number): Promise<boolean> => {
      if (doneBytes < totalBytes && performance.now() - reportedAtMs < limits.clientHolderRequestPollMs) return true;
      reportedAtMs = performance.now();
      try {
        await this.meta.call('reportFlatten', { name: this.volume.name, generation: this.volume.generation, doneBytes, totalBytes });
        return true;
      } catch (err) {
        // Withdrawn, or this writer lost the lease: stop. Anything else: go on, report again later.
        return !(isBasaltError(err, ErrorCode.InvalidArgument) || isBasaltError(err, ErrorCode.LeaseFenced) || isBasaltError(err, ErrorCode.VolumeNotFound));
      }
    };
    try {
      if (await this.volume.flattenInBackground(rate, this.abort.signal, report)) {
        await this.volume.endReadThrough();
        this.onEvent({ kind: 'holder_request', volume: this.volume.name, request: 'flatten' });
      }
    } catch (err) {
      this.onEvent({ kind: 'holder_request', volume: this.volume.name, request: 'flatten', error: codeOf(err) });
    }
  }
}

function codeOf(err: unknown): string {
  return err instanceof BasaltError ? err.code : ErrorCode.Io;
}
