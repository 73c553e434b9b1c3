/**
 * Jest global setup: remembers which QEMU and virtiofsd processes existed before the run, so
 * the teardown can tell leaks of this run from processes that were already there.
 */
import { listVmProcesses } from './leaks';

export default async function globalSetup(): Promise<void> {
  process.env.PODVISOR_PREEXISTING_VM_PIDS = listVmProcesses().map((p) => p.pid).join(',');
}
