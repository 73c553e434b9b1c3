/**
 * docker build with the classic builder (DOCKER_BUILDKIT=0), through the stock CLI and
 * docker-py, on real VMs: a multi-stage build that makes something in one stage and copies it
 * into a FROM scratch stage; a Dockerfile with every instruction; a rebuild served from the
 * cache (no VM); --target; a failing RUN; a context symlink that points out of the context;
 * and the built images run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli } from '../helpers/docker-cli';
import { FIXTURE_AUTH_PASSWORD, fixtureAuthRegistry, FIXTURE_AUTH_USER, fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;

let d: TestDaemon;
let tmp: string;
let env: NodeJS.ProcessEnv;

function docker(args: string[]) {
  return dockerCli({ env }, args, undefined, 240000);
}

/** A context directory with these files. */
function context(name: string, files: Record<string, string>): string {
  const dir = path.join(tmp, name);
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
  return dir;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-build-'));
  d = await startDaemon({ vmPoolSize: 0 });
  env = { ...d.env, DOCKER_BUILDKIT: '0' };
  expect((await docker(['pull', '-q', IMAGE])).code).toBe(0);
});
afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
  fs.rmSync(tmp, { recursive: true, force: true });
});

const MULTI = `FROM ${IMAGE} AS build
WORKDIR /src
COPY gen.sh ./
RUN sh gen.sh > /src/out.txt
FROM scratch
COPY --from=build /bin/busybox /bin/busybox
COPY --from=build /src/out.txt /out.txt
CMD ["/bin/busybox", "cat", "/out.txt"]
`;

test('a multi-stage build copies what one stage made into a scratch stage; rebuild hits the cache; --target stops early', async () => {
  const dir = context('multi', {
    Dockerfile: MULTI,
    'gen.sh': 'i=1; while [ $i -le 3 ]; do echo "line $i"; i=$((i+1)); done\n',
  });
  const first = await docker(['build', '-t', 'multi:1', dir]);
  expect(first.err).not.toMatch(/error/i);
  expect(first.code).toBe(0);
  expect(first.out).toContain('Step 1/8 : FROM');
  expect(first.out).toContain('Step 4/8 : RUN sh gen.sh > /src/out.txt');
  expect(first.out).toMatch(/ ---> Running in [0-9a-f]{12}/);
  expect(first.out).toMatch(/Successfully built [0-9a-f]{12}\nSuccessfully tagged multi:1\n/);

  const run = await docker(['run', '--rm', 'multi:1']);
  expect(run.err).toBe('');
  expect(run).toMatchObject({ code: 0, out: 'line 1\nline 2\nline 3\n' });
  const inspect = JSON.parse((await docker(['image', 'inspect', 'multi:1'])).out)[0];
  expect(inspect.RootFS.Layers).toHaveLength(2);
  expect(inspect.Config.Cmd).toEqual(['/bin/busybox', 'cat', '/out.txt']);

  // The same build again: every step from the cache, no container, the same image.
  const again = await docker(['build', '-t', 'multi:2', dir]);
  expect(again.code).toBe(0);
  expect(again.out).not.toContain('Running in');
  expect(again.out.match(/ ---> Using cache/g)?.length).toBe(6);
  expect(JSON.parse((await docker(['image', 'inspect', 'multi:2'])).out)[0].Id).toBe(inspect.Id);

  // --target: the first stage only.
  const target = await docker(['build', '--target', 'build', '-t', 'multi:build', dir]);
  expect(target.code).toBe(0);
  expect(target.out).toContain('Step 4/4 : RUN');
  const out = await docker(['run', '--rm', 'multi:build', 'cat', 'out.txt']);
  expect(out).toMatchObject({ code: 0, out: 'line 1\nline 2\nline 3\n' });
});

