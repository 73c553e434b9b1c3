/**
 * Image disks made when the image comes, through the stock docker CLI against the real daemon.
 * On a daemon whose containers read their image from a disk by default (`--storage-opt
 * image=disk`, the default in block mode), an image's read-only disk
 * (`<data-root>/image-disks/*.ext4`) is there before any container ran:
 * - after `docker pull`, whose progress shows the disk being made and made;
 * - after `docker load` of a saved image (its disk went with `docker rmi`);
 * - after a build's final image and after `docker commit` of a created container with a file
 *   copied in;
 * - for images stored with no disk (their disks deleted while the daemon was down), made in
 *   the background after the daemon's start, without any container start.
 * A daemon run with `--storage-opt image=layers` makes none at pull.
 * A daemon SIGKILLed in the middle of a make (a pull's, the start's background one:
 * PODVISOR_FAULT kills it right after the make's mkfs.ext4 is spawned, not by timing) leaves its
 * temporary file and the image's mount; the next daemon's start removes both, even one that
 * makes no disk (`image=layers`), and a default daemon then makes the disk and runs a
 * container from it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { DAEMON_MAIN, startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk, dockerSync } from '../helpers/docker-cli';
import { mountsUnder } from '../helpers/leaks';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-imgdisk-'));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The image disk files of daemon `d`. */
function imageDisks(d: TestDaemon): string[] {
  const dir = path.join(d.dataRoot, 'image-disks');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.ext4'));
}

