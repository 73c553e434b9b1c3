/**
 * A full disk (the daemon must keep serving and lose nothing it already had): the daemon's data root is a small tmpfs (made and removed here)
 * that a filler file fills to the last byte. Then, through the stock docker CLI:
 *  - a pull fails with a clear error, and leaves no image;
 *  - a running container's output cannot be logged: the daemon keeps serving and the
 *    container keeps running, and logging resumes once there is room;
 *  - a container start fails with a clear error and the container stays `created`.
 * Once the filler is removed: what was stored before is intact (the image inspects and runs,
 * the log reads back entry by entry), the failed pull and start succeed, and a restarted
 * daemon loads the same state.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(240_000);

const IMAGE = `${fixtureRegistry()}/busybox`;
const OTHER = `${fixtureRegistry()}/layered`;
/** About 1 KB a line, 5 lines a second: the log needs a new page every second. */
const TICKER = [
  'sh',
  '-c',
  'p=$(printf "%01000d" 0); i=0; while true; do echo "line $i $p"; i=$((i+1)); sleep 0.2; done',
];

interface Result {
  code: number;
  out: string;
  err: string;
}

function docker(d: TestDaemon, args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile('docker', args, { env: d.env, timeout: 120_000 }, (e, out, err) => {
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err });
    });
  });
}

/** Fill the filesystem of `dir` to the last byte with a file; returns its path. */
function fill(dir: string): string {
  const file = path.join(dir, 'filler');
  const fd = fs.openSync(file, 'a');
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const buf = Buffer.alloc(size, 0x61);
      for (;;) {
        try {
          fs.writeSync(fd, buf);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The numbers of the "line N" entries of a log text. */
function lineNumbers(text: string): number[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('line '))
    .map((l) => Number(l.split(' ')[1]));
}

let mnt = '';
let d: TestDaemon | undefined;

beforeAll(() => {
  mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-fulldisk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'podvisor-fulldisk', mnt]);
});

afterAll(async () => {
  if (d) {
    // Best effort after a failure above, so that the leak check sees only real leaks.
    const left = (await docker(d, ['ps', '-aq'])).out.split('\n').filter(Boolean);
    if (left.length) await docker(d, ['rm', '-f', ...left]);
    await stopDaemonLeavingNothing(d);
  }
  execFileSync('umount', [mnt]);
  fs.rmdirSync(mnt);
});

test('a full data root: pull, logs and start fail cleanly, nothing stored is damaged, the daemon serves on', async () => {
  const dataRoot = path.join(mnt, 'data');
  d = await startDaemon({ dataRoot });
  expect((await docker(d, ['pull', '-q', IMAGE])).code).toBe(0);
  expect((await docker(d, ['create', '--name', 'later', IMAGE, 'echo', 'started later'])).code).toBe(0);
  expect((await docker(d, ['run', '-d', '--name', 'ticker', IMAGE, ...TICKER])).code).toBe(0);
  for (let i = 0; i < 100 && !(await docker(d, ['logs', 'ticker'])).out.includes('line 3\n'); i++) await sleep(200);
  const imageBefore = JSON.parse((await docker(d, ['image', 'inspect', IMAGE])).out)[0];

  const filler = fill(mnt);
  try {
    // A pull: a clear error, no image.
    const pull = await docker(d, ['pull', OTHER]);
    expect(pull.code).not.toBe(0);
    expect(pull.err).toMatch(/no space left on device/);
    expect((await docker(d, ['image', 'inspect', OTHER])).code).not.toBe(0);

    // Logs: entries are dropped (as dockerd's json-file logger does), the ticker goes on
    // printing, the daemon keeps serving.
    await sleep(2000);
    expect((await docker(d, ['version', '--format', '{{.Server.Version}}'])).code).toBe(0);
    expect(JSON.parse((await docker(d, ['inspect', 'ticker'])).out)[0].State.Status).toBe('running');
    expect(lineNumbers((await docker(d, ['logs', 'ticker'])).out).slice(0, 3)).toEqual([0, 1, 2]);

    // A start: a clear error, the container stays created.
    const start = await docker(d, ['start', 'later']);
    expect(start.code).not.toBe(0);
    expect(start.err).toMatch(/no space left on device/);
    expect(JSON.parse((await docker(d, ['inspect', 'later'])).out)[0].State.Status).toBe('created');
    const create = await docker(d, ['create', IMAGE, 'true']);
    expect(create.code).not.toBe(0);
    expect(create.err).toMatch(/no space left on device/);
  } finally {
    fs.rmSync(filler);
  }

  // Room again: logging resumes, every entry reads back, nothing stored was damaged.
  const before = lineNumbers((await docker(d, ['logs', 'ticker'])).out).pop() ?? -1;
  for (let i = 0; i < 100 && (lineNumbers((await docker(d, ['logs', 'ticker'])).out).pop() ?? -1) <= before; i++)
    await sleep(200);
  const numbers = lineNumbers((await docker(d, ['logs', 'ticker'])).out);
  expect(numbers.length).toBeGreaterThan(4);
  expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
  expect(numbers.pop()).toBeGreaterThan(before);
  expect(d.logs()).toMatch(/log entry dropped: .*no space left on device/);
  // No torn line in the file: every line is a whole json-file entry.
  const logPath = JSON.parse((await docker(d, ['inspect', 'ticker'])).out)[0].LogPath as string;
  const raw = fs.readFileSync(logPath, 'utf8').split('\n');
  expect(raw.pop()).toBe('');
  for (const l of raw)
    expect(JSON.parse(l)).toMatchObject({ log: expect.stringMatching(/^line \d+ 0{1000}\n$/), stream: 'stdout' });
  expect(JSON.parse((await docker(d, ['image', 'inspect', IMAGE])).out)[0]).toEqual(imageBefore);
  expect(await docker(d, ['run', '--rm', IMAGE, 'echo', 'still runs'])).toMatchObject({ code: 0, out: 'still runs\n' });
  expect(await docker(d, ['start', '-a', 'later'])).toMatchObject({ code: 0, out: 'started later\n' });
  expect((await docker(d, ['pull', '-q', OTHER])).code).toBe(0);

  // A restarted daemon loads the same state.
  await d.restart();
  expect((await docker(d, ['images', '--format', '{{.Repository}}'])).out.split('\n').filter(Boolean).sort()).toEqual(
    [IMAGE, OTHER].sort(),
  );
  expect(
    (await docker(d, ['ps', '-a', '--format', '{{.Names}} {{.State}}'])).out.split('\n').filter(Boolean).sort(),
  ).toEqual(['later exited', 'ticker running']);
  expect((await docker(d, ['rm', '-f', 'ticker', 'later'])).code).toBe(0);
});
