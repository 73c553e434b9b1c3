/**
 * The host's lock holder (host/lock-holder, built by the bootstrap) against a stand-in for a
 * VM's port: a unix socket this test listens on, speaking the guest kernel's wire format
 * (guest/kernel/patches/0005-9p-host-locks.patch). Checks what a guest may ask:
 * - a lock of one owner refuses another owner and the host's own POSIX lock, and F_GETLK sees
 *   it; a whole-file unlock releases it; flocks are apart from POSIX locks;
 * - nothing outside the share is touched: `..`, a symlink out, a device node or a FIFO are
 *   answered as granted (the guest's own lock stands) without opening anything there;
 * - a read lock or a flock of an image file (a share that is an overlay, as a container's
 *   rootfs is) writes nothing into the overlay's upper layer; a write lock, which needs write
 *   access as in a kernel, keeps the owner's read locks;
 * - a malformed request ends the connection, and the holder with it (so do its locks).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { lockHolderBinary } from '../../../src/vm/qemu/binaries';

const MAGIC = 0x4b4c5650;
const OP = { LOCK: 1, GETLOCK: 2, FLOCK: 3 };
const TYPE = { RD: 0, WR: 1, UN: 2 };
const STATUS = { SUCCESS: 0, BLOCKED: 1, ERROR: 2 };

interface Reply {
  id: number;
  status: number;
  type: number;
}

let dir: string;
let share: string;
/** An overlay (lower: an image's file, `upper`: empty), shared under the tag `podvisor-root`. */
let rootfs: string;
let upper: string;
let holder: ChildProcess;
let conn: net.Socket;
let server: net.Server;
let pending = Buffer.alloc(0);
const waiters: Array<(r: Reply) => void> = [];
let nextId = 1;

function request(
  op: number,
  type: number,
  file: string,
  owner: bigint,
  start = 0n,
  length = 0n,
  shareTag = 'podvisor-vol',
): Buffer {
  const tag = Buffer.from(shareTag);
  const p = Buffer.from(file);
  const h = Buffer.alloc(40);
  h.writeUInt32LE(MAGIC, 0);
  h.writeUInt32LE(nextId++, 4);
  h.writeUInt8(op, 8);
  h.writeUInt8(type, 9);
  h.writeUInt16LE(tag.length, 10);
  h.writeUInt32LE(p.length, 12);
  h.writeBigUInt64LE(start, 16);
  h.writeBigUInt64LE(length, 24);
  h.writeBigUInt64LE(owner, 32);
  return Buffer.concat([h, tag, p]);
}

function ask(
  op: number,
  type: number,
  file: string,
  owner: bigint,
  start = 0n,
  length = 0n,
  tag?: string,
): Promise<Reply> {
  return new Promise((resolve) => {
    waiters.push(resolve);
    conn.write(request(op, type, file, owner, start, length, tag));
  });
}

/** `ask` on the overlay share. */
function askRootfs(op: number, type: number, file: string, owner: bigint, start = 0n, length = 0n): Promise<Reply> {
  return ask(op, type, file, owner, start, length, 'podvisor-root');
}

/** A host process's own POSIX write lock on `file`, without waiting: true when it got it. */
function hostLock(file: string): boolean {
  const py =
    'import fcntl, sys\nf = open(sys.argv[1], "a")\ntry:\n    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n    sys.exit(1)\n';
  return spawnSync('python3', ['-c', py, file]).status === 0;
}

beforeAll(async () => {
  const bin = lockHolderBinary();
  if (!bin) throw new Error('host/out/podvisor-lock-holder is missing: run scripts/bootstrap.sh');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-lockholder-'));
  share = path.join(dir, 'share');
  fs.mkdirSync(share);
  fs.writeFileSync(path.join(share, 'db'), 'data');
  fs.writeFileSync(path.join(dir, 'outside'), 'host file');
  fs.symlinkSync(path.join(dir, 'outside'), path.join(share, 'out-link'));
  spawnSync('mkfifo', [path.join(share, 'fifo')]);
  spawnSync('mknod', [path.join(share, 'null'), 'c', '1', '3']);
  const lower = path.join(dir, 'lower');
  upper = path.join(dir, 'upper');
  rootfs = path.join(dir, 'rootfs');
  for (const d of [lower, upper, path.join(dir, 'work'), rootfs]) fs.mkdirSync(d);
  fs.writeFileSync(path.join(lower, 'image.db'), "an image layer's file");
  const mounted = spawnSync('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${lower},upperdir=${upper},workdir=${path.join(dir, 'work')}`,
    rootfs,
  ]);
  if (mounted.status !== 0) throw new Error(`cannot mount the test overlay: ${mounted.stderr.toString()}`);
  const sock = path.join(dir, 'locks.sock');
  const connected = new Promise<net.Socket>((resolve) => {
    server = net.createServer((c) => resolve(c));
  });
  await new Promise<void>((r) => server.listen(sock, r));
  holder = spawn(bin, [sock, `podvisor-vol=${share}`, `podvisor-root=${rootfs}`], { stdio: 'inherit' });
  conn = await connected;
  // The holder closes on a malformed request before reading all of it, so the kernel may
  // answer with a reset: an error the malformed-request test expects, not a failure.
  conn.on('error', () => undefined);
  conn.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    while (pending.length >= 32) {
      const r = { id: pending.readUInt32LE(4), status: pending.readUInt8(8), type: pending.readUInt8(9) };
      pending = pending.subarray(32);
      waiters.shift()?.(r);
    }
  });
});

