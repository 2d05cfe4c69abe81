// Loading the one configuration file: YAML text -> node tree (yaml-text.ts) ->
// sections read into a draft (document.ts) -> checks across sections
// (cross-checks.ts) -> normalised RackbootConfig (normalise.ts). Every problem
// found on the way is collected and thrown together as one ConfigError, so a
// single `rackboot check-config` run lists everything to fix.

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { checkAcross } from './cross-checks.js';
import { readDocument } from './document.js';
import { ConfigError, sortProblems, type ConfigProblem } from './errors.js';
import { normaliseDraft } from './normalise.js';
import type { ConfigOverrides, RackbootConfig } from './schema.js';
import { directorySpec, interfaceSpec } from './value-specs.js';
import { parseYaml } from './yaml-text.js';

export type { ConfigOverrides } from './schema.js';

export type CheckResult = { ok: true; config: RackbootConfig } | { ok: false; error: ConfigError };

/** Where the file names come from when a problem is with a command-line override rather than the file. */
const COMMAND_LINE = '<command line>';

/** Reads and checks the configuration file at `path`. Throws ConfigError listing every problem. */
export async function loadConfigFile(path: string, overrides: ConfigOverrides = {}): Promise<RackbootConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ file, keyPath: '(file)', found: describeReadError(error), expected: 'a readable YAML configuration file' }]);
  }
  return parseConfigText(text, file, overrides);
}

/** For `rackboot check-config`: the configuration, or the error listing every problem. */
export async function checkConfigFile(path: string, overrides: ConfigOverrides = {}): Promise<CheckResult> {
  try {
    return { ok: true, config: await loadConfigFile(path, overrides) };
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, error };
    throw error;
  }
}

/**
 * Checks configuration text as if read from `source` (a file path, or a label
 * such as '<web>'). Relative paths in the text resolve against the directory of
 * `source` when it is an absolute path, else against the current directory.
 * Synchronous: no I/O. Throws ConfigError listing every problem.
 */
export function parseConfigText(text: string, source: string, overrides: ConfigOverrides = {}): RackbootConfig {
  const { reader, root } = parseYaml(text, source);
  const draft = readDocument(reader, root, overrides);
  if (draft) checkAcross(reader, draft);
  const problems = sortProblems([...reader.problems, ...checkOverrides(overrides)]);
  if (problems.length > 0 || !draft) {
    throw new ConfigError(problems.length > 0 ? problems : [{ file: source, keyPath: '(top level)', found: 'nothing usable', expected: 'a configuration' }]);
  }
  return normaliseDraft(draft, source, overrides);
}

function checkOverrides(overrides: ConfigOverrides): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (overrides.interface !== undefined && !/^[^\s/:]{1,15}$/.test(overrides.interface)) {
    problems.push({ file: COMMAND_LINE, keyPath: '--interface', found: JSON.stringify(overrides.interface), expected: interfaceSpec.expected });
  }
  if (overrides.root !== undefined && overrides.root.trim() === '') {
    problems.push({ file: COMMAND_LINE, keyPath: '--root', found: JSON.stringify(overrides.root), expected: directorySpec.expected });
  }
  return problems;
}

function describeReadError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return `a file rackboot may not read (${code})`;
    case 'EISDIR':
      return 'a directory';
    default:
      return `a file that could not be read (${code ?? (error as Error)?.message ?? String(error)})`;
  }
}
