// The `console:` section: the serial management console. No section, no console;
// a section without a device is reported, since a speed alone opens nothing.

import { DEFAULTS } from '../defaults.js';
import type { ConsoleConfig } from '../schema.js';
import { baudSpec, devicePathSpec, durationSpec } from '../value-specs.js';
import { allRead, type DocumentReader, type MapView } from '../yaml-reader.js';

export const CONSOLE_KEYS = ['device', 'baud', 'idle_timeout'] as const;

/** Undefined when the section is absent, or when a value was wrong (reported). */
export function readConsoleSection(r: DocumentReader, top: MapView): ConsoleConfig | undefined {
  if (!top.has('console')) return undefined;
  const section = r.section(top, 'console', CONSOLE_KEYS);
  const read = allRead({
    device: section.need('device', devicePathSpec),
    baud: section.getOr('baud', baudSpec, DEFAULTS.consoleBaud),
    idleTimeout: section.getOr('idle_timeout', durationSpec(24 * 3600), DEFAULTS.consoleIdleTimeoutSeconds),
  });
  return read && { device: read.device, baud: read.baud, idleTimeoutMs: read.idleTimeout * 1000 };
}