/** Resolves once `ok` holds, checked every half second; rejects after `ms` (a deadline, not a measure). */
async function waitFor(ok: () => boolean, ms: number, what: string): Promise<void> {
  for (const end = Date.now() + ms; !ok(); ) {
    if (Date.now() > end) throw new Error(`still not so after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('a default daemon (image=disk in block mode)', () => {
  let d: TestDaemon;

  beforeAll(async () => {
    d = await startDaemon();
  });

  afterAll(async () => {
    if (d) await stopDaemonLeavingNothing(d);
  });

  test('makes the disk within docker pull, showing it in the progress', () => {
    const r = dockerSync(d, ['pull', IMAGE], 300000);
    expect(r.code).toBe(0);
    const short = dockerOk(d, ['image', 'inspect', '-f', '{{.Id}}', IMAGE])
      .replace(/^sha256:/, '')
      .slice(0, 12);
    const lines = r.out.split('\n');
    const making = lines.indexOf(`${short}: Making image disk`);
    const made = lines.indexOf(`${short}: Image disk made`);
    const status = lines.findIndex((l) => l.startsWith('Status: Downloaded newer image for'));
    expect(making).toBeGreaterThan(-1);
    expect(made).toBeGreaterThan(making);
    expect(status).toBeGreaterThan(made);
    expect(dockerOk(d, ['ps', '-aq'])).toBe('');
    expect(imageDisks(d)).toHaveLength(1);
  });

  test('makes the disk of a loaded image, of a built image and of a committed one', () => {
    const tar = path.join(tmp, 'busybox.tar');
    dockerOk(d, ['save', '-o', tar, IMAGE]);
    dockerOk(d, ['rmi', IMAGE]);
    expect(imageDisks(d)).toEqual([]);
    dockerOk(d, ['load', '-i', tar]);
    expect(imageDisks(d)).toHaveLength(1);

    // COPY only: no step container.
    fs.writeFileSync(path.join(tmp, 'seed'), 'seed\n');
    fs.writeFileSync(path.join(tmp, 'Dockerfile'), `FROM ${IMAGE}\nCOPY seed /seed\n`);
    dockerOk({ env: { ...d.env, DOCKER_BUILDKIT: '0' } }, ['build', '-q', '-t', 'built', tmp], 300000);
    expect(imageDisks(d)).toHaveLength(2);

    // A changed writable layer (one with no change adds no layer, so no other disk).
    dockerOk(d, ['create', '--name', 'tocommit', IMAGE, 'true']);
    try {
      dockerOk(d, ['cp', path.join(tmp, 'seed'), 'tocommit:/committed-seed']);
      dockerOk(d, ['commit', 'tocommit', 'committed']);
    } finally {
      dockerOk(d, ['rm', 'tocommit']);
    }
    expect(imageDisks(d)).toHaveLength(3);
  });

  test('a daemon started on images that have no disk makes theirs in the background, with no container started', async () => {
    const before = imageDisks(d).sort();
    expect(before).toHaveLength(3);
    const dir = path.join(d.dataRoot, 'image-disks');
    // Deleted while no daemon runs: the data root of a daemon that kept no image disks.
    await d.restart(undefined, () => {
      for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f));
    });
    const madeInBackground = () => (d.logs().match(/: its disk was made in the background/g) ?? []).length;
    await waitFor(
      () => imageDisks(d).length === 3 && madeInBackground() === 3,
      240000,
      'the three images have their disks again',
    );
    expect(imageDisks(d).sort()).toEqual(before);
    expect(dockerOk(d, ['ps', '-aq'])).toBe('');
  });
});

test('a daemon with --storage-opt image=layers makes no image disk at pull', async () => {
  const d = await startDaemon({ args: ['--storage-opt', 'image=layers'] });
  try {
    const r = dockerSync(d, ['pull', IMAGE], 300000);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/image disk/i);
    expect(imageDisks(d)).toEqual([]);
  } finally {
    await stopDaemonLeavingNothing(d);
  }
});

describe('a daemon SIGKILLed in the middle of an image disk make', () => {
  /** The daemon kills itself once a make's mkfs.ext4 is spawned (src/vm/qemu/fault.ts). */
  const FAULT = { PODVISOR_FAULT: 'image-disk-after-mkfs-spawn' };
  const LAYERS = ['--storage-opt', 'image=layers'];
  let dataRoot: string;
  let dir: string;

  beforeAll(() => {
    dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-imgdisk-kill-'));
    dir = path.join(dataRoot, 'image-disks');
  });

  afterAll(() => {
    // Only after a failed test is anything still mounted there.
    for (const m of mountsUnder(dataRoot).reverse()) execFileSync('umount', ['-l', m]);
    fs.rmSync(dataRoot, { recursive: true, force: true });
  });

  /**
   * What is in the image disks' directory beside whole disks, and mounted under it, with each
   * disk's hash written K.
   */
  function leftovers(): { files: string[]; mounts: string[] } {
    const k = (p: string) => path.basename(p).replace(/^[0-9a-f]{64}\./, 'K.');
    const names = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    return {
      files: names
        .filter((f) => !/^[0-9a-f]{64}\.ext4$/.test(f))
        .map(k)
        .sort(),
      mounts: mountsUnder(dir).map(k),
    };
  }

  /** A make's temporary file and the image's read-only tree mounted for it. */
  const CUT_OFF = { files: ['K.ext4.tmp', 'K.ext4.tree'], mounts: ['K.ext4.tree'] };

  /**
   * Run a default daemon on the data root until its fault kills it (its start's background
   * make: it is never ready to serve for long, so it is not a TestDaemon).
   */
  async function runUntilKilled(): Promise<void> {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-imgdisk-fault-'));
    const args = ['--data-root', dataRoot, '--exec-root', path.join(base, 'exec')];
    args.push('-H', `unix://${path.join(base, 'docker.sock')}`, '--vm-pool-size', '0', '--no-cri');
    const c = spawn(process.execPath, [DAEMON_MAIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...FAULT },
    });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const deadline = setTimeout(() => c.kill('SIGTERM'), 120000);
    const signal = await new Promise((r) => c.once('exit', (_code, sig) => r(sig)));
    clearTimeout(deadline);
    fs.rmSync(base, { recursive: true, force: true });
    expect({ signal, out }).toEqual({
      signal: 'SIGKILL',
      out: expect.stringContaining('making them in the background'),
    });
  }

  /** A daemon that makes no disk (image=layers) finds nothing left once it serves. */
  async function expectNothingLeftAtStart(): Promise<void> {
    const d = await startDaemon({ dataRoot, args: LAYERS });
    try {
      expect(leftovers()).toEqual({ files: [], mounts: [] });
      expect(d.logs()).toMatch(/removed what 1 make\(s\) cut off by an earlier daemon left/);
      expect(dockerOk(d, ['image', 'inspect', '-f', '{{.Id}}', IMAGE])).toMatch(/^sha256:/);
    } finally {
      await stopDaemonLeavingNothing(d);
    }
  }

  test("a pull's make, then the start's background make: the next start removes what each left; the disk is made again and a container runs from it", async () => {
    // docker pull: the image is stored, then its disk's make is cut off.
    const pulling = await startDaemon({ dataRoot, env: FAULT });
    expect(dockerSync(pulling, ['pull', IMAGE], 120000).code).not.toBe(0);
    await pulling.kill9(); // dead already: waits for its end
    await pulling.stop();
    expect(leftovers()).toEqual(CUT_OFF);
    await expectNothingLeftAtStart();

    // The start's sweep over the image stored without a disk: its make is cut off.
    await runUntilKilled();
    expect(leftovers()).toEqual(CUT_OFF);
    await expectNothingLeftAtStart();

    const d = await startDaemon({ dataRoot });
    try {
      await waitFor(
        () => /: its disk was made in the background/.test(d.logs()),
        120000,
        "the image's disk is made in the background",
      );
      expect(imageDisks(d)).toHaveLength(1);
      expect(leftovers()).toEqual({ files: [], mounts: [] });
      const disk = path.join(dir, imageDisks(d)[0]);
      const ino = fs.statSync(disk).ino;
      expect(dockerOk(d, ['run', '--rm', IMAGE, 'cat', '/etc/group'])).toMatch(/^root:/m);
      expect(fs.statSync(disk).ino).toBe(ino);
      expect(leftovers()).toEqual({ files: [], mounts: [] });
    } finally {
      await stopDaemonLeavingNothing(d);
    }
  });
});
