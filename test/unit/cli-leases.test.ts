// `rackboot leases` names each lease's node from the inventory (NODE column),
// '-' for a MAC the inventory does not know, and never cuts a name.
import { describe, expect, it } from 'vitest';
import { formatLeaseTable } from '../../firmware/src/dhcp/lease-format.js';
import type { Lease } from '../../firmware/src/dhcp/leases.js';

describe('rackboot leases NODE column', () => {
  it('shows the inventory name of known MACs and - for the others', () => {
    const now = 1_700_000_000_000;
    const leases: Lease[] = [
      { ip: '10.0.0.10', mac: '02:00:00:00:00:01', state: 'bound', start: now, expires: now + 3_600_000, hostname: 'client-said' },
      { ip: '10.0.0.11', mac: '02:00:00:00:00:02', state: 'bound', start: now, expires: now + 600_000 },
    ];
    const long = 'rack12-gpu-node-with-a-rather-long-name-07';
    const lines = formatLeaseTable(leases, now, new Map([['02:00:00:00:00:01', long]])).split('\n');
    expect(lines[0]).toMatch(/^ADDRESS +MAC +STATE +EXPIRES IN +NODE +HOSTNAME$/);
    expect(lines[1]).toMatch(new RegExp(`^10\\.0\\.0\\.10 +02:00:00:00:00:01 +bound +60m +${long} +client-said$`));
    expect(lines[2]).toMatch(/^10\.0\.0\.11 +02:00:00:00:00:02 +bound +10m +-$/);
  });
});
