/**
 * The container filesystem as a process sees it, through the stock docker CLI against the real
 * daemon (real QEMU VMs, cloned from templates; block mode off, --rootfs-disk=false: files over 9p):
 * - every file type and operation of test/fixtures/fs-probe.c (unix sockets, FIFOs, POSIX
 *   locks and flock, hard links, xattrs, sparse files over 4 GiB, rename over an open file,
 *   mmap(MAP_SHARED), inotify, chown/chmod with set-user-ID) in the rootfs, a named volume, a
 *   bind mount and a tmpfs, with what is known missing named (docs/limitations.md);
 * - a unix socket between two containers of one pod (`--network container:`) through a volume;
 * - fallocate in a bind mount allocates on the host, and a full host filesystem answers ENOSPC;
 * - a guest never reaches a host device through a special file, whoever made it: the guest
 *   (mknod, even privileged with its mount remounted `dev`), `docker cp` of a tar, or a layer
 *   (`docker import`); and the host's own mount of the rootfs refuses to open one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import * as tar from 'tar-stream';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { FIXTURE_REGISTRY } from '../fixtures/registry';
import { dockerCli, dockerOk, dockerSync } from '../helpers/docker-cli';
import { kernelAtLeast, ownGuestKernel } from '../helpers/kernel-version';

jest.setTimeout(300000);

const REG = process.env.PODVISOR_TEST_REGISTRY ?? FIXTURE_REGISTRY;
const BUSYBOX = `${REG}/busybox`;
const DEBIAN = `${REG}/debian:bookworm`;

let d: TestDaemon;
let work: string;
let probe: string;

const ok = (args: string[]): string => dockerOk(d, args, 180000);

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cfs-'));
  probe = path.join(work, 'fs-probe');
  execFileSync('gcc', ['-O1', '-static', '-o', probe, path.resolve(__dirname, '../fixtures/fs-probe.c')]);
  d = await startDaemon({ args: ['--rootfs-disk=false'] });
  ok(['pull', '-q', BUSYBOX]);
  ok(['pull', '-q', DEBIAN]);
});

afterAll(async () => {
  await stopDaemonLeavingNothing(d);
  fs.rmSync(work, { recursive: true, force: true });
});

/** The probe's verdicts in `dir` of a running container: check name -> 'ok' or the failure. */
function probeIn(container: string, dir: string): Record<string, string> {
  const r = dockerSync(d, ['exec', container, '/fs-probe', dir], 180000);
  const out: Record<string, string> = {};
  for (const line of r.out.split('\n')) {
    const m = /^(\S+) (ok|FAIL .*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

const CHECKS = [
  'unix-socket',
  'fifo',
  'posix-lock',
  'flock',
  'flock-posix-apart',
  'hardlink',
  'xattr',
  'fallocate',
  'large-sparse',
  'rename-over-open',
  'o-tmpfile',
  'mmap-shared',
  'inotify',
  'chown-chmod',
];

test('every file type and operation in the rootfs, a named volume, a bind mount and a tmpfs', () => {
  const bind = path.join(work, 'bind');
  fs.mkdirSync(bind);
  ok([
    'run',
    '-d',
    '--name',
    'probe',
    '-v',
    'probevol:/vol',
    '-v',
    `${bind}:/bind`,
    '--tmpfs',
    '/scratch:exec',
    BUSYBOX,
    'sleep',
    '3600',
  ]);
  try {
    ok(['cp', probe, 'probe:/fs-probe']);
    ok(['exec', 'probe', 'mkdir', '-p', '/root/work', '/run/app']);
    // Over 9p, O_TMPFILE is refused with EOPNOTSUPP (docs/limitations.md). fallocate's mode 0,
    // a flock beside a POSIX lock on one file and inotify on a directory no open file pins work
    // with our own kernel's 9p (guest/kernel/patches), not with Debian's fallback kernel. tmpfs has user.* xattrs
    // since Linux 6.6 (the guest's 6.1 lacks them, as runc on a 6.1 host does; 6.12, tried,
    // has them).
    const release = ok(['exec', 'probe', 'uname', '-r']);
    const missing9p = ownGuestKernel(release)
      ? ['o-tmpfile']
      : ['fallocate', 'flock-posix-apart', 'inotify', 'o-tmpfile'];
    const tmpfsXattrs = kernelAtLeast(release, 6, 6);
    const expected: Array<[string, string[]]> = [
      ['/root/work', missing9p],
      ['/run/app', missing9p],
      ['/vol', missing9p],
      ['/bind', missing9p],
      ['/scratch', tmpfsXattrs ? [] : ['xattr']],
    ];
    for (const [dir, missing] of expected) {
      const got = probeIn('probe', dir);
      expect({ dir, checks: Object.keys(got).sort() }).toEqual({ dir, checks: [...CHECKS].sort() });
      // check -> its FAIL line, so that a failure shows what the probe saw.
      const failed = Object.fromEntries(Object.entries(got).filter(([, v]) => v !== 'ok'));
      expect({ dir, failed }).toEqual({ dir, failed: Object.fromEntries(missing.map((k) => [k, expect.any(String)])) });
    }
    // Directories the container makes in a volume and a bind mount each have an inode number
    // of their own, so find walks them without seeing a loop (the guest keeps 9p directories'
    // dentries: guest/kernel/patches/0002-9p-keep-dentries.patch; one kept without the server's qid had none).
    const tree = ok([
      'exec',
      'probe',
      'sh',
      '-c',
      'mkdir -p /vol/t/a/b/c /bind/t/a/b && find /vol/t /bind/t -type d 2>&1 | wc -l && ' +
        'stat -c %i /vol/t /vol/t/a /vol/t/a/b /vol/t/a/b/c /bind/t /bind/t/a /bind/t/a/b | sort -u | wc -l',
    ]);
    expect(tree.split('\n').map((l) => l.trim())).toEqual(['7', '7']);
    ok(['exec', 'probe', 'rm', '-rf', '/vol/t', '/bind/t']);
    // The host sees what the guest made in the bind mount, with its type (the probe removes
    // its own files, so make one to look at).
    ok(['exec', 'probe', 'mkfifo', '/bind/left-fifo']);
    expect(fs.lstatSync(path.join(bind, 'left-fifo')).isFIFO()).toBe(true);
  } finally {
    dockerSync(d, ['rm', '-f', 'probe']);
    dockerSync(d, ['volume', 'rm', 'probevol']);
  }
});

test('a unix socket between two containers of one pod, through a shared volume', async () => {
  const server = `use IO::Socket::UNIX; $| = 1; unlink "/shared/app.sock";
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => "/shared/app.sock", Listen => 5) or die "bind: $!";
    print "listening\\n"; my $c = $s->accept; my $l = <$c>; print $c "echo: $l"; close $c;`;
  const client = `use IO::Socket::UNIX; my $c = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => "/shared/app.sock") or die "connect: $!";
    print $c "from the sidecar\\n"; print scalar <$c>;`;
  ok(['run', '-d', '--name', 'sock-server', '-v', 'podsock:/shared', DEBIAN, 'perl', '-e', server]);
  try {
    for (let i = 0; i < 120 && !ok(['logs', 'sock-server']).includes('listening'); i++)
      await new Promise((r) => setTimeout(r, 500));
    expect(ok(['logs', 'sock-server'])).toContain('listening');
    const r = await dockerCli(d, [
      'run',
      '--rm',
      '--network',
      'container:sock-server',
      '-v',
      'podsock:/shared',
      DEBIAN,
      'perl',
      '-e',
      client,
    ]);
    expect(r.err).toBe('');
    expect(r.out.trim()).toBe('echo: from the sidecar');
  } finally {
    dockerSync(d, ['rm', '-f', 'sock-server']);
    dockerSync(d, ['volume', 'rm', 'podsock']);
  }
});

/** major:minor of the host's root filesystem device: a block device the host has. */
function hostRootDevice(): { major: number; minor: number } {
  const dev = fs.statSync('/').dev;
  return {
    major: Number((BigInt(dev) >> 8n) & 0xfffn),
    minor: Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & 0xfff00n)),
  };
}

/** A tar holding one device node at `name`. */
function deviceTar(
  name: string,
  type: 'block-device' | 'character-device',
  major: number,
  minor: number,
): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name, type, devmajor: major, devminor: minor, mode: 0o666 });
  pack.finalize();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
}

