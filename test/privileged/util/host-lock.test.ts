/**
 * withHostLock on a real lock file: holders in one process take turns, a holder in another
 * process is waited for (up to the limit, then a clear error), and a process that dies while
 * holding it leaves it free.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withHostLock } from '../../../src/util/host-lock';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-hostlock-'));
  file = path.join(dir, 'sub', 'test.lock');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Another process holding the lock (flock(1) running `sleep`), once it has it. */
async function otherHolder(seconds: number): Promise<ChildProcess> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const c = spawn('flock', ['-x', '-o', file, 'sh', '-c', `echo held; exec sleep ${seconds}`], {
    stdio: ['ignore', 'pipe', 'ignore'],
    detached: true,
  });
  await new Promise<void>((resolve) => c.stdout!.once('data', () => resolve()));
  return c;
}

/** Kill flock and its command (a process group of their own). */
function killGroup(c: ChildProcess): void {
  try {
    process.kill(-c.pid!, 'SIGKILL');
  } catch {
    // gone already
  }
}

test('holders in one process take turns, and each gets its result back', async () => {
  const spans: Array<[number, number]> = [];
  const hold = (v: number) =>
    withHostLock(file, async () => {
      const start = Date.now();
      await sleep(150);
      spans.push([start, Date.now()]);
      return v;
    });
  expect(await Promise.all([hold(1), hold(2), hold(3)])).toEqual([1, 2, 3]);
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
});

test('a holder in another process is waited for; past the limit, a clear error and fn never runs', async () => {
  const other = await otherHolder(30);
  let ran = false;
  try {
    await expect(
      withHostLock(
        file,
        async () => {
          ran = true;
        },
        1000,
      ),
    ).rejects.toThrow(`host lock ${file}: not taken within 1000 ms`);
    expect(ran).toBe(false);
    const waited = withHostLock(file, async () => 'mine', 10000);
    await sleep(300);
    killGroup(other);
    expect(await waited).toBe('mine');
  } finally {
    killGroup(other);
  }
});

test('an error of fn is thrown, and the lock is free after it', async () => {
  await expect(
    withHostLock(file, async () => {
      throw new Error('inside');
    }),
  ).rejects.toThrow('inside');
  expect(await withHostLock(file, async () => 'next', 2000)).toBe('next');
});

test('a process killed while it holds the lock leaves it free', async () => {
  const script = `require(${JSON.stringify(path.resolve(__dirname, '../../../src/util/host-lock.ts'))}).withHostLock(${JSON.stringify(file)}, () => { console.log('in'); return new Promise(() => {}); });`;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  await expect(withHostLock(file, async () => 'blocked', 1000)).rejects.toThrow('not taken');
  child.kill('SIGKILL');
  expect(await withHostLock(file, async () => 'free', 5000)).toBe('free');
});
