/**
 * The last rows of the `docker run` audit (test/audit/run-flags.ts, issue 41) that are neither
 * resources nor networks, each through the stock docker CLI (or the API, for fields no flag
 * sets) on podvisor and on both baselines, dockerd 20.10 and dockerd 26.1 (each + runc), with
 * the same command and the same observable result; one run compares podvisor's answer with
 * both (the API cases at each baseline's own version):
 *  - `--use-api-socket` (CLI 28): the daemon's socket at /var/run/docker.sock, the CLI's
 *    credentials copied in, and the stock CLI inside drives the daemon;
 *  - `--volume-driver`: the driver of the volumes `-v` makes, named or anonymous; an unknown
 *    one refused with dockerd's words, and nothing made;
 *  - Config.Cmd, Image, ArgsEscaped, OnBuild and Shell of a create: what runs, what inspect
 *    shows, and what `docker commit` keeps;
 *  - HostConfig.ConsoleSize: the terminal's size from the start (Docker 23 and later; dockerd
 *    20.10 leaves it 0x0 until the client's first resize).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, type CliResult } from '../helpers/docker-cli';
import { onEach, startBesideBaselines, stopBesideBaselines, type NamedBaseline } from '../helpers/beside-baseline';

jest.setTimeout(600000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox:latest`;
const DEBIAN = `${REG}/debian:bookworm`;
/** The host's docker CLI: a static binary, so it runs in any image. */
const DOCKER_CLI = '/usr/local/bin/docker';

type Daemon = { env: NodeJS.ProcessEnv };
let d: TestDaemon;
let bases: NamedBaseline[] = [];
let dir: string;

/**
 * `docker create` with an unknown volume driver, for a named and an anonymous volume, on every
 * daemon: asked as soon as they are up, and read by the last case. dockerd looks for the plugin
 * for 30 s, twice (the CLI takes its 404 for a missing image, pulls, and asks again): the other
 * cases run meanwhile.
 */
let unknownDriver: Promise<Array<[CliResult, CliResult[]]>>;

beforeAll(async () => {
  ({ d, bases, dir } = await startBesideBaselines('pv-api-fields-', { vmPoolSize: 1 }, [IMAGE, DEBIAN]));
  unknownDriver = Promise.all(
    ['vd-named:/data', '/data'].map((spec) =>
      onAll(['create', '--volume-driver', 'nosuch', '-v', spec, IMAGE, 'true']),
    ),
  );
  // Read (and its failure reported) by the case; no unhandled rejection if that case never runs.
  unknownDriver.catch(() => undefined);
});

afterAll(() => stopBesideBaselines({ d, bases, dir }));

/**
 * The same docker CLI command on podvisor (once) and on each baseline (each with `env` added):
 * podvisor's answer, and the baselines'.
 */
async function onAll(args: string[], env: NodeJS.ProcessEnv = {}): Promise<[CliResult, CliResult[]]> {
  const withEnv = (x: Daemon): Daemon => ({ env: { ...x.env, ...env } });
  return onEach(
    withEnv(d),
    bases.map((b) => withEnv(b.daemon)),
    args,
  );
}

/** Expect `ours` to equal each of `theirs`, saying which baseline differs. */
function expectSameAsEach<T>(ours: T, theirs: T[]): void {
  expect(Object.fromEntries(theirs.map((t, i) => [bases[i].name, t]))).toEqual(
    Object.fromEntries(bases.map((b) => [b.name, ours])),
  );
}

/**
 * One API call with curl on a daemon's socket, at API version `v` (a baseline's own: 1.41 for
 * dockerd 20.10, 1.45 for dockerd 26.1): the status and the parsed body (if any).
 */
function api(x: Daemon, v: string, method: string, url: string, body?: unknown): { status: number; body: unknown } {
  const sock = String(x.env.DOCKER_HOST).replace(/^unix:\/\//, '');
  const args = ['-s', '-w', '\n%{http_code}', '--unix-socket', sock, '-X', method, `http://docker/v${v}${url}`];
  if (body !== undefined) args.push('-H', 'Content-Type: application/json', '-d', JSON.stringify(body));
  const out = execFileSync('curl', args, { encoding: 'utf8' });
  const i = out.lastIndexOf('\n');
  const text = out.slice(0, i);
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON (logs): kept as text.
  }
  return { status: Number(out.slice(i + 1)), body: parsed };
}

