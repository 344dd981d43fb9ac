import { limits } from '@basalt/stdx';
import { BASE_ALLOCATION, InfoType, Opt, Rep, TransmissionFlag } from './constants.js';
import type { BlockSizes, ClientFlags } from './option-codec.js';
import {
  decodeExportName, decodeExportRequest, decodeMetaContextRequest, encodeExportNameReply, encodeInfoBlockSize,
  encodeInfoExport, encodeInfoString, encodeMetaContext, encodeOptionError, encodeOptionReply, encodeRepServer,
} from './option-codec.js';

/**
 * The option-haggling phase as a pure state machine: the server feeds it one option at a time
 * and gets back what to send and what to do next. Opening a volume is the one step that needs
 * I/O; it comes back as an `open` outcome that the server completes with `completeOpen`.
 *
 * A client that did not set NBD_FLAG_C_FIXED_NEWSTYLE speaks the original newstyle: its one
 * valid option is NBD_OPT_EXPORT_NAME, and it cannot parse option replies, so every other option
 * ends the session without a word (proto.md, "Newstyle negotiation"). Such a session never runs
 * TLS (the spec keeps it in NOTLS mode), so a server that requires TLS refuses it.
 */

export type NegotiationConfig = {
  /** A certificate is loaded, so NBD_OPT_STARTTLS can be accepted. */
  tlsAvailable: boolean;
  /** FORCEDTLS: every option but STARTTLS and ABORT is refused until TLS is up. */
  tlsRequired: boolean;
  /** Every export is read-only. */
  readOnly: boolean;
  blockSizes: BlockSizes;
};

export type VolumeSummary = { name: string; sizeBytes: number };

/** Metadata context id of base:allocation (ids are per session and opaque to clients). */
export const ALLOCATION_CONTEXT_ID = 1;

export type OptionOutcome =
  | { kind: 'reply'; replies: Buffer[] }
  /** Send the replies, then end the session (NBD_OPT_ABORT). */
  | { kind: 'abort'; replies: Buffer[] }
  /** Send the replies, then run a TLS server handshake on the socket. */
  | { kind: 'starttls'; replies: Buffer[] }
  /** Open `volume`, then call `completeOpen` (or `failOpen`). */
  | { kind: 'open'; volume: string; request: OpenRequest }
  /** Hard disconnect: nothing can be said to the client (e.g. a bad NBD_OPT_EXPORT_NAME). */
  | { kind: 'close'; reason: string };

export type OpenRequest = { option: number; infoRequests: number[] };

/** What the transmission phase needs to know about the session. */
export type TransmissionContext = {
  volume: string;
  sizeBytes: number;
  readOnly: boolean;
  transmissionFlags: number;
  structuredReplies: boolean;
  /** Set when base:allocation was selected for this export: BLOCK_STATUS is allowed. */
  allocationContextId: number | undefined;
};

export class Negotiation {
  private tlsActive = false;
  private structuredReplies = false;
  /** The export and selection of the last NBD_OPT_SET_META_CONTEXT (reset by STARTTLS). */
  private metaContext: { exportName: string; allocation: boolean } | undefined;
  private optionCount = 0;

  constructor(
    private readonly config: NegotiationConfig,
    private readonly client: ClientFlags,
  ) {}

  /** Options whose answer needs the list of volumes (the server fetches it first). */
  static needsVolumes(option: number): boolean {
    return option === Opt.List || option === Opt.Info || option === Opt.Go || option === Opt.ExportName;
  }

  handle(option: number, data: Buffer, volumes: readonly VolumeSummary[]): OptionOutcome {
    this.optionCount++;
    if (this.optionCount > limits.nbdHandshakeOptionsMax) return { kind: 'close', reason: 'too many options' };
    if (!this.client.fixedNewstyle && option !== Opt.ExportName) {
      return { kind: 'close', reason: `option ${option} from a client without fixed newstyle (only NBD_OPT_EXPORT_NAME is valid)` };
    }
    if (this.config.tlsRequired && !this.tlsActive) {
      if (option === Opt.ExportName) return { kind: 'close', reason: 'NBD_OPT_EXPORT_NAME before TLS' };
      if (option !== Opt.StartTls && option !== Opt.Abort) {
        return reply(encodeOptionError(option, Rep.ErrTlsReqd, 'this server requires TLS: send NBD_OPT_STARTTLS first'));
      }
    }
    return this.dispatch(option, data, volumes);
  }

