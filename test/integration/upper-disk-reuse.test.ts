/**
 * One VM, several block-mode containers in turn (a VM reused after `podvisor stop --keep-vm`,
 * `replace`, or the pool's rehearsal before a container): each container's upper disk is a
 * fresh file put behind the VM's one disk device. Each container sees only its own layer, and
 * no file is written once the next one is behind the device. The earlier container's ext4 is
 * unmounted only when its mount namespace goes, after the release; its last writes (the
 * superblock, at unmount) landed in the next container's file, whose mount then failed with
 * "Structure needs cleaning". The host checks each file with e2fsck (userspace, on files the
 * test made) after the VM is gone. A second VM holds ready disks (Vm.holdReadyDisk): one a
 * create takes, one let go for another file, one a pod pause lets go.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeUpperDisk } from '../../src/storage/upper-disk-file';
import { UPPER_DISK_BYTES } from '../../src/vm/devices/upper-disk/upper-disk';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { makeBusyboxRootfs, run } from '../helpers/agent-fixtures';
import { tcgHypervisor } from '../helpers/tcg-hypervisor';

jest.setTimeout(180_000);

const ROUNDS = 4;
let execRoot: string;

beforeAll(() => {
  execRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-diskreuse-'));
});

afterAll(() => {
  expect(listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(execRoot))).toEqual([]);
  expect(mountsUnder(execRoot)).toEqual([]);
  fs.rmSync(execRoot, { recursive: true, force: true });
});

it('gives each container on a reused VM its own clean upper disk; the previous one writes nothing into the next', async () => {
  const hv = tcgHypervisor(execRoot);
  const vm = await hv.createVm({ size: { memoryMiB: 256, cpus: 1 }, devices: { upperDisk: true } });
  const disks: string[] = [];
  try {
    const guestName = vm.devices.upperDisk!.guestName;
    // Made first, so that the next disk follows a release as closely as the daemon's next start.
    for (let i = 0; i < ROUNDS; i++) {
      makeBusyboxRootfs(path.join(vm.shareDir, `containers/reuse-${i}/rootfs`));
      disks.push(path.join(execRoot, `upper-${i}.img`));
      await makeUpperDisk(disks[i], UPPER_DISK_BYTES, 64 << 20);
    }
    for (let i = 0; i < ROUNDS; i++) {
      const id = `reuse-${i}`;
      const rel = `containers/${id}/rootfs`;
      // The earlier container's file is detached first, as QemuVm.attachUpperDisk does.
      await vm.attachUpperDisk!(disks[i]);
      await vm.agent.createContainer({ id, rootfs: rel, upperDisk: guestName });
      // Writes enough to leave the journal and the superblock with work at unmount.
      const r = await run(vm.agent, id, [
        'sh',
        '-c',
        `ls /marker-* 2>/dev/null; echo ${i} > /marker-${i}; mkdir -p /data; for n in 1 2 3 4 5 6 7 8; do echo $n > /data/f-$n; done; sync; ls /marker-*`,
      ]);
      expect(r.status).toEqual({ exitCode: 0 });
      // Only this container's own marker: the layer is this container's disk, not an earlier one's.
      expect(r.stdout.trim()).toBe(`/marker-${i}`);
      await vm.agent.destroyContainer(id);
    }
    await vm.detachUpperDisk!();
    // Detaching with no file behind the disk changes nothing; a file can be put there again.
    await vm.detachUpperDisk!();
    await vm.attachUpperDisk!(disks[0]);
    await vm.detachUpperDisk!();
  } finally {
    vm.agent.close();
    await vm.destroy();
    await hv.close();
  }
  // Each file holds a clean filesystem with its own container's marker and nothing else's.
  for (const [i, disk] of disks.entries()) {
    const fsck = (() => {
      try {
        return execFileSync('e2fsck', ['-fn', disk], { encoding: 'utf8', stdio: 'pipe' });
      } catch (e) {
        const err = e as { stdout?: string; stderr?: string; status?: number };
        return `exit ${err.status}: ${err.stdout ?? ''}${err.stderr ?? ''}`;
      }
    })();
    expect(fsck).not.toMatch(/^exit /);
    const listing = execFileSync('debugfs', ['-R', 'ls -p /upper', disk], { encoding: 'utf8', stdio: 'pipe' });
    const markers = listing.match(/marker-\d+/g) ?? [];
    expect(markers).toEqual([`marker-${i}`]);
  }
});

/** e2fsck's verdict on `disk` and the markers in its upper/ (userspace tools on a file the test made). */
function checkDisk(disk: string): { clean: boolean; markers: string[] } {
  let clean = true;
  try {
    execFileSync('e2fsck', ['-fn', disk], { stdio: 'pipe' });
  } catch {
    clean = false;
  }
  const listing = execFileSync('debugfs', ['-R', 'ls -p /upper', disk], { encoding: 'utf8', stdio: 'pipe' });
  return { clean, markers: listing.match(/marker-[a-z]+/g) ?? [] };
}

