/**
 * zstd compression of the daemon's own checkpoint files into the content store. Node 20's
 * zlib has no zstd, so the Debian `zstd` binary (the bootstrap's runtime packages) runs as a
 * filter: the bytes stream through it into the store, never whole in memory. Only our own,
 * trusted data goes through it; what comes back from a registry is decoded in-process
 * (./zstd-decode.ts).
 */
import { spawn } from 'node:child_process';
import { Transform, pipeline as pipelineCb, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContentStore } from '../content';
import { UnavailableError } from '../../errors';

/** Most bytes of zstd's stderr kept for an error message. */
const STDERR_MAX = 2000;

/**
 * Store `source` zstd-compressed (`zstd -q -3 -T0 -c`) in `content`. Resolves with the
 * stored blob's digest and size once zstd has exited 0; on any failure (of the source, of
 * zstd, of the store) nothing is stored, zstd is killed, and the first error is thrown.
 */
export async function storeZstd(content: ContentStore, source: Readable): Promise<{ digest: string; size: number }> {
  const child = spawn('zstd', ['-q', '-3', '-T0', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < STDERR_MAX) stderr += d;
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (e) => reject(new UnavailableError(`zstd: ${e.message}`)));
    child.once('close', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new UnavailableError(`zstd exited with ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ''}`)),
    );
  });
  const fed = pipeline(source, child.stdin).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  // Both are awaited below, through `checked` and allSettled.
  exited.catch(() => undefined);
  fed.catch(() => undefined);
  // zstd's output is committed only once all the source went in and zstd exited 0 (a source
  // that failed half way closes zstd's stdin, and zstd would end its output there): the end of
  // its stdout waits for both.
  const checked = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      cb(null, chunk);
    },
    flush(cb) {
      Promise.all([fed, exited]).then(() => cb(), cb);
    },
  });
  const output = pipelineCb(child.stdout, checked, () => undefined);
  const results = await Promise.allSettled([content.ingestNew(output), fed, exited]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    child.kill('SIGKILL');
    // The source's own error says more than zstd's death or the store's "premature close".
    const sourceFailed = results[1].status === 'rejected' ? results[1] : undefined;
    throw (sourceFailed ?? failed).reason;
  }
  return (results[0] as PromiseFulfilledResult<{ digest: string; size: number }>).value;
}
