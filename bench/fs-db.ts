/**
 * bench/fs.ts's database rows (issue 26: "sqlite commits and pgbench within 2x of the tmpfs
 * figure"), each in the rootfs, in a volume and in a guest tmpfs (the floor; podvisor only).
 *
 *  - sqlite: INSERTS single-row inserts, each its own transaction (autocommit), in WAL mode with
 *    `synchronous=FULL` (every commit fsyncs the WAL: a committed insert is on disk), by
 *    Python's sqlite3 module (Debian's libsqlite3) in the debian-python:3 fixture image. The
 *    figure is the inserts' own time, measured by the script in the container (python's start
 *    and the table's creation left out).
 *  - O_TMPFILE: TMPFILES of Python's tempfile.TemporaryFile() (an O_TMPFILE each, where the
 *    filesystem has it), 4 KiB written to each and closed, in the same container; the script's
 *    own time. It asserts that the first one was an O_TMPFILE (no name in the directory).
 *  - pgbench: PostgreSQL 15 from the debian-postgres:15 fixture image, one container per place
 *    of PGDATA: the image's VOLUME (as `docker run` gives it), the rootfs (PGDATA=/pgdata) and a
 *    guest tmpfs (`--tmpfs /pgdata`). pgbench runs inside the container (`docker exec`, over the
 *    unix socket, so no network is measured): `pgbench -i -s 1` (100,000 rows loaded, vacuumed,
 *    indexed; timed as the CLI's wall time), then `pgbench -c 1 -T PGBENCH_SECONDS` (the
 *    default TPC-B-like transactions: each commit waits for its WAL flush), whose TPS is the
 *    figure. Each round's `-i` makes the tables anew, so each round's TPS run starts alike.
 */
import { execFileSync } from 'node:child_process';
import { fixtureRegistry } from '../test/fixtures/registry';
import { sleep } from './common';
import { docker, isPodvisor, runsOn, type Group, type Step } from './fs-parts';

const INSERTS = Number(process.env.BENCH_SQLITE_INSERTS ?? 1000);
const TMPFILES = Number(process.env.BENCH_TMPFILES ?? 1000);
const PGBENCH_SECONDS = Number(process.env.BENCH_PGBENCH_SECONDS ?? 20);
const PYTHON = (): string => `${fixtureRegistry()}/debian-python:3`;
const POSTGRES = (): string => `${fixtureRegistry()}/debian-postgres:15`;
const PG_BIN = '/usr/lib/postgresql/15/bin';
/** How long a PostgreSQL container may take to initdb and start (a TCG VM on a loaded host). */
const PG_READY_MS = 20 * 60_000;

/** The script that times INSERTS committed inserts into a new WAL database at argv[1]. */
const SQLITE_SCRIPT = `
import os, sqlite3, sys, time
p = sys.argv[1]
for f in (p, p + '-wal', p + '-shm'):
    if os.path.exists(f): os.remove(f)
c = sqlite3.connect(p, isolation_level=None)
assert c.execute('pragma journal_mode=wal').fetchone()[0] == 'wal'
c.execute('pragma synchronous=full')
c.execute('create table t (i integer primary key, s text)')
t = time.perf_counter()
for i in range(${INSERTS}):
    c.execute('insert into t (s) values (?)', ('row %d' % i,))
print(time.perf_counter() - t)
assert c.execute('select count(*) from t').fetchone()[0] == ${INSERTS}
c.close()
`;

/** The script that times TMPFILES TemporaryFile()s in argv[1], after checking that one is an O_TMPFILE. */
const TMPFILE_SCRIPT = `
import os, sys, tempfile, time
d = sys.argv[1]
with tempfile.TemporaryFile(dir=d) as f:
    assert os.fstat(f.fileno()).st_nlink == 0 and not os.listdir(d), 'not an O_TMPFILE'
t = time.perf_counter()
for i in range(${TMPFILES}):
    with tempfile.TemporaryFile(dir=d) as f:
        f.write(b'x' * 4096)
print(time.perf_counter() - t)
`;

