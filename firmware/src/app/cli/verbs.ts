// The rack command line's verbs: nodes, power, boot, events, token. Each talks
// to the running server's REST API (connection.ts) and prints a table, or JSON
// with --json. Exit status: 0 done, 1 the API or the server refused (its own
// message on stderr), 2 a usage error.

import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { ApiTokenCreated, NodeCreate, NodeUpdate, NodeView, PowerResult, RackbootEvent, SessionInfo } from '../../model/api.js';
import { printable, printableJson } from '../../util/printable.js';
import { CliError, Connection, defaultTokenFile } from './connection.js';
import { ImportError, parseImport, type ImportRow } from './import.js';
import { parseMac, resolveTargets, TargetError } from './targets.js';

export const RACK_VERBS = ['nodes', 'power', 'boot', 'events', 'token'] as const;

const CONNECTION_HELP = `Connection (every verb):
  --server URL         the rackboot server (default $RACKBOOT_SERVER, else https://127.0.0.1)
  --ca FILE            trust this certificate (default on the box: STATE_DIR/management-cert.pem)
  --insecure-pin sha256//KEY   trust the server whose key has this hash (logged at start as "pin")
  --token-file FILE    API token (default $RACKBOOT_TOKEN, else ${defaultTokenFile()})
  --state-dir DIR      where the server keeps its certificate (default /var/lib/rackboot)
  --json               JSON instead of a table
  -h, --help           this help
`;

const TARGETS_HELP = `Targets: a node name, a MAC in any spelling (52:54:00:ab:cd:ef, 52-54-00-AB-CD-EF,
5254.00ab.cdef, 525400abcdef), a range of names (rack1-n[01-40]) or a tag (tag:gpu).
`;

export const RACK_USAGE: Record<(typeof RACK_VERBS)[number], string> = {
  nodes: `Usage:
  rackboot nodes [list] [TARGET...] [--stage STAGE] [--tag TAG]
  rackboot nodes show TARGET...
  rackboot nodes add MAC [--name N] [--ip IP] [--profile P] [--power-channel C] [--tag T]... [--notes TEXT]
  rackboot nodes set TARGET... [--name N] [--ip IP] [--profile P] [--power-channel C] [--tag T]... [--notes TEXT]
  rackboot nodes rm TARGET...
  rackboot nodes import FILE

Lists, shows, adds, changes and removes nodes of the running server's inventory.
'import' reads a CSV file (header: mac,name,ip,profile,power_channel,tags,notes;
tags separated by ';') or a YAML list of nodes (or a config file's hosts:), adds
the nodes the server lacks and updates those it has (by MAC).
'set' replaces the tags with the --tag options given; '--tag ""' clears them.
${TARGETS_HELP}
${CONNECTION_HELP}`,
  power: `Usage: rackboot power TARGET... on|off|cycle|status

Switches nodes through their power channels (several nodes go through the
server's sequencer, staggered), or shows their power state. Exits 1 when any
node's action failed.
${TARGETS_HELP}
${CONNECTION_HELP}`,
  boot: `Usage: rackboot boot TARGET... next PROFILE|none

Sets the profile of each node's next boot only (re-image); 'none' cancels it.
${TARGETS_HELP}
${CONNECTION_HELP}`,
  events: `Usage: rackboot events [--follow] [--node TARGET] [--type TYPE] [--limit N]

Prints the event log (oldest first); --follow then keeps printing new events
as they happen (Server-Sent Events) until interrupted.

${CONNECTION_HELP}`,
  token: `Usage:
  rackboot token create NAME [--password-file FILE] [--save]
  rackboot token list
  rackboot token rm NAME

'create' logs in with the admin password (from --password-file, else asked on
the terminal) and makes an API token; its secret is printed once, or with
--save written to ${defaultTokenFile()} (mode 0600), where every verb finds it.

${CONNECTION_HELP}`,
};

