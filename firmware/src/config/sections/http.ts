// The `http:` section: the port, and limits that are set only when written
// (http/server.ts owns their defaults).

import { DEFAULTS } from '../defaults.js';
import type { HttpConfig } from '../schema.js';
import { countSpec, durationSpec, integerSpec, portSpec } from '../value-specs.js';
import type { DocumentReader, MapView } from '../yaml-reader.js';

export const HTTP_KEYS = ['port', 'max_connections', 'max_connections_per_address', 'header_timeout', 'memory_cache_mb'] as const;

/** Undefined when the port was wrong; a wrong limit is left out. Either is reported. */
export function readHttpSection(r: DocumentReader, top: MapView): HttpConfig | undefined {
  const http = r.section(top, 'http', HTTP_KEYS);
  const port = http.getOr('port', portSpec, DEFAULTS.httpPort);
  const limits = {
    maxConnections: http.get('max_connections', countSpec(1, 65_536, 'connections')),
    maxConnectionsPerAddress: http.get('max_connections_per_address', countSpec(1, 65_536, 'connections')),
    headerTimeout: http.get('header_timeout', durationSpec(600)),
    memoryCacheMb: http.get('memory_cache_mb', integerSpec(0, 65_536, 'MiB from 0 (stream every file) to 65536')),
  };
  if (port === undefined) return undefined;
  const config: HttpConfig = { port };
  for (const [key, value] of Object.entries(limits)) if (value !== undefined) Object.assign(config, { [key]: value });
  return config;
}
