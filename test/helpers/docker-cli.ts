/**
 * The stock docker CLI run against a test daemon, for the compat tests: exit code and the
 * whole stdout and stderr, never a rejection (a test asserts on the code and the texts).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as net from 'node:net';

/** What one docker CLI command printed, and its exit code (-1 when killed). */
export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/**
 * The daemon's environment with the CLI pinned at API `version` (DOCKER_API_VERSION), as a
 * client of that version talks to it: to compare podvisor with dockerd 20.10 (API 1.41) where
 * the answer depends on the version.
 */
export function pinnedAt(d: { env: NodeJS.ProcessEnv }, version: string): { env: NodeJS.ProcessEnv } {
  return { env: { ...d.env, DOCKER_API_VERSION: version } };
}

/**
 * Run `docker <args>` with the daemon's environment (DOCKER_HOST). `input`, when given, is
 * written to its stdin, which is then closed; without it stdin is /dev/null. A command still
 * running after `timeoutMs` is killed.
 */
export function dockerCli(
  d: { env: NodeJS.ProcessEnv },
  args: string[],
  input?: Buffer,
  timeoutMs = 120000,
): Promise<CliResult> {
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

/**
 * Run `docker <args>` with the daemon's environment and wait for it (stdin /dev/null):
 * stdout and stderr trimmed, the exit code (-1 when killed after `timeoutMs`).
 */
export function dockerSync(d: { env: NodeJS.ProcessEnv }, args: string[], timeoutMs = 120000): CliResult {
  const r = spawnSync('docker', args, { env: d.env, encoding: 'utf8', timeout: timeoutMs });
  return { out: r.stdout.trim(), err: r.stderr.trim(), code: r.status ?? -1 };
}

/** dockerSync that must succeed: its stdout, or an error carrying the command and its stderr. */
export function dockerOk(d: { env: NodeJS.ProcessEnv }, args: string[], timeoutMs = 120000): string {
  const r = dockerSync(d, args, timeoutMs);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.err}`);
  return r.out;
}

/** Ports this process handed out already: the kernel may offer a closed one again at once. */
const givenPorts = new Set<number>();

/** One port the kernel offers as free on every address now. */
function offeredPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '0.0.0.0', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/**
 * A TCP port free on the host now (to publish a container's port on), never one this process
 * got before: two calls in a row could otherwise get the same port, and a test publishing both
 * found its own first binding in the way.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await offeredPort();
    if (givenPorts.has(port)) continue;
    givenPorts.add(port);
    return port;
  }
}
