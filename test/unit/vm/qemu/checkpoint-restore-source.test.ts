/**
 * What a start from a checkpoint starts from (src/vm/qemu/snapshots/checkpoint.ts restoreVm),
 * decided before any QEMU runs: the disk copy that matches the memory the VM will have (its
 * fork template's `fork.disk` when the template is made, else the save's `upper.ext4`), and a
 * record that names a disk copy outside its directory refused. The disk's `take` ends each
 * case here, so no VM is started.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { restoreVm, prepareForkTemplate, forkTemplatesSettled } from '../../../../src/vm/qemu/snapshots/checkpoint';
import { saveStamp } from '../../../../src/vm/qemu/snapshots/save-stamp';
import type { StartHost } from '../../../../src/vm/qemu/start-host';
import type { QemuTools } from '../../../../src/vm/qemu/binaries';
import type { GuestImages } from '../../../../src/vm/guest-images';

const QEMU = '/nonexistent/qemu-system-x86_64';
const h = { cmdline: 'console=hvc0', opts: { accel: 'tcg' } } as unknown as StartHost;
const tools = { cloneQemu: { bin: QEMU } } as unknown as QemuTools;
const guest = { kernel: '/nonexistent/vmlinux', initrd: '/nonexistent/initrd' } as unknown as GuestImages;
const shape = {
  size: { memoryMiB: 256, cpus: 1 },
  devices: { nics: 1, volumes: false, upperDisk: true, imageDisk: false },
  splitWx: true,
};

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-unit-checkpoint-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A checkpoint directory saved by this daemon (its stamp), with `extra` in its record and `files`. */
function checkpoint(extra: Record<string, unknown>, files: string[]): void {
  const stamp = saveStamp(h, tools, guest);
  const record = { format: 1, ...shape, stamp, savedAt: new Date().toISOString(), ...extra };
  fs.writeFileSync(path.join(dir, 'vm.json'), JSON.stringify(record));
  for (const f of ['vm.state', ...files]) fs.writeFileSync(path.join(dir, f), '');
}

/** The copy restoreVm hands the container's disk (the take ends the restore there). */
async function copyTaken(): Promise<string | undefined> {
  let taken: string | undefined = 'none';
  const stop = new Error('stop here');
  const disk = {
    copy: path.join(dir, 'upper.ext4'),
    take: (copy: string | undefined) => {
      taken = copy;
      return Promise.reject(stop);
    },
  };
  await expect(restoreVm(h, tools, guest, dir, disk)).rejects.toBe(stop);
  return taken;
}

test("a checkpoint whose fork template is made restores on the template's own disk", async () => {
  checkpoint({ diskCopy: 'upper.ext4' }, ['upper.ext4', 'fork.state', 'fork.ram', 'fork.disk']);
  expect(await copyTaken()).toBe(path.join(dir, 'fork.disk'));
});

test("a checkpoint without a template, or with one not yet whole, restores on the save's disk copy", async () => {
  checkpoint({ diskCopy: 'upper.ext4' }, ['upper.ext4']);
  expect(await copyTaken()).toBe(path.join(dir, 'upper.ext4'));
  // Its RAM file and disk there, its state not yet renamed into place: still being made.
  for (const f of ['fork.ram', 'fork.disk', 'fork.state.tmp']) fs.writeFileSync(path.join(dir, f), '');
  expect(await copyTaken()).toBe(path.join(dir, 'upper.ext4'));
});

test('a template made before templates had disks restores on the save copy its memory was loaded over', async () => {
  checkpoint({}, ['upper.ext4', 'fork.state', 'fork.ram']);
  expect(await copyTaken()).toBe(path.join(dir, 'upper.ext4'));
});

test('a record that names a disk copy outside its checkpoint is refused, and nothing is taken or made', async () => {
  for (const diskCopy of ['../upper.ext4', '/etc/passwd', '..', '.', 'a/b']) {
    checkpoint({ diskCopy }, ['upper.ext4']);
    const take = jest.fn();
    await expect(restoreVm(h, tools, guest, dir, { take })).rejects.toThrow(
      /its VM record is not one this daemon reads/,
    );
    await expect(prepareForkTemplate(h, tools, guest, dir)).rejects.toThrow(
      /its VM record is not one this daemon reads/,
    );
    expect(take).not.toHaveBeenCalled();
  }
  expect(fs.readdirSync(dir).sort()).toEqual(['upper.ext4', 'vm.json', 'vm.state']);
});

