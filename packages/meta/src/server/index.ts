export { startMetad, metadDefaults } from './metad.js';
export { CapabilitySigner } from './capability-signer.js';
export type { Metad, MetadOptions } from './metad.js';
export type { LogStore, LogUpdate, PersistedLog, SnapshotSink } from './log-store.js';
export { LevelLogStore } from './level-log-store.js';
export { MemoryLogStore, MemoryDisk } from './memory-log-store.js';
export { addNbdTotals, VolumeRates, type VolumeTotals } from './console/view/volume-rates.js';
export type { RatePoint } from './console/view/model.js';
