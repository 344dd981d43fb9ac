import { resolve } from 'node:path';
import { invalidArgument, isValidIdentityName, roles } from '@basalt/stdx';
import type { Identity, Role } from '@basalt/stdx';
import { flag, int, requireStr, str } from '../args.js';
import { certPaths, certValidityDaysDefault, finishRotation, initCa, issueInto, rotateCa } from '../certs/cert-store.js';
import { clusterFileOf, clusterOptions } from '../cluster.js';
import type { Command, CommandGroup, Io, ParsedArgs } from '../command.js';
import { isOurProcess } from '../local/processes.js';
import { printJson } from '../output.js';
import { withClient } from '../sdk.js';

/** `basalt certs`: the cluster CA and certificates (docs/security.md). */

const defaultCertDir = '.basalt/certs';
const dirOption = { dir: { type: 'string' } } as const;

function certDir(args: ParsedArgs, io: Io): string {
  return resolve(io.cwd, str(args, 'dir') ?? defaultCertDir);
}

const init: Command = {
  name: 'init', summary: 'create a cluster CA and its trust bundle in a folder', usage: `[--dir DIR (${defaultCertDir})] [--name TEXT]`,
  options: { ...dirOption, name: { type: 'string' } },
  run: async (args, io) => {
    const dir = certDir(args, io);
    const { serial } = await initCa(dir, str(args, 'name') ?? `Basalt cluster CA (${dir})`);
    const p = certPaths(dir);
    io.out(`created CA ${serial}\n  certificate  ${p.ca}\n  key          ${p.caKey}  (back it up and keep it secret: it can issue any identity)\n  trust bundle ${p.bundle}\n`);
    return 0;
  },
};

const issue: Command = {
  name: 'issue', summary: 'issue a certificate for one identity (role, name, tenant) with the folder\'s CA',
  usage: `--role ${roles.join('|')} --name NAME [--tenant TENANT] [--host NAME_OR_IP,...] [--days N (${certValidityDaysDefault})] [--dir DIR (${defaultCertDir})]`,
  options: { ...dirOption, role: { type: 'string' }, name: { type: 'string' }, tenant: { type: 'string' }, host: { type: 'string' }, days: { type: 'string' } },
  run: async (args, io) => {
    const role = requireStr(args, 'role');
    if (!(roles as readonly string[]).includes(role)) throw invalidArgument(`--role must be one of ${roles.join(', ')}, got "${role}"`);
    const tenant = str(args, 'tenant');
    const identity: Identity = { role: role as Role, name: requireStr(args, 'name'), ...(tenant !== undefined && { tenant }) };
    const hosts = (str(args, 'host') ?? '').split(',').map((h) => h.trim()).filter((h) => h !== '');
    for (const h of hosts) if (!isValidIdentityName(h.toLowerCase()) && !/^[0-9a-f.:]+$/i.test(h)) throw invalidArgument(`--host takes DNS names and IP addresses, got "${h}"`);
    const r = await issueInto(certDir(args, io), identity, hosts, int(args, 'days', 1, 3650) ?? certValidityDaysDefault);
    io.out(`issued ${r.serial} for ${identity.role}/${identity.name}${tenant === undefined ? '' : `@${tenant}`}\n  certificate ${r.cert}\n  key         ${r.key}\n  trust       ${certPaths(certDir(args, io)).bundle}\n`);
    return 0;
  },
};

const rotate: Command = {
  name: 'rotate',
  summary: 'start a CA rotation (new CA, every certificate issued again, bundle trusts old and new), or end it with --finish; then SIGHUP every process',
  usage: `[--finish] [--dir DIR (${defaultCertDir})] [--cluster FILE] (a local cluster's processes get SIGHUP)`,
  options: { ...dirOption, finish: { type: 'boolean' }, cluster: clusterOptions.cluster },
  run: async (args, io) => {
    const dir = certDir(args, io);
    if (flag(args, 'finish')) {
      finishRotation(dir);
      io.out(`rotation finished: ${certPaths(dir).bundle} trusts the new CA only\n`);
    } else {
      const { serial, reissued } = await rotateCa(dir, `Basalt cluster CA (${dir}) from ${new Date().toISOString()}`);
      io.out(`new CA ${serial}; issued again: ${reissued.map((r) => `${r.identity.role}/${r.identity.name}`).join(', ') || 'nothing'}\nthe bundle trusts the old and the new CA until "basalt certs rotate --finish"\n`);
    }
    const reloaded = signalLocalCluster(args, io, dir);
    io.out(reloaded === undefined ? 'now send SIGHUP to every Basalt process (or restart it) so that it reloads its files\n' : `sent SIGHUP to ${reloaded} processes of the local cluster\n`);
    return 0;
  },
};

/** SIGHUP to every live process of the local cluster whose certificates are in `dir`; undefined when there is none. */
function signalLocalCluster(args: ParsedArgs, io: Io, dir: string): number | undefined {
  let file;
  try {
    file = clusterFileOf(args, io);
  } catch {
    return undefined;
  }
  if (file?.tls === undefined || resolve(file.tls.dir) !== dir) return undefined;
  // The agent's command line names its NBD address, not the folder.
  const pids = [...[...file.metad, ...file.chunkd].map((p) => p.pid).filter((pid) => isOurProcess(pid, file.dir)), ...(isOurProcess(file.agent.pid, file.agent.nbd) ? [file.agent.pid] : [])];
  for (const pid of pids) process.kill(pid, 'SIGHUP');
  return pids.length;
}

const revoke: Command = {
  name: 'revoke', summary: 'put a certificate serial on the deny list that metad, chunk servers, agents and clients enforce', usage: 'SERIAL',
  options: { ...clusterOptions }, positionals: true,
  run: (args, io) => withClient(args, io, async (client) => {
    const [serial, extra] = args.positionals;
    if (serial === undefined || extra !== undefined) throw invalidArgument('usage: basalt certs revoke SERIAL (one hex serial, as "basalt certs issue" printed it)');
    const serials = await client.revokeCertificate(serial);
    io.out(`revoked ${serial}; the deny list holds ${serials.length} serial(s)\n`);
    return 0;
  }),
};

const revoked: Command = {
  name: 'revoked', summary: 'list the revoked certificate serials', usage: '[--json]',
  options: { ...clusterOptions, json: { type: 'boolean' } },
  run: (args, io) => withClient(args, io, async (client) => {
    const serials = await client.revokedSerials();
    if (flag(args, 'json')) printJson(io, { serials });
    else io.out(serials.length === 0 ? 'no certificate is revoked\n' : `${serials.join('\n')}\n`);
    return 0;
  }),
};

export const certsGroup: CommandGroup = { name: 'certs', summary: 'cluster CA and certificates (mutual TLS)', commands: [init, issue, rotate, revoke, revoked] };
