// The boot storm simulator's public surface (see docs/storm.md).
export { runStormCli, STORM_USAGE } from './cli.js';
export { runStorm, runNodes, type StormOptions } from './storm.js';
export { summarize, formatReport, type StormReport, type StormSummary } from './report.js';
export { timelineSvg } from './timeline-svg.js';
export { parseFirmwareMix, assignFirmware } from './firmware-mix.js';
export { FIRMWARE_KINDS, FIRMWARE_PROFILES, type FirmwareKind } from './timings.js';
export type { NodeResult } from './virtual-node.js';
