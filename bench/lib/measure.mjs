// The measurements, each driven by a real client in the client namespace:
// perfdhcp (DHCP), atftp (TFTP), curl (HTTP) and `rackboot storm` (whole boots).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inNs, run, sleep } from './sh.mjs';
import { SERVER_IP } from './link.mjs';

/** perfdhcp's report: per exchange sent/received/drops/avg delay, and the achieved 4-way rate. */
export function parsePerfdhcp(output) {
  const out = { rate: Number(/Rate: ([\d.]+)/.exec(output)?.[1] ?? NaN), exchanges: {} };
  for (const section of output.split(/\*{3}Statistics for: /).slice(1)) {
    const name = section.slice(0, section.indexOf('*')).trim();
    const num = (label) => Number(new RegExp(`${label}: ([\\d.]+)`).exec(section)?.[1] ?? NaN);
    out.exchanges[name] = { sent: num('sent packets'), received: num('received packets'), drops: num('drops'), avgDelayMs: num('avg delay') };
  }
  return out;
}

/** perfdhcp DORA at `rate` per second for `seconds`, `clients` simulated MACs. */
export async function perfdhcp(ctx, { rate, seconds, clients = 60_000 }) {
  const argv = inNs(ctx.link.cli, ['perfdhcp', '-4', '-l', 'eth0', '-r', String(rate), '-R', String(clients), '-p', String(seconds), SERVER_IP]);
  const result = await run(argv, { timeoutMs: (seconds + 30) * 1000 });
  const parsed = parsePerfdhcp(result.stdout + result.stderr);
  const doRa = parsed.exchanges['DISCOVER-OFFER'] ?? {};
  const reqAck = parsed.exchanges['REQUEST-ACK'] ?? {};
  const sent = (doRa.sent ?? 0) + (reqAck.sent ?? 0);
  const drops = (doRa.drops ?? 0) + (reqAck.drops ?? 0);
  return {
    offeredRate: rate,
    seconds,
    rate: parsed.rate,
    dropPercent: sent ? (100 * drops) / sent : null,
    discoverOfferMs: doRa.avgDelayMs ?? null,
    requestAckMs: reqAck.avgDelayMs ?? null,
    raw: result.code === 0 || parsed.exchanges['DISCOVER-OFFER'] ? undefined : (result.stdout + result.stderr).slice(-2000),
  };
}

// Each client writes to tmpfs so a transfer cut by the cap still tells how far it got; files go at once.
const TFTP_CLIENTS = `#!/bin/bash
server=$1; n=$2; ws=$3; file=$4; cap=$5; out=$6
opts=(--option "blksize 1468")
if [ "$ws" -gt 1 ]; then opts+=(--option "windowsize $ws"); fi
mkdir -p "$out"
for ((i = 0; i < n; i++)); do
  (
    s=$(date +%s.%N)
    timeout "$cap" atftp "\${opts[@]}" -g -r "$file" -l "$out/$i" "$server" >/dev/null 2>&1
    rc=$?
    e=$(date +%s.%N)
    size=$(stat -c %s "$out/$i" 2>/dev/null || echo 0)
    rm -f "$out/$i"
    echo "$i $rc $(echo "$e - $s" | bc) $size"
  ) &
done
wait
rmdir "$out" 2>/dev/null
`;

const HTTP_CLIENTS = `#!/bin/bash
url=$1; n=$2; cap=$3
for ((i = 0; i < n; i++)); do
  curl -s -o /dev/null -m "$cap" -w "%{http_code} %{size_download} %{time_total}\\n" "$url" &
done
wait
`;

async function script(ctx, name, text) {
  const path = join(ctx.dir, name);
  await writeFile(path, text, { mode: 0o755 });
  return path;
}

