/**
 * `docker checkpoint` through the stock CLI against the real daemon in experimental mode
 * (real QEMU VMs), beside the baseline dockerd 20.10 --experimental in the same run:
 * - `docker checkpoint ls|rm|create` and `docker start --checkpoint` refuse what dockerd
 *   refuses, with its exit codes and words (the CLI shows `docker checkpoint` at all only
 *   because /_ping says Docker-Experimental: true);
 * - a checkpoint of a container that reads its image over the layers share (`--storage-opt
 *   image=layers`, no longer the default) is refused with the reason its VM gives (QEMU cannot save a VM whose 9p shares are mounted:
 *   src/pod/checkpoints/checkpoints.ts) and what would make it savable, as dockerd without CRIU refuses it;
 *   nothing is made, and the container runs on, its count in the log without a gap or a repeat;
 * - a plain `docker run -d` counter (its image read from the image's disk, the default) is
 *   saved with --leave-running and counts on,
 *   saved again (its run ends, 137), and started from that checkpoint: its count goes on from
 *   where it was saved, with no gap or repeat, and it serves execs;
 * - a restore maps the RAM of the fork template the save made in the background (its QEMU's
 *   RAM is the template's file), with the same guarantees; a checkpoint or container removed
 *   while its template is being made leaves nothing;
 * - what blocks a save is each 9p export the guest has mounted, and only while it is: an idle
 *   VM lists the rootfs share, and a native pod run on it (`podvisor run-pod --vm`), which
 *   reads its image from the image's disk as a `docker run` does, adds none; a container
 *   that reads the layers share (`--storage-opt image=layers`) adds it;
 * - forks of forks go on past the old limit of 16 files under a disk (issue 56): ten
 *   generations, each saved and forked (the eighth's save flattens its disk's chain), the last
 *   holding every generation's files, outliving them all, and leaving nothing when it goes.
 * - a restored VM mounts its rootfs share only when a create reads it (a container joining the
 *   VM), and keeps its guest's interface as saved when the container gets the address it had;
 *   restored onto another address (the old one taken), its interface is reset onto the new one
 *   and it reaches, and is reached by, the container that took the old one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerOk, dockerSync, type CliResult } from '../helpers/docker-cli';
import { startNetnsDockerd } from '../../bench/netns-dockerd';
import { podvisor, podvisorOk } from '../helpers/podvisor-cli';
import { qmpCommand } from '../../src/vm/qemu/qmp';
import { execFileSync } from 'node:child_process';
import { listVmProcesses } from '../helpers/leaks';

jest.setTimeout(600000);

const IMAGE = `${fixtureRegistry()}/busybox`;
const COUNTER = 'i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done';

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon({ args: ['--experimental'] });
  dockerOk(d, ['pull', '-q', IMAGE], 300000);
});

afterAll(async () => {
  await stopDaemonLeavingNothing(d);
});

/** The counter's log as numbers; throws on a line that is not one. */
function counts(name: string): number[] {
  return dockerOk(d, ['logs', name])
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      if (!/^\d+$/.test(l)) throw new Error(`unexpected log line ${JSON.stringify(l)}`);
      return Number(l);
    });
}

