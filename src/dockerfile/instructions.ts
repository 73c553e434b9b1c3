/**
 * The evaluators of the instructions that change only the image's config (no files): ENV,
 * LABEL, WORKDIR, USER, EXPOSE, VOLUME, ENTRYPOINT, CMD, HEALTHCHECK, STOPSIGNAL, ONBUILD,
 * SHELL, MAINTAINER. Each applies one instruction to a config in place and returns the text
 * dockerd records after `#(nop) ` in the history entry. `docker commit --change` goes through
 * the same evaluators (./changes.ts).
 */
import * as path from 'node:path';
import type { ImageConfig } from '../storage/types';
import type { Instruction } from './parse';
import { expandWord, expandWords, parseKeyValues, splitWords, type VarLookup } from './words';
import { InvalidArgumentError } from '../errors';

/** An image's runtime config (the `config` of the image JSON). */
export type RunConfig = NonNullable<ImageConfig['config']>;

/** What an evaluator may read besides the config. */
export interface EvalContext {
  escape: string;
  /** Variables for expansion: the config's Env, then the stage's build args. */
  lookup: VarLookup;
  /** The shell of shell-form commands (SHELL, default /bin/sh -c). */
  shell: string[];
  /** Whether this stage set CMD (then a later ENTRYPOINT keeps it); CMD sets it. */
  cmdSet?: { value: boolean };
}

/** Go's %q of a string list, as dockerd prints commands in history entries. */
export function goList(a: readonly string[]): string {
  return `[${a.map((s) => JSON.stringify(s)).join(' ')}]`;
}

/** Env lookup over a KEY=VALUE list (last one wins). */
export function envLookup(env: readonly string[] | undefined): (name: string) => string | undefined {
  return (name) => {
    let v: string | undefined;
    for (const e of env ?? []) {
      const eq = e.indexOf('=');
      if ((eq < 0 ? e : e.slice(0, eq)) === name) v = eq < 0 ? '' : e.slice(eq + 1);
    }
    return v;
  };
}

/** Set KEY=VALUE in an env list, replacing an earlier KEY. */
export function setEnv(env: string[], key: string, value: string): string[] {
  const out = env.filter((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e) !== key);
  out.push(`${key}=${value}`);
  return out;
}

/** A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds. */
export function parseDuration(s: string, flag: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * units[m[2]];
    pos = re.lastIndex;
  }
  if (pos !== s.length || s === '') {
    // Go's time.ParseDuration words (dockerd passes them through), naming the flag after them.
    const why = /^\d+(\.\d*)?$/.test(s) ? 'missing unit in duration' : 'invalid duration';
    throw new InvalidArgumentError(`time: ${why} "${s}" (--${flag})`);
  }
  return Math.round(total);
}

/** The command of CMD, ENTRYPOINT and RUN: exec form as is, shell form through the shell. */
export function commandOf(ins: Instruction, shell: string[]): string[] {
  if (ins.json) return ins.json;
  return [...shell, ins.args];
}

function expandPorts(words: string[]): string[] {
  const out: string[] = [];
  for (const w of words) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
    if (!m) throw new InvalidArgumentError(`Invalid containerPort: ${w}`);
    const lo = Number(m[1]);
    const hi = m[2] ? Number(m[2]) : lo;
    if (hi < lo || hi > 65535) throw new InvalidArgumentError(`Invalid containerPort: ${w}`);
    for (let p = lo; p <= hi; p++) out.push(`${p}/${(m[3] ?? 'tcp').toLowerCase()}`);
  }
  return out;
}

/** Instructions these evaluators handle. */
export const CONFIG_INSTRUCTIONS = new Set([
  'ENV',
  'LABEL',
  'WORKDIR',
  'USER',
  'EXPOSE',
  'VOLUME',
  'ENTRYPOINT',
  'CMD',
  'HEALTHCHECK',
  'STOPSIGNAL',
  'ONBUILD',
  'SHELL',
  'MAINTAINER',
]);

/**
 * Apply a config instruction to `c` (changed in place). Returns the history text. `author`
 * receives MAINTAINER's value. InvalidArgumentError for bad arguments.
 */
