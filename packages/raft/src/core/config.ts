import { BasaltError, ErrorCode } from '@basalt/stdx';
import { unsafeTestingKnobNames, type Config } from './types.js';

/** Checks a Config at the boundary; throws BasaltError(InvalidArgument) saying what is allowed. */
export function validateConfig(cfg: Config): void {
  const bad = (what: string): never => {
    throw new BasaltError(ErrorCode.InvalidArgument, `raft config: ${what}`, { id: cfg.id });
  };
  if (cfg.id === '') bad('id must not be empty');
  const positive = ['electionTick', 'heartbeatTick', 'maxSizePerMsg', 'maxInflightMsgs', 'maxUncommittedEntriesSize'] as const;
  for (const key of positive) {
    if (!Number.isSafeInteger(cfg[key]) || cfg[key] <= 0) bad(`${key} must be a positive integer, got ${cfg[key]}`);
  }
  if (cfg.heartbeatTick >= cfg.electionTick) bad(`heartbeatTick (${cfg.heartbeatTick}) must be below electionTick (${cfg.electionTick})`);
  if (!Number.isSafeInteger(cfg.applied) || cfg.applied < 0) bad(`applied must be a non-negative integer, got ${cfg.applied}`);
  if (cfg.announceCommit !== undefined && typeof cfg.announceCommit !== 'boolean') bad(`announceCommit must be a boolean, got ${String(cfg.announceCommit)}`);
  if (typeof cfg.random !== 'function') bad('random must be a function returning numbers in [0, 1)');
  // Test-only protocol breakers: off unless explicitly `true`; anything but a boolean is a mistake.
  for (const [name, value] of Object.entries(cfg.unsafeTestingKnobs ?? {})) {
    if (!(unsafeTestingKnobNames as readonly string[]).includes(name)) bad(`unknown unsafeTestingKnobs.${name}`);
    if (typeof value !== 'boolean') bad(`unsafeTestingKnobs.${name} must be a boolean, got ${String(value)}`);
  }
}
