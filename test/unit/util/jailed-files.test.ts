/**
 * The daemon's reads, cuts and connects in a VM's `run/`, where a QEMU taken over by its guest
 * may put a symlink to a host file, a FIFO or a hard link in place of a log or a socket
 * (src/util/jailed-files.ts, host-files.ts): the host file behind is never read or cut, a FIFO
 * never blocks, and a socket is reached only as itself.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { tailLines, trimLogFile } from '../../../src/vm/qemu/host-files';
import { connectVmSocket, openVmFile, readVmFile, VmFileError } from '../../../src/util/jailed-files';

let dir: string;
let hostFile: string;
const HOST_TEXT = 'host secret line\n'.repeat(4096); // ~68 KiB

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-jailed-files-'));
  hostFile = path.join(dir, 'host-file');
  fs.writeFileSync(hostFile, HOST_TEXT);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function runFile(name: string): string {
  fs.mkdirSync(path.join(dir, 'run'), { recursive: true });
  return path.join(dir, 'run', name);
}

test('a log that is a regular file is tailed and cut as before', () => {
  const log = runFile('console.log');
  fs.writeFileSync(log, 'a\n'.repeat(1000) + 'last\n');
  expect(tailLines(log, 2)).toEqual(['a', 'last']);
  expect(trimLogFile(log, 100, 10)).toBe(true);
  expect(fs.readFileSync(log, 'utf8')).toMatch(/trimmed by podvisor[^]*last\n$/);
});

test('a log swapped for a symlink to a host file: the host file is neither read nor cut', () => {
  const log = runFile('console.log');
  fs.symlinkSync(hostFile, log);
  expect(tailLines(log, 5)).toEqual([]);
  expect(trimLogFile(log, 1024, 512)).toBe(false);
  expect(readVmFile(log, 1 << 20)).toBeUndefined();
  expect(fs.readFileSync(hostFile, 'utf8')).toBe(HOST_TEXT);
});

test('a log made a hard link to a file outside run/ is not cut', () => {
  const log = runFile('qemu.log');
  fs.linkSync(hostFile, log);
  expect(() => openVmFile(log, 'read-write')).toThrow(VmFileError);
  expect(trimLogFile(log, 1024, 512)).toBe(false);
  expect(fs.readFileSync(hostFile, 'utf8')).toBe(HOST_TEXT);
});

test('a log swapped for a FIFO is refused at once, without blocking on a writer', () => {
  const log = runFile('console.log');
  execFileSync('mkfifo', [log]);
  const started = Date.now();
  expect(tailLines(log, 5)).toEqual([]);
  expect(trimLogFile(log, 1, 1)).toBe(false);
  expect(() => openVmFile(log, 'append-create')).toThrow(VmFileError);
  expect(Date.now() - started).toBeLessThan(1000);
});

test('a log opened for a helper to append to is made new, never through a symlink', () => {
  const log = runFile('locks.log');
  fs.closeSync(openVmFile(log, 'append-create'));
  expect(fs.lstatSync(log).isFile()).toBe(true);
  fs.rmSync(log);
  fs.symlinkSync(path.join(dir, 'not-there'), log);
  expect(() => openVmFile(log, 'append-create')).toThrow(VmFileError);
  expect(fs.existsSync(path.join(dir, 'not-there'))).toBe(false);
});

describe('sockets', () => {
  let server: net.Server;
  let daemonSock: string;
  let accepted: number;

  beforeEach(async () => {
    accepted = 0;
    daemonSock = path.join(dir, 'daemon.sock');
    server = net.createServer((c) => {
      accepted++;
      c.end('hello\n');
    });
    await new Promise<void>((r) => server.listen(daemonSock, r));
  });
  afterEach(() => new Promise<void>((r) => server.close(() => r())));

  test('a socket QEMU made is connected to', async () => {
    const s = connectVmSocket(daemonSock);
    const got = await new Promise<string>((resolve, reject) => {
      s.once('data', (d) => resolve(d.toString()));
      s.once('error', reject);
    });
    s.destroy();
    expect(got).toBe('hello\n');
  });

  test("a socket swapped for a symlink to another (the daemon's own) is refused, never connected to", () => {
    const qmp = runFile('qmp.sock');
    fs.symlinkSync(daemonSock, qmp);
    expect(() => connectVmSocket(qmp)).toThrow(VmFileError);
    const file = runFile('ctl.sock');
    fs.writeFileSync(file, '');
    expect(() => connectVmSocket(file)).toThrow(VmFileError);
    expect(accepted).toBe(0);
  });

  test('a socket not there yet fails with ENOENT (callers retry on it)', () => {
    expect(() => connectVmSocket(runFile('io.sock'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
