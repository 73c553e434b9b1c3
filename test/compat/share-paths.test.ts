/**
 * A guest root against the host's paths in its VM's shares, through the stock docker CLI on
 * real VMs. Everything in a share is the guest's to write, so the attacks are either made by a
 * `--privileged` container itself, or made by this test on the host side of the share exactly
 * as a guest root could (symlinks, renames, in a loop while the host acts):
 *
 *  - `:ro` is enforced on the host: a privileged container that remounts its read-only bind
 *    mount read-write still cannot change the source (`-v :ro`, `--mount readonly`,
 *    `--volumes-from X:ro`), even beside a read-write use of the same source in one VM;
 *  - a symlink planted in the volume share (at the name the host used to compute, and over
 *    every entry the host makes while a container joins the VM) never makes the host mount a
 *    source outside the share, and no mount is left after the containers are removed;
 *  - a container's directory in the rootfs share swapped for a symlink to a decoy host
 *    directory while containers join (before and after their rootfs is mounted) never makes
 *    the host mount there or write its /etc files there.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { mountsUnder } from '../helpers/leaks';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, type CliResult } from '../helpers/docker-cli';
import { isMountPoint, mountPoints } from '../../src/util/mounter';

jest.setTimeout(600_000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;
let host: string;

const docker = (args: string[]): Promise<CliResult> => dockerCli(d, args);

beforeAll(async () => {
  d = await startDaemon();
  host = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-share-paths-'));
  expect((await docker(['pull', '-q', IMAGE])).code).toBe(0);
});

afterAll(async () => {
  const ids = (await docker(['ps', '-aq'])).out.split('\n').filter(Boolean);
  if (ids.length) await docker(['rm', '-f', ...ids]);
  await stopDaemonLeavingNothing(d);
  expect(mountsUnder(host)).toEqual([]);
  fs.rmSync(host, { recursive: true, force: true });
});

/** A new host directory holding `file` = `text`. */
function hostDir(name: string, text = 'host\n'): string {
  const dir = path.join(host, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'file'), text);
  return dir;
}

/** Every file below `dir` with its content (what a decoy must still hold). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = e.isFile() ? fs.readFileSync(p, 'utf8') : '<special>';
    }
  };
  walk(dir);
  return out;
}

/** The runtime directory of the VM container `id` runs in (its rootfs is in that VM's share). */
function vmDirOf(id: string): string {
  const vms = path.join(d.execRoot, 'vms');
  const dirs = fs.readdirSync(vms).filter((v) => fs.existsSync(path.join(vms, v, 'share', 'containers', id)));
  expect(dirs).toHaveLength(1);
  return path.join(vms, dirs[0]);
}

/** Once the VM whose runtime directory is `vmDir` is gone (its teardown runs after `docker rm`). */
async function vmGone(vmDir: string): Promise<void> {
  for (let i = 0; i < 600 && fs.existsSync(vmDir); i++) await new Promise((r) => setTimeout(r, 100));
  expect(fs.existsSync(vmDir)).toBe(false);
}

/**
 * Whether mount point `m` is a test daemon's own: under this daemon's runtime directory, or
 * under another test daemon's directory (test/helpers/daemon.ts makes each in
 * `<tmp>/podvisor-test-*`), as the test files that jest runs beside this one mount there; or
 * a baseline dockerd's that another test file runs beside this one (bench/netns-dockerd.ts:
 * its network namespace `/run/netns/pvbn-*`, and what dockerd mounts under its directory
 * `<tmp>/.../dockerd/`, or `dockerd26/` under its own temporary directory for the API 1.45
 * oracle, and its `/run/docker`); or what another test file mounts under a temporary directory
 * of its own, `<tmp>/pv-*` or `<tmp>/podvisor-*` (the host mounts its containers bind, the VM
 * jails of the integration tests: `<tmp>/pv-jail-<random>/booting/vms/<id>`); or the network
 * namespaces other test files make with `ip netns add` (`/run/netns/pvt-*`: the privileged
 * network tests' hosts and containers, seen beside this file in a full run; `pvo-*`: the
 * published-services test's outside host). This file's own directory, which holds the
 * decoys, is never set aside.
 */
