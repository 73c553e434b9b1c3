/**
 * Nothing a jailed process can write names anything for the daemon (issue 67, item 1), on real
 * VMs through the stock docker CLI and the podvisor CLI. Each substitution is played as a QEMU
 * taken over by its guest would: through its own root (`/proc/<qemu>/root`, whose mounts' flags
 * apply), in its VM's directory, while the VM runs: `run/console.log` and `run/locks.log`
 * swapped for symlinks to a 4 MiB host file, `run/qemu.log` for a FIFO, `run/qmp.sock` for a
 * symlink to a host socket; and the names it cannot reach are tried too (`vm.json`, `disks/`,
 * `volumes/` and `share/`, which its jail does not hold writable). Then the VM goes through a
 * trim period, a join (a disk hot-plug), a checkpoint, a daemon SIGKILL and restart (an
 * adoption), a pause (through QMP), a removal, and a pod's `stop --keep-vm` (its shares emptied): the host file,
 * directory and socket outside the VM's directory are never read, written, cut, mounted over
 * or connected to, and the daemon keeps answering.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerOk, dockerSync } from '../helpers/docker-cli';
import { podvisor, podvisorOk } from '../helpers/podvisor-cli';
import { isMountPoint } from '../../src/util/mounter';

jest.setTimeout(600_000);

const IMAGE = `${fixtureRegistry()}/busybox`;
/** Longer than one trim period of the VMs' logs (5 s; a log past 1 MiB is cut). */
const TRIM_WAIT_MS = 7000;

let d: TestDaemon;
let base: string;
const canary = { file: '', dir: '', sock: '', connections: 0, server: undefined as net.Server | undefined };

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-vmdir-canary-'));
  canary.file = path.join(base, 'host-file');
  fs.writeFileSync(canary.file, Buffer.alloc(4 << 20, 'host data\n'));
  canary.dir = path.join(base, 'host-dir');
  fs.mkdirSync(canary.dir);
  fs.writeFileSync(path.join(canary.dir, 'keep'), 'keep me');
  canary.sock = path.join(base, 'host.sock');
  canary.server = net.createServer((c) => {
    canary.connections++;
    c.destroy();
  });
  await new Promise<void>((r) => canary.server!.listen(canary.sock, r));
  d = await startDaemon({ vmPoolSize: 0, args: ['--experimental'] });
  dockerOk(d, ['pull', '-q', IMAGE], 300_000);
});

afterAll(async () => {
  await new Promise<void>((r) => (canary.server ? canary.server.close(() => r()) : r()));
  if (d) {
    const ids = dockerSync(d, ['ps', '-aq']).out.split('\n').filter(Boolean);
    if (ids.length) dockerSync(d, ['rm', '-f', ...ids]);
    for (const v of JSON.parse((await podvisor(d, ['list', 'vms', '--json'])).out || '[]') as Array<{ id: string }>)
      await podvisor(d, ['rm-vm', v.id]);
    await stopDaemonLeavingNothing(d);
  }
  fs.rmSync(base, { recursive: true, force: true });
});

/** What the host sees of the canaries outside every VM directory. */
function canaryFacts(): Record<string, unknown> {
  const st = fs.statSync(canary.file);
  return {
    sha256: createHash('sha256').update(fs.readFileSync(canary.file)).digest('hex'),
    size: st.size,
    mtimeMs: st.mtimeMs,
    mounted: isMountPoint(canary.file) || isMountPoint(canary.dir),
    dir: fs.readdirSync(canary.dir).sort(),
    keep: fs.readFileSync(path.join(canary.dir, 'keep'), 'utf8'),
    connections: canary.connections,
  };
}

let before: Record<string, unknown>;

/** The runtime directory of the VM container `name` runs in (its rootfs is in that VM's share). */
function vmDirOf(name: string): string {
  const id = dockerOk(d, ['inspect', '-f', '{{.Id}}', name]).trim();
  const vms = path.join(d.execRoot, 'vms');
  const dir = fs
    .readdirSync(vms)
    .map((v) => path.join(vms, v))
    .find((v) => fs.existsSync(path.join(v, 'share', 'containers', id)));
  if (!dir) throw new Error(`no VM directory holds container ${name}`);
  return dir;
}

/** `dir` as the QEMU of its VM sees it: through its root. */
function inJail(dir: string, ...rest: string[]): string {
  const { qemuPid } = JSON.parse(fs.readFileSync(path.join(dir, 'vm.json'), 'utf8')) as { qemuPid: number };
  return path.join(`/proc/${qemuPid}/root`, dir, ...rest);
}

function replace(p: string, make: (p: string) => void): void {
  fs.rmSync(p, { force: true });
  make(p);
}

/** What a taken-over QEMU can do in its run/: its logs swapped for a symlink to a host file and a FIFO. */
function swapLogs(dir: string): void {
  replace(inJail(dir, 'run', 'console.log'), (p) => fs.symlinkSync(canary.file, p));
  replace(inJail(dir, 'run', 'qemu.log'), (p) => execFileSync('mkfifo', [p]));
  replace(inJail(dir, 'run', 'locks.log'), (p) => fs.symlinkSync(canary.file, p));
}

/** What it cannot: each try through its root fails, and the daemon's names stay as they were. */
function triesBeyondRun(dir: string): Record<string, string> {
  const attempt = (f: () => void): string => {
    try {
      f();
      return 'done';
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === undefined ? 'failed' : 'refused';
    }
  };
  return {
    record: attempt(() => fs.writeFileSync(inJail(dir, 'vm.json'), '{}')),
    disk: attempt(() => fs.symlinkSync(canary.file, inJail(dir, 'disks', 'qmp-file'))),
    volumes: attempt(() => fs.renameSync(inJail(dir, 'volumes'), inJail(dir, 'run', 'moved'))),
    share: attempt(() => fs.renameSync(inJail(dir, 'share'), inJail(dir, 'run', 'moved'))),
  };
}

