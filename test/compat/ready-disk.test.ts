/**
 * Block mode's ready disks, through the stock docker CLI against the real daemon with a pool
 * (real QEMU VMs): once the pool is quiet, each idle VM holds a fresh upper disk that its
 * guest mounted ahead (src/daemon/ready-disks.ts, the agent's READY_DISK).
 * - a `docker run` from that pool takes the VM's file as the container's own disk (a rename:
 *   the same inode), and its files are there after stop and start;
 * - a start that brings another file (the restarted container's own disk, a --storage-opt
 *   size disk) has the guest let go of the ready disk first (DROP_READY_DISK), gets its own
 *   disk behind the device, and the VM's ready file is removed;
 * - a daemon started after one killed with SIGKILL removes the ready files that one's pool
 *   left.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerOk } from '../helpers/docker-cli';

jest.setTimeout(600000);

const BUSYBOX = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;
const ok = (args: string[]): string => dockerOk(d, args, 300000);
const disksDir = (): string => path.join(d.dataRoot, 'upper-disks');

/** The ready disk files now, by name, with their inodes. */
function readyFiles(): Map<string, number> {
  const out = new Map<string, number>();
  for (const name of fs.existsSync(disksDir()) ? fs.readdirSync(disksDir()) : [])
    if (/^ready-[0-9a-f]+\.ext4$/.test(name)) out.set(name, fs.statSync(path.join(disksDir(), name)).ino);
  return out;
}

/** Wait until the pool's idle VM holds a ready disk other than those in `besides`; its name and inode. */
async function nextReady(besides: Iterable<string> = []): Promise<[string, number]> {
  const old = new Set(besides);
  for (let i = 0; i < 600; i++) {
    const found = [...readyFiles()].find(([name]) => !old.has(name));
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ready disk appeared in ${disksDir()}`);
}

beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 1 });
  ok(['pull', '-q', BUSYBOX]);
});

afterAll(async () => {
  await stopDaemonLeavingNothing(d);
});

test("a container from a warmed pool takes the VM's ready disk as its own; restarted, its own disk replaces the next VM's", async () => {
  const [name, ino] = await nextReady();
  // The file is written by an exec, not by the container's command: a command that wrote it
  // would write it again at the restart (truncating it first), racing the read below.
  const id = ok(['run', '-d', BUSYBOX, 'sleep', '3600']);
  try {
    const disk = path.join(d.dataRoot, 'containers', id, 'upper.ext4');
    expect(fs.statSync(disk).ino).toBe(ino);
    expect(fs.existsSync(path.join(disksDir(), name))).toBe(false);
    ok(['exec', id, 'sh', '-c', 'echo kept > /kept.txt']);
    expect(ok(['exec', id, 'cat', '/kept.txt'])).toBe('kept');
    // The guest wrote the container's layer onto that disk: the host's upper/ stays empty.
    expect(fs.readdirSync(path.join(d.dataRoot, 'containers', id, 'upper'))).toEqual([]);

    ok(['stop', '-t', '0', id]);
    const [next] = await nextReady([name]);
    ok(['start', id]);
    // The next VM took the container's own disk behind its device; its ready file is gone.
    expect(readyFiles().has(next)).toBe(false);
    expect(fs.statSync(disk).ino).toBe(ino);
    // The first read on that VM sees the whole file.
    expect(ok(['exec', id, 'cat', '/kept.txt'])).toBe('kept');
    expect(ok(['exec', id, 'sh', '-c', 'echo more > /more.txt && cat /more.txt'])).toBe('more');
  } finally {
    ok(['rm', '-f', id]);
  }
});

test('a --storage-opt size container on a VM holding a ready disk gets its own disk of that size; the ready file goes', async () => {
  const [name] = await nextReady();
  const out = ok(['run', '--rm', '--storage-opt', 'size=64M', BUSYBOX, 'sh', '-c', 'df -k / | tail -n 1']);
  const totalKiB = Number(out.trim().split(/\s+/)[1]);
  expect(totalKiB).toBeGreaterThan(40 * 1024);
  expect(totalKiB).toBeLessThanOrEqual(64 * 1024);
  expect(readyFiles().has(name)).toBe(false);
});

test('a daemon killed with SIGKILL: the next one removes the ready disks its pool left', async () => {
  const [name] = await nextReady();
  await d.kill9();
  expect(readyFiles().has(name)).toBe(true);
  await d.restart();
  expect(readyFiles().has(name)).toBe(false);
  // The new daemon's pool holds one of its own again.
  const [fresh] = await nextReady();
  expect(fresh).not.toBe(name);
  expect(ok(['run', '--rm', BUSYBOX, 'sh', '-c', 'echo ran > /f && cat /f'])).toBe('ran');
});
