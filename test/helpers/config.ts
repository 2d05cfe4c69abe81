// A complete, valid RackbootConfig for tests that build servers directly (no YAML):
// full DHCP on eth0, no pools, no hosts, one Linux profile, the default limits.
// Each call returns a fresh object; `overrides` replace whole top-level fields.
import type { RackbootConfig } from '../../firmware/src/config/schema.js';
import { DEFAULT_POWER_CONFIG } from '../../firmware/src/config/defaults.js';

export function testConfig(overrides: Partial<RackbootConfig> = {}): RackbootConfig {
  return {
    source: '<test>',
    interface: 'eth0',
    mode: 'dhcp',
    leaseTime: 3600,
    stateDir: '/nonexistent',
    pools: [],
    options: { dns: [], ntp: [] },
    hosts: [],
    boot: { root: '/srv', defaultProfile: 'default', profiles: { default: { kind: 'linux', kernel: 'vmlinuz', initrds: [], cmdline: '' } }, loader: 'ipxe' },
    http: { port: 80 },
    dhcp: { maxOffers: 1024, unknownSharePercent: 100, relays: [] },
    tftp: { port: 69, maxTransfers: 128, maxRateMbit: 400, transferRateMbit: 100 },
    inventory: { unknownNodes: 'boot', bootTimeoutMs: 900_000, openTimeoutMs: 30_000, stallTimeoutMs: 60_000 },
    power: structuredClone(DEFAULT_POWER_CONFIG),
    log: { level: 'info', format: 'json' },
    ...overrides,
  };
}
