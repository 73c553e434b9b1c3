/**
 * A CRI container's log (LogPolicy.criPath, the `cri-log-path` option): each entry also goes to
 * the kubelet's file in the CRI log format, `<RFC3339Nano> <stream> <F|P> <line>`, partial
 * lines tagged P; the file exists from the process's start, before any output; reopenCri
 * (ReopenContainerLog) makes a new file at the path at once after the kubelet renamed it. And
 * the pod's resolv.conf from a CRI DNSConfig.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogWriter, MAX_LINE, readLogEntries } from '../../../src/pod/io/logs';
import { CRI_LOG_PATH_OPT, parseLogPolicy } from '../../../src/pod/io/log-config';
import { resolvFromDns } from '../../../src/pod/network/cni-network';

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([FP]) (.*)$/;

describe('the CRI log format', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-crilog-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const writer = (cri: string) =>
    new LogWriter(
      path.join(dir, 'c-json.log'),
      parseLogPolicy({ driver: 'json-file', opts: { [CRI_LOG_PATH_OPT]: cri } }),
    );
  const criLines = (file: string) =>
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const m = LINE.exec(l);
        if (!m) throw new Error(`not a CRI log line: ${l}`);
        return `${m[2]} ${m[3]} ${m[4]}`;
      });

  test('full and partial lines of both streams, in a directory made for it; the json-file log too', async () => {
    const cri = path.join(dir, 'pods', 'app', '0.log');
    const w = writer(cri);
    w.startProcess();
    w.write('stdout', Buffer.from('one\ntw'));
    w.write('stderr', Buffer.from('bad\n'));
    w.write('stdout', Buffer.from('o\n'));
    w.write('stdout', Buffer.from('x'.repeat(MAX_LINE + 3)));
    w.write('stdout', Buffer.from('no newline'));
    w.close();
    expect(criLines(cri)).toEqual([
      'stdout F one',
      'stderr F bad',
      'stdout F two',
      `stdout P ${'x'.repeat(MAX_LINE)}`,
      `stdout P xxxno newline`,
    ]);
    const json = await readLogEntries(path.join(dir, 'c-json.log'), { stdout: true, stderr: true });
    expect(json.map((e) => e.log.toString())).toEqual([
      'one\n',
      'bad\n',
      'two\n',
      'x'.repeat(MAX_LINE),
      'xxxno newline',
    ]);
  });

  test('the file (and its directory) exists as soon as the process starts, before any output', () => {
    const cri = path.join(dir, 'pods', 'quiet', '0.log');
    const w = writer(cri);
    w.startProcess();
    expect(fs.readFileSync(cri, 'utf8')).toBe('');
    w.close();
  });

  test('reopenCri: a new empty file at the path at once, then the next entry goes there', () => {
    const cri = path.join(dir, '0.log');
    const w = writer(cri);
    w.startProcess();
    w.write('stdout', Buffer.from('before\n'));
    fs.renameSync(cri, `${cri}.1`);
    w.reopenCri();
    expect(fs.readFileSync(cri, 'utf8')).toBe('');
    w.write('stdout', Buffer.from('after\n'));
    w.close();
    expect(criLines(`${cri}.1`)).toEqual(['stdout F before']);
    expect(criLines(cri)).toEqual(['stdout F after']);
  });

  test('reopenCri: after a rename, the next entry goes to a new file at the path', () => {
    const cri = path.join(dir, '0.log');
    const w = writer(cri);
    w.startProcess();
    w.write('stdout', Buffer.from('before\n'));
    fs.renameSync(cri, `${cri}.1`);
    w.reopenCri();
    w.write('stdout', Buffer.from('after\n'));
    w.close();
    expect(criLines(`${cri}.1`)).toEqual(['stdout F before']);
    expect(criLines(cri)).toEqual(['stdout F after']);
  });
});

describe("a CRI sandbox's resolv.conf", () => {
  test('from the DNSConfig; the host file when it names nothing', () => {
    expect(
      resolvFromDns({ servers: ['10.96.0.10', '1.1.1.1'], searches: ['a.svc', 'b'], options: ['ndots:5'] }, 'host\n'),
    ).toBe('nameserver 10.96.0.10\nnameserver 1.1.1.1\nsearch a.svc b\noptions ndots:5\n');
    expect(resolvFromDns({ servers: [], searches: [], options: [] }, 'nameserver 9.9.9.9\n')).toBe(
      'nameserver 9.9.9.9\n',
    );
    expect(resolvFromDns(undefined, 'h\n')).toBe('h\n');
  });
});
