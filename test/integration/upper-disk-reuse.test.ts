/**
 * One VM, several block-mode containers in turn (a VM reused after `podvisor stop --keep-vm`,
 * `replace`, or the pool's rehearsal before a container): each container's upper disk is a
 * fresh file put behind the VM's one disk device. Each container sees only its own layer, and
 * no file is written once the next one is behind the device. The earlier container's ext4 is
 * unmounted only when its mount namespace goes, after the release; its last writes (the
 * superblock, at unmount) landed in the next container's file, whose mount then failed with
 * "Structure needs cleaning". The host checks each file with e2fsck (userspace, on files the
 * test made) after the VM is gone. One boot.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeUpperDisk } from '../../src/storage/upper-disk-file';
import { UPPER_DISK_BYTES } from '../../src/vm/devices/upper-disk';
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
  expect(listVmProcesses().filter((p) => p.cmdline.includes(execRoot))).toEqual([]);
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