test('ls, rm, create and start --checkpoint refuse as dockerd --experimental does, in its words', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-cp-dockerd-'));
  const dockerd = await startNetnsDockerd(base, { networkArgs: ['--iptables=true', '--experimental'] });
  try {
    const answers = (t: { env: NodeJS.ProcessEnv }): CliResult[] => {
      dockerOk(t, ['pull', '-q', IMAGE], 300000);
      dockerOk(t, ['run', '-d', '--name', 'counter', IMAGE, 'sh', '-c', COUNTER]);
      dockerOk(t, ['create', '--name', 'idle', IMAGE, 'true']);
      const out = [
        ['checkpoint', 'ls', 'counter'],
        ['checkpoint', 'ls', 'idle'],
        ['checkpoint', 'ls', 'nosuch'],
        ['checkpoint', 'rm', 'counter', 'nope'],
        ['checkpoint', 'create', 'idle', 'cp1'],
        ['checkpoint', 'create', 'counter', 'bad/name'],
        ['checkpoint', 'create', 'nosuch', 'cp1'],
        ['start', '--checkpoint', 'nope', 'idle'],
      ].map((args) => ({ ...dockerSync(t, args), args: args.join(' ') }));
      dockerOk(t, ['rm', '-f', 'counter', 'idle']);
      return out;
    };
    const ours = answers(d);
    const theirs = answers(dockerd);
    expect(ours).toEqual(theirs);
    // What dockerd answers there, so that a change of either shows here.
    expect(theirs.map((r) => `${r.code} ${r.out || r.err}`)).toEqual([
      '0 CHECKPOINT NAME',
      '0 CHECKPOINT NAME',
      '1 Error response from daemon: No such container: nosuch',
      '1 Error response from daemon: checkpoint nope does not exist for container counter',
      '1 Error response from daemon: Container idle not running',
      '1 Error response from daemon: Invalid checkpoint ID (bad/name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed',
      '1 Error response from daemon: No such container: nosuch',
      '1 Error response from daemon: checkpoint nope does not exist for container /idle',
    ]);
  } finally {
    await dockerd.stop();
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('a checkpoint of a running container is refused with its reason; nothing is made and it counts on', async () => {
  const id = dockerOk(d, [
    'run',
    '-d',
    '--name',
    'counter2',
    '--storage-opt',
    'image=layers',
    IMAGE,
    'sh',
    '-c',
    COUNTER,
  ]);
  try {
    for (let i = 0; i < 100 && counts('counter2').length < 3; i++) await new Promise((r) => setTimeout(r, 200));
    for (const extra of [[], ['--leave-running']]) {
      const r = dockerSync(d, ['checkpoint', 'create', ...extra, 'counter2', 'cp1']);
      expect(r.code).toBe(1);
      // dockerd without CRIU: "Cannot checkpoint container counter2: runc did not terminate ...".
      expect(r.err).toMatch(
        /^Error response from daemon: Cannot checkpoint container counter2: its VM cannot be saved \(see docs\/checkpoint.md\): Migration is disabled when VirtFS export path '.*' is mounted in the guest using mount_tag 'podvisor-layers' \(a container can be saved when it reads its image from the image's disk \(the default; not with --storage-opt image=layers, nor in another container's VM\)/,
      );
      expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', 'counter2'])).toBe('running');
    }
    expect(dockerOk(d, ['checkpoint', 'ls', 'counter2'])).toBe('CHECKPOINT NAME');
    // Nothing is left of the refused saves, not even a half-made one.
    const dir = path.join(d.dataRoot, 'containers', id, 'checkpoints');
    expect(fs.existsSync(dir) ? fs.readdirSync(dir) : []).toEqual([]);
    const before = counts('counter2').length;
    for (let i = 0; i < 100 && counts('counter2').length < before + 3; i++)
      await new Promise((r) => setTimeout(r, 200));
    const seen = counts('counter2');
    expect(seen.length).toBeGreaterThanOrEqual(before + 3);
    expect(seen).toEqual(seen.map((_, i) => i));
  } finally {
    dockerSync(d, ['rm', '-f', 'counter2']);
  }
});

test("QEMU's save blockers are the guest's mounted 9p exports: a native pod adds none, the layers share one", async () => {
  const tags = async (vmId: string): Promise<string[]> => {
    const m = (await qmpCommand(path.join(d.execRoot, 'vms', vmId, 'run', 'qmp.sock'), 'query-migrate')) as {
      'blocked-reasons'?: string[];
    };
    return (m['blocked-reasons'] ?? []).map((r) => /mount_tag '([^']+)'/.exec(r)?.[1] ?? r).sort();
  };
  const vmId = (await podvisorOk(d, ['run-vm'])).trim();
  try {
    expect(await tags(vmId)).toEqual(['podvisor']);
    await podvisorOk(d, ['run-pod', '--vm', vmId, '--name', 'unblocked', IMAGE, 'sleep', '1000']);
    expect(await tags(vmId)).toEqual(['podvisor']);
    await podvisorOk(d, ['stop', '--keep-vm', '-t', '1', 'unblocked']);
    expect(await tags(vmId)).toEqual(['podvisor']);
  } finally {
    await podvisor(d, ['rm', '-f', 'unblocked']);
    await podvisor(d, ['rm-vm', vmId]);
  }
  const layered = dockerOk(d, [
    'run',
    '-d',
    '--name',
    'blocked',
    '--storage-opt',
    'image=layers',
    IMAGE,
    'sleep',
    '1000',
  ]);
  try {
    const record = JSON.parse(
      fs.readFileSync(path.join(d.dataRoot, 'containers', layered, 'config.v2.json'), 'utf8'),
    ) as {
      sandbox: { vmId: string };
    };
    expect(await tags(record.sandbox.vmId)).toEqual(['podvisor', 'podvisor-layers']);
  } finally {
    dockerSync(d, ['rm', '-f', 'blocked']);
  }
});

test('a plain docker run -d counter is saved, left running, saved again and restored: its count goes on with no gap or repeat', async () => {
  const name = 'counter3';
  const id = dockerOk(d, ['run', '-d', '--name', name, IMAGE, 'sh', '-c', COUNTER]);
  try {
    const waitFor = async (n: number) => {
      for (let i = 0; i < 150 && counts(name).length < n; i++) await new Promise((r) => setTimeout(r, 200));
      expect(counts(name).length).toBeGreaterThanOrEqual(n);
    };
    await waitFor(3);
    // Its changes are only its own: the image on its disk is not in its diff.
    expect(dockerOk(d, ['diff', name])).toBe('');
    const since = String(Math.floor(Date.now() / 1000) - 1);
    expect(dockerOk(d, ['checkpoint', 'create', '--leave-running', name, 'running'])).toBe('running');
    // dockerd's `checkpoint` event.
    const events = dockerOk(d, [
      'events',
      '--since',
      since,
      '--until',
      String(Math.floor(Date.now() / 1000) + 1),
      '--filter',
      `container=${name}`,
      '--format',
      '{{.Action}}',
    ]);
    expect(events.split('\n')).toContain('checkpoint');
    expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', name])).toBe('running');
    const atFirst = counts(name).length;
    await waitFor(atFirst + 3);
    expect(dockerOk(d, ['checkpoint', 'create', name, 'stopped'])).toBe('stopped');
    expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name])).toBe('exited 137');
    expect(dockerOk(d, ['checkpoint', 'ls', name]).split('\n')).toEqual(['CHECKPOINT NAME', 'running', 'stopped']);
    const dir = path.join(d.dataRoot, 'containers', id, 'checkpoints');
    expect(fs.statSync(dir).mode & 0o077).toBe(0);
    const saved = counts(name);
    expect(saved).toEqual(saved.map((_, i) => i));
    dockerOk(d, ['start', '--checkpoint', 'stopped', name]);
    expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', name])).toBe('running');
    await waitFor(saved.length + 3);
    const after = counts(name);
    expect(after).toEqual(after.map((_, i) => i));
    // The restored guest's files are its disk's as saved, and it writes on.
    dockerOk(d, ['exec', name, 'sh', '-c', 'echo restored > /marker']);
    expect(dockerOk(d, ['exec', name, 'cat', '/marker'])).toBe('restored');
    dockerOk(d, ['checkpoint', 'rm', name, 'running']);
    expect(dockerOk(d, ['checkpoint', 'ls', name]).split('\n')).toEqual(['CHECKPOINT NAME', 'stopped']);
  } finally {
    dockerSync(d, ['rm', '-f', name]);
  }
  // Its checkpoints (its memory, secrets included) go with it (a removal's storage goes once
  // its run's teardown is done, after rm answered).
  const dir = path.join(d.dataRoot, 'containers', id);
  for (let i = 0; i < 300 && fs.existsSync(dir); i++) await new Promise((r) => setTimeout(r, 100));
  expect(fs.existsSync(dir)).toBe(false);
});