it('a ready disk: taken by a create over it, let go for another file, and let go by a pause that does not use it', async () => {
  const hv = tcgHypervisor(execRoot);
  const vm = await hv.createVm({ size: { memoryMiB: 256, cpus: 1 }, devices: { upperDisk: true } });
  const file = (name: string) => path.join(execRoot, `${name}.img`);
  try {
    const guestName = vm.devices.upperDisk!.guestName;
    for (const name of ['taken', 'dropped', 'own', 'unused', 'after-pause'])
      await makeUpperDisk(file(name), UPPER_DISK_BYTES, 64 << 20);
    const mark = async (id: string, what: string) => {
      makeBusyboxRootfs(path.join(vm.shareDir, `containers/${id}/rootfs`));
      await vm.agent.createContainer({ id, rootfs: `containers/${id}/rootfs`, upperDisk: guestName });
      const r = await run(vm.agent, id, ['sh', '-c', `echo x > /marker-${what}; sync; ls /marker-*`]);
      expect(r.stdout.trim()).toBe(`/marker-${what}`);
      await vm.agent.destroyContainer(id);
    };

    // Taken: the container's layer is on the file mounted ahead (no attach of its own).
    await vm.holdReadyDisk!(file('taken'), UPPER_DISK_BYTES);
    const mine = file('taken-as-container');
    expect(await vm.takeReadyDisk!(mine, { bytes: UPPER_DISK_BYTES })).toBe(true);
    await vm.attachUpperDisk!(mine);
    await mark('ready-a', 'taken');

    // Let go: another file goes behind the device; the held one is removed by the VM.
    await vm.holdReadyDisk!(file('dropped'), UPPER_DISK_BYTES);
    expect(await vm.takeReadyDisk!(file('nope'), { bytes: UPPER_DISK_BYTES, fsBytes: 64 << 20 })).toBe(false);
    await vm.attachUpperDisk!(file('own'));
    expect(fs.existsSync(file('dropped'))).toBe(false);
    await mark('ready-b', 'own');

    // A pod pause takes the spare without using the disk mounted in it: the disk is let go
    // then, so that the next container's file can go behind the device.
    await vm.holdReadyDisk!(file('unused'), UPPER_DISK_BYTES);
    await vm.agent.createContainer({ id: 'pause', podPause: true });
    await vm.attachUpperDisk!(file('after-pause'));
    await mark('ready-c', 'afterpause');
    await vm.agent.destroyContainer('pause');
    await vm.detachUpperDisk!();
  } finally {
    vm.agent.close();
    await vm.destroy();
    await hv.close();
  }
  expect(checkDisk(file('taken-as-container'))).toEqual({ clean: true, markers: ['marker-taken'] });
  expect(checkDisk(file('own'))).toEqual({ clean: true, markers: ['marker-own'] });
  expect(checkDisk(file('after-pause'))).toEqual({ clean: true, markers: ['marker-afterpause'] });
});
