/**
 * `docker top`'s table rendered on the host from the guest's process records, in the titles
 * and value formats of procps' `ps` (procps-ng 4, as Debian's dockerd runs it on its host), so
 * that `docker top` needs no `ps` in the image.
 *
 * parsePsArgs reads the ps_args people use: nothing or `-ef` (UID PID PPID C STIME TTY TIME
 * CMD), `-f`, `aux`/`u` (USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND), `-e`/`-A`
 * (PID TTY TIME CMD), `ax`/`x` (PID TTY STAT TIME COMMAND), and user-defined columns with
 * `-o`/`o`/`--format` (also `-eo`, `axo`, several `-o`, `name=Header`, `name:width`).
 * Process selection options (-e -A -a -d a x g) change nothing: dockerd shows every process of
 * the container whatever they say. Anything else (-l, j, --forest, -p, --sort...) is refused
 * with ps's kind of error, which dockerd answers with a 500.
 *
 * renderTable makes the rows: one per process, values as ps prints them (times in the
 * daemon's time zone, user names from the container's /etc/passwd, truncated to the column
 * with a '+' as ps does).
 */
import { PodvisorError } from '../../../errors';
import type { GuestProcessTable, GuestTask } from '../../../pod/service';

/** A process table in Docker's shape: column titles and one row per process. */
export interface ProcessTable {
  titles: string[];
  processes: string[][];
}

/** An error dockerd reports from ps, or from its own checks of ps_args and ps's output: a 500. */
export class PsError extends PodvisorError {}

/** One column: the field it shows and its title. */
export interface PsColumn {
  field: string;
  title: string;
  /** Width given with `name:width` (only the user and group columns use it). */
  width?: number;
}

/** What renderTable needs beside the guest's records. */
export interface RenderContext {
  /** The host's clock when the table was read (ms since the epoch). */
  now: number;
  /** uid -> user name, gid -> group name (the container's /etc/passwd and /etc/group). */
  users: Map<number, string>;
  groups: Map<number, string>;
}

interface Derived {
  t: GuestTask;
  /** CPU time in whole seconds, and in ticks. */
  cpuTicks: number;
  /** Seconds since it started (procps' integer elapsed time). */
  elapsed: number;
  /** Its start, ms since the epoch (host clock). */
  startedAt: number;
}

type Render = (d: Derived, g: GuestProcessTable, ctx: RenderContext, col: PsColumn) => string;

const pad2 = (n: number) => String(n).padStart(2, '0');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** A name cut to the column as ps does: one character less and a '+'. */
function fit(name: string, col: PsColumn): string {
  const width = Math.max(col.width ?? 8, col.title.length);
  return name.length > width ? `${name.slice(0, width - 1)}+` : name;
}

const userName = (uid: number, ctx: RenderContext, col: PsColumn) => fit(ctx.users.get(uid) ?? String(uid), col);
const groupName = (gid: number, ctx: RenderContext, col: PsColumn) => fit(ctx.groups.get(gid) ?? String(gid), col);

