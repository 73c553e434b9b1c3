/**
 * Volumes kept on a container's own disk, through the stock CLI and the podvisor CLI on real
 * VMs (docs/design/storage.md, "Volumes on the container's disk"). A container that reads its
 * image from the image's disk (the default; not `--storage-opt image=layers`) keeps its anonymous volumes (its image's VOLUME, `-v /path`) as
 * directories of its own upper disk, so that its VM can be saved and forked with them:
 * - the volume is filled from the image at create, as dockerd fills it, and is listed by
 *   `docker volume ls`; the host's directory of it stays empty (the data is the guest's);
 * - a checkpoint saves it, a restore goes on writing it with no gap or repeat, and a fork gets
 *   its own copy;
 * - another container's mount of it (`--volumes-from`, `-v name:/path`) is refused with the
 *   reason while its container exists; `docker cp` reaches it both ways in the running
 *   container and reads it from the stopped one (the volume's files, not the image's);
 * - `docker rm` (without -v) moves its data to the host, where it is an ordinary volume that
 *   any container mounts; `docker run --rm` takes it along;
 * - a created container's volume takes `docker cp` before the first start, onto its disk;
 * - with `--storage-opt volumes=disk`, a named volume that no other container mounts lives on its container's disk as well: saved,
 *   restored and forked with it, refused to a second container (its start, `docker cp` into
 *   it) while its container runs, taken off the disk by that second container's start once it
 *   stopped; `docker rm`, with or without -v, moves it to the host;
 * - a named volume that two containers are created with is shared over the volume share, and a
 *   bind mount or such a volume keeps a container from being saved: refused with QEMU's reason
 *   and what would make it savable;
 * (A plain `docker run -d` counter saved and restored: test/compat/checkpoint.test.ts.)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk, dockerSync } from '../helpers/docker-cli';
import { podvisorOk } from '../helpers/podvisor-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(600000);

const IMAGE = `${fixtureRegistry()}/busybox`;
/** Counts on stdout and into the volume, one number every 0.2 s. */
const COUNTER = 'i=0; while true; do echo $i; echo $i >> /data/n; i=$((i+1)); sleep 0.2; done';

let d: TestDaemon;
let tmp: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-diskvol-'));
  d = await startDaemon({ args: ['--experimental'] });
  dockerOk(d, ['pull', '-q', IMAGE], 300000);
  // An image whose VOLUME holds a file of another owner (COPY: no step container).
  fs.writeFileSync(path.join(tmp, 'seed'), 'seed\n');
  fs.writeFileSync(
    path.join(tmp, 'Dockerfile'),
    [`FROM ${IMAGE}`, 'COPY --chown=1000:1000 seed /data/seed', 'VOLUME /data'].join('\n') + '\n',
  );
  dockerOk({ env: { ...d.env, DOCKER_BUILDKIT: '0' } }, ['build', '-q', '-t', 'voldata', tmp], 300000);
});

afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
  fs.rmSync(tmp, { recursive: true, force: true });
});

const lines = (s: string) => s.split('\n').filter((l) => l !== '');
const consecutive = (xs: string[]) => xs.map(Number).every((x, i) => x === i);

async function waitForLines(name: string, n: number): Promise<void> {
  for (let i = 0; i < 150 && lines(dockerSync(d, ['logs', name]).out).length < n; i++)
    await new Promise((r) => setTimeout(r, 200));
}

