/**
 * The host-side system calls Node has no binding for (process_madvise, lseek SEEK_DATA,
 * fallocate) are made by short perl scripts: perl-base is Essential in Debian, so always
 * there. One runner for all of them (post-boot-reclaim.ts, zero-trim.ts, jit-trim.ts).
 */
import { execFile } from 'node:child_process';
import { UnavailableError } from '../../../errors';

/**
 * Runs `perl -e script args...` and resolves with its stdout when it matches `expect`;
 * rejects with UnavailableError("<what>: <perl's stderr or the reason>") otherwise.
 */
export function runPerl(
  script: string,
  args: string[],
  opts: { what: string; expect: RegExp; timeoutMs: number },
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    execFile('perl', ['-e', script, ...args], { timeout: opts.timeoutMs }, (err, stdout, stderr) => {
      const m = opts.expect.exec(stdout);
      if (err || !m)
        reject(
          new UnavailableError(
            `${opts.what}: ${stderr.trim() || err?.message || `unexpected output ${JSON.stringify(stdout)}`}`,
          ),
        );
      else resolve(m);
    });
  });
}
