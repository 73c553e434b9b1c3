/**
 * Helpers for tests that drive the real guest agent (host test mode or in a VM): building
 * the agent, a busybox rootfs, and collecting a process's output and exit status.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { Agent, AgentProcess, ExitStatus, ProcessSpec } from '../../src/vm/types';

export const REPO_ROOT = path.resolve(__dirname, '../..');

/** Build the agent with its Makefile into `outDir`; returns the binary's path. */
export function buildAgent(outDir: string): string {
  execFileSync('make', ['-s', '-C', path.join(REPO_ROOT, 'guest/agent'), `OUT=${outDir}`], { stdio: 'pipe' });
  return path.join(outDir, 'podvisor-agent');
}

/**
 * A minimal rootfs: /bin/busybox (the host's static one, apt package busybox-static) with a
 * symlink per applet, /etc/passwd and /etc/group, /tmp.
 */
export function makeBusyboxRootfs(dir: string, passwdMarker = 'container-root'): void {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true, mode: 0o1777 });
  fs.copyFileSync('/bin/busybox', path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) {
    if (a === 'busybox') continue;
    fs.symlinkSync('busybox', path.join(dir, 'bin', a));
  }
  fs.writeFileSync(
    path.join(dir, 'etc/passwd'),
    `root:x:0:0:${passwdMarker}:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n`,
  );
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** All bytes of a stream until it ends (rejects when it errors). */
export function collect(stream: Readable | null): Promise<Buffer> {
  if (!stream) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    stream.resume(); // waitForOutput may have paused it
  });
}

/**
 * Resolves once `stream` has produced output matching `re`. When nothing else reads the
 * stream it is paused afterwards, so a later collect() still sees the rest and the end.
 */
export function waitForOutput(stream: Readable, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (c: Buffer) => {
      seen += c.toString('latin1');
      if (re.test(seen)) {
        stream.removeListener('data', onData);
        // Without other readers, hold the rest (and the end) for a later collect().
        if (stream.listenerCount('data') === 0) stream.pause();
        resolve(seen);
      }
    };
    stream.on('data', onData);
    stream.on('error', reject);
    stream.on('end', () => reject(new Error(`stream ended without ${re}: ${JSON.stringify(seen.slice(-500))}`)));
  });
}

/** What a finished process produced. */
export interface RunResult {
  stdout: string;
  stderr: string;
  status: ExitStatus;
}

let seq = 0;

/** A ProcessSpec with test defaults (root, PATH=/bin, cwd /, no TTY, no stdin). */
export function spec(containerId: string, args: string[], over: Partial<ProcessSpec> = {}): ProcessSpec {
  return {
    containerId,
    processId: `p${process.pid}-${++seq}`,
    args,
    env: ['PATH=/bin', 'HOME=/root'],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    terminal: false,
    stdin: false,
    ...over,
  };
}

/** Start a process and wait for it: its output and exit status. */
export async function run(
  agent: Agent,
  containerId: string,
  args: string[],
  over: Partial<ProcessSpec> = {},
): Promise<RunResult> {
  const p = await agent.startProcess(spec(containerId, args, over));
  return finish(p);
}

/** Collect a started process's output and exit status. */
export async function finish(p: AgentProcess): Promise<RunResult> {
  const [out, err, status] = await Promise.all([collect(p.stdout), collect(p.stderr), p.exited]);
  return { stdout: out.toString('utf8'), stderr: err.toString('utf8'), status };
}
