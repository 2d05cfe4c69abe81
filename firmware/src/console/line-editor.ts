// A single-line editor for a VT100/ANSI terminal on a serial line. Pure: bytes
// from the terminal go in, the bytes to send back (echo, redraws) and what the
// user did (a line, Ctrl-C) come out. It keeps its memory bounded whatever
// arrives: a line holds at most `maxLength` characters, escape sequences are
// parsed by a small state machine with a length cap, and anything that is not
// printable ASCII or a key we know (binary noise, a break's NUL) is dropped.
// A line longer than the screen scrolls sideways, so the editor only ever
// touches the row it is on.

export type EditorEvent =
  | { kind: 'line'; text: string }
  /** Ctrl-C: the line was abandoned (or, for the shell, "stop"). */
  | { kind: 'interrupt' }
  /** Ctrl-D on an empty line. */
  | { kind: 'eof' };

export interface EditorResult {
  /** Bytes to write to the terminal. */
  output: string;
  /** What the user did; at most one event, since the line ends with it. */
  event?: EditorEvent;
  /** Bytes of the input used; the rest (after a line end) belongs to whatever reads next. */
  consumed: number;
}

/** Returns the words that could complete the word under the cursor, given the text before it. */
export type Completer = (textBeforeCursor: string) => string[];

export interface LineEditorOptions {
  /** Terminal width; the visible part of a long line is kept within it. */
  columns?: number;
  /** Longest line kept; further characters are dropped with a bell. */
  maxLength?: number;
  /** Lines remembered for up/down arrows. */
  historySize?: number;
  completer?: Completer;
}

export interface EditorCounters {
  /** Bytes dropped: control characters we do not use, non-ASCII, NUL (a break). */
  ignoredBytes: number;
  /** Escape sequences we do not know, or that were cut short. */
  unknownSequences: number;
  /** Characters dropped because the line was full. */
  overflowChars: number;
}

const BELL = '\x07';
const CLEAR_TO_END = '\x1b[K';
/** A CSI sequence longer than this is noise, not a key. */
const MAX_SEQUENCE = 16;

/** csi-skip: an overlong CSI sequence, swallowed up to its final byte. */
type EscapeState = 'none' | 'esc' | 'csi' | 'csi-skip' | 'ss3';

export class LineEditor {
  private readonly columns: number;
  private readonly maxLength: number;
  private readonly historySize: number;
  private readonly completer: Completer | undefined;

  private prompt = '';
  private echo = true;
  /** Whether the line goes into history (not for passwords or y/N answers). */
  private remember = true;
  private active = false;
  private line = '';
  private cursor = 0;
  /** First character of the line shown on screen (sideways scrolling). */
  private scroll = 0;

  private readonly history: string[] = [];
  /** Index into history while browsing; history.length means the line being typed. */
  private historyIndex = 0;
  private draft = '';

  private escape: EscapeState = 'none';
  private sequence = '';
  /** The last byte was CR: a following LF is the second half of CRLF, not another Enter. */
  private afterCr = false;
  /** The bell for a full line rings once per burst, not once per dropped byte. */
  private rangFull = false;
  /** Two Tabs in a row with no progress list the candidates. */
  private lastWasTab = false;

  readonly counters: EditorCounters = { ignoredBytes: 0, unknownSequences: 0, overflowChars: 0 };

  constructor(options: LineEditorOptions = {}) {
    this.columns = options.columns ?? 80;
    this.maxLength = options.maxLength ?? 1024;
    this.historySize = options.historySize ?? 100;
    this.completer = options.completer;
  }

  /** Starts reading a new line after `prompt`; returns the bytes that draw it. */
  begin(prompt: string, options: { echo?: boolean; remember?: boolean } = {}): string {
    this.prompt = prompt;
    this.echo = options.echo ?? true;
    this.remember = this.echo && (options.remember ?? true);
    this.active = true;
    this.line = '';
    this.cursor = 0;
    this.scroll = 0;
    this.historyIndex = this.history.length;
    this.draft = '';
    this.rangFull = false;
    this.lastWasTab = false;
    return prompt;
  }

