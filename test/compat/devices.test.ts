/**
 * A container's device cgroup through the stock docker CLI on real VMs: a default container may
 * make device nodes (mknod in its own /dev) but opens only runc's harmless few, so the VM's
 * serial console (ttyS0) and its disks stay closed (and its console, c 5:1:
 * test/compat/console-channel.test.ts); a
 * privileged one opens them; `--device` gives the guest kernel's own /dev/fuse and
 * /dev/net/tun, `--device-cgroup-rule` widens the allow-list, and the host's hardware is
 * refused by name.
 */
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, type CliResult } from '../helpers/docker-cli';

jest.setTimeout(300_000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox:latest`;

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 1 });
  expect((await dockerCli(d, ['pull', '-q', IMAGE])).code).toBe(0);
});

afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
});

const run = (opts: string[], script: string): Promise<CliResult> =>
  dockerCli(d, ['run', '--rm', ...opts, IMAGE, 'sh', '-c', script]);

/** The VM's first disk's numbers (vda), or virtio-blk's usual ones when the VM has none. */
const DISK = 'd=$(cat /sys/class/block/vda/dev 2>/dev/null || echo 254:0)';

describe('the device cgroup of a container in its VM', () => {
  test("a default container makes the serial console's and a disk's nodes but cannot open them; /dev/null works", async () => {
    const r = await run(
      [],
      [
        DISK,
        'mknod /dev/s c 4 64 && mknod /dev/d b ${d%:*} ${d#*:} && echo made',
        'cat /dev/s',
        'dd if=/dev/d of=/dev/null bs=512 count=1',
        'echo x > /dev/null && echo null ok',
      ].join('\n'),
    );
    expect(r.out).toBe('made\nnull ok\n');
    expect(r.err).toContain("cat: can't open '/dev/s': Operation not permitted");
    expect(r.err).toContain("dd: can't open '/dev/d': Operation not permitted");
    // In the image's own tree the node cannot be opened either: the rootfs is mounted nodev
    // (EACCES, before the device program is asked), or, over the rootfs share, the mknod
    // itself fails (the file servers hold no CAP_MKNOD: docs/security.md).
    const tmp = await run([], 'mknod /tmp/s c 4 64 && cat /tmp/s');
    expect(tmp.code).not.toBe(0);
    expect(tmp.out).toBe('');
    expect(tmp.err).toMatch(/Operation not permitted|Permission denied/);
  });

  test('a privileged container opens them: no device program, every device of its VM', async () => {
    const r = await run(
      ['--privileged'],
      [
        'mknod /dev/s c 4 64 && echo made',
        `timeout 10 sh -c 'printf "" > /dev/s' && echo console opened`,
        'echo x > /dev/null && echo null ok',
      ].join('\n'),
    );
    expect(r).toMatchObject({ code: 0, out: 'made\nconsole opened\nnull ok\n' });
  });

  test('--device /dev/fuse gives an openable /dev/fuse, at another path and with fewer permissions too', async () => {
    const r = await run(['--device', '/dev/fuse'], 'ls -l /dev/fuse && exec 3<>/dev/fuse && echo opened');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^crw-rw-rw- +1 root +root +10, +229 .* \/dev\/fuse\nopened\n$/);
    const ro = await run(
      ['--device', '/dev/fuse:/dev/sub/myfuse:r'],
      'exec 3</dev/sub/myfuse && echo read; exec 4>/dev/sub/myfuse && echo write',
    );
    expect(ro.out).toBe('read\n');
    expect(ro.err).toContain("can't create /dev/sub/myfuse: Operation not permitted");
    // Without --device there is no node, and one made by hand does not open.
    const none = await run([], 'ls /dev/fuse; mknod /dev/f c 10 229 && exec 3<>/dev/f && echo opened');
    expect(none.out).toBe('');
    expect(none.err).toContain('Operation not permitted');
  });

  test('--device /dev/net/tun with NET_ADMIN: a tun interface is made', async () => {
    // busybox's tunctl: open of /dev/net/tun, TUNSETIFF, TUNSETPERSIST.
    const script = 'tunctl -t tun0 >/dev/null && ip link show tun0 >/dev/null && echo tun0 made';
    const r = await run(['--device', '/dev/net/tun', '--cap-add', 'NET_ADMIN'], script);
    expect({ code: r.code, out: r.out, err: r.err }).toEqual({ code: 0, out: 'tun0 made\n', err: '' });
    const none = await run(['--cap-add', 'NET_ADMIN'], script);
    expect(none.out).toBe('');
    expect(none.code).not.toBe(0);
  });

  test('--device-cgroup-rule allows what it names', async () => {
    const script = 'mknod /dev/k c 1 11 && echo hi > /dev/k && echo wrote';
    expect(await run(['--device-cgroup-rule', 'c 1:11 w'], script)).toMatchObject({ code: 0, out: 'wrote\n' });
    const none = await run([], script);
    expect(none.out).toBe('');
    expect(none.err).toContain('Operation not permitted');
  });

  test("the host's hardware is refused by name, and nothing is created", async () => {
    for (const dev of ['/dev/sda', '/dev/kvm']) {
      const r = await dockerCli(d, ['run', '--rm', '--device', dev, IMAGE, 'true']);
      expect(r.code).toBe(125);
      expect(r.err).toContain(
        `Error response from daemon: --device ${dev} is not supported: every container runs in its own VM, with its own kernel: the host's devices are not in it`,
      );
    }
    expect((await dockerCli(d, ['ps', '-aq'])).out).toBe('');
  });
});
