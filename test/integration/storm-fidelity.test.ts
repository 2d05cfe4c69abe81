// Fidelity of `rackboot storm` against real firmware (issue 6): the same kind
// of boot, once by QEMU (OVMF's own UEFI PXE client, then the iPXE it loads)
// and once by one storm node of kind uefi-pxe, both from the real rackboot
// bundle on one bridge, captured by tcpdump on that bridge. Each capture is
// reduced to the node's protocol steps (DHCP message types and ports, TFTP
// requests/OACK/ERROR with option names, HTTP GET paths; retransmissions,
// DATA/ACK runs and ARP collapsed) and the two sequences must match in kind
// and order. QEMU is slow here (TCG): one boot takes 30-90 s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DhcpLab } from '../helpers/dhcp-lab.js';
import { LineReader } from '../helpers/line-reader.js';
import type { Netns } from '../helpers/netns.js';
import { runTsInNs } from '../helpers/ts-in-ns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import { ensurePayload } from '../helpers/payload.js';
import { VirtualNode, attachTap } from '../helpers/qemu.js';
import { readPcapFile } from '../helpers/pcap.js';
import { decodeEthernet, ETHERTYPE_IPV4 } from '../../firmware/src/net/ethernet.js';
import { decodeIpv4 } from '../../firmware/src/net/ipv4.js';
import { decodeUdp } from '../../firmware/src/net/udp.js';
import { decodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { messageType } from '../../firmware/src/dhcp/options.js';
import { MessageType } from '../../firmware/src/dhcp/message.js';
import { decodeTftp } from '../../firmware/src/tftp/codec.js';

const SERVER = '10.92.0.1';
const QEMU_MAC = '52:54:00:92:00:01';
const STORM_MAC = '02:72:62:5b:00:00'; // --mac-byte 91, node 0

/** The node's protocol steps in a capture, in order, repeats collapsed. */
export function bootSteps(frames: Buffer[], mac: string): string[] {
  const steps: string[] = [];
  const tftpPorts = new Set<number>();
  const push = (step: string) => {
    if (steps.at(-1) !== step) steps.push(step);
  };
  for (const frame of frames) {
    let eth;
    try {
      eth = decodeEthernet(frame);
    } catch {
      continue;
    }
    const fromNode = eth.src === mac;
    if (!fromNode && eth.dst !== mac && eth.dst !== 'ff:ff:ff:ff:ff:ff') continue;
    if (eth.ethertype !== ETHERTYPE_IPV4) continue;
    const ip = decodeIpv4(eth.payload);
    const dir = fromNode ? '>' : '<';
    if (ip.protocol === 17) {
      const udp = decodeUdp(ip.payload, ip.src, ip.dst, { checksumPending: true });
      const ports = [udp.srcPort, udp.dstPort];
      if (ports.includes(67) || ports.includes(68) || ports.includes(4011)) {
        const dhcp = decodeDhcp(udp.payload);
        if (dhcp.chaddr.subarray(0, 6).toString('hex') !== mac.replaceAll(':', '')) continue;
        push(`${dir} DHCP ${MessageType[messageType(dhcp.options) ?? 0] ?? '?'} :${fromNode ? udp.dstPort : udp.srcPort}`);
      } else if (udp.dstPort === 69 || tftpPorts.has(udp.srcPort) || tftpPorts.has(udp.dstPort)) {
        const packet = decodeTftp(udp.payload);
        if (packet.op === 'rrq') {
          tftpPorts.add(udp.srcPort);
          push(`> TFTP RRQ ${basename(packet.filename)} [${[...packet.options.keys()].sort().join(',')}]`);
        } else if (packet.op === 'oack') push(`${dir} TFTP OACK`);
        else if (packet.op === 'error') push(`${dir} TFTP ERROR ${packet.code}`);
        else push('TFTP DATA/ACK');
      }
    } else if (ip.protocol === 6 && fromNode) {
      const offset = (ip.payload[12] >> 4) * 4;
      const data = ip.payload.subarray(offset).toString('latin1');
      const get = /^GET (\S+) HTTP/.exec(data);
      if (get) push(`> HTTP GET ${get[1].split('?')[0]}`);
    }
  }
  return steps;
}

describe('storm fidelity against QEMU firmware', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let capture: ReturnType<Netns['spawn']>;
  const pcap = () => join(lab.dir, 'bridge.pcap');

  beforeAll(async () => {
    lab = await DhcpLab.create(`${SERVER}/24`);
    const payload = await ensurePayload();
    const root = join(lab.dir, 'root');
    await mkdir(root);
    for (const file of [payload.kernel, payload.initrd, payload.undionly, payload.ipxeEfi, payload.snponly]) {
      if (file) await copyFile(file, join(root, basename(file)));
    }
    server = await lab.startServer(['--interface', 'eth0', '--root', root, '--kernel-args', 'console=ttyS0']);
    capture = lab.segment.ns.spawn(['tcpdump', '-i', 'br0', '-n', '-U', '-w', pcap(), 'not ip6']);
    await new LineReader(capture.stderr!).next((line) => line.includes('listening on'), 10_000);
  }, 300_000);

  afterAll(async () => {
    await server?.stop();
    await lab?.destroy();
  });

  it('a storm uefi-pxe node and OVMF UEFI PXE take the same steps in the same order', async () => {
    const vmNs = await lab.lab.namespace('vm');
    await lab.segment.attach({ ns: vmNs, ifname: 'eth0' });
    const vm = await VirtualNode.start({
      name: 'fidelity-uefi-pxe',
      firmware: 'uefi-pxe',
      ns: vmNs,
      tap: await attachTap(vmNs),
      mac: QEMU_MAC,
      timeoutMs: 280_000,
    });
    try {
      await vm.waitForMarker(270_000);
    } finally {
      await vm.stop();
    }
    const stormNs = await lab.client();
    await runTsInNs(
      stormNs,
      {
        name: 'storm-entry.ts',
        source: `import { runStormCli } from './firmware/src/storm/cli.js';\nconst code = await runStormCli(process.argv.slice(2));\nprocess.stdout.write('', () => process.exit(code));\n`,
      },
      ['--interface', 'eth0', '--nodes', '1', '--firmware', 'uefi-pxe', '--mac-byte', '91', '--server', SERVER, '--quiet'],
      { timeoutMs: 120_000 },
    );
    await new Promise((r) => setTimeout(r, 1000)); // tcpdump -U flushes per packet; let the last ones land
    capture.kill('SIGINT');
    await new Promise((r) => capture.once('exit', r));
    const frames = readPcapFile(pcap());
    const real = bootSteps(frames, QEMU_MAC);
    const simulated = bootSteps(frames, STORM_MAC);
    console.log(`QEMU OVMF UEFI PXE:\n  ${real.join('\n  ')}\nstorm uefi-pxe:\n  ${simulated.join('\n  ')}`);
    expect(simulated).toEqual(real);
  }, 420_000);
});