test("a restore maps the RAM of its checkpoint's fork template, made after the save: its files are as saved and its count goes on with no gap or repeat; a checkpoint or container removed while its template is made goes whole", async () => {
  const name = 'mapped';
  const id = dockerOk(d, ['run', '-d', '--name', name, IMAGE, 'sh', '-c', COUNTER]);
  const dir = path.join(d.dataRoot, 'containers', id, 'checkpoints');
  try {
    for (let i = 0; i < 150 && counts(name).length < 3; i++) await new Promise((r) => setTimeout(r, 200));
    dockerOk(d, ['exec', name, 'sh', '-c', 'echo kept > /data']);
    // Removed at once, while its template is being made: nothing of it is left.
    expect(dockerOk(d, ['checkpoint', 'create', '--leave-running', name, 'gone'])).toBe('gone');
    dockerOk(d, ['checkpoint', 'rm', name, 'gone']);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(dockerOk(d, ['checkpoint', 'create', name, 'saved'])).toBe('saved');
    const ram = path.join(dir, 'saved', 'fork.ram');
    for (let i = 0; i < 600 && !fs.existsSync(path.join(dir, 'saved', 'fork.state')); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(fs.readdirSync(path.join(dir, 'saved')).sort()).toEqual([
      'fork.disk',
      'fork.disk.backing',
      'fork.ram',
      'fork.state',
      'pod.json',
      'upper.ext4',
      'vm.json',
      'vm.state',
    ]);
    const saved = counts(name);
    expect(saved).toEqual(saved.map((_, i) => i));
    dockerOk(d, ['start', '--checkpoint', 'saved', name]);
    // Its QEMU maps the template's RAM file (copy-on-write), not RAM of its own.
    expect(listVmProcesses().filter((p) => p.cmdline.includes(`mem-path=${ram},`))).toHaveLength(1);
    for (let i = 0; i < 150 && counts(name).length < saved.length + 3; i++)
      await new Promise((r) => setTimeout(r, 200));
    const after = counts(name);
    expect(after.length).toBeGreaterThanOrEqual(saved.length + 3);
    expect(after).toEqual(after.map((_, i) => i));
    expect(dockerOk(d, ['exec', name, 'cat', '/data'])).toBe('kept');
    dockerOk(d, ['exec', name, 'sh', '-c', 'echo written > /data']);
    expect(dockerOk(d, ['exec', name, 'cat', '/data'])).toBe('written');
    // A container removed while the template of its new checkpoint is made goes whole.
    dockerOk(d, ['checkpoint', 'create', '--leave-running', name, 'last']);
  } finally {
    dockerSync(d, ['rm', '-f', name]);
  }
  const own = path.join(d.dataRoot, 'containers', id);
  for (let i = 0; i < 300 && fs.existsSync(own); i++) await new Promise((r) => setTimeout(r, 100));
  expect(fs.existsSync(own)).toBe(false);
});

test("a restore leaves its VM's rootfs share unmounted until a create reads it, and its interface as saved on the address it had; onto another address it is reset, and reachable there", async () => {
  const name = 'netkept';
  const id = dockerOk(d, ['run', '-d', '--name', name, IMAGE, 'sh', '-c', COUNTER]);
  const vmOf = () =>
    (
      JSON.parse(fs.readFileSync(path.join(d.dataRoot, 'containers', id, 'config.v2.json'), 'utf8')) as {
        sandbox: { vmId: string };
      }
    ).sandbox.vmId;
  const blockers = async () => {
    const m = (await qmpCommand(path.join(d.execRoot, 'vms', vmOf(), 'run', 'qmp.sock'), 'query-migrate')) as {
      'blocked-reasons'?: string[];
    };
    return (m['blocked-reasons'] ?? []).map((r) => /mount_tag '([^']+)'/.exec(r)?.[1] ?? r).sort();
  };
  // What the guest's eth0 has, as `docker inspect` says it should: "ADDRESS MAC".
  const guestNet = (c: string) =>
    dockerOk(d, [
      'exec',
      c,
      'sh',
      '-c',
      "echo $(ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1) $(cat /sys/class/net/eth0/address)",
    ]);
  const inspected = (c: string) =>
    dockerOk(d, ['inspect', '-f', '{{.NetworkSettings.IPAddress}} {{.NetworkSettings.MacAddress}}', c]);
  try {
    for (let i = 0; i < 150 && counts(name).length < 3; i++) await new Promise((r) => setTimeout(r, 200));
    const before = inspected(name);
    expect(guestNet(name)).toBe(before);
    dockerOk(d, ['checkpoint', 'create', name, 'net']);
    dockerOk(d, ['start', '--checkpoint', 'net', name]);
    // Its share waits: no 9p export is mounted (the container reads its disks), so the VM has
    // no save blocker; a container joining its VM mounts it at its create and reads its image.
    expect(await blockers()).toEqual([]);
    expect(inspected(name)).toBe(before);
    expect(guestNet(name)).toBe(before);
    dockerOk(d, ['run', '-d', '--name', 'netkept-join', '--network', `container:${name}`, IMAGE, 'sleep', '1000']);
    expect(dockerOk(d, ['exec', 'netkept-join', 'ls', '/bin/sh'])).toBe('/bin/sh');
    expect(await blockers()).toEqual(['podvisor']);
    dockerOk(d, ['rm', '-f', 'netkept-join']);
    // Its address taken meanwhile: the restore gets another, its interface reset onto it.
    dockerOk(d, ['kill', name]);
    dockerOk(d, ['run', '-d', '--name', 'netkept-squat', IMAGE, 'sleep', '1000']);
    expect(inspected('netkept-squat')).toBe(before);
    dockerOk(d, ['start', '--checkpoint', 'net', name]);
    const after = inspected(name);
    expect(after.split(' ')[0]).not.toBe(before.split(' ')[0]);
    expect(guestNet(name)).toBe(after);
    expect(dockerOk(d, ['exec', name, 'ip', 'route'])).toMatch(/^default via /m);
    const [squat] = before.split(' ');
    const [own] = after.split(' ');
    expect(dockerSync(d, ['exec', name, 'ping', '-c', '1', '-W', '5', squat]).code).toBe(0);
    expect(dockerSync(d, ['exec', 'netkept-squat', 'ping', '-c', '1', '-W', '5', own]).code).toBe(0);
  } finally {
    dockerSync(d, ['rm', '-f', name, 'netkept-join', 'netkept-squat']);
  }
});

