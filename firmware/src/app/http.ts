// The HTTP server as the appliance runs it: boot files and per-node iPXE
// scripts from the boot root, the API and the web UI beside them, the http
// section's limits, and each download logged and fed to boot tracking.

import webAssets from 'rackboot:web-assets';
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
  apiRoutes: Route[];
  log: Logger;
  counters: Counters;
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
    extraRoutes: [...deps.apiRoutes, ...createUiRoutes(webAssets)],
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