  /** Stops reading (the shell is busy or following the log); input is ignored until `begin`. */
  end(): void {
    this.active = false;
  }

  get reading(): boolean {
    return this.active;
  }

  /** The bytes that redraw the prompt and the current line (after output printed over it). */
  redraw(): string {
    return this.active ? this.render() : '';
  }

  /** Forgets the partial escape sequence and CR state, e.g. when the port reopens. */
  reset(): void {
    this.escape = 'none';
    this.sequence = '';
    this.afterCr = false;
  }

  get historyLines(): readonly string[] {
    return this.history;
  }

  /** Feeds bytes up to and including the first one that ends the line (Enter, Ctrl-C, Ctrl-D). */
  feed(data: Uint8Array): EditorResult {
    const out: string[] = [];
    const events: EditorEvent[] = [];
    let consumed = 0;
    while (consumed < data.length && events.length === 0) this.feedByte(data[consumed++], out, events);
    return { output: out.join(''), event: events[0], consumed };
  }

  private feedByte(byte: number, out: string[], events: EditorEvent[]): void {
    if (this.escape !== 'none') {
      this.feedEscape(byte, out);
      return;
    }
    const afterCr = this.afterCr;
    this.afterCr = false;
    if (byte === 0x1b) {
      this.escape = 'esc';
      return;
    }
    if (!this.active) {
      // Not reading: the shell decides what keys mean (see Shell); keep the CR state right.
      this.afterCr = byte === 0x0d;
      return;
    }
    const wasTab = this.lastWasTab;
    this.lastWasTab = false;
    switch (byte) {
      case 0x0d: // CR
        this.afterCr = true;
        this.submit(out, events);
        return;
      case 0x0a: // LF: a line end of its own, or the tail of CRLF
        if (!afterCr) this.submit(out, events);
        return;
      case 0x7f: // DEL, what most terminals send for Backspace
      case 0x08: // BS
        this.backspace(out);
        return;
      case 0x01: // Ctrl-A
        this.moveTo(0, out);
        return;
      case 0x05: // Ctrl-E
        this.moveTo(this.line.length, out);
        return;
      case 0x02: // Ctrl-B
        this.moveTo(this.cursor - 1, out);
        return;
      case 0x06: // Ctrl-F
        this.moveTo(this.cursor + 1, out);
        return;
      case 0x03: // Ctrl-C
        out.push(this.echo && this.endColumn() + 2 < this.columns ? '^C\r\n' : '\r\n');
        this.active = false;
        events.push({ kind: 'interrupt' });
        return;
      case 0x04: // Ctrl-D: end of input on an empty line, otherwise delete under the cursor
        if (this.line.length === 0) {
          out.push('\r\n');
          this.active = false;
          events.push({ kind: 'eof' });
        } else {
          this.deleteForward(out);
        }
        return;
      case 0x15: // Ctrl-U: erase to the start of the line
        this.setLine(this.line.slice(this.cursor), 0, out);
        return;
      case 0x0b: // Ctrl-K: erase to the end of the line
        this.setLine(this.line.slice(0, this.cursor), this.cursor, out);
        return;
      case 0x17: // Ctrl-W: erase the word before the cursor
        this.eraseWord(out);
        return;
      case 0x0c: // Ctrl-L: clear the screen and redraw
        out.push('\x1b[H\x1b[2J', this.render());
        return;
      case 0x09: // Tab: a second Tab that could not add anything lists the candidates
        this.lastWasTab = this.complete(out, wasTab) === 'ambiguous';
        return;
      default:
        if (byte >= 0x20 && byte <= 0x7e) this.insert(String.fromCharCode(byte), out);
        else this.counters.ignoredBytes++;
    }
  }

