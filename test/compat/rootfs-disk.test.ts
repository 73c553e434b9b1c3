/**
 * Block mode (--rootfs-disk), through the stock docker CLI against the real daemon (real QEMU
 * VMs, cloned from templates): a container's writable layer is an ext4 filesystem on a disk
 * file of its own, mounted by the guest under an overlay whose lower is the image.
 * - the lower is the image's read-only disk (the default), or the read-only layers share over
 *   9p (`--storage-opt image=layers`, cached in the guest); in both, files of the image
 *   changed, removed and added read back, diff shows them, the image is unchanged;
 * - a container with a volume on four networks (every virtio transport of the VM taken), each
 *   interface up (operstate) and reachable;
 * - many files written into the rootfs read back after stop/start and after a daemon restart;
 *   `docker rm` deletes the disk file;
 * - every file type and operation of test/fixtures/fs-probe.c in the rootfs (O_TMPFILE is the
 *   guest kernel's: overlayfs has it since Linux 6.6, and in podvisor's own 6.1 build), and an
 *   O_TMPFILE of a user other than root;
 * - statfs in the container shows the disk, not the host's filesystem;
 * - docker cp both ways, diff, export and commit, done in the guest (the container's VM, or a
 *   short-lived one for a stopped or created container): files the container made, a
 *   symlink to /etc that a copy follows inside the container only, a name over 100 bytes, a
 *   file of several MiB, a deleted image file absent from export and the committed image;
 * - hostile tars into a block-mode root (the guest's tar reader): 400s, the entries before the
 *   bad one kept, no half file;
 * - a build's RUN steps on disks of their own.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerOk, dockerSync } from '../helpers/docker-cli';
import { ownGuestKernel } from '../helpers/kernel-version';
import { testIf } from '../helpers/skip';
import { chooseGuestImages } from '../../src/vm/guest-images';
import { startDockerd, type BaselineDockerd } from '../../bench/common';
import { packTar } from '../fixtures/image-builder';

jest.setTimeout(600000);

const REG = fixtureRegistry();
const DEBIAN = `${REG}/debian:bookworm`;
const BUSYBOX = `${REG}/busybox`;

let d: TestDaemon;
let work: string;

const ok = (args: string[]): string => dockerOk(d, args, 300000);

/** The guest kernel the daemon boots (its default, chosen as the daemon chooses it). */
const GUEST = chooseGuestImages();
const OWN_KERNEL = GUEST.flavour === 'own';

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-blk-'));
  fs.mkdirSync(path.join(work, 'probe'));
  execFileSync('gcc', [
    '-O1',
    '-static',
    '-o',
    path.join(work, 'probe', 'fs-probe'),
    path.resolve(__dirname, '../fixtures/fs-probe.c'),
  ]);
  d = await startDaemon({ args: ['--rootfs-disk'] });
  ok(['pull', '-q', DEBIAN]);
  ok(['pull', '-q', BUSYBOX]);
});

afterAll(async () => {
  await stopDaemonLeavingNothing(d);
  fs.rmSync(work, { recursive: true, force: true });
});

/** 2,000 files in three directories, and the checksum of their listing and contents. */
const WRITE = `set -e; mkdir -p /data/d0 /data/d1 /data/d2
i=0; while [ $i -lt 2000 ]; do echo "file $i" > /data/d$((i % 3))/f$i; i=$((i+1)); done
cp -a /usr/share/doc /data/d0/doc; echo written`;
const SUM = `cd /data && find . | sort | md5sum && cat $(find . -type f | sort) | md5sum && find . -type f | wc -l`;