/** A terminal's name from /proc's tty_nr, as ps prints it ("pts/0", "tty1", "?"). */
export function ttyName(nr: number): string {
  if (nr === 0) return '?';
  const major = (nr >>> 8) & 0xfff;
  const minor = (nr & 0xff) | ((nr >>> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${minor + (major - 136) * 256}`;
  if (major === 4) return minor < 64 ? `tty${minor}` : `ttyS${minor - 64}`;
  if (major === 5 && minor === 1) return 'console';
  return '?';
}

/** Control characters are shown as '?', as ps does. */
// eslint-disable-next-line no-control-regex
const printable = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, '?');

function args(t: GuestTask): string {
  if (t.args.length === 0) return t.state === 'Z' ? `[${printable(t.comm)}] <defunct>` : `[${printable(t.comm)}]`;
  return printable(t.args.join(' '));
}
const comm = (t: GuestTask) => printable(t.comm) + (t.state === 'Z' ? ' <defunct>' : '');

/** [DD-]HH:MM:SS (TIME). */
function cputime(secs: number): string {
  const dd = Math.floor(secs / 86400);
  const s = `${pad2(Math.floor(secs / 3600) % 24)}:${pad2(Math.floor(secs / 60) % 60)}:${pad2(secs % 60)}`;
  return dd ? `${dd}-${s}` : s;
}

/** [[DD-]HH:]MM:SS (ELAPSED). */
function etime(secs: number): string {
  const dd = Math.floor(secs / 86400);
  const hh = Math.floor(secs / 3600) % 24;
  const ms = `${pad2(Math.floor(secs / 60) % 60)}:${pad2(secs % 60)}`;
  if (dd) return `${dd}-${pad2(hh)}:${ms}`;
  return hh ? `${pad2(hh)}:${ms}` : ms;
}

/** Tenths as ps prints a percentage ("0.0", "12.5"; whole numbers from 100 on). */
const tenths = (n: number) => (n > 999 ? String(Math.floor(n / 10)) : `${Math.floor(n / 10)}.${n % 10}`);

/** STIME / START: HH:MM today, MmmDD this year, else the year. */
function stime(startedAt: number, now: number): string {
  const s = new Date(startedAt);
  const n = new Date(now);
  if (s.getFullYear() !== n.getFullYear()) return String(s.getFullYear());
  const sameDay = s.getMonth() === n.getMonth() && s.getDate() === n.getDate();
  return sameDay ? `${pad2(s.getHours())}:${pad2(s.getMinutes())}` : `${MONTHS[s.getMonth()]}${pad2(s.getDate())}`;
}

/** STARTED (start): HH:MM:SS within 24 hours, else "Mmm DD". */
function started(startedAt: number, now: number): string {
  const s = new Date(startedAt);
  if (startedAt + 24 * 3600 * 1000 > now)
    return `${pad2(s.getHours())}:${pad2(s.getMinutes())}:${pad2(s.getSeconds())}`;
  return `${MONTHS[s.getMonth()]} ${pad2(s.getDate())}`;
}

/** STARTED (lstart): ctime's "Tue Nov  5 18:34:26 2026". */
function lstart(startedAt: number): string {
  const s = new Date(startedAt);
  const time = `${pad2(s.getHours())}:${pad2(s.getMinutes())}:${pad2(s.getSeconds())}`;
  return `${DAYS[s.getDay()]} ${MONTHS[s.getMonth()]} ${String(s.getDate()).padStart(2)} ${time} ${s.getFullYear()}`;
}

/** STAT: the state letter and ps's flags (< N s l +). */
function stat(t: GuestTask): string {
  let s = t.state;
  if (t.nice < 0) s += '<';
  else if (t.nice > 0) s += 'N';
  if (t.sid === t.pid) s += 's';
  if (t.threads > 1) s += 'l';
  if (t.tty !== 0 && t.tpgid !== 0 && t.tpgid === t.pgid) s += '+';
  return s;
}

function pcpu(d: Derived, g: GuestProcessTable): number {
  return d.elapsed ? Math.floor(Math.floor((d.cpuTicks * 1000) / g.clockTicks) / d.elapsed) : 0;
}

/** Every field podvisor renders: its default title and how its value is printed. */
const FIELDS: Record<string, { title: string; render: Render }> = {};
function field(names: string[], title: string, render: Render): void {
  for (const n of names) FIELDS[n] = { title, render };
}
field(['pid'], 'PID', (d) => String(d.t.pid));
field(['ppid'], 'PPID', (d) => String(d.t.ppid));
field(['pgid'], 'PGID', (d) => String(d.t.pgid));
field(['pgrp'], 'PGRP', (d) => String(d.t.pgid));
field(['sid'], 'SID', (d) => String(d.t.sid));
field(['sess', 'session'], 'SESS', (d) => String(d.t.sid));
field(['tpgid'], 'TPGID', (d) => (d.t.tpgid ? String(d.t.tpgid) : '-1'));
field(['user', 'uname'], 'USER', (d, _g, ctx, col) => userName(d.t.uid, ctx, col));
field(['euser'], 'EUSER', (d, _g, ctx, col) => userName(d.t.uid, ctx, col));
field(['uid'], 'UID', (d) => String(d.t.uid));
field(['euid'], 'EUID', (d) => String(d.t.uid));
field(['gid'], 'GID', (d) => String(d.t.gid));
field(['egid'], 'EGID', (d) => String(d.t.gid));
field(['group'], 'GROUP', (d, _g, ctx, col) => groupName(d.t.gid, ctx, col));
field(['egroup'], 'EGROUP', (d, _g, ctx, col) => groupName(d.t.gid, ctx, col));
field(['comm', 'ucomm'], 'COMMAND', (d) => comm(d.t));
field(['ucmd'], 'CMD', (d) => comm(d.t));
field(['fname'], 'COMMAND', (d) => printable(d.t.comm).slice(0, 8));
field(['args', 'command'], 'COMMAND', (d) => args(d.t));
field(['cmd'], 'CMD', (d) => args(d.t));
field(['pcpu', '%cpu'], '%CPU', (d, g) => tenths(pcpu(d, g)));
field(['c'], 'C', (d, g) =>
  String(Math.min(99, d.elapsed ? Math.floor(Math.floor((d.cpuTicks * 100) / g.clockTicks) / d.elapsed) : 0)),
);
field(['pmem', '%mem'], '%MEM', (d, g) =>
  tenths(g.memTotalKiB ? Math.min(999, Math.floor((d.t.rssKiB * 1000) / g.memTotalKiB)) : 0),
);
field(['vsz', 'vsize'], 'VSZ', (d) => String(d.t.vszKiB));
field(['rss', 'rssize'], 'RSS', (d) => String(d.t.rssKiB));
field(['rsz'], 'RSZ', (d) => String(d.t.rssKiB));
field(['sz'], 'SZ', (d) => String(Math.floor(d.t.vszKiB / 4)));
field(['tty', 'tt'], 'TT', (d) => ttyName(d.t.tty));
field(['tname'], 'TTY', (d) => ttyName(d.t.tty));
field(['stat'], 'STAT', (d) => stat(d.t));
field(['s', 'state'], 'S', (d) => d.t.state);
field(['time', 'cputime'], 'TIME', (d, g) => cputime(Math.floor(d.cpuTicks / g.clockTicks)));
field(['bsdtime'], 'TIME', (d, g) => {
  const secs = Math.floor(d.cpuTicks / g.clockTicks);
  return `${Math.floor(secs / 60)}:${pad2(secs % 60)}`;
});
field(['cputimes', 'times'], 'TIME', (d, g) => String(Math.floor(d.cpuTicks / g.clockTicks)));
field(['etime'], 'ELAPSED', (d) => etime(d.elapsed));
field(['etimes'], 'ELAPSED', (d) => String(d.elapsed));
field(['stime'], 'STIME', (d, _g, ctx) => stime(d.startedAt, ctx.now));
field(['start_time'], 'START', (d, _g, ctx) => stime(d.startedAt, ctx.now));
field(['start'], 'STARTED', (d, _g, ctx) => started(d.startedAt, ctx.now));
field(['lstart'], 'STARTED', (d) => lstart(d.startedAt));
field(['nlwp'], 'NLWP', (d) => String(d.t.threads));
field(['thcount'], 'THCNT', (d) => String(d.t.threads));
field(['ni', 'nice'], 'NI', (d) => String(d.t.nice));

/** Fields procps has that podvisor does not render: a clear refusal rather than ps's "unknown". */
const NOT_RENDERED = new Set(
  [
    'addr',
    'blocked',
    'bsdstart',
    'caught',
    'cgname',
    'cgroup',
    'class',
    'cls',
    'cp',
    'drs',
    'eip',
    'esp',
    'environ',
    'f',
    'flag',
    'flags',
    'fgid',
    'fgroup',
    'fuid',
    'fuser',
    'ignored',
    'ipcns',
    'label',
    'lwp',
    'lxc',
    'maj_flt',
    'min_flt',
    'mntns',
    'netns',
    'nwchan',
    'pending',
    'pidns',
    'policy',
    'pri',
    'psr',
    'rgid',
    'rgroup',
    'rtprio',
    'ruid',
    'ruser',
    'sched',
    'seat',
    'sgi_p',
    'sig',
    'sigcatch',
    'sigignore',
    'sigmask',
    'size',
    'slice',
    'spid',
    'stackp',
    'suid',
    'suser',
    'svgid',
    'svuid',
    'sgid',
    'sgroup',
    'tid',
    'trs',
    'tsig',
    'unit',
    'userns',
    'utsns',
    'uunit',
    'wchan',
    'pss',
    'uss',
  ].filter((f) => !(f in FIELDS)),
);

const F_FORMAT: PsColumn[] = [
  { field: 'user', title: 'UID' },
  { field: 'pid', title: 'PID' },
  { field: 'ppid', title: 'PPID' },
  { field: 'c', title: 'C' },
  { field: 'stime', title: 'STIME' },
  { field: 'tname', title: 'TTY' },
  { field: 'time', title: 'TIME' },
  { field: 'cmd', title: 'CMD' },
];
const U_FORMAT: PsColumn[] = [
  'user',
  'pid',
  '%cpu',
  '%mem',
  'vsz',
  'rss',
  'tname',
  'stat',
  'start_time',
  'bsdtime',
  'args',
].map((f) => ({
  field: f,
  title: FIELDS[f].title,
}));
const DEFAULT_FORMAT: PsColumn[] = ['pid', 'tname', 'time', 'ucmd'].map((f) => ({ field: f, title: FIELDS[f].title }));
const BSD_FORMAT: PsColumn[] = ['pid', 'tname', 'stat', 'bsdtime', 'args'].map((f) => ({
  field: f,
  title: FIELDS[f].title,
}));

/** A user-defined format list (`pid,comm=NAME`, `pid user:20`): its columns. */
function formatList(spec: string): PsColumn[] {
  const out: PsColumn[] = [];
  // name[:width][=Header], separated by commas or blanks (the header ends at either, as in ps).
  for (const m of spec.matchAll(/([^\s,=:]*)(?::(\d*))?(?:=([^\s,]*))?/g)) {
    if (m[0] === '') continue;
    const name = m[1].toLowerCase();
    const def = FIELDS[name];
    if (!def) {
      if (NOT_RENDERED.has(name))
        throw new PsError(
          `ps: podvisor renders the process table from the guest's /proc and does not render the "${m[1]}" column`,
        );
      throw new PsError(`ps: error: unknown user-defined format specifier "${m[1]}"`);
    }
    const width = m[2] ? Number(m[2]) : undefined;
    out.push({ field: name, title: m[3] ?? def.title, ...(width ? { width } : {}) });
  }
  if (out.length === 0) throw new PsError('ps: error: improper format list');
  return out;
}