test("an image's VOLUME of a container lives on its disk: filled from the image, saved, restored and forked with it, refused to others, moved to the host by rm", async () => {
  const name = 'vd';
  const id = dockerOk(d, ['run', '-d', '--name', name, 'voldata', 'sh', '-c', COUNTER]);
  const vol = dockerOk(d, ['inspect', '-f', '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}', name]);
  expect(vol).toMatch(/^volume [0-9a-f]{64} \/data$/);
  const volume = vol.split(' ')[1];
  const dataDir = path.join(d.dataRoot, 'volumes', volume, '_data');
  try {
    await waitForLines(name, 3);
    // Filled from the image, owner kept; listed; the host's directory of it is empty.
    expect(dockerOk(d, ['exec', name, 'stat', '-c', '%u %n', '/data/seed'])).toBe('1000 /data/seed');
    expect(dockerOk(d, ['exec', name, 'cat', '/data/seed'])).toBe('seed');
    expect(lines(dockerOk(d, ['volume', 'ls', '-q']))).toContain(volume);
    expect(fs.readdirSync(dataDir)).toEqual([]);

    // docker cp reaches the volume of the running container, both ways (the image has no /data/n).
    fs.writeFileSync(path.join(tmp, 'in'), 'copied in\n');
    dockerOk(d, ['cp', path.join(tmp, 'in'), `${name}:/data/in`]);
    expect(dockerOk(d, ['exec', name, 'cat', '/data/in'])).toBe('copied in');
    dockerOk(d, ['cp', `${name}:/data/n`, path.join(tmp, 'n-running')]);
    expect(lines(fs.readFileSync(path.join(tmp, 'n-running'), 'utf8')).length).toBeGreaterThanOrEqual(1);

    // Saved with the VM (the checkpoint ends the run), restored: the count in the volume goes on.
    expect(dockerOk(d, ['checkpoint', 'create', name, 'saved'])).toBe('saved');
    const atSave = lines(dockerOk(d, ['logs', name])).length;
    dockerOk(d, ['start', '--checkpoint', 'saved', name]);
    await waitForLines(name, atSave + 3);
    const inVolume = lines(dockerOk(d, ['exec', name, 'cat', '/data/n']));
    expect(inVolume.length).toBeGreaterThanOrEqual(atSave + 2);
    expect(consecutive(inVolume)).toBe(true);
    expect(consecutive(lines(dockerOk(d, ['logs', name])))).toBe(true);

    // A fork has its own copy: what it writes there, the source does not see.
    await podvisorOk(d, ['fork', name, 'saved', '--name', 'vf']);
    expect(dockerOk(d, ['exec', 'vf', 'cat', '/data/seed'])).toBe('seed');
    dockerOk(d, ['exec', 'vf', 'sh', '-c', 'echo fork > /data/who']);
    expect(dockerSync(d, ['exec', name, 'cat', '/data/who']).code).not.toBe(0);

    // Another container that mounts it is created, but cannot start while its container runs.
    for (const args of [
      ['create', '--name', 'vwait1', '--volumes-from', name, IMAGE, 'true'],
      ['create', '--name', 'vwait2', '-v', `${volume}:/x`, IMAGE, 'true'],
    ]) {
      dockerOk(d, args);
      const r = dockerSync(d, ['start', args[2]]);
      expect(r.code).not.toBe(0);
      expect(r.err).toContain(
        `volume ${volume} keeps its data on the disk of container ${name} (${id.slice(0, 12)}), which is running`,
      );
    }
    dockerOk(d, ['rm', 'vwait1', 'vwait2']);
    expect(lines(dockerOk(d, ['ps', '-aq']))).toHaveLength(2);

    // The fork's removal leaves the volume; the stopped container's volume is read by cp.
    dockerOk(d, ['rm', '-f', 'vf']);
    expect(lines(dockerOk(d, ['volume', 'ls', '-q']))).toContain(volume);
    dockerOk(d, ['stop', '-t', '1', name]);
    const cp = dockerSync(d, ['cp', `${name}:/data/seed`, path.join(tmp, 'copied')]);
    expect(cp.code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, 'copied'), 'utf8')).toBe('seed\n');
    // The mount point itself: a directory named after it, with what the container wrote there.
    dockerOk(d, ['cp', `${name}:/data`, path.join(tmp, 'whole')]);
    expect(fs.readdirSync(path.join(tmp, 'whole')).sort()).toEqual(['in', 'n', 'seed']);
    expect(consecutive(lines(fs.readFileSync(path.join(tmp, 'whole', 'n'), 'utf8')))).toBe(true);
  } finally {
    const all = dockerSync(d, ['ps', '-aq', '--filter', 'name=vf']).out;
    if (all) dockerSync(d, ['rm', '-f', all]);
  }

  // rm without -v: the data moves to the host, an ordinary volume from then on.
  expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', name])).toBe('exited');
  dockerOk(d, ['rm', name]);
  expect(lines(dockerOk(d, ['volume', 'ls', '-q']))).toContain(volume);
  expect(fs.readFileSync(path.join(dataDir, 'seed'), 'utf8')).toBe('seed\n');
  expect(fs.statSync(path.join(dataDir, 'seed')).uid).toBe(1000);
  expect(consecutive(lines(fs.readFileSync(path.join(dataDir, 'n'), 'utf8')))).toBe(true);
  expect(dockerOk(d, ['run', '--rm', '-v', `${volume}:/x`, IMAGE, 'cat', '/x/seed'])).toBe('seed');
  dockerOk(d, ['volume', 'rm', volume]);
});

test('docker run --rm of a container takes its volume on the disk along', async () => {
  const before = lines(dockerOk(d, ['volume', 'ls', '-q']));
  expect(dockerOk(d, ['run', '--rm', 'voldata', 'cat', '/data/seed'])).toBe('seed');
  for (let i = 0; i < 100 && lines(dockerOk(d, ['volume', 'ls', '-q'])).length > before.length; i++)
    await new Promise((r) => setTimeout(r, 100));
  expect(lines(dockerOk(d, ['volume', 'ls', '-q']))).toEqual(before);
});