test('forks of a checkpoint are containers of their own: own id, name, address and disk, the saved processes going on in each', async () => {
  const name = 'forked';
  dockerOk(d, ['run', '-d', '--name', name, IMAGE, 'sh', '-c', COUNTER]);
  const forks = ['fork-a', 'fork-b', 'fork-c'];
  try {
    for (let i = 0; i < 150 && counts(name).length < 3; i++) await new Promise((r) => setTimeout(r, 200));
    dockerOk(d, ['exec', name, 'sh', '-c', 'echo source > /who']);
    // The count the source had logged before the save began (it counts on while it is saved).
    const before = counts(name).length;
    // The native API's save, through the podvisor CLI.
    expect((await podvisorOk(d, ['checkpoint', '--leave-running', name, 'base'])).trim()).toBe('base');
    expect(await podvisorOk(d, ['checkpoint', '--ls', name])).toMatch(/CHECKPOINT[\s\S]*base/);
    expect(dockerOk(d, ['checkpoint', 'ls', name]).split('\n')).toEqual(['CHECKPOINT NAME', 'base']);
    const saved = counts(name).length;
    const out = await podvisorOk(d, ['fork', name, 'base', ...forks.flatMap((f) => ['--name', f])]);
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]),
    ).toEqual(forks);
    const ids = forks.map((f) => dockerOk(d, ['inspect', '-f', '{{.Id}}', f]));
    expect(new Set([...ids, dockerOk(d, ['inspect', '-f', '{{.Id}}', name])]).size).toBe(4);
    const ips = [name, ...forks].map((c) => dockerOk(d, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', c]));
    expect(new Set(ips).size).toBe(4);
    for (const [i, f] of forks.entries()) {
      expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', f])).toBe('running');
      // The saved count goes on in each: its log starts where the save was, without a repeat.
      for (let k = 0; k < 150 && counts(f).length < 3; k++) await new Promise((r) => setTimeout(r, 200));
      const seen = counts(f);
      expect(seen.length).toBeGreaterThanOrEqual(3);
      // Saved between `before` and `saved` (read after the save returned, however slow the host).
      expect(seen[0]).toBeGreaterThanOrEqual(before - 1);
      expect(seen[0]).toBeLessThanOrEqual(saved + 1);
      expect(seen).toEqual(seen.map((_, k) => seen[0] + k));
      // Its guest knows it by its own id, and its files are its own.
      expect(dockerOk(d, ['exec', f, 'cat', '/who'])).toBe('source');
      dockerOk(d, ['exec', f, 'sh', '-c', `echo ${f} > /who`]);
      expect(dockerOk(d, ['exec', f, 'sh', '-c', `grep -c "${ips[i + 1]}" /etc/hosts`])).toBe('1');
    }
    for (const f of forks) expect(dockerOk(d, ['exec', f, 'cat', '/who'])).toBe(f);
    expect(dockerOk(d, ['exec', name, 'cat', '/who'])).toBe('source');
    // A fork stops as any container does, and the others count on.
    dockerOk(d, ['stop', '-t', '1', forks[0]]);
    expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', forks[0]])).toBe('exited');
    expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', forks[1]])).toBe('running');
    // Bad requests change nothing.
    expect((await podvisor(d, ['fork', name, 'nope'])).code).not.toBe(0);
    expect((await podvisor(d, ['fork', name, 'base', '-n', '0'])).code).not.toBe(0);
    expect(dockerOk(d, ['ps', '-aq']).split('\n').length).toBe(4);
  } finally {
    const all = dockerSync(d, ['ps', '-aq']).out.split('\n').filter(Boolean);
    dockerSync(d, ['rm', '-f', ...all]);
  }
});

/** Bytes the host file `file` takes (its allocated blocks). */
const allocated = (file: string) => fs.statSync(file).blocks * 512;

/**
 * The access modes (O_RDONLY 0, O_WRONLY 1, O_RDWR 2) of every descriptor a VM's QEMU holds
 * on the inode of host file `file`.
 */
function qemuAccessModes(file: string): number[] {
  const ino = fs.statSync(file).ino;
  const modes: number[] = [];
  for (const p of listVmProcesses().filter((q) => q.cmdline.includes('qemu-system'))) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${p.pid}/fd`);
    } catch {
      continue; // it ended since it was listed (a fork template's QEMU, a pool VM): it holds nothing
    }
    for (const fd of fds) {
      try {
        if (fs.statSync(`/proc/${p.pid}/fd/${fd}`).ino !== ino) continue;
        const flags = /^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${p.pid}/fdinfo/${fd}`, 'utf8'));
        if (flags) modes.push(parseInt(flags[1], 8) & 3);
      } catch {
        // Closed meanwhile.
      }
    }
  }
  return modes;
}

