/**
 * `docker run --network/--pid/--ipc container:X` through the stock docker CLI on real VMs: the
 * new container runs in X's VM, so it reaches X's server on localhost, sees X's processes with
 * --pid, has X's hostname and with --ipc X's /dev/shm, stays its own container for ps/exec/stop, goes on after a daemon
 * SIGKILL, and dockerd's refusals are given with dockerd's words. One VM boot (X's).
 */
import { dockerCli } from '../helpers/docker-cli';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { listVmProcesses } from '../helpers/leaks';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(240_000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;
beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 0 });
});
afterAll(async () => {
  if (!d) return;
  // Running containers outlive a daemon stop (to be re-adopted): remove them first.
  const ids = (await dockerCli(d, ['ps', '-aq'])).out.split('\n').filter(Boolean);
  if (ids.length) await dockerCli(d, ['rm', '-f', ...ids]);
  await stopDaemonLeavingNothing(d);
});

const docker = (args: string[]) => dockerCli(d, args);
const qemus = () =>
  listVmProcesses().filter((p) => p.cmdline.includes(d.execRoot) && p.cmdline.includes('qemu-system'));

test("a container joins another one's VM: localhost, PIDs, hostname; refusals as dockerd words them", async () => {
  // dockerd's refusals, at create.
  expect((await docker(['create', '--pid', 'container:nope', IMAGE])).err).toContain('No such container: nope');
  expect((await docker(['create', '--ipc', 'container:nope', IMAGE])).err).toContain('No such container: nope');
  expect((await docker(['create', '-h', 'x', '--network', 'container:nope', IMAGE])).err).toContain(
    'conflicting options: hostname and the network mode',
  );
  // --network names a container that must exist only at start (dockerd creates it).
  const early = await docker(['create', '--name', 'early', '--network', 'container:jx', IMAGE, 'true']);
  expect(early.code).toBe(0);

  const x = await docker([
    'run',
    '-d',
    '--name',
    'jx',
    '--hostname',
    'xhost',
    IMAGE,
    'sh',
    '-c',
    'echo served > /tmp/i; exec httpd -f -p 8080 -h /tmp',
  ]);
  expect(x.code).toBe(0);
  expect(qemus()).toHaveLength(1);

  // Network: X's server on localhost; one VM still.
  const got = await docker([
    'run',
    '--rm',
    '--network',
    'container:jx',
    IMAGE,
    'sh',
    '-c',
    'hostname; for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://localhost:8080/i && exit 0; sleep 0.5; done; exit 1',
  ]);
  expect(got).toMatchObject({ code: 0, out: 'xhost\nserved\n' });
  // The container created before X existed joins it at start.
  expect((await docker(['start', '-a', 'early'])).code).toBe(0);

  // PID: each sees the other's processes; it is its own container for ps, exec and stop.
  expect((await docker(['run', '-d', '--name', 'jy', '--pid', 'container:jx', IMAGE, 'sleep', '1001'])).code).toBe(0);
  expect(qemus()).toHaveLength(1);
  expect((await docker(['exec', 'jx', 'ps', '-o', 'args'])).out).toContain('sleep 1001');
  expect((await docker(['exec', 'jy', 'ps', '-o', 'args'])).out).toContain('httpd -f -p 8080');
  expect((await docker(['ps', '--format', '{{.Names}}'])).out.split('\n').sort()).toEqual(['', 'jx', 'jy']);
  expect((await docker(['pause', 'jy'])).err).toContain('it runs in the VM of the container it joined');

  // A daemon crash: both go on, and the next daemon takes both over.
  await d.kill9();
  await d.restart();
  expect((await docker(['exec', 'jy', 'ps', '-o', 'args'])).out).toContain('httpd -f -p 8080');
  expect((await docker(['inspect', '-f', '{{.State.Running}}', 'jx', 'jy'])).out).toBe('true\ntrue\n');

  // Stopping the joined one leaves X running; stopping X ends the one still inside it.
  expect((await docker(['stop', '-t', '1', 'jy'])).code).toBe(0);
  expect((await docker(['inspect', '-f', '{{.State.Running}}', 'jx'])).out).toBe('true\n');
  expect((await docker(['start', 'jy'])).code).toBe(0);
  expect((await docker(['stop', '-t', '1', 'jx'])).code).toBe(0);
  expect((await docker(['wait', 'jy'])).out).toBe('137\n');
  // X not running: dockerd's 409.
  expect((await docker(['start', 'jy'])).err).toContain('cannot join network of a non running container');
  expect((await docker(['rm', '-f', 'jx', 'jy', 'early'])).code).toBe(0);
});

test("--ipc container:X: the container has X's /dev/shm (what one writes there, the other reads)", async () => {
  expect((await docker(['run', '-d', '--name', 'shmx', '--ipc', 'shareable', IMAGE, 'sleep', '600'])).code).toBe(0);
  try {
    expect((await docker(['exec', 'shmx', 'sh', '-c', 'echo from-x > /dev/shm/a'])).code).toBe(0);
    const script = 'cat /dev/shm/a; echo from-y > /dev/shm/b';
    const y = await docker(['run', '--rm', '--ipc', 'container:shmx', IMAGE, 'sh', '-c', script]);
    expect(y).toMatchObject({ code: 0, out: 'from-x\n' });
    expect((await docker(['exec', 'shmx', 'cat', '/dev/shm/b'])).out).toBe('from-y\n');
  } finally {
    await docker(['rm', '-f', 'shmx']);
  }
});