const CONNECTION_OPTIONS = {
  server: { type: 'string' },
  ca: { type: 'string' },
  'insecure-pin': { type: 'string' },
  'token-file': { type: 'string' },
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

const NODE_FIELD_OPTIONS = {
  name: { type: 'string' },
  ip: { type: 'string' },
  profile: { type: 'string' },
  'power-channel': { type: 'string' },
  tag: { type: 'string', multiple: true },
  notes: { type: 'string' },
} satisfies ParseArgsConfig['options'];

const VERB_OPTIONS = {
  nodes: { ...CONNECTION_OPTIONS, ...NODE_FIELD_OPTIONS, stage: { type: 'string' } },
  power: CONNECTION_OPTIONS,
  boot: CONNECTION_OPTIONS,
  events: { ...CONNECTION_OPTIONS, follow: { type: 'boolean', short: 'f' }, node: { type: 'string' }, type: { type: 'string' }, limit: { type: 'string' } },
  token: { ...CONNECTION_OPTIONS, 'password-file': { type: 'string' }, save: { type: 'boolean' } },
} satisfies Record<(typeof RACK_VERBS)[number], ParseArgsConfig['options']>;

export class RackUsageError extends Error {}

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const STDIO: Output = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

type Values = Record<string, string | boolean | string[] | undefined>;

/** Runs one verb; returns the exit status. */
export async function runRackVerb(verb: (typeof RACK_VERBS)[number], args: string[], io: Output = STDIO): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    const options: ParseArgsConfig['options'] = VERB_OPTIONS[verb];
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
    values = parsed.values as Values;
    positionals = parsed.positionals;
  } catch (error) {
    io.err(`rackboot ${verb}: ${(error as Error).message}\n\n${RACK_USAGE[verb]}`);
    return 2;
  }
  if (values.help) {
    io.out(RACK_USAGE[verb]);
    return 0;
  }
  try {
    const api = Connection.open(values);
    const json = values.json === true;
    switch (verb) {
      case 'nodes':
        return await nodesVerb(api, positionals, values, json, io);
      case 'power':
        return await powerVerb(api, positionals, json, io);
      case 'boot':
        return await bootVerb(api, positionals, json, io);
      case 'events':
        return await eventsVerb(api, positionals, values, json, io);
      case 'token':
        return await tokenVerb(api, positionals, values, json, io);
    }
  } catch (error) {
    if (error instanceof RackUsageError) {
      io.err(`rackboot ${verb}: ${error.message}\n\n${RACK_USAGE[verb]}`);
      return 2;
    }
    if (error instanceof CliError || error instanceof TargetError) {
      io.err(`rackboot ${verb}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

// ---- nodes ----

async function nodesVerb(api: Connection, positionals: string[], values: Values, json: boolean, io: Output): Promise<number> {
  const [sub = 'list', ...rest] = positionals;
  switch (sub) {
    case 'show': {
      if (rest.length === 0) throw new RackUsageError('show: give at least one TARGET');
      const nodes = resolveTargets(rest, await allNodes(api));
      const full = await Promise.all(nodes.map((n) => api.call<NodeView>('GET', `/api/v1/nodes/${encodeURIComponent(n.mac)}`)));
      io.out(json ? printableJson(full.length === 1 && !isMany(rest) ? full[0] : full, 1) + '\n' : full.map(nodeDetail).join('\n'));
      return 0;
    }
    case 'add': {
      if (rest.length !== 1) throw new RackUsageError('add: give exactly one MAC');
      const mac = parseMac(rest[0]);
      if (mac === undefined) throw new RackUsageError(`add: found '${rest[0]}', expected a MAC address like 52:54:00:12:34:56`);
      const body: NodeCreate = { mac, ...nodeFields(values) };
      const made = await api.call<NodeView>('POST', '/api/v1/nodes', body);
      io.out(json ? printableJson(made, 1) + '\n' : `added ${made.name} (${made.mac})\n`);
      return 0;
    }
    case 'set': {
      if (rest.length === 0) throw new RackUsageError('set: give at least one TARGET');
      const patch: NodeUpdate = nodeFields(values);
      if (Object.keys(patch).length === 0) throw new RackUsageError('set: give at least one of --name, --ip, --profile, --power-channel, --tag, --notes');
      const nodes = resolveTargets(rest, await allNodes(api));
      if (patch.name !== undefined && nodes.length > 1) throw new RackUsageError(`set: --name names one node, but the targets are ${nodes.length} nodes`);
      const done: NodeView[] = [];
      for (const n of nodes) done.push(await api.call<NodeView>('PATCH', `/api/v1/nodes/${encodeURIComponent(n.mac)}`, patch));
      io.out(json ? printableJson(done, 1) + '\n' : done.map((n) => `updated ${n.name} (${n.mac})\n`).join(''));
      return 0;
    }
    case 'rm': {
      if (rest.length === 0) throw new RackUsageError('rm: give at least one TARGET');
      const nodes = resolveTargets(rest, await allNodes(api));
      for (const n of nodes) {
        await api.call('DELETE', `/api/v1/nodes/${encodeURIComponent(n.mac)}`);
        if (!json) io.out(`removed ${n.name} (${n.mac})\n`);
      }
      if (json)
        io.out(
          printableJson(
            nodes.map((n) => ({ mac: n.mac, name: n.name })),
            1,
          ) + '\n',
        );
      return 0;
    }
    case 'import': {
      if (rest.length !== 1) throw new RackUsageError('import: give exactly one FILE (CSV or YAML)');
      return await importNodes(api, rest[0], json, io);
    }
    case 'list':
    default: {
      const targets = sub === 'list' ? rest : positionals;
      const query = new URLSearchParams();
      if (typeof values.stage === 'string') query.set('stage', values.stage);
      const tags = values.tag as string[] | undefined;
      if (tags && tags.length > 1) throw new RackUsageError('list: give --tag once (or use tag:NAME targets)');
      if (tags?.length === 1) query.set('tag', tags[0]);
      const q = query.toString();
      let nodes = await api.call<NodeView[]>('GET', `/api/v1/nodes${q === '' ? '' : `?${q}`}`);
      if (targets.length > 0) nodes = resolveTargets(targets, nodes);
      io.out(json ? printableJson(nodes, 1) + '\n' : nodeTable(nodes));
      return 0;
    }
  }
}

/** Creates the file's nodes the server lacks and updates those it has (by MAC); goes on past a refused row. */
async function importNodes(api: Connection, file: string, json: boolean, io: Output): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let rows: ImportRow[];
  try {
    rows = parseImport(file, text);
  } catch (error) {
    if (error instanceof ImportError) throw new CliError(error.message);
    throw error;
  }
  const known = new Set((await allNodes(api)).map((n) => n.mac));
  const results: { where: string; mac: string; name?: string; result: 'added' | 'updated' | 'failed'; message?: string }[] = [];
  for (const { where, node } of rows) {
    try {
      const { mac, ...fields } = node;
      const done = known.has(mac)
        ? await api.call<NodeView>('PATCH', `/api/v1/nodes/${encodeURIComponent(mac)}`, fields)
        : await api.call<NodeView>('POST', '/api/v1/nodes', node);
      results.push({ where, mac, name: done.name, result: known.has(mac) ? 'updated' : 'added' });
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      results.push({ where, mac: node.mac, ...(node.name !== undefined && { name: node.name }), result: 'failed', message: error.message });
    }
  }
  const failed = results.filter((r) => r.result === 'failed').length;
  io.out(
    json
      ? printableJson(results, 1) + '\n'
      : table(
          ['WHERE', 'NAME', 'MAC', 'RESULT'],
          results.map((r) => [r.where, r.name ?? '-', r.mac, r.result === 'failed' ? `failed: ${r.message ?? ''}` : r.result]),
        ) + `${results.length - failed} of ${results.length} node(s) imported\n`,
  );
  return failed === 0 ? 0 : 1;
}

function isMany(targets: string[]): boolean {
  return targets.length > 1 || targets.some((t) => t.startsWith('tag:') || t.includes('['));
}

function nodeFields(values: Values): NodeUpdate {
  const out: NodeUpdate = {};
  if (typeof values.name === 'string') out.name = values.name;
  if (typeof values.ip === 'string') out.ip = values.ip;
  if (typeof values.profile === 'string') out.profile = values.profile;
  if (typeof values['power-channel'] === 'string') out.powerChannel = values['power-channel'];
  if (Array.isArray(values.tag)) out.tags = values.tag.filter((t) => t !== '');
  if (typeof values.notes === 'string') out.notes = values.notes;
  return out;
}

function allNodes(api: Connection): Promise<NodeView[]> {
  return api.call<NodeView[]>('GET', '/api/v1/nodes');
}

/** Columns padded to their widest cell; no cell is ever cut (names and errors are shown whole). */
export function table(header: string[], rows: string[][]): string {
  const cells = rows.map((r) => r.map((c) => printable(c)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n') + '\n';
}

function nodeTable(nodes: NodeView[]): string {
  return (
    table(
      ['NAME', 'MAC', 'IP', 'STAGE', 'POWER', 'PROFILE', 'TAGS'],
      nodes.map((n) => [
        n.name,
        n.mac,
        n.ip ?? n.currentIp ?? '-',
        n.stage,
        n.power,
        n.nextBootProfile ? `${n.profile ?? 'default'} (next: ${n.nextBootProfile})` : (n.profile ?? 'default'),
        n.tags.join(','),
      ]),
    ) + `${nodes.length} node(s)\n`
  );
}

function nodeDetail(n: NodeView): string {
  const rows: [string, string | undefined][] = [
    ['name', n.name],
    ['mac', n.mac],
    ['ip', n.ip],
    ['current ip', n.currentIp],
    ['origin', n.origin],
    ['profile', n.profile ?? 'default'],
    ['next boot', n.nextBootProfile],
    ['power channel', n.powerChannel],
    ['power', n.power],
    ['stage', `${n.stage} since ${new Date(n.stageSince).toISOString()}`],
    ['diagnosis', n.diagnosis === undefined ? undefined : `${n.diagnosis}${n.diagnosisDetail ? `: ${n.diagnosisDetail}` : ''}`],
    ['boots', `${n.boots} started, ${n.booted} booted`],
    ['tags', n.tags.join(', ') || undefined],
    ['notes', n.notes],
  ];
  return rows
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${(k + ':').padEnd(15)}${printable(v!)}\n`)
    .join('');
}

// ---- power ----

const POWER_WORDS = ['on', 'off', 'cycle', 'status'] as const;

async function powerVerb(api: Connection, positionals: string[], json: boolean, io: Output): Promise<number> {
  const action = positionals.at(-1);
  const targets = positionals.slice(0, -1);
  if (action === undefined || !(POWER_WORDS as readonly string[]).includes(action) || targets.length === 0) {
    throw new RackUsageError(`expected TARGET... on|off|cycle|status, found '${positionals.join(' ')}'`);
  }
  const nodes = resolveTargets(targets, await allNodes(api));
  if (action === 'status') {
    const shown = nodes.map((n) => ({ name: n.name, mac: n.mac, power: n.power, powerChannel: n.powerChannel ?? null, stage: n.stage }));
    io.out(
      json
        ? printableJson(shown, 1) + '\n'
        : table(
            ['NAME', 'MAC', 'POWER', 'CHANNEL', 'STAGE'],
            shown.map((s) => [s.name, s.mac, s.power, s.powerChannel ?? '-', s.stage]),
          ),
    );
    return 0;
  }
  const act = action as 'on' | 'off' | 'cycle';
  const results =
    nodes.length === 1
      ? [await api.call<PowerResult>('POST', `/api/v1/nodes/${encodeURIComponent(nodes[0].mac)}/power`, { action: act })]
      : await api.call<PowerResult[]>('POST', '/api/v1/power', { action: act, nodes: nodes.map((n) => n.mac) });
  io.out(
    json
      ? printableJson(results, 1) + '\n'
      : table(
          ['NAME', 'MAC', 'ACTION', 'RESULT', 'POWER'],
          results.map((r) => [r.name, r.mac, r.action, r.ok ? 'ok' : `failed: ${r.message ?? ''}`, r.state]),
        ),
  );
  return results.every((r) => r.ok) ? 0 : 1;
}

// ---- boot ----

async function bootVerb(api: Connection, positionals: string[], json: boolean, io: Output): Promise<number> {
  const at = positionals.lastIndexOf('next');
  if (at < 1 || at !== positionals.length - 2) throw new RackUsageError(`expected TARGET... next PROFILE, found '${positionals.join(' ')}'`);
  const profile = positionals[at + 1] === 'none' ? null : positionals[at + 1];
  const nodes = resolveTargets(positionals.slice(0, at), await allNodes(api));
  const done: NodeView[] = [];
  for (const n of nodes) done.push(await api.call<NodeView>('POST', `/api/v1/nodes/${encodeURIComponent(n.mac)}/next-boot`, { profile }));
  io.out(
    json
      ? printableJson(done, 1) + '\n'
      : done.map((n) => (profile === null ? `${n.name}: next boot as usual\n` : `${n.name}: next boot with profile ${profile}, then as usual\n`)).join(''),
  );
  return 0;
}

// ---- events ----

function eventLine(e: RackbootEvent): string {
  const parts = [new Date(e.at).toISOString(), e.type, e.node ?? e.mac ?? '-', e.message];
  if (e.by) parts.push(`(by ${e.by})`);
  return printable(parts.join('  ')) + '\n';
}

async function eventsVerb(api: Connection, positionals: string[], values: Values, json: boolean, io: Output): Promise<number> {
  if (positionals.length > 0) throw new RackUsageError(`unexpected '${positionals[0]}'`);
  const query = new URLSearchParams();
  if (typeof values.node === 'string') {
    const [node] = resolveTargets([values.node], await allNodes(api));
    query.set('mac', node.mac);
  }
  if (typeof values.type === 'string') query.set('type', values.type);
  if (typeof values.limit === 'string') {
    if (!/^\d+$/.test(values.limit)) throw new RackUsageError(`--limit: found '${values.limit}', expected a number`);
    query.set('limit', values.limit);
  }
  const q = query.toString();
  const events = await api.call<RackbootEvent[]>('GET', `/api/v1/events${q === '' ? '' : `?${q}`}`);
  const show = (e: RackbootEvent) => io.out(json ? printableJson(e) + '\n' : eventLine(e));
  if (!values.follow) {
    if (json) io.out(printableJson(events, 1) + '\n');
    else for (const e of events) show(e);
    return 0;
  }
  // --follow: one event per line (JSON lines with --json), the backlog first, then live.
  for (const e of events) show(e);
  const wantMac = query.get('mac');
  const wantTypes = query.has('type') ? new Set(query.get('type')!.split(',')) : undefined;
  let last = events.at(-1)?.id;
  let buffer = '';
  const lastEventId = last === undefined ? '' : `?lastEventId=${last}`;
  await api.stream(`/api/v1/events/stream${lastEventId}`, (chunk) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      if (data === '') continue;
      let event: RackbootEvent;
      try {
        event = JSON.parse(data) as RackbootEvent;
      } catch {
        continue; // not an event: the stream's keep-alive or a future record kind
      }
      if (last !== undefined && event.id <= last) continue;
      last = event.id;
      if (wantMac !== null && event.mac !== wantMac) continue;
      if (wantTypes !== undefined && !wantTypes.has(event.type)) continue;
      show(event);
    }
  });
  io.err('rackboot events: the server ended the stream\n');
  return 1;
}