test('a block-mode rootfs keeps its files across stop/start and a daemon restart; rm deletes its disk', async () => {
  const id = ok(['run', '-d', '--name', 'blk', DEBIAN, 'sleep', '3600']).trim();
  const disk = path.join(d.dataRoot, 'containers', id, 'upper.ext4');
  try {
    expect(fs.existsSync(disk)).toBe(true);
    expect(ok(['exec', 'blk', 'sh', '-c', WRITE]).trim()).toBe('written');
    const before = ok(['exec', 'blk', 'sh', '-c', SUM]);
    expect(Number(before.trim().split('\n')[2])).toBeGreaterThan(2000);
    // The host's directories stay empty: the layer is on the disk only.
    expect(fs.readdirSync(path.join(d.dataRoot, 'containers', id, 'upper'))).toEqual([]);
    // statfs shows the container's disk (16 GiB), not the host's filesystem.
    const df = ok(['exec', 'blk', 'df', '-k', '/']).trim().split('\n').pop() as string;
    const size = Number(df.split(/\s+/)[1]);
    expect(size).toBeGreaterThan(15 * 1024 * 1024);
    expect(size).toBeLessThan(17 * 1024 * 1024);

    ok(['stop', '-t', '1', 'blk']);
    ok(['start', 'blk']);
    expect(ok(['exec', 'blk', 'sh', '-c', SUM])).toBe(before);
    // A file changed and one removed in the image's own tree (copy-up and whiteout on the disk).
    ok(['exec', 'blk', 'sh', '-c', 'echo changed > /etc/debian_version && rm /etc/issue']);

    await d.restart();
    ok(['restart', '-t', '1', 'blk']);
    expect(ok(['exec', 'blk', 'sh', '-c', SUM])).toBe(before);
    expect(ok(['exec', 'blk', 'cat', '/etc/debian_version']).trim()).toBe('changed');
    expect(dockerSync(d, ['exec', 'blk', 'ls', '/etc/issue']).code).not.toBe(0);
  } finally {
    dockerSync(d, ['rm', '-f', 'blk']);
  }
  // rm -f of a running container answers before its storage goes (after the VM's teardown).
  for (let i = 0; i < 120 && fs.existsSync(path.join(d.dataRoot, 'containers', id)); i++)
    await new Promise((r) => setTimeout(r, 500));
  expect(fs.existsSync(disk)).toBe(false);
  expect(fs.existsSync(path.join(d.dataRoot, 'containers', id))).toBe(false);
});

test.each([
  // The default: the overlay's lower is the image's read-only disk, mounted by the agent.
  ["the image's read-only disk (the default)", [], () => 'lowerdir=/run/podvisor/stage/image,'],
  // The overlay's lower is the layers share (9p, cache=loose, mounted read-only in the
  // container's namespace, under the agent's stage).
  [
    'the layers share (--storage-opt image=layers)',
    ['--storage-opt', 'image=layers'],
    (id: string) => `lowerdir=/run/podvisor/stage/layers/containers/${id}/rootfs,`,
  ],
] as Array<[string, string[], (id: string) => string]>)(
  "the image's files come through %s; changes stay in the container's own layer",
  (_, opts, lowerdir) => {
    const id = ok(['run', '-d', '--name', 'blklayers', ...opts, DEBIAN, 'sleep', '3600']).trim();
    try {
      const mountinfo = ok(['exec', 'blklayers', 'cat', '/proc/self/mountinfo']).split('\n');
      const root = mountinfo.find((l) => l.split(' ')[4] === '/') ?? '';
      expect(root).toContain(` overlay overlay `);
      expect(root).toContain(lowerdir(id));
      // Image files read (and so cached), then changed, removed and listed again.
      const script = [
        'set -e',
        'before=$(ls -lR /usr/share/doc | wc -l)',
        'cat /etc/debian_version > /dev/null',
        'echo changed >> /etc/debian_version',
        'rm /etc/issue',
        'mkdir /usr/share/doc/new-dir',
        'after=$(ls -lR /usr/share/doc | wc -l)',
        'echo "$((after - before)) $(tail -n 1 /etc/debian_version)"',
        'test ! -e /etc/issue && echo gone',
      ].join('; ');
      expect(ok(['exec', 'blklayers', 'sh', '-c', script]).trim().split('\n')).toEqual(['4 changed', 'gone']);
      expect(ok(['diff', 'blklayers']).trim().split('\n').sort()).toEqual(
        [
          'C /etc',
          'C /etc/debian_version',
          'D /etc/issue',
          'C /usr',
          'C /usr/share',
          'C /usr/share/doc',
          'A /usr/share/doc/new-dir',
        ].sort(),
      );
      // The image itself is unchanged: a new container sees its files as they were.
      const fresh = ok([
        'run',
        '--rm',
        DEBIAN,
        'sh',
        '-c',
        'tail -n 1 /etc/debian_version; test -e /etc/issue && echo kept',
      ]);
      expect(fresh.trim().split('\n')).toEqual([expect.stringMatching(/^12\.\d+$/), 'kept']);
    } finally {
      dockerSync(d, ['rm', '-f', 'blklayers']);
    }
  },
);

