import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LogWriter, readLogEntries } from '../../../src/pod/io/logs';
import { decodePosition, encodePosition, positionFile, recoverPosition } from '../../../src/pod/io/log-position';
import { parseLogPolicy } from '../../../src/pod/io/log-config';

describe('durable log position (what a restarted daemon asks the agent to re-send from)', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-pos-'));
    file = path.join(dir, 'c-json.log');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const texts = async () =>
    (await readLogEntries(file, { stdout: true, stderr: true })).map((e) => `${e.stream}:${e.log.toString()}`);

  test('counts raw stream bytes (not JSON text), a partial line only once written', () => {
    const w = new LogWriter(file);
    w.startProcess();
    w.write('stdout', Buffer.from('héllo\nwor'));
    w.write('stderr', Buffer.from([0xff, 0x0a]));
    // Not closed: as after a SIGKILL. "wor" is not in the log yet, so it is not counted.
    expect(recoverPosition(file)).toEqual({ stdout: 7, stderr: 2 });
    w.flush('stdout');
    expect(recoverPosition(file)).toEqual({ stdout: 10, stderr: 2 });
  });

  test('a torn last entry is cut off and not counted; a missing one is not counted', async () => {
    const w = new LogWriter(file);
    w.startProcess();
    w.write('stdout', Buffer.from('one\ntwo\n'));
    const whole = fs.readFileSync(file);
    // Killed in the middle of writing "two": the record already says after = both lines.
    fs.truncateSync(file, whole.length - 5);
    expect(recoverPosition(file)).toEqual({ stdout: 4, stderr: 0 });
    expect(fs.statSync(file).size).toBe(whole.indexOf('\n') + 1);
    expect(await texts()).toEqual(['stdout:one\n']);
    // Killed before writing it at all: same answer, nothing to cut.
    expect(recoverPosition(file)).toEqual({ stdout: 4, stderr: 0 });
  });

  test('a new writer continues from the recovered offsets; a new process starts again at 0', async () => {
    const w = new LogWriter(file);
    w.startProcess();
    w.write('stdout', Buffer.from('a\nb\n'));
    const w2 = new LogWriter(file);
    const at = w2.resumePoint()!;
    expect({ stdout: at.stdout, stderr: at.stderr }).toEqual({ stdout: 4, stderr: 0 });
    w2.startProcess({ stdout: 4, stderr: 0 });
    w2.write('stdout', Buffer.from('c\n'));
    expect(recoverPosition(file)).toEqual({ stdout: 6, stderr: 0 });
    w2.startProcess();
    expect(recoverPosition(file)).toEqual({ stdout: 0, stderr: 0 });
    w2.close();
    expect(await texts()).toEqual(['stdout:a\n', 'stdout:b\n', 'stdout:c\n']);
  });

  test('rotation keeps the offsets whole; a record of the rotated-away file counts as written', () => {
    const w = new LogWriter(
      file,
      parseLogPolicy({ driver: 'json-file', opts: { 'max-size': '200', 'max-file': '2' } }),
    );
    w.startProcess();
    let n = 0;
    for (let i = 0; i < 50; i++) {
      const line = `line ${i}\n`;
      w.write('stdout', Buffer.from(line));
      n += line.length;
    }
    expect(recoverPosition(file)).toEqual({ stdout: n, stderr: 0 });
    // The daemon died right after a rotation, before the next entry: the current file is new.
    fs.renameSync(file, `${file}.1`);
    expect(recoverPosition(file)).toEqual({ stdout: n, stderr: 0 });
  });

  test('no record, a foreign record or impossible values give no position', () => {
    expect(recoverPosition(file)).toBeUndefined();
    fs.writeFileSync(positionFile(file), 'garbage');
    expect(recoverPosition(file)).toBeUndefined();
    const rec = encodePosition({ size: 10, stdout: 5, stderr: 0 }, { size: 5, stdout: 5, stderr: 0 });
    expect(decodePosition(rec)).toBeUndefined();
    rec.writeBigUInt64LE(2n ** 60n, 16);
    expect(decodePosition(rec)).toBeUndefined();
    expect(new LogWriter(file, parseLogPolicy({ driver: 'none', opts: {} })).resumePoint()).toBeUndefined();
  });
});
