/**
 * `docker checkpoint` of a real server (issues 44 and 56): PostgreSQL 15 from Debian's packages,
 * in the fixture image built like the official one (test/fixtures/servers.ts: the same
 * entrypoint steps, `VOLUME /var/lib/postgresql/data`), through the stock CLI, the podvisor CLI
 * and a host `psql` on the container's published port.
 *
 * Run as users run it, with plain `docker run -d` and no storage option: the container reads
 * its image from the image's disk and keeps the image's VOLUME, an anonymous volume, on its own
 * disk (both the daemon's defaults), so its VM has no 9p share to keep it from being saved
 * (docs/checkpoint.md); the database lives in the guest's memory and on its disk, both of
 * which the checkpoint holds.
 *
 * - initialised and holding 1,000 rows, it is checkpointed (its run ends), started from the
 *   checkpoint, and answers the same rows at once: its log goes on with no new initdb, no new
 *   start and no recovery; a row written after the restore is there too;
 * - five forks of it (`podvisor fork`) each answer a host psql on a port of their own, each
 *   holding only the row it was given, on a copy-on-write disk of its own;
 * - a checkpoint of it survives a daemon SIGKILL, and a restore after it works;
 * - a corrupt checkpoint is refused with a clear error, and the container can be started
 *   from a good one afterwards.
 *
 * Then the same database in a named volume over the image's VOLUME (`-v
 * pgdata:/var/lib/postgresql/data`) with `--storage-opt volumes=disk`, which keeps a named
 * volume no other container mounts on the container's disk (by default a named volume is on
 * the volume share, shared as dockerd shares it): 1,000 rows, checkpointed and restored without
 * recovery, and one fork with a row of its own on its own port (a lighter flow: the forks,
 * the SIGKILL and the corrupt checkpoint are the plain container's above).
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
/** The plain container (its data in an anonymous volume) and the named volume's. */
const NAME = 'pgcp';
const NAMED = 'pgvol';
const DATA = '/var/lib/postgresql/data';

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon({ args: ['--experimental'] });
  dockerOk(d, ['pull', '-q', IMAGE], 600000);
});

afterAll(async () => {
  dockerSync(d, ['rm', '-fv', NAME, NAMED, 'pgvfork'], 300000);
  dockerSync(d, ['volume', 'rm', 'pgdata'], 120000);
  await stopDaemonLeavingNothing(d);
});

/** The host port published for container `name`'s 5432. */
function hostPort(name: string): string {
  const out = dockerOk(d, ['port', name, '5432/tcp']);
  const m = /:(\d+)$/m.exec(out);
  if (!m) throw new Error(`no published port in ${JSON.stringify(out)}`);
  return m[1];
}

/**
 * A query through the host's psql on container `name`'s published port: its rows, or the error.
 * The connection may take its time (30 s): five forks' servers share two cores under TCG
 * beside the rest of the suite, and how fast they answer is the benchmarks' business.
 */
