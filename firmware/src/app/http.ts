// The HTTP servers as the appliance runs them: on the plain-HTTP port, boot
// files and per-node iPXE scripts from the boot root (with the http section's
// limits, each download logged and fed to boot tracking), the booted callback
// and /metrics; on HTTPS (http.management), the web UI, the API and the event
// stream. Over plain HTTP the management paths redirect to HTTPS, unless
// http.management.plain_http serves them there too.

import { networkInterfaces, hostname } from 'node:os';
import webAssets from 'rackboot:web-assets';
import { MANAGEMENT_DEFAULTS } from '../config/defaults.js';
import type { ManagementConfig } from '../config/schema.js';
import { managementRedirectRoutes } from '../http/management.js';
import { loadManagementCert, type ManagementCert } from '../http/tls/cert-store.js';
import type { RackbootConfig } from '../config/schema.js';
import { httpBaseUrl } from '../boot-policy/booter.js';
import { BOOTED_PATH } from '../http/api/index.js';
import { hotFilesFor } from '../http/boot-files.js';
import type { Route } from '../http/router.js';
import { createHttpServer, type HttpServerOptions, type RackbootHttpServer } from '../http/server.js';
import { createUiRoutes } from '../http/ui.js';
import type { Ipv4 } from '../net/addr.js';
import type { Counters } from '../util/counters.js';
import type { Logger } from '../util/log.js';
import type { BootTracking } from './boot-tracking.js';
import type { RuntimeSettings } from './settings.js';

export interface BootHttpDeps {
  serverAddress: Ipv4;
  boot: BootTracking;
  settings: RuntimeSettings;
  /** The management plane's rows (/api/v1, /metrics). */
  apiRoutes: Route[];
  /** The booted callback's row, always on plain HTTP. */
  bootRoute: Route;
  /** Where HTTPS listens (for the redirects). */
  managementListen: readonly { address: string; port: number }[];
  log: Logger;
  counters: Counters;
  /** The generated GRUB configurations (boot-policy/loader.ts GrubFiles), served as TFTP serves them. */
  generated?: (relative: string, client: string) => Promise<Buffer | undefined>;
}

export function createBootHttp(config: RackbootConfig, deps: BootHttpDeps): RackbootHttpServer {
  const { boot, settings, log } = deps;
  return createHttpServer({
    root: config.boot.root,
    resolveNode: (query) => boot.nodes.resolve(query),
    profiles: config.boot.profiles,
    defaultProfile: () => settings.defaultProfile,
    serverBase: httpBaseUrl(deps.serverAddress, config.http.port),
    bootedCallbackPath: BOOTED_PATH,
    ...(deps.generated && { generated: deps.generated }),
    extraRoutes: managementConfig(config).plainHttp
      ? [deps.bootRoute, ...deps.apiRoutes, ...createUiRoutes(webAssets)]
      : [
          deps.bootRoute,
          ...deps.apiRoutes.filter((route) => route.name === 'metrics'),
          ...managementRedirectRoutes({ listen: deps.managementListen, counters: deps.counters }),
        ],
    ...httpTuning(config.http),
    log,
    counters: deps.counters,
    onEvent: (event) => {
      // Downloads tell the operator (and the boot tracker) that a node fetched its kernel.
      if (event.type === 'http-download' && event.method === 'GET') {
        log.info(event.complete ? 'http download done' : 'http download ended early', {
          component: 'http',
          path: event.path,
          status: event.status,
          bytes: event.bytes,
          ms: event.ms,
          client: event.remote,
        });
      }
      boot.observations.http(event);
    },
  });
}

/** The http section's optional limits as createHttpServer options (its defaults for what the file leaves out). */
function httpTuning(http: RackbootConfig['http']): Pick<HttpServerOptions, 'limits' | 'hotFiles'> {
  return {
    limits: {
      ...(http.maxConnections !== undefined && { maxConnections: http.maxConnections }),
      ...(http.maxConnectionsPerAddress !== undefined && { maxConnectionsPerAddress: http.maxConnectionsPerAddress }),
      ...(http.headerTimeout !== undefined && { headersTimeoutMs: http.headerTimeout * 1000 }),
    },
    ...(http.memoryCacheMb !== undefined && { hotFiles: hotFilesFor(http.memoryCacheMb) }),
  };
}

export function managementConfig(config: RackbootConfig): ManagementConfig {
  return config.http.management ?? { ...MANAGEMENT_DEFAULTS, listen: [] };
}

/**
 * The addresses HTTPS listens on: the listed ones and every address of
 * http.management.interface; neither: every address ('' = all). An interface
 * with no address is a start-up error naming the key.
 */
export function managementListen(config: RackbootConfig): { address: string; port: number }[] {
  const management = managementConfig(config);
  const listen = [...management.listen];
  if (management.interface !== undefined) {
    const addresses = (networkInterfaces()[management.interface] ?? []).filter((a) => !(a.family === 'IPv6' && a.address.startsWith('fe80')));
    if (addresses.length === 0) throw new Error(`http.management.interface: ${management.interface} has no address to serve the web UI and API on`);
    for (const a of addresses) listen.push({ address: a.address, port: management.port });
  }
  if (listen.length === 0) listen.push({ address: '', port: management.port });
  const seen = new Set<string>();
  return listen.filter((l) => !seen.has(`${l.address} ${l.port}`) && seen.add(`${l.address} ${l.port}`));
}

export interface ManagementHttpsDeps {
  apiRoutes: Route[];
  log: Logger;
  counters: Counters;
}

/** The certificate (the operator's, or the generated one) for the management plane. */
export function managementCertificate(
  config: RackbootConfig,
  serverAddress: Ipv4,
  listen: readonly { address: string }[],
  log: Logger,
): Promise<ManagementCert> {
  const management = managementConfig(config);
  const host = hostname();
  const names = [host, `${host}.local`, serverAddress, ...listen.map((l) => l.address).filter((a) => a !== '' && a !== '0.0.0.0' && a !== '::')];
  return loadManagementCert({
    stateDir: config.stateDir,
    ...(management.cert !== undefined && management.key !== undefined && { certFile: management.cert, keyFile: management.key }),
    commonName: `rackboot ${host}`,
    names,
    log: log.child({ component: 'tls' }),
  });
}

/** One HTTPS server per listen address, serving the web UI, the API and the event stream. */
export function createManagementHttps(
  config: RackbootConfig,
  cert: ManagementCert,
  listen: readonly { address: string; port: number }[],
  deps: ManagementHttpsDeps,
): { server: RackbootHttpServer; address: string; port: number }[] {
  return listen.map(({ address, port }) => ({
    address,
    port,
    server: createHttpServer({
      root: config.boot.root,
      resolveNode: () => Promise.resolve(undefined),
      profiles: {},
      defaultProfile: '',
      serverBase: '',
      bootFiles: false,
      tls: { key: cert.key, cert: cert.cert },
      extraRoutes: [...deps.apiRoutes, ...createUiRoutes(webAssets)],
      ...httpTuning(config.http),
      log: deps.log,
      counters: deps.counters,
    }),
  }));
}
