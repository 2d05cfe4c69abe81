// The boot servers under test, each started by the harness in the server
// namespace with its own configuration in the run's temp directory (never as
// a system service): rackboot (the real bundle), dnsmasq, Kea DHCPv4,
// tftpd-hpa and nginx.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { daemon, inNs, run, sleep } from './sh.mjs';
import { CLIENT_IP, SERVER_IP } from './link.mjs';

export const POOL = { start: '10.97.1.0', end: '10.97.250.250', mask: '255.255.0.0', subnet: '10.97.0.0/16' };

/** rackboot serve; `tftpRateMbit` paces TFTP to the link as an operator would configure it. */
export async function startRackboot(ctx, { tftpRateMbit = 2000, maxTransfers = 256 } = {}) {
  const dir = join(ctx.dir, `rackboot-${++ctx.seq}`);
  await mkdir(dir, { recursive: true });
  const config = join(dir, 'rackboot.yaml');
  await writeFile(
    config,
    // perfdhcp is a relay (giaddr = CLIENT_IP) and its clients, like the storm's, are all unknown: the
    // peers have no starvation limits either.
    `interface: eth0
lease_time: 1h
dhcp:
  unknown_share_percent: 100
  relays: [${CLIENT_IP}]
pools:
  - subnet: ${POOL.subnet}
    range: ${POOL.start}-${POOL.end}
boot:
  root: ${ctx.root}
tftp:
  max_transfers: ${maxTransfers}
  max_rate_mbit: ${tftpRateMbit}
  transfer_rate_mbit: ${tftpRateMbit}
`,
  );
  // Logs at warn, as the peers run quiet: per-lease lines would cost rackboot time the others do not spend.
  const proc = await daemon(
    ctx.link.srv,
    [process.execPath, ctx.bundle, 'serve', '--config', config, '--state-dir', join(dir, 'state'), '--log-format', 'json', '--log-level', 'warn'],
    { settleMs: 300 },
  );
  await waitForHttp(ctx);
  return { name: 'rackboot', ...proc };
}

/** dnsmasq as the classic PXE stack's DHCP + TFTP (same boot files as rackboot, iPXE chainload). */
/** rackboot is ready once its HTTP server answers (it opens DHCP and TFTP before HTTP). */
async function waitForHttp(ctx, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const probe = await run(inNs(ctx.link.cli, ['curl', '-s', '-o', '/dev/null', '-m', '1', '-w', '%{http_code}', `http://${SERVER_IP}/`]));
    if (probe.stdout.trim() !== '000') return;
    await sleep(200);
  }
  throw new Error('rackboot did not answer HTTP within 20 s');
}

export async function startDnsmasq(ctx, { tftp = true, dhcp = true } = {}) {
  const dir = join(ctx.dir, `dnsmasq-${++ctx.seq}`);
  await mkdir(dir, { recursive: true });
  const base = `http://${SERVER_IP}`;
  const argv = [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--port=0',
    '--user=root',
    '--interface=eth0',
    '--bind-interfaces',
    `--pid-file=${join(dir, 'pid')}`,
    '--log-facility=-',
    ...(process.env.RBSTORM_DEBUG ? [] : ['--quiet-dhcp', '--quiet-tftp']),
  ];
  if (dhcp) {
    argv.push(
      `--dhcp-range=${POOL.start},${POOL.end},${POOL.mask},1h`,
      `--dhcp-leasefile=${join(dir, 'leases')}`,
      '--dhcp-lease-max=100000',
      '--dhcp-authoritative',
      // dnsmasq pings each address before offering it, one at a time for ~3 s: perfdhcp then sees
      // almost nothing and a 100-node storm waits minutes. Off, in dnsmasq's favour (rackboot keeps its ARP probe).
      '--no-ping',
      '--dhcp-userclass=set:ipxe,iPXE',
      '--dhcp-vendorclass=set:http,HTTPClient',
      '--dhcp-match=set:efi64,option:client-arch,7',
      `--dhcp-boot=tag:ipxe,${base}/boot.ipxe`,
      `--dhcp-boot=tag:!ipxe,tag:efi64,snponly.efi,,${SERVER_IP}`,
      `--dhcp-boot=tag:!ipxe,tag:!efi64,tag:!http,undionly.kpxe,,${SERVER_IP}`,
      `--dhcp-boot=tag:http,tag:!ipxe,${base}/snponly.efi`,
      '--dhcp-option-force=tag:http,60,HTTPClient',
    );
  }
  if (tftp) argv.push('--enable-tftp', `--tftp-root=${ctx.root}`, '--tftp-max=1000');
  const proc = await daemon(ctx.link.srv, argv, { settleMs: 1000 });
  return { name: 'dnsmasq', ...proc };
}

export async function startKea(ctx) {
  const dir = join(ctx.dir, `kea-${++ctx.seq}`);
  await mkdir(dir, { recursive: true });
  const config = join(dir, 'kea-dhcp4.conf');
  await writeFile(
    config,
    JSON.stringify(
      {
        Dhcp4: {
          'interfaces-config': { interfaces: ['eth0'], 'dhcp-socket-type': 'raw' },
          'lease-database': { type: 'memfile', persist: true, name: join(dir, 'leases.csv'), 'lfc-interval': 0 },
          'valid-lifetime': 3600,
          subnet4: [{ id: 1, subnet: POOL.subnet, pools: [{ pool: `${POOL.start} - ${POOL.end}` }] }],
          loggers: [{ name: 'kea-dhcp4', output_options: [{ output: 'stdout' }], severity: 'WARN' }],
        },
      },
      null,
      1,
    ),
  );
  const proc = await daemon(ctx.link.srv, ['kea-dhcp4', '-c', config], {
    env: { KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir },
    settleMs: 1500,
  });
  return { name: 'kea', ...proc };
}

export async function startTftpdHpa(ctx) {
  const proc = await daemon(ctx.link.srv, ['in.tftpd', '--foreground', '--address', `${SERVER_IP}:69`, '--user', 'root', '--secure', ctx.root], {
    settleMs: 500,
  });
  return { name: 'tftpd-hpa', ...proc };
}

export async function startNginx(ctx) {
  const dir = join(ctx.dir, `nginx-${++ctx.seq}`);
  await mkdir(dir, { recursive: true });
  const config = join(dir, 'nginx.conf');
  await writeFile(
    config,
    `worker_processes 2;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 10000;
  types { text/plain ipxe; application/octet-stream img; }
  default_type application/octet-stream;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen ${SERVER_IP}:80;
    root ${ctx.root};
    location / { }
  }
}
`,
  );
  const proc = await daemon(ctx.link.srv, ['nginx', '-c', config, '-p', dir, '-e', 'stderr'], { settleMs: 800 });
  return { name: 'nginx', ...proc };
}