const SQLITE_CONTAINER = 'bench-fs-sqlite';

/** The row of INSERTS committed sqlite inserts into a new database under `dir` of `container`. */
function sqliteStep(
  container: string,
  where: string,
  dir: string,
  only: Pick<Step, 'podvisorOnly' | 'blockOnly'>,
): Step {
  return {
    name: `sqlite: ${INSERTS} WAL commits, ${where}`,
    ...only,
    floor: only.podvisorOnly ? undefined : `sqlite: ${INSERTS} WAL commits, guest tmpfs`,
    run: (env) => {
      const out = docker(env, ['exec', container, 'python3', '-c', SQLITE_SCRIPT, `${dir}/bench.db`]);
      const secs = Number(out);
      if (!Number.isFinite(secs)) throw new Error(`sqlite script printed ${JSON.stringify(out)}`);
      return secs;
    },
    after: (env) => docker(env, ['exec', container, 'sh', '-c', `rm -f ${dir}/bench.db*`]),
  };
}

/** The sqlite rows: one debian-python:3 container per daemon, with an anonymous volume at /vol and (podvisor) a guest tmpfs at /scratch. */
export function sqliteGroup(): Group {
  const row = (where: string, dir: string, podvisorOnly = false): Step =>
    sqliteStep(SQLITE_CONTAINER, where, dir, { podvisorOnly });
  const tmpfiles = (where: string, dir: string, podvisorOnly = false): Step => ({
    name: `O_TMPFILE: ${TMPFILES} TemporaryFile()s, ${where}`,
    podvisorOnly,
    floor: podvisorOnly ? undefined : `O_TMPFILE: ${TMPFILES} TemporaryFile()s, guest tmpfs`,
    run: (env) => {
      docker(env, ['exec', SQLITE_CONTAINER, 'mkdir', '-p', `${dir}/tmpfiles`]);
      const out = docker(env, ['exec', SQLITE_CONTAINER, 'python3', '-c', TMPFILE_SCRIPT, `${dir}/tmpfiles`]);
      const secs = Number(out);
      if (!Number.isFinite(secs)) throw new Error(`tmpfile script printed ${JSON.stringify(out)}`);
      return secs;
    },
  });
  return {
    name: 'sqlite',
    containers: [SQLITE_CONTAINER],
    start: (who, env) => {
      docker(env, ['pull', '-q', PYTHON()]);
      const tmpfs = isPodvisor(who) ? ['--tmpfs', '/scratch:size=256m'] : [];
      docker(env, [
        'run',
        '-d',
        '--name',
        SQLITE_CONTAINER,
        '-m',
        '1g',
        '-v',
        '/vol',
        ...tmpfs,
        PYTHON(),
        'sleep',
        '36000',
      ]);
      docker(env, ['exec', SQLITE_CONTAINER, 'mkdir', '-p', '/db']);
    },
    steps: [
      row('rootfs', '/db'),
      row('volume', '/vol'),
      row('guest tmpfs', '/scratch', true),
      tmpfiles('rootfs', '/db'),
      tmpfiles('volume', '/vol'),
      tmpfiles('guest tmpfs', '/scratch', true),
    ],
  };
}

const SQLITE_DISK_CONTAINER = 'bench-fs-sqlite-disk';
const ON_ITS_DISK = 'volume on its own disk (image=disk)';

/**
 * The sqlite rows of a volume on the container's own disk: a debian-python:3 container run with
 * `--storage-opt image=disk` and an anonymous volume at /vol, on the block-mode podvisor only
 * (compared with that daemon's guest tmpfs rows of sqliteGroup).
 */
export function sqliteOnDiskGroup(): Group {
  const row = sqliteStep(SQLITE_DISK_CONTAINER, ON_ITS_DISK, '/vol', { blockOnly: true });
  return {
    name: 'sqlite, image=disk',
    containers: [SQLITE_DISK_CONTAINER],
    start: (who, env) => {
      if (!runsOn(row, who)) return;
      docker(env, ['pull', '-q', PYTHON()]);
      docker(env, [
        'run',
        '-d',
        '--name',
        SQLITE_DISK_CONTAINER,
        '-m',
        '1g',
        '--storage-opt',
        'image=disk',
        '-v',
        '/vol',
        PYTHON(),
        'sleep',
        '36000',
      ]);
    },
    steps: [row],
  };
}

