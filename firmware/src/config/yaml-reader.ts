// Walks the YAML node tree of a configuration file. It reads nodes rather than
// plain JS values because every problem must point at a line, and it keeps
// going after a bad value so that one run reports everything wrong with a file:
// a wrong value is reported and read as undefined, and the caller moves on.

import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node as YamlNode } from 'yaml';
import { didYouMean, type ConfigProblem } from './errors.js';

/** Reads one kind of value from a present, non-empty node; reports and returns undefined when it is wrong. */
export interface ValueSpec<T> {
  /** Plain words for "expected ...", also used when the key is missing. */
  expected: string;
  read(r: DocumentReader, node: YamlNode, keyPath: string): T | undefined;
}

/** Joins a key onto a key path, bracketing keys that would not read as one identifier. */
export function childPath(parent: string, key: string): string {
  const segment = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  if (parent === '') return /^[A-Za-z0-9_-]+$/.test(key) ? key : `[${segment}]`;
  return /^[A-Za-z0-9_-]+$/.test(key) ? `${parent}.${key}` : `${parent}[${segment}]`;
}

export class DocumentReader {
  readonly problems: ConfigProblem[] = [];
  /** Line of every key and list item seen, so checks after the walk can still point into the file. */
  private readonly lines = new Map<string, number>();

  constructor(
    readonly file: string,
    private readonly text: string,
    private readonly doc: Document | undefined,
    private readonly lineCounter: LineCounter,
  ) {}

  /** Follows an alias (*name) to its anchored node; everything else is returned as is. */
  deref(node: unknown): YamlNode | undefined {
    if (node === null || node === undefined) return undefined;
    if (isAlias(node) && this.doc) return node.resolve(this.doc) ?? undefined;
    return node as YamlNode;
  }

  lineOf(node: unknown): number | undefined {
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (!range) return undefined;
    const line = this.lineCounter.linePos(range[0]).line;
    return line > 0 ? line : 1;
  }

  remember(keyPath: string, node: unknown): void {
    const line = this.lineOf(node);
    if (line !== undefined && !this.lines.has(keyPath)) this.lines.set(keyPath, line);
  }

  /** The line remembered for `keyPath`, or for its nearest ancestor. */
  lineAt(keyPath: string): number | undefined {
    let path = keyPath;
    for (;;) {
      const line = this.lines.get(path);
      if (line !== undefined) return line;
      const parent = path.replace(/(\.[^.[\]]+|\[[^\]]*\])$/, '');
      if (parent === path || parent === '') return undefined;
      path = parent;
    }
  }

  report(keyPath: string, at: YamlNode | number | undefined, found: string, expected: string, suggestion?: string): void {
    const line = typeof at === 'number' ? at : at !== undefined ? this.lineOf(at) : this.lineAt(keyPath);
    const problem: ConfigProblem = { file: this.file, keyPath, found, expected: suggestion ? `${expected}; did you mean "${suggestion}"?` : expected };
    if (line !== undefined) problem.line = line;
    if (suggestion !== undefined) problem.suggestion = suggestion;
    this.problems.push(problem);
  }

  /** Reports `node` as not what `spec` expects, rendering it as written. */
  wrong(keyPath: string, node: YamlNode, expected: string, suggestion?: string): undefined {
    this.report(keyPath, node, this.render(node), expected, suggestion);
    return undefined;
  }

  /** The text of a scalar as a string. Plain numbers and booleans count as their source text, so `hostname: 0042` stays "0042". */
  scalarText(node: YamlNode | undefined): string | undefined {
    if (!isScalar(node)) return undefined;
    if (typeof node.value === 'string') return node.value;
    if (node.value === null) return undefined;
    if (node.type === 'PLAIN' && node.range) return this.text.slice(node.range[0], node.range[1]);
    return scalarValueText(node.value);
  }

  isEmpty(node: YamlNode | undefined): boolean {
    return node === undefined || (isScalar(node) && node.value === null);
  }

  /** The value as written, JSON-ish: strings quoted, numbers as in the file, collections abbreviated. */
  render(node: YamlNode | undefined): string {
    const target = this.deref(node);
    if (target === undefined) return 'missing';
    if (isScalar(target)) {
      if (target.value === null) return 'an empty value';
      if (typeof target.value === 'string') return JSON.stringify(target.value);
      return this.scalarText(target) ?? scalarValueText(target.value);
    }
    let json: string;
    try {
      json = JSON.stringify(target.toJS(this.doc ?? (undefined as never))) ?? String(target);
    } catch {
      json = isMap(target) ? 'a mapping' : isSeq(target) ? 'a list' : 'a value';
    }
    return json.length > 70 ? `${json.slice(0, 69)}…` : json;
  }

  /** Opens a mapping, or reports that `node` is not one. */
  map(node: YamlNode | undefined, keyPath: string, expected: string): MapView | undefined {
    const target = this.deref(node);
    if (!isMap(target)) {
      if (target !== undefined) this.wrong(keyPath, target, expected);
      return undefined;
    }
    return new MapView(this, target, keyPath);
  }

  /** A mapping that must be present, such as a list item; an empty one (`- `) is reported. */
  requiredMap(node: YamlNode | undefined, keyPath: string, expected: string): MapView | undefined {
    if (this.isEmpty(node)) {
      this.report(keyPath, node, node === undefined ? 'missing' : 'an empty value', expected);
      return undefined;
    }
    return this.map(node, keyPath, expected);
  }

  /**
   * The mapping under `key` of `parent`, its keys checked against `keys`. Absent,
   * empty or not a mapping (reported) all read as an empty mapping, so the
   * section's defaults apply.
   */
  section(parent: MapView, key: string, keys: readonly string[]): MapView {
    const keyPath = parent.path(key);
    const view = this.map(parent.node(key), keyPath, `a mapping with keys ${keys.join(', ')}`) ?? this.emptyMap(keyPath);
    view.rejectUnknown(keys);
    return view;
  }

  /** A mapping with no keys, standing in for one that is absent. */
  emptyMap(keyPath: string): MapView {
    return new MapView(this, { items: [] }, keyPath);
  }

  /**
   * Items of a list with their key paths. With `single`, one scalar stands for a
   * one-item list (`dns: 10.0.0.1`), and keeps the list's own key path.
   */
  list(node: YamlNode | undefined, keyPath: string, expected: string, single = false): { node: YamlNode | undefined; keyPath: string }[] | undefined {
    const target = this.deref(node);
    if (target === undefined || this.isEmpty(target)) return [];
    if (isSeq(target)) {
      return target.items.map((item, index) => {
        const path = `${keyPath}[${index}]`;
        this.remember(path, item);
        return { node: this.deref(item), keyPath: path };
      });
    }
    if (single && isScalar(target)) return [{ node: target, keyPath }];
    this.wrong(keyPath, target, expected);
    return undefined;
  }

  /** Reads a list item (or any value that must be present) with `spec`. */
  item<T>(node: YamlNode | undefined, keyPath: string, spec: ValueSpec<T>): T | undefined {
    const target = this.deref(node);
    if (target === undefined || this.isEmpty(target)) {
      this.report(keyPath, target, target === undefined ? 'missing' : 'an empty value', spec.expected);
      return undefined;
    }
    return spec.read(this, target, keyPath);
  }
}

