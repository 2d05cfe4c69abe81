// Prometheus metrics at GET /metrics (text exposition format 0.0.4), public
// like a switch's SNMP counters: nothing here is secret, and scrapers rarely
// carry credentials.
//
// Counters come from util/counters.ts, whose dotted names are mapped to metric
// families with labels (COUNTER_RULES below); a counter no rule knows is still
// exported, as rackboot_counter_total{name="..."}, so a new counter is never
// silently missing. Gauges come from the app (nodes per stage and diagnosis,
// active transfers and downloads) and from a meter that turns the DHCP message
// counter into a rate over the last 10 s.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { BOOT_STAGES, DIAGNOSES } from '../model/boot.js';
import type { Clock } from '../util/clock.js';
import type { Counters } from '../util/counters.js';
import type { Logger } from '../util/log.js';
import type { ApplianceStatus, BootStats } from '../model/api.js';
import type { Awaitable } from './api/host.js';
import type { Route } from './router.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples: { labels: Labels; value: number }[];
}

interface CounterRule {
  pattern: RegExp;
  family: string;
  help: string;
  labels(match: RegExpExecArray): Labels;
}

/** First match wins; order from specific to general. */
const COUNTER_RULES: CounterRule[] = [
  {
    pattern: /^dhcp\.in\.packets$/,
    family: 'rackboot_dhcp_messages_received_total',
    help: 'DHCP messages received and decoded (all types).',
    labels: () => ({}),
  },
  {
    pattern: /^(dhcp|tftp)\.(in|out)\.([a-z0-9_]+)$/,
    family: 'rackboot_packets_total',
    help: 'Packets by protocol, direction and message type.',
    labels: (m) => ({ protocol: m[1], direction: m[2], type: m[3] }),
  },
  {
    pattern: /^dhcp\.refused\.([a-z0-9_]+)$/,
    family: 'rackboot_refused_total',
    help: 'Requests refused, by protocol and reason.',
    labels: (m) => ({ protocol: 'dhcp', reason: m[1] }),
  },
  {
    pattern: /^dhcp\.ignored\.([a-z0-9_]+)$/,
    family: 'rackboot_dhcp_ignored_total',
    help: 'DHCP messages ignored as forged: an Ethernet source other than chaddr on our segment, a DECLINE or RELEASE not from the holder of the address, option 82 from a client that is not a relay.',
    labels: (m) => ({ reason: m[1] }),
  },
  {
    pattern: /^dhcp\.offers_evicted$/,
    family: 'rackboot_dhcp_offers_evicted_total',
    help: 'Unconfirmed offers forgotten to stay within dhcp.max_offers.',
    labels: () => ({}),
  },
  {
    pattern: /^dhcp\.foreign_server\.(rogue|site|impersonation)$/,
    family: 'rackboot_dhcp_foreign_server_replies_total',
    help: "DHCP replies seen from another server on the segment: rogue (full DHCP mode), site (the expected server in proxy mode) or impersonation (rackboot's server id from another MAC).",
    labels: (m) => ({ kind: m[1] }),
  },
  {
    pattern: /^dhcp\.foreign_server_reports\.(rogue|site|impersonation)$/,
    family: 'rackboot_dhcp_foreign_server_reports_total',
    help: 'Events written about another DHCP server on the segment (rate-limited per server).',
    labels: (m) => ({ kind: m[1] }),
  },
  {
    pattern: /^dhcp\.events_suppressed\.([a-z0-9_]+)$/,
    family: 'rackboot_dhcp_events_suppressed_total',
    help: 'Events about forgeable DHCP traffic not written because 8 were written in the last 10 minutes, by kind.',
    labels: (m) => ({ kind: m[1] }),
  },
  {
    pattern: /^malformed\.([a-z0-9_]+)$/,
    family: 'rackboot_malformed_total',
    help: 'Undecodable packets, by the protocol layer that refused them.',
    labels: (m) => ({ protocol: m[1] }),
  },
  {
    pattern: /^([a-z0-9_]+)\.dropped\.([a-z0-9_]+)$/,
    family: 'rackboot_dropped_total',
    help: 'Packets, requests or streams dropped, by protocol and reason.',
    labels: (m) => ({ protocol: m[1], reason: m[2] }),
  },
  { pattern: /^http\.dropped$/, family: 'rackboot_dropped_total', help: '', labels: () => ({ protocol: 'http', reason: 'connection_limit' }) },
  {
    pattern: /^http\.errors\.(\d{3})$/,
    family: 'rackboot_http_error_responses_total',
    help: 'HTTP responses with status 400 or above, by status.',
    labels: (m) => ({ status: m[1] }),
  },
  {
    pattern: /^(dhcp|tftp|http)\.errors$/,
    family: 'rackboot_errors_total',
    help: 'Internal errors while handling a request, by protocol.',
    labels: (m) => ({ protocol: m[1] }),
  },
  { pattern: /^tftp\.done$/, family: 'rackboot_tftp_transfers_total', help: 'TFTP transfers that ended, by result.', labels: () => ({ result: 'done' }) },
  { pattern: /^tftp\.failed\.([a-z0-9_]+)$/, family: 'rackboot_tftp_transfers_total', help: '', labels: (m) => ({ result: m[1] }) },
  { pattern: /^tftp\.retransmits$/, family: 'rackboot_tftp_retransmits_total', help: 'TFTP blocks sent again after a timeout.', labels: () => ({}) },
  {
    pattern: /^tftp\.unanswered_bytes$/,
    family: 'rackboot_tftp_unanswered_bytes_total',
    help: 'TFTP bytes (UDP payload) sent to peers that never answered: the bound on reflection through forged requests.',
    labels: () => ({}),
  },
  { pattern: /^tftp\.requests$/, family: 'rackboot_tftp_requests_total', help: 'TFTP read requests received.', labels: () => ({}) },
  {
    pattern: /^tftp\.refused\.([a-z0-9_]+)$/,
    family: 'rackboot_refused_total',
    help: 'Requests refused, by protocol and reason.',
    labels: (m) => ({ protocol: 'tftp', reason: m[1] }),
  },
  { pattern: /^http\.refused$/, family: 'rackboot_refused_total', help: '', labels: () => ({ protocol: 'http', reason: 'path' }) },
  { pattern: /^http\.bytes_sent$/, family: 'rackboot_http_sent_bytes_total', help: 'HTTP response body bytes sent.', labels: () => ({}) },
  { pattern: /^http\.requests$/, family: 'rackboot_http_requests_total', help: 'HTTP requests received.', labels: () => ({}) },
  { pattern: /^http\.connections$/, family: 'rackboot_http_connections_total', help: 'HTTP connections accepted.', labels: () => ({}) },
  { pattern: /^http\.address_limited$/, family: 'rackboot_dropped_total', help: '', labels: () => ({ protocol: 'http', reason: 'address_limit' }) },
  {
    pattern: /^http\.request_timeouts$/,
    family: 'rackboot_http_request_timeouts_total',
    help: 'HTTP connections closed with 408: the request head came too slowly (slowloris).',
    labels: () => ({}),
  },
  { pattern: /^sse\.refused\.([a-z0-9_]+)$/, family: 'rackboot_refused_total', help: '', labels: (m) => ({ protocol: 'sse', reason: m[1] }) },
  { pattern: /^sse\.opened$/, family: 'rackboot_event_streams_opened_total', help: 'Server-Sent Events streams opened.', labels: () => ({}) },
  {
    pattern: /^api\.refused\.([a-z0-9_]+)$/,
    family: 'rackboot_api_refused_total',
    help: 'API requests refused for authentication, CSRF or rate limits, by reason.',
    labels: (m) => ({ reason: m[1] }),
  },
  {
    pattern: /^api\.booted\.([a-z0-9_]+)$/,
    family: 'rackboot_booted_callbacks_total',
    help: 'Booted callbacks from nodes, by result.',
    labels: (m) => ({ result: m[1] }),
  },
  {
    pattern: /^boot\.unattributed\.([a-z0-9_]+)$/,
    family: 'rackboot_unattributed_observations_total',
    help: 'Observations no node could be found for, by protocol.',
    labels: (m) => ({ protocol: m[1] }),
  },
];
const FALLBACK_FAMILY = 'rackboot_counter_total';
const FALLBACK_HELP = 'Other internal counters, by their rackboot name.';

