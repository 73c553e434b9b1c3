/**
 * `docker build --squash` through the stock CLI (DOCKER_BUILDKIT=0) against a daemon started
 * with --experimental, on real VMs, as against dockerd 20.10 --experimental (measured): the CLI
 * sees the daemon's experimental mode (it refuses --squash otherwise), the built image has its
 * base's layers plus one, `docker history` shows the merged steps as empty and dockerd's
 * "merge X to Y" entry, and a container of it sees what the steps did (a file written in one
 * step and deleted in the next is gone, a base file the steps deleted is gone, the others are
 * there). The same build without --squash has one layer per RUN.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;
let tmp: string;
let env: NodeJS.ProcessEnv;

const docker = (args: string[]) => dockerCli({ env }, args, undefined, 240000);

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-squash-'));
  d = await startDaemon({ vmPoolSize: 0, args: ['--experimental'] });
  env = { ...d.env, DOCKER_BUILDKIT: '0' };
  expect((await docker(['pull', '-q', IMAGE])).code).toBe(0);
});
afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("--squash: the base's layers plus one, the history marked, the files as the steps left them", async () => {
  fs.writeFileSync(
    path.join(tmp, 'Dockerfile'),
    [
      `FROM ${IMAGE}`,
      'RUN echo one > /file_1 && echo tmp > /tmp_file',
      'RUN echo two > /file_2 && rm /tmp_file /bin/vi',
      'RUN echo three > /file_3',
      'CMD ["cat", "/file_1", "/file_2", "/file_3"]',
    ].join('\n') + '\n',
  );
  expect((await docker(['version', '--format', '{{.Server.Experimental}}'])).out.trim()).toBe('true');
  const base = JSON.parse((await docker(['image', 'inspect', IMAGE])).out)[0].RootFS.Layers as string[];

  const plain = await docker(['build', '-t', 'nosquash', tmp]);
  expect(plain.code).toBe(0);
  expect(JSON.parse((await docker(['image', 'inspect', 'nosquash'])).out)[0].RootFS.Layers).toHaveLength(
    base.length + 3,
  );

  const built = await docker(['build', '--squash', '-t', 'squash', tmp]);
  expect(built.code).toBe(0);
  const img = JSON.parse((await docker(['image', 'inspect', 'squash'])).out)[0];
  expect(img.RootFS.Layers).toHaveLength(base.length + 1);
  expect(img.RootFS.Layers.slice(0, base.length)).toEqual(base);
  expect(built.out).toContain(`Successfully built ${img.Id.slice('sha256:'.length, 'sha256:'.length + 12)}`);
  expect(img.Comment).toMatch(/^merge sha256:[0-9a-f]{64} to sha256:[0-9a-f]{64}$/);
  const history = (await docker(['history', '--no-trunc', '--format', '{{.Size}}|{{.Comment}}', 'squash'])).out
    .trim()
    .split('\n');
  // Newest first: the merge entry holds the layer, the three RUN steps (and CMD) none.
  expect(history[0]).toMatch(/^\d+B?\|merge /);
  expect(history.slice(1, 5)).toEqual(['0B|', '0B|', '0B|', '0B|']);

  const run = await docker([
    'run',
    '--rm',
    'squash',
    'sh',
    '-c',
    'cat /file_1 /file_2 /file_3; ls /tmp_file /bin/vi 2>&1; ls /bin/sh',
  ]);
  expect(run.out.split('\n').slice(0, 3)).toEqual(['one', 'two', 'three']);
  expect(run.out).toContain('/tmp_file: No such file or directory');
  expect(run.out).toContain('/bin/vi: No such file or directory');
  expect(run.out).toContain('/bin/sh');
  expect((await docker(['rmi', 'squash', 'nosquash'])).code).toBe(0);
});
