// YAML text to a node tree with line numbers, and the parser's syntax errors
// and warnings as problems that point at the offending line.

import { LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { ConfigError, type ConfigProblem } from './errors.js';
import { DocumentReader } from './yaml-reader.js';

/**
 * Parses `text` (read from `source`) into a reader over its node tree and the
 * tree's root. Throws ConfigError on a syntax error: after one, the tree is the
 * parser's best guess, and value problems found in it would mislead. Warnings
 * are already in the reader's problems.
 */
export function parseYaml(text: string, source: string): { reader: DocumentReader; root: YamlNode | undefined } {
  const lineCounter = new LineCounter();
  // uniqueKeys off: the reader reports duplicate keys itself, with the key path and both lines.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  if (doc.errors.length > 0) throw new ConfigError(syntaxProblems(source, text, lineCounter, doc.errors));
  const reader = new DocumentReader(source, text, doc, lineCounter);
  reader.problems.push(...syntaxProblems(source, text, lineCounter, doc.warnings));
  return { reader, root: reader.deref(doc.contents) };
}

/** YAML syntax errors and warnings as problems: the offending line's text as found, the parser's complaint as expected. */
function syntaxProblems(
  file: string,
  text: string,
  lineCounter: LineCounter,
  errors: readonly { code: string; message: string; pos: [number, number] }[],
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seenLines = new Set<number>();
  const lines = text.split(/\r?\n/);
  for (const error of errors) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    const lineNumber = Math.max(line, 1);
    // One slip often trips several parser errors on the same line; the first says it best.
    if (seenLines.has(lineNumber)) continue;
    seenLines.add(lineNumber);
    const source = (lines[lineNumber - 1] ?? '').trim();
    const found =
      source === ''
        ? error.pos[0] >= text.length
          ? 'the end of the file'
          : 'an empty line'
        : JSON.stringify(source.length > 60 ? `${source.slice(0, 59)}…` : source);
    const expected =
      error.code === 'MULTIPLE_DOCS'
        ? 'a single YAML document (remove the "---" separator; one file holds one configuration)'
        : `valid YAML (${error.message.replace(/\s+at line \d+, column \d+.*$/s, '')})`;
    problems.push({ file, keyPath: '(yaml syntax)', found, expected, line: lineNumber, column: Math.max(col, 1) });
  }
  return problems;
}
