import { AssertionError, GiB, type ErrorCode } from '@basalt/stdx';
import type { Command, CommandValue } from './commands.js';
import { MetaState } from './meta-state.js';
import { unwrap } from './result.js';

/**
 * Helpers for the state machine's tests (and for other packages' tests that need a
 * populated state): build states with a few calls, check refusals leave no trace.
 */

/** Applies a command that must succeed and returns its value. */
export function must<C extends Command>(state: MetaState, cmd: C): CommandValue<C> {
  return unwrap(state.apply(cmd));
}

/** Applies a command that must be refused with `code`, and checks that the state did not change. */
export function refuse(state: MetaState, cmd: Command, code: ErrorCode): Readonly<Record<string, unknown>> {
  const before = state.hash();
  const result = state.apply(cmd);
  if (result.ok) throw new AssertionError(`${cmd.type} was applied, expected ${code}`);
  if (result.error.code !== code) throw new AssertionError(`${cmd.type} was refused with ${result.error.code} (${result.error.message}), expected ${code}`);
  if (state.hash() !== before) throw new AssertionError(`${cmd.type} was refused but changed the state`);
  return result.error.details;
}

export interface ServerSpec {
  readonly id: string;
  readonly zone: string;
  readonly freeBytes?: number;
  readonly capacityBytes?: number;
}

/** Registers servers at 127.0.0.1 on ports 7001, 7002, ... in the order given. */
export function registerServers(state: MetaState, specs: readonly ServerSpec[], nowMs = 1000): void {
  specs.forEach((spec, i) => {
    const capacityBytes = spec.capacityBytes ?? 100 * GiB;
    must(state, {
      type: 'registerServer',
      serverId: spec.id,
      address: `127.0.0.1:${7001 + i}`,
      zone: spec.zone,
      capacityBytes,
      freeBytes: spec.freeBytes ?? capacityBytes,
      nowMs,
    });
  });
}

/** Three servers in three zones, the common test cluster. */
export function threeZoneState(): MetaState {
  const state = MetaState.empty();
  registerServers(state, [
    { id: 's1', zone: 'z1' },
    { id: 's2', zone: 'z2' },
    { id: 's3', zone: 'z3' },
  ]);
  return state;
}