  private dispatch(option: number, data: Buffer, volumes: readonly VolumeSummary[]): OptionOutcome {
    switch (option) {
      case Opt.Abort:
        return { kind: 'abort', replies: [encodeOptionReply(option, Rep.Ack)] };
      case Opt.List:
        return this.list(data, volumes);
      case Opt.StartTls:
        return this.startTls(data);
      case Opt.StructuredReply:
        return this.structuredReply(data);
      case Opt.Info:
      case Opt.Go:
        return this.infoOrGo(option, data, volumes);
      case Opt.ExportName:
        return this.exportName(data, volumes);
      case Opt.ListMetaContext:
      case Opt.SetMetaContext:
        return this.metaContextOption(option, data);
      default:
        return reply(encodeOptionError(option, Rep.ErrUnsup, `option ${option} is not supported`));
    }
  }

  private list(data: Buffer, volumes: readonly VolumeSummary[]): OptionOutcome {
    if (data.length !== 0) return invalid(Opt.List, 'NBD_OPT_LIST takes no data');
    const replies = volumes.map((v) => encodeOptionReply(Opt.List, Rep.Server, encodeRepServer(v.name)));
    replies.push(encodeOptionReply(Opt.List, Rep.Ack));
    return { kind: 'reply', replies };
  }

  private startTls(data: Buffer): OptionOutcome {
    if (data.length !== 0) return invalid(Opt.StartTls, 'NBD_OPT_STARTTLS takes no data');
    if (!this.config.tlsAvailable) return reply(encodeOptionError(Opt.StartTls, Rep.ErrUnsup, 'TLS is not configured on this server'));
    if (this.tlsActive) return invalid(Opt.StartTls, 'TLS is already active');
    this.tlsActive = true;
    // The spec makes the client renegotiate everything after STARTTLS.
    this.structuredReplies = false;
    this.metaContext = undefined;
    return { kind: 'starttls', replies: [encodeOptionReply(Opt.StartTls, Rep.Ack)] };
  }

  private structuredReply(data: Buffer): OptionOutcome {
    if (data.length !== 0) return invalid(Opt.StructuredReply, 'NBD_OPT_STRUCTURED_REPLY takes no data');
    this.structuredReplies = true;
    return reply(encodeOptionReply(Opt.StructuredReply, Rep.Ack));
  }

  private infoOrGo(option: number, data: Buffer, volumes: readonly VolumeSummary[]): OptionOutcome {
    const req = decodeExportRequest(data);
    if (req === undefined) return invalid(option, 'malformed NBD_OPT_INFO/NBD_OPT_GO data');
    const volume = resolveExport(req.name, volumes);
    if (volume === undefined) return reply(encodeOptionError(option, Rep.ErrUnknown, unknownExportMessage(req.name, volumes)));
    if (option === Opt.Info) {
      const replies = this.infoReplies(option, req.infoRequests, volume.name, volume.sizeBytes, this.config.readOnly);
      replies.push(encodeOptionReply(option, Rep.Ack));
      return { kind: 'reply', replies };
    }
    return { kind: 'open', volume: volume.name, request: { option, infoRequests: req.infoRequests } };
  }

  private exportName(data: Buffer, volumes: readonly VolumeSummary[]): OptionOutcome {
    const name = decodeExportName(data);
    const volume = name === undefined ? undefined : resolveExport(name, volumes);
    if (volume === undefined) return { kind: 'close', reason: `NBD_OPT_EXPORT_NAME for an unknown export` };
    return { kind: 'open', volume: volume.name, request: { option: Opt.ExportName, infoRequests: [] } };
  }

  private metaContextOption(option: number, data: Buffer): OptionOutcome {
    if (option === Opt.SetMetaContext) this.metaContext = undefined;
    if (!this.structuredReplies) return invalid(option, 'negotiate NBD_OPT_STRUCTURED_REPLY first');
    const req = decodeMetaContextRequest(data);
    if (req === undefined) return invalid(option, 'malformed meta context request');
    const matches = option === Opt.ListMetaContext ? listMatches(req.queries) : req.queries.includes(BASE_ALLOCATION);
    if (option === Opt.SetMetaContext) this.metaContext = { exportName: req.exportName, allocation: matches };
    const replies = matches
      ? [encodeOptionReply(option, Rep.MetaContext, encodeMetaContext(option === Opt.SetMetaContext ? ALLOCATION_CONTEXT_ID : 0, BASE_ALLOCATION))]
      : [];
    replies.push(encodeOptionReply(option, Rep.Ack));
    return { kind: 'reply', replies };
  }