describe('--use-api-socket', () => {
  test("the daemon's socket and the CLI's credentials are in the container, and the CLI inside drives the daemon", async () => {
    // A CLI configuration with one registry's credentials, which the CLI copies into the container.
    const cfg = path.join(dir, 'cli-with-auth');
    fs.mkdirSync(cfg, { recursive: true });
    const auth = Buffer.from('someone:secret').toString('base64');
    fs.writeFileSync(path.join(cfg, 'config.json'), JSON.stringify({ auths: { 'registry.example.test': { auth } } }));
    const script =
      'stat -c %F /var/run/docker.sock; echo "DOCKER_CONFIG=$DOCKER_CONFIG"; ' +
      'grep -o registry.example.test "$DOCKER_CONFIG/config.json"; ' +
      // -a: dockerd marks the container running only after its process started, so a plain
      // `ps` this early may not list it yet.
      "docker ps -a --filter name=api-user --format '{{.Names}}'";
    const [ours, theirs] = await onAll(
      [
        'run',
        '--rm',
        '--name',
        'api-user',
        '--use-api-socket',
        '-v',
        `${DOCKER_CLI}:/usr/local/bin/docker:ro`,
        DEBIAN,
        'sh',
        '-c',
        script,
      ],
      { DOCKER_CONFIG: cfg },
    );
    expectSameAsEach(ours, theirs);
    expect(ours).toMatchObject({
      code: 0,
      out: 'socket\nDOCKER_CONFIG=/run/secrets/docker\nregistry.example.test\napi-user\n',
    });
  });
});

describe('--volume-driver', () => {
  test('the local driver makes the volume; a bind mount needs no driver', async () => {
    const [ours, theirs] = await onAll([
      'run',
      '--rm',
      '--volume-driver',
      'local',
      '-v',
      'vd-local:/data',
      '-v',
      `${dir}:/host:ro`,
      IMAGE,
      'sh',
      '-c',
      'touch /data/x && ls /data && test -d /host && echo bound',
    ]);
    expectSameAsEach(ours, theirs);
    expect(ours).toMatchObject({ code: 0, out: 'x\nbound\n' });
    const [vol, baseVol] = await onAll(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}}', 'vd-local']);
    expectSameAsEach(vol, baseVol);
    expect(vol.out).toBe('vd-local local\n');
    await onAll(['volume', 'rm', 'vd-local']);
  });
});

