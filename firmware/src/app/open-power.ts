// Opens the configured power channels and connects the power service and the
// sequencer to the inventory (which node is on which channel), the boot tracker
// (stages, diagnoses for recovery, power_on observations), the event log and
// the liveness probes recovery asks before every cycle.

import type { RackbootConfig } from '../config/schema.js';
import type { BootTracker } from '../boot-tracking/tracker.js';
import type { EventLog } from '../inventory/events.js';
import type { NodeInventory } from '../inventory/nodes.js';
import type { Mac } from '../net/addr.js';
import type { Logger } from '../util/log.js';
import { PowerSequencer, PowerService, openPowerDrivers, probeLiveness, type LivenessProbes, type SequencerHost } from '../power/index.js';
import { ServicePowerControl } from './power.js';

export interface OpenPowerDeps {
  inventory: NodeInventory;
  tracker: BootTracker;
  events: EventLog;
  log: Logger;
  /** TFTP transfers plus HTTP downloads in progress (adaptive power-on waits for them). */
  inFlightTransfers: () => number;
  /** Where the node was last seen, and the ARP and ICMP probes of the DHCP service. */
  liveness: LivenessProbes;
}

export async function openPower(config: RackbootConfig, deps: OpenPowerDeps): Promise<ServicePowerControl> {
  const { inventory, tracker, events, log } = deps;
  const opened = await openPowerDrivers(config.power, { stateDir: config.stateDir });
  for (const failure of opened.failures) log.error(`power channel ${failure.channel} cannot be used: ${failure.message}`, { channel: failure.channel });
  const nameOf = (mac: Mac) => inventory.get(mac)?.name ?? mac;
  const channelOf = (mac: Mac) => inventory.get(mac)?.powerChannel;
  const service = new PowerService(opened.drivers, {
    channelOf,
    nameOf,
    emit: (event) => events.append(event),
    observe: (observation) => tracker.observe(observation),
    now: () => Date.now(),
  });
  const host: SequencerHost = {
    stageOf: (mac) => tracker.state(mac)?.stage,
    inFlightTransfers: deps.inFlightTransfers,
    channelOf,
    nameOf,
    emit: (event) => events.append(event),
    onDiagnosis: (listener) =>
      tracker.subscribe((mac, change) => {
        if (change.kind === 'diagnosis') listener(mac, change.diagnosis, change.detail);
      }),
    channelRecovery: (mac) => {
      const channel = channelOf(mac);
      return channel === undefined ? undefined : config.power.channels[channel]?.recovery;
    },
    liveness: (mac) => probeLiveness(mac, deps.liveness),
    bootWindowMs: config.inventory.bootTimeoutMs,
  };
  const sequencer = new PowerSequencer(config.power.sequencer, host, service);
  log.info('power channels ready', { channels: service.channels().join(','), failed: opened.failures.length });
  return new ServicePowerControl({
    service,
    sequencer,
    nodes: () => inventory.list(),
    nameOf,
    channelOf,
    close: () => service.close(),
  });
}
