/**
 * `--device-write-bps` and the other `--device-*` rates through the stock docker CLI in block
 * mode (--rootfs-disk): the container's own disk is throttled by QEMU (a write of 4 MiB at
 * 1 MiB/s takes seconds), so is a joined container's own disk in the VM it joins, and a container
 * without a disk of its own is refused at create.
 */
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli } from '../helpers/docker-cli';

jest.setTimeout(600000);

const IMAGE = `${fixtureRegistry()}/busybox:latest`;
// Seconds a synced write of 4 MiB to the container's writable layer (its disk) takes.
const WRITE = 's=$(date +%s); dd if=/dev/zero of=/f bs=1M count=4 conv=fsync 2>/dev/null; echo $(($(date +%s) - s))';

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon({ args: ['--rootfs-disk'], vmPoolSize: 1 });
  expect((await dockerCli(d, ['pull', '-q', IMAGE])).code).toBe(0);
});

afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
});

test("--device-write-bps 1mb: a synced 4 MiB write to the container's disk takes 3 s or more", async () => {
  const slow = await dockerCli(d, ['run', '--rm', '--device-write-bps', '/dev/vda:1mb', IMAGE, 'sh', '-c', WRITE]);
  expect(slow.code).toBe(0);
  expect(Number(slow.out.trim())).toBeGreaterThanOrEqual(3);
  const fast = await dockerCli(d, ['run', '--rm', IMAGE, 'sh', '-c', WRITE]);
  expect(fast.code).toBe(0);
  expect(Number(fast.out.trim())).toBeLessThan(Number(slow.out.trim()));
});

test("a container joining another's VM: its own disk there is throttled; one without a disk of its own is refused at create (400)", async () => {
  const x = (await dockerCli(d, ['run', '-d', IMAGE, 'sleep', '600'])).out.trim();
  const layers = (await dockerCli(d, ['run', '-d', '--storage-opt', 'image=layers', IMAGE, 'sleep', '600'])).out.trim();
  try {
    // Its writable layer is a disk hot-plugged on X's VM (src/vm/devices/joined-disks.ts): limited as its own.
    const slow = await dockerCli(d, [
      'run',
      '--rm',
      '--network',
      `container:${x}`,
      '--device-write-bps',
      '/dev/vda:1mb',
      IMAGE,
      'sh',
      '-c',
      WRITE,
    ]);
    expect(slow.code).toBe(0);
    expect(Number(slow.out.trim())).toBeGreaterThanOrEqual(3);
    // Joining a container that reads the layers share gives it no disk: refused, as dockerd
    // refuses what its storage driver cannot do.
    const r = await dockerCli(d, [
      'create',
      '--network',
      `container:${layers}`,
      '--device-read-iops',
      '/dev/vda:100',
      IMAGE,
      'true',
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("limit a container's own disk: only in block mode (--rootfs-disk)");
  } finally {
    await dockerCli(d, ['rm', '-f', x, layers]);
  }
});
