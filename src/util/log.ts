/**
 * The daemon's logger: one line per event on stderr, `time level [scope] message`, filtered
 * by --log-level (debug, info, warn, error, fatal; dockerd's names).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, fatal: 50 };
let threshold: number = ORDER.info;
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');

/** Set the lowest level that is printed. */
export function setLogLevel(level: LogLevel): void {
  threshold = ORDER[level];
}

/** Redirect log lines (tests capture them). */
export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}

/** True when `s` is a level name dockerd accepts. */
export function isLogLevel(s: string): s is LogLevel {
  return Object.prototype.hasOwnProperty.call(ORDER, s);
}

/** A logger bound to a scope, e.g. `logger('vm')`. */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** Make a logger whose lines carry `[scope]`. */
export function logger(scope: string): Logger {
  const emit = (level: LogLevel, msg: string) => {
    if (ORDER[level] < threshold) return;
    sink(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${scope}] ${msg}`);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
  };
}
