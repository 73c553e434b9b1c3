/**
 * A lock shared by every process on the host, for choices that must not race between daemons
 * (two podvisord started at once both found the same subnet free and both took it).
 *
 *   await withHostLock('/run/lock/podvisor-networks.lock', async () => { ...choose, then claim... });
 *
 * The holder is a flock(1) child (util-linux, in every Debian): it takes the lock, says so on
 * its stdout, and keeps it until its stdin, a pipe from this process, closes. So the lock goes
 * when `fn` settles, and also when this process dies, however it dies.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Run `fn` holding the host-wide lock of `file`; waits at most `waitMs` for it. */
export async function withHostLock<T>(file: string, fn: () => Promise<T>, waitMs = 30000): Promise<T> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const holder = spawn(
    'flock',
    ['-x', '-w', String(Math.max(1, Math.ceil(waitMs / 1000))), file, 'sh', '-c', 'echo locked; exec cat >/dev/null'],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => {
    holder.once('close', () => resolve());
    holder.once('error', () => resolve());
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      let err = '';
      holder.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('locked\n')) resolve();
      });
      holder.stderr.on('data', (b: Buffer) => (err += b.toString()));
      holder.once('error', (e) => reject(new Error(`host lock ${file}: ${e.message}`)));
      holder.once('close', (code) =>
        reject(
          new Error(
            `host lock ${file}: not taken within ${waitMs} ms (flock exit ${code}${err ? `: ${err.trim()}` : ''})`,
          ),
        ),
      );
    });
    return await fn();
  } finally {
    holder.stdin.end();
    await exited;
  }
}