  private infoReplies(option: number, requests: number[], name: string, sizeBytes: number, readOnly: boolean): Buffer[] {
    const replies = [
      encodeOptionReply(option, Rep.Info, encodeInfoExport(sizeBytes, this.transmissionFlags(readOnly))),
      encodeOptionReply(option, Rep.Info, encodeInfoBlockSize(this.config.blockSizes)),
    ];
    if (requests.includes(InfoType.Name)) replies.push(encodeOptionReply(option, Rep.Info, encodeInfoString(InfoType.Name, name)));
    if (requests.includes(InfoType.Description)) {
      replies.push(encodeOptionReply(option, Rep.Info, encodeInfoString(InfoType.Description, `basalt volume ${name}`)));
    }
    return replies;
  }

  /** Flags for this session; DF only once structured replies are on (spec: MUST). */
  transmissionFlags(readOnly: boolean): number {
    let flags = TransmissionFlag.HasFlags | TransmissionFlag.SendFlush | TransmissionFlag.CanMultiConn | TransmissionFlag.SendCache;
    if (readOnly) flags |= TransmissionFlag.ReadOnly;
    else flags |= TransmissionFlag.SendFua | TransmissionFlag.SendTrim | TransmissionFlag.SendWriteZeroes | TransmissionFlag.SendFastZero;
    if (this.structuredReplies) flags |= TransmissionFlag.SendDf;
    return flags;
  }

  /** The volume is open: the replies that end the handshake, and the transmission context. */
  completeOpen(request: OpenRequest, volume: VolumeSummary, readOnly: boolean): { replies: Buffer[]; context: TransmissionContext } {
    const flags = this.transmissionFlags(readOnly);
    const replies =
      request.option === Opt.ExportName
        ? [encodeExportNameReply(volume.sizeBytes, flags, this.client.noZeroes)]
        : [...this.infoReplies(request.option, request.infoRequests, volume.name, volume.sizeBytes, readOnly), encodeOptionReply(request.option, Rep.Ack)];
    const allocation = this.metaContext !== undefined && this.metaContext.allocation && resolvesTo(this.metaContext.exportName, volume.name);
    const context: TransmissionContext = {
      volume: volume.name,
      sizeBytes: volume.sizeBytes,
      readOnly,
      transmissionFlags: flags,
      structuredReplies: this.structuredReplies,
      allocationContextId: allocation ? ALLOCATION_CONTEXT_ID : undefined,
    };
    return { replies, context };
  }

  /** Opening failed with an expected outcome (lease held, volume gone): tell the client, stay in haggling. */
  failOpen(request: OpenRequest, repType: number, message: string): OptionOutcome {
    if (request.option === Opt.ExportName) return { kind: 'close', reason: message };
    return reply(encodeOptionError(request.option, repType, message));
  }
}

function reply(b: Buffer): OptionOutcome {
  return { kind: 'reply', replies: [b] };
}

function invalid(option: number, message: string): OptionOutcome {
  return reply(encodeOptionError(option, Rep.ErrInvalid, message));
}

/** The empty name is the default export: the only volume, when there is exactly one. */
function resolveExport(name: string, volumes: readonly VolumeSummary[]): VolumeSummary | undefined {
  if (name === '') return volumes.length === 1 ? volumes[0] : undefined;
  return volumes.find((v) => v.name === name);
}

function resolvesTo(exportName: string, volume: string): boolean {
  return exportName === volume || exportName === '';
}

function unknownExportMessage(name: string, volumes: readonly VolumeSummary[]): string {
  if (name === '') return `no default export: ${volumes.length} volumes are served; name one (NBD_OPT_LIST shows them)`;
  return `no volume named "${name}" (NBD_OPT_LIST shows the ${volumes.length} served)`;
}

/** LIST_META_CONTEXT: no query lists everything; "base:" and "base:allocation" match ours. */
function listMatches(queries: string[]): boolean {
  return queries.length === 0 || queries.some((q) => q === 'base:' || q === BASE_ALLOCATION);
}