test('every instruction', async () => {
  const dir = context('every', {
    Dockerfile: `ARG BASE=${IMAGE}
FROM \${BASE}
ARG GREETING=hello
LABEL org.test.kind="every instruction"
MAINTAINER someone
ENV APP_HOME=/app MODE=test
WORKDIR $APP_HOME
COPY --chown=1000:1000 files/ ./files/
COPY . /ctx/
ADD archive.tar.gz /opt/
SHELL ["/bin/sh", "-c"]
RUN echo "$GREETING from $APP_HOME in $MODE" > greeting.txt
USER 1000
EXPOSE 8080/tcp 9090
VOLUME /data
HEALTHCHECK --interval=30s --timeout=5s CMD true
STOPSIGNAL SIGINT
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat greeting.txt; id -u; stat -c %u files/a.txt; cat /opt/unpacked/inner.txt; ls /ctx"]
`,
    'files/a.txt': 'a\n',
    '.dockerignore': 'secret.txt\n',
    'secret.txt': 'do not send\n',
    'visible.txt': 'ok\n',
  });
  fs.mkdirSync(path.join(tmp, 'arch/unpacked'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'arch/unpacked/inner.txt'), 'from the archive\n');
  execFileSync('tar', ['-czf', path.join(dir, 'archive.tar.gz'), '-C', path.join(tmp, 'arch'), 'unpacked']);

  const b = await docker(['build', '--build-arg', 'GREETING=hi', '--label', 'extra=1', '-t', 'every', dir]);
  expect(b.err).not.toMatch(/error/i);
  expect(b.code).toBe(0);
  const run = await docker(['run', '--rm', 'every']);
  expect(run.out).toBe(
    'hi from /app in test\n1000\n1000\nfrom the archive\nDockerfile\narchive.tar.gz\nfiles\nvisible.txt\n',
  );
  const c = JSON.parse((await docker(['image', 'inspect', 'every'])).out)[0];
  expect(c.Author).toBe('someone');
  expect(c.Config).toMatchObject({
    User: '1000',
    WorkingDir: '/app',
    Entrypoint: ['/bin/sh', '-c'],
    Cmd: ['cat greeting.txt; id -u; stat -c %u files/a.txt; cat /opt/unpacked/inner.txt; ls /ctx'],
    ExposedPorts: { '8080/tcp': {}, '9090/tcp': {} },
    Volumes: { '/data': {} },
    StopSignal: 'SIGINT',
    OnBuild: ['RUN echo triggered'],
    Shell: ['/bin/sh', '-c'],
    Labels: { 'org.test.kind': 'every instruction', extra: '1' },
    Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 30e9, Timeout: 5e9 },
  });
  expect(c.Config.Env).toEqual(expect.arrayContaining(['APP_HOME=/app', 'MODE=test']));
  const hist = await docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'every']);
  expect(hist.out).toContain('|1 GREETING=hi /bin/sh -c echo "$GREETING from $APP_HOME in $MODE" > greeting.txt');

  // ONBUILD fires in a build FROM this image.
  const child = context('child', { Dockerfile: 'FROM every\nCMD ["echo child"]\n' });
  const cb = await docker(['build', '-q', '-t', 'child', child]);
  expect(cb.code).toBe(0);
  expect(cb.out.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
});

test('a failing RUN fails the build with its output and exit code', async () => {
  const dir = context('fail', { Dockerfile: `FROM ${IMAGE}\nRUN echo about to fail; exit 3\nRUN echo never\n` });
  const r = await docker(['build', dir]);
  expect(r.code).not.toBe(0);
  expect(r.out).toContain('about to fail\n');
  expect(r.out).not.toContain('Step 3/3');
  expect(r.err).toContain("The command '/bin/sh -c echo about to fail; exit 3' returned a non-zero code: 3");
});

test('config steps of a FROM scratch stage with no layer yet: ARG then USER from the build arg', async () => {
  const dir = context('scratch-args', { Dockerfile: 'FROM scratch\nARG test\nUSER $test\n' });
  const r = await docker(['build', '--build-arg', 'test=OK', '-t', 'scratch-args', dir]);
  expect(r.err).not.toContain('at least one layer');
  expect(r.code).toBe(0);
  const u = await docker(['inspect', '-f', '{{.Config.User}}', 'scratch-args']);
  expect(u.out.trim()).toBe('OK');
});

test('--cache-from reuses the steps of the named image only: none when the name is unknown, as dockerd', async () => {
  const dir = context('cache-from', {
    Dockerfile: `FROM ${IMAGE}\nENV FOO=bar\nRUN touch baz\nCOPY f /f\n`,
    f: 'one\n',
  });
  expect((await docker(['build', '-q', '-t', 'cf:1', dir])).code).toBe(0);
  const hits = async (args: string[]) => {
    const r = await docker(['build', ...args, '-t', 'cf:2', dir]);
    expect(r.code).toBe(0);
    return {
      cached: r.out.match(/ ---> Using cache/g)?.length ?? 0,
      ran: r.out.includes(' ---> Running in ') && r.out.includes('RUN touch baz\n ---> Running in'),
    };
  };
  expect(await hits(['--cache-from', 'cf:1'])).toEqual({ cached: 3, ran: false });
  expect(await hits(['--cache-from', 'nosuchtag'])).toEqual({ cached: 0, ran: true });
  expect(await hits(['--cache-from', 'nosuchtag', '--cache-from', 'cf:1'])).toEqual({ cached: 3, ran: false });
  // The base image has no step of this build among its parents.
  expect(await hits(['--cache-from', IMAGE])).toEqual({ cached: 0, ran: true });
  // An intermediate image of cf:1: the steps up to it are reused, the COPY after it is not.
  const parent = (await docker(['inspect', '-f', '{{.Parent}}', 'cf:1'])).out.trim();
  expect(parent).toMatch(/^sha256:/);
  expect(await hits(['--cache-from', parent])).toEqual({ cached: 2, ran: false });
});