/** One YAML mapping being read: its keys with their lines, duplicates and unknown keys reported. */
export class MapView {
  private readonly entries = new Map<string, { key: YamlNode; value: YamlNode | undefined }>();
  readonly line: number | undefined;

  constructor(
    private readonly r: DocumentReader,
    node: { items: { key: unknown; value: unknown }[] },
    readonly keyPath: string,
  ) {
    this.line = r.lineOf(node);
    for (const pair of node.items) {
      const keyNode = r.deref(pair.key);
      const key = r.scalarText(keyNode);
      if (keyNode === undefined || key === undefined) {
        r.report(keyPath || '(top level)', keyNode ?? this.line, keyNode ? r.render(keyNode) : 'an empty key', 'keys that are plain words like "interface"');
        continue;
      }
      const path = childPath(keyPath, key);
      const earlier = this.entries.get(key);
      if (earlier) {
        // The yaml parser is told not to reject duplicates itself, so the problem can name the key and both lines.
        r.report(path, keyNode, 'a second value for this key', `each key once per mapping (first set on line ${r.lineOf(earlier.key) ?? '?'})`);
        continue;
      }
      r.remember(path, keyNode);
      this.entries.set(key, { key: keyNode, value: r.deref(pair.value) });
    }
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  path(key: string): string {
    return childPath(this.keyPath, key);
  }

  /** The value node of `key`; undefined when absent or written empty (`key:` or `key: ~`). */
  node(key: string): YamlNode | undefined {
    const value = this.entries.get(key)?.value;
    return this.r.isEmpty(value) ? undefined : value;
  }

  keyNode(key: string): YamlNode | undefined {
    return this.entries.get(key)?.key;
  }

  /** Reports keys outside `allowed`, with the closest allowed key as a suggestion. */
  rejectUnknown(allowed: readonly string[], what = ''): void {
    for (const [key, entry] of this.entries) {
      if (allowed.includes(key)) continue;
      const suggestion = didYouMean(key, allowed);
      this.r.report(this.path(key), entry.key, 'unknown key', `one of: ${allowed.join(', ')}${what}`, suggestion);
    }
  }

  /** An optional value: undefined when absent, empty or wrong (wrong values are reported). */
  get<T>(key: string, spec: ValueSpec<T>): T | undefined {
    const node = this.node(key);
    return node === undefined ? undefined : spec.read(this.r, node, this.path(key));
  }

  /** An optional value with a default: `fallback` when absent or empty, undefined only when wrong. */
  getOr<T>(key: string, spec: ValueSpec<T>, fallback: T): T | undefined {
    const node = this.node(key);
    return node === undefined ? fallback : spec.read(this.r, node, this.path(key));
  }

  /** A required value: absent or empty is reported (at the mapping's line, or the key's when written empty). */
  need<T>(key: string, spec: ValueSpec<T>, missingExpected = spec.expected): T | undefined {
    const node = this.node(key);
    if (node === undefined) {
      const written = this.entries.get(key);
      this.r.report(this.path(key), written ? written.key : this.line, written ? 'an empty value' : 'missing', missingExpected);
      return undefined;
    }
    return spec.read(this.r, node, this.path(key));
  }
}

/** A scalar's value as text. The core schema's scalars are strings, numbers, booleans and null. */
function scalarValueText(value: unknown): string {
  return String(value);
}

/**
 * `fields` as one value when every field was read, or undefined when one was
 * wrong (and so already reported). For sections whose fields all have a value
 * once read: required, or defaulted.
 */
export function allRead<T extends object>(fields: { [K in keyof T]: T[K] | undefined }): T | undefined {
  return Object.values(fields).every((value) => value !== undefined) ? (fields as T) : undefined;
}
