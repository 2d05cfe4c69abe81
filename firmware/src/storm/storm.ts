// Runs a storm: creates the virtual nodes' interfaces, powers them on with the
// requested stagger, waits for every outcome (or the boot time limit), and
// returns the report. The library entry point; cli.ts is the command around it.
import { randomBytes, randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { BootStage } from '../model/boot.js';
import type { Ipv4 } from '../net/addr.js';
import { assignFirmware, stormMac, type FirmwareMix } from './firmware-mix.js';
import { StormHost } from './host-net.js';
import type { NodeNet } from './node-net.js';
import { summarize, type StormReport } from './report.js';
import { DEFAULT_BOOT_LIMIT_SECONDS } from './timings.js';
import { VirtualNode, type NodeResult } from './virtual-node.js';
import { monotonicTimers, sleep, type Timers } from '../util/timers.js';

export interface StormOptions {
  interface: string;
  nodes: number;
  mix: FirmwareMix;
  /** ms between successive power-ons. */
  staggerMs: number;
  /** Only answers from this server count. */
  server?: Ipv4;
  /** A boot not finished after this long is took_too_long. */
  bootLimitSeconds?: number;
  /** Fixed per-run MAC byte (02:72:62:RR:..); random by default. */
  runByte?: number;
  /** Interface name prefix for the macvlans. */
  ifPrefix?: string;
  /** Called about once a second and at every outcome, with each node's state. */
  onProgress?: (elapsedMs: number, states: Array<BootStage | 'failed'>) => void;
  version?: string;
  /** Problems a person should see before the storm (host limits it could not raise). */
  warn?: (message: string) => void;
}

/** Runs virtual nodes on prepared networks (host or fake) and collects their results. */
export async function runNodes(
  nets: readonly NodeNet[],
  options: Pick<StormOptions, 'mix' | 'staggerMs' | 'server' | 'bootLimitSeconds' | 'onProgress'>,
  timers: Timers = monotonicTimers,
): Promise<NodeResult[]> {
  const firmware = assignFirmware(options.mix, nets.length);
  const epoch = timers.now();
  const limitMs = (options.bootLimitSeconds ?? DEFAULT_BOOT_LIMIT_SECONDS) * 1000;
  const states: Array<BootStage | 'failed'> = nets.map(() => 'off');
  const report = (): void => options.onProgress?.(timers.now() - epoch, states);
  const nodes = nets.map(
    (net, index) =>
      new VirtualNode({
        index,
        firmware: firmware[index],
        net,
        timers,
        epoch,
        onlyServer: options.server,
        uuid: randomUUID(),
        onStage: (i, stage) => (states[i] = stage),
      }),
  );
  const ticker = setInterval(report, 1000);
  try {
    return await Promise.all(
      nodes.map(async (node, index) => {
        if (index > 0 && options.staggerMs > 0) await sleep(timers, index * options.staggerMs);
        const result = await withLimit(node, limitMs, timers);
        states[index] = result.outcome === 'booted' ? 'booted' : 'failed';
        report();
        return result;
      }),
    );
  } finally {
    clearInterval(ticker);
  }
}

/** The boot, or took_too_long when it outlasts the limit (the stage reached is kept). */
function withLimit(node: VirtualNode, limitMs: number, timers: Timers): Promise<NodeResult> {
  return new Promise((resolve) => {
    const booted = node.boot();
    const timer = timers.setTimer(limitMs, () => {
      const result = node.result;
      result.outcome = 'took_too_long';
      result.detail = `still at stage ${node.stage} after ${limitMs / 1000} s`;
      result.finishedAt = Math.round(result.poweredOnAt + limitMs);
      resolve({ ...result, stages: [...result.stages] });
    });
    void booted.then((result) => {
      timers.clearTimer(timer);
      resolve(result);
    });
  });
}

export async function runStorm(options: StormOptions): Promise<StormReport> {
  if (!Number.isInteger(options.nodes) || options.nodes < 1) throw new RangeError('nodes must be a positive integer');
  const runByte = options.runByte ?? randomBytes(1)[0];
  const macs = Array.from({ length: options.nodes }, (_, i) => stormMac(runByte, i));
  const startedAt = new Date().toISOString();
  const host = await StormHost.create({ parent: options.interface, macs, ifPrefix: options.ifPrefix ?? 'stm', warn: options.warn });
  // How late the simulator's own timers ran: at scale the single event loop, not the server,
  // can become what is measured, and the report has to say so.
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  try {
    const nodes = await runNodes(host.nodes, options);
    lag.disable();
    return {
      tool: 'rackboot storm',
      version: options.version ?? 'unknown',
      startedAt,
      options: {
        interface: options.interface,
        nodes: options.nodes,
        mix: options.mix,
        staggerMs: options.staggerMs,
        server: options.server ?? null,
        bootLimitSeconds: options.bootLimitSeconds ?? DEFAULT_BOOT_LIMIT_SECONDS,
      },
      setup: { ms: host.setupMs, ipRuns: host.batch.runs },
      simulator: { eventLoopDelayP99Ms: Math.round(lag.percentile(99) / 1e6), eventLoopDelayMaxMs: Math.round(lag.max / 1e6) },
      summary: summarize(nodes),
      nodes,
    };
  } finally {
    lag.disable();
    await host.close();
  }
}
