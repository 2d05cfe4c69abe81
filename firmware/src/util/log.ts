// Structured logging: JSON lines on stdout for journald and log shippers,
// readable one-line text when stdout is a terminal. No dependency: the format
// is small and we want it identical in the bundle and in tests.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'auto' | 'json' | 'text';
export type LogFields = Record<string, unknown>;

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` (e.g. { component: 'dhcp' }) to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  write?: (line: string) => void;
  isTty?: boolean;
  now?: () => Date;
}

export function createLogger(options: LoggerOptions = {}, bound: LogFields = {}): Logger {
  const level = options.level ?? 'info';
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const isTty = options.isTty ?? Boolean(process.stdout.isTTY);
  const json = options.format === 'json' || (options.format !== 'text' && !isTty);
  const now = options.now ?? (() => new Date());

  const emit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (LEVEL_ORDER[lvl] < LEVEL_ORDER[level]) return;
    const all = { ...bound, ...fields };
    write(json ? jsonLine(now(), lvl, msg, all) : textLine(now(), lvl, msg, all));
  };

  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}

/** A logger that drops everything: for unit tests that do not look at logs. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

function jsonLine(time: Date, level: LogLevel, msg: string, fields: LogFields): string {
  return JSON.stringify({ time: time.toISOString(), level, msg, ...normalise(fields) }) + '\n';
}

function textLine(time: Date, level: LogLevel, msg: string, fields: LogFields): string {
  const parts = Object.entries(normalise(fields)).map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`);
  const clock = time.toISOString().slice(11, 23);
  return `${clock} ${level.toUpperCase().padEnd(5)} ${msg}${parts.length ? '  ' + parts.join(' ') : ''}\n`;
}

/** Errors do not survive JSON.stringify; turn them into their message (and code). */
function normalise(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (value instanceof Error) {
      out[key] = (value as NodeJS.ErrnoException).code ? `${value.message} (${(value as NodeJS.ErrnoException).code})` : value.message;
    } else if (Buffer.isBuffer(value)) {
      out[key] = value.toString('hex');
    } else {
      out[key] = value;
    }
  }
  return out;
}
