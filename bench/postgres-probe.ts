/**
 * PostgreSQL from the host, as an application reaches it: the published port of a container's
 * 5432, and the host's `psql` over TCP polled until it answers (bench:checkpoint-image,
 * bench:warm-starts).
 */
import { execFile } from 'node:child_process';
import { sleep } from './common';

/** A daemon as the bench drives it: its CLI's environment, and the argv prefix that reaches its published ports. */
export interface Side {
  env: NodeJS.ProcessEnv;
  reach: string[];
}

/** The host port published for container `name`'s 5432 on `side`, once it is known. */
export async function portOf(side: Side, name: string): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const out = await new Promise<string>((resolve) =>
      execFile('docker', ['port', name, '5432/tcp'], { env: side.env, timeout: 30000 }, (err, o) =>
        resolve(err ? '' : String(o)),
      ),
    );
    const m = /:(\d+)$/m.exec(out.trim());
    if (m) return m[1];
    await sleep(20);
  }
  throw new Error(`${name} has no published port`);
}

/**
 * Poll `psql -qAtc SQL` from the host (as an application connects: over TCP to the published
 * port) until container `name` answers `want` (10 minutes at most).
 */
export async function untilAnswer(side: Side, name: string, sql: string, want: string): Promise<void> {
  const port = await portOf(side, name);
  const deadline = Date.now() + 600000;
  const [cmd, ...pre] = [...side.reach, 'psql', '-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-qAtc', sql];
  while (Date.now() < deadline) {
    const out = await new Promise<string | undefined>((resolve) =>
      execFile(
        cmd,
        pre,
        { env: { ...process.env, PGPASSWORD: 'secret', PGCONNECT_TIMEOUT: '10' }, timeout: 30000 },
        (err, o) => resolve(err ? undefined : String(o).trim()),
      ),
    );
    if (out === want) return;
    await sleep(50);
  }
  throw new Error(`${name} never answered ${sql} with ${want}`);
}

/** Milliseconds from now until `start()` has run and each of `names` answers `sql` with `want`. */
export async function timeTo(
  side: Side,
  names: string[],
  sql: string,
  want: string,
  start: () => void,
): Promise<number> {
  const t0 = Date.now();
  start();
  await Promise.all(names.map((n) => untilAnswer(side, n, sql, want)));
  return Date.now() - t0;
}
