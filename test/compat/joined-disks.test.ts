/**
 * A container that joins another's VM (`docker run --network container:X`) gets disks of its
 * own there, as a container with a VM of its own does: its writable layer on a disk file and
 * its image read from the image's disk, both hot-plugged on X's VM's SCSI controller while it
 * runs (src/vm/devices/joined-disks.ts). Through the stock docker CLI on real VMs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dockerCli } from '../helpers/docker-cli';
import { vmDisks, vmDisksBecome } from '../helpers/vm-disks';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300_000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;
beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 0, args: ['--experimental'] });
});
afterAll(async () => {
  if (!d) return;
  const ids = (await dockerCli(d, ['ps', '-aq'])).out.split('\n').filter(Boolean);
  if (ids.length) await dockerCli(d, ['rm', '-f', ...ids]);
  await stopDaemonLeavingNothing(d);
});

const docker = async (args: string[]) => {
  const r = await dockerCli(d, args);
  if (r.code !== 0) console.log(`docker ${args.join(' ')}: ${r.code} ${r.err}`);
  return r;
};

/**
 * File `file` of container `name` once its command has written it: `docker run -d` answers
 * once the command started, and an exec right after it can run before the command's first
 * line under load (30 s at most; a file never written reads as empty).
 */
const written = (name: string, file: string) =>
  docker([
    'exec',
    name,
    'sh',
    '-c',
    `i=0; until [ -s ${file} ] || [ $i -ge 600 ]; do sleep 0.05; i=$((i+1)); done; cat ${file}`,
  ]);

test('a joined container writes its layer to a disk of its own, hot-plugged and unplugged', async () => {
  expect((await docker(['run', '-d', '--name', 'host1', IMAGE, 'sleep', '3600'])).code).toBe(0);
  const before = await vmDisks(d, 'host1');
  const j = await docker([
    'run',
    '-d',
    '--name',
    'guest1',
    '--network',
    'container:host1',
    IMAGE,
    'sh',
    '-c',
    'echo layer > /written; exec sleep 3600',
  ]);
  expect(j.code).toBe(0);
  // Two more disks in the VM: its upper disk and its image's.
  const during = await vmDisks(d, 'host1');
  expect(during.length).toBe(before.length + 2);
  // Its root is an overlay whose upper layer is on one of them, not the rootfs share.
  const mounts = (await docker(['exec', 'guest1', 'cat', '/proc/mounts'])).out;
  expect(mounts).toMatch(/^overlay \/ overlay .*lowerdir=[^,]*\/image/m);
  expect((await written('guest1', '/written')).out).toBe('layer\n');
  expect((await docker(['diff', 'guest1'])).out).toContain('A /written');
  // Stopped and started again: its layer kept, its disks plugged again.
  expect((await docker(['stop', '-t', '0', 'guest1'])).code).toBe(0);
  expect(await vmDisksBecome(d, 'host1', before)).toEqual(before);
  expect((await docker(['start', 'guest1'])).code).toBe(0);
  expect((await docker(['exec', 'guest1', 'cat', '/written'])).out).toBe('layer\n');
  expect((await docker(['rm', '-f', 'guest1'])).code).toBe(0);
  expect(await vmDisksBecome(d, 'host1', before)).toEqual(before);
});

