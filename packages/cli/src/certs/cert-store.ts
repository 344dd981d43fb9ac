import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BasaltError, ErrorCode, invalidArgument } from '@basalt/stdx';
import type { Identity } from '@basalt/stdx';
import type { TlsFiles } from '@basalt/wire';
import { createCa, issueCert } from './cert-authority.js';
import type { IssuedCert, PemPair } from './cert-authority.js';

/**
 * A folder of cluster credentials, as `basalt certs` and `basalt up` keep it:
 *
 *   ca.pem, ca-key.pem    the current CA (the key is what to back up, and to guard)
 *   ca-old.pem            the previous CA, during a rotation window only
 *   bundle.pem            the trust bundle every process reads: the current CA, and the old one while rotating
 *   ROLE-NAME.pem/-key.pem one certificate per identity
 *   issued.json           what was issued (identity, hosts, serial), so a rotation can issue it again
 *
 * Every file is written whole (temporary file and rename): a process reloading on SIGHUP reads
 * either the old or the new file, never half of one.
 */
export interface IssuedRecord {
  readonly identity: Identity;
  readonly hosts: readonly string[];
  readonly serial: string;
  readonly cert: string;
  readonly key: string;
}

export const caValidityDays = 3650;
export const certValidityDaysDefault = 365;

export function certPaths(dir: string): { ca: string; caKey: string; caOld: string; bundle: string; issued: string } {
  const d = resolve(dir);
  return { ca: join(d, 'ca.pem'), caKey: join(d, 'ca-key.pem'), caOld: join(d, 'ca-old.pem'), bundle: join(d, 'bundle.pem'), issued: join(d, 'issued.json') };
}

/** Creates the cluster CA and trust bundle in `dir`; refuses to replace an existing CA. */
export async function initCa(dir: string, name: string): Promise<{ serial: string }> {
  const p = certPaths(dir);
  if (existsSync(p.ca)) throw invalidArgument(`${p.ca} exists: this folder already has a CA (use "basalt certs rotate" to replace it)`, { path: p.ca });
  mkdirSync(resolve(dir), { recursive: true, mode: 0o700 });
  const ca = await createCa(name, { days: caValidityDays });
  writeWhole(p.caKey, ca.keyPem, 0o600);
  writeWhole(p.ca, ca.certPem);
  writeWhole(p.bundle, ca.certPem);
  writeWhole(p.issued, '[]\n');
  return { serial: ca.serial };
}

/** Issues a certificate for `identity` with the folder's CA; replaces an earlier one of the same identity. */
export async function issueInto(dir: string, identity: Identity, hosts: readonly string[], days = certValidityDaysDefault): Promise<IssuedRecord> {
  const issued = await issueCert(readCa(dir), { identity, hosts, validity: { days } });
  return record(dir, identity, hosts, issued);
}

/**
 * Starts a rotation: the current CA becomes the old one, a new CA is made, every recorded
 * identity is issued again by it, and the bundle trusts both. Send SIGHUP to every process (or
 * restart it); then `finishRotation`, and SIGHUP again.
 */
export async function rotateCa(dir: string, name: string, days = certValidityDaysDefault): Promise<{ serial: string; reissued: IssuedRecord[] }> {
  const p = certPaths(dir);
  const old = readCa(dir);
  if (existsSync(p.caOld)) throw invalidArgument(`a rotation is already in progress (${p.caOld} exists): finish it first with "basalt certs rotate --finish"`);
  const ca = await createCa(name, { days: caValidityDays });
  writeWhole(p.caOld, old.certPem);
  writeWhole(p.bundle, `${ca.certPem.trimEnd()}\n${old.certPem.trimEnd()}\n`);
  writeWhole(p.caKey, ca.keyPem, 0o600);
  writeWhole(p.ca, ca.certPem);
  const reissued: IssuedRecord[] = [];
  for (const r of readIssued(dir)) {
    reissued.push(record(dir, r.identity, r.hosts, await issueCert(ca, { identity: r.identity, hosts: r.hosts, validity: { days } })));
  }
  return { serial: ca.serial, reissued };
}

/** Ends a rotation: the bundle trusts the new CA only. */
export function finishRotation(dir: string): void {
  const p = certPaths(dir);
  if (!existsSync(p.caOld)) throw invalidArgument(`no rotation in progress in ${resolve(dir)} (no ca-old.pem)`);
  writeWhole(p.bundle, readFileSync(p.ca, 'utf8'));
  rmSync(p.caOld);
}

/** The files a process of `identity` runs with (issued earlier into `dir`). */
export function tlsFilesOf(dir: string, identity: Identity): TlsFiles {
  const base = join(resolve(dir), fileBase(identity));
  return { ca: certPaths(dir).bundle, cert: `${base}.pem`, key: `${base}-key.pem` };
}

export function readIssued(dir: string): IssuedRecord[] {
  const p = certPaths(dir);
  try {
    return JSON.parse(readFileSync(p.issued, 'utf8')) as IssuedRecord[];
  } catch (err) {
    throw new BasaltError(ErrorCode.InvalidArgument, `cannot read ${p.issued}: ${(err as Error).message}; create the CA with "basalt certs init"`, { path: p.issued });
  }
}

function readCa(dir: string): PemPair {
  const p = certPaths(dir);
  try {
    return { certPem: readFileSync(p.ca, 'utf8'), keyPem: readFileSync(p.caKey, 'utf8') };
  } catch (err) {
    throw new BasaltError(ErrorCode.InvalidArgument, `no CA in ${resolve(dir)}: ${(err as Error).message}; create one with "basalt certs init"`, { dir });
  }
}

function record(dir: string, identity: Identity, hosts: readonly string[], issued: IssuedCert): IssuedRecord {
  const files = tlsFilesOf(dir, identity);
  writeWhole(files.key, issued.keyPem, 0o600);
  writeWhole(files.cert, issued.certPem);
  const r: IssuedRecord = { identity, hosts: [...hosts], serial: issued.serial, cert: files.cert, key: files.key };
  const others = readIssued(dir).filter((o) => fileBase(o.identity) !== fileBase(identity));
  writeWhole(certPaths(dir).issued, `${JSON.stringify([...others, r], null, 2)}\n`);
  return r;
}

function fileBase(id: Identity): string {
  return `${id.role}-${id.name}${id.tenant === undefined ? '' : `@${id.tenant}`}`;
}

function writeWhole(path: string, text: string, mode = 0o644): void {
  writeFileSync(`${path}.tmp`, text, { mode });
  renameSync(`${path}.tmp`, path);
}
