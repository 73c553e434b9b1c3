/**
 * A command under a real pseudo-terminal, via util-linux `script -qec <cmd> /dev/null`: what
 * we write goes to the terminal's input (as typed keys), what the program prints comes back.
 * Used to drive `docker run -it` the way a user at a terminal does.
 *
 *   const t = ptySession('stty rows 30 cols 90; exec docker run -it busybox sh', env);
 *   await t.expect(/# $/);          // wait for the prompt
 *   t.type('echo hi\r');
 *   await t.expect(/hi\r\n/);
 *   const code = await t.exited;
 */
import { spawn } from 'node:child_process';
import { OutputWatcher } from './output-watcher';

/** A running terminal session. */
export interface PtySession {
  /** Everything printed so far (terminal output, including echoed input). */
  output(): string;
  /** Send keys. */
  type(keys: string): void;
  /** Resolves when the output (from `from` on) matches; rejects after `timeoutMs`. */
  expect(re: RegExp, timeoutMs?: number, from?: number): Promise<void>;
  /** Exit code of the command. */
  exited: Promise<number>;
  /** Kill the session. */
  kill(): void;
}

/** Start `shellCommand` (run by sh) under a pseudo-terminal. */
export function ptySession(shellCommand: string, env: NodeJS.ProcessEnv): PtySession {
  const child = spawn('script', ['-qec', shellCommand, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const watcher = new OutputWatcher();
  child.stdout.on('data', (d: Buffer) => watcher.append(d));
  child.stderr.on('data', (d: Buffer) => watcher.append(d));
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? 9 : 0))),
  );
  return {
    output: () => watcher.text(),
    type: (keys) => {
      child.stdin.write(keys);
    },
    expect: (re, timeoutMs = 30000, from = 0) => watcher.expect(re, timeoutMs, from),
    exited,
    kill: () => child.kill('SIGKILL'),
  };
}
