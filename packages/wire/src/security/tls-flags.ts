import { invalidArgument } from '@basalt/stdx';
import { TransportSecurity } from './transport-security.js';

/** The flags of every Basalt process that listens or connects: mutual TLS files, or an explicit opt-out. */
export const tlsFlags = {
  /** PEM trust bundle (the cluster CA; during a rotation the old and the new one). */
  'tls-ca': { type: 'string' },
  /** PEM certificate of this process. */
  'tls-cert': { type: 'string' },
  /** PEM private key of this process. */
  'tls-key': { type: 'string' },
  /** Run without TLS: every peer is trusted with everything. */
  insecure: { type: 'boolean' },
} as const;

export const tlsUsage = '[--tls-ca FILE --tls-cert FILE --tls-key FILE | --insecure]';

/**
 * The TransportSecurity the flags ask for: all three files, or --insecure (the process then logs
 * `insecureWarning` when it starts). Neither, or only some files, is an error that says what to
 * pass: a server never runs without TLS unless told to.
 */
export function securityFromFlags(values: Readonly<Record<string, unknown>>): TransportSecurity {
  const files = { ca: values['tls-ca'], cert: values['tls-cert'], key: values['tls-key'] };
  const given = Object.entries(files).filter(([, v]) => typeof v === 'string' && v !== '');
  if (values.insecure === true) {
    if (given.length > 0) throw invalidArgument('--insecure and --tls-* exclude each other');
    return TransportSecurity.insecure();
  }
  if (given.length === 0) throw invalidArgument('pass --tls-ca, --tls-cert and --tls-key (mutual TLS; "basalt certs" makes them), or --insecure to run without TLS');
  if (given.length < 3) throw invalidArgument(`mutual TLS needs --tls-ca, --tls-cert and --tls-key; missing ${Object.keys(files).filter((k) => !given.some(([g]) => g === k)).map((k) => `--tls-${k}`).join(', ')}`);
  return TransportSecurity.fromFiles(files as { ca: string; cert: string; key: string });
}

export const insecureWarning = 'WARNING: running WITHOUT TLS: any peer that can reach this process is trusted with everything';

/**
 * Rereads the credential files on SIGHUP (certificate rotation); a failed reload keeps the old
 * ones and is logged. Returns a function that removes the handler.
 */
export function reloadOnSighup(security: TransportSecurity, log: (line: string) => void): () => void {
  if (!security.secure) return () => undefined;
  const onHup = (): void => {
    try {
      security.reload();
      log(`tls: reloaded certificate and trust bundle (generation ${security.generation})`);
    } catch (err) {
      log(`tls: reload failed, keeping the previous certificate: ${(err as Error).message}`);
    }
  };
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}