// The API cases run on podvisor at each baseline's own version, beside that baseline.
describe.each(['dockerd 20.10', 'dockerd 26.1'])(
  'Config fields no flag sets, and HostConfig.ConsoleSize, at the API version of %s',
  (baselineName) => {
    const baseline = () => bases.find((b) => b.name === baselineName)!;

    test('Cmd, Image, ArgsEscaped, OnBuild and Shell: what runs, what inspect shows, what commit keeps', async () => {
      const { daemon: base, version: v } = baseline();
      const body = {
        Image: IMAGE,
        Cmd: ['sh', '-c', 'echo "ran as $0 with $#"'],
        ArgsEscaped: true,
        OnBuild: ['RUN echo on-build'],
        Shell: ['/bin/ash', '-c'],
      };
      const seen: unknown[] = [];
      for (const x of [d, base]) {
        // Whatever fails, nothing is left for the next cases (the last one checks that).
        try {
          const created = api(x, v, 'POST', '/containers/create?name=api-config', body);
          expect(created.status).toBe(201);
          const id = (created.body as { Id: string }).Id;
          expect(api(x, v, 'POST', `/containers/${id}/start`).status).toBe(204);
          // dockerd 26 leaves out a null Error (from 1.42 here); dockerd 20.10 sends it.
          const waited = v === '1.41' ? { Error: null, StatusCode: 0 } : { StatusCode: 0 };
          expect(api(x, v, 'POST', `/containers/${id}/wait`).body).toEqual(waited);
          const inspect = api(x, v, 'GET', `/containers/${id}/json`).body as { Config: Record<string, unknown> };
          const { Cmd, Image, ArgsEscaped, OnBuild, Shell } = inspect.Config;
          const logs = await dockerCli(x, ['logs', id]);
          const committed = await dockerCli(x, ['commit', id, 'api-config-image:1']);
          expect({ code: committed.code, err: committed.err }).toEqual({ code: 0, err: '' });
          const image = await dockerCli(x, [
            'image',
            'inspect',
            '-f',
            '{{json .Config.OnBuild}} {{json .Config.Shell}} {{json .Config.Cmd}}',
            'api-config-image:1',
          ]);
          seen.push({ Cmd, Image, ArgsEscaped, OnBuild, Shell, logs: logs.out, image: image.out });
        } finally {
          await dockerCli(x, ['rm', '-f', 'api-config']);
          await dockerCli(x, ['rmi', 'api-config-image:1']);
        }
      }
      expect(seen[0]).toEqual(seen[1]);
      expect(seen[0]).toEqual({
        ...body,
        logs: 'ran as sh with 0\n',
        image: '["RUN echo on-build"] ["/bin/ash","-c"] ["sh","-c","echo \\"ran as $0 with $#\\""]\n',
      });
    });

    test("a terminal container's first size is ConsoleSize, as Docker 23 and later make it (dockerd 20.10: 0x0)", async () => {
      const { daemon: base, version: v } = baseline();
      const body = { Image: IMAGE, Cmd: ['stty', 'size'], Tty: true, HostConfig: { ConsoleSize: [30, 100] } };
      const sizes: string[] = [];
      for (const x of [d, base]) {
        const created = api(x, v, 'POST', '/containers/create', body);
        expect(created.status).toBe(201);
        const id = (created.body as { Id: string }).Id;
        expect(api(x, v, 'POST', `/containers/${id}/start`).status).toBe(204);
        api(x, v, 'POST', `/containers/${id}/wait`);
        sizes.push((await dockerCli(x, ['logs', id])).out.trim());
        const shown = api(x, v, 'GET', `/containers/${id}/json`).body as { HostConfig: { ConsoleSize: number[] } };
        expect(shown.HostConfig.ConsoleSize).toEqual([30, 100]);
        await dockerCli(x, ['rm', '-f', id]);
      }
      expect(sizes[0]).toBe('30 100');
      // dockerd 20.10's terminal has no size yet (busybox's stty cannot read one); dockerd 26's has it.
      expect({ baselineName, sized: sizes[1] === '30 100' }).toEqual({
        baselineName,
        sized: baselineName === 'dockerd 26.1',
      });
    });
  },
);

// Last: no other case's container or volume is left on any daemon.
describe('--volume-driver, unknown', () => {
  test('an unknown driver is refused for a named and an anonymous volume with dockerd words, and nothing is made', async () => {
    const results = await unknownDriver;
    // An anonymous volume's name is random: shown as ID.
    const norm = (r: CliResult) => ({ ...r, err: r.err.replace(/\b[0-9a-f]{64}\b/g, 'ID') });
    for (const [ours, theirs] of results) {
      expectSameAsEach(norm(ours), theirs.map(norm));
      expect(ours.code).toBe(1);
      // dockerd's answer is a 404, which the CLI takes for a missing image: it pulls, creates
      // again, and then prints the error.
      expect(ours.err).toMatch(
        /^Error response from daemon: create \S+: error looking up volume plugin nosuch: plugin "nosuch" not found$/m,
      );
    }
    const [vols, baseVols] = await onAll(['volume', 'ls', '-q']);
    expectSameAsEach(vols, baseVols);
    expect(vols.out).toBe('');
    const [ps, basePs] = await onAll(['ps', '-aq']);
    expectSameAsEach(ps, basePs);
    expect(ps.out).toBe('');
  });
});