test('a block-mode container with a volume on four networks starts, every interface up and reachable, with its volume', () => {
  // Four NICs, the volume share and the upper disk fill microvm's 8 virtio transports (the
  // VM's balloon once made it 9: "No 'virtio-bus' bus found", and the start failed; so did the
  // image disk, until such a VM went without it: its container reads its image over a share).
  const nets = [1, 2, 3, 4].map((i) => `blk4net${i}`);
  for (const n of nets) ok(['network', 'create', n]);
  try {
    ok(['create', '--name', 'blk4', '--network', nets[0], '-v', 'blk4vol:/data', DEBIAN, 'sleep', '3600']);
    for (const n of nets.slice(1)) ok(['network', 'connect', n, 'blk4']);
    ok(['start', 'blk4']);
    // Every interface up as `ip link` shows it (operstate; IFF_RUNNING, which Java's isUp()
    // needs): a link event still pending when the VM's template was saved left them "down".
    const script =
      'cat /sys/class/net/eth*/carrier | tr -d "\\n"; echo; cat /sys/class/net/eth*/operstate | tr "\\n" " "; echo; echo kept > /data/f; cat /data/f';
    expect(ok(['exec', 'blk4', 'sh', '-c', script]).trim().split('\n')).toEqual(['1111', 'up up up up ', 'kept']);
    // Each address answers from the guest (a refused connection is the guest's RST).
    const addrs = ok(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', 'blk4']);
    const ips = addrs.trim().split(' ');
    expect(ips).toHaveLength(4);
    for (const ip of ips) {
      const r = spawnSync('bash', ['-c', `timeout 10 bash -c 'echo > /dev/tcp/${ip}/9'`], { encoding: 'utf8' });
      expect({ ip, err: r.stderr }).toEqual({ ip, err: expect.stringContaining('Connection refused') });
    }
  } finally {
    dockerSync(d, ['rm', '-f', 'blk4']);
    dockerSync(d, ['volume', 'rm', 'blk4vol']);
    for (const n of nets) dockerSync(d, ['network', 'rm', n]);
  }
});

/** The fs-probe's verdicts in `dir` of container `name`, as user `user` when given: check -> 'ok' or its FAIL line. */
function probeVerdicts(name: string, dir: string, user?: string): Record<string, string> {
  const r = dockerSync(d, ['exec', ...(user ? ['-u', user] : []), name, '/probe/fs-probe', dir], 300000);
  return Object.fromEntries(
    r.out
      .split('\n')
      .map((l) => /^(\S+) (ok|FAIL.*)$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => [m![1], m![2]]),
  );
}

test('every file type and operation of fs-probe in a block-mode rootfs (O_TMPFILE apart, below)', () => {
  ok(['run', '-d', '--name', 'blkprobe', '-v', `${path.join(work, 'probe')}:/probe:ro`, DEBIAN, 'sleep', '3600']);
  try {
    ok(['exec', 'blkprobe', 'mkdir', '-p', '/root/work', '/run/app']);
    for (const dir of ['/root/work', '/run/app']) {
      const { 'o-tmpfile': _tmpfile, ...rest } = probeVerdicts('blkprobe', dir);
      expect({ dir, checks: Object.keys(rest).length }).toEqual({ dir, checks: 15 });
      expect({ dir, failed: Object.entries(rest).filter(([, v]) => v !== 'ok') }).toEqual({ dir, failed: [] });
    }
    // A device node the container makes in its rootfs cannot be opened (the overlay is nodev,
    // as the 9p shares are): not even the guest's own upper disk.
    const dev = dockerSync(d, ['exec', 'blkprobe', 'sh', '-c', 'mknod /root/vda b 254 0 && head -c 1 /root/vda']);
    expect(dev.err).toMatch(/Permission denied/);
  } finally {
    dockerSync(d, ['rm', '-f', 'blkprobe']);
  }
});

// overlayfs has O_TMPFILE since Linux 6.6, and in our own 6.1 build
// (guest/kernel/patches/0003-overlayfs-tmpfile.patch); Debian's fallback 6.1 kernel lacks it.
testIf(
  OWN_KERNEL,
  `the guest kernel is ${GUEST.why}, whose overlayfs has no O_TMPFILE (guest/kernel/patches/0003-overlayfs-tmpfile.patch)`,
  "O_TMPFILE in a block-mode rootfs: root's in the container's directories, another user's in its own and in the image's /tmp",
  () => {
    ok(['run', '-d', '--name', 'blktmpf', '-v', `${path.join(work, 'probe')}:/probe:ro`, DEBIAN, 'sleep', '3600']);
    try {
      expect(ownGuestKernel(ok(['exec', 'blktmpf', 'uname', '-r']))).toBe(true);
      ok(['exec', 'blktmpf', 'mkdir', '-p', '/root/work', '/run/app']);
      for (const dir of ['/root/work', '/run/app']) {
        expect({ dir, verdict: probeVerdicts('blktmpf', dir)['o-tmpfile'] }).toEqual({ dir, verdict: 'ok' });
      }
      // An O_TMPFILE made by a user other than root is that user's, in a directory of its own and
      // in the image's /tmp (an image directory the overlay copies up first).
      ok(['exec', 'blktmpf', 'sh', '-c', 'mkdir /home/u && chown 1000:1000 /home/u']);
      for (const dir of ['/home/u', '/tmp']) {
        expect({ dir, verdict: probeVerdicts('blktmpf', dir, '1000:1000')['o-tmpfile'] }).toEqual({
          dir,
          verdict: 'ok',
        });
      }
    } finally {
      dockerSync(d, ['rm', '-f', 'blktmpf']);
    }
  },
);

/** A 150-byte name (over ustar's 100). */
const LONG = `long-${'n'.repeat(145)}`;

/** In the container: files of its own, a symlink to /etc, a changed and a deleted image file. */
const MAKE = `set -e; mkdir -p /made/sub; echo by-container > /made/by-container.txt
echo long > /made/sub/${LONG}; head -c 6291459 /dev/urandom > /made/big.bin; ln -s /etc /made/etclink
echo changed > /etc/debian_version; rm /etc/issue; md5sum /made/big.bin | cut -d' ' -f1`;

/** The host's side of a cp in: a directory with a long name and a file over a few MiB. */
function hostTree(): { dir: string; bigSum: string } {
  const dir = path.join(work, `in-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(path.join(dir, 'deep'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'deep', LONG), 'host long\n');
  fs.writeFileSync(path.join(dir, 'big.bin'), Buffer.alloc(5 * 1024 * 1024 + 3, 7));
  const bigSum = execFileSync('md5sum', [path.join(dir, 'big.bin')], { encoding: 'utf8' }).split(' ')[0];
  return { dir, bigSum };
}

/**
 * docker cp both ways, diff, export and commit of container `name` (made by MAKE, whose big
 * file's md5 is `bigSum`), running or not; `running` says which, for the checks in it.
 */
function archiveRoundTrip(name: string, bigSum: string, running: boolean): void {
  const out = path.join(work, `out-${name}`);
  // cp out: a directory the container made, with a long name and a big file.
  ok(['cp', `${name}:/made`, out]);
  expect(fs.readFileSync(path.join(out, 'by-container.txt'), 'utf8')).toBe('by-container\n');
  expect(fs.readFileSync(path.join(out, 'sub', LONG), 'utf8')).toBe('long\n');
  expect(execFileSync('md5sum', [path.join(out, 'big.bin')], { encoding: 'utf8' }).split(' ')[0]).toBe(bigSum);
  expect(fs.readlinkSync(path.join(out, 'etclink'))).toBe('/etc');
  // cp out of a path through the container's symlink: the container's /etc, not the host's.
  ok(['cp', `${name}:/made/etclink/debian_version`, path.join(out, 'dv')]);
  expect(fs.readFileSync(path.join(out, 'dv'), 'utf8')).toBe('changed\n');
  expect(dockerSync(d, ['cp', `${name}:/nope`, path.join(out, 'nope')]).err).toMatch(
    /Could not find the file \/nope in container/,
  );

  // cp in: through the symlink to /etc (lands in the container's /etc), and a tree.
  const src = path.join(work, `cp-in-${name}.txt`);
  fs.writeFileSync(src, `in ${name}\n`);
  ok(['cp', src, `${name}:/made/etclink/`]);
  expect(fs.existsSync(path.join('/etc', path.basename(src)))).toBe(false);
  const tree = hostTree();
  ok(['cp', tree.dir, `${name}:/tmp/tree`]);

  // diff: as dockerd lists them (C for the image's, A for new, D for deleted).
  const diff = ok(['diff', name]).split('\n');
  for (const want of [
    'C /etc',
    'C /etc/debian_version',
    'D /etc/issue',
    `A /etc/${path.basename(src)}`,
    'A /made',
    'A /made/big.bin',
    `A /made/sub/${LONG}`,
    'A /tmp/tree',
    'A /tmp/tree/big.bin',
  ])
    expect(diff).toContain(want);
  expect(diff.filter((l) => /^. \/etc\/(hostname|hosts|resolv\.conf)$/.test(l))).toEqual([]);

  // export: the whole root, with the changes and without the deleted file.
  const tarFile = path.join(work, `export-${name}.tar`);
  ok(['export', '-o', tarFile, name]);
  const names = execFileSync('tar', ['-tf', tarFile], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n');
  for (const want of ['made/big.bin', `made/sub/${LONG}`, 'tmp/tree/big.bin', 'etc/debian_version', 'usr/bin/bash'])
    expect(names).toContain(want);
  expect(names).not.toContain('etc/issue');

  // commit: the new image has the container's files, not the deleted one.
  const image = `blk-committed-${name}`;
  ok(['commit', name, image]);
  try {
    const check = `cat /made/by-container.txt /etc/${path.basename(src)} /etc/debian_version && md5sum /made/big.bin /tmp/tree/big.bin | cut -d' ' -f1 && ls /etc/issue 2>&1 || true`;
    const r = ok(['run', '--rm', image, 'sh', '-c', check]).split('\n');
    expect(r.slice(0, 5)).toEqual(['by-container', `in ${name}`, 'changed', bigSum, tree.bigSum]);
    expect(r[5]).toMatch(/No such file/);
  } finally {
    dockerSync(d, ['rmi', '-f', image]);
  }
  if (running) {
    // The container itself sees what was copied in.
    expect(ok(['exec', name, 'sh', '-c', `md5sum /tmp/tree/big.bin | cut -d' ' -f1; cat /tmp/tree/deep/${LONG}`])).toBe(
      `${tree.bigSum}\nhost long`,
    );
  }
}

test('docker cp both ways, diff, export and commit of a running block-mode container', () => {
  ok(['run', '-d', '--name', 'blkrun', DEBIAN, 'sleep', '3600']);
  try {
    const bigSum = ok(['exec', 'blkrun', 'sh', '-c', MAKE]).trim();
    archiveRoundTrip('blkrun', bigSum, true);
    // A paused container's VM is frozen with its agent: refused with a clear error, not a hang.
    ok(['pause', 'blkrun']);
    const r = dockerSync(d, ['cp', 'blkrun:/made/by-container.txt', path.join(work, 'paused.txt')]);
    expect(r.err).toMatch(/is paused \(its VM is frozen\).*unpause the container/);
    ok(['unpause', 'blkrun']);
  } finally {
    dockerSync(d, ['rm', '-f', 'blkrun']);
  }
});

test('docker cp both ways, diff, export and commit of a stopped block-mode container, which keeps what was copied in', () => {
  ok(['run', '--name', 'blkstop', DEBIAN, 'sh', '-c', MAKE]);
  try {
    const bigSum = ok(['logs', 'blkstop']).trim();
    archiveRoundTrip('blkstop', bigSum, false);
    // What was copied in while it was stopped is on its disk (the commit above read it back
    // through another VM); the container still starts afterwards.
    ok(['start', 'blkstop']);
    expect(ok(['wait', 'blkstop'])).toBe('1'); // MAKE's rm of /etc/issue, gone already
  } finally {
    dockerSync(d, ['rm', '-f', 'blkstop']);
  }
});

test('docker commit right after a short container was started, as docker-py does: each commit succeeds and holds its layer, whether the container exited before or during it', () => {
  // docker-py's CommitTest: create, start, commit at once. A commit that began while the
  // container ran read through its VM while the exit tore that VM down ("agent channel closed
  // by the host", "no such container"); the teardown now waits for it. The layer's file is
  // copied in before the first start, so that it is there whenever the commit reads.
  const src = path.join(work, 'commit-race.txt');
  fs.writeFileSync(src, 'in the layer\n');
  for (let i = 0; i < 12; i++) {
    const name = `commitrace${i}`;
    ok(['create', '--name', name, BUSYBOX, 'true']);
    try {
      ok(['cp', src, `${name}:/test`]);
      ok(['start', name]);
      const image = ok(['commit', name]).trim();
      try {
        expect(ok(['run', '--rm', image, 'cat', '/test'])).toBe('in the layer');
      } finally {
        dockerSync(d, ['rmi', image]);
      }
    } finally {
      dockerSync(d, ['rm', '-f', name]);
    }
  }
});

test('docker cp into a created block-mode container (done on the host until its first start) lands on its disk', () => {
  ok(['create', '--name', 'blkcreated', DEBIAN, 'sh', '-c', 'cat /in.txt; ls /etc/issue']);
  try {
    expect(ok(['diff', 'blkcreated'])).toBe('');
    const src = path.join(work, 'created-in.txt');
    fs.writeFileSync(src, 'into created\n');
    ok(['cp', src, 'blkcreated:/in.txt']);
    expect(ok(['diff', 'blkcreated']).split('\n')).toContain('A /in.txt');
    expect(ok(['cp', 'blkcreated:/in.txt', '-'])).toContain('into created');
    expect(ok(['start', '-a', 'blkcreated'])).toBe('into created\n/etc/issue');
    // Stopped: its layer is the disk's now (read through a guest), with the file copied in.
    expect(ok(['diff', 'blkcreated']).split('\n')).toContain('A /in.txt');
  } finally {
    dockerSync(d, ['rm', '-f', 'blkcreated']);
  }
});

test('docker cp of hostile tars into a block-mode root: 400, the entries before the bad one kept, no half file', async () => {
  ok(['run', '-d', '--name', 'blkhostile', DEBIAN, 'sleep', '600']);
  try {
    /** `docker cp - blkhostile:/tmp` of `tar`: the CLI's exit code and error. */
    const cpIn = (tar: Buffer) => {
      const r = spawnSync('docker', ['cp', '-', 'blkhostile:/tmp'], { env: d.env, input: tar, encoding: 'utf8' });
      return { code: r.status, err: r.stderr.trim() };
    };
    const tmp = () => ok(['exec', 'blkhostile', 'sh', '-c', 'cd /tmp && find . -mindepth 1 | sort']).split('\n');
    const long = await packTar([
      { name: 'ok.txt', content: 'hi' },
      { name: `d/${'y'.repeat(256)}`, content: 'data' },
    ]);
    expect(cpIn(long)).toEqual({
      code: 1,
      err: expect.stringMatching(/^Error response from daemon: invalid path: open \/tmp\/d\/y+: file name too long$/),
    });
    expect(tmp()).toEqual(['./ok.txt']);
    const whole = await packTar([
      { name: 'a.txt', content: 'a'.repeat(100) },
      { name: 'b.txt', content: 'b'.repeat(3000) },
    ]);
    // Cut inside b.txt's data: a.txt stays, b.txt is not left half written.
    expect(cpIn(whole.subarray(0, 512 + 512 + 512 + 1024))).toEqual({
      code: 1,
      err: 'Error response from daemon: invalid tar archive: unexpected EOF',
    });
    expect(tmp()).toEqual(['./a.txt', './ok.txt']);
    expect(cpIn(Buffer.alloc(2048, 0x41))).toEqual({
      code: 1,
      err: 'Error response from daemon: invalid tar archive: malformed header',
    });
    expect(tmp()).toEqual(['./a.txt', './ok.txt']);
  } finally {
    dockerSync(d, ['rm', '-f', 'blkhostile']);
  }
});

test('a client that hangs up mid-upload into a running block-mode container leaves no half-written file', async () => {
  ok(['run', '-d', '--name', 'blkhup', DEBIAN, 'sleep', '600']);
  try {
    const tar = await packTar([
      { name: 'whole.txt', content: 'whole\n' },
      { name: 'big.bin', content: Buffer.alloc(8 << 20, 0x42) },
    ]);
    // The first file and 2 MiB of the second, then the connection is dropped.
    await new Promise<void>((resolve) => {
      const req = http.request({
        socketPath: d.socketPath,
        method: 'PUT',
        path: '/v1.41/containers/blkhup/archive?path=/tmp',
        headers: { 'content-type': 'application/x-tar' },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(tar.subarray(0, 1536 + (2 << 20)));
      setTimeout(() => req.destroy(), 3000);
    });
    const tmp = () => ok(['exec', 'blkhup', 'sh', '-c', 'cd /tmp && find . -mindepth 1 | sort']);
    // The guest's reader ends once it sees its input end; then only the whole file is left.
    const deadline = Date.now() + 60_000;
    while (tmp() !== './whole.txt' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    expect(tmp()).toBe('./whole.txt');
    expect(ok(['exec', 'blkhup', 'cat', '/tmp/whole.txt'])).toBe('whole');
  } finally {
    dockerSync(d, ['rm', '-f', 'blkhup']);
  }
});

test("docker build: a RUN step's layer on its own disk is committed through a guest, files, removals and all", () => {
  const ctx = path.join(work, 'build');
  fs.mkdirSync(ctx, { recursive: true });
  fs.writeFileSync(
    path.join(ctx, 'Dockerfile'),
    `FROM ${DEBIAN}
RUN mkdir -p /opt/many && i=0; while [ $i -lt 1000 ]; do echo "n $i" > /opt/many/f$i; i=$((i+1)); done; rm /etc/issue
RUN ls /opt/many | wc -l > /opt/count && ln -s /opt/many/f7 /opt/seven && mkfifo /opt/fifo && fallocate -l 1M /opt/alloc
`,
  );
  const id = ok(['build', '-q', '-t', 'blk-built', ctx]).trim();
  try {
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The second step saw the first one's files: they were committed into its image.
    expect(
      ok(['run', '--rm', 'blk-built', 'sh', '-c', 'cat /opt/count; cat /opt/seven; ls /etc/issue || true']).split('\n'),
    ).toEqual(['1000', 'n 7']);
    // fallocate(2) works on the step's own disk.
    expect(ok(['run', '--rm', 'blk-built', 'stat', '-c', '%F %s', '/opt/fifo', '/opt/alloc']).split('\n')).toEqual([
      'fifo 0',
      'regular file 1048576',
    ]);
    // Each RUN made a layer of its own, with its size.
    const sizes = ok(['history', '--no-trunc', '--format', '{{.Size}}\t{{.CreatedBy}}', 'blk-built'])
      .split('\n')
      .slice(0, 2);
    expect(sizes[0]).toMatch(/^[1-9][0-9.]*[kM]?B\t\/bin\/sh -c ls \/opt\/many/);
    expect(sizes[1]).toMatch(/^[1-9][0-9.]*[kM]?B\t\/bin\/sh -c mkdir -p \/opt\/many/);
    // The step containers went, with their disks.
    expect(ok(['ps', '-aq'])).toBe('');
  } finally {
    dockerSync(d, ['rmi', '-f', 'blk-built']);
  }
});

test("docker diff of a block-mode container, running and stopped, is dockerd's for the same steps", async () => {
  let dockerd: BaselineDockerd | undefined;
  const steps = (cli: (args: string[]) => string, name: string) => {
    cli(['run', '-d', '--name', name, DEBIAN, 'sleep', '3600']);
    cli(['exec', name, 'sh', '-c', MAKE]);
    const src = path.join(work, 'diff-in.txt');
    fs.writeFileSync(src, 'in\n');
    cli(['cp', src, `${name}:/made/etclink/`]);
    cli(['cp', hostTree().dir, `${name}:/tmp/tree`]);
    const running = cli(['diff', name]);
    cli(['stop', '-t', '1', name]);
    const stopped = cli(['diff', name]);
    cli(['rm', '-f', name]);
    return { running, stopped };
  };
  try {
    dockerd = await startDockerd(path.join(work, 'dockerd'));
    const env = dockerd.env;
    const theirs = (args: string[]) => {
      const r = spawnSync('/usr/local/bin/docker', args, { env, encoding: 'utf8', timeout: 300000 });
      if (r.status !== 0) throw new Error(`dockerd: docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    theirs(['pull', '-q', DEBIAN]);
    const want = steps(theirs, 'blkdiff');
    const got = steps(ok, 'blkdiff');
    expect(got.running.split('\n').sort()).toEqual(want.running.split('\n').sort());
    expect(got.stopped.split('\n').sort()).toEqual(want.stopped.split('\n').sort());
  } finally {
    dockerSync(d, ['rm', '-f', 'blkdiff']);
    await dockerd?.stop();
  }
});
