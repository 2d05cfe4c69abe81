// Configuration errors are meant for a person fixing a file: each problem names
// the file, the line, the key, the value as written and what would be accepted.
// All problems of a file are reported together so one edit-check cycle fixes them all.

export interface ConfigProblem {
  /** The configuration file (absolute path), or '<command line>' for a bad override. */
  file: string;
  /** Where in the document: "pools[0].range", "hosts[3].mac", "boot.profiles.default.kernel". */
  keyPath: string;
  /** The value as written (JSON-ish: strings quoted), "missing", or a short description. */
  found: string;
  /** What would be accepted, in plain words. */
  expected: string;
  /** 1-based line in `file`, when the problem has a place in it. */
  line?: number;
  /** 1-based column; set for YAML syntax problems, where the line alone is not enough. */
  column?: number;
  /** A close known key or name, for typos ("did you mean ..."). Also folded into `expected`. */
  suggestion?: string;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    if (problems.length === 0) throw new RangeError('ConfigError needs at least one problem');
    const first = formatProblem(problems[0]);
    super(problems.length === 1 ? first : `${first} (and ${problems.length - 1} more problem(s))`);
    this.name = 'ConfigError';
    this.problems = problems;
  }

  /** One line per problem, `FILE:LINE: KEY: found VALUE, expected WHAT`, in file order. */
  format(): string {
    return this.problems.map(formatProblem).join('\n');
  }
}

export function formatProblem(problem: ConfigProblem): string {
  let where = problem.file;
  if (problem.line !== undefined) where += `:${problem.line}`;
  if (problem.line !== undefined && problem.column !== undefined) where += `:${problem.column}`;
  return `${where}: ${problem.keyPath}: found ${problem.found}, expected ${problem.expected}`;
}

/** Orders problems by file, then line (problems without a line last), keeping discovery order otherwise. */
export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems
    .map((problem, index) => ({ problem, index }))
    .sort(
      (a, b) =>
        a.problem.file.localeCompare(b.problem.file) ||
        (a.problem.line ?? Infinity) - (b.problem.line ?? Infinity) ||
        (a.problem.column ?? 0) - (b.problem.column ?? 0) ||
        a.index - b.index,
    )
    .map(({ problem }) => problem);
}

/**
 * Optimal string alignment distance (Levenshtein plus adjacent transpositions),
 * because the typos people make in keys are mostly one slip: "lease_tmie", "rnage".
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2][j - 2] + 1);
      d[i][j] = best;
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate `word` most likely meant, or undefined when nothing is close.
 * Case and '-'/'_' differences are forgiven first ("leaseTime", "lease-time" ->
 * "lease_time"); otherwise up to a third of the word may differ, so short keys
 * do not "match" unrelated short keys.
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const canonical = (s: string) =>
    s
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .toLowerCase()
      .replace(/-/g, '_');
  const exactish = candidates.find((c) => canonical(c) === canonical(word));
  if (exactish !== undefined) return exactish;
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
