// Fuzz target: the configuration loader, YAML text in (a config file, or text posted by
// the web UI), RackbootConfig or ConfigError out.
// Invariants: the only exception is ConfigError, and it lists at least one problem with
// a key path; alias bombs and deep nesting stay bounded (the engine's time and memory
// limits); a loaded configuration names a default profile that exists and pool ranges
// inside their subnets. Afterwards a valid file still loads to the same result.

import { parseConfigText } from '../../../firmware/src/config/load.js';
import { ConfigError } from '../../../firmware/src/config/errors.js';
import { ipToInt } from '../../../firmware/src/net/addr.js';
import { check } from './_support.js';

export const maxLen = 4096;
export const dictionary = [
  'interface: ',
  'pools:',
  '  - subnet: ',
  'range: ',
  'boot:',
  'root: ',
  'profiles:',
  'kind: ',
  'linux',
  'chain',
  'menu',
  'local',
  'hosts:',
  'mac: ',
  'mode: proxy',
  '&a',
  '*a',
  '<<: ',
  '!!binary',
  '{',
  '[',
  '---\n',
  '10.0.0.0/8',
  '192.168.50.100-192.168.50.199',
];

const SOURCE = '/etc/rackboot/rackboot.yaml';
const VALID = 'interface: eth0\npools:\n  - subnet: 192.168.50.0/24\n    range: 192.168.50.100-192.168.50.199\nboot:\n  root: /srv/rackboot\n';
const expected = JSON.stringify(parseConfigText(VALID, SOURCE));

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  try {
    const config = parseConfigText(text, SOURCE);
    check(Object.hasOwn(config.boot.profiles, config.boot.defaultProfile), `default profile ${config.boot.defaultProfile} is not defined`);
    for (const pool of config.pools) {
      const mask = pool.prefix === 0 ? 0 : (~0 << (32 - pool.prefix)) >>> 0;
      const inside = (ip: string): boolean => (ipToInt(ip) & mask) >>> 0 === (ipToInt(pool.subnet) & mask) >>> 0;
      check(
        inside(pool.start) && inside(pool.end) && ipToInt(pool.start) <= ipToInt(pool.end),
        `pool ${pool.start}-${pool.end} is not a range inside ${pool.subnet}/${pool.prefix}`,
      );
    }
    JSON.stringify(config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    check(error.problems.length > 0, 'ConfigError without problems');
    for (const problem of error.problems) check(typeof problem.keyPath === 'string' && problem.keyPath !== '', 'a problem without a key path');
  }
  check(JSON.stringify(parseConfigText(VALID, SOURCE)) === expected, 'a valid file loads differently after the fuzz input');
}
