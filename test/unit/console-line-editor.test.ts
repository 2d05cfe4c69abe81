// The console's line editor, byte by byte: editing keys, escape sequences,
// line ends, completion, bounded memory under noise.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineEditor } from '../../firmware/src/console/line-editor.js';

function typed(editor: LineEditor, text: string | Buffer) {
  return editor.feed(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
}

/** Feeds everything, collecting every line event (the editor stops at each line end). */
function lines(editor: LineEditor, input: string | Buffer, prompt = '> '): string[] {
  let rest = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const out: string[] = [];
  editor.begin(prompt);
  while (rest.length > 0) {
    const r = editor.feed(rest);
    rest = rest.subarray(r.consumed);
    if (r.event?.kind === 'line') out.push(r.event.text);
    if (r.event) editor.begin(prompt);
  }
  return out;
}

describe('LineEditor', () => {
  it('echoes printable input and submits on CR, LF or CRLF (once each)', () => {
    const editor = new LineEditor();
    editor.begin('> ');
    const r = typed(editor, 'status\r');
    expect(r.output).toBe('status\r\n');
    expect(r.event).toEqual({ kind: 'line', text: 'status' });
    expect(lines(new LineEditor(), 'a\r\nb\nc\rd\r\n\r\n')).toEqual(['a', 'b', 'c', 'd', '']);
  });

  it('edits: backspace (DEL and BS), Ctrl-A/E, arrows, Ctrl-U, Ctrl-K, Ctrl-W, delete key', () => {
    expect(lines(new LineEditor(), 'nodx\x7fes\x08\x08es\r')).toEqual(['nodes']);
    expect(lines(new LineEditor(), 'odes\x01n\x05!\r')).toEqual(['nodes!']);
    expect(lines(new LineEditor(), 'nods\x1b[De\x1b[C!\r')).toEqual(['nodes!']);
    expect(lines(new LineEditor(), 'garbage\x15leases\r')).toEqual(['leases']);
    expect(lines(new LineEditor(), 'leasesXYZ\x1b[D\x1b[D\x1b[D\x0b\r')).toEqual(['leases']);
    expect(lines(new LineEditor(), 'power on node-a\x17node-b\r')).toEqual(['power on node-b']);
    expect(lines(new LineEditor(), 'xnodes\x1b[H\x1b[3~\r')).toEqual(['nodes']);
    expect(lines(new LineEditor(), 'xnodes\x1bOH\x04\r')).toEqual(['nodes']);
  });

  it('Ctrl-C abandons the line; Ctrl-D on an empty line is end of input', () => {
    const editor = new LineEditor();
    editor.begin('> ');
    const r = typed(editor, 'reboot\x03\r');
    expect(r.event).toEqual({ kind: 'interrupt' });
    expect(r.consumed).toBe(7);
    expect(r.output.endsWith('^C\r\n')).toBe(true);
    editor.begin('> ');
    expect(typed(editor, '\x04').event).toEqual({ kind: 'eof' });
  });

  it('history: up/down recall lines, the draft comes back, no history for unremembered lines', () => {
    const editor = new LineEditor();
    expect(lines(editor, 'nodes\rleases\r')).toEqual(['nodes', 'leases']);
    editor.begin('> ', { remember: false });
    typed(editor, 'y\r');
    expect(editor.historyLines).toEqual(['nodes', 'leases']);
    editor.begin('> ');
    typed(editor, 'dra');
    typed(editor, '\x1b[A\x1b[A');
    expect(typed(editor, '\r').event).toEqual({ kind: 'line', text: 'nodes' });
    editor.begin('> ');
    typed(editor, 'dra\x1b[A\x1b[B');
    expect(typed(editor, 'ft\r').event).toEqual({ kind: 'line', text: 'draft' });
    // A bell at either end of history.
    editor.begin('> ');
    expect(typed(editor, '\x1b[B').output).toBe('\x07');
  });

  it('passwords are not echoed and never enter history', () => {
    const editor = new LineEditor();
    editor.begin('Password: ', { echo: false });
    const r = typed(editor, 'secret\x7fT\r');
    expect(r.output).toBe('\r\n');
    expect(r.event).toEqual({ kind: 'line', text: 'secreT' });
    expect(editor.historyLines).toEqual([]);
  });

  it('tab completes a unique word with a space, a common prefix, and lists on a second tab', () => {
    const words = ['power', 'passwd', 'profile'];
    const editor = new LineEditor({ completer: (before) => (before.includes(' ') ? ['node-a', 'node-b'] : words) });
    editor.begin('> ');
    typed(editor, 'po\t');
    expect(typed(editor, 'X\r').event).toEqual({ kind: 'line', text: 'power X' });
    editor.begin('> ');
    const first = typed(editor, 'power n\t');
    expect(first.output).toContain('power node-');
    expect(typed(editor, '\t').output).toBe('\x07');
    const list = typed(editor, '\t').output;
    expect(list).toContain('node-a  node-b\r\n');
    expect(typed(editor, 'b\r').event).toEqual({ kind: 'line', text: 'power node-b' });
    editor.begin('> ');
    expect(typed(editor, 'zz\t').output).toBe('zz\x07');
  });

  it('a long line scrolls sideways within the screen width', () => {
    const editor = new LineEditor({ columns: 40 });
    editor.begin('> ');
    const r = typed(editor, 'a'.repeat(100));
    // Each redraw starts at column 0 and shows at most 37 characters after the prompt.

    for (const redraw of r.output.split('\r').slice(1)) expect(redraw.replace(/\x1b\[[0-9]*[A-Za-z]/g, '').length).toBeLessThanOrEqual(39);
    expect(typed(editor, '\r').event).toEqual({ kind: 'line', text: 'a'.repeat(100) });
  });

  it('a 10 kB line keeps 1024 characters, rings the bell once, and drops the rest', () => {
    const editor = new LineEditor();
    editor.begin('> ');
    const r = typed(editor, 'x'.repeat(10_240) + '\r');
    expect(r.event).toEqual({ kind: 'line', text: 'x'.repeat(1024) });
    expect(r.output.split('\x07')).toHaveLength(2);
    expect(editor.counters.overflowChars).toBe(10_240 - 1024);
    expect(r.output.length).toBeLessThan(20_000); // sideways scrolling redraws by half screens, not per key
  });

  it('ignores NUL (a break), non-ASCII and unknown or overlong escape sequences', () => {
    expect(lines(new LineEditor(), '\x00st\x00a\xfft\xc3\xa9us\x1b[99;99;99;99;99;99;99;99;99Z\x1b[1;5Z\x1bx\r')).toEqual(['status']);
  });

  it('survives any bytes: never throws, lines stay bounded, output is only printable ASCII, CR, LF, BS, BEL and CSI', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 8 }), (chunks) => {
        const editor = new LineEditor({ maxLength: 256, completer: () => ['alpha', 'alps', 'beta'] });
        editor.begin('> ');
        for (const chunk of chunks) {
          let rest = Buffer.from(chunk);
          while (rest.length > 0) {
            const r = editor.feed(rest);
            expect(r.consumed).toBeGreaterThan(0);
            rest = rest.subarray(r.consumed);

            expect(r.output.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')).toMatch(/^[\x20-\x7e\r\n\x08\x07]*$/);
            if (r.event?.kind === 'line') expect(r.event.text.length).toBeLessThanOrEqual(256);
            if (r.event) editor.begin('> ');
          }
        }
      }),
      { numRuns: 200, seed: 42 },
    );
  });
});