/** The files a container's disk stands on (src/util/disk-chain.ts), bottom last; none for a raw disk. */
function backing(id: string): string[] {
  const dir = path.join(d.dataRoot, 'containers', id, 'upper.ext4.backing');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .sort((a, b) => Number(a) - Number(b))
    .map((n) => path.join(dir, n));
}

test("a fork's disk is a copy-on-write overlay over the checkpoint's: it takes only what the fork writes, forks write apart, it outlives the checkpoint and its container and a daemon restart, and it can be saved, restored, forked, read and removed", async () => {
  const src = 'cow-src';
  const forks = ['cow-a', 'cow-b'];
  const srcId = dockerOk(d, ['run', '-d', '--name', src, IMAGE, 'sleep', '1d']);
  const ids: string[] = [];
  try {
    // 8 MiB of the source's on its disk, then saved and forked.
    dockerOk(d, ['exec', src, 'sh', '-c', 'dd if=/dev/urandom of=/data bs=1M count=8 2>/dev/null && sync']);
    const sum = dockerOk(d, ['exec', src, 'md5sum', '/data']).split(' ')[0];
    dockerOk(d, ['checkpoint', 'create', '--leave-running', src, 'cp1']);
    await podvisorOk(d, ['fork', src, 'cp1', ...forks.flatMap((f) => ['--name', f])]);
    ids.push(...forks.map((f) => dockerOk(d, ['inspect', '-f', '{{.Id}}', f])));
    const base = path.join(d.dataRoot, 'containers', srcId, 'checkpoints', 'cp1', 'upper.ext4');
    for (const [i, f] of forks.entries()) {
      expect(dockerOk(d, ['exec', f, 'md5sum', '/data']).split(' ')[0]).toBe(sum);
      dockerOk(d, ['exec', f, 'sh', '-c', `echo ${f} > /who && sync`]);
      // Its disk: an overlay over the fork template's disk, itself over the save's copy (links of them).
      const chain = backing(ids[i]);
      expect(chain).toHaveLength(2);
      expect(fs.statSync(chain[1]).ino).toBe(fs.statSync(base).ino);
      const own = allocated(path.join(d.dataRoot, 'containers', ids[i], 'upper.ext4'));
      expect(allocated(base)).toBeGreaterThan(8 * 1024 * 1024);
      expect(own).toBeLessThan(allocated(base) / 2);
      process.stdout.write(
        `checkpoint: fork ${f}'s disk ${(own / 2 ** 20).toFixed(1)} MiB allocated, over the save's ${(allocated(base) / 2 ** 20).toFixed(1)} MiB and the template's ${(allocated(chain[0]) / 2 ** 20).toFixed(1)} MiB\n`,
      );
    }
    for (const f of forks) expect(dockerOk(d, ['exec', f, 'cat', '/who'])).toBe(f);
    expect(dockerSync(d, ['exec', src, 'cat', '/who']).code).not.toBe(0);
    // Both forks' QEMUs hold the files under their disks, read-only only.
    for (const under of backing(ids[0])) {
      const modes = qemuAccessModes(under);
      expect(modes.length).toBeGreaterThanOrEqual(2);
      expect(modes.every((m) => m === 0)).toBe(true);
    }

    // The checkpoint and its container removed: the forks' disks stand on their own links.
    dockerOk(d, ['checkpoint', 'rm', src, 'cp1']);
    dockerOk(d, ['rm', '-f', src]);
    for (const f of forks) {
      dockerOk(d, ['exec', f, 'sh', '-c', 'dd if=/dev/urandom of=/more bs=1M count=2 2>/dev/null && sync']);
      expect(dockerOk(d, ['exec', f, 'md5sum', '/data']).split(' ')[0]).toBe(sum);
    }

    // A daemon restart re-adopts the running forks with their disks.
    await d.restart();
    for (const f of forks) expect(dockerOk(d, ['exec', f, 'cat', '/who'])).toBe(f);

    // A fork saved (its run ends), restored, and forked again.
    const [a, b] = forks;
    dockerOk(d, ['checkpoint', 'create', a, 'again']);
    dockerOk(d, ['start', '--checkpoint', 'again', a]);
    expect(dockerOk(d, ['exec', a, 'cat', '/who'])).toBe(a);
    expect(dockerOk(d, ['exec', a, 'md5sum', '/data']).split(' ')[0]).toBe(sum);
    await podvisorOk(d, ['fork', a, 'again', '--name', 'cow-c']);
    ids.push(dockerOk(d, ['inspect', '-f', '{{.Id}}', 'cow-c']));
    expect(dockerOk(d, ['exec', 'cow-c', 'cat', '/who'])).toBe(a);
    expect(dockerOk(d, ['exec', 'cow-c', 'md5sum', '/data']).split(' ')[0]).toBe(sum);
    expect(backing(ids[2])).toHaveLength(4);

    // What reads a fork's disk through a guest: diff, cp (running, and stopped), commit.
    expect(dockerOk(d, ['diff', b]).split('\n')).toEqual(expect.arrayContaining(['A /data', 'A /who', 'A /more']));
    expect(dockerOk(d, ['exec', b, 'cat', '/who'])).toBe(b);
    dockerOk(d, ['stop', '-t', '1', b]);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-cow-'));
    try {
      dockerOk(d, ['cp', `${b}:/who`, out]);
      expect(fs.readFileSync(path.join(out, 'who'), 'utf8')).toBe(`${b}\n`);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
    dockerOk(d, ['commit', b, 'cow-committed']);
    expect(dockerOk(d, ['run', '--rm', 'cow-committed', 'cat', '/who'])).toBe(b);
    dockerOk(d, ['rmi', 'cow-committed']);
  } finally {
    dockerSync(d, ['rm', '-f', src, ...forks, 'cow-c']);
  }
  // Removed: each container's directory goes, its disk's links with it.
  for (const id of [srcId, ...ids]) {
    const own = path.join(d.dataRoot, 'containers', id);
    for (let i = 0; i < 300 && fs.existsSync(own); i++) await new Promise((r) => setTimeout(r, 100));
    expect(fs.existsSync(own)).toBe(false);
  }
});

/**
 * The files under `dir`, recursively, each with how many of its links are there and how many it
 * has in all (none when it is gone).
 */
function filesUnder(dir: string): Array<{ ino: number; here: number; nlink: number }> {
  if (!fs.existsSync(dir)) return [];
  const found = new Map<number, { ino: number; here: number; nlink: number }>();
  for (const n of fs.readdirSync(dir, { recursive: true })) {
    const st = fs.lstatSync(path.join(dir, String(n)));
    if (!st.isFile()) continue;
    const f = found.get(st.ino) ?? { ino: st.ino, here: 0, nlink: st.nlink };
    f.here++;
    found.set(st.ino, f);
  }
  return [...found.values()];
}

/** The pids of the VMs' QEMUs that hold a descriptor on any of `inodes`. */
function qemusHolding(inodes: number[]): number[] {
  const wanted = new Set(inodes);
  return listVmProcesses()
    .filter((q) => q.cmdline.includes('qemu-system'))
    .filter((p) => {
      try {
        return fs.readdirSync(`/proc/${p.pid}/fd`).some((fd) => {
          try {
            return wanted.has(fs.statSync(`/proc/${p.pid}/fd/${fd}`).ino);
          } catch {
            return false;
          }
        });
      } catch {
        return false;
      }
    })
    .map((p) => p.pid);
}

test('forks of forks go on past the old limit: ten generations saved and forked, the files of each in the last, which outlives them all; nothing is left when they go', async () => {
  // Generation g writes files of its own, is saved (its run ends) and forked into g+1. Each
  // generation stands on two more files; the save of the eighth (16 files) has its QEMU merge
  // them into its disk first (src/util/disk-chain.ts), so the ninth forks where it was refused.
  const GENERATIONS = 10;
  const names = Array.from({ length: GENERATIONS + 1 }, (_, g) => `gen${g}`);
  const ids = [dockerOk(d, ['run', '-d', '--name', names[0], IMAGE, 'sleep', '1d'])];
  const containers = path.join(d.dataRoot, 'containers');
  const diskOf = (id: string) => path.join(containers, id, 'upper.ext4');
  const depths: number[] = [];
  // What each generation writes: its name in /gens/<name>, and 1 MiB of random bytes in
  // /bins/<name>, whose sum is kept (in the order of the generations).
  const sums: string[] = [];
  const write = (name: string) => {
    dockerOk(d, [
      'exec',
      name,
      'sh',
      '-c',
      `mkdir -p /gens /bins && echo ${name} > /gens/${name} && dd if=/dev/urandom of=/bins/${name} bs=64k count=16 2>/dev/null && sync`,
    ]);
    sums.push(`${name} ${dockerOk(d, ['exec', name, 'md5sum', `/bins/${name}`]).split(' ')[0]}`);
  };
  /** What container `name` holds of the generations' writes, as `sums` has them. */
  const written = (name: string) => {
    const out = dockerOk(d, [
      'exec',
      name,
      'sh',
      '-c',
      'cd /bins && for f in *; do echo "$(cat /gens/$f) $(md5sum < $f)"; done',
    ]);
    const got = new Map(out.split('\n').map((l) => [l.split(' ')[0], `${l.split(' ')[0]} ${l.split(' ')[1]}`]));
    return sums.map((s) => got.get(s.split(' ')[0])).filter((s) => s !== undefined);
  };
  let holders: number[] = [];
  const saves: number[] = [];
  try {
    for (let g = 0; g < GENERATIONS; g++) {
      write(names[g]);
      const under = backing(ids[g]).length;
      const own = allocated(diskOf(ids[g]));
      const started = Date.now();
      expect(dockerOk(d, ['checkpoint', 'create', names[g], 'cp'])).toBe('cp');
      const saveMs = Date.now() - started;
      saves.push(saveMs);
      if (backing(ids[g]).length < under) {
        // Flattened by the save: what a merge costs, here (its time from the daemon's log,
        // read once the daemon's output since has come in).
        const mib = (b: number) => (b / 2 ** 20).toFixed(2);
        for (let i = 0; i < 50 && !/qcow2 files under its disk merged/.test(d.logs()); i++)
          await new Promise((r) => setTimeout(r, 100));
        const merged = /the (\d+) qcow2 files under its disk merged into it .* in (\d+) ms/.exec(d.logs());
        process.stdout.write(
          `checkpoint: ${names[g]}'s disk flattened at its save: ${merged?.[1]} files merged into it in ${merged?.[2]} ms, ` +
            `its disk ${mib(own)} -> ${mib(allocated(diskOf(ids[g])))} MiB allocated, the save's copy ` +
            `${mib(allocated(path.join(containers, ids[g], 'checkpoints', 'cp', 'upper.ext4')))} MiB; the save took ${saveMs} ms in all\n`,
        );
      }
      await podvisorOk(d, ['fork', names[g], 'cp', '--name', names[g + 1]]);
      ids.push(dockerOk(d, ['inspect', '-f', '{{.Id}}', names[g + 1]]));
      depths.push(backing(ids[g + 1]).length);
      expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', names[g + 1]])).toBe('running');
      // Every generation's file, as written.
      expect(written(names[g + 1])).toEqual(sums.slice(0, g + 1));
    }
    // Two more files a generation, and back to a few once the eighth's save flattened its disk.
    expect(depths).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 3, 5]);
    process.stdout.write(`checkpoint: the saves of generations 0-${GENERATIONS - 1} took ${saves.join(', ')} ms\n`);
    const last = names[GENERATIONS];
    const lastId = ids[GENERATIONS];
    process.stdout.write(
      `checkpoint: ${last}'s disk ${(allocated(diskOf(lastId)) / 2 ** 20).toFixed(2)} MiB allocated, over ${depths[GENERATIONS - 1]} files: ` +
        `${backing(lastId)
          .map((f) => (allocated(f) / 2 ** 20).toFixed(2))
          .join(', ')} MiB\n`,
    );

    // The generations before it removed, with their checkpoints: the last one's disk is whole.
    dockerOk(d, ['rm', '-f', ...names.slice(0, GENERATIONS)]);
    write(last);
    expect(written(last)).toEqual(sums);
    // And saved, and started from that checkpoint, it has them all still.
    dockerOk(d, ['checkpoint', 'create', last, 'final']);
    const template = path.join(containers, lastId, 'checkpoints', 'final', 'fork.state');
    for (let i = 0; i < 600 && !fs.existsSync(template); i++) await new Promise((r) => setTimeout(r, 100));
    dockerOk(d, ['start', '--checkpoint', 'final', last]);
    expect(written(last)).toEqual(sums);
    // Every file its disks stand on is linked from its own directory alone now (its disk's,
    // its checkpoint's and its template's links): its removal frees them all.
    const files = filesUnder(path.join(containers, lastId));
    expect(files.filter((f) => f.nlink !== f.here)).toEqual([]);
    holders = qemusHolding(files.map((f) => f.ino));
    expect(holders).toHaveLength(1);
  } finally {
    dockerSync(d, ['rm', '-f', ...names]);
  }
  // Nothing is left: no container's directory (its disk, its links, its checkpoints), and the
  // QEMU that held their files is gone.
  for (const id of ids) {
    const own = path.join(containers, id);
    for (let i = 0; i < 300 && fs.existsSync(own); i++) await new Promise((r) => setTimeout(r, 100));
    expect(fs.existsSync(own)).toBe(false);
  }
  const vms = listVmProcesses().map((p) => p.pid);
  expect(holders.filter((pid) => vms.includes(pid))).toEqual([]);
});

