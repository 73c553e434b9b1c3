/**
 * Small dockerd behaviours, each through a real client against the real daemon on real VMs:
 *  - TTY output arrives in the bursts a program wrote it in (docker-py's
 *    test_attach_stream_and_cancel reads `echo hello` as one chunk "hello\r\n");
 *  - /sys/fs/cgroup in a container is its own cgroup, read-only (`docker run -m` shows in
 *    memory.max), as runc mounts it on cgroup v2;
 *  - `--log-opt compress=true` gzips rotated json-file logs and `docker logs` still reads them;
 *  - HostConfig.Runtime is `runc`, dockerd's default name, for a create with a HostConfig
 *    (docker-py's test_create_with_runtime); at API 1.41 a body with none shows no Runtime, as
 *    dockerd 20.10 shows none (checked against it: ["runc", null] for these two creates).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, type CliResult } from '../helpers/docker-cli';

jest.setTimeout(180000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;

function docker(d: TestDaemon, args: string[]): Promise<CliResult> {
  return dockerCli(d, args);
}

/** Run a docker-py snippet (Debian's python3-docker); `client` is an APIClient on the daemon. */
function python(d: TestDaemon, body: string): Promise<string> {
  const script = `import docker, json, sys, threading\nclient = docker.APIClient(base_url='unix://${d.socketPath}', version='1.41')\n${body}\n`;
  return new Promise((resolve, reject) =>
    execFile('/usr/bin/python3', ['-c', script], { timeout: 60000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.trim()),
    ),
  );
}

describe('TTY bursts, cgroup mount, compressed logs, runtime name', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon({ vmPoolSize: 1 });
    expect((await docker(d, ['pull', '-q', IMAGE])).code).toBe(0);
  });
  afterAll(async () => {
    if (!d) return;
    await stopDaemonLeavingNothing(d);
  });

  test('docker-py: `echo hello` in a TTY container streams as one chunk, as from dockerd', async () => {
    // docker-py's test_attach_stream_and_cancel, three times (a split is a race).
    const chunks = await python(
      d,
      `out = []
for i in range(3):
    c = client.create_container('${IMAGE}', 'sh -c "sleep 1 && echo hello && sleep 60"', tty=True)
    client.start(c)
    s = client.attach(c, stream=True, logs=True)
    threading.Timer(2.5, s.close).start()
    out.append([x.decode() for x in s])
    client.remove_container(c, force=True)
print(json.dumps(out))`,
    );
    expect(JSON.parse(chunks)).toEqual([['hello\r\n'], ['hello\r\n'], ['hello\r\n']]);
  });

  test("/sys/fs/cgroup is the container's own cgroup, read-only: memory.max shows docker run -m", async () => {
    const limited = await docker(d, [
      'run',
      '--rm',
      '-m',
      '64m',
      IMAGE,
      'sh',
      '-c',
      'cat /sys/fs/cgroup/memory.max; cat /proc/self/cgroup; echo 1 > /sys/fs/cgroup/memory.max',
    ]);
    expect(limited.out).toBe('67108864\n0::/\n');
    expect(limited.err).toMatch(/Read-only file system/);
    expect(limited.code).toBe(1);
    const unlimited = await docker(d, ['run', '--rm', IMAGE, 'cat', '/sys/fs/cgroup/memory.max']);
    expect(unlimited).toEqual({ code: 0, out: 'max\n', err: '' });
  });

  test('--log-opt compress=true gzips rotated files, and docker logs reads them all', async () => {
    const run = await docker(d, [
      'run',
      '--name',
      'gz',
      '--log-opt',
      'max-size=2k',
      '--log-opt',
      'max-file=3',
      '--log-opt',
      'compress=true',
      IMAGE,
      'seq',
      '1',
      '400',
    ]);
    expect(run.code).toBe(0);
    const id = (await docker(d, ['inspect', '-f', '{{.Id}}', 'gz'])).out.trim();
    const dir = path.join(d.dataRoot, 'containers', id);
    const names = fs
      .readdirSync(dir)
      .filter((f) => f.includes('-json.log'))
      .sort();
    expect(names).toEqual([`${id}-json.log`, `${id}-json.log.1.gz`, `${id}-json.log.2.gz`, `${id}-json.log.pos`]);
    const logs = (await docker(d, ['logs', 'gz'])).out.trim().split('\n').map(Number);
    // The oldest lines were rotated away; what is kept reads back whole and in order, to 400.
    expect(logs[logs.length - 1]).toBe(400);
    expect(logs).toEqual(Array.from({ length: logs.length }, (_, i) => logs[0] + i));
    const current = fs
      .readFileSync(path.join(dir, `${id}-json.log`), 'utf8')
      .trim()
      .split('\n').length;
    expect(logs.length).toBeGreaterThan(current + 20);
    // Without max-file >= 2 it is refused at start, in dockerd's words.
    const bad = await docker(d, [
      'run',
      '--rm',
      '--log-opt',
      'max-size=2k',
      '--log-opt',
      'compress=true',
      IMAGE,
      'true',
    ]);
    expect(bad.err).toMatch(/compress cannot be true when max-file is less than 2/);
    await docker(d, ['rm', '-f', 'gz']);
  });

  test('docker-py: HostConfig.Runtime is runc when given, absent at 1.41 without a HostConfig; an unknown runtime is refused', async () => {
    const seen = await python(
      d,
      `a = client.create_container('${IMAGE}', ['echo', 'test'], runtime='runc')
b = client.create_container('${IMAGE}', ['echo', 'test'])
r = [client.inspect_container(a)['HostConfig'].get('Runtime'), client.inspect_container(b)['HostConfig'].get('Runtime'), client.info()['DefaultRuntime']]
try:
    client.create_container('${IMAGE}', ['true'], host_config=client.create_host_config(runtime='kata'))
    r.append('accepted')
except docker.errors.APIError as e:
    r.append([e.status_code, e.explanation])
for c in (a, b):
    client.remove_container(c)
print(json.dumps(r))`,
    );
    expect(JSON.parse(seen)).toEqual(['runc', null, 'runc', [400, 'Unknown runtime specified kata']]);
  });
});
