// Reading a process's output line by line and waiting for the lines a test expects.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** Splits a stream into lines and waits for ones that match. */
export class LineReader {
  /** Every line seen so far. */
  readonly lines: string[] = [];
  private cursor = 0;
  private ended = false;
  private wake: () => void = () => {};

  constructor(stream: Readable) {
    const reader = createInterface({ input: stream, crlfDelay: Infinity });
    reader.on('line', (line) => {
      this.lines.push(line);
      this.wake();
    });
    reader.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  /** The next unread line matching `predicate`; earlier unread lines are skipped. */
  async next(predicate: (line: string) => boolean = () => true, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.lines.length) {
        const line = this.lines[this.cursor++];
        if (predicate(line)) return line;
      }
      if (this.ended) throw new Error(`stream ended without a matching line; last lines:\n${this.lines.slice(-10).join('\n')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching line within ${timeoutMs} ms; last lines:\n${this.lines.slice(-10).join('\n')}`);
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, left);
        this.wake = () => {
          clearTimeout(timer);
          wake();
        };
      });
    }
  }
}
