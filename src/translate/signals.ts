/**
 * Signal names and numbers as Docker accepts them (`SIGKILL`, `KILL`, `kill`, `9`): Linux
 * x86-64 numbering, and dockerd's 400 "Invalid signal: X" for anything else.
 */
import { InvalidArgumentError } from '../errors';

/** Linux x86-64 signal numbers by name (without the SIG prefix). */
export const SIGNALS: Readonly<Record<string, number>> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  IOT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  POLL: 29,
  PWR: 30,
  SYS: 31,
};

/** Highest real-time signal number. */
const SIGRTMAX = 64;
const SIGRTMIN = 34;

/** SIGKILL and SIGTERM, used by the stop logic. */
export const SIGKILL = 9;
export const SIGTERM = 15;

/**
 * Parse a signal as dockerd does (signal.ParseSignal): a decimal number 1..64, or a name
 * with or without `SIG`, any case, including RTMIN+n / RTMAX-n. Throws "Invalid signal: X".
 */
export function parseSignal(raw: string): number {
  const s = raw.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= SIGRTMAX) return n;
    throw new InvalidArgumentError(`Invalid signal: ${raw}`);
  }
  const name = s.toUpperCase().replace(/^SIG/, '');
  if (name in SIGNALS) return SIGNALS[name];
  const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX;
    const off = rt[3] ? Number(rt[3]) * (rt[2] === '-' ? -1 : 1) : 0;
    const n = base + off;
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  }
  throw new InvalidArgumentError(`Invalid signal: ${raw}`);
}

/** `SIGTERM` for 15; `SIG<n>` for numbers without a name. */
export function signalName(n: number): string {
  for (const [k, v] of Object.entries(SIGNALS)) if (v === n && k !== 'IOT' && k !== 'POLL') return `SIG${k}`;
  return `SIG${n}`;
}