test('a client that hangs up during a RUN cancels the build: the step container goes, later steps never run', async () => {
  const dir = context('cancel', { Dockerfile: `FROM ${IMAGE}\nRUN echo started; sleep 60\nRUN echo never\n` });
  const cli = spawn('docker', ['build', '--no-cache', '-t', 'cancelled:1', dir], { env });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no RUN started: ${out}`)), 120000);
    cli.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\nstarted\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const step = /---> Running in ([0-9a-f]{12})/.exec(out)?.[1];
  expect(step).toBeDefined();
  cli.kill('SIGKILL');
  // dockerd kills and removes the step's container at once; the 60 s RUN does not finish.
  let left = '';
  for (let i = 0; i < 60; i++) {
    left = (await docker(['ps', '-aq', '--no-trunc'])).out;
    if (!left.includes(step!)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  expect(left).not.toContain(step!);
  expect((await docker(['image', 'inspect', 'cancelled:1'])).code).not.toBe(0);
});

test('a context symlink never leads out; a missing source is an error', async () => {
  const dir = context('evil', { Dockerfile: `FROM ${IMAGE}\nCOPY leak /leak\n` });
  fs.symlinkSync('/etc/hostname', path.join(dir, 'leak'));
  const r = await docker(['build', dir]);
  expect(r.code).not.toBe(0);
  expect(r.err).toContain('file not found in build context');
  // A symlinked directory: a path through it is resolved inside the context (not found), and
  // COPY of the whole context copies the link as a link.
  const through = context('evil-dir', { Dockerfile: `FROM ${IMAGE}\nCOPY etcdir/hostname /x\n` });
  fs.symlinkSync('/etc', path.join(through, 'etcdir'));
  const t = await docker(['build', through]);
  expect(t.code).not.toBe(0);
  expect(t.err).toContain('file not found in build context');
  const whole = context('evil-whole', {
    Dockerfile: `FROM ${IMAGE}\nCOPY . /ctx/\nRUN readlink /ctx/etcdir; test -L /ctx/etcdir\n`,
  });
  fs.symlinkSync('/etc', path.join(whole, 'etcdir'));
  const w = await docker(['build', whole]);
  expect(w.code).toBe(0);
  expect(w.out).toContain(' ---> Running in ');
  expect(w.out).toMatch(/\n\/etc\n/);
});

test('docker-py images.build, then prune the build cache', async () => {
  const dir = context('py', {
    Dockerfile: `FROM ${IMAGE}\nENV FROM_PY=1\nCOPY hello.txt /hello.txt\nCMD ["cat", "/hello.txt"]\n`,
    'hello.txt': 'hello from docker-py\n',
  });
  const script = `
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
img, logs = c.images.build(path=sys.argv[2], tag='frompy:1', rm=True)
print(img.id)
print(''.join(l.get('stream', '') for l in logs).count('Step '))
print(c.containers.run('frompy:1', remove=True).decode(), end='')
`;
  const p = spawnSync('python3', ['-c', script, `unix://${d.socketPath}`, dir], { encoding: 'utf8', timeout: 180000 });
  expect(p.stderr).toBe('');
  const [id, steps, out] = p.stdout.split('\n');
  expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(steps).toBe('4');
  expect(out).toBe('hello from docker-py');

  const prune = await docker(['builder', 'prune', '-f']);
  expect(prune.code).toBe(0);
  expect(JSON.parse((await docker(['image', 'inspect', 'frompy:1'])).out)[0].Id).toBe(id);
  // The cache is gone: the same build makes its steps again.
  const again = await docker(['build', dir]);
  expect(again.out).not.toContain('Using cache');
});

test('with DOCKER_BUILDKIT unset and no buildx plugin, the CLI falls back to the classic builder', async () => {
  const dir = context('unset', { Dockerfile: `FROM ${IMAGE}\nLABEL built=classic\n` });
  const plain = { ...env };
  delete plain.DOCKER_BUILDKIT;
  const r = await dockerCli({ env: plain }, ['build', '-t', 'unset', dir]);
  expect(r.code).toBe(0);
  expect(r.err).toContain('legacy builder is deprecated');
  expect(r.out).toContain('Successfully tagged unset:latest');
});

test('FROM an image of a private registry pulls with the credentials of X-Registry-Config', async () => {
  const dir = context('private', { Dockerfile: `FROM ${fixtureAuthRegistry()}/busybox\nLABEL from=private\n` });
  const anonymous = await docker(['build', '-t', 'private', dir]);
  expect(anonymous.code).not.toBe(0);
  const login = await dockerCli(
    { env },
    ['login', '-u', FIXTURE_AUTH_USER, '--password-stdin', fixtureAuthRegistry()],
    Buffer.from(FIXTURE_AUTH_PASSWORD),
  );
  expect(login.code).toBe(0);
  const r = await docker(['build', '-t', 'private', dir]);
  expect(r.code).toBe(0);
  expect(JSON.parse((await docker(['image', 'inspect', 'private'])).out)[0].Config.Labels).toEqual({ from: 'private' });
});
