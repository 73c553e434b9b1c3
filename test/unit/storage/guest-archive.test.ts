/**
 * GuestArchive (src/storage/archive/guest.ts) over a fake guest: how an ARCHIVE process's exit
 * status and stderr become Docker's errors, that a failed tar out fails the stream, and that
 * the guest is released after every request, failed ones included.
 */
import { PassThrough, Readable } from 'node:stream';
import { tarOfFile } from '../../helpers/tar-members';
import { InvalidArgumentError, NotFoundError, UnavailableError } from '../../../src/errors';
import {
  GuestArchive,
  type GuestArchiveRequest,
  type GuestFiles,
  type GuestProcess,
} from '../../../src/storage/archive/guest';

/** A process that writes `stdout` and `stderr` and exits with `code`. */
function proc(stdout: Buffer | string, code: number, stderr = ''): GuestProcess & { input: Buffer[] } {
  const input: Buffer[] = [];
  const stdin = new PassThrough();
  stdin.on('data', (c: Buffer) => input.push(c));
  return {
    processId: 'p',
    stdout: Readable.from([Buffer.from(stdout)]),
    stderr: Readable.from([Buffer.from(stderr)]),
    stdin,
    exited: new Promise((r) => setTimeout(() => r({ exitCode: code }), 5)),
    input,
  };
}

/** A guest answering each request with the next of `answers`; counts releases. */
function guest(answers: Array<(req: GuestArchiveRequest) => GuestProcess>): {
  open: () => Promise<GuestFiles>;
  released: () => number;
  asked: GuestArchiveRequest[];
} {
  let released = 0;
  const asked: GuestArchiveRequest[] = [];
  return {
    asked,
    released: () => released,
    open: async () => ({
      archive: async (req) => {
        asked.push(req);
        const next = answers.shift();
        if (!next) throw new Error('no more answers');
        return next(req);
      },
      kill: async () => undefined,
      readFile: async () => Buffer.from('app:x:1000:1001::/home/app:/bin/sh\n'),
      release: async () => void released++,
    }),
  };
}

const LIMITS = { layerBytes: 1 << 20, treeBytes: 1 << 20 };

