/**
 * `docker import --change`: Dockerfile instructions applied to an image's container config,
 * as dockerd 20.10's BuildFromConfig applies them. Only the instructions dockerd allows in a
 * change are taken (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, USER, VOLUME,
 * WORKDIR); any other is refused with dockerd's
 * `<name> is not a valid change command`. ENV, EXPOSE, LABEL, USER, VOLUME and WORKDIR see
 * `$VAR`, `${VAR}`, `${VAR:-word}` and `${VAR:+word}` from the config's Env, as in a build.
 */
import * as path from 'node:path';
import { InvalidArgumentError, NotImplementedError } from '../errors';

/** The container config an imported image carries (dockerd's container.Config fields). */
export interface ImportConfig {
  User: string;
  Env: string[] | null;
  Cmd: string[] | null;
  Entrypoint: string[] | null;
  WorkingDir: string;
  Labels: Record<string, string> | null;
  ExposedPorts?: Record<string, object>;
  Volumes: Record<string, object> | null;
  OnBuild: string[] | null;
  Healthcheck?: { Test: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds; undefined when `s` is not a duration. */
function goDuration(s: string): number | undefined {
  if (s === '0') return 0;
  const parts = [...s.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== s) return undefined;
  return Math.round(parts.reduce((n, p) => n + Number(p[1]) * DURATION_UNITS[p[2]], 0));
}

/** HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D] [--retries=N] CMD ... | NONE */
function healthcheck(rest: string): NonNullable<ImportConfig['Healthcheck']> {
  let r = rest;
  const hc: NonNullable<ImportConfig['Healthcheck']> = { Test: [] };
  for (;;) {
    const m = /^--([a-z-]+)=(\S*)\s*/.exec(r);
    if (!m) break;
    r = r.slice(m[0].length);
    const [, flag, value] = m;
    if (flag === 'retries') {
      if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`--retries must be at least 1 (not ${value})`);
      hc.Retries = Number(value);
      continue;
    }
    const key = ({ interval: 'Interval', timeout: 'Timeout', 'start-period': 'StartPeriod' } as const)[flag as 'interval'];
    if (!key) throw new InvalidArgumentError(`Unknown flag: ${flag}`);
    const d = goDuration(value);
    if (d === undefined) throw new InvalidArgumentError(/^\d+(\.\d*)?$/.test(value) ? `time: missing unit in duration ${JSON.stringify(value)}` : `time: invalid duration ${JSON.stringify(value)}`);
    if (d !== 0 && d < 1e6) throw new InvalidArgumentError(`Interval "${flag}" cannot be less than 1ms`);
    hc[key] = d;
  }
  const kind = (/^\S+/.exec(r)?.[0] ?? '').toUpperCase();
  const args = r.slice(kind.length).trim();
  if (kind === 'NONE') {
    if (args) throw new InvalidArgumentError('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (kind !== 'CMD') throw new InvalidArgumentError(`Unknown type "${kind}" in HEALTHCHECK (try CMD)`);
  const exec = jsonForm(args);
  hc.Test = exec ? ['CMD', ...exec] : ['CMD-SHELL', args];
  return hc;
}

const ALLOWED = new Set(['cmd', 'entrypoint', 'healthcheck', 'env', 'expose', 'label', 'onbuild', 'user', 'volume', 'workdir']);

function lookup(env: string[] | null, name: string): string | undefined {
  const hit = (env ?? []).filter((e) => e.startsWith(`${name}=`)).pop();
  return hit === undefined ? undefined : hit.slice(name.length + 1);
}

/**
 * Split `s` into words as dockerd's shell-word processing does: whitespace separates words
 * outside quotes, quotes are removed, `\` escapes the next character (not inside '...'),
 * and variables from `env` are expanded (not inside '...').
 */
export function shellWords(s: string, env: string[] | null): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else cur += c;
      continue;
    }
    if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (c === '$') {
      const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/.exec(s.slice(i));
      if (!m) {
        cur += c;
      } else {
        const v = lookup(env, m[1] ?? m[4]);
        if (m[2] === '-') cur += v ? v : m[3];
        else if (m[2] === '+') cur += v ? m[3] : '';
        else cur += v ?? '';
        i += m[0].length - 1;
      }
      inWord = true;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new InvalidArgumentError(`unexpected end of statement while looking for matching ${quote}`);
  if (inWord) words.push(cur);
  return words;
}

/** A JSON string array (the exec form), or undefined when `rest` is not one. */
function jsonForm(rest: string): string[] | undefined {
  if (!rest.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(rest) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/** `k=v k2="v 2"` pairs, or the legacy `k v w` form (one pair) that ENV and LABEL also take. */
function pairs(keyword: string, rest: string, env: string[] | null): Array<[string, string]> {
  const words = shellWords(rest, env);
  if (!words.length) throw new InvalidArgumentError(`${keyword.toUpperCase()} requires at least one argument`);
  if (!words[0].includes('=')) {
    const [k, ...v] = rest.trim().split(/\s+/);
    if (!v.length) throw new InvalidArgumentError(`${keyword.toUpperCase()} names can not be blank`);
    return [[k, shellWords(rest.trim().slice(k.length), env).join(' ')]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`${keyword.toUpperCase()} names can not be blank`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** Expand EXPOSE's `80`, `80/udp`, `8000-8002/tcp` into `port/proto` keys. */
function exposedPorts(word: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
  if (!m) throw new InvalidArgumentError(`Invalid containerPort: ${word}`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (hi < lo || hi > 65535) throw new InvalidArgumentError(`Invalid range specified for the Port: ${word}`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  return Array.from({ length: hi - lo + 1 }, (_, i) => `${lo + i}/${proto}`);
}

/** Apply `changes` (one instruction each) to a copy of `config`. InvalidArgumentError for a bad one. */
export function applyImportChanges(config: ImportConfig, changes: readonly string[]): ImportConfig {
  const c = JSON.parse(JSON.stringify(config)) as ImportConfig;
  let cmdSet = false;
  const lines = changes.join('\n').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of lines) {
    const keyword = /^\S+/.exec(line)![0].toLowerCase();
    const rest = line.slice(keyword.length).trim();
    if (!ALLOWED.has(keyword)) throw new InvalidArgumentError(`${keyword} is not a valid change command`);
    const cmdLine = (): string[] => jsonForm(rest) ?? ['/bin/sh', '-c', rest];
    switch (keyword) {
      case 'cmd':
        c.Cmd = cmdLine();
        cmdSet = true;
        break;
      case 'entrypoint':
        c.Entrypoint = rest === '' ? null : cmdLine();
        if (!cmdSet) c.Cmd = null;
        break;
      case 'env':
        for (const [k, v] of pairs(keyword, rest, c.Env)) c.Env = [...(c.Env ?? []).filter((e) => !e.startsWith(`${k}=`)), `${k}=${v}`];
        break;
      case 'label':
        c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(pairs(keyword, rest, c.Env)) };
        break;
      case 'expose':
        for (const w of shellWords(rest, c.Env)) for (const p of exposedPorts(w)) c.ExposedPorts = { ...(c.ExposedPorts ?? {}), [p]: {} };
        break;
      case 'user':
        c.User = shellWords(rest, c.Env).join(' ');
        if (!c.User) throw new InvalidArgumentError('USER requires exactly one argument');
        break;
      case 'volume':
        for (const v of jsonForm(rest) ?? shellWords(rest, c.Env)) {
          if (!v.trim()) throw new InvalidArgumentError('VOLUME specified can not be an empty string');
          c.Volumes = { ...(c.Volumes ?? {}), [v]: {} };
        }
        break;
      case 'workdir': {
        const dir = shellWords(rest, c.Env).join(' ');
        if (!dir) throw new InvalidArgumentError('WORKDIR requires exactly one argument');
        c.WorkingDir = path.posix.isAbsolute(dir) ? path.posix.normalize(dir) : path.posix.join('/', c.WorkingDir || '/', dir);
        break;
      }
      case 'onbuild': {
        const trigger = (/^\S+/.exec(rest)?.[0] ?? '').toUpperCase();
        if (!trigger) throw new InvalidArgumentError('ONBUILD requires at least one argument');
        if (['ONBUILD', 'FROM', 'MAINTAINER'].includes(trigger)) throw new InvalidArgumentError(`${trigger} isn't allowed as an ONBUILD trigger`);
        c.OnBuild = [...(c.OnBuild ?? []), rest];
        break;
      }
      case 'healthcheck':
        c.Healthcheck = healthcheck(rest);
        break;
      default:
        throw new NotImplementedError(`${keyword.toUpperCase()} in a change is not supported by podvisor`);
    }
  }
  return c;
}
