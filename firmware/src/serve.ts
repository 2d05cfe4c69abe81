// `rackboot serve`: resolves the configuration, starts the appliance
// (app/app.ts), runs until SIGTERM/SIGINT, then stops it in order so no
// acknowledged change is lost. The exit status says whether all went cleanly.

import { loadConfigFile } from './config/load.js';
import { defaultConfigForInterface } from './config/defaults.js';
import { ConfigError } from './config/errors.js';
import type { RackbootConfig } from './config/schema.js';
import { createLogger, type LogFormat, type LogLevel, type Logger } from './util/log.js';
import { systemdNotifier } from './util/systemd-notify.js';
import { loadPacketAddon } from './net/native.js';
import { interfaceInfo } from './net/link.js';
import { startApp } from './app/app.js';

export interface ServeArgs {
  configFile?: string;
  interface?: string;
  root?: string;
  kernelArgs?: string;
  stateDir?: string;
  logFormat?: LogFormat;
  logLevel?: LogLevel;
}

export async function serve(args: ServeArgs, version: string): Promise<number> {
  const bootLog = createLogger({ level: args.logLevel ?? 'info', format: args.logFormat ?? 'auto' });
  let config: RackbootConfig;
  try {
    config = await resolveConfig(args);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(error.format() + '\n');
      return 1;
    }
    bootLog.error((error as Error).message);
    return 1;
  }
  const log = createLogger({ level: args.logLevel ?? config.log.level, format: args.logFormat ?? config.log.format });
  const app = await startApp(config, { version, log });
  if (!app) return 1;

  // Listen for the stop signal before saying ready: whoever reads the line may send it at once.
  const stopSignal = waitForStopSignal();
  log.info('rackboot ready', app.readyFields());
  const systemd = systemdNotifier({ send: (socket, message) => loadPacketAddon().notifySystemd(socket, message), log });
  systemd.ready(`serving ${config.mode} boot on ${config.interface} (${app.serverAddress})`);

  const signal = await stopSignal;
  systemd.stopping();
  log.info('stopping', { signal });
  const clean = await app.stop(signal);
  log.info('stopped', { counters: app.counters.snapshot() });
  return clean ? 0 : 1;
}

async function resolveConfig(args: ServeArgs): Promise<RackbootConfig> {
  if (args.configFile) {
    const config = await loadConfigFile(args.configFile, { interface: args.interface, root: args.root });
    return args.stateDir ? { ...config, stateDir: args.stateDir } : config;
  }
  const ifname = args.interface!;
  const info = interfaceInfo(ifname);
  const address = info.ipv4[0];
  if (!address) throw new Error(`interface ${ifname} has no IPv4 address; rackboot derives its DHCP pool from it`);
  const config = defaultConfigForInterface(ifname, address, args.root!, { kernelArgs: args.kernelArgs });
  return args.stateDir ? { ...config, stateDir: args.stateDir } : config;
}

function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

export type { Logger };
