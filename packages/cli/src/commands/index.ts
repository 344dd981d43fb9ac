import type { CommandGroup } from '../command.js';
import { agentGroup } from './agent.js';
import { auditGroup } from './audit.js';
import { attachGroup, detachGroup } from './attach.js';
import { certsGroup } from './certs.js';
import { chunkGroup } from './chunk.js';
import { csiGroup } from './csi.js';
import { metaGroup } from './meta.js';
import { serverGroup } from './server.js';
import { snapshotGroup } from './snapshot.js';
import { statusGroup } from './status.js';
import { tenantGroup } from './tenant.js';
import { downGroup, upGroup } from './up.js';
import { topGroup } from './top.js';
import { volumeGroup } from './volume.js';

/** Every `basalt` command group. Add a group: write commands/<group>.ts and list it here. */
export const commandGroups: readonly CommandGroup[] = [metaGroup, chunkGroup, serverGroup, volumeGroup, snapshotGroup, tenantGroup, statusGroup, auditGroup, topGroup, agentGroup, upGroup, downGroup, attachGroup, detachGroup, csiGroup, certsGroup];
