/**
 * The daemon's VM wiring, with the real compiled podvisord: it decides the acceleration and
 * says so, fills its warm pool in the background while /_ping already answers, destroys its
 * idle VMs on SIGTERM, and after a SIGKILL the next daemon destroys the idle VMs the dead one
 * left (no container claims them). Two boots.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ping, startDaemon, type TestDaemon } from '../helpers/daemon';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';

jest.setTimeout(120_000);

async function waitForLog(d: TestDaemon, re: RegExp, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!re.test(d.logs())) {
    if (Date.now() > deadline) throw new Error(`no log line ${re} in:\n${d.logs()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function vmProcessesOf(execRoot: string): string[] {
  return listVmProcesses({ jails: true })
    .filter((p) => p.cmdline.includes(execRoot))
    .map((p) => p.cmdline);
}

function runtimeVms(execRoot: string): string[] {
  const dir = path.join(execRoot, 'vms');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

it('holds a warm pool, reclaims the idle VM of a killed daemon, and leaves nothing on SIGTERM', async () => {
  const d = await startDaemon({ vmPoolSize: 1, args: ['--accel', 'auto'] });
  const execRoot = d.execRoot;
  try {
    // The API answers while the pool is still booting.
    expect(await ping(d.socketPath)).toBe(true);
    expect(d.logs()).toMatch(/accel: (falling back to TCG|KVM)/);
    await waitForLog(d, /VM pool: 1 idle VM\(s\) ready/);
    const [idle] = runtimeVms(execRoot);
    expect(idle).toMatch(/^[0-9a-f]{12}$/);
    // Its QEMU (a clone of a template: QEMU serves its files itself; a booted VM has a virtiofsd too).
    const idleProcs = vmProcessesOf(execRoot);
    expect(idleProcs.filter((p) => /qemu-system/.test(p.split(' ')[0]))).toHaveLength(1);
    expect(idleProcs.every((p) => p.includes(`/vms/${idle}/`))).toBe(true);

    // A crashed daemon leaves its idle VM running; the next one destroys it and makes its own.
    await d.kill9();
    expect(vmProcessesOf(execRoot)).toEqual(idleProcs);
    await d.restart();
    await waitForLog(d, /reclaimed 1 VM\(s\) left by an earlier daemon/);
    await waitForLog(d, /VM pool: 1 idle VM\(s\) ready[\s\S]*VM pool: 1 idle VM\(s\) ready/);
    expect(runtimeVms(execRoot)).toHaveLength(1);
    expect(runtimeVms(execRoot)).not.toContain(idle);
    // The second daemon reused the first one's KVM probe answer.
    expect(JSON.parse(fs.readFileSync(path.join(execRoot, 'accel.json'), 'utf8'))).toMatchObject({
      accel: expect.any(String),
    });
    expect(d.logs()).toMatch(/remembered in accel\.json/);
  } finally {
    // SIGTERM: the daemon destroys its idle VM before it exits.
    await d.stop();
  }
  expect(vmProcessesOf(execRoot)).toEqual([]);
  expect(mountsUnder(execRoot)).toEqual([]);
});