function psql(sql: string, name: string): { code: number; out: string; err: string } {
  const r = spawnSync('psql', ['-h', '127.0.0.1', '-p', hostPort(name), '-U', 'postgres', '-Atc', sql], {
    env: { ...process.env, PGPASSWORD: 'secret', PGCONNECT_TIMEOUT: '30' },
    encoding: 'utf8',
    timeout: 90000,
  });
  return { code: r.status ?? -1, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
}

/** What psql's failure reads as in answer(). */
const FAILED = /^psql failed/;

/** psql's rows for `sql` on container `name`'s server, or its failure with psql's error (for the test's report). */
function answer(sql: string, name: string): string {
  const r = psql(sql, name);
  return r.code === 0 ? r.out : `psql failed (${r.code}): ${r.err}`;
}

/** Wait until the server of container `name` answers `select 1` through its published port. */
async function ready(timeoutMs: number, name: string): Promise<number> {
  const start = Date.now();
  let last = psql('select 1', name);
  while (last.out !== '1' && Date.now() - start < timeoutMs) {
    await new Promise((r) => setTimeout(r, 200));
    last = psql('select 1', name);
  }
  if (last.out !== '1') throw new Error(`PostgreSQL never answered: ${last.err}`);
  return Date.now() - start;
}

/** Container `name`'s log, both streams (the server logs to stderr, initdb to stdout). */
function logs(name: string): { out: string; err: string } {
  const r = dockerSync(d, ['logs', name]);
  expect(r.code).toBe(0);
  return { out: r.out, err: r.err };
}

/** How many times `re` is in `text`. */
const count = (text: string, re: RegExp): number => text.match(new RegExp(re.source, 'g'))?.length ?? 0;

/** `docker run -d` of the database as container `name`, with `extra` flags; it answers a host psql. */
async function runDatabase(name: string, extra: string[]): Promise<number> {
  const run = ['run', '-d', '--name', name, '-e', 'POSTGRES_PASSWORD=secret', '-p', '127.0.0.1::5432'];
  dockerOk(d, [...run, ...extra, IMAGE]);
  return ready(300000, name);
}

/** Its 1,000 rows, written through the host's psql. */
function fill(name: string): void {
  expect(answer('create table t (n int); insert into t select generate_series(1, 1000)', name)).not.toMatch(FAILED);
  expect(answer('select count(*), sum(n) from t', name)).toBe('1000|500500');
}

/**
 * Checkpoint `name` as `cp` (its run ends) and start it from that checkpoint: the same rows
 * answer, and its log goes on as it was, with no second initdb, no second start and no
 * recovery. The milliseconds from the start to a psql answered.
 */
async function checkpointAndRestore(name: string, cp: string): Promise<number> {
  expect(dockerOk(d, ['checkpoint', 'create', name, cp], 300000)).toBe(cp);
  expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', name])).toBe('exited');
  const before = logs(name);
  // One initialisation and one start, each logged once, before the save.
  expect(count(before.out, /PostgreSQL init process complete/)).toBe(1);
  expect(count(before.err, /database system is ready to accept connections/)).toBe(1);

  const restoreStart = Date.now();
  dockerOk(d, ['start', '--checkpoint', cp, name], 300000);
  const restoreMs = Date.now() - restoreStart + (await ready(60000, name));
  expect(answer('select count(*), sum(n) from t', name)).toBe('1000|500500');
  expect(answer('insert into t values (1001)', name)).not.toMatch(FAILED);
  expect(answer('select count(*) from t', name)).toBe('1001');
  const after = logs(name);
  expect(after.out.startsWith(before.out)).toBe(true);
  expect(after.err.startsWith(before.err)).toBe(true);
  const added = after.out.slice(before.out.length) + after.err.slice(before.err.length);
  expect(added).not.toMatch(
    /database system was (interrupted|not properly shut down)|automatic recovery|redo starts|ready to accept connections|init process|initdb/,
  );
  return restoreMs;
}

describe('plain docker run -d: the image VOLUME, an anonymous volume, on the container disk', () => {
  test('an initialised PostgreSQL holding 1,000 rows is checkpointed, restored, and answers them at once', async () => {
    const coldMs = await runDatabase(NAME, []);
    // The image's VOLUME is an anonymous volume whose data is on the container's disk: its
    // host directory stays empty.
    const mount = dockerOk(d, ['inspect', '-f', '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}', NAME]);
    expect(mount).toMatch(new RegExp(`^volume [0-9a-f]{64} ${DATA}$`));
    const anon = mount.split(' ')[1];
    const mountpoint = dockerOk(d, ['volume', 'inspect', '-f', '{{.Mountpoint}}', anon]);
    expect(fs.readdirSync(mountpoint)).toEqual([]);
    fill(NAME);
    const restoreMs = await checkpointAndRestore(NAME, 'ready');
    process.stdout.write(
      `checkpoint-postgres (plain): cold start to ready ${coldMs} ms; start from checkpoint to ready ${restoreMs} ms\n`,
    );
  });

  test('five forks of the running database each answer on a port of their own and hold only their own rows', async () => {
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
      for (const [i, f] of forks.entries()) {
        const rows = Array.from({ length: 10 }, (_, j) => `(${5000 + 100 * i + j})`).join(', ');
        expect(answer(`insert into t values ${rows}`, f)).not.toMatch(FAILED);
      }
      for (const [i, f] of forks.entries()) {
        expect(answer('select count(*) from t', f)).toBe('1011');
        expect(answer('select min(n), max(n), count(*) from t where n >= 5000', f)).toBe(
          `${5000 + 100 * i}|${5009 + 100 * i}|10`,
        );
      }
      // The database they were forked from has none of their rows.
      expect(answer('select count(*) from t where n >= 5000', NAME)).toBe('0');
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
    await ready(60000, NAME);
    expect(answer('select count(*) from t', NAME)).toBe('1000');
    // Out of the way of the named volume's database below (two cores).
    dockerOk(d, ['rm', '-fv', NAME], 300000);
  });
});

describe('a named volume over the VOLUME, on the container disk with --storage-opt volumes=disk', () => {
  test('1,000 rows checkpointed and restored without recovery; a fork holds a row of its own on its own port', async () => {
    await runDatabase(NAMED, ['--storage-opt', 'volumes=disk', '-v', `pgdata:${DATA}`]);
    // Its data is in the named volume, on its own disk (the host's directory of it stays empty).
    const mount = dockerOk(d, ['inspect', '-f', '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}', NAMED]);
    expect(mount).toBe(`volume pgdata ${DATA}`);
    expect(fs.readdirSync(path.join(d.dataRoot, 'volumes', 'pgdata', '_data'))).toEqual([]);
    fill(NAMED);
    const restoreMs = await checkpointAndRestore(NAMED, 'ready');
    process.stdout.write(`checkpoint-postgres (named volume): start from checkpoint to ready ${restoreMs} ms\n`);

    // A fork of the checkpoint (saved with 1,000 rows; the database wrote its 1001st after).
    await podvisorOk(d, ['fork', NAMED, 'ready', '--name', 'pgvfork']);
    await ready(60000, 'pgvfork');
    expect(hostPort('pgvfork')).not.toBe(hostPort(NAMED));
    expect(answer('insert into t values (5000)', 'pgvfork')).not.toMatch(FAILED);
    expect(answer('select count(*), max(n) from t', 'pgvfork')).toBe('1001|5000');
    // Each has its own copy of the volume: neither sees the other's row.
    expect(answer('select count(*), max(n) from t', NAMED)).toBe('1001|1001');
    dockerOk(d, ['rm', '-f', 'pgvfork'], 300000);
    expect(answer('select count(*) from t', NAMED)).toBe('1001');
  });
});
