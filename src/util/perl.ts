/**
 * The host-side system calls Node has no binding for (process_madvise, lseek SEEK_DATA,
 * fallocate) are made by short perl scripts: perl-base is Essential in Debian, so always
 * there. One runner for all of them (the VM layer's post-boot-reclaim.ts, zero-trim.ts and
 * jit-trim.ts; storage's checkpoint-image/extents.ts).
 */
import { execFile } from 'node:child_process';
import { UnavailableError } from '../errors';

/**
 * Runs `perl -e script args...` and resolves with its stdout when it matches `expect`;
 * rejects with UnavailableError("<what>: <perl's stderr or the reason>") otherwise. `maxBuffer`
 * bounds stdout (Node's default, 1 MiB, when not given).
 */
export function runPerl(
  script: string,
  args: string[],
  opts: { what: string; expect: RegExp; timeoutMs: number; maxBuffer?: number },
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    execFile(
      'perl',
      ['-e', script, ...args],
      { timeout: opts.timeoutMs, ...(opts.maxBuffer ? { maxBuffer: opts.maxBuffer } : {}) },
      (err, stdout, stderr) => {
        const m = opts.expect.exec(stdout);
        if (err || !m)
          reject(
            new UnavailableError(
              `${opts.what}: ${stderr.trim() || err?.message || `unexpected output ${JSON.stringify(stdout)}`}`,
            ),
          );
        else resolve(m);
      },
    );
  });
}
