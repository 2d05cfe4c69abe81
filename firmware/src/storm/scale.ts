// What a storm of N nodes needs from the host, as pure arithmetic (host-net.ts
// applies it): room in the kernel's neighbour table, file descriptors, and one
// `ip -batch` for many nodes' address changes instead of a process per node.

/**
 * The IPv4 neighbour table is one table for the whole kernel, shared by every
 * network namespace (its gc_thresh sysctls exist only in the initial
 * namespace). A storm against a server on the same host fills it twice over:
 * the server's entry for each node and each node's entry for the server. Past
 * gc_thresh3 the kernel refuses new entries ("neighbor table overflow!") and
 * the packet needing one is dropped, so nodes fail to boot for want of a table
 * entry. Above gc_thresh2 for 5 s, forced garbage collection evicts idle
 * nodes' entries, costing extra ARP.
 */
export interface NeighbourThresholds {
  gc_thresh1: number;
  gc_thresh2: number;
  gc_thresh3: number;
}

/** Entries kept free for everything else on the host (other namespaces, the uplink). */
export const NEIGHBOUR_HEADROOM = 256;

/** The kernel's default gc_thresh3. */
export const DEFAULT_NEIGHBOUR_LIMIT = 1024;

/** Entries a storm of `nodes` can need: two per node (server side and node side) plus headroom. */
export function neighbourEntriesNeeded(nodes: number): number {
  return 2 * nodes + NEIGHBOUR_HEADROOM;
}

/**
 * The thresholds to set for `nodes`, or undefined when gc_thresh3 already has
 * room (up to about 380 nodes at the default). Only ever raises: gc_thresh2 to
 * the need (no forced GC during the storm), gc_thresh3 to twice it;
 * gc_thresh1 (below which nothing is collected) stays.
 */
export function neighbourThresholdsFor(nodes: number, current: NeighbourThresholds): NeighbourThresholds | undefined {
  const need = neighbourEntriesNeeded(nodes);
  if (current.gc_thresh3 >= need) return undefined;
  return { gc_thresh1: current.gc_thresh1, gc_thresh2: Math.max(current.gc_thresh2, need), gc_thresh3: Math.max(current.gc_thresh3, 2 * need) };
}

/**
 * Descriptors a storm can hold at once: per node its packet socket, the TFTP
 * probe's and transfer's UDP sockets while one closes, and an HTTP connection;
 * plus the process's own (stdio, libuv, the addon) and children's pipes.
 */
export function fileDescriptorsNeeded(nodes: number): number {
  return 4 * nodes + 256;
}

/** A person-readable refusal when the soft RLIMIT_NOFILE is too small, else undefined. */
export function fileDescriptorProblem(nodes: number, softLimit: number): string | undefined {
  const need = fileDescriptorsNeeded(nodes);
  if (softLimit === Infinity || softLimit >= need) return undefined;
  return `${nodes} nodes need about ${need} open files, the limit is ${softLimit}: raise it (ulimit -n ${need}) or run fewer nodes`;
}

/** The soft "Max open files" from /proc/self/limits text ("unlimited" = Infinity). */
export function parseOpenFilesLimit(limits: string): number | undefined {
  const match = /^Max open files\s+(\S+)/m.exec(limits);
  if (!match) return undefined;
  return match[1] === 'unlimited' ? Infinity : Number(match[1]);
}

/** Failures of one `ip -force -batch` run: 1-based line number -> ip's message. */
export type BatchFailures = Map<number, string>;

/**
 * ip's stderr after `-force -batch -`: each failing line's message, then
 * "Command failed -:N". Messages without a line number are kept under 0.
 */
export function parseBatchFailures(stderr: string): BatchFailures {
  const failures: BatchFailures = new Map();
  let pending: string[] = [];
  for (const line of stderr.split('\n')) {
    const failed = /^Command failed -:(\d+)\s*$/.exec(line);
    if (failed) {
      failures.set(Number(failed[1]), pending.join('; ') || 'failed');
      pending = [];
    } else if (line.trim()) pending.push(line.trim());
  }
  if (pending.length) failures.set(0, pending.join('; '));
  return failures;
}

/**
 * Coalesces many callers' command lines into one run of `ip -force -batch -`:
 * while a run is in flight, new submissions queue up and go together in the
 * next one, so nodes leased together cost a handful of `ip` processes, not one
 * each. With -force ip goes on past a failing line and
 * names it, so each caller is told only about its own lines.
 */
export class BatchRunner {
  private queue: Array<{ lines: string[]; resolve: () => void; reject: (error: Error) => void }> = [];
  private running = false;
  /** Runs started (for tests and the report). */
  runs = 0;

  constructor(
    /** Runs the lines; resolves with the failed lines (empty when all went through). */
    private readonly execute: (lines: string[]) => Promise<BatchFailures>,
    /** Lines per run at most (a very long batch holds the first callers back). */
    private readonly maxLines = 3000,
  ) {}

  submit(lines: string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ lines, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch: typeof this.queue = [];
        let count = 0;
        while (this.queue.length > 0 && (batch.length === 0 || count + this.queue[0].lines.length <= this.maxLines)) {
          const next = this.queue.shift()!;
          count += next.lines.length;
          batch.push(next);
        }
        this.runs++;
        let failures: BatchFailures;
        try {
          failures = await this.execute(batch.flatMap((b) => b.lines));
        } catch (error) {
          for (const b of batch) b.reject(error as Error);
          continue;
        }
        let first = 1;
        for (const b of batch) {
          const mine: string[] = [];
          for (let n = first; n < first + b.lines.length; n++) {
            const message = failures.get(n);
            if (message !== undefined) mine.push(`${b.lines[n - first]}: ${message}`);
          }
          first += b.lines.length;
          if (mine.length) b.reject(new Error(`ip ${mine.join('; ')}`));
          else b.resolve();
        }
      }
    } finally {
      this.running = false;
    }
  }
}
