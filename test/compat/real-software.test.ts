/**
 * Real server software, as its users run it: the server fixture images (PostgreSQL 15, Redis,
 * a Python app, MariaDB, memcached, nginx with php-fpm; Debian's packages with entrypoints of
 * ours that give each the contract of its official image, test/fixtures/servers.ts) in
 * docker-compose 1.29 projects (test/fixtures/real-software-project.ts) on the real daemon:
 * named volumes initialised by the entrypoints, health checks, depends_on with
 * service_healthy, published ports reached by the host's own clients (psql, redis-cli, curl),
 * data kept across restart and down/up, the servers' own shutdown lines after a graceful stop
 * with the image's stop signal, and docker top / docker stats on images without ps.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { freePort } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { NOTES_DB, WEB_DB, writeNotesProject, writeWebProject } from '../fixtures/real-software-project';

jest.setTimeout(1800000);

const REGISTRY = fixtureRegistry();

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon();
});

afterAll(async () => {
  await stopDaemonLeavingNothing(d);
});

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

/** Stdout of a command that must succeed. */
function ok(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): string {
  const r = run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.err}\n${r.out}`);
  return r.out;
}

/** A compose project in a temp directory. */
class Project {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-real-'));
  constructor(readonly name: string) {}
  run(args: string[]): Run {
    return run('docker-compose', ['-p', this.name, ...args], { cwd: this.dir, timeoutMs: 600000 });
  }
  /** stdout and stderr of a compose command that must succeed. */
  ok(args: string[]): string {
    const r = this.run(args);
    if (r.code !== 0) throw new Error(`docker-compose ${args.join(' ')} exited ${r.code}: ${r.err}\n${r.out}`);
    return `${r.out}\n${r.err}`;
  }
  container(service: string): string {
    return `${this.name}_${service}_1`;
  }
  /**
   * Wait until the service's container is healthy (ms 0: check once); fail at once, with its
   * log, if it has exited.
   */
  async untilHealthy(service: string, ms = 600000): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      const [state, health] = run('docker', [
        'inspect',
        '-f',
        '{{.State.Status}} {{.State.Health.Status}}',
        this.container(service),
      ]).out.split(' ');
      if (health === 'healthy') return;
      if (state === 'exited' || state === 'dead')
        throw new Error(`${service} ${state} before it was healthy:\n${this.logs(service).slice(-3000)}`);
      if (Date.now() >= end)
        throw new Error(`${service} ${health}, not healthy, after ${ms / 1000} s:\n${this.logs(service).slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  logs(service: string): string {
    const r = run('docker', ['logs', this.container(service)]);
    return `${r.out}\n${r.err}`;
  }
  /**
   * The service's log once it matches `re` (within `ms`; else the log as it is). A server writes
   * its access-log line after the response, so the client can have its answer a moment before
   * the line reaches `docker logs` (on dockerd as here).
   */
  async logsMatching(service: string, re: RegExp, ms = 10000): Promise<string> {
    const end = Date.now() + ms;
    let out = this.logs(service);
    while (!re.test(out) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 250));
      out = this.logs(service);
    }
    return out;
  }
  remove(): void {
    this.run(['down', '-v', '--timeout', '10']);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The rows of `docker top` as {user, cmd}, or the CLI's error. */
function top(container: string): Array<{ user: string; cmd: string }> {
  const out = ok('docker', ['top', container]);
  const [header, ...rows] = out.split('\n');
  const cols = header.trim().split(/\s+/);
  const uid = cols.indexOf('UID');
  const cmd = cols.indexOf('CMD');
  return rows.map((r) => {
    const f = r.trim().split(/\s+/);
    return { user: f[uid], cmd: f.slice(cmd).join(' ') };
  });
}

/** `docker stats --no-stream` of one container: its name, memory in use and its PIDS. */
function stats(container: string): { name: string; mem: string; pids: number } {
  const [name, mem, pids] = ok('docker', [
    'stats',
    '--no-stream',
    '--format',
    '{{.Name}}|{{.MemUsage}}|{{.PIDs}}',
    container,
  ]).split('|');
  return { name, mem, pids: Number(pids) };
}

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** Bytes of a memory figure as the CLI prints it (`12.5MiB`); NaN for anything else. */
function bytes(figure: string): number {
  const m = /^([\d.]+)(B|KiB|MiB|GiB)$/.exec(figure.trim());
  return m ? Number(m[1]) * UNITS[m[2]] : NaN;
}

describe('PostgreSQL, Redis and a Python app (docker-compose, real VMs)', () => {
  const p = new Project('pvnotes');
  let ports: { pgPort: number; redisPort: number; appPort: number };
  const psql = (sql: string) =>
    ok('psql', [
      `postgresql://${NOTES_DB.user}:${NOTES_DB.password}@127.0.0.1:${ports.pgPort}/${NOTES_DB.database}`,
      '-Atc',
      sql,
    ]);
  const redisCli = (...args: string[]) => ok('redis-cli', ['-h', '127.0.0.1', '-p', String(ports.redisPort), ...args]);
  const curl = (...args: string[]) => ok('curl', ['-sS', '--fail', ...args, `http://127.0.0.1:${ports.appPort}/notes`]);

  beforeAll(async () => {
    ports = { pgPort: await freePort(), redisPort: await freePort(), appPort: await freePort() };
    writeNotesProject(p.dir, { registry: REGISTRY, ...ports });
  });
  afterAll(() => p.remove());

  test("up: the entrypoints initialise the volumes, app starts once db and cache are healthy, a write through the app reads back through the host's psql and redis-cli", async () => {
    const up = p.ok(['up', '-d']);
    expect(up).toContain(`Creating volume "${p.name}_pgdata"`);
    expect(up).toContain(`Creating volume "${p.name}_redisdata"`);
    expect(up).toContain(`Successfully tagged ${p.name}_app:latest`);
    // depends_on: condition: service_healthy: app was created only once both were healthy.
    await p.untilHealthy('db', 0);
    await p.untilHealthy('cache', 0);
    await p.untilHealthy('app');

    // The entrypoint made the cluster in the empty volume, then postgres took over.
    const dbLogs = p.logs('db');
    expect(dbLogs).toContain('PostgreSQL init process complete; ready for start up.');
    expect(dbLogs).toContain('database system is ready to accept connections');
    expect(dbLogs).toMatch(/listening on Unix socket "\/var\/run\/postgresql\/\.s\.PGSQL\.5432"/);
    expect(dbLogs).toMatch(/listening on IPv4 address "0\.0\.0\.0", port 5432/);

    // A write through the app reads back through it.
    expect(JSON.parse(curl('-X', 'POST', '--data-binary', 'first note'))).toEqual({ id: 1, writes: 1 });
    expect(JSON.parse(curl())).toEqual({ notes: ['first note'], writes: 1 });

    // The host's own clients reach both servers through their published ports.
    expect(psql('SELECT body FROM notes ORDER BY id')).toBe('first note');
    expect(psql('SELECT current_user')).toBe(NOTES_DB.user);
    // The default configuration: the package's socket directory, and every address.
    expect(psql('SHOW unix_socket_directories')).toBe('/var/run/postgresql');
    expect(psql('SHOW listen_addresses')).toBe('*');
    expect(redisCli('GET', 'notes:writes')).toBe('1');
    expect(redisCli('SET', 'from-host', 'yes')).toBe('OK');

    // Inside the container, psql reaches the server over its unix socket.
    expect(
      p
        .ok([
          'exec',
          '-T',
          'db',
          'psql',
          '-U',
          NOTES_DB.user,
          '-d',
          NOTES_DB.database,
          '-Atc',
          'SELECT count(*) FROM notes',
        ])
        .trim(),
    ).toBe('1');
    // The data directory is the postgres user's, mode 700, as the entrypoint left it.
    expect(p.ok(['exec', '-T', 'db', 'stat', '-c', '%U %a', '/var/lib/postgresql/data']).trim()).toBe('postgres 700');
    expect(p.ok(['exec', '-T', 'cache', 'stat', '-c', '%U', '/data/.']).trim()).toBe('redis');
    // The images' stop signals.
    expect(ok('docker', ['inspect', '-f', '{{.Config.StopSignal}}', p.container('db')])).toBe('SIGINT');
  });

  test('docker stats and docker top on the servers (images without ps): privileges dropped to the service users', () => {
    for (const s of ['db', 'cache', 'app']) {
      const st = stats(p.container(s));
      expect(st.name).toBe(p.container(s));
      expect(bytes(st.mem.split('/')[0])).toBeGreaterThan(1024 * 1024);
      expect(st.pids).toBeGreaterThan(0);
    }
    // Each server runs as its service user, none as root: postgres (the postmaster and its
    // helper processes) as postgres, redis-server as redis, the app as the Dockerfile's USER.
    // The user shows by name or by uid (as the container's /etc/passwd has it).
    const runsAs = (service: string, user: string) => [user, p.ok(['exec', '-T', service, 'id', '-u', user]).trim()];
    const pg = top(p.container('db')).filter((r) => r.cmd.startsWith('postgres'));
    expect(pg.length).toBeGreaterThan(3);
    expect(pg.some((r) => r.cmd === 'postgres: checkpointer')).toBe(true);
    const pgUser = runsAs('db', 'postgres');
    expect(pg.filter((r) => !pgUser.includes(r.user))).toEqual([]);
    const redis = top(p.container('cache')).filter((r) => r.cmd.startsWith('redis-server'));
    expect(redis).toHaveLength(1);
    expect(runsAs('cache', 'redis')).toContain(redis[0].user);
    // (Only the app's own process: the health check's python3 may be running beside it.)
    const app = top(p.container('app')).filter((r) => r.cmd === 'python3 -u /srv/app/app.py');
    expect(app).toHaveLength(1);
    expect(runsAs('app', 'www-data')).toContain(app[0].user);
  });

  test("restart of db and cache keeps their data; each graceful stop leaves the server's own shutdown line in docker logs", async () => {
    p.ok(['restart', 'db']);
    const dbLogs = p.logs('db');
    // SIGINT is PostgreSQL's fast shutdown (SIGTERM would be a smart one).
    expect(dbLogs).toContain('received fast shutdown request');
    expect(dbLogs).toContain('database system is shut down');
    await p.untilHealthy('db');
    expect(psql('SELECT body FROM notes ORDER BY id')).toBe('first note');
    // The restarted server found its cluster: no second initialisation.
    expect(p.logs('db').split('PostgreSQL init process complete').length).toBe(2);
    // The app reconnects: a second write.
    expect(JSON.parse(curl('-X', 'POST', '--data-binary', 'second note'))).toEqual({ id: 2, writes: 2 });

    p.ok(['restart', 'cache']);
    const cacheLogs = p.logs('cache');
    expect(cacheLogs).toContain('Received SIGTERM scheduling shutdown');
    expect(cacheLogs).toContain('DB saved on disk');
    expect(cacheLogs).toContain('Redis is now ready to exit, bye bye');
    await p.untilHealthy('cache');
    expect(redisCli('GET', 'notes:writes')).toBe('2');
    expect(redisCli('GET', 'from-host')).toBe('yes');
    expect(JSON.parse(curl())).toEqual({ notes: ['first note', 'second note'], writes: 2 });

    // The app handles SIGTERM and says so.
    p.ok(['stop', 'app']);
    expect(p.logs('app')).toContain('app: shut down');
    // It ended by itself within the grace period (not killed: 137).
    expect(ok('docker', ['inspect', '-f', '{{.State.ExitCode}}', p.container('app')])).toBe('0');
  });

  test("down then up keeps the named volumes' data; down -v removes them", async () => {
    p.ok(['down']);
    expect(ok('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${p.name}`])).toBe('');
    expect(ok('docker', ['volume', 'ls', '-q']).split('\n').sort()).toEqual([
      `${p.name}_pgdata`,
      `${p.name}_redisdata`,
    ]);
    p.ok(['up', '-d']);
    await p.untilHealthy('app');
    // A new container on the kept volume: not initialised again.
    expect(p.logs('db')).not.toContain('PostgreSQL init process complete');
    expect(JSON.parse(curl())).toEqual({ notes: ['first note', 'second note'], writes: 2 });
    expect(psql('SELECT count(*) FROM notes')).toBe('2');
    p.ok(['down', '-v']);
    expect(ok('docker', ['volume', 'ls', '-q'])).toBe('');
  });
});

/** One memcached text-protocol exchange with the server on 127.0.0.1:port. */
function memcached(port: number, request: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    s.setTimeout(30000, () => s.destroy(new Error(`memcached answered only ${JSON.stringify(got)}`)));
    s.on('data', (b: Buffer) => {
      got += b.toString();
      if (until.test(got)) {
        s.end();
        resolve(got);
      }
    });
    s.on('error', reject);
  });
}

describe('nginx with php-fpm, MariaDB and memcached (docker-compose, real VMs)', () => {
  const p = new Project('pvweb');
  let ports: { webPort: number; mariadbPort: number; memcachedPort: number };
  const mariadb = (sql: string) =>
    p
      .ok([
        'exec',
        '-T',
        'db',
        'mariadb',
        `-u${WEB_DB.user}`,
        `-p${WEB_DB.password}`,
        '-h127.0.0.1',
        WEB_DB.database,
        '-N',
        '-e',
        sql,
      ])
      .trim();

  beforeAll(async () => {
    ports = { webPort: await freePort(), mariadbPort: await freePort(), memcachedPort: await freePort() };
    writeWebProject(p.dir, { registry: REGISTRY, ...ports });
  });
  afterAll(() => p.remove());

  test('php-fpm answers through nginx over its unix socket; MariaDB initialised from MARIADB_*, kept across restart, shut down gracefully; memcached through its published port', async () => {
    p.ok(['up', '-d']);
    await p.untilHealthy('db', 0);
    await p.untilHealthy('web');

    // nginx hands index.php to php-fpm's worker (www-data) over /run/php/php8.2-fpm.sock.
    expect(ok('curl', ['-sS', '--fail', `http://127.0.0.1:${ports.webPort}/index.php`])).toMatch(
      /^php 8\.2\.\d+ via fpm-fcgi as www-data$/,
    );
    const served = /"GET \/index\.php HTTP\/1\.1" 200/;
    expect(await p.logsMatching('web', served)).toMatch(served);
    expect(ok('docker', ['inspect', '-f', '{{.Config.StopSignal}}', p.container('web')])).toBe('SIGQUIT');

    // MariaDB: the entrypoint's user and database; the server listens on its published port.
    const dbLogs = p.logs('db');
    expect(dbLogs).toContain('MariaDB init process done. Ready for start up.');
    expect(dbLogs).toMatch(
      /mariadbd: ready for connections\.[\s\S]*socket: '\/run\/mysqld\/mysqld\.sock'\s+port: 3306/,
    );
    mariadb("CREATE TABLE items (name VARCHAR(40)); INSERT INTO items VALUES ('kept')");
    expect(mariadb('SELECT name FROM items')).toBe('kept');
    expect(p.ok(['exec', '-T', 'db', 'stat', '-c', '%U', '/var/lib/mysql/ibdata1']).trim()).toBe('mysql');
    expect(
      await new Promise<string>((resolve, reject) => {
        // The server's greeting on the published port carries its version.
        const s = net.connect(ports.mariadbPort, '127.0.0.1');
        s.once('data', (b: Buffer) => {
          s.destroy();
          resolve(b.toString('latin1'));
        });
        s.on('error', reject);
      }),
    ).toMatch(/10\.11\.\d+-MariaDB/);

    p.ok(['restart', 'db']);
    expect(p.logs('db')).toMatch(/mariadbd: Shutdown complete/);
    await p.untilHealthy('db');
    expect(mariadb('SELECT name FROM items')).toBe('kept');

    // memcached, as memcache, through its published port.
    expect(await memcached(ports.memcachedPort, 'set greeting 0 0 5\r\nhello\r\n', /STORED\r\n/)).toBe('STORED\r\n');
    expect(await memcached(ports.memcachedPort, 'get greeting\r\n', /END\r\n/)).toBe(
      'VALUE greeting 0 5\r\nhello\r\nEND\r\n',
    );
    expect(ok('docker', ['inspect', '-f', '{{.Config.User}}', p.container('memo')])).toBe('memcache');

    // A graceful stop (SIGQUIT) of nginx and php-fpm, each saying so.
    p.ok(['stop', 'web']);
    const webLogs = p.logs('web');
    expect(webLogs).toContain('nginx-php: php-fpm and nginx stopped');
    expect(webLogs).toMatch(/NOTICE: exiting, bye-bye!/);
    expect(ok('docker', ['inspect', '-f', '{{.State.ExitCode}}', p.container('web')])).toBe('0');
  });
});
