/**
 * `docker checkpoint` of a real server (issue 44): PostgreSQL 15 from Debian's packages, in the
 * fixture image that runs it as the official image does (test/fixtures/servers.ts), through
 * the stock CLI and a host `psql` on its published port.
 *
 * The container reads its image from the image's disk (the default) and keeps its data in a
 * named volume over the image's VOLUME, as users run it (`-v pgdata:/var/lib/postgresql/data`),
 * with `--storage-opt volumes=disk`: a named volume that no other container mounts, which
 * such a container then keeps on its own disk as it keeps its anonymous ones (by default a
 * named volume is on the volume share, shared as dockerd shares it), so its VM has no 9p
 * share left to keep it from being saved (docs/checkpoint.md): the database lives in the
 * guest's memory and on its disk, both of which the checkpoint holds.
 *
 * - initialised and holding rows, it is checkpointed (its run ends), started from the
 *   checkpoint, and answers the same rows at once, without a new initdb or recovery; a row
 *   written after the restore is there too;
 * - five forks of it (`podvisor fork`) each answer a host psql on a port of their own, and
 *   each sees only the row it was given;
 * - a checkpoint of it survives a daemon SIGKILL, and a restore after it works;
 * - a corrupt checkpoint is refused with a clear error, and the container can be started
 *   from a good one afterwards.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk, dockerSync } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { podvisorOk } from '../helpers/podvisor-cli';

jest.setTimeout(900000);

const IMAGE = `${fixtureRegistry()}/debian-postgres:15`;
const NAME = 'pgcp';

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon({ args: ['--experimental'] });
  dockerOk(d, ['pull', '-q', IMAGE], 600000);
});

afterAll(async () => {
  dockerSync(d, ['rm', '-fv', NAME], 120000);
  dockerSync(d, ['volume', 'rm', 'pgdata'], 120000);
  await stopDaemonLeavingNothing(d);
});

/** The host port published for container `name`'s 5432. */
function hostPort(name = NAME): string {
  const out = dockerOk(d, ['port', name, '5432/tcp']);
  const m = /:(\d+)$/m.exec(out);
  if (!m) throw new Error(`no published port in ${JSON.stringify(out)}`);
  return m[1];
}

