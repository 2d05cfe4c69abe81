// /metrics: the exposition text is checked line by line by a small parser of
// the Prometheus 0.0.4 text format, the counter-name mapping and the gauges
// are checked by value, and the DHCP rate with a fake clock.

import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { BOOT_STAGES, DIAGNOSES } from '../../firmware/src/model/boot.js';
import type { ApplianceStatus, BootStats } from '../../firmware/src/model/api.js';
import { createMetricsRoute, METRICS_CONTENT_TYPE, RateMeter, renderMetrics } from '../../firmware/src/http/metrics.js';
import { createHttpServer } from '../../firmware/src/http/server.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface ParsedFamily {
  help: string;
  type: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A strict reader of the text format: throws on the first line that breaks a rule. */
function parseExposition(text: string): Map<string, ParsedFamily> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a line feed');
  const families = new Map<string, ParsedFamily>();
  let current: string | undefined;
  const closed = new Set<string>();
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, index) => {
    const where = `line ${index + 1}: ${JSON.stringify(line)}`;
    if (line === '') throw new Error(`${where}: empty line`);
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) throw new Error(`${where}: comment that is neither HELP nor TYPE`);
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name`);
      if (closed.has(name)) throw new Error(`${where}: family ${name} appears twice`);
      if (current !== undefined && current !== name) closed.add(current);
      current = name;
      const family = families.get(name) ?? { help: '', type: '', samples: [] };
      families.set(name, family);
      if (kind === 'HELP') {
        if (family.help || family.type) throw new Error(`${where}: HELP must come first, once`);
        family.help = unescape(rest, false);
      } else {
        if (family.type) throw new Error(`${where}: second TYPE`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`${where}: bad type`);
        if (family.samples.length) throw new Error(`${where}: TYPE after samples`);
        family.type = rest;
      }
      return;
    }
    const sample = parseSample(line, where);
    if (sample.name !== current) throw new Error(`${where}: sample outside its family (current ${current})`);
    const family = families.get(sample.name)!;
    if (!family.type) throw new Error(`${where}: sample before TYPE`);
    const key = JSON.stringify(Object.entries(sample.labels).sort());
    if (family.samples.some((s) => JSON.stringify(Object.entries(s.labels).sort()) === key)) throw new Error(`${where}: duplicate label set`);
    if (family.type === 'counter' && !(sample.value >= 0)) throw new Error(`${where}: negative counter`);
    family.samples.push(sample);
  });
  return families;
}

function parseSample(line: string, where: string): Sample {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) throw new Error(`${where}: no metric name`);
  const name = nameMatch[0];
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      const labelName = line.slice(i, eq);
      if (!LABEL_NAME.test(labelName)) throw new Error(`${where}: bad label name ${labelName}`);
      if (line[eq + 1] !== '"') throw new Error(`${where}: label value must be quoted`);
      let j = eq + 2;
      let raw = '';
      while (line[j] !== '"') {
        if (j >= line.length) throw new Error(`${where}: unterminated label value`);
        if (line[j] === '\\') {
          if (!['\\', '"', 'n'].includes(line[j + 1])) throw new Error(`${where}: bad escape`);
          raw += line.slice(j, j + 2);
          j += 2;
        } else raw += line[j++];
      }
      if (labelName in labels) throw new Error(`${where}: label ${labelName} twice`);
      labels[labelName] = unescape(raw, true);
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`${where}: expected , or } after a label`);
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`${where}: expected one space before the value`);
  const valueText = line.slice(i + 1);
  if (!/^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|NaN|[+-]Inf)$/.test(valueText)) throw new Error(`${where}: bad value ${valueText}`);
  const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
  return { name, labels, value };
}

function unescape(text: string, quotes: boolean): string {
  return text.replace(/\\(\\|n|")/g, (all, c: string) => (c === 'n' ? '\n' : c === '"' && !quotes ? all : c));
}

function value(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  return families.get(name)?.samples.find((s) => JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()))?.value;
}

const STATUS: ApplianceStatus = {
  version: '1',
  uptimeSeconds: 42,
  hostname: 'rb',
  interface: 'eth1',
  address: '10.0.0.1',
  mode: 'dhcp',
  httpPort: 80,
  tftpPort: 69,
  nodes: 3,
  nodesByStage: { kernel: 2, booted: 1 },
  activeTftpTransfers: 7,
  activeHttpDownloads: 4,
  counters: {},
};
const STATS: BootStats = {
  nodesByStage: { kernel: 2, booted: 1 },
  nodesByDiagnosis: { booted: 1, tftp_read_timeout: 2 },
  bootsStarted: 5,
  bootsCompleted: 1,
  bootSeconds: { count: 1 },
  dhcpAcksPerBoot: {},
};

describe('metrics exposition', () => {
  it('maps counters to labelled families and passes a strict format check', () => {
    const counters: Record<string, number> = {
      'dhcp.in.packets': 100,
      'dhcp.in.discover': 60,
      'dhcp.in.request': 40,
      'dhcp.out.offer': 60,
      'dhcp.out.ack': 39,
      'dhcp.out.nak': 1,
      'tftp.out.error': 2,
      'malformed.dhcp': 3,
      'malformed.udp': 1,
      'tftp.dropped.client_gone': 4,
      'dhcp.dropped.bootp': 2,
      'sse.dropped.slow_client': 1,
      'http.dropped': 9,
      'http.errors.404': 5,
      'http.bytes_sent': 123456789,
      'tftp.done': 10,
      'tftp.retransmits': 17,
      'tftp.failed.timeout': 2,
      'tftp.refused.path': 1,
      'http.refused': 2,
      'dhcp.proxy.out': 3,
      'api.refused.csrf': 2,
      'api.booted.wrong_address': 1,
      'sse.refused.too_many': 1,
      'weird"name\\with\nnewline': 1,
    };
    const text = renderMetrics(counters, { status: STATUS, stats: STATS, dhcpPerSecond: 12.5 });
    const f = parseExposition(text);
    expect(value(f, 'rackboot_packets_total', { protocol: 'dhcp', direction: 'in', type: 'discover' })).toBe(60);
    expect(value(f, 'rackboot_packets_total', { protocol: 'dhcp', direction: 'out', type: 'nak' })).toBe(1);
    expect(value(f, 'rackboot_packets_total', { protocol: 'tftp', direction: 'out', type: 'error' })).toBe(2);
    expect(value(f, 'rackboot_dhcp_messages_received_total')).toBe(100);
    expect(value(f, 'rackboot_malformed_total', { protocol: 'dhcp' })).toBe(3);
    expect(value(f, 'rackboot_dropped_total', { protocol: 'tftp', reason: 'client_gone' })).toBe(4);
    expect(value(f, 'rackboot_dropped_total', { protocol: 'http', reason: 'connection_limit' })).toBe(9);
    expect(value(f, 'rackboot_dropped_total', { protocol: 'sse', reason: 'slow_client' })).toBe(1);
    expect(value(f, 'rackboot_http_error_responses_total', { status: '404' })).toBe(5);
    expect(value(f, 'rackboot_http_sent_bytes_total')).toBe(123456789);
    expect(value(f, 'rackboot_tftp_transfers_total', { result: 'done' })).toBe(10);
    expect(value(f, 'rackboot_tftp_retransmits_total')).toBe(17);
    expect(value(f, 'rackboot_tftp_transfers_total', { result: 'timeout' })).toBe(2);
    expect(value(f, 'rackboot_refused_total', { protocol: 'http', reason: 'path' })).toBe(2);
    expect(value(f, 'rackboot_api_refused_total', { reason: 'csrf' })).toBe(2);
    expect(value(f, 'rackboot_booted_callbacks_total', { result: 'wrong_address' })).toBe(1);
    expect(value(f, 'rackboot_refused_total', { protocol: 'sse', reason: 'too_many' })).toBe(1);
    // Unmapped counters are still there, with their names escaped and read back intact.
    expect(value(f, 'rackboot_counter_total', { name: 'dhcp.proxy.out' })).toBe(3);
    expect(value(f, 'rackboot_counter_total', { name: 'weird"name\\with\nnewline' })).toBe(1);
    // Gauges from the app.
    expect(value(f, 'rackboot_dhcp_transactions_per_second')).toBe(12.5);
    expect(value(f, 'rackboot_tftp_active_transfers')).toBe(7);
    expect(value(f, 'rackboot_http_active_downloads')).toBe(4);
    expect(f.get('rackboot_nodes')!.type).toBe('gauge');
    expect(f.get('rackboot_nodes')!.samples).toHaveLength(BOOT_STAGES.length);
    expect(value(f, 'rackboot_nodes', { stage: 'kernel' })).toBe(2);
    expect(value(f, 'rackboot_nodes', { stage: 'off' })).toBe(0);
    expect(f.get('rackboot_nodes_diagnosed')!.samples).toHaveLength(DIAGNOSES.length);
    expect(value(f, 'rackboot_nodes_diagnosed', { diagnosis: 'tftp_read_timeout' })).toBe(2);
    expect(value(f, 'rackboot_up')).toBe(1);
    for (const [name, family] of f) {
      expect(family.help, name).not.toBe('');
      if (family.type === 'counter') expect(name).toMatch(/_total$/);
    }
  });

  it('the parser in this test refuses broken text (so passing it means something)', () => {
    expect(() => parseExposition('a 1')).toThrow(/line feed/);
    expect(() => parseExposition('# TYPE a counter\na{b="c} 1\n')).toThrow(/unterminated/);
    expect(() => parseExposition('# TYPE a counter\na 1\n# TYPE b gauge\nb 1\na 2\n')).toThrow(/outside its family/);
    expect(() => parseExposition('# TYPE a counter\na{x="1"} 1\na{x="1"} 2\n')).toThrow(/duplicate/);
    expect(() => parseExposition('# TYPE a counter\na{x="a\\q"} 1\n')).toThrow(/bad escape/);
    expect(() => parseExposition('a 1\n')).toThrow(/before TYPE|outside/);
  });

  it('still exports the counters when the app cannot answer', () => {
    const f = parseExposition(renderMetrics({ 'malformed.tftp': 2 }, { dhcpPerSecond: 0 }));
    expect(value(f, 'rackboot_up')).toBe(0);
    expect(value(f, 'rackboot_malformed_total', { protocol: 'tftp' })).toBe(2);
    expect(f.has('rackboot_nodes')).toBe(false);
  });
});

describe('DHCP rate', () => {
  it('is messages per second over the last 10 s', () => {
    const clock = {
      t: 0,
      now() {
        return this.t;
      },
    };
    let total = 0;
    const meter = new RateMeter(() => total, clock);
    expect(meter.rate()).toBe(0);
    for (let s = 1; s <= 30; s++) {
      clock.t = s * 1000;
      total += s <= 20 ? 50 : 0; // 50/s for 20 s, then silence
      meter.sample();
      if (s === 5) expect(meter.rate()).toBe(50);
      if (s === 20) expect(meter.rate()).toBe(50);
      if (s === 25) expect(meter.rate()).toBe(25);
    }
    expect(meter.rate()).toBe(0);
  });
});

describe('GET /metrics', () => {
  it('serves the exposition format without authentication', async () => {
    const counters = new Counters();
    counters.inc('dhcp.in.discover', 3);
    const { route, meter } = createMetricsRoute({
      source: { status: () => STATUS, stats: () => Promise.resolve(STATS) },
      counters,
      clock: { now: () => Date.now() },
      log: silentLogger,
    });
    const http = createHttpServer({
      root: '/nonexistent',
      resolveNode: () => Promise.resolve(undefined),
      profiles: {},
      defaultProfile: 'x',
      serverBase: 'http://127.0.0.1',
      log: silentLogger,
      counters,
      extraRoutes: [route],
    });
    await http.listen(0, '127.0.0.1');
    try {
      const answer = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
        request({ host: '127.0.0.1', port: http.address().port, path: '/metrics', agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
        })
          .on('error', reject)
          .end();
      });
      expect(answer.status).toBe(200);
      expect(answer.type).toBe(METRICS_CONTENT_TYPE);
      const f = parseExposition(answer.body);
      expect(value(f, 'rackboot_packets_total', { protocol: 'dhcp', direction: 'in', type: 'discover' })).toBe(3);
      expect(value(f, 'rackboot_http_requests_total')).toBe(1);
    } finally {
      meter.stop();
      await http.close();
    }
  });
});
