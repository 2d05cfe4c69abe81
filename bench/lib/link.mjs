// The benchmark's link: a server namespace and a client namespace on one
// bridge (in a namespace of its own), with the bridge ports shaped by `tc tbf`
// (rate) and an nftables bridge chain that drops a random share of frames
// (loss; netem is not available here). Everything is named rbstorm<pid>-*.
import { must, run } from './sh.mjs';

export const SERVER_IP = '10.97.0.1';
export const CLIENT_IP = '10.97.0.2';
export const PREFIX = 16;

export class BenchLink {
  constructor(tag) {
    this.sw = `rbstorm${tag}-sw`;
    this.srv = `rbstorm${tag}-srv`;
    this.cli = `rbstorm${tag}-cli`;
  }

  async create() {
    for (const ns of [this.sw, this.srv, this.cli]) {
      await must(['ip', 'netns', 'add', ns]);
      await must(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await must(['ip', '-n', this.sw, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0']);
    await must(['ip', '-n', this.sw, 'link', 'set', 'br0', 'up']);
    // p0 faces the server, p1 the clients; each veth end is created inside its namespace.
    for (const [port, ns, address] of [
      ['p0', this.srv, SERVER_IP],
      ['p1', this.cli, CLIENT_IP],
    ]) {
      await must(['ip', '-n', this.sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await must(['ip', '-n', this.sw, 'link', 'set', port, 'master', 'br0', 'up']);
      await must(['ip', '-n', ns, 'addr', 'add', `${address}/${PREFIX}`, 'dev', 'eth0']);
      await must(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    // Kernel offloads would hand tbf 64 KB super-frames; shape real frames.
    for (const port of ['p0', 'p1']) await run(['ip', 'netns', 'exec', this.sw, 'ethtool', '-K', port, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    return this;
  }

  /**
   * rateKbit: null = unshaped; lossPercent: share of frames dropped in each direction.
   * tbf on both ports' egress: p1 egress carries server -> clients (the bulk), p0 egress clients -> server.
   */
  async shape({ rateKbit = null, lossPercent = 0 }) {
    for (const port of ['p0', 'p1']) {
      await run(['tc', '-n', this.sw, 'qdisc', 'del', 'dev', port, 'root']);
      if (rateKbit) {
        const bytesPerSecond = (rateKbit * 1000) / 8;
        // burst: one timer tick's worth (HZ 250) and never under two full frames; queue: 100 ms of data.
        const burst = Math.max(Math.ceil(bytesPerSecond / 250), 3100);
        const limit = Math.max(Math.ceil(bytesPerSecond / 10), 3 * burst);
        await must([
          'tc',
          '-n',
          this.sw,
          'qdisc',
          'add',
          'dev',
          port,
          'root',
          'tbf',
          'rate',
          `${rateKbit}kbit`,
          'burst',
          String(burst),
          'limit',
          String(limit),
        ]);
      }
    }
    await run(['ip', 'netns', 'exec', this.sw, 'nft', 'delete', 'table', 'bridge', 'rbstorm_loss']);
    if (lossPercent > 0) {
      const perMille = Math.round(lossPercent * 10);
      const rules = `table bridge rbstorm_loss {\n chain lossy {\n  type filter hook forward priority 0; policy accept;\n  numgen random mod 1000 < ${perMille} counter drop\n }\n}\n`;
      await must(['ip', 'netns', 'exec', this.sw, 'nft', '-f', '-'], { input: rules });
    }
    this.current = { rateKbit, lossPercent };
  }

  async destroy() {
    for (const ns of [this.cli, this.srv, this.sw]) {
      const pids = (await run(['ip', 'netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await run(['ip', 'netns', 'del', ns]);
    }
  }
}
