// The `http:` section: the port, and limits that are set only when written
// (http/server.ts owns their defaults).

import { isIP } from 'node:net';
import { DEFAULTS, MANAGEMENT_DEFAULTS } from '../defaults.js';
import type { HttpConfig, ManagementConfig } from '../schema.js';
import { booleanSpec, countSpec, durationSpec, integerSpec, interfaceSpec, portSpec, textSpec } from '../value-specs.js';
import type { DocumentReader, MapView } from '../yaml-reader.js';

export const HTTP_KEYS = ['port', 'max_connections', 'max_connections_per_address', 'header_timeout', 'memory_cache_mb', 'management'] as const;
export const MANAGEMENT_KEYS = ['port', 'listen', 'interface', 'cert', 'key', 'plain_http'] as const;

const LISTEN_EXPECTED = 'an address with an optional port, like 10.0.0.1, 10.0.0.1:8443 or [fd00::1]:443';
const pemPathSpec = textSpec<string>('an absolute path to a PEM file, like /etc/rackboot/tls/cert.pem', (text) => text.startsWith('/'));

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
  // Left out when the file has no management section: the app applies MANAGEMENT_DEFAULTS.
  const management = http.has('management') ? readManagement(r, http, port) : undefined;
  if (!http.has('management') && port === MANAGEMENT_DEFAULTS.port) {
    r.report(
      http.path('port'),
      http.keyNode('port'),
      String(port),
      `a port other than ${MANAGEMENT_DEFAULTS.port}, where the web UI and API are served over HTTPS (or move them with http.management.port)`,
    );
  }
  if (port === undefined) return undefined;
  const config: HttpConfig = { port, ...(management && { management }) };
  for (const [key, value] of Object.entries(limits)) if (value !== undefined) Object.assign(config, { [key]: value });
  return config;
}

/** `http.management`; wrong values are reported and left at their defaults. */
function readManagement(r: DocumentReader, http: MapView, httpPort: number | undefined): ManagementConfig {
  const view = r.section(http, 'management', MANAGEMENT_KEYS);
  const port = view.getOr('port', portSpec, MANAGEMENT_DEFAULTS.port) ?? MANAGEMENT_DEFAULTS.port;
  const listen: ManagementConfig['listen'] = [];
  for (const item of r.list(view.node('listen'), view.path('listen'), `a list of addresses, each ${LISTEN_EXPECTED}`, true) ?? []) {
    const text = r.item(item.node, item.keyPath, textSpec(LISTEN_EXPECTED));
    if (text === undefined) continue;
    const parsed = parseListen(text, port);
    if (parsed) listen.push(parsed);
    else r.report(item.keyPath, item.node, JSON.stringify(text), LISTEN_EXPECTED);
  }
  const config: ManagementConfig = { port, listen, plainHttp: view.getOr('plain_http', booleanSpec, false) ?? false };
  const iface = view.get('interface', interfaceSpec);
  if (iface !== undefined) config.interface = iface;
  const cert = view.get('cert', pemPathSpec);
  const key = view.get('key', pemPathSpec);
  if ((cert === undefined) !== (key === undefined) && view.has(cert === undefined ? 'key' : 'cert')) {
    const missing = cert === undefined ? 'cert' : 'key';
    r.report(
      view.path(missing),
      view.keyNode(missing === 'cert' ? 'key' : 'cert'),
      'missing',
      `both cert and key, or neither (a self-signed pair is then made)`,
    );
  } else if (cert !== undefined && key !== undefined) {
    config.cert = cert;
    config.key = key;
  }
  for (const { address, port: p } of listen.length > 0 ? listen : [{ address: '', port }]) {
    if (p === httpPort) {
      r.report(
        view.path(listen.length > 0 ? 'listen' : 'port'),
        view.keyNode(listen.length > 0 ? 'listen' : 'port'),
        `port ${p}${address ? ` on ${address}` : ''}`,
        `a port other than http.port (${httpPort}): that one serves boot files over plain HTTP`,
      );
      break;
    }
  }
  return config;
}

/** "10.0.0.1", "10.0.0.1:8443", "[fd00::1]:443", "fd00::1", "0.0.0.0"; undefined when it is none of these. */
export function parseListen(text: string, defaultPort: number): { address: string; port: number } | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const plain = /^([^:]+)(?::(\d{1,5}))?$/.exec(text);
  const [address, portText] = bracketed
    ? [bracketed[1], bracketed[2]]
    : plain
      ? [plain[1], plain[2]]
      : isIP(text) === 6
        ? [text, undefined]
        : [undefined, undefined];
  if (address === undefined || isIP(address) === 0) return undefined;
  const port = portText === undefined ? defaultPort : Number(portText);
  return port >= 1 && port <= 65535 ? { address, port } : undefined;
}
