export { main } from './main.js';
export type { Command, CommandGroup, Io, ParsedArgs } from './command.js';
export { commandGroups } from './commands/index.js';
export { resolveMetaEndpoints, clusterOptions } from './cluster.js';
export { withClient } from './sdk.js';
export { parseSize, formatBytes } from './args.js';
export { printJson, printTable } from './output.js';
export { createCa, issueCert, serialOf, type IssuedCert, type PemPair } from './certs/cert-authority.js';
export { certPaths, finishRotation, initCa, issueInto, rotateCa, tlsFilesOf } from './certs/cert-store.js';