const REFUSED = { record: 'refused', disk: 'refused', volumes: 'refused', share: 'refused' };

const answers = (name: string) => dockerOk(d, ['exec', name, 'echo', 'answering']).trim();

test('logs swapped for a symlink and a FIFO while the VM runs, through a trim period and a join: the host file is untouched', async () => {
  before = canaryFacts();
  dockerOk(d, ['run', '-d', '--name', 'vmdir-a', '-v', 'pv-vmdir-vol:/data', IMAGE, 'sleep', '1000']);
  const dir = vmDirOf('vmdir-a');
  swapLogs(dir);
  expect(triesBeyondRun(dir)).toEqual(REFUSED);
  await new Promise((r) => setTimeout(r, TRIM_WAIT_MS));
  expect(canaryFacts()).toEqual(before);
  expect(answers('vmdir-a')).toBe('answering');

  // A join: its disk is bound in disks/ for QEMU's open, never where the jail could point it.
  dockerOk(d, ['run', '-d', '--name', 'vmdir-b', '--network', 'container:vmdir-a', IMAGE, 'sleep', '1000']);
  expect(vmDirOf('vmdir-b')).toBe(dir);
  expect(answers('vmdir-b')).toBe('answering');
  expect(canaryFacts()).toEqual(before);
  expect(fs.lstatSync(path.join(dir, 'run', 'console.log')).isSymbolicLink()).toBe(true);
});

test('a checkpoint of a VM whose logs were swapped: made, and the host file untouched', () => {
  dockerOk(d, ['run', '-d', '--name', 'vmdir-c', IMAGE, 'sleep', '1000']);
  try {
    swapLogs(vmDirOf('vmdir-c'));
    dockerOk(d, ['checkpoint', 'create', 'vmdir-c', 'cp1'], 300_000);
    expect(dockerOk(d, ['checkpoint', 'ls', 'vmdir-c'])).toContain('cp1');
    expect(canaryFacts()).toEqual(before);
  } finally {
    dockerSync(d, ['rm', '-f', 'vmdir-c']);
  }
});

test('a daemon SIGKILLed and restarted adopts the VM whose logs were swapped, and the host file stays untouched', async () => {
  const dir = vmDirOf('vmdir-a');
  await d.kill9();
  await d.restart();
  // Adoption runs in the background after a start.
  let out = '';
  for (let i = 0; i < 600 && out !== 'answering'; i++) {
    out = dockerSync(d, ['exec', 'vmdir-a', 'echo', 'answering']).out.trim();
    if (out !== 'answering') await new Promise((r) => setTimeout(r, 200));
  }
  expect(out).toBe('answering');
  expect(vmDirOf('vmdir-a')).toBe(dir);
  expect(d.logs()).not.toMatch(/is not adoptable/);
  await new Promise((r) => setTimeout(r, TRIM_WAIT_MS));
  expect(canaryFacts()).toEqual(before);
  expect(answers('vmdir-b')).toBe('answering');
});

test('a QMP socket swapped for a symlink to a host socket is never connected to: a pause fails, the VM is still removed', async () => {
  const dir = vmDirOf('vmdir-a');
  replace(inJail(dir, 'run', 'qmp.sock'), (p) => fs.symlinkSync(canary.sock, p));
  // A pause freezes the VM through its monitor: refused, the guest runs on.
  const pause = dockerSync(d, ['pause', 'vmdir-a']);
  expect(pause.code).not.toBe(0);
  expect(pause.err).toContain('qmp.sock');
  expect(canaryFacts()).toEqual(before);
  expect(answers('vmdir-a')).toBe('answering');
  dockerOk(d, ['rm', '-f', 'vmdir-a', 'vmdir-b']);
  // The VM's teardown ends after the removal has answered, in the background.
  for (let i = 0; i < 300 && fs.existsSync(dir); i++) await new Promise((r) => setTimeout(r, 100));
  expect(fs.existsSync(dir)).toBe(false);
  expect(canaryFacts()).toEqual(before);
  const names = dockerOk(d, ['ps', '-a', '--format', '{{.Names}}']).split('\n');
  expect(names).not.toContain('vmdir-a');
  expect(names).not.toContain('vmdir-b');
});

test("a pod's stop --keep-vm with its logs swapped: its shares are emptied, the host file and directory untouched", async () => {
  const vmId = (await podvisorOk(d, ['run-vm'])).trim();
  const file = path.join(base, 'pod.yaml');
  fs.writeFileSync(
    file,
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: first\nspec:\n  containers:\n    - name: main\n      image: ${IMAGE}\n      command: ["sleep", "1000"]\n`,
  );
  await podvisorOk(d, ['run-pod', '--vm', vmId, '-f', file]);
  const dir = path.join(d.execRoot, 'vms', vmId);
  swapLogs(dir);
  expect(triesBeyondRun(dir)).toEqual(REFUSED);
  expect(await podvisorOk(d, ['stop', '--keep-vm', '-t', '1', 'first'])).toBe(`first stopped; VM ${vmId} is Idle\n`);
  expect(canaryFacts()).toEqual(before);
  await podvisorOk(d, ['rm', 'first']);
  await podvisorOk(d, ['rm-vm', vmId]);
  expect(canaryFacts()).toEqual(before);
  expect(dockerOk(d, ['version', '-f', '{{.Server.Version}}']).trim()).not.toBe('');
});