test('its layer goes through cp and commit, its VM is saved with it running on, and a daemon crash loses none of it', async () => {
  expect((await docker(['run', '-d', '--name', 'host2', IMAGE, 'sleep', '3600'])).code).toBe(0);
  const before = await vmDisks(d, 'host2');
  const run = ['run', '-d', '--name', 'guest2', '--network', 'container:host2', IMAGE];
  expect((await docker([...run, 'sh', '-c', 'echo mine > /mine; exec sleep 3600'])).code).toBe(0);

  // Its VM is saved with it inside, and it runs on (checkpoint-joined.test.ts restores such saves).
  expect((await docker(['checkpoint', 'create', '--leave-running', 'host2', 'c1'])).code).toBe(0);
  expect((await docker(['exec', 'guest2', 'cat', '/mine'])).out).toBe('mine\n');

  // docker cp both ways, while it runs.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'joined-disks-'));
  try {
    fs.writeFileSync(path.join(tmp, 'in.txt'), 'from the host\n');
    expect((await docker(['cp', path.join(tmp, 'in.txt'), 'guest2:/in.txt'])).code).toBe(0);
    expect((await docker(['exec', 'guest2', 'cat', '/in.txt'])).out).toBe('from the host\n');
    expect((await docker(['cp', 'guest2:/mine', path.join(tmp, 'out.txt')])).code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, 'out.txt'), 'utf8')).toBe('mine\n');

    // A daemon crash: both go on, and the next daemon takes both over.
    await d.kill9();
    await d.restart();
    expect((await docker(['exec', 'guest2', 'cat', '/mine', '/in.txt'])).out).toBe('mine\nfrom the host\n');

    // Stopped: its layer read from its disk for cp and commit.
    expect((await docker(['stop', '-t', '0', 'guest2'])).code).toBe(0);
    expect(await vmDisksBecome(d, 'host2', before)).toEqual(before);
    expect((await docker(['cp', 'guest2:/in.txt', path.join(tmp, 'back.txt')])).code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, 'back.txt'), 'utf8')).toBe('from the host\n');
    expect((await docker(['commit', 'guest2', 'joined-commit:1'])).code).toBe(0);
    const fromCommit = await docker(['run', '--rm', 'joined-commit:1', 'cat', '/mine']);
    expect(fromCommit).toMatchObject({ code: 0, out: 'mine\n' });

    // Started again after the crash, then removed while running: its disks unplugged by name
    // by a daemon that did not plug them.
    expect((await docker(['start', 'guest2'])).code).toBe(0);
    await d.kill9();
    await d.restart();
    expect((await docker(['rm', '-f', 'guest2'])).code).toBe(0);
    expect(await vmDisksBecome(d, 'host2', before)).toEqual(before);
    expect((await docker(['checkpoint', 'create', '--leave-running', 'host2', 'c2'])).code).toBe(0);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await docker(['rm', '-f', 'guest2', 'host2']);
    await docker(['rmi', 'joined-commit:1']);
  }
});

test('two containers join one VM at once, each on disks of its own', async () => {
  expect((await docker(['run', '-d', '--name', 'host3', IMAGE, 'sleep', '3600'])).code).toBe(0);
  const before = await vmDisks(d, 'host3');
  const join = (name: string) =>
    docker([
      'run',
      '-d',
      '--name',
      name,
      '--network',
      'container:host3',
      IMAGE,
      'sh',
      '-c',
      `echo ${name} > /who; exec sleep 3600`,
    ]);
  const [a, b] = await Promise.all([join('guest3a'), join('guest3b')]);
  expect([a.code, b.code]).toEqual([0, 0]);
  expect((await vmDisks(d, 'host3')).length).toBe(before.length + 4);
  expect((await written('guest3a', '/who')).out).toBe('guest3a\n');
  expect((await written('guest3b', '/who')).out).toBe('guest3b\n');
  expect((await docker(['rm', '-f', 'guest3a', 'guest3b'])).code).toBe(0);
  expect(await vmDisksBecome(d, 'host3', before)).toEqual(before);
  expect((await docker(['rm', '-f', 'host3'])).code).toBe(0);
});

test("PostgreSQL run as users run it, joined to a busybox container's VM: its layer on its disk, its image's disk its own, X's image untouched", async () => {
  const pg = `${fixtureRegistry()}/debian-postgres:15`;
  expect((await docker(['run', '-d', '--name', 'host4', IMAGE, 'sleep', '3600'])).code).toBe(0);
  try {
    const run = ['run', '-d', '--name', 'pg4', '--network', 'container:host4', '-e', 'POSTGRES_PASSWORD=secret', pg];
    expect((await docker(run)).code).toBe(0);
    let ready = false;
    for (let i = 0; i < 240 && !ready; i++) {
      ready = (await dockerCli(d, ['exec', 'pg4', 'pg_isready', '-q', '-h', '127.0.0.1'])).code === 0;
      if (!ready) await new Promise((r) => setTimeout(r, 500));
    }
    expect(ready).toBe(true);
    const sql = 'CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 1000); SELECT count(*) FROM t;';
    const q = await docker(['exec', '-u', 'postgres', 'pg4', 'psql', '-At', '-h', '127.0.0.1', '-c', sql]);
    expect(q.out.trim().split('\n').pop()).toBe('1000');
    // Its root reads its own image's disk; X still reads busybox from its own.
    expect((await docker(['exec', 'pg4', 'cat', '/proc/mounts'])).out).toMatch(
      /^overlay \/ overlay .*lowerdir=[^,]*\/image/m,
    );
    expect((await docker(['exec', 'host4', 'busybox', 'true'])).code).toBe(0);
    expect((await docker(['exec', 'host4', 'ls', '/usr/lib/postgresql'])).code).not.toBe(0);
  } finally {
    await docker(['rm', '-f', 'pg4', 'host4']);
  }
});
