/**
 * Docker Compose v2 (Debian 13's docker-compose 2.26 as the CLI plugin: test/helpers/compose-v2.ts)
 * with the server fixture images on podvisor's real VMs (test/fixtures/compose-v2-project.ts's
 * servers project): PostgreSQL and Redis with health checks and named volumes, php-fpm started
 * once both are healthy, nginx handing index.php to php-fpm through its socket in a named
 * volume. The host's own clients (curl, psql, redis-cli) reach them through the published
 * ports; the services reach each other by their service names; down -v leaves nothing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk, freePort } from '../helpers/docker-cli';
import { composeV2, composeV2Env, composeV2Plugin } from '../helpers/compose-v2';
import { fixtureRegistry } from '../fixtures/registry';
import { SERVERS_DB, writeComposeV2ServersProject } from '../fixtures/compose-v2-project';

jest.setTimeout(900000);

const PROJECT = 'pvc2srv';

let d: TestDaemon;
let env: NodeJS.ProcessEnv;
let dir: string;
let ports: { webPort: number; pgPort: number; redisPort: number };

/** `docker compose ARGS` of the project; it must succeed: stdout and stderr. */
async function compose(args: string[]): Promise<{ out: string; err: string }> {
  const r = await composeV2(env, dir, PROJECT, args, 600000);
  if (r.code !== 0) throw new Error(`docker compose ${args.join(' ')} exited ${r.code}: ${r.err}\n${r.out}`);
  return r;
}

/** A host program with the daemon's environment; it must succeed: its stdout, trimmed. */
const host = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
};

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-compose-v2-servers-'));
  ports = { webPort: await freePort(), pgPort: await freePort(), redisPort: await freePort() };
  writeComposeV2ServersProject(dir, { registry: fixtureRegistry(), ...ports });
  d = await startDaemon();
  env = composeV2Env(d.env, composeV2Plugin());
});

afterAll(async () => {
  if (env) await composeV2(env, dir, PROJECT, ['down', '-v', '--timeout', '1']);
  if (d) await stopDaemonLeavingNothing(d);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('up -d: php-fpm starts once PostgreSQL and Redis are healthy; nginx serves index.php through the socket volume', async () => {
  const up = await compose(['up', '-d']);
  const lines = up.err.split('\n').map((l) => l.trim());
  const started = lines.indexOf(`Container ${PROJECT}-php-1  Started`);
  expect(lines.indexOf(`Container ${PROJECT}-db-1  Healthy`)).toBeGreaterThan(-1);
  expect(lines.indexOf(`Container ${PROJECT}-cache-1  Healthy`)).toBeGreaterThan(-1);
  expect(started).toBeGreaterThan(lines.indexOf(`Container ${PROJECT}-db-1  Healthy`));
  expect(started).toBeGreaterThan(lines.indexOf(`Container ${PROJECT}-cache-1  Healthy`));

  // nginx (web) hands index.php to php-fpm (php, another VM) over the socket in phpsock.
  let page = '';
  for (let i = 0; i < 300 && !page.startsWith('php '); i++) {
    page = tryCurl(`http://127.0.0.1:${ports.webPort}/index.php`);
    if (!page.startsWith('php ')) await new Promise((r) => setTimeout(r, 200));
  }
  expect(page).toMatch(/^php 8\.2\.\d+ via fpm-fcgi as www-data$/);
  expect((await compose(['exec', '-T', 'web', 'stat', '-c', '%F %U', '/run/php/php8.2-fpm.sock'])).out.trim()).toBe(
    'socket www-data',
  );

  const ps = (await compose(['ps', '--format', '{{.Service}} {{.State}} {{.Health}}'])).out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();
  expect(ps).toEqual(['cache running healthy', 'db running healthy', 'php running', 'web running']);
});

/** curl's body, or '' while the page is not served. */
function tryCurl(url: string): string {
  try {
    return host('curl', ['-sS', '--fail', url]);
  } catch {
    return '';
  }
}

test("the host's psql and redis-cli through the published ports; psql in db over its socket; php reaches db and cache by service name", async () => {
  const url = `postgresql://${SERVERS_DB.user}:${SERVERS_DB.password}@127.0.0.1:${ports.pgPort}/${SERVERS_DB.database}`;
  host('psql', [url, '-Atc', "CREATE TABLE items (name text); INSERT INTO items VALUES ('kept')"]);
  expect(host('psql', [url, '-Atc', 'SELECT current_user'])).toBe(SERVERS_DB.user);
  expect(
    (
      await compose([
        'exec',
        '-T',
        'db',
        'psql',
        '-U',
        SERVERS_DB.user,
        '-d',
        SERVERS_DB.database,
        '-Atc',
        'SELECT name FROM items',
      ])
    ).out.trim(),
  ).toBe('kept');
  expect(host('redis-cli', ['-h', '127.0.0.1', '-p', String(ports.redisPort), 'SET', 'k', 'v'])).toBe('OK');
  // From php's VM, by service name: Redis answers its protocol, PostgreSQL accepts the TCP.
  const fromPhp = await compose([
    'exec',
    '-T',
    'php',
    'bash',
    '-c',
    'exec 3<>/dev/tcp/cache/6379; printf "GET k\\r\\n" >&3; head -c 7 <&3; exec 4<>/dev/tcp/db/5432 && echo db-open',
  ]);
  expect(fromPhp.out).toBe('$1\r\nv\r\ndb-open\n');
});

test('down -v: every container and volume of the project gone', async () => {
  const down = await compose(['down', '-v', '--timeout', '10']);
  expect(down.err).not.toContain('still in use');
  expect(dockerOk({ env }, ['ps', '-aq'])).toBe('');
  expect(dockerOk({ env }, ['volume', 'ls', '-q'])).toBe('');
  expect(
    dockerOk({ env }, [
      'network',
      'ls',
      '--format',
      '{{.Name}}',
      '--filter',
      `label=com.docker.compose.project=${PROJECT}`,
    ]),
  ).toBe('');
});
