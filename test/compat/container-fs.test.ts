/**
 * The container filesystem as a process sees it, through the stock docker CLI against the real
 * daemon (real QEMU VMs, cloned from templates; block mode off, --rootfs-disk=false: files over 9p):
 * - every file type and operation of test/fixtures/fs-probe.c (unix sockets, FIFOs, POSIX
 *   locks and flock, hard links, xattrs, fallocate with its punch-hole and zero-range, sparse
 *   files over 4 GiB, rename over an open file, O_TMPFILE, mmap(MAP_SHARED), inotify,
 *   chown/chmod with set-user-ID) in the rootfs, a named volume, a bind mount and a tmpfs,
 *   with what is known missing named (docs/limitations.md);
 * - O_TMPFILE in a bind mount: unlisted in the container while unnamed, named by linkat, seen
 *   so by the host, and no hidden name left;
 * - a unix socket between two containers of one pod (`--network container:`) through a volume;
 * - fallocate in a bind mount allocates on the host, and a full host filesystem answers ENOSPC;
 * - a guest never reaches a host device through a special file, whoever made it: the guest
 *   cannot make one (mknod fails, even privileged with its mount remounted `dev`: the file
 *   servers lack CAP_MKNOD), and one made by `docker cp` of a tar or by a layer
 *   (`docker import`) cannot be opened; the host's own mount of the rootfs refuses to open one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as tar from 'tar-stream';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, dockerOk, dockerSync } from '../helpers/docker-cli';
import { kernelAtLeast, ownGuestKernel } from '../helpers/kernel-version';
import { testIf } from '../helpers/skip';
import { chooseGuestImages } from '../../src/vm/guest-images';

jest.setTimeout(300000);

const REG = fixtureRegistry();
const BUSYBOX = `${REG}/busybox`;
const DEBIAN = `${REG}/debian:bookworm`;

let d: TestDaemon;
let work: string;
let probe: string;

const ok = (args: string[]): string => dockerOk(d, args, 180000);

/**
 * The guest kernel the daemon boots (its default, chosen as the daemon chooses it): the cases
 * that need podvisor's own kernel's 9p (guest/kernel/patches) are reported skipped on Debian's
 * fallback kernel, which lacks them; each checks that the kernel it ran on is podvisor's.
 */
const GUEST = chooseGuestImages();
const OWN_KERNEL = GUEST.flavour === 'own';
const NEEDS_OWN_KERNEL = `the guest kernel is ${GUEST.why}, without podvisor's 9p patches (guest/kernel/patches)`;

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
  'punch-hole',
  'zero-range',
  'large-sparse',
  'rename-over-open',
  'o-tmpfile',
  'mmap-shared',
  'inotify',
  'chown-chmod',
];

/**
 * The operations over 9p that our own kernel's 9p client makes work (guest/kernel/patches):
 * O_TMPFILE, fallocate (mode 0, punch-hole and zero-range), a flock beside a POSIX lock on one
 * file, and inotify on a directory no open file pins. Debian's fallback kernel has none of them.
 */
const KERNEL_9P = ['fallocate', 'punch-hole', 'zero-range', 'flock-posix-apart', 'inotify', 'o-tmpfile'];

