/**
 * The block devices a container's VM has, as a test sees them through the stock CLI: every
 * container of a VM sees the VM's /sys, so `docker exec X ls /sys/block` lists the disks
 * hot-plugged for the containers that joined X's VM too.
 */
import { dockerCli } from './docker-cli';
import type { TestDaemon } from './daemon';

/** The block devices of container `name`'s VM, sorted. */
export async function vmDisks(d: TestDaemon, name: string): Promise<string[]> {
  return (await dockerCli(d, ['exec', name, 'ls', '/sys/block'])).out.split(/\s+/).filter(Boolean).sort();
}

/**
 * Container `name`'s VM's disks once they are `want` (the guest drops an unplugged SCSI disk a
 * moment after QEMU does, and a stop's teardown goes on after its answer), or as they are after 20 s.
 */
export async function vmDisksBecome(d: TestDaemon, name: string, want: string[]): Promise<string[]> {
  const end = Date.now() + 20_000;
  for (;;) {
    const got = await vmDisks(d, name);
    if (JSON.stringify(got) === JSON.stringify(want) || Date.now() > end) return got;
    await new Promise((r) => setTimeout(r, 250));
  }
}