/** A query through the host's psql on container `name`'s published port: its rows, or the error. */
function psql(sql: string, name = NAME): { code: number; out: string; err: string } {
  const r = spawnSync('psql', ['-h', '127.0.0.1', '-p', hostPort(name), '-U', 'postgres', '-Atc', sql], {
    env: { ...process.env, PGPASSWORD: 'secret', PGCONNECT_TIMEOUT: '5' },
    encoding: 'utf8',
    timeout: 30000,
  });
  return { code: r.status ?? -1, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
}

/** Wait until the server of container `name` answers `select 1` through its published port. */
async function ready(timeoutMs: number, name = NAME): Promise<number> {
  const start = Date.now();
  let last = psql('select 1', name);
  while (last.out !== '1' && Date.now() - start < timeoutMs) {
    await new Promise((r) => setTimeout(r, 200));
    last = psql('select 1', name);
  }
  if (last.out !== '1') throw new Error(`PostgreSQL never answered: ${last.err}`);
  return Date.now() - start;
}

test('an initialised PostgreSQL holding rows is checkpointed, restored, and answers them at once', async () => {
  dockerOk(d, [
    'run',
    '-d',
    '--name',
    NAME,
    '-e',
    'POSTGRES_PASSWORD=secret',
    '-p',
    '127.0.0.1::5432',
    '--storage-opt',
    'volumes=disk',
    '-v',
    'pgdata:/var/lib/postgresql/data',
    IMAGE,
  ]);
  const coldMs = await ready(300000);
  // Its data is in the named volume, on its own disk (the host's directory of it stays empty).
  const mount = dockerOk(d, ['inspect', '-f', '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}', NAME]);
  expect(mount).toBe('volume pgdata /var/lib/postgresql/data');
  expect(fs.readdirSync(path.join(d.dataRoot, 'volumes', 'pgdata', '_data'))).toEqual([]);
  expect(psql('create table t (n int); insert into t select generate_series(1, 1000)').code).toBe(0);
  expect(psql('select count(*), sum(n) from t').out).toBe('1000|500500');
  expect(dockerOk(d, ['checkpoint', 'create', NAME, 'ready'], 300000)).toBe('ready');
  expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', NAME])).toBe('exited');
  const logsBefore = dockerOk(d, ['logs', NAME]);

  const restoreStart = Date.now();
  dockerOk(d, ['start', '--checkpoint', 'ready', NAME], 300000);
  const restoreMs = Date.now() - restoreStart + (await ready(60000));
  expect(psql('select count(*), sum(n) from t').out).toBe('1000|500500');
  expect(psql('insert into t values (1001)').code).toBe(0);
  expect(psql('select count(*) from t').out).toBe('1001');
  // It did not start again: no second initdb and no recovery in its log, which goes on as it was.
  const logsAfter = dockerOk(d, ['logs', NAME]);
  expect(logsAfter.startsWith(logsBefore)).toBe(true);
  expect(logsAfter.slice(logsBefore.length)).not.toMatch(/database system was (interrupted|not properly shut down)/);
  process.stdout.write(
    `checkpoint-postgres: cold start to ready ${coldMs} ms; start from checkpoint to ready ${restoreMs} ms\n`,
  );
});

test('five forks of the running database each answer on a port of their own and see only their own rows', async () => {
  expect(dockerOk(d, ['checkpoint', 'create', '--leave-running', NAME, 'base'], 300000)).toBe('base');
  const forks = [1, 2, 3, 4, 5].map((i) => `pgfork${i}`);
  try {
    const started = Date.now();
    await podvisorOk(d, ['fork', NAME, 'base', ...forks.flatMap((f) => ['--name', f])]);
    for (const f of forks) await ready(60000, f);
    process.stdout.write(`checkpoint-postgres: 5 forks answering after ${Date.now() - started} ms\n`);
    expect(new Set(forks.map((f) => hostPort(f))).size).toBe(5);
    // Each fork's disk is a copy-on-write overlay: it takes what the fork wrote, a fraction of
    // the raw disk at the bottom of the files it stands on (the database was restored before
    // this save, so its disk was an overlay already: a fork of it stands on three files, or four
    // when that restore mapped its checkpoint's fork template).
    const disks = forks.map((f) => path.join(d.dataRoot, 'containers', dockerOk(d, ['inspect', '-f', '{{.Id}}', f])));
    const under = fs.readdirSync(path.join(disks[0], 'upper.ext4.backing')).sort();
    expect([
      ['0', '1', '2'],
      ['0', '1', '2', '3'],
    ]).toContainEqual(under);
    const base = fs.statSync(path.join(disks[0], 'upper.ext4.backing', under[under.length - 1])).blocks * 512;
    for (const dir of disks) {
      const own = fs.statSync(path.join(dir, 'upper.ext4')).blocks * 512;
      expect(own).toBeLessThan(base / 4);
      process.stdout.write(
        `checkpoint-postgres: a fork's disk ${(own / 2 ** 20).toFixed(1)} MiB allocated, over ${(base / 2 ** 20).toFixed(1)} MiB\n`,
      );
    }
    for (const [i, f] of forks.entries()) expect(psql(`insert into t values (${5000 + i})`, f).code).toBe(0);
    for (const [i, f] of forks.entries()) {
      expect(psql('select count(*) from t', f).out).toBe('1002');
      expect(psql('select n from t where n >= 5000', f).out).toBe(String(5000 + i));
    }
    // The database they were forked from has none of their rows.
    expect(psql('select count(*) from t where n >= 5000').out).toBe('0');
  } finally {
    dockerSync(d, ['rm', '-f', ...forks], 300000);
  }
});

test('a checkpoint outlives a daemon SIGKILL, and a corrupt one is refused with a clear error', async () => {
  dockerOk(d, ['stop', '-t', '5', NAME], 120000);
  await d.kill9();
  await d.restart();
  expect(dockerOk(d, ['checkpoint', 'ls', NAME]).split('\n')).toEqual(['CHECKPOINT NAME', 'base', 'ready']);
  const id = dockerOk(d, ['inspect', '-f', '{{.Id}}', NAME]);
  const dir = path.join(d.dataRoot, 'containers', id, 'checkpoints');
  // A copy of the good checkpoint with its state cut short.
  // (cp keeps the disk copy's holes: it is a 16 GiB file holding a few hundred MiB.)
  execFileSync('cp', ['-a', '--sparse=always', path.join(dir, 'ready'), path.join(dir, 'cut')]);
  // Its whole state and its fork template's (which a restore loads when there is one).
  for (const state of ['vm.state', 'fork.state'].map((f) => path.join(dir, 'cut', f)))
    if (fs.existsSync(state)) fs.truncateSync(state, Math.floor(fs.statSync(state).size / 2));
  const bad = dockerSync(d, ['start', '--checkpoint', 'cut', NAME], 300000);
  expect(bad.code).toBe(1);
  expect(bad.err).toMatch(/^Error response from daemon: Cannot restore container \/pgcp from checkpoint cut: /);
  expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', NAME])).toBe('exited');
  // A checkpoint of another QEMU, kernel or agent: refused before anything starts.
  const record = path.join(dir, 'cut', 'vm.json');
  fs.writeFileSync(record, JSON.stringify({ ...JSON.parse(fs.readFileSync(record, 'utf8')), stamp: 'another' }));
  const other = dockerSync(d, ['start', '--checkpoint', 'cut', NAME], 300000);
  expect(other.err).toMatch(/made under another guest kernel, agent or QEMU/);
  // The good one still restores: the rows of the first test, as saved.
  dockerOk(d, ['start', '--checkpoint', 'ready', NAME], 300000);
  await ready(60000);
  expect(psql('select count(*) from t').out).toBe('1000');
});
