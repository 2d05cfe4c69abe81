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

describe('http.management config', () => {
  const problems = (yaml: string) => {
    try {
      parseConfigText(`${BASE}${yaml}`, '/etc/rackboot/rackboot.yaml');
    } catch (caught) {
      return (caught as ConfigError).problems.map((p) => `${p.keyPath}: found ${p.found}, expected ${p.expected}`);
    }
    return [];
  };

  it('reads addresses with and without ports, an interface, the operator certificate and plain_http', () => {
    const config = parseConfigText(
      `${BASE}http:\n  management:\n    port: 8443\n    listen: [10.0.0.1, "10.0.0.2:9443", "[fd00::1]:443", "fd00::2"]\n    interface: eth1\n    cert: /etc/rackboot/cert.pem\n    key: /etc/rackboot/key.pem\n    plain_http: true\n`,
      '/etc/rackboot/rackboot.yaml',
    );
    expect(config.http.management).toEqual({
      port: 8443,
      listen: [
        { address: '10.0.0.1', port: 8443 },
        { address: '10.0.0.2', port: 9443 },
        { address: 'fd00::1', port: 443 },
        { address: 'fd00::2', port: 8443 },
      ],
      interface: 'eth1',
      cert: '/etc/rackboot/cert.pem',
      key: '/etc/rackboot/key.pem',
      plainHttp: true,
    });
    expect(parseConfigText(`${BASE}http: { management: { listen: 10.0.0.1 } }\n`, 'x').http.management?.listen).toEqual([{ address: '10.0.0.1', port: 443 }]);
  });

  it('names the key and what is expected for a bad value', () => {
    expect(problems('http: { management: { cert: /etc/c.pem } }\n')).toEqual([
      'http.management.key: found missing, expected both cert and key, or neither (a self-signed pair is then made)',
    ]);
    expect(problems('http: { management: { listen: [rackboot.local] } }\n')[0]).toMatch(
      /^http\.management\.listen\[0\]: found "rackboot.local", expected an address/,
    );
    expect(problems('http: { management: { port: 80 } }\n')[0]).toMatch(/^http\.management\.port: found port 80, expected a port other than http\.port \(80\)/);
    expect(problems('http: { port: 443 }\n')[0]).toMatch(/^http\.port: found 443, expected a port other than 443/);
    expect(problems('http: { management: { key: relative.pem, cert: /c.pem } }\n')[0]).toMatch(/^http\.management\.key: .*absolute path/);
    expect(problems('http: { management: { plain_http: maybe } }\n')[0]).toMatch(/^http\.management\.plain_http/);
  });
});
