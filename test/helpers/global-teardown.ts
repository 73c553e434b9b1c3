/**
 * Jest global teardown: stops the fixture registries the setup started, then fails the run
 * when a QEMU or virtiofsd process started during it is still alive (a test or the daemon
 * leaked a VM).
 */
import { listVmProcesses } from './leaks';

async function stopRegistries(): Promise<void> {
  const pids = (process.env.PODVISOR_TEST_REGISTRY_PIDS ?? '').split(',').filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  for (let i = 0; i < 40 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export default async function globalTeardown(): Promise<void> {
  await stopRegistries();
  const before = new Set((process.env.PODVISOR_PREEXISTING_VM_PIDS ?? '').split(',').filter(Boolean).map(Number));
  // Give processes killed by the last test a moment to be reaped.
  for (let i = 0; i < 20; i++) {
    if (listVmProcesses().every((p) => before.has(p.pid))) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  const leaked = listVmProcesses().filter((p) => !before.has(p.pid));
  throw new Error(`leaked VM processes after the test run:\n${leaked.map((p) => `${p.pid} ${p.cmdline}`).join('\n')}`);
}