  private feedEscape(byte: number, out: string[]): void {
    if (this.escape === 'esc') {
      if (byte === 0x5b) {
        this.escape = 'csi';
        this.sequence = '';
      } else if (byte === 0x4f) {
        this.escape = 'ss3';
      } else {
        // ESC followed by anything else (Alt-key, noise): drop both.
        this.escape = 'none';
        this.counters.unknownSequences++;
      }
      return;
    }
    if (this.escape === 'ss3') {
      this.escape = 'none';
      this.key(String.fromCharCode(byte), '', out);
      return;
    }
    // CSI: parameter and intermediate bytes 0x20-0x3f, then a final byte 0x40-0x7e (ECMA-48 5.4).
    if (byte >= 0x40 && byte <= 0x7e) {
      const skipped = this.escape === 'csi-skip';
      this.escape = 'none';
      if (!skipped) this.key(String.fromCharCode(byte), this.sequence, out);
      return;
    }
    if (byte >= 0x20 && byte <= 0x3f) {
      if (this.escape === 'csi' && this.sequence.length < MAX_SEQUENCE) {
        this.sequence += String.fromCharCode(byte);
      } else if (this.escape === 'csi') {
        this.escape = 'csi-skip'; // too long to be a key: swallow it without keeping it
        this.sequence = '';
        this.counters.unknownSequences++;
      }
      return;
    }
    // A control byte, or a sequence too long to be a key: it was noise.
    this.escape = 'none';
    this.counters.unknownSequences++;
  }

  private key(final: string, params: string, out: string[]): void {
    if (!this.active) return;
    this.lastWasTab = false;
    const code = `${params}${final}`;
    switch (code) {
      case 'A':
        this.historyMove(-1, out);
        return;
      case 'B':
        this.historyMove(1, out);
        return;
      case 'C':
        this.moveTo(this.cursor + 1, out);
        return;
      case 'D':
        this.moveTo(this.cursor - 1, out);
        return;
      case 'H':
      case '1~':
      case '7~':
        this.moveTo(0, out);
        return;
      case 'F':
      case '4~':
      case '8~':
        this.moveTo(this.line.length, out);
        return;
      case '3~':
        this.deleteForward(out);
        return;
      default:
        this.counters.unknownSequences++;
    }
  }

  private submit(out: string[], events: EditorEvent[]): void {
    const text = this.line;
    out.push('\r\n');
    this.active = false;
    if (this.remember && text.trim() !== '' && this.history[this.history.length - 1] !== text) {
      this.history.push(text);
      if (this.history.length > this.historySize) this.history.shift();
    }
    events.push({ kind: 'line', text });
  }

  private insert(text: string, out: string[]): void {
    const room = this.maxLength - this.line.length;
    if (room <= 0) {
      this.counters.overflowChars += text.length;
      if (!this.rangFull) out.push(BELL);
      this.rangFull = true;
      return;
    }
    const atEnd = this.cursor === this.line.length;
    this.line = this.line.slice(0, this.cursor) + text + this.line.slice(this.cursor);
    this.cursor += text.length;
    if (!this.echo) return; // a password: nothing on the screen, not even its length
    if (atEnd && this.cursor - this.scroll <= this.visibleWidth()) {
      out.push(text); // the common case: typing at the end, no redraw needed
    } else {
      out.push(this.render());
    }
  }

  private backspace(out: string[]): void {
    if (this.cursor === 0) return;
    const atEnd = this.cursor === this.line.length;
    this.line = this.line.slice(0, this.cursor - 1) + this.line.slice(this.cursor);
    this.cursor--;
    this.rangFull = false;
    if (!this.echo) return;
    if (atEnd && this.cursor > this.scroll) out.push('\b \b');
    else out.push(this.render());
  }

  private deleteForward(out: string[]): void {
    if (this.cursor >= this.line.length) return;
    this.setLine(this.line.slice(0, this.cursor) + this.line.slice(this.cursor + 1), this.cursor, out);
  }

  private eraseWord(out: string[]): void {
    let start = this.cursor;
    while (start > 0 && this.line[start - 1] === ' ') start--;
    while (start > 0 && this.line[start - 1] !== ' ') start--;
    this.setLine(this.line.slice(0, start) + this.line.slice(this.cursor), start, out);
  }

  private setLine(line: string, cursor: number, out: string[]): void {
    this.line = line.slice(0, this.maxLength);
    this.cursor = Math.min(cursor, this.line.length);
    this.rangFull = false;
    out.push(this.render());
  }

  private moveTo(position: number, out: string[]): void {
    const target = Math.max(0, Math.min(this.line.length, position));
    if (target === this.cursor) return;
    this.cursor = target;
    out.push(this.render());
  }

