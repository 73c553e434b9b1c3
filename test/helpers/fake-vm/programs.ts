/**
 * The fake guest's programs (what a FakeGuestProcess runs instead of a binary): true, false,
 * echo, cat, sleep, sh -c (a tiny interpreter: `;`, `exit N`, `trap '' TERM`, `>&2`), env, pwd,
 * id, hostname, ps, stty size, yes, head, the test helpers `trap-term` and `ignore-term`, and
 * `pause` (the agent's pod pause: runs until TERM or INT, then exits 0).
 */
import * as path from 'node:path';
import type { ExitStatus, ProcessUser } from '../../../src/vm/types';

export const SIGINT = 2;
export const SIGKILL = 9;
export const SIGTERM = 15;
/** Signals whose default action is to do nothing. */
export const IGNORED_BY_DEFAULT = new Set([17 /* CHLD */, 18 /* CONT */, 23 /* URG */, 28 /* WINCH */]);

/** What a fake program sees: its argv, environment and I/O. */
export interface FakeProcessContext {
  readonly args: string[];
  readonly env: string[];
  readonly cwd: string;
  readonly user: ProcessUser;
  readonly terminal: boolean;
  readonly pid: number;
  /** Terminal size (rows, cols); 0 when there is no terminal. */
  size(): { rows: number; cols: number };
  /** Write to stdout; resolves when the consumer has room (flow control). */
  write(data: string | Buffer): Promise<void>;
  /** Write to stderr (to stdout with a terminal). */
  writeErr(data: string | Buffer): Promise<void>;
  /** Next chunk of stdin, or null at EOF (always null when stdin is closed). */
  read(): Promise<Buffer | null>;
  /** Sleep, in milliseconds. */
  sleep(ms: number): Promise<void>;
  /** Handle a signal: a function (called instead of dying), 'ignore', or 'default'. */
  trap(signal: number, action: ((signal: number) => void) | 'ignore' | 'default'): void;
  /** Files of the container (read-only view used by `cat`, `hostname`). */
  readFile(p: string): Buffer | undefined;
  /** End the process now with this status (a trap's `exit N`). */
  exit(status: ExitStatus): void;
  /** The processes of this VM, for `ps`. */
  processes(): Array<{ pid: number; args: string[]; user: ProcessUser }>;
  /** Programs a shell in this VM can run. */
  readonly programs: ReadonlyMap<string, FakeProgram>;
}

/** A fake program: resolves with its exit code. */
export type FakeProgram = (ctx: FakeProcessContext) => Promise<number>;

/** Thrown inside programs to end them at once with a status (exit N, or death by signal). */
export class ProgramExit {
  constructor(readonly status: ExitStatus) {}
}

export function str(b: string | Buffer): Buffer {
  return typeof b === 'string' ? Buffer.from(b) : b;
}

async function readAll(ctx: FakeProcessContext): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let c = await ctx.read(); c; c = await ctx.read()) parts.push(c);
  return Buffer.concat(parts);
}

/** Split a tiny shell script into commands on `;`, `&&`-free, honouring single/double quotes. */
export function splitShell(script: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < script.length; i++) {
    const ch = script[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < script.length) cur += script[++i];
      else cur += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < script.length) {
      cur += script[++i];
      inWord = true;
    } else if (ch === ';' || ch === '\n') {
      if (inWord) words.push(cur);
      if (words.length) commands.push(words);
      words = [];
      cur = '';
      inWord = false;
    } else if (ch === ' ' || ch === '\t') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  if (words.length) commands.push(words);
  return commands;
}

const SIGNAL_NAMES: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, USR1: 10, USR2: 12, TERM: 15 };

