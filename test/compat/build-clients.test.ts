/**
 * The clients that build through the classic API, on real VMs: compose 1.29's `build:` (a
 * service built from a Dockerfile of the project, with build args and a target, run by
 * `up -d`; a second `build` served from the cache) and docker-py's `images.build` from a path
 * and from a file object, with tag and buildargs, checking the log the SDK hands back.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(600000);

const IMAGE = `${fixtureRegistry()}/busybox`;
const PROJECT = 'pvbuild';

let d: TestDaemon;
let tmp: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-build-clients-'));
  d = await startDaemon({ vmPoolSize: 0 });
  expect((await dockerCli(d, ['pull', '-q', IMAGE])).code).toBe(0);
});
afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('compose 1.29 builds a service (build args, target), up -d runs it, a second build hits the cache', async () => {
  const dir = path.join(tmp, 'compose');
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, 'Dockerfile'),
    `FROM ${IMAGE} AS base
ARG GREETING=unset
RUN echo "$GREETING" > /greeting
FROM base AS app
COPY msg.txt /msg.txt
CMD ["sh", "-c", "cat /greeting /msg.txt; exec sleep 3600"]
FROM app AS never
RUN exit 1
`,
  );
  fs.writeFileSync(path.join(dir, 'msg.txt'), 'from the project\n');
  fs.writeFileSync(
    path.join(dir, 'docker-compose.yml'),
    `version: "3.8"
services:
  app:
    build:
      context: .
      target: app
      args:
        GREETING: hello-compose
`,
  );
  const compose = (args: string[]) => {
    const r = spawnSync('docker-compose', ['-p', PROJECT, ...args], {
      cwd: dir,
      env: d.env,
      encoding: 'utf8',
      timeout: 300000,
    });
    return { out: r.stdout ?? '', err: r.stderr ?? '', code: r.status ?? -1 };
  };
  const b = compose(['build']);
  expect(b.err).not.toMatch(/error/i);
  expect(b.code).toBe(0);
  expect(b.out).toContain('Step 6/6 : CMD ["sh", "-c", "cat /greeting /msg.txt; exec sleep 3600"]');
  expect(b.out).not.toContain('RUN exit 1');
  expect(b.out).toContain(`Successfully tagged ${PROJECT}_app:latest`);

  const up = compose(['up', '-d']);
  expect(up.code).toBe(0);
  let logs = '';
  for (let i = 0; i < 60 && !logs.includes('from the project'); i++) {
    await new Promise((r) => setTimeout(r, 500));
    logs = compose(['logs', '--no-color', 'app']).out;
  }
  expect(logs).toMatch(/app_1 {2}\| hello-compose\n.*app_1 {2}\| from the project/s);
  const ps = await dockerCli(d, ['ps', '--format', '{{.Image}} {{.Status}}']);
  expect(ps.out).toMatch(new RegExp(`^${PROJECT}_app Up `));

  const again = compose(['build']);
  expect(again.code).toBe(0);
  // Every step but the two FROMs.
  expect(again.out.match(/ ---> Using cache/g)).toHaveLength(4);
  expect(again.out).not.toContain('Running in');
  // The app's `sleep` (PID 1) ignores SIGTERM: a short grace period, not compose's 10 s.
  expect(compose(['down', '--timeout', '1']).code).toBe(0);
});

test('docker-py images.build from a path and from a file object, with tag and buildargs; the log as the SDK returns it', () => {
  const dir = path.join(tmp, 'py');
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, 'Dockerfile'),
    `FROM ${IMAGE}\nARG WHO=nobody\nCOPY hello.txt /hello.txt\nRUN echo "built for $WHO" >> /hello.txt\nCMD ["cat", "/hello.txt"]\n`,
  );
  fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello from docker-py\n');
  const script = `
import docker, io, json, sys
c = docker.DockerClient(base_url=sys.argv[1])
img, logs = c.images.build(path=sys.argv[2], tag='frompy:path', buildargs={'WHO': 'path'}, rm=True)
logs = list(logs)
print(json.dumps({'id': img.id, 'tags': img.tags, 'logs': logs}))
print(c.containers.run('frompy:path', remove=True).decode(), end='')
f = io.BytesIO(b'FROM ${IMAGE}\\nARG WHO\\nRUN echo "fileobj for $WHO" > /f.txt\\nCMD ["cat", "/f.txt"]\\n')
img2, logs2 = c.images.build(fileobj=f, tag='frompy:fileobj', buildargs={'WHO': 'bytes'})
print(json.dumps({'id': img2.id, 'tags': img2.tags, 'logs': list(logs2)}))
print(c.containers.run('frompy:fileobj', remove=True).decode(), end='')
try:
    c.images.build(fileobj=io.BytesIO(b'FROM ${IMAGE}\\nRUN echo broken; exit 4\\n'))
except docker.errors.BuildError as e:
    print(json.dumps({'error': e.msg, 'log': list(e.build_log)}))
`;
  const p = spawnSync('python3', ['-c', script, `unix://${d.socketPath}`, dir], { encoding: 'utf8', timeout: 300000 });
  expect(p.stderr).toBe('');
  const lines = p.stdout.split('\n');
  const first = JSON.parse(lines[0]);
  expect(first.id).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(first.tags).toEqual(['frompy:path']);
  // The classic builder's stream as docker-py decodes it: one dict per message.
  const streams = (first.logs as Array<Record<string, unknown>>).map((m) => m.stream ?? m);
  const short = first.id.slice(7, 19);
  expect(streams.slice(0, 2)).toEqual([`Step 1/5 : FROM ${IMAGE}`, '\n']);
  expect(streams.slice(-3)).toEqual([
    { aux: { ID: first.id } },
    `Successfully built ${short}\n`,
    'Successfully tagged frompy:path\n',
  ]);
  expect(streams.filter((s: unknown) => typeof s === 'string' && s.startsWith('Step '))).toHaveLength(5);
  expect(lines[1]).toBe('hello from docker-py');
  expect(lines[2]).toBe('built for path');

  const second = JSON.parse(lines[3]);
  expect(second.tags).toEqual(['frompy:fileobj']);
  expect((second.logs as Array<Record<string, unknown>>).map((m) => m.stream ?? m).slice(-2)).toEqual([
    `Successfully built ${second.id.slice(7, 19)}\n`,
    'Successfully tagged frompy:fileobj\n',
  ]);
  expect(lines[4]).toBe('fileobj for bytes');

  const broken = JSON.parse(lines[5]);
  expect(broken.error).toBe("The command '/bin/sh -c echo broken; exit 4' returned a non-zero code: 4");
  expect(broken.log.map((m: Record<string, unknown>) => m.stream ?? '').join('')).toContain('broken\n');
  expect(broken.log[broken.log.length - 1]).toEqual({
    errorDetail: { code: 4, message: broken.error },
    error: broken.error,
  });
});
