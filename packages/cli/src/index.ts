export { main } from './main.js';
export type { Command, CommandGroup, Io, ParsedArgs } from './command.js';
export { commandGroups } from './commands/index.js';
export { resolveMetaEndpoints, metaClient, withMeta, clusterOptions } from './cluster.js';
export { parseSize, formatBytes } from './args.js';
export { printJson, printTable } from './output.js';
export { nbdClientAttachArgs, nbdClientDetachArgs, findFreeDevice, type AttachSpec } from './commands/attach.js';