test("every file type and operation in the rootfs, a named volume, a bind mount and a tmpfs (but our 9p patches' below)", () => {
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
    // Over 9p, the operations of our own kernel's 9p (KERNEL_9P) are the next case's. tmpfs has
    // no zero-range (as on the host), and user.* xattrs only since Linux 6.6 (the guest's 6.1
    // lacks them, as runc on a 6.1 host does; 6.12, tried, has them).
    const release = ok(['exec', 'probe', 'uname', '-r']);
    const tmpfsXattrs = kernelAtLeast(release, 6, 6);
    const expected: Array<[string, string[]]> = [
      ['/root/work', []],
      ['/run/app', []],
      ['/vol', []],
      ['/bind', []],
      ['/scratch', tmpfsXattrs ? ['zero-range'] : ['xattr', 'zero-range']],
    ];
    for (const [dir, missing] of expected) {
      const all = probeIn('probe', dir);
      const got =
        dir === '/scratch' ? all : Object.fromEntries(Object.entries(all).filter(([k]) => !KERNEL_9P.includes(k)));
      const checks = dir === '/scratch' ? CHECKS : CHECKS.filter((k) => !KERNEL_9P.includes(k));
      expect({ dir, checks: Object.keys(got).sort() }).toEqual({ dir, checks: [...checks].sort() });
      // check -> its FAIL line, so that a failure shows what the probe saw.
      const failed = Object.fromEntries(Object.entries(got).filter(([, v]) => v !== 'ok'));
      expect({ dir, failed }).toEqual({ dir, failed: Object.fromEntries(missing.map((k) => [k, expect.any(String)])) });
    }
    // The O_TMPFILEs the probe made over 9p had hidden names on the host while open; none is
    // left once they are closed.
    expect(fs.readdirSync(bind).filter((n) => n.startsWith('.podvisor-tmpfile-'))).toEqual([]);
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

testIf(
  OWN_KERNEL,
  NEEDS_OWN_KERNEL,
  "the 9p operations of our own kernel's patches (O_TMPFILE, fallocate, flock beside POSIX locks, inotify) in the rootfs, a named volume and a bind mount",
  () => {
    const bind = path.join(work, 'bind9p');
    fs.mkdirSync(bind);
    ok(['run', '-d', '--name', 'probe9p', '-v', 'probevol9p:/vol', '-v', `${bind}:/bind`, BUSYBOX, 'sleep', '3600']);
    try {
      expect(ownGuestKernel(ok(['exec', 'probe9p', 'uname', '-r']))).toBe(true);
      ok(['cp', probe, 'probe9p:/fs-probe']);
      ok(['exec', 'probe9p', 'mkdir', '-p', '/root/work', '/run/app']);
      for (const dir of ['/root/work', '/run/app', '/vol', '/bind']) {
        const got = probeIn('probe9p', dir);
        expect({ dir, verdicts: KERNEL_9P.map((k) => [k, got[k]]) }).toEqual({
          dir,
          verdicts: KERNEL_9P.map((k) => [k, 'ok']),
        });
      }
      expect(fs.readdirSync(bind).filter((n) => n.startsWith('.podvisor-tmpfile-'))).toEqual([]);
    } finally {
      dockerSync(d, ['rm', '-f', 'probe9p']);
      dockerSync(d, ['volume', 'rm', 'probevol9p']);
    }
  },
);

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
  // Made by the guest: refused by the file server (QEMU's 9p runs without CAP_MKNOD), for a
  // plain container and for a privileged one that remounted its rootfs `dev`.
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
  expect(plain.out).toMatch(/\/tmp\/disk: Operation not permitted/);
  expect(plain.out).toMatch(/\/vol\/disk: Operation not permitted/);
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
  expect(priv.out + priv.err).toMatch(/Operation not permitted/);
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
    // A running container's rootfs is mounted on the host here (--rootfs-disk=false: 9p).
    expect(merged).toBeTruthy();
    expect(fs.lstatSync(path.join(merged!, 'tmp', 'hostdisk')).isBlockDevice()).toBe(true);
    expect(() => fs.openSync(path.join(merged!, 'tmp', 'hostdisk'), 'r')).toThrow(/EACCES/);
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

testIf(
  OWN_KERNEL,
  NEEDS_OWN_KERNEL,
  'fallocate in a bind mount: the host allocates the blocks, and a full host filesystem answers ENOSPC',
  () => {
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
      expect(ownGuestKernel(release)).toBe(true);
      expect(r.out.split('\n')[0]).toBe('allocated');
      expect(r.err).toMatch(/No space left on device/);
      expect(r.out).toMatch(/^rc 1$/m);
      const a = fs.statSync(path.join(small, 'a'));
      expect(a.size).toBe(2 << 20);
      expect(a.blocks * 512).toBeGreaterThanOrEqual(2 << 20);
    } finally {
      execFileSync('umount', [small]);
    }
  },
);

testIf(
  OWN_KERNEL,
  NEEDS_OWN_KERNEL,
  'O_TMPFILE in a bind mount and the rootfs: hidden from the container, diff and cp while unnamed, named by linkat, nothing left behind',
  async () => {
    // Our own kernel's 9p client makes an O_TMPFILE under a hidden name that the container's
    // readdir leaves out (guest/kernel/patches/0004-9p-tmpfile.patch); the host sees it in a bind
    // mount while the file is open, but docker diff and cp (read on the host here: the rootfs is
    // 9p) leave it out, as the container does. Debian's fallback kernel refuses O_TMPFILE over 9p.
    const dir = path.join(work, 'tmpfile');
    fs.mkdirSync(dir);
    const release = ok(['run', '--rm', BUSYBOX, 'uname', '-r']);
    // O_TMPFILE | O_RDWR (x86_64), linkat = 265, AT_FDCWD = -100, AT_SYMLINK_FOLLOW = 0x400.
    const script = `use Fcntl; $| = 1;
    sysopen(my $t, "/d", 0x410000 | O_RDWR, 0640) or die "open: $!";
    mkdir "/tmp/tf"; sysopen(my $rt, "/tmp/tf", 0x410000 | O_RDWR, 0600) or die "open in the rootfs: $!";
    syswrite($t, "from a tmpfile\\n"); opendir(my $dh, "/d"); my @names = grep { !/^\\.\\.?$/ } readdir $dh;
    open(my $r, ">", "/d/ready") or die; print $r join(",", @names), "\\n"; close $r;
    sleep 1 until -e "/d/go";
    my ($from, $to) = ("/proc/self/fd/" . fileno($t), "/d/named");
    syscall(265, -100, $from, -100, $to, 0x400) == 0 or die "linkat: $!";
    open(my $o, ">", "/d/done"); close $o;`;
    const run = dockerCli(d, ['run', '--rm', '--name', 'tmpf', '-v', `${dir}:/d`, DEBIAN, 'perl', '-e', script]);
    if (!ownGuestKernel(release)) await run; // not left running when the next line fails
    expect(ownGuestKernel(release)).toBe(true);
    const ready = path.join(dir, 'ready');
    for (let i = 0; i < 240 && !fs.existsSync(ready); i++) await new Promise((r) => setTimeout(r, 250));
    // The container listed nothing in /d while its tmpfile was open; the host sees the hidden name.
    expect(fs.readFileSync(ready, 'utf8')).toBe('\n');
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('.podvisor-tmpfile-'))).toHaveLength(1);
    expect(ok(['diff', 'tmpf']).split('\n')).toContain('A /tmp/tf');
    expect(ok(['diff', 'tmpf'])).not.toMatch(/podvisor-tmpfile/);
    const cp = dockerSync(d, ['cp', 'tmpf:/tmp/tf', '-']);
    expect(cp.err).toBe('');
    expect(cp.out).toMatch(/^tf\//);
    expect(cp.out).not.toMatch(/podvisor-tmpfile/);
    fs.writeFileSync(path.join(dir, 'go'), '');
    const r = await run;
    expect(r.err).toBe('');
    expect(fs.readFileSync(path.join(dir, 'named'), 'utf8')).toBe('from a tmpfile\n');
    expect(fs.statSync(path.join(dir, 'named')).nlink).toBe(1);
    expect(fs.statSync(path.join(dir, 'named')).mode & 0o777).toBe(0o640 & ~0o022);
    expect(fs.readdirSync(dir).sort()).toEqual(['done', 'go', 'named', 'ready']);
  },
);