const underTestDaemon = (m: string): boolean =>
  m.startsWith(d.execRoot + '/') ||
  underOtherTestDir(m) ||
  /^\/run\/netns\/(pvbn|pvt|pvo)-/.test(m) ||
  m.startsWith('/run/docker/') ||
  (m.startsWith(os.tmpdir() + '/') && /\/dockerd(26)?(\/|$)/.test(m));

/** Whether `m` is under another test file's temporary directory (`<tmp>/pv-*`, `<tmp>/podvisor-*`), not this one's. */
function underOtherTestDir(m: string): boolean {
  if (!m.startsWith(os.tmpdir() + '/')) return false;
  const top = path.join(os.tmpdir(), m.slice(os.tmpdir().length + 1).split('/')[0]);
  return /^(pv|podvisor)-/.test(path.basename(top)) && top !== host;
}

/** Mount points outside every test daemon's directories that were not there in `before`. */
const newMountsOutside = (before: string[]) => mountPoints().filter((m) => !before.includes(m) && !underTestDaemon(m));

/** Run `step` until `stop` is set, yielding between rounds (a guest root working beside the host). */
function loop(step: () => void): { stop(): Promise<void> } {
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      try {
        step();
      } catch {
        // an entry gone or busy meanwhile: the next round
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

const REMOUNT_AND_WRITE = 'mount -o remount,rw /h; echo pwned > /h/file; echo pwned > /h/new; true';

test('a read-only bind stays read-only on the host: a privileged container that remounts it rw cannot write the source', async () => {
  const dir = hostDir('ro');
  const before = tree(dir);
  for (const how of [
    ['-v', `${dir}:/h:ro`],
    ['--mount', `type=bind,source=${dir},target=/h,readonly`],
  ]) {
    const r = await docker(['run', '--rm', '--privileged', ...how, IMAGE, 'sh', '-c', REMOUNT_AND_WRITE]);
    expect(r.code).toBe(0);
    expect(tree(dir)).toEqual(before);
  }
  // --volumes-from X:ro, X's own use read-write.
  expect((await docker(['create', '--name', 'rw-owner', '-v', `${dir}:/h`, IMAGE, 'true'])).code).toBe(0);
  const from = await docker([
    'run',
    '--rm',
    '--privileged',
    '--volumes-from',
    'rw-owner:ro',
    IMAGE,
    'sh',
    '-c',
    REMOUNT_AND_WRITE,
  ]);
  expect(from.code).toBe(0);
  expect(tree(dir)).toEqual(before);
  expect((await docker(['rm', 'rw-owner'])).code).toBe(0);

  // One VM, the source read-write for one container and read-only for another that joins it.
  expect((await docker(['run', '-d', '--name', 'rw-pod', '-v', `${dir}:/w`, IMAGE, 'sleep', '1000'])).code).toBe(0);
  const joined = await docker([
    'run',
    '--rm',
    '--privileged',
    '--network',
    'container:rw-pod',
    '-v',
    `${dir}:/h:ro`,
    IMAGE,
    'sh',
    '-c',
    REMOUNT_AND_WRITE,
  ]);
  expect(joined.code).toBe(0);
  expect(tree(dir)).toEqual(before);
  expect((await docker(['exec', 'rw-pod', 'sh', '-c', 'echo mine > /w/rw'])).code).toBe(0);
  expect(fs.readFileSync(path.join(dir, 'rw'), 'utf8')).toBe('mine\n');
  expect((await docker(['rm', '-f', 'rw-pod'])).code).toBe(0);
});

test('a symlink planted in the volume share never makes the host mount a source outside it; nothing is left mounted', async () => {
  const a = hostDir('vol-a');
  const b = hostDir('vol-b');
  const decoy = hostDir('decoy-vol', 'decoy\n');
  const decoyBefore = tree(decoy);
  const before = mountPoints();
  const va = await docker(['run', '-d', '--name', 'va', '-v', `${a}:/a`, IMAGE, 'sleep', '1000']);
  expect(va.code).toBe(0);
  const vmDir = vmDirOf(va.out.trim());
  const src = path.join(vmDir, 'volumes', 'src');
  // The name the host computed from the source alone.
  const oldName = createHash('sha256').update(path.resolve(b)).digest('hex').slice(0, 32);
  fs.symlinkSync(decoy, path.join(src, oldName));
  // Every entry the host makes while the next container joins: swapped for a symlink at once.
  const existing = new Set(fs.readdirSync(src));
  const swapper = loop(() => {
    for (const n of fs.readdirSync(src)) {
      if (existing.has(n) || n.endsWith('.moved')) continue;
      const p = path.join(src, n);
      if (fs.lstatSync(p).isSymbolicLink()) continue;
      fs.renameSync(p, `${p}.moved`);
      fs.symlinkSync(decoy, p);
    }
  });
  for (const mode of ['', ':ro']) {
    await docker(['run', '--rm', '--network', 'container:va', '-v', `${b}:/b${mode}`, IMAGE, 'ls', '/b']);
    expect(newMountsOutside(before)).toEqual([]);
    expect(isMountPoint(decoy)).toBe(false);
  }
  await swapper.stop();
  expect(tree(decoy)).toEqual(decoyBefore);
  expect((await docker(['rm', '-f', 'va'])).code).toBe(0);
  expect(newMountsOutside(before)).toEqual([]);
  await vmGone(vmDir);
  // Nothing of this VM is left mounted either (other daemons' mounts are theirs).
  expect(mountPoints().filter((m) => !before.includes(m) && (m.startsWith(vmDir) || !underTestDaemon(m)))).toEqual([]);
  expect(tree(decoy)).toEqual(decoyBefore);
});

test("a container's directory in the rootfs share swapped for a symlink while containers join: nothing is mounted or written outside", async () => {
  // A decoy shaped like a container's directory: rootfs/etc with the files the host writes.
  const decoy = path.join(host, 'decoy-rootfs');
  fs.mkdirSync(path.join(decoy, 'rootfs', 'etc'), { recursive: true });
  for (const f of ['hosts', 'hostname', 'resolv.conf', 'passwd'])
    fs.writeFileSync(path.join(decoy, 'rootfs', 'etc', f), `decoy ${f}\n`);
  const decoyBefore = tree(decoy);
  const before = mountPoints();
  const pod = (await docker(['run', '-d', '--name', 'ea', IMAGE, 'sleep', '1000'])).out.trim();
  expect(pod).toMatch(/^[0-9a-f]{64}$/);
  const vmDir = vmDirOf(pod);
  const containers = path.join(vmDir, 'share', 'containers');
  // Half the joiners' directories are swapped as soon as they appear (before the rootfs is
  // mounted), the others once their rootfs is mounted (before the /etc files are written).
  const early = new Map<string, boolean>();
  const swapped = new Set<string>([pod]);
  const swapper = loop(() => {
    for (const id of fs.readdirSync(containers)) {
      if (swapped.has(id) || id.endsWith('.moved')) continue;
      const p = path.join(containers, id);
      if (!early.has(id)) early.set(id, early.size % 2 === 0);
      if (!early.get(id) && !isMountPoint(path.join(p, 'rootfs'))) continue;
      if (fs.lstatSync(p).isSymbolicLink()) continue;
      fs.renameSync(p, `${p}.moved`);
      fs.symlinkSync(decoy, p);
      swapped.add(id);
    }
  });
  const joiners: string[] = [];
  for (let i = 0; i < 6; i++) {
    const c = await docker(['create', '--network', 'container:ea', IMAGE, 'cat', '/etc/hosts']);
    expect(c.code).toBe(0);
    joiners.push(c.out.trim());
    await docker(['start', '-a', c.out.trim()]);
    expect(newMountsOutside(before)).toEqual([]);
    expect(tree(decoy)).toEqual(decoyBefore);
  }
  await swapper.stop();
  expect(swapped.size).toBeGreaterThan(1);
  expect((await docker(['rm', '-f', 'ea', ...joiners])).code).toBe(0);
  expect(newMountsOutside(before)).toEqual([]);
  await vmGone(vmDir);
  // Nothing of this VM is left mounted either (other daemons' mounts are theirs).
  expect(mountPoints().filter((m) => !before.includes(m) && (m.startsWith(vmDir) || !underTestDaemon(m)))).toEqual([]);
  expect(tree(decoy)).toEqual(decoyBefore);
});
