// Strict checks of request bodies and query strings: the right JSON types,
// no unknown fields, bounded sizes, and a message that names the field and
// says what was expected and what was found. The inventory checks meaning
// (profiles that exist, names that are free); this checks shape.

import { isIpv4, isMac, normalizeMac } from '../../net/addr.js';
import { BOOT_STAGES, DIAGNOSES, type BootStage, type Diagnosis } from '../../model/boot.js';
import { EVENT_TYPES, type EventType } from '../../model/event.js';
import type { ConfigPatch, LoginRequest, NodeCreate, NodeUpdate, PasswordChange, PowerAllRequest, PowerRequest, SetupRequest } from '../../model/api.js';
import type { EventsQuery, NodeFilter } from './host.js';
import { ApiFailure, badRequest } from './respond.js';

const POWER_ACTIONS = ['on', 'off', 'cycle'] as const;
const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const CONFIG_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const TAG = /^[A-Za-z0-9][A-Za-z0-9._:/=+-]{0,63}$/;
const MAX_TAGS = 32;
const MAX_NOTES = 4000;
const MAX_POWER_NODES = 4096;
export const MAX_EVENTS_LIMIT = 10_000;

/** How a found value is shown in a message: short, JSON-quoted. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- String() gets only what JSON.stringify cannot show: a symbol or a function
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}..."` : text;
}

type Fields = Record<string, unknown>;

/** The body as an object with only `allowed` keys (and the `required` ones present). */
function object(body: unknown, allowed: readonly string[], required: readonly string[] = []): Fields {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiFailure(400, 'bad_request', `Expected a JSON object as the body, found ${show(body)}.`);
  }
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw badRequest(key, `${key}: unknown field (allowed: ${allowed.join(', ')})`);
  }
  for (const key of required) {
    if ((body as Fields)[key] === undefined) throw badRequest(key, `${key}: required`);
  }
  return body as Fields;
}

function string(fields: Fields, key: string, check: (s: string) => boolean, expected: string, max = 256): string | undefined {
  const value = fields[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > max || !check(value)) throw badRequest(key, `${key}: expected ${expected}, found ${show(value)}`);
  return value;
}

/** A string that may also be '' or null (both clear the field). */
function clearable(fields: Fields, key: string, check: (s: string) => boolean, expected: string): string | null | undefined {
  const value = fields[key];
  if (value === null) return null;
  if (value === '') return '';
  return string(fields, key, check, `${expected}, '' or null to clear`);
}

const any = () => true;
const hostName = (s: string) => HOST_NAME.test(s);
const configName = (s: string) => CONFIG_NAME.test(s);

function tags(fields: Fields): string[] | undefined {
  const value = fields.tags;
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > MAX_TAGS) throw badRequest('tags', `tags: expected a list of at most ${MAX_TAGS} tags, found ${show(value)}`);
  value.forEach((tag, i) => {
    if (typeof tag !== 'string' || !TAG.test(tag))
      throw badRequest('tags', `tags[${i}]: expected a tag (letters, digits, . _ : / = + -; at most 64), found ${show(tag)}`);
  });
  return [...new Set(value as string[])];
}

function notes(fields: Fields): string | undefined {
  return string(fields, 'notes', any, `text of at most ${MAX_NOTES} characters`, MAX_NOTES);
}

export function nodeCreate(body: unknown): NodeCreate {
  const f = object(body, ['mac', 'name', 'ip', 'profile', 'powerChannel', 'tags', 'notes'], ['mac']);
  const mac = string(f, 'mac', isMac, 'a MAC address like 52:54:00:12:34:56')!;
  const out: NodeCreate = { mac: normalizeMac(mac) };
  const name = string(f, 'name', hostName, "a host name (letters, digits, '-')", 63);
  const ip = string(f, 'ip', isIpv4, 'an IPv4 address like 10.0.0.21', 15);
  const profile = string(f, 'profile', configName, 'a profile name');
  const powerChannel = string(f, 'powerChannel', configName, 'a power channel name');
  const t = tags(f);
  const n = notes(f);
  if (name !== undefined) out.name = name;
  if (ip !== undefined) out.ip = ip;
  if (profile !== undefined) out.profile = profile;
  if (powerChannel !== undefined) out.powerChannel = powerChannel;
  if (t !== undefined) out.tags = t;
  if (n !== undefined) out.notes = n;
  return out;
}