/**
 * Perl that takes (or tests, with GETLK) a POSIX write lock on the whole of FILE without waiting,
 * or with HOW starting with "f" an exclusive flock; "hold"/"fhold" keep it until FILE.release exists.
 */
const PERL_LOCK = `use Fcntl qw(:DEFAULT :flock); my ($file, $how) = @ARGV; $| = 1;
  open(my $fh, "+>>", $file) or die "open: $!";
  if ($how =~ /^f/) { if (flock($fh, LOCK_EX | LOCK_NB)) { print "locked\n" } else { print "busy: $!\n"; exit 0 }
    if ($how eq "fhold") { open(my $m, ">", "$file.held"); close $m; sleep 1 until -e "$file.release" } exit 0 }
  # struct flock on x86_64: short type, short whence, (pad), off_t start, off_t len, pid_t pid, (pad)
  my $fl = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0);
  if ($how eq "test") { fcntl($fh, F_GETLK, $fl) or die "getlk: $!"; my ($t, $w, $s, $l, $p) = unpack("s s x4 q q i x4", $fl);
    print $t == F_UNLCK ? "free\\n" : "held pid $p\\n"; exit 0 }
  if (fcntl($fh, F_SETLK, $fl)) { print "locked\\n" } else { print "busy: $!\\n"; exit 0 }
  if ($how eq "hold") { open(my $m, ">", "$file.held"); close $m; sleep 1 until -e "$file.release" }`;

/** python3 on the host: a write lock on the whole of `file` without waiting: 'locked' or 'busy'. */
function hostLock(file: string): string {
  const py =
    'import fcntl, sys\n' +
    'f = open(sys.argv[1], "a")\n' +
    'try:\n    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n    print("busy"); sys.exit(0)\n' +
    'print("locked")\n';
  return spawnSync('python3', ['-c', py, file], { encoding: 'utf8', timeout: 120000 }).stdout.trim();
}