async function drain(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test("stat of a missing path is dockerd's 404, and the guest is released", async () => {
  const g = guest([() => proc('', 2, 'stat /nope: No such file or directory\n')]);
  const a = new GuestArchive(g.open, LIMITS);
  const err = await a.stat('c1', 'web', '/nope').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(NotFoundError);
  expect((err as Error).message).toBe('Could not find the file /nope in container web');
  expect(g.released()).toBe(1);
});

test('a get gives the stat and the re-packed tar; the last symlink is followed for a trailing /.', async () => {
  const body = await tarOfFile('.', '');
  const g = guest([() => proc('16877 4096 1 0\n', 0), () => proc(body, 0)]);
  const a = new GuestArchive(g.open, LIMITS);
  const { stat, tar: out } = await a.get('c1', 'web', '/etc/.');
  expect(stat).toMatchObject({ name: 'etc', mode: 2 ** 31 + 0o755 });
  expect((await drain(out)).length).toBeGreaterThan(0);
  expect(g.asked[1]).toEqual({ kind: 'get', path: '/etc/.', follow: true, name: '.' });
  expect(g.released()).toBe(1);
});

test('a tar out whose process fails fails the stream with its error line', async () => {
  const body = await tarOfFile('x', 'y');
  const g = guest([() => proc(body, 1, 'read x: Input/output error\n')]);
  const a = new GuestArchive(g.open, LIMITS);
  const out = await a.export('c1');
  await expect(drain(out)).rejects.toThrow(/in the guest: read x: Input\/output error/);
  expect(g.released()).toBe(1);
});

test("a put sends the client's tar, with copyUIDGID's owner read from the container's /etc", async () => {
  const p = proc('', 0);
  const g = guest([() => p]);
  const a = new GuestArchive(g.open, LIMITS);
  const input = await tarOfFile('f', 'data');
  await a.put('c1', 'web', '/tmp', Readable.from([input]), {
    noOverwriteDirNonDir: true,
    owner: async (read) => {
      const line = (await read('/etc/passwd'))!.split(':');
      return { uid: Number(line[2]), gid: Number(line[3]) };
    },
  });
  expect(g.asked[0]).toEqual({
    kind: 'put',
    path: '/tmp',
    noOverwriteDirNonDir: true,
    owner: { uid: 1000, gid: 1001 },
  });
  expect(Buffer.concat(p.input)).toEqual(input);
});

test.each([
  [3, '', UnavailableError, /extraction point is not a directory/],
  [
    4,
    'cannot overwrite directory "/etc" with non-directory "etc"\n',
    InvalidArgumentError,
    /cannot overwrite directory/,
  ],
  [2, 'stat /nope: No such file or directory\n', NotFoundError, /Could not find the file \/nope in container web/],
])('a put that ends with status %d is refused as dockerd refuses it', async (code, stderr, cls, msg) => {
  const g = guest([() => proc('', code, stderr)]);
  const a = new GuestArchive(g.open, LIMITS);
  const err = await a.put('c1', 'web', '/nope', Readable.from([Buffer.alloc(1024)]), {}).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(cls);
  expect((err as Error).message).toMatch(msg);
  expect(g.released()).toBe(1);
});

test('a tar out whose reader goes away kills the guest process (it would wait for credit forever)', async () => {
  const killed: string[] = [];
  const stdout = new PassThrough();
  const p: GuestProcess = {
    processId: 'exp1',
    stdout,
    stderr: Readable.from([]),
    stdin: null,
    exited: new Promise(() => undefined),
  };
  const open = async (): Promise<GuestFiles> => ({
    archive: async () => p,
    kill: async (x) => void killed.push(x.processId),
    readFile: async () => Buffer.alloc(0),
    release: async () => undefined,
  });
  const out = await new GuestArchive(open, LIMITS).export('c1');
  out.resume();
  stdout.write(Buffer.alloc(512, 0x41).fill(0, 100)); // a partial header: the tar goes on
  out.destroy();
  await new Promise((r) => setTimeout(r, 20));
  expect(killed).toEqual(['exp1']);
});

describe('with a root (a volume on the container disk, mounted at /data)', () => {
  test("a get of the mount point asks for the root's / and names the tar's top entry after the client's path", async () => {
    const body = await tarOfFile('data/', '');
    const g = guest([() => proc('16877 4096 1 0\n', 0), () => proc(body, 0)]);
    const a = new GuestArchive(g.open, LIMITS);
    const { stat, tar: out } = await a.get('c1', 'web', '/data', '/data');
    expect(stat).toMatchObject({ name: 'data' });
    await drain(out);
    expect(g.asked).toEqual([
      { kind: 'stat', path: '/', root: '/data', follow: false },
      { kind: 'get', path: '/', root: '/data', follow: false, name: 'data' },
    ]);
  });

  test('a path below it is sent relative to it, trailing /. kept; the names stay the client path', async () => {
    const body = await tarOfFile('.', '');
    const g = guest([() => proc('16877 4096 1 0\n', 0), () => proc(body, 0), () => proc('33188 3 1 0\n', 0)]);
    const a = new GuestArchive(g.open, LIMITS);
    const { tar: out } = await a.get('c1', 'web', '/data/sub/.', '/data/');
    await drain(out);
    expect(g.asked[1]).toEqual({ kind: 'get', path: '/sub/.', root: '/data', follow: true, name: '.' });
    const st = await a.stat('c1', 'web', '/data/seed', '/data');
    expect(st).toMatchObject({ name: 'seed', size: 3 });
    expect(g.asked[2]).toEqual({ kind: 'stat', path: '/seed', root: '/data', follow: false });
  });

  test("a missing path is dockerd's 404 naming the client's path", async () => {
    const g = guest([() => proc('', 2, 'stat /nope: No such file or directory\n')]);
    const a = new GuestArchive(g.open, LIMITS);
    await expect(a.stat('c1', 'web', '/data/nope', '/data')).rejects.toThrow(
      'Could not find the file /data/nope in container web',
    );
  });

  test('a put into it is sent relative to it', async () => {
    const g = guest([() => proc('', 0)]);
    const a = new GuestArchive(g.open, LIMITS);
    await a.put('c1', 'web', '/data/in', Readable.from([await tarOfFile('f', 'x')]), {}, '/data');
    expect(g.asked[0]).toMatchObject({ kind: 'put', path: '/in', root: '/data' });
  });
});
