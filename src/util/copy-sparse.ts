/**
 * A copy of a large sparse file that keeps its holes (a container's 16 GiB disk file holds a
 * few MiB): GNU cp with --sparse=always, and a reflink where the filesystem has them.
 */
import * as fs from 'node:fs';
import { execFile } from 'node:child_process';
import { UnavailableError } from '../errors';

/** Copy `from` to `to` keeping holes, through a temporary name beside `to` (never half there). */
export async function copySparse(from: string, to: string): Promise<void> {
  const tmp = `${to}.tmp`;
  await new Promise<void>((resolve, reject) =>
    execFile('cp', ['--sparse=always', '--reflink=auto', '--', from, tmp], { timeout: 600_000 }, (err, _o, stderr) =>
      err ? reject(new UnavailableError(`copying ${from}: ${String(stderr).trim() || err.message}`)) : resolve(),
    ),
  ).catch(async (err) => {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  });
  try {
    await fs.promises.rename(tmp, to);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}
