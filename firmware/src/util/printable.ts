// Text from the network (host names, client identifiers, event messages) made
// safe for a terminal. A terminal acts on control characters: C0 (ESC starts a
// sequence, CR and BS overwrite), DEL, and C1, where U+009B is a one-character
// CSI that UTF-8 terminals honour like ESC [. None of them may reach the
// operator's screen as is.

/** C0, DEL and C1 (U+0000-U+001F, U+007F-U+009F). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;

export interface PrintableOptions {
  /** Written instead of each control character; by default its `\xHH` escape. */
  replacement?: string;
  /** Also replace everything outside printable ASCII (for terminals that may not speak UTF-8). */
  asciiOnly?: boolean;
}

/** `text` with every control character escaped as `\xHH` (or replaced by `replacement`). */
export function printable(text: string, opts: PrintableOptions = {}): string {
  const { replacement, asciiOnly = false } = opts;
  const escaped = text.replace(CONTROL, (c) => replacement ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return asciiOnly ? escaped.replace(/[^\x20-\x7e]/g, replacement ?? '?') : escaped;
}

/**
 * `value` as JSON that carries no control character raw: JSON.stringify already
 * escapes C0 inside strings; DEL and C1, which it leaves raw, become `\u00HH`.
 * The result parses back to the same value. Only inside strings can those
 * characters occur, so replacing them in the whole text keeps it valid JSON.
 */
export function printableJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
