/**
 * Running the `podvisor` CLI (bin/podvisor) against a test daemon, as a user runs it:
 * `podvisor(d, args)` gives its exit code and output, `podvisorOk(d, args)` its stdout or an
 * error naming the command.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { TestDaemon } from './daemon';

/** The CLI's entry point in this tree. */
export const PODVISOR_BIN = path.resolve(__dirname, '../../bin/podvisor');

/** What a CLI run gave. */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Run bin/podvisor against the test daemon (PODVISOR_HOST); killed after `timeoutMs` (120 s). */
export function podvisor(d: TestDaemon, args: string[], timeoutMs = 120000): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [PODVISOR_BIN, ...args], {
      env: { ...process.env, PODVISOR_HOST: d.dockerHost },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
  });
}

/** Run it and expect success; its stdout. */
export async function podvisorOk(d: TestDaemon, args: string[], timeoutMs?: number): Promise<string> {
  const r = await podvisor(d, args, timeoutMs);
  if (r.code !== 0) throw new Error(`podvisor ${args.join(' ')} exited ${r.code}: ${r.err}`);
  return r.out;
}