/** The built-in programs. */
export const FAKE_PROGRAMS: ReadonlyMap<string, FakeProgram> = new Map<string, FakeProgram>([
  ['true', async () => 0],
  ['false', async () => 1],
  [
    'echo',
    async (ctx) => {
      let a = ctx.args.slice(1);
      let nl = '\n';
      if (a[0] === '-n') {
        nl = '';
        a = a.slice(1);
      }
      await ctx.write(a.join(' ') + nl);
      return 0;
    },
  ],
  [
    'cat',
    async (ctx) => {
      if (ctx.args.length > 1) {
        for (const f of ctx.args.slice(1)) {
          const data = ctx.readFile(f);
          if (!data) {
            await ctx.writeErr(`cat: can't open '${f}': No such file or directory\n`);
            return 1;
          }
          await ctx.write(data);
        }
        return 0;
      }
      for (let c = await ctx.read(); c; c = await ctx.read()) await ctx.write(c);
      return 0;
    },
  ],
  [
    'sleep',
    async (ctx) => {
      await ctx.sleep(Number(ctx.args[1] ?? '0') * 1000);
      return 0;
    },
  ],
  [
    'env',
    async (ctx) => {
      await ctx.write(ctx.env.map((e) => e + '\n').join(''));
      return 0;
    },
  ],
  [
    'pwd',
    async (ctx) => {
      await ctx.write(ctx.cwd + '\n');
      return 0;
    },
  ],
  [
    'id',
    async (ctx) => {
      const u = ctx.user;
      const flag = ctx.args[1];
      if (flag === '-u') await ctx.write(`${u.uid}\n`);
      else if (flag === '-g') await ctx.write(`${u.gid}\n`);
      else if (flag === '-G') await ctx.write(`${[u.gid, ...u.additionalGids].join(' ')}\n`);
      else
        await ctx.write(
          `uid=${u.uid} gid=${u.gid}${u.additionalGids.length ? ` groups=${u.additionalGids.join(',')}` : ''}\n`,
        );
      return 0;
    },
  ],
  [
    'read',
    async (ctx) => {
      // The shell's `read VAR`: one line of stdin (the value is not kept: this shell has no variables).
      for (let c = await ctx.read(); c; c = await ctx.read()) if (c.includes(10)) return 0;
      return 1;
    },
  ],
  [
    'hostname',
    async (ctx) => {
      await ctx.write(ctx.readFile('/etc/hostname') ?? 'localhost\n');
      return 0;
    },
  ],
  [
    'ps',
    async (ctx) => {
      let out = 'PID   USER     TIME  COMMAND\n';
      for (const p of ctx.processes()) {
        out += `${String(p.pid).padStart(5)} ${String(p.user.uid === 0 ? 'root' : p.user.uid).padEnd(8)} 0:00 ${p.args.join(' ')}\n`;
      }
      await ctx.write(out);
      return 0;
    },
  ],
  [
    'stty',
    async (ctx) => {
      if (!ctx.terminal) {
        await ctx.writeErr('stty: standard input: Not a tty\n');
        return 1;
      }
      const s = ctx.size();
      await ctx.write(`${s.rows} ${s.cols}\n`);
      return 0;
    },
  ],
  [
    'yes',
    async (ctx) => {
      const line = (ctx.args[1] ?? 'y') + '\n';
      const chunk = line.repeat(Math.max(1, Math.floor(4096 / line.length)));
      for (;;) await ctx.write(chunk);
    },
  ],
  [
    'head',
    async (ctx) => {
      // head -c N: the first N bytes of stdin.
      const n = ctx.args[1] === '-c' ? Number(ctx.args[2]) : Infinity;
      const data = (await readAll(ctx)).subarray(0, n);
      await ctx.write(data);
      return 0;
    },
  ],
  [
    'pause',
    async (ctx) => {
      let done = false;
      const end = () => {
        done = true;
      };
      ctx.trap(SIGTERM, end);
      ctx.trap(SIGINT, end);
      while (!done) await ctx.sleep(10);
      return 0;
    },
  ],
  [
    'trap-term',
    async (ctx) => {
      let got = false;
      ctx.trap(SIGTERM, () => {
        got = true;
      });
      await ctx.write('waiting\n');
      while (!got) await ctx.sleep(10);
      await ctx.write('got TERM\n');
      return 0;
    },
  ],
  [
    'ignore-term',
    async (ctx) => {
      ctx.trap(SIGTERM, 'ignore');
      await ctx.write('ignoring TERM\n');
      for (;;) await ctx.sleep(1000);
    },
  ],
  [
    'sh',
    async (ctx) => {
      if (ctx.args[1] !== '-c') {
        // An interactive-ish shell: run each stdin line as a script.
        let status = 0;
        let pending = '';
        for (let c = await ctx.read(); c; c = await ctx.read()) {
          pending += c.toString();
          let nl: number;
          while ((nl = pending.search(/\r|\n/)) >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            status = await runScript(ctx, line);
          }
        }
        return status;
      }
      return runScript(ctx, ctx.args[2] ?? '');
    },
  ],
]);

/** The mini shell: runs `;`-separated commands, returns the last status. */
async function runScript(ctx: FakeProcessContext, script: string): Promise<number> {
  let status = 0;
  for (const cmd of splitShell(script)) {
    let words = cmd;
    let toErr = false;
    if (words[words.length - 1] === '>&2' || words[words.length - 1] === '1>&2') {
      toErr = true;
      words = words.slice(0, -1);
    }
    const [name, ...rest] = words;
    if (name === 'exit') throw new ProgramExit({ exitCode: Number(rest[0] ?? status) & 255 });
    if (name === 'trap') {
      const action = rest[0];
      for (const s of rest.slice(1)) {
        const n = SIGNAL_NAMES[s.replace(/^SIG/, '')] ?? Number(s);
        if (action === '') ctx.trap(n, 'ignore');
        else if (action === '-') ctx.trap(n, 'default');
        else {
          const inner = action;
          ctx.trap(n, () => {
            void runScript(ctx, inner).catch((e: unknown) => {
              if (e instanceof ProgramExit) ctx.exit(e.status);
            });
          });
        }
      }
      status = 0;
      continue;
    }
    const prog = ctx.programs.get(path.basename(name));
    if (!prog) {
      await ctx.writeErr(`sh: ${name}: not found\n`);
      status = 127;
      continue;
    }
    const sub: FakeProcessContext = toErr ? { ...ctx, args: words, write: ctx.writeErr } : { ...ctx, args: words };
    status = await prog(sub);
  }
  return status;
}