test('a full disk during a save loses nothing: the save is refused, nothing is left of it, and the container counts on', async () => {
  const name = 'fullsave';
  const id = dockerOk(d, ['run', '-d', '--name', name, IMAGE, 'sh', '-c', COUNTER]);
  const dir = path.join(d.dataRoot, 'containers', id, 'checkpoints');
  fs.mkdirSync(dir, { mode: 0o700 });
  // The checkpoints' filesystem holds 2 MiB: the VM's state (tens of MiB) cannot fit.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'pvfull', dir]);
  try {
    for (let i = 0; i < 150 && counts(name).length < 3; i++) await new Promise((r) => setTimeout(r, 200));
    const r = dockerSync(d, ['checkpoint', 'create', '--leave-running', name, 'full']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^Error response from daemon: Cannot checkpoint container fullsave: .*(ENOSPC|no space)/i);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', name])).toBe('running');
    const before = counts(name).length;
    for (let i = 0; i < 150 && counts(name).length < before + 3; i++) await new Promise((r) => setTimeout(r, 200));
    const seen = counts(name);
    expect(seen.length).toBeGreaterThanOrEqual(before + 3);
    expect(seen).toEqual(seen.map((_, i) => i));
    // Its share is back: what needs it (an exec's working directory, a cp) works.
    dockerOk(d, ['exec', name, 'sh', '-c', 'echo still > /f']);
    expect(dockerOk(d, ['exec', name, 'cat', '/f'])).toBe('still');
  } finally {
    execFileSync('umount', [dir]);
    dockerSync(d, ['rm', '-f', name]);
  }
});

