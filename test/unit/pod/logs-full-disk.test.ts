/**
 * LogWriter on a full disk: a write that fails drops that entry (as dockerd's json-file
 * logger), never throws into the output pump, leaves no torn line, and writing resumes when
 * there is room again.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogWriter, readLogEntries } from '../../../src/pod/io/logs';
import { setLogSink } from '../../../src/util/log';

const all = { stdout: true, stderr: true };
let dir: string;
let logged: string[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-logs-'));
  logged = [];
  setLogSink((l) => logged.push(l));
});

afterEach(() => {
  jest.restoreAllMocks();
  setLogSink((l) => process.stderr.write(l + '\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});

function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
}

test('/dev/full: entries are dropped without throwing, and listeners see only written entries', () => {
  // A link to /dev/full, so that the position record beside the log lands in the test's directory.
  const file = path.join(dir, 'full-json.log');
  fs.symlinkSync('/dev/full', file);
  const w = new LogWriter(file);
  const seen: string[] = [];
  w.subscribe((e) => seen.push(e.log.toString()));
  expect(() => w.write('stdout', Buffer.from('one\ntwo\n'))).not.toThrow();
  expect(() => w.close()).not.toThrow();
  expect(seen).toEqual([]);
  // Logged once for the run of failures, not per entry.
  expect(logged.filter((l) => l.includes('log entry dropped')).length).toBe(1);
  expect(logged.join('\n')).toMatch(/no space left on device/);
});

test('a write torn by ENOSPC is cut back: the file keeps whole entries only, and writing resumes', async () => {
  const file = path.join(dir, 'c-json.log');
  const w = new LogWriter(file);
  w.write('stdout', Buffer.from('before\n'));
  // The module object itself (the namespace import's properties are read-only getters of it).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeFs = require('node:fs') as typeof fs;
  const real = nodeFs.writeSync;
  let fail = 1;
  jest.spyOn(nodeFs, 'writeSync').mockImplementation(((fd: number, buf: Buffer, off?: number, ...rest: number[]) => {
    // Positional writes are the position record beside the log (./log-position.ts).
    if (rest.length) return real(fd, buf, off, ...rest);
    if (fail-- > 0) {
      // Half the line reaches the disk, then the disk is full.
      real(fd, buf.subarray(off ?? 0, (off ?? 0) + 10));
      throw enospc();
    }
    return real(fd, buf, off);
  }) as typeof fs.writeSync);
  w.write('stdout', Buffer.from('lost\n'));
  w.write('stdout', Buffer.from('after\n'));
  w.close();
  const raw = fs.readFileSync(file, 'utf8').split('\n');
  expect(raw.pop()).toBe('');
  for (const l of raw) expect(() => JSON.parse(l)).not.toThrow();
  expect((await readLogEntries(file, all)).map((e) => e.log.toString())).toEqual(['before\n', 'after\n']);
  expect(logged.join('\n')).toMatch(/writing again after 1 dropped entries/);
});