testIf(
  OWN_KERNEL,
  NEEDS_OWN_KERNEL,
  'POSIX locks and flocks on a shared volume and a bind mount exclude other VMs and the host',
  async () => {
    // Our own kernel sends a 9p file's POSIX locks and flocks through the agent to the VM's lock
    // holder on the host (guest/kernel/patches/0005-9p-host-locks.patch, host/lock-holder), which
    // takes them as OFD locks and flocks. QEMU's 9p server alone grants every lock, and so does Debian's fallback kernel.
    const release = ok(['run', '--rm', BUSYBOX, 'uname', '-r']);
    const bind = path.join(work, 'locks');
    fs.mkdirSync(bind);
    const run = async (name: string, args: string[]) =>
      (
        await dockerCli(d, [
          'run',
          '--rm',
          '--name',
          name,
          '-v',
          'lockvol:/v',
          '-v',
          `${bind}:/b`,
          DEBIAN,
          'perl',
          '-e',
          PERL_LOCK,
          ...args,
        ])
      ).out.trim();
    const waitFor = async (f: () => boolean) => {
      for (let i = 0; i < 480 && !f(); i++) await new Promise((r) => setTimeout(r, 250));
    };
    try {
      // Two containers, each in a VM of its own, hold the volume's file and the bind mount's.
      const holdVol = run('lock-a', ['/v/db', 'hold']);
      const holdBind = run('lock-b', ['/b/db', 'hold']);
      await waitFor(() => fs.existsSync(path.join(bind, 'db.held')));
      await waitFor(() => dockerSync(d, ['exec', 'lock-a', 'test', '-e', '/v/db.held']).code === 0);
      expect(ownGuestKernel(release)).toBe(true);
      // Another VM is refused, and its F_GETLK sees the lock (held outside this VM: pid 0).
      expect(await run('lock-c', ['/v/db', 'try'])).toBe('busy: Resource temporarily unavailable');
      expect(await run('lock-d', ['/v/db', 'test'])).toBe('held pid 0');
      // So is the host's own process, on the bind mount's file.
      expect(hostLock(path.join(bind, 'db'))).toBe('busy');
      // The locks go when the containers holding them end.
      fs.writeFileSync(path.join(bind, 'db.release'), '');
      expect(await holdBind).toBe('locked');
      expect(hostLock(path.join(bind, 'db'))).toBe('locked');
      ok(['exec', 'lock-a', 'touch', '/v/db.release']);
      expect(await holdVol).toBe('locked');
      expect(await run('lock-e', ['/v/db', 'try'])).toBe('locked');
      // And the other way round: a lock the host holds refuses the container.
      fs.rmSync(path.join(bind, 'db.release'));
      const py =
        'import fcntl, os, sys, time\nf = open(sys.argv[1], "a")\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint("locked", flush=True)\n' +
        'while not os.path.exists(sys.argv[2]): time.sleep(0.1)\n';
      const host = spawn('python3', ['-c', py, path.join(bind, 'db'), path.join(bind, 'db.release')]);
      await new Promise((r) => host.stdout.once('data', r));
      expect(await run('lock-f', ['/b/db', 'try'])).toBe('busy: Resource temporarily unavailable');
      fs.writeFileSync(path.join(bind, 'db.release'), '');
      await new Promise((r) => host.once('exit', r));
      expect(await run('lock-g', ['/b/db', 'try'])).toBe('locked');
      // flock(2) likewise, held by a container of one VM against another and the host.
      fs.rmSync(path.join(bind, 'db.release'));
      const fhold = run('lock-h', ['/b/f', 'fhold']);
      await waitFor(() => fs.existsSync(path.join(bind, 'f.held')));
      expect(await run('lock-i', ['/b/f', 'ftry'])).toBe('busy: Resource temporarily unavailable');
      expect(spawnSync('flock', ['-n', path.join(bind, 'f'), 'true']).status).toBe(1);
      fs.writeFileSync(path.join(bind, 'f.release'), '');
      expect(await fhold).toBe('locked');
      expect(spawnSync('flock', ['-n', path.join(bind, 'f'), 'true']).status).toBe(0);
      expect(await run('lock-j', ['/b/f', 'ftry'])).toBe('locked');
    } finally {
      fs.writeFileSync(path.join(bind, 'db.release'), '');
      fs.writeFileSync(path.join(bind, 'f.release'), '');
      for (const n of ['lock-a', 'lock-b', 'lock-h']) dockerSync(d, ['rm', '-f', n]);
      dockerSync(d, ['volume', 'rm', '-f', 'lockvol']);
    }
  },
);