test("a created container's volume on its disk takes docker cp before the first start, and its disk keeps it", async () => {
  const c = dockerOk(d, ['create', 'voldata', 'cat', '/data/seed', '/data/added']);
  fs.writeFileSync(path.join(tmp, 'added'), 'added\n');
  dockerOk(d, ['cp', path.join(tmp, 'added'), `${c}:/data/added`]);
  expect(dockerOk(d, ['start', '-a', c])).toBe('seed\nadded');
  expect(dockerOk(d, ['start', '-a', c])).toBe('seed\nadded');
  dockerOk(d, ['rm', '-v', c]);
});

/** `docker checkpoint create` of running container `name` is refused for its 9p volume share, and it runs on. */
function expectVolumeShareRefusal(name: string): void {
  const r = dockerSync(d, ['checkpoint', 'create', name, 'cp']);
  expect(r.code).toBe(1);
  expect(r.err).toMatch(
    new RegExp(
      `^Error response from daemon: Cannot checkpoint container ${name}: its VM cannot be saved \\(see docs/checkpoint.md\\): ` +
        "Migration is disabled when VirtFS export path '.*' is mounted in the guest using mount_tag 'podvisor-vol' " +
        "\\(a container can be saved when it reads its image from the image's disk \\(the default; not with --storage-opt image=layers, nor in another container's VM\\), " +
        'has no bind mount, and keeps its volumes on its own disk \\(its anonymous ones by default, its named ones with --storage-opt volumes=disk, while no other container mounts them\\)\\)',
    ),
  );
  expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', name])).toBe('running');
}

test('a container with a bind mount is refused a checkpoint with the reason, and runs on', async () => {
  const src = path.join(tmp, 'bound');
  fs.mkdirSync(src);
  dockerOk(d, ['run', '-d', '--name', 'withbind', '-v', `${src}:/h`, IMAGE, 'sleep', '1000']);
  try {
    expectVolumeShareRefusal('withbind');
  } finally {
    dockerSync(d, ['rm', '-f', 'withbind']);
  }
});

test('with --storage-opt volumes=disk, a named volume that only its container mounts lives on its disk: filled from the image, saved, restored and forked with it; a second container waits for it to stop, then takes the data', async () => {
  const name = 'nv1';
  const id = dockerOk(d, [
    'run',
    '-d',
    '--name',
    name,
    '--storage-opt',
    'volumes=disk',
    '-v',
    'nvol:/data',
    'voldata',
    'sh',
    '-c',
    COUNTER,
  ]);
  const dataDir = path.join(d.dataRoot, 'volumes', 'nvol', '_data');
  try {
    await waitForLines(name, 3);
    // Filled from the image, owner kept; listed and inspected as any volume; its host directory is empty.
    expect(dockerOk(d, ['exec', name, 'stat', '-c', '%u %n', '/data/seed'])).toBe('1000 /data/seed');
    expect(dockerOk(d, ['volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Mountpoint}}', 'nvol'])).toBe(
      `nvol local ${dataDir}`,
    );
    expect(dockerOk(d, ['inspect', '-f', '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}', name])).toBe(
      'volume nvol /data',
    );
    expect(fs.readdirSync(dataDir)).toEqual([]);

    // Saved with the VM and restored: the count in the volume goes on, no gap, no repeat.
    expect(dockerOk(d, ['checkpoint', 'create', name, 'saved'])).toBe('saved');
    const atSave = lines(dockerOk(d, ['logs', name])).length;
    dockerOk(d, ['start', '--checkpoint', 'saved', name]);
    await waitForLines(name, atSave + 3);
    const inVolume = lines(dockerOk(d, ['exec', name, 'cat', '/data/n']));
    expect(inVolume.length).toBeGreaterThanOrEqual(atSave + 2);
    expect(consecutive(inVolume)).toBe(true);

    // A fork has its own copy: what it writes there, the source does not see.
    await podvisorOk(d, ['fork', name, 'saved', '--name', 'nvf']);
    dockerOk(d, ['exec', 'nvf', 'sh', '-c', 'echo fork > /data/who']);
    expect(dockerOk(d, ['exec', 'nvf', 'cat', '/data/seed'])).toBe('seed');
    expect(dockerSync(d, ['exec', name, 'cat', '/data/who']).code).not.toBe(0);
    dockerOk(d, ['rm', '-f', 'nvf']);

    // In use: neither removed nor pruned.
    const rm = dockerSync(d, ['volume', 'rm', 'nvol']);
    expect(rm.code).not.toBe(0);
    expect(rm.err).toContain('volume is in use');
    dockerOk(d, ['volume', 'prune', '-f']);
    expect(lines(dockerOk(d, ['volume', 'ls', '-q']))).toContain('nvol');

    // A second container is created with it, but neither starts nor takes docker cp while its owner runs.
    const refusal =
      `volume nvol keeps its data on the disk of container ${name} (${id.slice(0, 12)}), ` +
      'which is running: another container can mount it once that container has stopped, or while it runs if that ' +
      'one is run with --storage-opt volumes=share';
    const second = dockerSync(d, ['run', '--name', 'nv2', '-v', 'nvol:/x', IMAGE, 'cat', '/x/seed', '/x/n']);
    expect(second.code).not.toBe(0);
    expect(second.err).toContain(refusal);
    fs.writeFileSync(path.join(tmp, 'in2'), 'in2\n');
    const cp = dockerSync(d, ['cp', path.join(tmp, 'in2'), 'nv2:/x/in2']);
    expect(cp.code).not.toBe(0);
    expect(cp.err).toContain(refusal);

    // Once its owner stopped, the second container's start takes the data off the owner's disk.
    dockerOk(d, ['stop', '-t', '1', name]);
    const seen = lines(dockerOk(d, ['start', '-a', 'nv2']));
    expect(seen[0]).toBe('seed');
    expect(seen.length).toBeGreaterThanOrEqual(atSave + 3);
    expect(consecutive(seen.slice(1))).toBe(true);
    expect(fs.readFileSync(path.join(dataDir, 'seed'), 'utf8')).toBe('seed\n');

    // The owner's checkpoint holds the volume's old copy on its disk: its restore is refused.
    const restore = dockerSync(d, ['start', '--checkpoint', 'saved', name]);
    expect(restore.code).not.toBe(0);
    expect(restore.err).toContain(
      "volume nvol left this container's disk for the volume's host directory after the checkpoint was made",
    );
    expect(dockerOk(d, ['inspect', '-f', '{{.State.Running}}', name])).toBe('false');
  } finally {
    dockerSync(d, ['rm', '-f', 'nvf', 'nv2', name]);
  }
  dockerOk(d, ['volume', 'rm', 'nvol']);
});