test('a template is not made for a checkpoint of another QEMU, kernel or agent, and there is nothing to wait for', async () => {
  checkpoint({ stamp: 'another' }, ['upper.ext4']);
  await expect(prepareForkTemplate(h, tools, guest, dir)).rejects.toThrow(/made under another guest kernel/);
  await forkTemplatesSettled(dir);
  expect(fs.readdirSync(dir).sort()).toEqual(['upper.ext4', 'vm.json', 'vm.state']);
});

/** A record of a pod of several's save: its two containers' disks, kept by a restore (joinedStay). */
function podOfSeveral(extra: Record<string, unknown> = {}): string {
  const image = path.join(dir, 'image.erofs');
  fs.writeFileSync(image, 'image');
  const st = fs.statSync(image);
  const joined = [0, 1].map((i) => ({
    containerId: `c${i}`,
    diskCopy: `joined-${i}.disk`,
    imageDisk: { file: image, identity: `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}` },
    at: { upper: { scsiId: 2 * i + 1, lun: 0 }, image: { scsiId: 2 * i + 2, lun: 0 } },
  }));
  checkpoint({ joined, joinedStay: true, ...extra }, ['joined-0.disk', 'joined-1.disk']);
  return image;
}

/** The copies a restore of the pod of several hands its two containers (the second take ends it). */
async function podCopiesTaken(fork = false): Promise<Array<[string, string]>> {
  const taken: Array<[string, string]> = [];
  const stop = new Error('stop here');
  const joined = {
    take: (containerId: string, copy: string) => {
      taken.push([containerId, copy]);
      return taken.length === 2 ? Promise.reject(stop) : Promise.resolve(`/disks/${containerId}`);
    },
  };
  await expect(restoreVm(h, tools, guest, dir, undefined, { fork, joined })).rejects.toBe(stop);
  return taken;
}

test("a pod of several's checkpoint without a template restores each container on the save's copy of its own disk", async () => {
  podOfSeveral();
  expect(await podCopiesTaken()).toEqual([
    ['c0', path.join(dir, 'joined-0.disk')],
    ['c1', path.join(dir, 'joined-1.disk')],
  ]);
  // A template not yet whole (one container's disk missing) is not used.
  for (const f of ['fork.state', 'fork.ram', 'fork-joined-0.disk']) fs.writeFileSync(path.join(dir, f), '');
  expect((await podCopiesTaken()).map(([, copy]) => path.basename(copy))).toEqual(['joined-0.disk', 'joined-1.disk']);
});

test("a pod of several's checkpoint whose template is made restores and forks each container on the template's own disk of it", async () => {
  podOfSeveral();
  for (const f of ['fork.state', 'fork.ram', 'fork-joined-0.disk', 'fork-joined-1.disk'])
    fs.writeFileSync(path.join(dir, f), '');
  for (const fork of [false, true])
    expect(await podCopiesTaken(fork)).toEqual([
      ['c0', path.join(dir, 'fork-joined-0.disk')],
      ['c1', path.join(dir, 'fork-joined-1.disk')],
    ]);
});

test("a pod of several's checkpoint is not restored without its containers' disks, nor from a record it did not write", async () => {
  podOfSeveral();
  const take = jest.fn();
  await expect(restoreVm(h, tools, guest, dir)).rejects.toThrow(/needs its containers' disks/);
  expect(take).not.toHaveBeenCalled();
  // A record whose joinedStay is not `true` is not one this daemon wrote.
  podOfSeveral({ joinedStay: 'yes' });
  await expect(restoreVm(h, tools, guest, dir, undefined, { joined: { take } })).rejects.toThrow(
    /its VM record is not one this daemon reads/,
  );
  expect(take).not.toHaveBeenCalled();
});