test('a guest never reaches a host device through a special file, whoever made it', async () => {
  const { major, minor } = hostRootDevice();
  const dev = `b ${major} ${minor}`;
  // Made by the guest: a plain container's mounts are nodev; a privileged one may remount, and
  // then opens the guest kernel's own device of that number, which the VM does not have.
  const plain = dockerSync(d, [
    'run',
    '--rm',
    '-v',
    'devvol:/vol',
    BUSYBOX,
    'sh',
    '-c',
    `for f in /tmp/disk /vol/disk; do mknod $f ${dev} && head -c 512 $f >/dev/null; echo "$f $?"; done 2>&1`,
  ]);
  expect(plain.out).toMatch(/\/tmp\/disk: Permission denied/);
  expect(plain.out).toMatch(/\/vol\/disk: Permission denied/);
  expect(plain.out).not.toMatch(/ 0$/m);
  const priv = dockerSync(d, [
    'run',
    '--rm',
    '--privileged',
    BUSYBOX,
    'sh',
    '-c',
    `mount -o remount,dev / && mknod /tmp/disk ${dev} && head -c 512 /tmp/disk | wc -c; echo "rc $?"`,
  ]);
  expect(priv.out + priv.err).toMatch(/No such device or address/);
  expect(priv.out).not.toMatch(/^512$/m);
  dockerSync(d, ['volume', 'rm', 'devvol']);

  // Made by docker cp of a tar: the container cannot open it, and neither can anything on the
  // host through the container's mounted rootfs (nodev).
  ok(['run', '-d', '--name', 'devcp', BUSYBOX, 'sleep', '3600']);
  try {
    const cp = await dockerCli(d, ['cp', '-', 'devcp:/tmp'], await deviceTar('hostdisk', 'block-device', major, minor));
    expect(cp.code).toBe(0);
    expect(ok(['exec', 'devcp', 'ls', '-l', '/tmp/hostdisk'])).toMatch(new RegExp(`^b.* ${major},\\s+${minor} `));
    const r = dockerSync(d, ['exec', 'devcp', 'head', '-c', '512', '/tmp/hostdisk']);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/Permission denied/);
    const merged = JSON.parse(ok(['inspect', 'devcp']))[0].GraphDriver.Data.MergedDir as string | undefined;
    if (merged && fs.existsSync(path.join(merged, 'tmp', 'hostdisk'))) {
      expect(() => fs.openSync(path.join(merged, 'tmp', 'hostdisk'), 'r')).toThrow(/EACCES/);
    }
  } finally {
    dockerSync(d, ['rm', '-f', 'devcp']);
  }

  // Made by a layer: an image imported from a tar that holds the device.
  const layer = await deviceTar('dev-in-layer', 'block-device', major, minor);
  const imp = await dockerCli(d, ['import', '-', 'devlayer:1'], layer);
  expect(imp.code).toBe(0);
  // The imported image has nothing to run: busybox comes in through a second layer.
  const ctx = path.join(work, 'ctx');
  fs.mkdirSync(ctx);
  fs.writeFileSync(
    path.join(ctx, 'Dockerfile'),
    `FROM ${BUSYBOX} AS bb\nFROM devlayer:1\nCOPY --from=bb /bin/busybox /busybox\nCMD ["/busybox", "head", "-c", "512", "/dev-in-layer"]\n`,
  );
  dockerOk({ env: { ...d.env, DOCKER_BUILDKIT: '0' } }, ['build', '-q', '-t', 'devlayer:2', ctx], 180000);
  const run = dockerSync(d, ['run', '--rm', 'devlayer:2']);
  expect(run.code).not.toBe(0);
  expect(run.err).toMatch(/Permission denied/);
  dockerSync(d, ['rmi', '-f', 'devlayer:2', 'devlayer:1']);
});

