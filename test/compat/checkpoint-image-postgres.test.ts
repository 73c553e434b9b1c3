/**
 * A PostgreSQL checkpoint image (issue 66, docs/checkpoint-images.md) with the stock CLI: the
 * fixture image debian-postgres:15 (Debian's PostgreSQL run as the official image runs it),
 * plain `docker run -d`, 1,000 rows in the image's VOLUME, saved as an image with
 * `--leave-running`; then three `docker run -d -p 5432` of that image at once, each reached by
 * the host's psql on its own published port: each holds the 1,000 rows, without a new initdb
 * or a recovery in its log, and a row written in one is in neither other nor in the saved one.
 * (Two daemons and a registry between them: checkpoint-image.test.ts with busybox, and
 * bench:checkpoint-image with this database.)
 */
import { spawnSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli, dockerOk, dockerSync } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { podvisor } from '../helpers/podvisor-cli';

jest.setTimeout(900000);

const IMAGE = `${fixtureRegistry()}/debian-postgres:15`;
const REF = `pg-ready-${process.pid}:1`;
const RUNS = ['pgr1', 'pgr2', 'pgr3'];

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon({ args: ['--experimental'] });
  dockerOk(d, ['pull', '-q', IMAGE], 600000);
});

afterAll(async () => {
  dockerSync(d, ['rm', '-fv', 'pgsrc', ...RUNS], 300000);
  await stopDaemonLeavingNothing(d);
});

/** The host port published for container `name`'s 5432. */
function hostPort(name: string): string {
  const m = /:(\d+)$/m.exec(dockerOk(d, ['port', name, '5432/tcp']));
  if (!m) throw new Error(`no published port for ${name}`);
  return m[1];
}

/** psql's rows for `sql` on container `name`'s published port, or its failure. */
function answer(sql: string, name: string): string {
  const r = spawnSync('psql', ['-h', '127.0.0.1', '-p', hostPort(name), '-U', 'postgres', '-qAtc', sql], {
    env: { ...process.env, PGPASSWORD: 'secret', PGCONNECT_TIMEOUT: '30' },
    encoding: 'utf8',
    timeout: 90000,
  });
  return r.status === 0 ? (r.stdout ?? '').trim() : `psql failed (${r.status}): ${(r.stderr ?? '').trim()}`;
}

/** Wait (up to `timeoutMs`) until container `name`'s server answers `sql` with `want`; its last answer. */
async function until(name: string, sql: string, want: string, timeoutMs = 300000): Promise<string> {
  const start = Date.now();
  let last = answer(sql, name);
  while (last !== want && Date.now() - start < timeoutMs) {
    await new Promise((r) => setTimeout(r, 300));
    last = answer(sql, name);
  }
  return last;
}

test('three runs of a saved PostgreSQL at once each hold its rows, and write rows of their own', async () => {
  dockerOk(d, ['run', '-d', '--name', 'pgsrc', '-p', '5432', '-e', 'POSTGRES_PASSWORD=secret', IMAGE]);
  expect(await until('pgsrc', 'select 1', '1')).toBe('1');
  expect(
    answer(
      'create table t as select g as id, md5(g::text) as v from generate_series(1, 1000) g; select count(*) from t',
      'pgsrc',
    ),
  ).toBe('1000');
  // Under a loaded CI run the save and its packing are slow, not stuck: 10 minutes, and the
  // daemon's account of where the time went either way.
  const made = await podvisor(d, ['checkpoint', '--image', REF, '--leave-running', 'pgsrc'], 600000);
  const account = d
    .logs()
    .split('\n')
    .filter((l) => /checkpoint-image|checkpoint/.test(l))
    .slice(-20)
    .join('\n');
  console.log(`checkpoint --image of PostgreSQL: exit ${made.code}\n${account}`);
  if (made.code !== 0) throw new Error(`podvisor checkpoint --image exited ${made.code}: ${made.err}`);
  const id = made.out.trim();
  expect(dockerOk(d, ['image', 'inspect', '-f', '{{.Id}}', REF])).toBe(id);
  const runs = await Promise.all(RUNS.map((n) => dockerCli(d, ['run', '-d', '--name', n, '-p', '5432', REF])));
  expect(runs.map((r) => [r.code, r.err])).toEqual(RUNS.map(() => [0, '']));
  for (const n of RUNS) expect(await until(n, 'select count(*) from t', '1000')).toBe('1000');
  // No new initialisation, start or recovery: the saved server goes on.
  for (const n of RUNS) {
    const log = dockerSync(d, ['logs', n]);
    expect(`${log.out}\n${log.err}`).not.toMatch(/initdb|database system is ready|redo starts/);
  }
  expect(answer("insert into t values (1001, 'mine'); select count(*) from t", 'pgr1')).toBe('1001');
  expect(answer('select count(*) from t', 'pgr2')).toBe('1000');
  expect(answer('select count(*) from t', 'pgr3')).toBe('1000');
  expect(answer('select count(*) from t', 'pgsrc')).toBe('1000');
  // Each is a container of its own: its own id and address.
  const ips = RUNS.map((n) => dockerOk(d, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', n]));
  expect(new Set(ips).size).toBe(3);
  dockerOk(d, ['rm', '-fv', ...RUNS, 'pgsrc'], 300000);
  dockerOk(d, ['rmi', REF]);
});
