/**
 * Fault injection for crash tests: with PODVISOR_FAULT=<point> in its environment, the daemon
 * SIGKILLs itself when a VM boot reaches that point (hypervisor.ts names them:
 * after-virtiofsd-spawn, after-virtiofsd-socket, after-qemu-spawn, after-vm-json,
 * after-agent-connect; for a clone clone-after-qemu-spawn, clone-after-vm-json,
 * clone-after-agent-connect; templates.ts template-after-qemu-spawn,
 * template-after-agent-connect; and, outside a boot, src/storage/image-disks/image-disks.ts
 * image-disk-after-mkfs-spawn; in the middle of a checkpoint's save, qemu-vm.ts
 * save-after-release-share and save-after-state-written, migration.ts save-after-stop; a template's template-save-after-stop).
 * test/integration/vm-crash.test.ts kills the daemon at every step of a boot this way, not by
 * timing (test/compat/image-disks.test.ts in the middle of an image disk's make,
 * test/compat/checkpoint-crash.test.ts in the middle of a save). faultKill kills another
 * process instead (a VM's QEMU in the middle of a checkpoint's save: checkpoint-vm-dies).
 * Unset (always, outside tests), it costs one comparison.
 */
const armed = process.env.PODVISOR_FAULT;

/** SIGKILL this process when PODVISOR_FAULT names `point`. */
export function faultPoint(point: string): void {
  if (armed === point) process.kill(process.pid, 'SIGKILL');
}

/** SIGKILL process `pid` (a VM's QEMU) when PODVISOR_FAULT names `point`. */
export function faultKill(point: string, pid: number): void {
  if (armed === point) process.kill(pid, 'SIGKILL');
}
