import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { identityUri, invalidArgument } from '@basalt/stdx';
import type { Identity } from '@basalt/stdx';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** ECDSA P-256 with SHA-256 for every key and signature. */
const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const dayMs = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface IssuedCert extends PemPair {
  /** Hex, upper case: what `basalt certs revoke` takes and Node's peer certificates report. */
  readonly serial: string;
}

export interface Validity {
  /** Start of validity (ms since the epoch); default now. */
  readonly notBeforeMs?: number;
  readonly days: number;
}

/** A new self-signed cluster CA. `name` goes into the subject (e.g. the cluster's folder and a date). */
export async function createCa(name: string, validity: Validity): Promise<IssuedCert> {
  const keys = await generateKeys();
  const serial = newSerial();
  const { notBefore, notAfter } = period(validity);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial, name: `CN=${escapeDn(name)}, O=Basalt`, notBefore, notAfter, signingAlgorithm: algorithm, keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey), serial };
}

export interface IssueRequest {
  readonly identity: Identity;
  /** DNS names and IP addresses this holder serves under (servers); clients need none. */
  readonly hosts?: readonly string[];
  readonly validity: Validity;
}

/**
 * A certificate for one Basalt identity, signed by the CA: its URI SAN is `identityUri(identity)`
 * (the only thing peers read from it), plus a DNS or IP SAN per host, for TLS host name checks.
 * Usable as a TLS server and client certificate both.
 */
export async function issueCert(ca: PemPair, request: IssueRequest): Promise<IssuedCert> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), algorithm, false, ['sign']);
  const keys = await generateKeys();
  const serial = newSerial();
  const { notBefore, notAfter } = period(request.validity);
  const uri = identityUri(request.identity);
  const names: x509.JsonGeneralName[] = [{ type: 'url', value: uri }, ...(request.hosts ?? []).map((h): x509.JsonGeneralName => ({ type: isIP(h) === 0 ? 'dns' : 'ip', value: h }))];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial, subject: `CN=${escapeDn(`${request.identity.role}/${request.identity.name}`)}, O=Basalt`, issuer: caCert.subjectName,
    notBefore, notAfter, signingAlgorithm: algorithm, publicKey: keys.publicKey, signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey), serial };
}

/** The serial number (hex, upper case) of a PEM certificate. */
export function serialOf(certPem: string): string {
  return new x509.X509Certificate(certPem).serialNumber.toUpperCase();
}

/** The certificates of a PEM bundle, in order. */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g)?.map((c) => (c.endsWith('\n') ? c : `${c}\n`)) ?? [];
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']));
}

async function keyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** 16 random bytes, the first in 0x10..0x7f: positive, and no leading zero for printers to drop. */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = 0x10 + (bytes[0]! % 0x70);
  return bytes.toString('hex').toUpperCase();
}

function period(validity: Validity): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(validity.days) || validity.days < 1) throw invalidArgument(`certificate validity must be a whole number of days >= 1, got ${validity.days}`);
  const start = validity.notBeforeMs ?? Date.now() - 60_000;
  return { notBefore: new Date(start), notAfter: new Date(start + validity.days * dayMs) };
}

function escapeDn(text: string): string {
  return text.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`);
}