export function applyConfigInstruction(
  ins: Instruction,
  c: RunConfig,
  ctx: EvalContext,
  author?: (a: string) => void,
): string {
  const fail = (msg: string) => new InvalidArgumentError(msg);
  try {
    switch (ins.keyword) {
      case 'ENV': {
        const pairs = parseKeyValues(ins.args, ctx.lookup, ctx.escape, 'ENV', true);
        let env = [...(c.Env ?? [])];
        // Every value of the line is expanded with the env as it was before the line (dockerd).
        for (const [k, v] of pairs) env = setEnv(env, k, v);
        c.Env = env;
        return `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
      }
      case 'LABEL': {
        const pairs = parseKeyValues(ins.args, ctx.lookup, ctx.escape, 'LABEL', true);
        c.Labels = { ...(c.Labels ?? {}) };
        for (const [k, v] of pairs) c.Labels[k] = v;
        return `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
      }
      case 'MAINTAINER': {
        if (!ins.args) throw fail('MAINTAINER requires exactly one argument');
        author?.(ins.args);
        return `MAINTAINER ${ins.args}`;
      }
      case 'WORKDIR': {
        const w = expandWord(ins.args, ctx.lookup, ctx.escape);
        if (!w) throw fail('WORKDIR requires exactly one argument');
        c.WorkingDir = path.posix.resolve('/', c.WorkingDir || '/', w);
        return `WORKDIR ${c.WorkingDir}`;
      }
      case 'USER': {
        const u = expandWord(ins.args, ctx.lookup, ctx.escape);
        if (!u) throw fail('USER requires exactly one argument');
        c.User = u;
        return `USER ${u}`;
      }
      case 'EXPOSE': {
        const words = expandWords(ins.args, ctx.lookup, ctx.escape);
        const ports = expandPorts(words);
        if (ports.length === 0) throw fail('EXPOSE requires at least one argument');
        c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
        for (const p of ports) c.ExposedPorts[p] = {};
        return `EXPOSE ${words.join(' ')}`;
      }
      case 'VOLUME': {
        const vols = ins.json ?? expandWords(ins.args, ctx.lookup, ctx.escape);
        if (vols.length === 0) throw fail('VOLUME requires at least one argument');
        c.Volumes = { ...(c.Volumes ?? {}) };
        for (const v of vols) {
          if (!v.trim()) throw fail('VOLUME specified can not be an empty string');
          c.Volumes[v] = {};
        }
        return `VOLUME [${vols.join(' ')}]`;
      }
      case 'ENTRYPOINT': {
        c.Entrypoint = ins.json ?? (ins.args ? [...ctx.shell, ins.args] : null);
        // An ENTRYPOINT resets an inherited CMD (dockerd: unless this stage set one).
        if (!ctx.cmdSet?.value) c.Cmd = null;
        return `ENTRYPOINT ${goList(c.Entrypoint ?? [])}`;
      }
      case 'CMD': {
        c.Cmd = commandOf(ins, ctx.shell);
        if (ctx.cmdSet) ctx.cmdSet.value = true;
        return `CMD ${goList(c.Cmd)}`;
      }
      case 'STOPSIGNAL': {
        const s = expandWord(ins.args, ctx.lookup, ctx.escape);
        if (!/^(SIG)?[A-Z0-9+-]+$/i.test(s)) throw fail(`Invalid signal: ${s}`);
        c.StopSignal = s;
        return `STOPSIGNAL ${s}`;
      }
      case 'SHELL': {
        if (!ins.json || ins.json.length === 0) throw fail('SHELL requires the arguments to be in JSON form');
        c.Shell = ins.json;
        return `SHELL ${goList(ins.json)}`;
      }
      case 'ONBUILD': {
        const trigger = ins.args.trim();
        const word = (splitWords(trigger)[0] ?? '').toUpperCase();
        if (!word) throw fail('ONBUILD requires at least one argument');
        if (word === 'ONBUILD') throw fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (word === 'FROM' || word === 'MAINTAINER') throw fail(`${word} isn't allowed as an ONBUILD trigger`);
        c.OnBuild = [...(c.OnBuild ?? []), trigger];
        return `ONBUILD ${trigger}`;
      }
      case 'HEALTHCHECK':
        return applyHealthcheck(ins, c, ctx);
      default:
        throw fail(`${ins.keyword} is not a config instruction`);
    }
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw e;
    throw fail((e as Error).message);
  }
}

function applyHealthcheck(ins: Instruction, c: RunConfig, ctx: EvalContext): string {
  const words = splitWords(ins.args);
  const kind = (words[0] ?? '').toUpperCase();
  if (kind === 'NONE') {
    if (words.length > 1 || Object.keys(ins.flags).length)
      throw new InvalidArgumentError('HEALTHCHECK NONE takes no arguments');
    c.Healthcheck = { Test: ['NONE'] };
    return 'HEALTHCHECK &{["NONE"] "0s" "0s" "0s" \'\\x00\'}';
  }
  if (kind !== 'CMD') throw new InvalidArgumentError(`Unknown type "${kind}" in HEALTHCHECK (try CMD)`);
  const rest = ins.args.trim().slice(3).trim();
  if (!rest) throw new InvalidArgumentError('Missing command after HEALTHCHECK CMD');
  const json = rest.startsWith('[')
    ? (() => {
        try {
          const v = JSON.parse(rest) as unknown;
          return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
        } catch {
          return undefined;
        }
      })()
    : undefined;
  const test = json ? ['CMD', ...json] : ['CMD-SHELL', rest];
  const hc: Record<string, unknown> = { Test: test };
  for (const [flag, key] of [
    ['interval', 'Interval'],
    ['timeout', 'Timeout'],
    ['start-period', 'StartPeriod'],
  ] as const) {
    if (ins.flags[flag] === undefined) continue;
    const d = parseDuration(ins.flags[flag], flag);
    if (d !== 0 && d < 1e6) throw new InvalidArgumentError(`Interval "${flag}" cannot be less than 1ms`);
    hc[key] = d;
  }
  if (ins.flags.retries !== undefined) {
    const r = Number(ins.flags.retries);
    // dockerd 20.10's words, for a build and for a --change alike (measured).
    if (!Number.isInteger(r) || r < 1)
      throw new InvalidArgumentError(`--retries must be at least 1 (not ${ins.flags.retries})`);
    hc.Retries = r;
  }
  for (const f of Object.keys(ins.flags))
    if (!['interval', 'timeout', 'start-period', 'retries'].includes(f))
      throw new InvalidArgumentError(`Unknown flag: ${f}`);
  void ctx;
  c.Healthcheck = hc;
  const { interval = '0s', timeout = '0s', 'start-period': startPeriod = '0s' } = ins.flags;
  return `HEALTHCHECK &{${goList(test)} "${interval}" "${timeout}" "${startPeriod}" '\\x00'}`;
}