test('fallocate in a bind mount: the host allocates the blocks, and a full host filesystem answers ENOSPC', () => {
  // Our own kernel's 9p client does fallocate's mode 0 by writing zeros (guest/kernel/patches);
  // the host's filesystem here is a 4 MiB tmpfs of the test's own.
  const small = path.join(work, 'small');
  fs.mkdirSync(small);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
  try {
    const release = ok(['run', '--rm', BUSYBOX, 'uname', '-r']);
    const r = dockerSync(d, [
      'run',
      '--rm',
      '-v',
      `${small}:/small`,
      DEBIAN,
      'sh',
      '-c',
      'fallocate -l 2M /small/a && echo allocated; fallocate -l 8M /small/b; echo "rc $?"',
    ]);
    if (!ownGuestKernel(release)) {
      expect(r.err).toMatch(/Operation not supported/);
      return;
    }
    expect(r.out.split('\n')[0]).toBe('allocated');
    expect(r.err).toMatch(/No space left on device/);
    expect(r.out).toMatch(/^rc 1$/m);
    const a = fs.statSync(path.join(small, 'a'));
    expect(a.size).toBe(2 << 20);
    expect(a.blocks * 512).toBeGreaterThanOrEqual(2 << 20);
  } finally {
    execFileSync('umount', [small]);
  }
});
