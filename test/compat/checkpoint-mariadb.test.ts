/**
 * `docker checkpoint` of MariaDB run as users run it: the fixture image built like the official
 * one (test/fixtures/servers.ts: mariadb-install-db of an empty /var/lib/mysql from
 * MARIADB_*, `VOLUME /var/lib/mysql`), started with `docker run -d` on a container that reads
 * its image from its own disk, so the image's VOLUME is an anonymous volume on that disk and
 * the VM can be saved with it (docs/checkpoint.md).
 *
 * - initialised and holding 1,000 rows, it is checkpointed (its run ends) and started from the
 *   checkpoint: the rows are there, InnoDB ran no crash recovery, the server did not
 *   initialise again, and it greets on its published port;
 * - two forks of it (`podvisor fork`) each hold a row of their own, on ports of their own.
 *
 * The host has no MariaDB client: SQL goes through `docker exec ... mariadb -h127.0.0.1`,
 * over TCP (the entrypoint's temporary server listens on its socket only), and the published
 * port is checked by the server's greeting.
 */
import * as net from 'node:net';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk, dockerSync } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { podvisorOk } from '../helpers/podvisor-cli';

jest.setTimeout(900000);

const IMAGE = `${fixtureRegistry()}/debian-mariadb:10.11`;
const NAME = 'mdbcp';

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon({ args: ['--experimental'] });
  dockerOk(d, ['pull', '-q', IMAGE], 600000);
});

afterAll(async () => {
  dockerSync(d, ['rm', '-fv', NAME], 120000);
  await stopDaemonLeavingNothing(d);
});

/** SQL run by the server of container `name`, over TCP: its rows (tab-separated), or the error. */
function sql(query: string, name = NAME): { code: number; out: string; err: string } {
  const r = dockerSync(d, ['exec', name, 'mariadb', '-uroot', '-psecret', '-h127.0.0.1', 'shop', '-N', '-e', query]);
  return { code: r.code, out: r.out.trim(), err: r.err.trim() };
}

/** Wait until the server of container `name` answers `select 1` over TCP. */
async function ready(timeoutMs: number, name = NAME): Promise<void> {
  const start = Date.now();
  let last = sql('select 1', name);
  while (last.out !== '1' && Date.now() - start < timeoutMs) {
    await new Promise((r) => setTimeout(r, 300));
    last = sql('select 1', name);
  }
  if (last.out !== '1') throw new Error(`MariaDB never answered: ${last.err}`);
}

/** The greeting of the server published for container `name`'s 3306, read from the host. */
function greeting(name = NAME): Promise<string> {
  const m = /:(\d+)$/m.exec(dockerOk(d, ['port', name, '3306/tcp']));
  if (!m) throw new Error(`no published port for ${name}`);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(m[1]), '127.0.0.1');
    s.setTimeout(10000, () => s.destroy(new Error('no greeting in 10 s')));
    s.once('data', (b: Buffer) => {
      s.destroy();
      resolve(b.toString('latin1'));
    });
    s.on('error', reject);
  });
}

test('an initialised MariaDB holding rows is checkpointed and restored without recovery or a new initialisation', async () => {
  dockerOk(d, [
    'run',
    '-d',
    '--name',
    NAME,
    '-e',
    'MARIADB_ROOT_PASSWORD=secret',
    '-e',
    'MARIADB_DATABASE=shop',
    '-p',
    '127.0.0.1::3306',
    IMAGE,
  ]);
  await ready(300000);
  const mount = dockerOk(d, ['inspect', '-f', '{{range .Mounts}}{{.Type}} {{.Destination}}{{end}}', NAME]);
  expect(mount).toBe('volume /var/lib/mysql');
  const fill =
    'create table t (n int primary key); insert into t select n from ' +
    '(with recursive s(n) as (select 1 union all select n + 1 from s where n < 1000) select n from s) x';
  expect(sql(fill)).toMatchObject({ code: 0 });
  expect(sql('select count(*), sum(n) from t').out).toBe('1000\t500500');
  expect(dockerOk(d, ['checkpoint', 'create', NAME, 'ready'], 300000)).toBe('ready');
  expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', NAME])).toBe('exited');
  const logsBefore = dockerSync(d, ['logs', NAME]);

  dockerOk(d, ['start', '--checkpoint', 'ready', NAME], 300000);
  await ready(60000);
  expect(sql('select count(*), sum(n) from t').out).toBe('1000\t500500');
  expect(sql('insert into t values (1001)').code).toBe(0);
  expect(sql('select count(*) from t').out).toBe('1001');
  expect(await greeting()).toMatch(/10\.11\.\d+-MariaDB/);
  // The same server went on: its log continues, with no second initialisation and no recovery.
  const logsAfter = dockerSync(d, ['logs', NAME]);
  const added = (logsAfter.out + logsAfter.err).slice((logsBefore.out + logsBefore.err).length);
  expect(logsAfter.out.startsWith(logsBefore.out)).toBe(true);
  expect(logsAfter.err.startsWith(logsBefore.err)).toBe(true);
  expect(added).not.toMatch(/crash recovery|init process|Initializing database files/i);
});

test('two forks of the running MariaDB each keep a row of their own on a port of their own', async () => {
  expect(dockerOk(d, ['checkpoint', 'create', '--leave-running', NAME, 'base'], 300000)).toBe('base');
  const forks = ['mdbfork1', 'mdbfork2'];
  try {
    await podvisorOk(d, ['fork', NAME, 'base', ...forks.flatMap((f) => ['--name', f])]);
    for (const f of forks) await ready(120000, f);
    for (const [i, f] of forks.entries()) expect(sql(`insert into t values (${5000 + i})`, f).code).toBe(0);
    for (const [i, f] of forks.entries()) {
      expect(sql('select count(*) from t', f).out).toBe('1002');
      expect(sql('select n from t where n >= 5000', f).out).toBe(String(5000 + i));
      expect(await greeting(f)).toMatch(/10\.11\.\d+-MariaDB/);
    }
    const ports = forks.map((f) => dockerOk(d, ['port', f, '3306/tcp']));
    expect(new Set(ports).size).toBe(2);
    // The database they were forked from has none of their rows.
    expect(sql('select count(*) from t where n >= 5000').out).toBe('0');
  } finally {
    dockerSync(d, ['rm', '-f', ...forks], 300000);
  }
});