/** `streams` concurrent atftp downloads of `file`; each is cut at `capSeconds`. */
export async function tftpStreams(ctx, { streams, windowsize, file, size, capSeconds }) {
  const path = await script(ctx, 'tftp-clients.sh', TFTP_CLIENTS);
  const started = Date.now();
  const out = join('/dev/shm', `rbstorm-tftp-${process.pid}`);
  const result = await run(inNs(ctx.link.cli, ['bash', path, SERVER_IP, String(streams), String(windowsize), file, String(capSeconds), out]), {
    timeoutMs: (capSeconds + 60) * 1000,
  });
  const wall = (Date.now() - started) / 1000;
  const rows = result.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .map(([, rc, secs, got]) => ({ ok: rc === '0' && Number(got) === size, secs: Number(secs), bytes: Number(got) }));
  return { ...streamSummary(rows, streams, size, wall), goodputMbit: Number(((rows.reduce((a, r) => a + r.bytes, 0) * 8) / wall / 1e6).toFixed(1)) };
}

/** `clients` concurrent curl downloads of `url`. */
export async function httpDownloads(ctx, { clients, url, size, capSeconds }) {
  const path = await script(ctx, 'http-clients.sh', HTTP_CLIENTS);
  const started = Date.now();
  const result = await run(inNs(ctx.link.cli, ['bash', path, url, String(clients), String(capSeconds)]), { timeoutMs: (capSeconds + 60) * 1000 });
  const wall = (Date.now() - started) / 1000;
  const rows = result.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .map(([code, bytes, secs]) => ({ ok: code === '200' && Number(bytes) === size, secs: Number(secs) }));
  return streamSummary(rows, clients, size, wall);
}

function streamSummary(rows, total, size, wall) {
  const done = rows.filter((r) => r.ok);
  const times = done.map((r) => r.secs).sort((a, b) => a - b);
  const last = times.length ? times.at(-1) : wall;
  return {
    completed: done.length,
    total,
    seconds: Number(last.toFixed(2)),
    mbitPerSecond: done.length ? Number(((done.length * size * 8) / last / 1e6).toFixed(1)) : 0,
    medianStreamSeconds: times.length ? Number(times[Math.floor(times.length / 2)].toFixed(2)) : null,
  };
}

/** DHCP answer times at a low steady rate while `streams` TFTP transfers saturate the server. */
export async function dhcpUnderTftpLoad(ctx, { streams, windowsize, file, size, capSeconds }) {
  const idle = await perfdhcp(ctx, { rate: 50, seconds: 5, clients: 5000 });
  const load = tftpStreams(ctx, { streams, windowsize, file, size, capSeconds });
  await sleep(2000);
  const busy = await perfdhcp(ctx, { rate: 50, seconds: Math.max(3, Math.min(8, capSeconds - 5)), clients: 5000 });
  const tftp = await load;
  return { idle: pick(idle), underLoad: pick(busy), tftp };
}

const pick = (p) => ({ rate: p.rate, dropPercent: p.dropPercent, discoverOfferMs: p.discoverOfferMs, requestAckMs: p.requestAckMs });

/** One `rackboot storm` run in the client namespace; returns its JSON report's summary. */
export async function storm(ctx, { nodes, firmware = 'bios-pxe', timeLimit, label }) {
  const json = join(ctx.dir, `storm-${label}.json`);
  const svg = join(ctx.plotsDir, `storm-${label}.svg`);
  const argv = inNs(ctx.link.cli, [
    ...ctx.stormCommand,
    '--interface',
    'eth0',
    '--nodes',
    String(nodes),
    '--firmware',
    firmware,
    '--server',
    SERVER_IP,
    '--time-limit',
    String(timeLimit),
    '--json',
    json,
    '--svg',
    svg,
    '--quiet',
  ]);
  const result = await run(argv, { timeoutMs: (timeLimit + 120) * 1000 });
  let report;
  try {
    report = JSON.parse(await readFile(json, 'utf8'));
  } catch {
    throw new Error(`storm ${label} wrote no report (exit ${result.code}): ${result.stderr.slice(-1500)}`);
  }
  return report;
}
