import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkConfigFile, loadConfigFile, parseConfigText } from '../../firmware/src/config/load.js';
import { ConfigError, didYouMean, editDistance, type ConfigProblem } from '../../firmware/src/config/errors.js';
import { DurationError, formatDuration, parseDuration } from '../../firmware/src/config/duration.js';
import { DEFAULT_POWER_CONFIG, defaultConfigForInterface, defaultPool } from '../../firmware/src/config/defaults.js';
import type { RackbootConfig } from '../../firmware/src/config/schema.js';
import { TOP_KEYS } from '../../firmware/src/config/document.js';
import { BOOT_KEYS, MENU_ITEM_KEYS, PROFILE_KEYS } from '../../firmware/src/config/sections/boot.js';
import { CONSOLE_KEYS } from '../../firmware/src/config/sections/console.js';
import { HOST_KEYS } from '../../firmware/src/config/sections/hosts.js';
import { HTTP_KEYS, MANAGEMENT_KEYS } from '../../firmware/src/config/sections/http.js';
import { INVENTORY_KEYS } from '../../firmware/src/config/sections/inventory.js';
import { LOG_KEYS } from '../../firmware/src/config/sections/log.js';
import { OPTIONS_KEYS } from '../../firmware/src/config/sections/options.js';
import { POOL_KEYS } from '../../firmware/src/config/sections/pools.js';
import { TFTP_KEYS } from '../../firmware/src/config/sections/tftp.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = join(REPO, 'test', 'fixtures', 'config');
const fixture = (name: string) => join(FIXTURES, name);

/** Problems of a configuration that must fail. */
async function problemsOf(name: string): Promise<ConfigProblem[]> {
  const result = await checkConfigFile(fixture(name));
  if (result.ok) throw new Error(`${name} unexpectedly valid`);
  return [...result.error.problems];
}

function problemsOfText(text: string, source = '/etc/rackboot/rackboot.yaml'): ConfigProblem[] {
  try {
    parseConfigText(text, source);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('configuration unexpectedly valid');
}

/** The 1-based line of the `nth` line of a fixture matching `needle`, so expectations survive edits to fixtures. */
async function lineIn(name: string, needle: string | RegExp, nth = 1): Promise<number> {
  const lines = (await readFile(fixture(name), 'utf8')).split('\n');
  const matches = lines.flatMap((l, index) => ((typeof needle === 'string' ? l.includes(needle) : needle.test(l)) ? [index + 1] : []));
  const line = matches[nth - 1];
  if (line === undefined) throw new Error(`${String(needle)} (#${nth}) not in ${name}`);
  return line;
}

function byPath(problems: ConfigProblem[], keyPath: string): ConfigProblem {
  const found = problems.filter((p) => p.keyPath === keyPath);
  if (found.length !== 1)
    throw new Error(`expected one problem at ${keyPath}, got ${found.length}:\n${problems.map((p) => `${p.keyPath}: ${p.expected}`).join('\n')}`);
  return found[0];
}

/** expect.stringContaining and expect.stringMatching, typed as the string they stand for in an expected problem. */
const containing = (text: string): string => expect.stringContaining(text) as string;
const matching = (pattern: RegExp): string => expect.stringMatching(pattern) as string;

const MINIMAL = `interface: eth0
pools:
  - subnet: 10.0.0.0/24
    range: 10.0.0.100-10.0.0.199
boot:
  root: /srv/rackboot
`;

describe('parseDuration', () => {
  it('reads numbers as seconds and unit strings', () => {
    expect(parseDuration(90)).toBe(90);
    expect(parseDuration('90')).toBe(90);
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('15m')).toBe(900);
    expect(parseDuration('12h')).toBe(43_200);
    expect(parseDuration('7d')).toBe(604_800);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('1d2h3m4s')).toBe(93_784);
  });

  it('refuses what it cannot read exactly, saying what it expects', () => {
    for (const bad of ['', '1.5h', '30m1h', '1h1h', '12 hours', 'h', '-5s', '1w']) {
      expect(() => parseDuration(bad), bad).toThrow(DurationError);
    }
    expect(() => parseDuration(1.5)).toThrow(DurationError);
    expect(() => parseDuration(-1)).toThrow(DurationError);
    try {
      parseDuration('soon');
    } catch (error) {
      expect((error as DurationError).expected).toMatch(/90s, 15m, 12h, 7d, 1h30m/);
    }
  });

  it('formats back to the shortest unit string', () => {
    expect(formatDuration(43_200)).toBe('12h');
    expect(formatDuration(5400)).toBe('1h30m');
    expect(formatDuration(0)).toBe('0s');
  });
});