// ---- token ----

async function tokenVerb(api: Connection, positionals: string[], values: Values, json: boolean, io: Output): Promise<number> {
  const [sub, ...rest] = positionals;
  switch (sub) {
    case 'create': {
      if (rest.length !== 1) throw new RackUsageError('create: give exactly one NAME');
      const password = await readPassword(values['password-file'] as string | undefined);
      const login = await api.send<SessionInfo>('POST', '/api/v1/auth/login', { password }, {});
      const cookie = [login.headers['set-cookie'] ?? []].flat().map((c) => c.split(';')[0]);
      const headers = { Cookie: cookie.join('; '), 'X-CSRF-Token': login.body.csrfToken };
      let made: ApiTokenCreated;
      try {
        made = (await api.send<ApiTokenCreated>('POST', '/api/v1/auth/tokens', { name: rest[0] }, headers)).body;
      } finally {
        await api.send('POST', '/api/v1/auth/logout', undefined, headers).catch(() => undefined);
      }
      if (values.save) {
        const file = (values['token-file'] as string | undefined) ?? defaultTokenFile();
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
        await writeFile(file, made.token + '\n', { mode: 0o600 });
        io.out(json ? printableJson({ name: made.name, createdAt: made.createdAt, file }) + '\n' : `token ${made.name} saved to ${file}\n`);
      } else {
        io.out(json ? printableJson(made, 1) + '\n' : `${made.token}\n`);
      }
      return 0;
    }
    case 'list': {
      const tokens = await api.call<{ name: string; createdAt: number; lastUsedAt?: number }[]>('GET', '/api/v1/auth/tokens');
      io.out(
        json
          ? printableJson(tokens, 1) + '\n'
          : table(
              ['NAME', 'CREATED', 'LAST USED'],
              tokens.map((t) => [t.name, new Date(t.createdAt).toISOString(), t.lastUsedAt ? new Date(t.lastUsedAt).toISOString() : '-']),
            ),
      );
      return 0;
    }
    case 'rm': {
      if (rest.length !== 1) throw new RackUsageError('rm: give exactly one NAME');
      await api.call('DELETE', `/api/v1/auth/tokens/${encodeURIComponent(rest[0])}`);
      if (!json) io.out(`revoked token ${rest[0]}\n`);
      return 0;
    }
    default:
      throw new RackUsageError(`expected create, list or rm, found '${sub ?? ''}'`);
  }
}

async function readPassword(file: string | undefined): Promise<string> {
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new CliError(`--password-file: cannot read ${file}: ${(error as Error).message}`);
    }
  }
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new CliError('no password: give --password-file FILE (standard input is not a terminal to ask on)');
  process.stderr.write('admin password: ');
  // Raw mode, so the terminal does not echo the password.
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = '';
      const onData = (chunk: string) => {
        for (const c of chunk) {
          if (c === '\r' || c === '\n') {
            stdin.off('data', onData);
            resolve(typed);
            return;
          }
          if (c === '\u0003' || c === '\u0004') {
            stdin.off('data', onData);
            reject(new CliError('no password given'));
            return;
          }
          if (c === '\u007f' || c === '\b') typed = typed.slice(0, -1);
          else typed += c;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