/** What the metrics need from the app (a subset of ApiHost). */
export interface MetricsSource {
  status(): Awaitable<ApplianceStatus>;
  stats(): Awaitable<BootStats>;
}

/**
 * DHCP messages per second over the last `windowMs`, from the cumulative
 * `dhcp.in.packets` counter sampled every second (scrapes are too far apart
 * to measure a 10 s rate by themselves).
 */
export class RateMeter {
  private readonly samples: { at: number; value: number }[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly read: () => number,
    private readonly clock: Clock,
    private readonly windowMs = 10_000,
  ) {}

  /** Samples every `intervalMs` in the background (unref'd: never keeps the process alive). */
  start(intervalMs = 1_000): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  sample(): void {
    const now = this.clock.now();
    this.samples.push({ at: now, value: this.read() });
    // Keep the newest sample at or before the window's start, as the rate's base.
    while (this.samples.length > 2 && this.samples[1].at <= now - this.windowMs) this.samples.shift();
  }

  /** Per second, over the window (or over what has been sampled so far, when less). 0 before two samples. */
  rate(): number {
    this.sample();
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const seconds = (last.at - first.at) / 1000;
    if (seconds <= 0) return 0;
    return Math.max(0, last.value - first.value) / seconds;
  }
}

export interface MetricsGauges {
  status?: ApplianceStatus;
  stats?: BootStats;
  dhcpPerSecond: number;
  /** Extra gauges from the API itself (event streams, sessions). */
  extra?: { name: string; help: string; value: number }[];
}

