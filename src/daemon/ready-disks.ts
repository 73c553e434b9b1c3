/**
 * Block mode's ready disks: the pool's warming gives each idle VM a fresh upper disk, mounted
 * ahead in its guest (Vm.holdReadyDisk), so that the VM's first container takes it as its own
 * disk and its start skips the disk's attach and the guest's mount (performance-log.md, "What
 * the upper disk costs inside the guest"). The files are `ready-<vm id>.ext4` in the spare
 * disks' directory (on the containers' filesystem: a take is a rename); those an earlier
 * daemon left are removed when the daemon starts (its idle VMs did not outlive it, and a file
 * a surviving VM holds is one its container never took).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Vm } from '../vm/types';
import { makeUpperDisk } from '../storage/upper-disk-file';
import { logger } from '../util/log';

const log = logger('pool');

const READY_FILE = /^ready-[0-9a-f]{1,64}\.ext4(\.tmp)?$/;

/**
 * The warming step's `ready` (src/vm/rehearsal.ts poolWarmStep) for disks of `bytes` in
 * `dir`; the files an earlier daemon left there are removed now. A VM that cannot hold one
 * goes on without (logged): its container's start attaches and mounts its disk itself.
 */
export function readyDiskStep(dir: string, bytes: number): (vm: Vm) => Promise<void> {
  for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : [])
    if (READY_FILE.test(name)) fs.rmSync(path.join(dir, name), { force: true });
  return async (vm) => {
    if (!vm.holdReadyDisk || !vm.devices.upperDisk || !/^[0-9a-f]{1,64}$/.test(vm.id)) return;
    const file = path.join(dir, `ready-${vm.id}.ext4`);
    const started = Date.now();
    try {
      await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
      await makeUpperDisk(file, bytes);
      await vm.holdReadyDisk(file, bytes);
      log.debug(`VM ${vm.id}: upper disk mounted ahead in ${Date.now() - started} ms`);
    } catch (err) {
      await fs.promises.rm(file, { force: true });
      log.warn(`VM ${vm.id}: no upper disk mounted ahead: ${(err as Error).message}`);
    }
  };
}
