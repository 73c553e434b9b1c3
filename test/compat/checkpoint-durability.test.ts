/**
 * What a fork writes survives its stop. A fork's (and a restored container's) disk is a qcow2
 * overlay over the checkpoint's copy (src/util/disk-chain.ts); QEMU keeps an overlay's cluster
 * tables in its own memory until a flush, and the guest sends none (its ext4 is mounted
 * barrier=0, src/vm/devices/upper-disk). A clone's QEMU used to be killed at once at a stop, so
 * a file written and synced in a fork could come back as zeros (its size kept, its data's
 * cluster unmapped): seen as test/compat/checkpoint.test.ts's `docker cp` of a stopped fork's
 * file, empty. QemuVm.destroy now stops such a QEMU over QMP (which flushes every block device)
 * before the kill. Through the stock CLI and `podvisor fork`, on real VMs: the fork's own VM,
 * then the fork started again on a pool VM (its overlay hot-swapped behind the VM's upper
 * disk) and re-adopted by a restarted daemon.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk } from '../helpers/docker-cli';
import { podvisorOk } from '../helpers/podvisor-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(600_000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;
beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 1, args: ['--experimental'] });
});
afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
});

/** File `file` of stopped container `name`, read by `docker cp` (its disk read through a short-lived VM). */
function copiedOut(name: string, file: string): string {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-durability-'));
  try {
    dockerOk(d, ['cp', `${name}:${file}`, out]);
    return fs.readFileSync(path.join(out, path.basename(file)), 'utf8');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

test("a fork's synced writes are on its disk after its stop: on its own VM, and started again on a pool VM after a daemon restart", async () => {
  dockerOk(d, ['run', '-d', '--name', 'dsrc', IMAGE, 'sleep', '1d']);
  dockerOk(d, ['exec', 'dsrc', 'sh', '-c', 'dd if=/dev/urandom of=/data bs=1M count=8 2>/dev/null && sync']);
  dockerOk(d, ['checkpoint', 'create', '--leave-running', 'dsrc', 'cp1']);
  await podvisorOk(d, ['fork', 'dsrc', 'cp1', '--name', 'dfork']);
  try {
    dockerOk(d, ['exec', 'dfork', 'sh', '-c', 'echo first > /first && sync']);
    dockerOk(d, ['stop', '-t', '1', 'dfork']);
    expect(copiedOut('dfork', '/first')).toBe('first\n');

    dockerOk(d, ['start', 'dfork']);
    dockerOk(d, ['exec', 'dfork', 'sh', '-c', 'echo second > /second && sync']);
    await d.restart();
    dockerOk(d, ['stop', '-t', '1', 'dfork']);
    expect(copiedOut('dfork', '/second')).toBe('second\n');
    expect(copiedOut('dfork', '/first')).toBe('first\n');
  } finally {
    dockerOk(d, ['rm', '-f', 'dfork', 'dsrc']);
  }
});