describe('edit distance and suggestions', () => {
  it('counts one transposition as one edit', () => {
    expect(editDistance('rnage', 'range')).toBe(1);
    expect(editDistance('lease_time', 'lease_time')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests close keys, camelCase and dashed spellings, and nothing for unrelated words', () => {
    expect(didYouMean('leas_time', TOP_KEYS)).toBe('lease_time');
    expect(didYouMean('serverAddress', TOP_KEYS)).toBe('server_address');
    expect(didYouMean('state-dir', TOP_KEYS)).toBe('state_dir');
    expect(didYouMean('colour', TOP_KEYS)).toBeUndefined();
  });
});

describe('valid files', () => {
  it('reads a file with every key into the normalised form', async () => {
    const config = await loadConfigFile(fixture('valid-full.yaml'));
    const expected: RackbootConfig = {
      source: fixture('valid-full.yaml'),
      interface: 'eth1',
      serverAddress: '10.0.0.1',
      mode: 'dhcp',
      leaseTime: 5400,
      stateDir: join(FIXTURES, 'state'),
      pools: [
        { subnet: '10.0.0.0', prefix: 24, start: '10.0.0.100', end: '10.0.0.199', router: '10.0.0.254', leaseTime: 3600 },
        { subnet: '10.0.1.0', prefix: 24, start: '10.0.1.10', end: '10.0.1.250' },
      ],
      options: { router: '10.0.1.1', dns: ['10.0.0.1', '10.0.0.2'], domain: 'cluster.local', ntp: ['10.0.0.1'] },
      hosts: [
        { mac: '52:54:00:00:00:01', ip: '10.0.0.11', hostname: 'node01', profile: 'compute' },
        { mac: '52:54:00:aa:bb:02', hostname: 'node02' },
        { mac: '52:54:00:00:00:03', ip: '10.0.1.5', profile: 'choose' },
      ],
      boot: {
        root: join(FIXTURES, 'boot'),
        defaultProfile: 'compute',
        profiles: {
          compute: {
            kind: 'linux',
            kernel: 'images/vmlinuz',
            initrds: ['images/initrd.img', 'images/microcode.img'],
            cmdline: 'console=ttyS0,115200 root=/dev/nfs',
          },
          rescue: { kind: 'chain', url: 'http://10.0.0.1:8080/rescue.ipxe' },
          disk: { kind: 'local' },
          choose: {
            kind: 'menu',
            items: [
              { profile: 'compute', label: 'Linux (compute)' },
              { profile: 'disk', label: 'Local disk' },
            ],
            timeout: 15,
          },
        },
        loader: 'ipxe',
      },
      http: { port: 8080 },
      dhcp: { maxOffers: 2048, unknownSharePercent: 60, relays: ['10.0.1.254'] },
      tftp: { port: 6969, maxTransfers: 32, maxRateMbit: 200, transferRateMbit: 50 },
      inventory: { unknownNodes: 'hold', bootTimeoutMs: 1_200_000, openTimeoutMs: 45_000, stallTimeoutMs: 120_000 },
      power: DEFAULT_POWER_CONFIG,
      console: { device: '/dev/ttyUSB0', baud: 9600, idleTimeoutMs: 15 * 60_000 },
      log: { level: 'debug', format: 'json' },
    };
    expect(config).toStrictEqual(expected);
  });

  it('fills every default into a minimal file', async () => {
    const config = await loadConfigFile(fixture('valid-minimal.yaml'));
    expect(config).toStrictEqual({
      source: fixture('valid-minimal.yaml'),
      interface: 'eth0',
      mode: 'dhcp',
      leaseTime: 43_200,
      stateDir: '/var/lib/rackboot',
      pools: [{ subnet: '192.168.50.0', prefix: 24, start: '192.168.50.100', end: '192.168.50.199' }],
      options: { dns: [], ntp: [] },
      hosts: [],
      boot: {
        root: '/srv/rackboot',
        defaultProfile: 'default',
        profiles: { default: { kind: 'linux', kernel: 'vmlinuz', initrds: ['initrd.img'], cmdline: '' } },
        loader: 'ipxe',
      },
      http: { port: 80 },
      dhcp: { maxOffers: 1024, unknownSharePercent: 50, relays: [] },
      tftp: { port: 69, maxTransfers: 128, maxRateMbit: 400, transferRateMbit: 100 },
      inventory: { unknownNodes: 'boot', bootTimeoutMs: 900_000, openTimeoutMs: 30_000, stallTimeoutMs: 60_000 },
      power: DEFAULT_POWER_CONFIG,
      log: { level: 'info', format: 'auto' },
    } satisfies RackbootConfig);
  });

  it('accepts proxy mode without pools, and a single initrd path', async () => {
    const config = await loadConfigFile(fixture('valid-proxy.yaml'));
    expect(config.mode).toBe('proxy');
    expect(config.pools).toEqual([]);
    expect(config.boot.profiles.default).toEqual({ kind: 'linux', kernel: 'vmlinuz', initrds: ['initrd.img'], cmdline: '' });
  });

  it('accepts the appliance default shipped in rootfs-overlay', async () => {
    const result = await checkConfigFile(join(REPO, 'rootfs-overlay', 'etc', 'rackboot', 'rackboot.yaml'));
    expect(result.ok ? 'ok' : result.error.format()).toBe('ok');
  });

  it('resolves relative paths against the file directory, or the current directory for a label source', () => {
    const text = MINIMAL.replace('root: /srv/rackboot', 'root: boot/files') + 'state_dir: ../state\n';
    const fromFile = parseConfigText(text, '/etc/rackboot/rackboot.yaml');
    expect(fromFile.boot.root).toBe('/etc/rackboot/boot/files');
    expect(fromFile.stateDir).toBe('/etc/state');
    const fromLabel = parseConfigText(text, '<web>');
    expect(fromLabel.boot.root).toBe(resolve(process.cwd(), 'boot/files'));
    expect(fromLabel.source).toBe('<web>');
  });

  it('treats plain numbers as text where text is expected, exactly as written', () => {
    const config = parseConfigText(MINIMAL + 'hosts:\n  - mac: 52:54:00:00:00:01\n    hostname: 0042\n', '<test>');
    expect(config.hosts[0].hostname).toBe('0042');
  });

  it('follows YAML aliases', () => {
    const text = `interface: eth0
options:
  dns: &dns [10.0.0.53]
  ntp: *dns
pools: [{ subnet: 10.0.0.0/24, range: 10.0.0.100-10.0.0.199 }]
boot: { root: /srv }
`;
    expect(parseConfigText(text, '<test>').options.ntp).toEqual(['10.0.0.53']);
  });
});

describe('overrides', () => {
  it('--interface supplies a missing interface and --root replaces boot.root, relative to the current directory', async () => {
    const config = await loadConfigFile(fixture('no-interface.yaml'), { interface: 'eth7', root: 'some/dir' });
    expect(config.interface).toBe('eth7');
    expect(config.boot.root).toBe(resolve(process.cwd(), 'some/dir'));
  });

  it('without overrides the same file resolves its own relative root but lacks an interface', async () => {
    const problems = await problemsOf('no-interface.yaml');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ keyPath: 'interface', found: 'missing', expected: containing('--interface') });
    const config = await loadConfigFile(fixture('no-interface.yaml'), { interface: 'eth0' });
    expect(config.boot.root).toBe(resolve(FIXTURES, '..', 'boot'));
  });

  it('--interface wins over the file, and --root makes boot.root optional', () => {
    const config = parseConfigText(MINIMAL.replace('boot:\n  root: /srv/rackboot\n', ''), '/etc/rackboot/rackboot.yaml', {
      interface: 'eth9',
      root: '/data/boot',
    });
    expect(config.interface).toBe('eth9');
    expect(config.boot.root).toBe('/data/boot');
  });

  it('reports a bad override as a command-line problem', () => {
    try {
      parseConfigText(MINIMAL, '/etc/rackboot/rackboot.yaml', { interface: 'eth0 eth1' });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        { file: '<command line>', keyPath: '--interface', found: '"eth0 eth1"', expected: containing('network interface name') },
      ]);
    }
  });
});

