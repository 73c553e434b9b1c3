/**
 * Real applications that wire unix sockets across the VM's edge, against the real daemon (real
 * QEMU VMs, our guest kernel), with the fixture images of Debian's servers: PostgreSQL whose
 * socket directory is a bind mount: the host's psql connects with `psql -h DIR`, as it would to
 * a host server's socket, and so does redis-cli -s to Redis. (nginx in one VM handing requests
 * to php-fpm in another through its socket in a named volume both mount is
 * test/compat/compose-v2-servers.test.ts's first case.)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk, dockerSync } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(900000);

const REG = fixtureRegistry();

let d: TestDaemon;
let dir: string;

interface Run {
  out: string;
  err: string;
  code: number;
}

/** Run a host program with the daemon's environment (DOCKER_HOST). */
function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Run {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: d.env, encoding: 'utf8', timeout: opts.timeoutMs ?? 120000 });
  return { out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim(), code: r.status ?? -1 };
}

/** `cmd` again until `pred` holds for its result, at most `tries` times 200 ms apart. */
async function until(cmd: () => Run, pred: (r: Run) => boolean, tries = 300): Promise<Run> {
  let r = cmd();
  for (let i = 0; i < tries && !pred(r); i++) {
    await new Promise((res) => setTimeout(res, 200));
    r = cmd();
  }
  return r;
}

beforeAll(async () => {
  d = await startDaemon();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-sockapps-'));
});

afterAll(async () => {
  const left = dockerSync(d, ['ps', '-aq'], 60000).out.split('\n').filter(Boolean);
  if (left.length) dockerSync(d, ['rm', '-f', ...left], 300000);
  await stopDaemonLeavingNothing(d);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("the host's psql -h DIR and redis-cli -s reach servers whose sockets are in bind mounts", async () => {
  const pgRun = path.join(dir, 'pgrun');
  const redisRun = path.join(dir, 'redisrun');
  fs.mkdirSync(pgRun);
  fs.mkdirSync(redisRun, { mode: 0o777 });
  fs.chmodSync(redisRun, 0o777);
  dockerOk(
    d,
    [
      'run',
      '-d',
      '--name',
      'pg',
      '-e',
      'POSTGRES_HOST_AUTH_METHOD=trust',
      '-v',
      `${pgRun}:/var/run/postgresql`,
      `${REG}/debian-postgres:15`,
    ],
    300000,
  );
  dockerOk(
    d,
    [
      'run',
      '-d',
      '--name',
      'redis',
      '-v',
      `${redisRun}:/run/redis`,
      `${REG}/debian-redis:7`,
      'redis-server',
      '--unixsocket',
      '/run/redis/redis.sock',
      '--unixsocketperm',
      '777',
      '--port',
      '0',
    ],
    300000,
  );
  const psql = await until(
    () => run('psql', ['-h', pgRun, '-U', 'postgres', '-Atc', 'select 40 + 2']),
    (r) => r.code === 0,
    900,
  );
  expect(psql).toMatchObject({ code: 0, out: '42' });
  // The socket and its lock file, as PostgreSQL makes them: the socket is a socket on the host.
  expect(fs.lstatSync(path.join(pgRun, '.s.PGSQL.5432')).isSocket()).toBe(true);
  expect(fs.existsSync(path.join(pgRun, '.s.PGSQL.5432.lock'))).toBe(true);

  const redis = await until(
    () => run('redis-cli', ['-s', path.join(redisRun, 'redis.sock'), 'ping']),
    (r) => r.out === 'PONG',
  );
  expect(redis.out).toBe('PONG');
  expect(run('redis-cli', ['-s', path.join(redisRun, 'redis.sock'), 'set', 'k', 'v']).out).toBe('OK');
  expect(run('redis-cli', ['-s', path.join(redisRun, 'redis.sock'), 'get', 'k']).out).toBe('v');
  dockerOk(d, ['rm', '-f', 'pg', 'redis'], 300000);
});
