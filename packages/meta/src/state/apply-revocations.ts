import { ErrorCode, limits } from '@basalt/stdx';
import type { RevokeCertificateCommand } from './commands.js';
import type { StateData } from './records.js';
import { fail, type Result } from './result.js';
import type { RevocationsView } from './views.js';

/**
 * Adds a serial to the deny list. Revoking one already revoked changes nothing and succeeds;
 * the list is bounded (limits.revokedSerialsMax): certificates expire, so a cluster that fills it
 * should rotate its CA instead, which revokes every earlier certificate at once.
 */
export function applyRevokeCertificate(data: StateData, cmd: RevokeCertificateCommand): Result<RevocationsView> {
  if (!data.revokedSerials.has(cmd.serial)) {
    if (data.revokedSerials.size >= limits.revokedSerialsMax) {
      return fail(ErrorCode.LimitExceeded, `the deny list holds ${limits.revokedSerialsMax} serials, its limit: rotate the CA (basalt certs rotate) to retire old certificates at once`, { limit: limits.revokedSerialsMax });
    }
    data.revokedSerials.add(cmd.serial);
  }
  return { ok: true, value: { serials: [...data.revokedSerials].sort() } };
}