describe('value errors', () => {
  it('names key path, value as written, expectation and line for each class of bad value', async () => {
    const name = 'invalid-values.yaml';
    const problems = await problemsOf(name);
    const cases: [keyPath: string, found: string, expected: RegExp, needle: string][] = [
      ['interface', '"eth0 with spaces"', /network interface name like eth0/, 'interface:'],
      ['server_address', '"10.0.0.256"', /IPv4 address like 10\.0\.0\.1/, 'server_address:'],
      ['mode', '"dchp"', /one of: dhcp, proxy; did you mean "dhcp"\?/, 'mode:'],
      ['lease_time', '"12 hours"', /positive duration.*1h30m/, 'lease_time:'],
      ['pools[0].subnet', '"10.0.0.0/33"', /subnet in network\/prefix form like 10\.0\.0\.0\/24/, 'subnet:'],
      ['pools[0].range', '"10.0.0.300-10.0.0.5"', /^an IPv4 range like 10\.0\.0\.100-10\.0\.0\.199 inside pools\[0\]\.subnet$/, 'range:'],
      ['options.dns[1]', '"dns.example"', /IPv4 address/, 'dns:'],
      ['options.domain', '"-bad-.example"', /domain name like cluster\.local/, 'domain:'],
      ['hosts[0].mac', '"52:54:00:00:00"', /MAC address like 52:54:00:12:34:56/, 'mac:'],
      ['hosts[0].hostname', '"node_01"', /letters, digits and hyphens/, 'hostname:'],
      ['boot.profiles.default.kernel', '"/boot/vmlinuz"', /relative to boot\.root.*no leading "\/"/, 'kernel:'],
      ['boot.profiles.default.initrds[0]', '"../initrd.img"', /no "\.\." segment/, 'kernel:'],
      ['boot.profiles.rescue.url', '"ftp://10.0.0.1/x"', /http:\/\/, https:\/\/ or tftp:\/\//, 'rescue:'],
      ['boot.profiles.choose.timeout', '0', /positive duration/, 'choose:'],
      ['http.port', '70000', /port number from 1 to 65535/, 'http:'],
      ['tftp.port', '"69"', /port number from 1 to 65535/, 'tftp:'],
      ['dhcp.relays[1]', '"relay.example"', /IPv4 address/, 'dhcp:'],
      ['inventory.unknown_nodes', '"approve"', /one of: boot, hold/, 'inventory:'],
      ['inventory.open_timeout', '"soon"', /positive duration/, 'inventory:'],
      ['console.device', '"ttyUSB0"', /absolute device path like \/dev\/ttyAMA0/, 'console:'],
      ['console.baud', '115201', /serial speed: one of 9600, .*115200/, 'console:'],
      ['log.level', '"verbose"', /one of: debug, info, warn, error/, 'log:'],
      ['log.format', '"yaml"', /one of: auto, json, text/, 'log:'],
    ];
    for (const [keyPath, found, expected, needle] of cases) {
      const problem = byPath(problems, keyPath);
      expect(problem.found, keyPath).toBe(found);
      expect(problem.expected, keyPath).toMatch(expected);
      expect(problem.line, keyPath).toBe(await lineIn(name, needle));
      expect(problem.file).toBe(fixture(name));
    }
    // All of them in one pass, and nothing else.
    expect(problems).toHaveLength(cases.length);
  });

  it('takes TFTP rates in fractions of a Mbit/s (a 250 kbit/s uplink is paced too), and names a rate out of range', () => {
    const base = 'interface: eth0\npools:\n  - subnet: 10.0.0.0/24\n    range: 10.0.0.100-10.0.0.199\nboot: { root: /srv }\n';
    expect(parseConfigText(`${base}tftp: { max_rate_mbit: 0.25, transfer_rate_mbit: 0.1 }\n`, '/etc/rackboot/rackboot.yaml').tftp).toMatchObject({
      maxRateMbit: 0.25,
      transferRateMbit: 0.1,
    });
    for (const bad of ['0.01', '"fast"', '200000']) {
      try {
        parseConfigText(`${base}tftp: { max_rate_mbit: ${bad} }\n`, '/etc/rackboot/rackboot.yaml');
        expect.unreachable(bad);
      } catch (error) {
        expect((error as ConfigError).format(), bad).toMatch(
          /^\/etc\/rackboot\/rackboot\.yaml:6: tftp\.max_rate_mbit: found .*, expected a rate in Mbit\/s from 0\.05 to 100000/,
        );
      }
    }
  });

  it('formats problems as FILE:LINE: KEY: found VALUE, expected WHAT', () => {
    const text = [
      '# line 1',
      ...Array.from({ length: 8 }, (_, i) => `# filler ${i + 2}`),
      'interface: eth0',
      'pools:',
      '  - subnet: 10.0.0.0/24',
      '    range: 10.0.0.300-10.0.0.5',
      'boot: { root: /srv }',
      '',
    ].join('\n');
    const error = (() => {
      try {
        parseConfigText(text, '/etc/rackboot/rackboot.yaml');
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.format()).toBe(
      '/etc/rackboot/rackboot.yaml:13: pools[0].range: found "10.0.0.300-10.0.0.5", expected an IPv4 range like 10.0.0.100-10.0.0.199 inside pools[0].subnet',
    );
    expect(error.message).toBe(error.format());
  });

  it('reports required keys as missing, at the line of the mapping that lacks them', () => {
    const problems = problemsOfText('interface: eth0\npools:\n  - subnet: 10.0.0.0/24\nboot:\n  default_profile: default\n');
    expect(byPath(problems, 'pools[0].range')).toMatchObject({ found: 'missing', line: 3 });
    expect(byPath(problems, 'boot.root')).toMatchObject({ found: 'missing', line: 5, expected: containing('--root') });
  });

  it('reports an empty file as each required key missing', () => {
    const problems = problemsOfText('');
    expect(problems.map((p) => p.keyPath).sort()).toEqual(['boot.root', 'interface', 'pools']);
    expect(problems.every((p) => p.found === 'missing')).toBe(true);
  });

  it('refuses a document that is not a mapping', () => {
    expect(problemsOfText('- eth0\n')).toEqual([
      { file: '/etc/rackboot/rackboot.yaml', keyPath: '(top level)', found: '["eth0"]', expected: containing('mapping'), line: 1 },
    ]);
  });

  it('refuses control characters in text that reaches iPXE scripts', () => {
    const text = MINIMAL.replace(
      'root: /srv/rackboot',
      'root: /srv/rackboot\n  profiles:\n    default: { kind: linux, kernel: vmlinuz, cmdline: "quiet\\n#!ipxe" }',
    );
    expect(byPath(problemsOfText(text), 'boot.profiles.default.cmdline').expected).toMatch(/single line/);
  });
});

describe('unknown keys', () => {
  it('reports each unknown key with the allowed keys and a suggestion when one is close', async () => {
    const name = 'invalid-unknown-keys.yaml';
    const problems = await problemsOf(name);
    const leas = byPath(problems, 'leas_time');
    expect(leas).toMatchObject({ found: 'unknown key', suggestion: 'lease_time', line: await lineIn(name, 'leas_time') });
    expect(leas.expected).toMatch(/^one of: interface, server_address, mode, lease_time, .*; did you mean "lease_time"\?$/);
    expect(byPath(problems, 'pools[0].rnage')).toMatchObject({ suggestion: 'range', line: await lineIn(name, 'rnage') });
    expect(byPath(problems, 'serverAddress').suggestion).toBe('server_address');
    // Keys depend on the profile's kind.
    expect(byPath(problems, 'boot.profiles.default.kernel').expected).toBe('one of: kind, url, loader (the keys of a chain profile)');
    const colour = byPath(problems, 'colour');
    expect(colour.suggestion).toBeUndefined();
    expect(colour.expected).not.toMatch(/did you mean/);
  });

  it('reports a duplicate key with both lines', async () => {
    const problems = await problemsOf('invalid-duplicate-key.yaml');
    expect(problems).toEqual([
      {
        file: fixture('invalid-duplicate-key.yaml'),
        keyPath: 'interface',
        found: 'a second value for this key',
        expected: 'each key once per mapping (first set on line 1)',
        line: 7,
      },
    ]);
  });
});

describe('YAML syntax errors', () => {
  it('become problems with line and column', async () => {
    const problems = await problemsOf('invalid-syntax.yaml');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      keyPath: '(yaml syntax)',
      found: '"router: 10.0.0.1"',
      line: await lineIn('invalid-syntax.yaml', 'router:'),
      column: 1,
      expected: matching(/^valid YAML \(.+\)$/),
    });
    expect(new ConfigError(problems).format()).toMatch(/invalid-syntax\.yaml:5:1: \(yaml syntax\): found "router: 10\.0\.0\.1", expected valid YAML/);
  });

  it('refuses several documents in one file', () => {
    const problems = problemsOfText(MINIMAL + '---\ninterface: eth1\n');
    expect(problems).toHaveLength(1);
    expect(problems[0].expected).toMatch(/single YAML document/);
  });
});

describe('checks across sections', () => {
  it('collects every inconsistency of a file at once', async () => {
    const name = 'invalid-semantics.yaml';
    const problems = await problemsOf(name);
    const expectations: [string, RegExp, string | RegExp, number?][] = [
      ['pools[1].range', /does not overlap pools\[0\]\.range 10\.0\.0\.100-10\.0\.0\.199/, '10.0.0.150-10.0.0.250'],
      ['pools[2].subnet', /equal to or apart from pools\[0\]\.subnet 10\.0\.0\.0\/24/, '10.0.0.0/16'],
      ['pools[3].range', /without pools\[3\]\.subnet's network address 10\.2\.0\.0 and broadcast address 10\.2\.0\.255/, '10.2.0.0-10.2.0.50'],
      ['pools[4].range', /from low to high, like 10\.3\.0\.10-10\.3\.0\.90/, '10.3.0.90-10.3.0.10'],
      ['pools[5].router', /inside pools\[5\]\.subnet 10\.4\.0\.0\/24/, '10.9.0.1'],
      ['hosts[1].mac', /no other host has \(hosts\[0\]\.mac/, '52-54-00-00-00-01'],
      ['hosts[1].ip', /no other host has \(hosts\[0\]\.ip/, 'ip: 10.0.0.11', 2],
      ['hosts[1].hostname', /no other host has \(hosts\[0\]\.hostname/, 'NODE01'],
      [
        'hosts[2].ip',
        /inside one of the pool subnets \(10\.0\.0\.0\/24, 10\.0\.0\.0\/16, 10\.2\.0\.0\/24, 10\.3\.0\.0\/24, 10\.4\.0\.0\/24\), because mode is dhcp/,
        '192.168.1.10',
      ],
      ['hosts[2].profile', /one of the profiles in boot\.profiles: compute, loop; did you mean "compute"\?/, 'compte'],
      ['hosts[3].ip', /other than server_address/, /ip: 10\.0\.0\.1$/],
      ['boot.default_profile', /one of the profiles in boot\.profiles: compute, loop/, 'default_profile'],
      ['boot.profiles.loop.items[0].profile', /other than the menu itself/, 'loop:'],
      ['boot.profiles.loop.items[1].profile', /one of the profiles/, 'loop:'],
    ];
    for (const [keyPath, expected, needle, nth] of expectations) {
      const problem = byPath(problems, keyPath);
      expect(problem.expected, keyPath).toMatch(expected);
      expect(problem.line, keyPath).toBe(await lineIn(name, needle, nth));
    }
    expect(problems).toHaveLength(expectations.length);
    // Problems come in file order.
    const lines = problems.map((p) => p.line ?? Infinity);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
  });

  it('proxy mode with pools is a problem that says how to fix it', async () => {
    const problems = await problemsOf('invalid-proxy-with-pools.yaml');
    expect(problems).toEqual([
      {
        file: fixture('invalid-proxy-with-pools.yaml'),
        keyPath: 'pools',
        found: '1 pool(s)',
        expected: 'no pools: proxy mode does not hand out addresses; remove pools or set mode: dhcp',
        line: 3,
      },
    ]);
  });

  it('dhcp mode without pools is a problem', () => {
    const problems = problemsOfText('interface: eth0\npools: []\nboot: { root: /srv }\n');
    expect(problems).toEqual([expect.objectContaining({ keyPath: 'pools', found: 'no pools', line: 2, expected: containing('at least one pool') })]);
  });

  it('the global router must be on the link of every pool without its own router', () => {
    const text = `interface: eth0
pools:
  - { subnet: 10.0.0.0/24, range: 10.0.0.100-10.0.0.199 }
  - { subnet: 10.1.0.0/24, range: 10.1.0.100-10.1.0.199, router: 10.1.0.1 }
  - { subnet: 10.2.0.0/24, range: 10.2.0.100-10.2.0.199 }
options:
  router: 10.0.0.1
boot: { root: /srv }
`;
    expect(problemsOfText(text)).toEqual([
      expect.objectContaining({
        keyPath: 'options.router',
        line: 7,
        expected: 'a host address inside pools[2].subnet 10.2.0.0/24, or a router set on pools[2]',
      }),
    ]);
  });

  it('a router inside the dynamic range would be leased out', () => {
    const text = MINIMAL.replace('    range: 10.0.0.100-10.0.0.199', '    range: 10.0.0.100-10.0.0.199\n    router: 10.0.0.150');
    expect(byPath(problemsOfText(text), 'pools[0].router').expected).toMatch(/outside pools\[0\]\.range 10\.0\.0\.100-10\.0\.0\.199/);
  });

  it('a default_profile left at its default must still exist once profiles are written', () => {
    const text = MINIMAL.replace('root: /srv/rackboot', 'root: /srv/rackboot\n  profiles:\n    compute: { kind: local }');
    expect(byPath(problemsOfText(text), 'boot.default_profile')).toMatchObject({
      found: '"default" (the default when boot.default_profile is not set)',
      expected: 'one of the profiles in boot.profiles: compute',
    });
  });

  it('a host IP in a dynamic range is fine; proxy mode does not need host IPs in a pool', () => {
    expect(parseConfigText(MINIMAL + 'hosts:\n  - { mac: 52:54:00:00:00:01, ip: 10.0.0.150 }\n', '<t>').hosts[0].ip).toBe('10.0.0.150');
    const proxy = 'interface: eth0\nmode: proxy\nhosts:\n  - { mac: 52:54:00:00:00:01, ip: 192.168.7.7 }\nboot: { root: /srv }\n';
    expect(parseConfigText(proxy, '<t>').hosts).toHaveLength(1);
  });
});

describe('loadConfigFile I/O', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rackboot-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a missing file is a single problem that says so', async () => {
    const path = join(dir, 'nope.yaml');
    await expect(loadConfigFile(path)).rejects.toThrow(ConfigError);
    const result = await checkConfigFile(path);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.problems).toEqual([{ file: path, keyPath: '(file)', found: 'no such file', expected: 'a readable YAML configuration file' }]);
      expect(result.error.format()).toBe(`${path}: (file): found no such file, expected a readable YAML configuration file`);
    }
  });

  it('a directory is a single problem that says so', async () => {
    const result = await checkConfigFile(dir);
    expect(result.ok ? [] : result.error.problems.map((p) => p.found)).toEqual(['a directory']);
  });

  it('reports the absolute path for a relative argument', async () => {
    await writeFile(join(dir, 'rackboot.yaml'), MINIMAL.replace('/srv/rackboot', 'boot'));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const config = await loadConfigFile('rackboot.yaml');
      expect(config.source).toBe(join(dir, 'rackboot.yaml'));
      expect(config.boot.root).toBe(join(dir, 'boot'));
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('defaultConfigForInterface', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'rackboot-root-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('a /24 gets the upper half, .128-.254, with the server outside it', () => {
    const config = defaultConfigForInterface('eth1', { address: '10.0.0.1', prefix: 24 }, root);
    expect(config.pools).toEqual([{ subnet: '10.0.0.0', prefix: 24, start: '10.0.0.128', end: '10.0.0.254' }]);
    expect(config).toMatchObject({
      source: '<defaults for eth1>',
      interface: 'eth1',
      serverAddress: '10.0.0.1',
      mode: 'dhcp',
      leaseTime: 43_200,
      stateDir: '/var/lib/rackboot',
      options: { dns: [], ntp: [] },
      hosts: [],
      http: { port: 80 },
      dhcp: { maxOffers: 1024, unknownSharePercent: 50, relays: [] },
      tftp: { port: 69, maxTransfers: 128, maxRateMbit: 400, transferRateMbit: 100 },
      log: { level: 'info', format: 'auto' },
    });
    expect(config.options.router).toBeUndefined();
    expect(config.boot).toEqual({
      root,
      defaultProfile: 'default',
      loader: 'ipxe',
      profiles: { default: { kind: 'linux', kernel: 'vmlinuz', initrds: [], cmdline: '' } },
    });
  });

  it('a /16 gets x.y.128.0-x.y.255.254', () => {
    expect(defaultPool('172.16.4.2', 16)).toEqual({ subnet: '172.16.0.0', prefix: 16, start: '172.16.128.0', end: '172.16.255.254' });
  });

  it('a /28 gets .8-.14 of its block', () => {
    expect(defaultPool('192.168.1.17', 28)).toEqual({ subnet: '192.168.1.16', prefix: 28, start: '192.168.1.24', end: '192.168.1.30' });
  });

  it('/30 and smaller are refused with a clear error', () => {
    expect(() => defaultConfigForInterface('eth0', { address: '10.0.0.1', prefix: 30 }, root)).toThrow(/10\.0\.0\.0\/30 is too small.*--config/);
    expect(() => defaultPool('10.0.0.1', 31)).toThrow(/too small/);
    expect(() => defaultPool('10.0.0.1', 32)).toThrow(/too small/);
  });

  it('keeps the server out of the pool: the larger piece either side of it', () => {
    expect(defaultPool('10.0.0.200', 24)).toMatchObject({ start: '10.0.0.128', end: '10.0.0.199' });
    expect(defaultPool('10.0.0.140', 24)).toMatchObject({ start: '10.0.0.141', end: '10.0.0.254' });
    expect(defaultPool('10.0.0.254', 24)).toMatchObject({ start: '10.0.0.128', end: '10.0.0.253' });
  });

  it('uses the first initrd that exists, and the kernel arguments', async () => {
    await writeFile(join(root, 'initrd.gz'), '');
    expect(defaultConfigForInterface('eth0', { address: '10.0.0.1', prefix: 24 }, root, { kernelArgs: 'console=ttyS0' }).boot.profiles.default).toEqual({
      kind: 'linux',
      kernel: 'vmlinuz',
      initrds: ['initrd.gz'],
      cmdline: 'console=ttyS0',
    });
    await writeFile(join(root, 'initrd.img'), '');
    expect(defaultConfigForInterface('eth0', { address: '10.0.0.1', prefix: 24 }, root).boot.profiles.default).toMatchObject({ initrds: ['initrd.img'] });
  });

  it('resolves a relative root against the current directory', () => {
    expect(defaultConfigForInterface('eth0', { address: '10.0.0.1', prefix: 24 }, 'srv').boot.root).toBe(resolve('srv'));
  });
});

describe('documentation', () => {
  it('docs/config.md describes every key the schema accepts', async () => {
    const doc = await readFile(join(REPO, 'docs', 'config.md'), 'utf8');
    const keys = new Set<string>([
      ...TOP_KEYS,
      ...POOL_KEYS,
      ...OPTIONS_KEYS,
      ...HOST_KEYS,
      ...BOOT_KEYS,
      ...MENU_ITEM_KEYS,
      ...HTTP_KEYS,
      ...MANAGEMENT_KEYS,
      ...TFTP_KEYS,
      ...INVENTORY_KEYS,
      ...CONSOLE_KEYS,
      ...LOG_KEYS,
    ]);
    for (const kind of Object.values(PROFILE_KEYS)) for (const key of kind) keys.add(key);
    for (const key of keys) expect(doc, key).toContain(`\`${key}\``);
  });
});

describe('boot loaders (boot.loader, profile and host loader)', () => {
  const base = `interface: eth0
pools:
  - subnet: 10.0.0.0/24
    range: 10.0.0.100-10.0.0.199
`;
  it('reads boot.loader (default ipxe), a profile loader and a host loader', () => {
    expect(parseConfigText(MINIMAL, '<test>').boot.loader).toBe('ipxe');
    const config = parseConfigText(
      `${base}hosts:
  - { mac: "52:54:00:00:00:01", loader: ipxe }
boot:
  root: /srv/rackboot
  loader: grub
  profiles:
    default: { kind: linux, kernel: vmlinuz, loader: grub }
    disk: { kind: local, loader: ipxe }
    rescue: { kind: chain, url: "http://x/y.ipxe", loader: ipxe }
`,
      '<test>',
    );
    expect(config.boot.loader).toBe('grub');
    expect(config.boot.profiles.default).toMatchObject({ loader: 'grub' });
    expect(config.boot.profiles.disk).toEqual({ kind: 'local', loader: 'ipxe' });
    expect(config.hosts[0]).toEqual({ mac: '52:54:00:00:00:01', loader: 'ipxe' });
  });

  it('refuses an unknown loader, grub on chain and menu profiles, and a grub host on a menu profile, naming key and line', () => {
    const problems = problemsOfText(`${base}hosts:
  - { mac: "52:54:00:00:00:01", profile: choose, loader: grub }
  - { mac: "52:54:00:00:00:02", loader: shim }
boot:
  root: /srv/rackboot
  loader: pxelinux
  profiles:
    default: { kind: linux, kernel: vmlinuz }
    rescue: { kind: chain, url: "http://x/y.ipxe", loader: grub }
    choose: { kind: menu, items: [{ profile: default, label: L }] }
    pick: { kind: menu, items: [{ profile: default, label: L }], loader: grub }
`);
    expect(byPath(problems, 'boot.loader')).toMatchObject({ found: '"pxelinux"', expected: 'one of: ipxe, grub' });
    expect(byPath(problems, 'hosts[1].loader')).toMatchObject({ found: '"shim"', expected: 'one of: ipxe, grub' });
    expect(byPath(problems, 'boot.profiles.rescue.loader')).toMatchObject({ found: 'grub', expected: containing('only iPXE does') });
    expect(byPath(problems, 'boot.profiles.pick.loader')).toMatchObject({ found: 'grub', expected: containing('shows an iPXE menu') });
    expect(byPath(problems, 'hosts[0].loader')).toMatchObject({ found: 'grub', expected: containing('profile choose is a menu profile') });
  });
});