/** dockerd's check of ps_args (daemon/top_unix.go): only `pid` may be renamed to a PID title. */
function checkRenames(psArgs: string): void {
  for (const m of psArgs.matchAll(/\s+(\S*)=\s*(PID\S*)/g)) {
    if (m[1] !== 'pid') throw new PsError(`specifying "${m[1]}=${m[2]}" is not allowed`);
  }
}

const unsupported = (what: string) =>
  new PsError(
    `ps: podvisor renders the process table from the guest's /proc and does not support the ps option ${JSON.stringify(what)} ` +
      '(it renders -e -f -A, a u x, and columns chosen with -o, o or --format)',
  );

/** The columns ps would print for `psArgs` (dockerd's default, -ef, when empty). */
export function parsePsArgs(psArgs: string): PsColumn[] {
  checkRenames(psArgs);
  const tokens = psArgs.split(/\s+/).filter(Boolean);
  if (tokens.length === 0) tokens.push('-ef');
  const user: PsColumn[] = [];
  let full = false;
  let bsdUser = false;
  let bsd = false;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    const next = (opt: string): string => {
      if (i + 1 >= tokens.length) throw new PsError(`ps: error: list of ${opt} is missing`);
      return tokens[++i];
    };
    if (tok.startsWith('--')) {
      const [name, value] = tok.includes('=')
        ? [tok.slice(0, tok.indexOf('=')), tok.slice(tok.indexOf('=') + 1)]
        : [tok, undefined];
      if (name === '--format') user.push(...formatList(value ?? next('format specifiers')));
      else if (
        name === '--cols' ||
        name === '--columns' ||
        name === '--width' ||
        name === '--lines' ||
        name === '--rows'
      ) {
        if (value === undefined) next('a width');
      } else throw unsupported(tok);
      continue;
    }
    const unix = tok.startsWith('-');
    const letters = unix ? tok.slice(1) : tok;
    if (!letters) throw unsupported(tok);
    for (let k = 0; k < letters.length; k++) {
      const ch = letters[k];
      if (ch === 'o' || ch === 'O') {
        if (ch === 'O') throw unsupported(tok);
        const restOfToken = letters.slice(k + 1);
        user.push(...formatList(restOfToken || next('format specifiers')));
        break;
      }
      if (unix) {
        if (ch === 'e' || ch === 'A' || ch === 'a' || ch === 'd' || ch === 'w') continue;
        if (ch === 'f') {
          full = true;
          continue;
        }
      } else {
        if (ch === 'a' || ch === 'x' || ch === 'g' || ch === 'w') {
          bsd = true;
          continue;
        }
        if (ch === 'u') {
          bsdUser = true;
          continue;
        }
      }
      throw unsupported(tok);
    }
  }
  if (user.length) return user;
  if (bsdUser) return U_FORMAT;
  if (full) return F_FORMAT;
  return bsd ? BSD_FORMAT : DEFAULT_FORMAT;
}

/**
 * The table of `columns` for the guest's records. Like dockerd, a table without a PID column
 * is refused ("Couldn't find PID field in ps output").
 */
export function renderTable(columns: PsColumn[], g: GuestProcessTable, ctx: RenderContext): ProcessTable {
  if (!columns.some((c) => c.title === 'PID')) throw new PsError("Couldn't find PID field in ps output");
  const uptimeSecs = g.uptimeMs / 1000;
  const processes = g.tasks.map((t) => {
    const startSecs = t.startTicks / g.clockTicks;
    const d: Derived = {
      t,
      cpuTicks: t.utime + t.stime,
      elapsed: Math.max(0, Math.floor(uptimeSecs - startSecs)),
      startedAt: ctx.now - Math.max(0, g.uptimeMs - startSecs * 1000),
    };
    return columns.map((c) => FIELDS[c.field].render(d, g, ctx, c));
  });
  return { titles: columns.map((c) => c.title), processes };
}