/** A node edit. ip, profile, powerChannel and nextBootProfile take '' or null to clear (passed on as given). */
export function nodeUpdate(body: unknown): NodeUpdate {
  const f = object(body, ['name', 'ip', 'profile', 'powerChannel', 'tags', 'notes', 'nextBootProfile']);
  if (Object.keys(f).length === 0) throw new ApiFailure(400, 'bad_request', 'Nothing to change: send at least one field.');
  const out: Record<string, unknown> = {};
  const name = string(f, 'name', hostName, "a host name (letters, digits, '-')", 63);
  if (name !== undefined) out.name = name;
  for (const [key, check, expected] of [
    ['ip', isIpv4, 'an IPv4 address like 10.0.0.21'],
    ['profile', configName, 'a profile name'],
    ['powerChannel', configName, 'a power channel name'],
    ['nextBootProfile', configName, 'a profile name'],
  ] as const) {
    const value = clearable(f, key, check, expected);
    if (value !== undefined) out[key] = value;
  }
  const t = tags(f);
  const n = notes(f);
  if (t !== undefined) out.tags = t;
  if (n !== undefined) out.notes = n;
  return out;
}

export function nextBoot(body: unknown): string | null {
  const f = object(body, ['profile'], ['profile']);
  if (f.profile === null) return null;
  return string(f, 'profile', configName, 'a profile name (or null to cancel)')!;
}

export function powerRequest(body: unknown): PowerRequest {
  const f = object(body, ['action'], ['action']);
  return { action: powerAction(f) };
}

export function powerAllRequest(body: unknown): PowerAllRequest {
  const f = object(body, ['action', 'nodes'], ['action']);
  const out: PowerAllRequest = { action: powerAction(f) };
  if (f.nodes !== undefined) {
    if (!Array.isArray(f.nodes) || f.nodes.length === 0 || f.nodes.length > MAX_POWER_NODES) {
      throw badRequest('nodes', `nodes: expected a non-empty list of node names or MACs, found ${show(f.nodes)}`);
    }
    out.nodes = f.nodes.map((id, i) => {
      if (typeof id !== 'string' || !(isMac(id) || hostName(id))) throw badRequest('nodes', `nodes[${i}]: expected a node name or MAC, found ${show(id)}`);
      return isMac(id) ? normalizeMac(id) : id;
    });
  }
  return out;
}

function powerAction(f: Fields): PowerRequest['action'] {
  const action = f.action;
  if (typeof action !== 'string' || !(POWER_ACTIONS as readonly string[]).includes(action)) {
    throw badRequest('action', `action: expected one of ${POWER_ACTIONS.join(', ')}, found ${show(action)}`);
  }
  return action as PowerRequest['action'];
}

export function configPatch(body: unknown): ConfigPatch {
  const f = object(body, ['defaultProfile', 'unknownNodes']);
  if (Object.keys(f).length === 0) throw new ApiFailure(400, 'bad_request', 'Nothing to change: send defaultProfile and/or unknownNodes.');
  const out: ConfigPatch = {};
  const profile = string(f, 'defaultProfile', configName, 'a profile name');
  if (profile !== undefined) out.defaultProfile = profile;
  const policy = string(f, 'unknownNodes', (s) => s === 'boot' || s === 'hold', "'boot' or 'hold'");
  if (policy !== undefined) out.unknownNodes = policy as 'boot' | 'hold';
  return out;
}

export function setupRequest(body: unknown): SetupRequest {
  const f = object(body, ['token', 'password'], ['token', 'password']);
  return {
    token: string(f, 'token', any, 'the setup token (text)', 200)!,
    password: string(f, 'password', any, 'a password (text)', 4096)!,
  };
}

export function loginRequest(body: unknown): LoginRequest {
  const f = object(body, ['password'], ['password']);
  return { password: string(f, 'password', any, 'a password (text)', 4096)! };
}

export function passwordChange(body: unknown): PasswordChange {
  const f = object(body, ['current', 'password'], ['current', 'password']);
  return {
    current: string(f, 'current', any, 'the current password (text)', 4096)!,
    password: string(f, 'password', any, 'a password (text)', 4096)!,
  };
}

