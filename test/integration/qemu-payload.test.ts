// The VM side of the firmware lab, before any rackboot server is involved:
// - the test payload (Debian kernel + busybox initrd) boots under QEMU/TCG and
//   reports its kernel command line on the serial console;
// - each network firmware (SeaBIOS + iPXE ROM, OVMF PXE, OVMF HTTP Boot) starts,
//   reaches DHCP, and its DHCPDISCOVER leaves the VM's namespace through the
//   tap/bridge/uplink path a server on the segment will see. Nobody answers, so
//   the firmware eventually gives up — which proves the runner notices that too;
// - with a reference server on the segment (dnsmasq for DHCP and TFTP, busybox
//   httpd for HTTP) each firmware boots the payload all the way to the marker:
//   the known-good baseline rackboot's own servers are measured against.
// Timings are printed (several VMs share the CPUs here, so they run slower than
// alone); docs/firmware-lab.md records them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineReader } from '../helpers/line-reader.js';
import { Lab, type Netns } from '../helpers/netns.js';
import { ensurePayload, type Payload } from '../helpers/payload.js';
import { FIRMWARE_DHCP_TEXT, SERIAL_LOG_DIR, VirtualNode, VirtualNodeError, attachTap, qemuArgv, type Firmware } from '../helpers/qemu.js';
import { readPcapRecords } from '../helpers/pcap.js';
import { decodeUdpFrame } from '../../firmware/src/net/frame.js';
import { decodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { MessageType, Opt, type DhcpMessage } from '../../firmware/src/dhcp/message.js';
import { macFromBytes } from '../../firmware/src/net/addr.js';

type NetworkFirmware = Exclude<Firmware, 'direct'>;

interface Expectation {
  mac: string;
  vendorClass: RegExp;
  arch: number;
  /** Waiting for the marker with nobody answering must end with the firmware giving up (and how long that takes). */
  giveUp?: { within: number };
}

// RFC 4578 2.1 / IANA processor architecture types: 0 = x86 BIOS, 7 = x64 UEFI, 16 = x64 UEFI HTTP.
const FIRMWARES: Record<NetworkFirmware, Expectation> = {
  'bios-ipxe': { mac: '52:54:00:79:00:01', vendorClass: /^PXEClient:Arch:00000:UNDI:002001$/, arch: 0, giveUp: { within: 60_000 } },
  'uefi-pxe': { mac: '52:54:00:79:00:02', vendorClass: /^PXEClient:Arch:00007:UNDI:003000$/, arch: 7 },
  'uefi-http': { mac: '52:54:00:79:00:03', vendorClass: /^HTTPClient:Arch:00016:UNDI:003000$/, arch: 16, giveUp: { within: 110_000 } },
};

describe('QEMU virtual nodes', () => {
  let payload: Payload;
  // Serial logs and captures stay after the run (the diagnosis when a boot fails).
  const logDir = join(SERIAL_LOG_DIR, 'qemu-payload');
  let scratch: string;

  beforeAll(async () => {
    const started = Date.now();
    payload = await ensurePayload();
    console.log(`payload ready in ${Date.now() - started} ms: ${payload.dir}\n${payload.log.trim()}`);
    rmSync(logDir, { recursive: true, force: true });
    mkdirSync(logDir, { recursive: true });
    scratch = mkdtempSync(join(tmpdir(), 'rackboot-qemu-test-'));
  }, 15 * 60_000);

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('builds a complete boot root', () => {
    for (const file of [payload.kernel, payload.initrd]) expect(existsSync(file)).toBe(true);
    expect(readFileSync(payload.kernel).subarray(0x202, 0x206).toString('latin1')).toBe('HdrS'); // x86 boot protocol header
    expect(readFileSync(payload.initrd).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // gzip
    expect(payload.undionly ?? payload.ipxeEfi ?? payload.snponly).toBeDefined();
  });

  it.concurrent(
    'boots the payload kernel directly and reports its command line',
    async () => {
      const vm = await VirtualNode.start({
        name: 'direct',
        firmware: 'direct',
        kernel: payload.kernel,
        initrd: payload.initrd,
        append: 'console=ttyS0 rackboot.node=test42',
        serialLog: join(logDir, 'direct.log'),
        timeoutMs: 120_000,
      });
      try {
        const up = await vm.waitForMarker(90_000);
        expect(up.cmdline).toBe('console=ttyS0 rackboot.node=test42');
        const exit = await vm.exited; // the initrd powers off; QEMU exits by itself
        console.log(`direct boot: marker after ${up.elapsedMs} ms, QEMU exited after ${Date.now() - vm.startedAt} ms`);
        expect(exit.code).toBe(0);
        // Kernel messages are kept off the console while the marker is printed.
        expect(vm.serialText()).toMatch(/^RACKBOOT-NODE-UP cmdline=console=ttyS0 rackboot\.node=test42\r*$/m);
      } finally {
        await vm.stop();
      }
    },
    120_000,
  );

  it.concurrent(
    'brings each network firmware to its first DHCPDISCOVER on the segment',
    async () => {
      const lab = await Lab.create();
      const vms: VirtualNode[] = [];
      try {
        // The future server's seat: a namespace on the segment, capturing what arrives.
        const srv = await lab.namespace('srv');
        const segment = await lab.bridge([{ ns: srv, ifname: 'eth0', address: '10.79.0.1/24' }]);
        const capture = await DiscoverCapture.start(srv, 'eth0', join(logDir, 'discover.pcap'));

        const results = await Promise.all(
          (Object.entries(FIRMWARES) as Array<[NetworkFirmware, Expectation]>).map(async ([firmware, expected]) => {
            const ns = await lab.namespace(firmware.replace('-', '_'));
            await segment.attach({ ns, ifname: 'eth0' });
            const tap = await attachTap(ns);
            const vm = await VirtualNode.start({
              name: firmware,
              firmware,
              ns,
              tap,
              mac: expected.mac,
              serialLog: join(logDir, `${firmware}.log`),
              timeoutMs: 170_000,
            });
            vms.push(vm);
            const said = await vm.waitForSerial(FIRMWARE_DHCP_TEXT[firmware], 60_000);
            const discover = await capture.firstDiscover(expected.mac, 60_000);
            const sentMs = Math.round(discover.at - vm.startedAt);
            const vendorClass = discover.message.options.get(Opt.VendorClass)?.toString('latin1') ?? '';
            const arch = discover.message.options.get(Opt.ClientArch)?.readUInt16BE(0);
            expect(vendorClass, firmware).toMatch(expected.vendorClass);
            expect(arch, firmware).toBe(expected.arch);
            let gaveUp = '';
            if (expected.giveUp) {
              const error = await vm.waitForMarker(expected.giveUp.within).then(
                () => new Error('the marker appeared although nobody answered'),
                (err: unknown) => err,
              );
              expect(error, firmware).toBeInstanceOf(VirtualNodeError);
              expect(String(error), firmware).toMatch(/the firmware gave up/);
              gaveUp = `gave up after ${Date.now() - vm.startedAt} ms`;
            }
            await vm.stop();
            return { firmware, serialMs: said.elapsedMs, sentMs, vendorClass, arch, discover: discover.message, gaveUp };
          }),
        );

        for (const r of results) {
          const userClass = r.discover.options.get(Opt.UserClass);
          console.log(
            `${r.firmware.padEnd(9)} DHCP on serial after ${r.serialMs} ms, first DHCPDISCOVER after ${r.sentMs} ms; ` +
              `option 60 "${r.vendorClass}", 93 = ${r.arch}, options [${[...r.discover.options.keys()].join(',')}]` +
              `${userClass ? `, user class ${JSON.stringify(userClass.toString('latin1'))}` : ''}, flags 0x${r.discover.flags.toString(16)}` +
              `${r.gaveUp ? `; ${r.gaveUp}` : ''}`,
          );
        }
        // iPXE says who it is; OVMF does not.
        const bios = results.find((r) => r.firmware === 'bios-ipxe')!;
        expect(bios.discover.options.get(Opt.UserClass)?.toString('latin1')).toContain('iPXE');
        expect(bios.discover.options.has(Opt.Ipxe)).toBe(true);
        for (const r of results.filter((x) => x.firmware !== 'bios-ipxe')) expect(r.discover.options.has(Opt.UserClass)).toBe(false);
      } finally {
        await Promise.all(vms.map((vm) => vm.stop()));
        await lab.destroy();
      }
    },
    175_000,
  );

  it.concurrent(
    'boots the payload over the network with each firmware from a reference server (dnsmasq, busybox httpd)',
    async () => {
      const lab = await Lab.create();
      const vms: VirtualNode[] = [];
      try {
        const root = join(scratch, 'root');
        mkdirSync(root);
        for (const file of [payload.kernel, payload.initrd, payload.undionly, payload.ipxeEfi, payload.snponly]) {
          if (file) copyFileSync(file, join(root, file.split('/').pop()!));
        }
        // iPXE 1.0.0+git-20190125 on UEFI hands the initrd to the kernel's EFI stub only
        // through initrd=<name> on the command line (harmless under BIOS).
        writeFileSync(
          join(root, 'boot.ipxe'),
          `#!ipxe\nkernel http://${REF_SERVER}/vmlinuz initrd=initrd.img console=ttyS0 rackboot.node=\${net0/mac}\ninitrd http://${REF_SERVER}/initrd.img\nboot\n`,
        );
        const srv = await lab.namespace('ref');
        const segment = await lab.bridge([{ ns: srv, ifname: 'eth0', address: `${REF_SERVER}/24` }]);
        const dnsmasq = srv.spawn(referenceDnsmasq(root, scratch));
        dnsmasq.stderr!.pipe(createWriteStream(join(logDir, 'ref-dnsmasq.log')));
        const dnsmasqLog = new LineReader(dnsmasq.stderr!);
        await dnsmasqLog.next((line) => line.includes('TFTP root is'), 10_000);
        srv.spawn(['busybox', 'httpd', '-f', '-p', `${REF_SERVER}:80`, '-h', root]);

        const results = await Promise.all(
          (Object.keys(FIRMWARES) as NetworkFirmware[]).map(async (firmware, i) => {
            const ns = await lab.namespace(`ref_${firmware.replace('-', '_')}`);
            await segment.attach({ ns, ifname: 'eth0' });
            const mac = `52:54:00:80:00:0${i + 1}`;
            const vm = await VirtualNode.start({
              name: `ref-${firmware}`,
              firmware,
              ns,
              tap: await attachTap(ns),
              mac,
              serialLog: join(logDir, `ref-${firmware}.log`),
              timeoutMs: 170_000,
            });
            vms.push(vm);
            const up = await vm.waitForMarker(160_000);
            await vm.stop();
            expect(up.cmdline, firmware).toContain(`rackboot.node=${mac}`);
            expect(up.cmdline, firmware).toContain('console=ttyS0');
            return { firmware, up };
          }),
        );
        for (const { firmware, up } of results) console.log(`reference boot ${firmware.padEnd(9)} marker after ${up.elapsedMs} ms; cmdline: ${up.cmdline}`);
      } finally {
        await Promise.all(vms.map((vm) => vm.stop()));
        await lab.destroy();
      }
    },
    175_000,
  );

  it('refuses a network firmware without a tap, and builds the documented command lines', () => {
    expect(() => qemuArgv({ name: 'x', firmware: 'uefi-http', mac: '52:54:00:00:00:01' }, { ovmfVars: '/tmp/v.fd' })).toThrow(/needs a tap/);
    const http = qemuArgv({ name: 'x', firmware: 'uefi-http', mac: '52:54:00:00:00:01', tap: 'tap0' }, { ovmfVars: '/tmp/v.fd' }).join(' ');
    expect(http).toContain('virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01,romfile=,bootindex=1');
    expect(http).toContain('name=opt/org.tianocore/IPv4PXESupport,string=n');
    const bios = qemuArgv({ name: 'x', firmware: 'bios-ipxe', mac: '52:54:00:00:00:01', tap: 'tap0' }).join(' ');
    expect(bios).toContain('-machine pc,graphics=off');
    expect(bios).toContain('romfile=/usr/lib/ipxe/qemu/pxe-e1000.rom');
    const arm64 = qemuArgv({ name: 'x', firmware: 'uefi-pxe', arch: 'arm64', mac: '52:54:00:00:00:01', tap: 'tap0' }, { ovmfVars: '/tmp/v.fd' });
    expect(arm64[0]).toBe('qemu-system-aarch64');
    expect(arm64.join(' ')).toContain('-machine virt -cpu max -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd');
    expect(arm64.join(' ')).toContain('virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01,romfile=,bootindex=1');
    expect(arm64.join(' ')).not.toContain('q35');
    expect(() => qemuArgv({ name: 'x', firmware: 'bios-ipxe', arch: 'arm64', mac: '52:54:00:00:00:01', tap: 'tap0' })).toThrow(/UEFI firmwares only/);
  });
});

const REF_SERVER = '10.80.0.1';

/**
 * dnsmasq as a known-good boot server: plain PXE firmware gets an iPXE binary by
 * TFTP, UEFI HTTP Boot gets ipxe.efi by HTTP (its offer must carry option 60
 * "HTTPClient", or OVMF ignores it), iPXE gets the boot script's URL.
 */
function referenceDnsmasq(root: string, dir: string): string[] {
  return [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--port=0',
    '--user=root',
    '--interface=eth0',
    '--bind-interfaces',
    '--dhcp-range=10.80.0.100,10.80.0.150,255.255.255.0,1h',
    `--dhcp-leasefile=${join(dir, 'ref.leases')}`,
    `--pid-file=${join(dir, 'ref.pid')}`,
    '--enable-tftp',
    `--tftp-root=${root}`,
    '--dhcp-userclass=set:ipxe,iPXE',
    '--dhcp-vendorclass=set:http,HTTPClient',
    '--dhcp-match=set:efi64,option:client-arch,7',
    `--dhcp-boot=tag:ipxe,http://${REF_SERVER}/boot.ipxe`,
    '--dhcp-boot=tag:!ipxe,tag:efi64,snponly.efi',
    '--dhcp-boot=tag:!ipxe,tag:!efi64,tag:!http,undionly.kpxe',
    `--dhcp-boot=tag:http,tag:!ipxe,http://${REF_SERVER}/ipxe.efi`,
    '--dhcp-option-force=tag:http,60,HTTPClient',
    '--log-dhcp',
    '--log-facility=-',
  ];
}

/** tcpdump in a namespace writing DHCP requests to a pcap file, read back with rackboot's codecs. */
class DiscoverCapture {
  private constructor(private readonly path: string) {}

  static async start(ns: Netns, ifname: string, path: string): Promise<DiscoverCapture> {
    const tcpdump = ns.spawn(['tcpdump', '-i', ifname, '-n', '-U', '-w', path, 'udp dst port 67']);
    await new LineReader(tcpdump.stderr!).next((line) => line.includes('listening on'), 10_000);
    return new DiscoverCapture(path);
  }

  /** The first DHCPDISCOVER from `mac`, with its capture time (ms since the epoch). */
  async firstDiscover(mac: string, timeoutMs: number): Promise<{ message: DhcpMessage; at: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const found of this.discovers()) if (found.mac === mac) return found;
      if (Date.now() > deadline) throw new Error(`no DHCPDISCOVER from ${mac} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private discovers(): Array<{ mac: string; message: DhcpMessage; at: number }> {
    if (!existsSync(this.path)) return [];
    let records;
    try {
      records = readPcapRecords(readFileSync(this.path)).frames;
    } catch {
      return []; // a record half written; read again shortly
    }
    const found = [];
    for (const frame of records) {
      try {
        const message = decodeDhcp(decodeUdpFrame(frame.data).udp.payload);
        if (message.options.get(Opt.MessageType)?.[0] !== MessageType.Discover) continue;
        found.push({ mac: macFromBytes(message.chaddr), message, at: frame.timestamp * 1000 });
      } catch {
        // not a DHCP message we can read; the assertions will say what is missing
      }
    }
    return found;
  }
}