/** The exposition text: HELP and TYPE once per family, samples of a family together, label values escaped. */
export function renderMetrics(counters: Record<string, number>, gauges: MetricsGauges): string {
  const families = new Map<string, Family>();
  const family = (name: string, type: Family['type'], help: string): Family => {
    let found = families.get(name);
    if (!found) {
      found = { name, type, help, samples: [] };
      families.set(name, found);
    }
    if (!found.help && help) found.help = help;
    return found;
  };

  for (const [name, value] of Object.entries(counters)) {
    const rule = COUNTER_RULES.find((r) => r.pattern.test(name));
    const match = rule?.pattern.exec(name);
    if (rule && match) family(rule.family, 'counter', rule.help).samples.push({ labels: rule.labels(match), value });
    else family(FALLBACK_FAMILY, 'counter', FALLBACK_HELP).samples.push({ labels: { name }, value });
  }

  const { status, stats } = gauges;
  family('rackboot_up', 'gauge', 'Whether the app answered the status and stats queries for this scrape (1) or not (0).').samples.push({
    labels: {},
    value: status && stats ? 1 : 0,
  });
  family('rackboot_dhcp_transactions_per_second', 'gauge', 'DHCP messages received per second over the last 10 s.').samples.push({
    labels: {},
    value: round(gauges.dhcpPerSecond),
  });
  if (status) {
    family('rackboot_uptime_seconds', 'gauge', 'Seconds since rackboot started.').samples.push({ labels: {}, value: status.uptimeSeconds });
    family('rackboot_inventory_nodes', 'gauge', 'Nodes in the inventory.').samples.push({ labels: {}, value: status.nodes });
    family('rackboot_tftp_active_transfers', 'gauge', 'TFTP transfers under way.').samples.push({ labels: {}, value: status.activeTftpTransfers });
    if (status.tftpSlotsInUse !== undefined)
      family('rackboot_tftp_slots_in_use', 'gauge', 'TFTP transfer slots taken (0 when idle).').samples.push({ labels: {}, value: status.tftpSlotsInUse });
    family('rackboot_http_active_downloads', 'gauge', 'HTTP boot file downloads under way.').samples.push({ labels: {}, value: status.activeHttpDownloads });
  }
  if (stats) {
    const byStage = family('rackboot_nodes', 'gauge', 'Nodes by boot stage.');
    for (const stage of BOOT_STAGES) byStage.samples.push({ labels: { stage }, value: stats.nodesByStage[stage] ?? 0 });
    const byDiagnosis = family('rackboot_nodes_diagnosed', 'gauge', 'Nodes by the diagnosis of their latest boot.');
    for (const diagnosis of DIAGNOSES) byDiagnosis.samples.push({ labels: { diagnosis }, value: stats.nodesByDiagnosis[diagnosis] ?? 0 });
    family('rackboot_boots_started_total', 'counter', 'Boots started since rackboot started.').samples.push({ labels: {}, value: stats.bootsStarted });
    family('rackboot_boots_completed_total', 'counter', 'Boots that reached booted since rackboot started.').samples.push({
      labels: {},
      value: stats.bootsCompleted,
    });
  }
  for (const extra of gauges.extra ?? []) family(extra.name, 'gauge', extra.help).samples.push({ labels: {}, value: extra.value });

  const lines: string[] = [];
  for (const f of families.values()) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help || f.name)}`);
    lines.push(`# TYPE ${f.name} ${f.type}`);
    for (const sample of f.samples) lines.push(`${f.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
  }
  return lines.join('\n') + '\n';
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([key, value]) => `${key}="${escapeLabelValue(value)}"`).join(',')}}`;
}

/** 0.0.4: in label values, backslash, double quote and line feed are escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** 0.0.4: in HELP text, backslash and line feed are escaped. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

export interface MetricsRouteOptions {
  source: MetricsSource;
  counters: Counters;
  clock: Clock;
  log: Logger;
  extraGauges?: () => MetricsGauges['extra'];
}

/** GET/HEAD /metrics, plus the rate meter behind it (start() it; stop() it at shutdown). */
export function createMetricsRoute(opts: MetricsRouteOptions): { route: Route; meter: RateMeter } {
  const meter = new RateMeter(() => opts.counters.get('dhcp.in.packets'), opts.clock);
  const log = opts.log.child({ component: 'metrics' });
  let failureLogged = false;
  const handler = async (_req: IncomingMessage, res: ServerResponse) => {
    let status: ApplianceStatus | undefined;
    let stats: BootStats | undefined;
    try {
      [status, stats] = await Promise.all([opts.source.status(), opts.source.stats()]);
      failureLogged = false;
    } catch (error) {
      // Still answer with the counters: a scrape that fails entirely hides everything.
      if (!failureLogged) log.warn('metrics: app status unavailable; exporting counters only', { error: error as Error });
      failureLogged = true;
      status = stats = undefined;
    }
    const text = renderMetrics(opts.counters.snapshot(), { status, stats, dhcpPerSecond: meter.rate(), extra: opts.extraGauges?.() });
    const body = Buffer.from(text, 'utf8');
    res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Content-Length': String(body.length), 'Cache-Control': 'no-store' });
    res.end(res.req?.method === 'HEAD' ? undefined : body);
  };
  return { route: { name: 'metrics', methods: ['GET', 'HEAD'], prefix: '/metrics', exact: true, handler }, meter };
}