export function tokenCreate(body: unknown): { name: string } {
  const f = object(body, ['name'], ['name']);
  return { name: string(f, 'name', any, 'a token name (text)', 200)! };
}

// ---- query strings ---------------------------------------------------------

function onlyParams(query: URLSearchParams, allowed: readonly string[]): void {
  for (const key of query.keys()) {
    if (!allowed.includes(key)) throw badRequest(key, `${key}: unknown query parameter (allowed: ${allowed.join(', ') || 'none'})`);
  }
}

function single(query: URLSearchParams, key: string): string | undefined {
  const values = query.getAll(key);
  if (values.length > 1) throw badRequest(key, `${key}: given ${values.length} times, expected once`);
  return values[0] === '' ? undefined : values[0];
}

function integer(query: URLSearchParams, key: string, min: number, max: number): number | undefined {
  const text = single(query, key);
  if (text === undefined) return undefined;
  const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw badRequest(key, `${key}: expected a whole number from ${min} to ${max}, found ${show(text)}`);
  return value;
}

export function noQuery(query: URLSearchParams): void {
  onlyParams(query, []);
}

export function nodeFilter(query: URLSearchParams): NodeFilter {
  onlyParams(query, ['stage', 'diagnosis', 'q', 'tag']);
  const out: NodeFilter = {};
  const stage = single(query, 'stage');
  if (stage !== undefined) {
    if (!(BOOT_STAGES as readonly string[]).includes(stage))
      throw badRequest('stage', `stage: expected one of ${BOOT_STAGES.join(', ')}, found ${show(stage)}`);
    out.stage = stage as BootStage;
  }
  const diagnosis = single(query, 'diagnosis');
  if (diagnosis !== undefined) {
    if (!(DIAGNOSES as readonly string[]).includes(diagnosis))
      throw badRequest('diagnosis', `diagnosis: expected one of ${DIAGNOSES.join(', ')}, found ${show(diagnosis)}`);
    out.diagnosis = diagnosis as Diagnosis;
  }
  const q = single(query, 'q');
  if (q !== undefined) {
    if (q.length > 200) throw badRequest('q', `q: expected at most 200 characters, found ${q.length}`);
    out.q = q;
  }
  const tag = single(query, 'tag');
  if (tag !== undefined) {
    if (!TAG.test(tag)) throw badRequest('tag', `tag: expected a tag, found ${show(tag)}`);
    out.tag = tag;
  }
  return out;
}

export function eventsQuery(query: URLSearchParams): EventsQuery {
  onlyParams(query, ['mac', 'type', 'since', 'after', 'limit']);
  const out: EventsQuery = {};
  const mac = single(query, 'mac');
  if (mac !== undefined) {
    if (!isMac(mac)) throw badRequest('mac', `mac: expected a MAC address, found ${show(mac)}`);
    out.mac = normalizeMac(mac);
  }
  const types = query
    .getAll('type')
    .flatMap((t) => t.split(','))
    .filter((t) => t !== '');
  if (types.length > 0) {
    for (const type of types) {
      if (!(EVENT_TYPES as readonly string[]).includes(type))
        throw badRequest('type', `type: expected event types from ${EVENT_TYPES.join(', ')}, found ${show(type)}`);
    }
    out.type = [...new Set(types)] as EventType[];
  }
  const since = integer(query, 'since', 0, Number.MAX_SAFE_INTEGER);
  if (since !== undefined) out.since = since;
  const after = integer(query, 'after', 0, Number.MAX_SAFE_INTEGER);
  if (after !== undefined) out.after = after;
  const limit = integer(query, 'limit', 1, MAX_EVENTS_LIMIT);
  if (limit !== undefined) out.limit = limit;
  return out;
}

/** A path segment (`:id`, `:name`), percent-decoded. */
export function pathParam(raw: string, name: string): string {
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    throw badRequest(name, `${name}: not valid percent-encoding in the path`);
  }
  if (value === '' || value.length > 200) throw badRequest(name, `${name}: expected 1 to 200 characters`);
  return value;
}

/** Action routes take no body; `{}` is accepted (clients that always send one), anything else is refused. */
export function emptyBody(body: unknown): void {
  if (body === undefined) return;
  object(body, []);
}
