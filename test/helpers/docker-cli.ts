/**
 * The stock docker CLI run against a test daemon, for the compat tests: exit code and the
 * whole stdout and stderr, never a rejection (a test asserts on the code and the texts).
 */
import { spawn } from 'node:child_process';

/** What one docker CLI command printed, and its exit code (-1 when killed). */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/**
 * Run `docker <args>` with the daemon's environment (DOCKER_HOST). `input`, when given, is
 * written to its stdin, which is then closed; without it stdin is /dev/null. A command still
 * running after `timeoutMs` is killed.
 */
export function dockerCli(d: { env: NodeJS.ProcessEnv }, args: string[], input?: Buffer, timeoutMs = 120000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('docker', args, { env: d.env, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
  });
}
