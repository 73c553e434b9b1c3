/**
 * `docker cp` out of a container while the guest swaps a file for a FIFO:
 * the host reads a guest-writable tree (here a bind mount, whose source the host reads
 * directly; a volume or a 9p layer is the same code), so between the walk's lstat and the
 * open the guest can put a FIFO (or a device node) where a regular file was. The host must
 * never open it for reading: a FIFO's open releases a writer waiting in the guest and its
 * read takes the pipe's bytes, a device's open runs its driver on the host.
 *
 * The guest's part is played on the host side of the mount by a loop that exchanges, with
 * renameat2(RENAME_EXCHANGE), each of a few regular files with a FIFO the test holds open
 * for reading and writing, with a marker written into it. While the loop runs, the tree is
 * copied out many times: no copied file may hold a marker, and every FIFO must still hold its
 * marker afterwards (nobody else read it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300_000);

const IMAGE = `${fixtureRegistry()}/busybox`;
/** Files swapped, each with its own FIFO. */
const SWAPPED = 6;
/** Copies made while the swaps run. */
const COPIES = 40;
/** Every regular file and every FIFO's marker have this length, so a read of the file's size takes the whole marker. */
const SIZE = 16;
const REGULAR = 'regular-content!';

/** The swap loop: exchange tree/f<i> with keep/fifo<i>, again and again, until killed. */
const SWAPPER = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
d, n = sys.argv[1].encode(), int(sys.argv[2])
pairs = [(d + b'/tree/f%d' % i, d + b'/keep/fifo%d' % i) for i in range(n)]
print('swapping', flush=True)
while True:
    for a, b in pairs:
        if libc.renameat2(-100, a, -100, b, 2) != 0:
            sys.exit('renameat2: errno %d' % ctypes.get_errno())
`;

let d: TestDaemon;
let docker: Dockerode;
let dir: string;
let swapper: ChildProcess | undefined;
const fifoFds: number[] = [];

const marker = (i: number) => `FIFO-MARKER-${String(i).padStart(3, '0')}!`;

beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 0 });
  docker = new Dockerode({ socketPath: d.socketPath });
  await new Promise<void>((resolve, reject) => {
    docker.pull(IMAGE, (err: Error | null, s: NodeJS.ReadableStream) => {
      if (err) return reject(err);
      docker.modem.followProgress(s, (e: Error | null) => (e ? reject(e) : resolve()));
    });
  });
});

afterAll(async () => {
  swapper?.kill('SIGKILL');
  for (const fd of fifoFds) fs.closeSync(fd);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (!d) return;
  for (const c of await docker.listContainers({ all: true }).catch(() => []))
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined);
  await stopDaemonLeavingNothing(d);
});

/** The regular files of a tar stream (name: content). */
async function filesOf(tar: NodeJS.ReadableStream): Promise<Array<{ name: string; type: string; body: string }>> {
  const { extract } = await import('tar-stream');
  const x = extract();
  tar.pipe(x as unknown as NodeJS.WritableStream);
  const out: Array<{ name: string; type: string; body: string }> = [];
  for await (const e of x) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.push({ name: e.header.name, type: e.header.type ?? '', body: Buffer.concat(chunks).toString('latin1') });
  }
  return out;
}

test('docker cp out never opens a FIFO swapped in for a file after the host looked at it', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cp-swap-'));
  fs.mkdirSync(path.join(dir, 'tree'));
  fs.mkdirSync(path.join(dir, 'keep'));
  for (let i = 0; i < SWAPPED; i++) {
    fs.writeFileSync(path.join(dir, 'tree', `f${i}`), REGULAR);
    const fifo = path.join(dir, 'keep', `fifo${i}`);
    await new Promise<void>((resolve, reject) =>
      spawn('mkfifo', [fifo], { stdio: 'inherit' }).on('exit', (c) =>
        c === 0 ? resolve() : reject(new Error('mkfifo')),
      ),
    );
    // Read-write: the open does not wait for a peer, and the marker stays in the pipe until
    // someone reads it.
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    fifoFds.push(fd);
    fs.writeSync(fd, marker(i));
  }
  expect(marker(0)).toHaveLength(SIZE);

  const c = await docker.createContainer({
    Image: IMAGE,
    Cmd: ['true'],
    HostConfig: { Binds: [`${dir}:/data`] },
  });

  swapper = spawn('python3', ['-c', SWAPPER, dir, String(SWAPPED)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    swapper!.stdout!.once('data', () => resolve());
    swapper!.once('exit', (code) => reject(new Error(`the swap loop exited (${code})`)));
  });

  const seen: string[] = [];
  for (let i = 0; i < COPIES; i++) {
    const entries = await filesOf((await c.getArchive({ path: '/data/tree' })) as NodeJS.ReadableStream);
    for (const e of entries.filter((x) => /^tree\/f\d$/.test(x.name))) {
      seen.push(`${e.type}:${e.body}`);
      // What docker cp gives is the file as it was, or the FIFO as a FIFO entry: never the pipe's bytes.
      expect([`file:${REGULAR}`, 'fifo:']).toContain(`${e.type}:${e.body}`);
    }
  }
  swapper.kill('SIGKILL');
  swapper = undefined;

  // Both kinds were met (the swaps ran while the copies were made).
  expect(new Set(seen)).toEqual(new Set([`file:${REGULAR}`, 'fifo:']));
  // Nobody read any FIFO: each still holds its whole marker.
  for (let i = 0; i < SWAPPED; i++) {
    const buf = Buffer.alloc(64);
    let n = 0;
    try {
      n = fs.readSync(fifoFds[i], buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
    expect(buf.subarray(0, n).toString()).toBe(marker(i));
  }
});
