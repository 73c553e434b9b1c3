/**
 * docker commit through the stock CLI: the writable layer of a stopped container becomes an
 * image layer (a new file, a deleted file and a directory replaced by a new one all survive
 * into containers of the new image), `--change` sets the config, author and message land in
 * the history.
 */
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(240000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 0 });
  expect((await dockerCli(d, ['pull', '-q', IMAGE])).code).toBe(0);
});
afterAll(async () => {
  if (d) await dockerCli(d, ['rm', '-f', 'src', 'check']);
  if (d) await stopDaemonLeavingNothing(d);
});

test('commit keeps additions, deletions and an opaque directory; --change, author and message apply', async () => {
  const made = await dockerCli(d, [
    'run',
    '--name',
    'src',
    IMAGE,
    'sh',
    '-c',
    'echo committed > /new.txt && rm /bin/vi && rm -rf /home && mkdir -p /home/fresh',
  ]);
  expect(made).toMatchObject({ code: 0 });
  const c = await dockerCli(d, [
    'commit',
    '-a',
    'Ann <ann@example.com>',
    '-m',
    'my message',
    '-c',
    'ENV MODE=committed',
    '-c',
    'CMD ["cat", "/new.txt"]',
    '-c',
    'EXPOSE 8080',
    'src',
    'committed:v1',
  ]);
  expect(c.err).toBe('');
  expect(c.code).toBe(0);
  const id = c.out.trim();
  expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);

  // The image runs its new CMD and sees the change.
  const run = await dockerCli(d, ['run', '--rm', 'committed:v1']);
  expect(run).toMatchObject({ code: 0, out: 'committed\n' });
  const check = await dockerCli(d, [
    'run',
    '--name',
    'check',
    'committed:v1',
    'sh',
    '-c',
    'echo "$MODE"; ls /bin/vi 2>&1; ls /home',
  ]);
  expect(check.out).toBe('committed\nls: /bin/vi: No such file or directory\nfresh\n');

  const inspect = JSON.parse((await dockerCli(d, ['image', 'inspect', 'committed:v1'])).out)[0];
  expect(inspect.Id).toBe(id);
  expect(inspect.Author).toBe('Ann <ann@example.com>');
  expect(inspect.Comment).toBe('my message');
  expect(inspect.Config.Cmd).toEqual(['cat', '/new.txt']);
  expect(inspect.Config.Env).toContain('MODE=committed');
  expect(Object.keys(inspect.Config.ExposedPorts)).toEqual(['8080/tcp']);
  const base = JSON.parse((await dockerCli(d, ['image', 'inspect', IMAGE])).out)[0];
  expect(inspect.RootFS.Layers.slice(0, -1)).toEqual(base.RootFS.Layers);
  expect(inspect.RootFS.Layers.length).toBe(base.RootFS.Layers.length + 1);
  // dockerd records the container's image as the committed image's Parent.
  expect(inspect.Parent).toBe(base.Id);

  const hist = await dockerCli(d, ['history', '--no-trunc', '--format', '{{.Comment}}|{{.CreatedBy}}', 'committed:v1']);
  expect(hist.out.split('\n')[0]).toBe(
    'my message|sh -c echo committed > /new.txt && rm /bin/vi && rm -rf /home && mkdir -p /home/fresh',
  );

  // A change that is not allowed is refused with dockerd's words.
  const bad = await dockerCli(d, ['commit', '-c', 'RUN echo no', 'src']);
  expect(bad.code).not.toBe(0);
  expect(bad.err).toContain('run is not a valid change command');
});
