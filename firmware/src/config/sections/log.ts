// The `log:` section: how much rackboot logs, and in which format.

import { DEFAULTS } from '../defaults.js';
import type { LogConfig, LogFormat, LogLevel } from '../schema.js';
import { enumSpec } from '../value-specs.js';
import { allRead, type DocumentReader, type MapView } from '../yaml-reader.js';

export const LOG_KEYS = ['level', 'format'] as const;
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const satisfies readonly LogLevel[];
export const LOG_FORMATS = ['auto', 'json', 'text'] as const satisfies readonly LogFormat[];

/** Undefined when a value was wrong (reported). */
export function readLogSection(r: DocumentReader, top: MapView): LogConfig | undefined {
  const log = r.section(top, 'log', LOG_KEYS);
  return allRead({
    level: log.getOr('level', enumSpec(LOG_LEVELS), DEFAULTS.logLevel),
    format: log.getOr('format', enumSpec(LOG_FORMATS), DEFAULTS.logFormat),
  });
}