test('a VM that dies in the middle of its save leaves no checkpoint, and its container exits as any whose VM died', async () => {
  const faulty = await startDaemon({ args: ['--experimental'], env: { PODVISOR_FAULT: 'checkpoint-vm-dies' } });
  try {
    dockerOk(faulty, ['pull', '-q', IMAGE], 300000);
    const id = dockerOk(faulty, ['run', '-d', '--name', 'dies', IMAGE, 'sleep', '1000']);
    const r = dockerSync(faulty, ['checkpoint', 'create', 'dies', 'never']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^Error response from daemon: Cannot checkpoint container dies: /);
    const dir = path.join(faulty.dataRoot, 'containers', id, 'checkpoints');
    expect(fs.existsSync(dir) ? fs.readdirSync(dir) : []).toEqual([]);
    expect(dockerOk(faulty, ['checkpoint', 'ls', 'dies'])).toBe('CHECKPOINT NAME');
    for (let i = 0; i < 100 && dockerOk(faulty, ['inspect', '-f', '{{.State.Status}}', 'dies']) === 'running'; i++)
      await new Promise((res) => setTimeout(res, 100));
    expect(dockerOk(faulty, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'dies'])).toBe('exited 255');
    // It starts again as any exited container does.
    dockerOk(faulty, ['start', 'dies']);
    expect(dockerOk(faulty, ['inspect', '-f', '{{.State.Status}}', 'dies'])).toBe('running');
  } finally {
    dockerSync(faulty, ['rm', '-f', 'dies']);
    await stopDaemonLeavingNothing(faulty);
  }
});