afterAll(async () => {
  holder.kill('SIGKILL');
  conn?.destroy();
  await new Promise((r) => server.close(r));
  if (rootfs) spawnSync('umount', [rootfs]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("one owner's write lock refuses another owner and the host, GETLK sees it, and unlocking frees it", async () => {
  expect((await ask(OP.LOCK, TYPE.WR, '/db', 1n)).status).toBe(STATUS.SUCCESS);
  expect((await ask(OP.LOCK, TYPE.WR, '/db', 2n)).status).toBe(STATUS.BLOCKED);
  expect((await ask(OP.LOCK, TYPE.RD, '/db', 2n)).status).toBe(STATUS.BLOCKED);
  expect(await ask(OP.GETLOCK, TYPE.RD, '/db', 2n)).toMatchObject({ status: STATUS.SUCCESS, type: TYPE.WR });
  expect(hostLock(path.join(share, 'db'))).toBe(false);
  // A flock is apart from POSIX locks, and excludes another owner's flock.
  expect((await ask(OP.FLOCK, TYPE.WR, '/db', 2n)).status).toBe(STATUS.SUCCESS);
  expect((await ask(OP.FLOCK, TYPE.WR, '/db', 3n)).status).toBe(STATUS.BLOCKED);
  expect(spawnSync('flock', ['-n', path.join(share, 'db'), 'true']).status).toBe(1);
  expect((await ask(OP.FLOCK, TYPE.UN, '/db', 2n)).status).toBe(STATUS.SUCCESS);
  expect(spawnSync('flock', ['-n', path.join(share, 'db'), 'true']).status).toBe(0);
  // Whole-file unlock: the other owner and the host get it now.
  expect((await ask(OP.LOCK, TYPE.UN, '/db', 1n)).status).toBe(STATUS.SUCCESS);
  expect(await ask(OP.GETLOCK, TYPE.WR, '/db', 2n)).toMatchObject({ status: STATUS.SUCCESS, type: TYPE.UN });
  expect(hostLock(path.join(share, 'db'))).toBe(true);
});

test("nothing outside the share, and no special file, is opened: such a lock stays the guest's own", async () => {
  const outside = path.join(dir, 'outside');
  for (const p of ['/../outside', '/out-link', '/fifo', '/null', '/nowhere', '/']) {
    expect({ p, ...(await ask(OP.LOCK, TYPE.WR, p, 7n)) }).toMatchObject({ p, status: STATUS.SUCCESS });
  }
  // The host file behind the symlink was never locked.
  expect(hostLock(outside)).toBe(true);
  expect(fs.readdirSync(share).sort()).toEqual(['db', 'fifo', 'null', 'out-link']);
});

test("a read lock or a flock of an image file writes nothing into the overlay's upper layer; a later write lock keeps the read locks", async () => {
  expect((await askRootfs(OP.LOCK, TYPE.RD, '/image.db', 11n, 0n, 10n)).status).toBe(STATUS.SUCCESS);
  expect((await askRootfs(OP.FLOCK, TYPE.WR, '/image.db', 12n)).status).toBe(STATUS.SUCCESS);
  expect((await askRootfs(OP.FLOCK, TYPE.RD, '/image.db', 13n)).status).toBe(STATUS.BLOCKED);
  expect((await askRootfs(OP.LOCK, TYPE.RD, '/image.db', 14n, 5n, 10n)).status).toBe(STATUS.SUCCESS);
  expect(await askRootfs(OP.GETLOCK, TYPE.WR, '/image.db', 15n)).toMatchObject({
    status: STATUS.SUCCESS,
    type: TYPE.RD,
  });
  // Nothing was copied up: the container's upper layer is as empty as before.
  expect(fs.readdirSync(upper)).toEqual([]);
  // A write lock needs write access (the guest had the file open for writing, so it is in the
  // upper layer by now): the owner's read lock on 0-9 is still held after it.
  expect((await askRootfs(OP.LOCK, TYPE.UN, '/image.db', 14n)).status).toBe(STATUS.SUCCESS);
  expect((await askRootfs(OP.LOCK, TYPE.WR, '/image.db', 11n, 20n, 10n)).status).toBe(STATUS.SUCCESS);
  expect((await askRootfs(OP.LOCK, TYPE.WR, '/image.db', 14n, 0n, 10n)).status).toBe(STATUS.BLOCKED);
  expect((await askRootfs(OP.LOCK, TYPE.RD, '/image.db', 14n, 0n, 10n)).status).toBe(STATUS.SUCCESS);
  expect((await askRootfs(OP.LOCK, TYPE.RD, '/image.db', 14n, 20n, 10n)).status).toBe(STATUS.BLOCKED);
  for (const owner of [11n, 14n]) expect((await askRootfs(OP.LOCK, TYPE.UN, '/image.db', owner)).status).toBe(0);
  expect((await askRootfs(OP.FLOCK, TYPE.UN, '/image.db', 12n)).status).toBe(STATUS.SUCCESS);
});

test('a malformed request ends the connection and the holder, whose locks go with it', async () => {
  expect((await ask(OP.LOCK, TYPE.WR, '/db', 9n)).status).toBe(STATUS.SUCCESS);
  expect(hostLock(path.join(share, 'db'))).toBe(false);
  const exited = new Promise<number | null>((r) => holder.once('exit', (code) => r(code)));
  const closed = new Promise<void>((r) => conn.once('close', () => r()));
  const bad = request(OP.LOCK, TYPE.WR, '/db', 9n);
  bad.writeUInt32LE(5000, 12); // a path longer than PATH_MAX
  conn.write(bad);
  expect(await exited).toBe(1);
  await closed;
  expect(hostLock(path.join(share, 'db'))).toBe(true);
});
