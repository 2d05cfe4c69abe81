// The command line of the real bundle: help, version, check-config, the
// embedded defaults of `serve --interface --root`, and the errors an operator
// meets first (bad config, no privileges, no interface, no boot root).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE, REPO } from '../helpers/rackboot-process.js';
import { DhcpLab, waitForEvent } from '../helpers/dhcp-lab.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], prefix: string[] = []): Promise<Run> {
  const argv = [...prefix, process.execPath, BUNDLE, ...args];
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('rackboot command line', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rackboot-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints its version and help', async () => {
    const version = await run(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^rackboot \d+\.\d+\.\d+ \(/);
    for (const command of [['--help'], ['serve', '--help'], ['check-config', '--help'], ['leases', '--help']]) {
      const help = await run(command);
      expect(help.code, command.join(' ')).toBe(0);
      expect(help.stdout).toContain('Usage');
    }
  });

  it('refuses unknown commands and options with usage and exit code 2', async () => {
    const unknown = await run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const badOption = await run(['serve', '--colour']);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toMatch(/Unknown option '--colour'/);
    const missing = await run(['serve']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('give --config FILE, or both --interface IF and --root DIR');
  });

  it('check-config accepts the shipped appliance config', async () => {
    const result = await run(['check-config', join(REPO, 'rootfs-overlay/etc/rackboot/rackboot.yaml')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/OK \(mode dhcp/);
  });

  it('check-config names file, line, key, value found and what is expected', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'interface: eth0\nmode: dchp\npools:\n  - subnet: 10.0.0.0/24\n    range: 10.0.0.300-10.0.0.5\nboot:\n  root: .\n');
    const result = await run(['check-config', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`${file}:2: mode: found "dchp", expected one of: dhcp, proxy; did you mean "dhcp"?`);
    expect(result.stdout).toContain(`${file}:5: pools[0].range: found "10.0.0.300-10.0.0.5", expected an IPv4 range`);
    // serve refuses the same file with the same words, before touching the network.
    const serve = await run(['serve', '--config', file]);
    expect(serve.code).toBe(1);
    expect(serve.stderr).toContain(`${file}:2: mode: found "dchp"`);
  });

  it('check-config reports a missing file', async () => {
    const result = await run(['check-config', join(dir, 'nope.yaml')]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('nope.yaml');
  });

  describe('serve on a real interface', () => {
    let lab: DhcpLab;
    beforeAll(async () => {
      lab = await DhcpLab.create('10.93.0.1/24');
    });
    afterAll(async () => {
      await lab.destroy();
    });

    it('explains how to grant CAP_NET_RAW when it lacks it', async () => {
      const result = await run(
        ['serve', '--interface', 'eth0', '--root', dir, '--state-dir', join(dir, 'state'), '--log-format', 'text'],
        ['ip', 'netns', 'exec', lab.server.name, 'setpriv', '--bounding-set', '-net_raw', '--inh-caps', '-net_raw'],
      );
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('needs CAP_NET_RAW: run as root, or grant the capability');
    });

    it('names a missing interface and a missing boot root', async () => {
      const inNs = ['ip', 'netns', 'exec', lab.server.name];
      const noInterface = await run(['serve', '--interface', 'nope0', '--root', dir, '--log-format', 'text'], inNs);
      expect(noInterface.code).toBe(1);
      expect(noInterface.stdout).toContain('no such network interface: nope0');
      const noRoot = await run(['serve', '--interface', 'eth0', '--root', join(dir, 'absent'), '--log-format', 'text'], inNs);
      expect(noRoot.code).toBe(1);
      expect(noRoot.stdout).toContain(`boot root ${join(dir, 'absent')} does not exist`);
    });

    it('runs full DHCP with embedded defaults from --interface and --root, and lists the lease', async () => {
      const root = join(lab.dir, 'usb');
      await mkdir(root);
      await writeFile(join(root, 'vmlinuz'), 'kernel');
      const server = await lab.startServer(['--interface', 'eth0', '--root', root, '--kernel-args', 'console=ttyS0 node={name}']);
      expect(server.lines.find((l) => l.msg === 'rackboot ready')).toMatchObject({ mode: 'dhcp', pools: '10.93.0.128-10.93.0.254' });
      const client = await lab.client();
      const { script, events } = await lab.clientScript('udhcpc', 'defaults');
      await client.exec(['udhcpc', '-i', 'eth0', '-s', script, '-n', '-q', '-t', '5', '-T', '2']);
      const ip = (await waitForEvent(events, /^bound /)).split(' ')[1];
      expect(ip).toBe('10.93.0.128');
      // The root holds only a kernel: the appliance's own iPXE binaries are served (TFTP and HTTP).
      const tftpCopy = join(lab.dir, 'undionly.kpxe');
      await client.exec(['tftp', '-m', 'binary', '10.93.0.1', '-c', 'get', 'undionly.kpxe', tftpCopy]);
      expect(await readFile(tftpCopy)).toEqual(await readFile('/usr/lib/ipxe/undionly.kpxe'));
      const httpCopy = join(lab.dir, 'snponly.efi');
      await client.exec(['curl', '-sSf', '-o', httpCopy, 'http://10.93.0.1/snponly.efi']);
      expect(await readFile(httpCopy)).toEqual(await readFile('/usr/lib/ipxe/snponly.efi'));
      // The generated script carries the --kernel-args with the node's own values.
      const bootScript = await client.exec(['curl', '-sSf', 'http://10.93.0.1/boot.ipxe']);
      expect(bootScript).toMatch(/console=ttyS0 node=node-[0-9a-f]{12}/);
      expect(await server.stop()).toBe(0);
      const leases = await run(['leases', '--state-dir', join(lab.dir, 'state')]);
      expect(leases.code).toBe(0);
      expect(leases.stdout).toMatch(/^ADDRESS +MAC +STATE/);
      expect(leases.stdout).toMatch(new RegExp(`${ip.replace(/\./g, '\\.')} +[0-9a-f:]{17} +bound`));
    });
  });
});