/** Where PGDATA is, by the name of its rows: the `docker run` arguments that put it there. */
const PGDATA_PLACES: Record<string, string[]> = {
  'image VOLUME': [],
  [`image VOLUME, ${ON_ITS_DISK}`]: ['--storage-opt', 'image=disk'],
  rootfs: ['-e', 'PGDATA=/pgdata'],
  'guest tmpfs': ['--tmpfs', '/pgdata:size=512m', '-e', 'PGDATA=/pgdata'],
};

/** Wait until the PostgreSQL in `name` accepts connections; fail early if its container stopped. */
async function pgReady(env: NodeJS.ProcessEnv, name: string): Promise<void> {
  const deadline = Date.now() + PG_READY_MS;
  for (;;) {
    try {
      execFileSync('docker', ['exec', name, `${PG_BIN}/pg_isready`, '-q', '-U', 'postgres'], {
        env,
        stdio: 'ignore',
        timeout: 120000,
      });
      return;
    } catch {
      const running = docker(env, ['inspect', '-f', '{{.State.Running}}', name]);
      if (running !== 'true' || Date.now() > deadline) {
        const logs = execFileSync('docker', ['logs', '--tail', '20', name], { env, encoding: 'utf8' });
        throw new Error(`PostgreSQL in ${name} is not ready (running: ${running}):\n${logs}`);
      }
      await sleep(3000);
    }
  }
}

/** The pgbench rows: one group (one debian-postgres:15 container per daemon) per place of PGDATA. */
export function pgbenchGroups(): Group[] {
  return Object.entries(PGDATA_PLACES).map(([where, args]) => {
    const name = `bench-fs-pg-${where.replace(/\W+/g, '-').toLowerCase()}`;
    const podvisorOnly = where === 'guest tmpfs';
    const blockOnly = where.endsWith(ON_ITS_DISK);
    const only = { podvisorOnly, blockOnly };
    const floor = podvisorOnly ? undefined : `${PGBENCH_SECONDS} s of pgbench -c 1, PGDATA in guest tmpfs`;
    const pgbench = (env: NodeJS.ProcessEnv, opts: string) =>
      docker(env, ['exec', '-u', 'postgres', name, 'sh', '-c', `${PG_BIN}/pgbench ${opts} postgres 2>&1`]);
    return {
      name: `pgbench, PGDATA in ${where}`,
      containers: [name],
      start: (who, env) => {
        if (!runsOn(only, who)) return;
        docker(env, ['pull', '-q', POSTGRES()]);
        docker(env, [
          'run',
          '-d',
          '--name',
          name,
          '-m',
          '1g',
          '-e',
          'POSTGRES_HOST_AUTH_METHOD=trust',
          ...args,
          POSTGRES(),
        ]);
      },
      ready: async (who, env) => {
        if (runsOn(only, who)) await pgReady(env, name);
      },
      steps: [
        {
          name: `pgbench -i -s 1, PGDATA in ${where}`,
          ...only,
          floor: podvisorOnly ? undefined : 'pgbench -i -s 1, PGDATA in guest tmpfs',
          run: (env) => void pgbench(env, '-i -s 1 -q'),
        },
        {
          name: `${PGBENCH_SECONDS} s of pgbench -c 1, PGDATA in ${where}`,
          ...only,
          unit: 'tps',
          floor,
          run: (env) => {
            const out = pgbench(env, `-c 1 -T ${PGBENCH_SECONDS}`);
            const tps = /^tps = ([\d.]+)/m.exec(out);
            if (!tps) throw new Error(`pgbench printed no tps:\n${out}`);
            return Number(tps[1]);
          },
        },
      ],
    };
  });
}