test('containers of one image share its one read-only image disk; their own disks hold no copy of it; a save records it, a restore and a fork use it, a restore without it is refused, and it goes with the image', async () => {
  const imageDisks = path.join(d.dataRoot, 'image-disks');
  const disksNow = () => (fs.existsSync(imageDisks) ? fs.readdirSync(imageDisks) : []);
  const names = ['shared-a', 'shared-b'];
  const fork = 'shared-fork';
  try {
    // Started together: the image's first uses, at once, make one disk.
    const ids = names.map((n) => dockerOk(d, ['create', '--name', n, IMAGE, 'sh', '-c', COUNTER]));
    dockerOk(d, ['start', ...names]);
    expect(disksNow()).toHaveLength(1);
    const file = path.join(imageDisks, disksNow()[0]);
    const ino = fs.statSync(file).ino;
    for (const n of names) {
      for (let i = 0; i < 150 && counts(n).length < 2; i++) await new Promise((r) => setTimeout(r, 200));
      // Its root is the overlay over the image disk, read-only in its guest.
      expect(dockerOk(d, ['exec', n, 'cat', '/proc/mounts'])).toMatch(
        /^overlay \/ overlay [^ ]*lowerdir=[^,]*\/image,/m,
      );
      expect(dockerOk(d, ['diff', n])).toBe('');
    }
    // The containers' own disks were made with no copy of the image (the guest makes upper/
    // and work/ there; what it wrote may still be in its own cache, so only the host's part is read).
    const debugfs = (disk: string) =>
      execFileSync('debugfs', ['-R', 'ls -p /', disk], { encoding: 'utf8', stdio: 'pipe' });
    for (const id of ids) {
      const root = debugfs(path.join(d.dataRoot, 'containers', id, 'upper.ext4'));
      expect(root).toContain('/lost+found/');
      expect(root).not.toContain('/lower/');
    }
    // Saved (not copied: the checkpoint names the file), restored and forked over the same file.
    dockerOk(d, ['checkpoint', 'create', names[0], 'cp']);
    const record = JSON.parse(
      fs.readFileSync(path.join(d.dataRoot, 'containers', ids[0], 'checkpoints', 'cp', 'vm.json'), 'utf8'),
    ) as { imageDisk?: { file: string } };
    expect(record.imageDisk?.file).toBe(file);
    // Its fork template's files (fork.*, being made in the background) aside.
    const saved = fs.readdirSync(path.join(d.dataRoot, 'containers', ids[0], 'checkpoints', 'cp'));
    expect(saved.filter((f) => !f.startsWith('fork.')).sort()).toEqual(
      ['pod.json', 'upper.ext4', 'vm.json', 'vm.state'].sort(),
    );
    dockerOk(d, ['start', '--checkpoint', 'cp', names[0]]);
    const before = counts(names[0]).length;
    for (let i = 0; i < 150 && counts(names[0]).length < before + 2; i++) await new Promise((r) => setTimeout(r, 200));
    expect(Number(dockerOk(d, ['exec', names[0], 'sh', '-c', 'wc -c < /bin/busybox']))).toBeGreaterThan(0);
    expect(dockerOk(d, ['checkpoint', 'create', '--leave-running', names[0], 'live'])).toBe('live');
    await podvisorOk(d, ['fork', names[0], 'live', '--name', fork]);
    expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', fork])).toBe('running');
    expect(dockerOk(d, ['exec', fork, 'ls', '/bin/sh'])).toBe('/bin/sh');
    expect(disksNow()).toHaveLength(1);
    expect(fs.statSync(file).ino).toBe(ino);
    // A checkpoint whose image disk is gone is refused with the reason, and nothing starts.
    dockerOk(d, ['checkpoint', 'create', names[1], 'gone']);
    fs.renameSync(file, `${file}.away`);
    const refused = dockerSync(d, ['start', '--checkpoint', 'gone', names[1]]);
    fs.renameSync(`${file}.away`, file);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/the image disk it was saved over .* is gone or was made again since/);
    expect(dockerOk(d, ['inspect', '-f', '{{.State.Status}}', names[1]])).toBe('exited');
  } finally {
    dockerSync(d, ['rm', '-f', ...names, fork]);
  }
  // The image's removal takes its disk; a pull and a start make it again.
  // (A removal's storage goes once its run's teardown is done, after rm answered.)
  for (let i = 0; i < 100 && dockerSync(d, ['rmi', IMAGE]).code !== 0; i++)
    await new Promise((r) => setTimeout(r, 100));
  expect(dockerSync(d, ['image', 'inspect', IMAGE]).code).not.toBe(0);
  // The disk goes with the image, or with the storage of the last container on it.
  for (let i = 0; i < 100 && disksNow().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(disksNow()).toEqual([]);
  dockerOk(d, ['pull', '-q', IMAGE], 300000);
});

test('an image disk outlives a forced rmi while a stopped container still uses it, serves that container again, and goes with the last container on it', async () => {
  const imageDisks = path.join(d.dataRoot, 'image-disks');
  const disksNow = () => (fs.existsSync(imageDisks) ? fs.readdirSync(imageDisks) : []);
  const name = 'orphaned-image';
  try {
    dockerOk(d, ['run', '--name', name, IMAGE, 'echo', 'first']);
    expect(disksNow()).toHaveLength(1);
    // Forced: the image goes, the disk stays for the stopped container, which still starts.
    dockerOk(d, ['rmi', '-f', IMAGE]);
    expect(dockerSync(d, ['image', 'inspect', IMAGE]).code).not.toBe(0);
    expect(disksNow()).toHaveLength(1);
    expect(dockerOk(d, ['start', '-a', name]).trim()).toBe('first');
  } finally {
    dockerSync(d, ['rm', '-f', name]);
  }
  // The last user's removal takes it (its storage goes once its run's teardown is done).
  for (let i = 0; i < 100 && disksNow().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(disksNow()).toEqual([]);
  dockerOk(d, ['pull', '-q', IMAGE], 300000);
});
