// Types for run.mjs, for the smoke test.
export interface FuzzResult {
  target: string;
  engine: 'builtin' | 'jazzer';
  result: 'ok' | 'crash' | 'oom' | 'error';
  execs?: number;
  seeds?: number;
  corpus?: number;
  features?: number;
  seconds?: number;
  error?: string;
  input?: string;
  artifact?: string;
}
export interface RunOptions {
  seconds?: number;
  jobs?: number;
  engine?: 'auto' | 'jazzer' | 'builtin';
  targets?: string[];
  seed?: number;
  /** Inputs per target (all targets, or by name); the time budget still applies. */
  runs?: number | Record<string, number>;
  artifacts?: string;
  saveCorpus?: boolean;
  onResult?: (result: FuzzResult) => void;
}
export function listTargets(): string[];
export function jazzerAvailable(): boolean;
export function writeSeeds(): Promise<void>;
export function runTargets(options: RunOptions): Promise<FuzzResult[]>;
