// The http section's limits (docs/config.md#http): read when written, left to
// the HTTP server's defaults when not, bad values refused with the key named.
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../firmware/src/config/load.js';
import { ConfigError } from '../../firmware/src/config/errors.js';
import { hotFilesFor } from '../../firmware/src/http/boot-files.js';

const BASE = 'interface: eth0\nmode: proxy\nboot: { root: /srv/boot }\n';

describe('http config', () => {
  it('without limits: only the port, so the server keeps its own defaults', () => {
    expect(parseConfigText(BASE, '/etc/rackboot/rackboot.yaml').http).toEqual({ port: 80 });
  });

  it('reads every limit', () => {
    const config = parseConfigText(
      `${BASE}http: { port: 8080, max_connections: 512, max_connections_per_address: 16, header_timeout: 5s, memory_cache_mb: 0 }\n`,
      '/etc/rackboot/rackboot.yaml',
    );
    expect(config.http).toEqual({ port: 8080, maxConnections: 512, maxConnectionsPerAddress: 16, headerTimeout: 5, memoryCacheMb: 0 });
  });

  it('refuses out-of-range values, naming each key', () => {
    let error: unknown;
    try {
      parseConfigText(
        `${BASE}http: { max_connections: 0, max_connections_per_address: -1, header_timeout: 1h, memory_cache_mb: lots }\n`,
        '/etc/rackboot/rackboot.yaml',
      );
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const keys = (error as ConfigError).problems.map((p) => p.keyPath).sort();
    expect(keys).toEqual(['http.header_timeout', 'http.max_connections', 'http.max_connections_per_address', 'http.memory_cache_mb']);
  });

  it('memory_cache_mb: 0 streams every file; otherwise one file may use the budget up to 128 MiB', () => {
    expect(hotFilesFor(0)).toBe(false);
    expect(hotFilesFor(64)).toEqual({ maxTotalBytes: 64 * 2 ** 20, maxFileBytes: 64 * 2 ** 20 });
    expect(hotFilesFor(1024)).toEqual({ maxTotalBytes: 1024 * 2 ** 20, maxFileBytes: 128 * 2 ** 20 });
  });
});