  private historyMove(step: -1 | 1, out: string[]): void {
    if (!this.echo) return; // no history in password prompts
    const next = this.historyIndex + step;
    if (next < 0 || next > this.history.length) {
      out.push(BELL);
      return;
    }
    if (this.historyIndex === this.history.length) this.draft = this.line;
    this.historyIndex = next;
    const line = next === this.history.length ? this.draft : this.history[next];
    this.setLine(line, line.length, out);
  }

  private complete(out: string[], secondTab: boolean): 'done' | 'ambiguous' {
    if (!this.completer || !this.echo) {
      out.push(BELL);
      return 'done';
    }
    const before = this.line.slice(0, this.cursor);
    const wordStart = before.lastIndexOf(' ') + 1;
    const word = before.slice(wordStart);
    const candidates = [...new Set(this.completer(before).filter((c) => c.startsWith(word)))].sort();
    if (candidates.length === 0) {
      out.push(BELL);
      return 'done';
    }
    if (candidates.length === 1) {
      const rest = candidates[0].slice(word.length);
      const after = this.line.slice(this.cursor);
      this.insertCompletion(rest + (after.startsWith(' ') ? '' : ' '), out);
      return 'done';
    }
    const common = commonPrefix(candidates);
    if (common.length > word.length) {
      this.insertCompletion(common.slice(word.length), out);
      return 'done';
    }
    if (!secondTab) {
      out.push(BELL);
      return 'ambiguous';
    }
    out.push('\r\n', listInColumns(candidates, this.columns), this.render());
    return 'done';
  }

  private insertCompletion(text: string, out: string[]): void {
    if (this.line.length + text.length > this.maxLength) {
      out.push(BELL);
      return;
    }
    this.line = this.line.slice(0, this.cursor) + text + this.line.slice(this.cursor);
    this.cursor += text.length;
    out.push(this.render());
  }

  /** Columns available for the line after the prompt (one is kept free so the cursor never wraps). */
  private visibleWidth(): number {
    return Math.max(8, this.columns - this.prompt.length - 1);
  }

  /** The screen column just after the last character shown (where ^C would go). */
  private endColumn(): number {
    return this.prompt.length + Math.min(this.line.length - this.scroll, this.visibleWidth());
  }

  /** Redraws the whole row: CR, prompt, the visible slice of the line, clear to end, cursor back in place. */
  private render(): string {
    if (!this.echo) return `\r${this.prompt}${CLEAR_TO_END}`;
    const width = this.visibleWidth();
    // Scroll by half a screen at a time, so typing along a long line redraws rarely (a slow line stays responsive).
    const half = Math.floor(width / 2);
    if (this.cursor < this.scroll) this.scroll = Math.max(0, this.cursor - half);
    if (this.cursor - this.scroll > width) this.scroll = this.cursor - half;
    // After deleting back into a scrolled line, show more of it again.
    if (this.line.length - this.scroll < half && this.scroll > 0) this.scroll = Math.max(0, this.line.length - width);
    const visible = this.line.slice(this.scroll, this.scroll + width);
    const back = this.scroll + visible.length - this.cursor;
    return `\r${this.prompt}${visible}${CLEAR_TO_END}${back > 0 ? `\x1b[${back}D` : ''}`;
  }
}

function commonPrefix(words: readonly string[]): string {
  let prefix = words[0] ?? '';
  for (const word of words) while (!word.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}

/** Candidates laid out in columns across the screen, each row ending in CRLF. */
export function listInColumns(words: readonly string[], columns: number): string {
  const width = Math.min(columns - 1, Math.max(...words.map((w) => w.length)) + 2);
  const perRow = Math.max(1, Math.floor((columns - 1) / width));
  const rows: string[] = [];
  for (let i = 0; i < words.length; i += perRow) {
    rows.push(
      words
        .slice(i, i + perRow)
        .map((w) => (w.length > width - 2 ? w.slice(0, width - 2) : w).padEnd(width))
        .join('')
        .trimEnd() + '\r\n',
    );
  }
  return rows.join('');
}