test("a named volume on its container's disk (volumes=disk) outlives the container: docker rm, with or without -v, moves it to the host, where a new container reads it", async () => {
  const dataDir = (v: string) => path.join(d.dataRoot, 'volumes', v, '_data');
  for (const [volume, flags] of [
    ['kept', []],
    ['keptv', ['-v']],
  ] as const) {
    dockerOk(d, [
      'run',
      '--name',
      'nb',
      '--storage-opt',
      'volumes=disk',
      '-v',
      `${volume}:/data`,
      IMAGE,
      'sh',
      '-c',
      `echo ${volume} > /data/f`,
    ]);
    expect(fs.readdirSync(dataDir(volume))).toEqual([]);
    dockerOk(d, ['rm', ...flags, 'nb']);
    expect(fs.readFileSync(path.join(dataDir(volume), 'f'), 'utf8')).toBe(`${volume}\n`);
  }
  expect(dockerOk(d, ['run', '--rm', '-v', 'kept:/a', '-v', 'keptv:/b', IMAGE, 'cat', '/a/f', '/b/f'])).toBe(
    'kept\nkeptv',
  );
  dockerOk(d, ['volume', 'rm', 'kept', 'keptv']);
});

test("a named volume two containers are created with (the first with volumes=disk) is shared over the volume share: each sees the other's writes, and neither can be saved", async () => {
  dockerOk(d, ['create', '--name', 's1', '--storage-opt', 'volumes=disk', '-v', 'sock:/s', IMAGE, 'sleep', '1000']);
  dockerOk(d, ['create', '--name', 's2', '-v', 'sock:/s', IMAGE, 'sleep', '1000']);
  try {
    dockerOk(d, ['start', 's1', 's2']);
    dockerOk(d, ['exec', 's1', 'sh', '-c', 'echo one > /s/one']);
    dockerOk(d, ['exec', 's2', 'sh', '-c', 'echo two > /s/two']);
    expect(dockerOk(d, ['exec', 's2', 'cat', '/s/one'])).toBe('one');
    expect(dockerOk(d, ['exec', 's1', 'cat', '/s/two'])).toBe('two');
    expectVolumeShareRefusal('s1');
  } finally {
    dockerSync(d, ['rm', '-f', 's1', 's2']);
  }
  dockerOk(d, ['volume', 'rm', 'sock']);
});
