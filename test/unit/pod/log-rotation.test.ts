import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
  LogWriter,
  logFiles,
  readLogEntries,
  readLogSnapshot,
  readLogSync,
  snapshotLog,
} from '../../../src/pod/io/logs';
import { fromHumanSize, parseLogPolicy } from '../../../src/pod/io/log-config';
import { verifyLogConfig } from '../../../src/api/v1.41/docker/log-config';
import { resolveLogConfig } from '../../../src/translate/request/policy/log-config';
import { dockerMessage } from '../../../src/translate/errors';
import { LogConfigError } from '../../../src/pod/errors';
import { InvalidArgumentError, NotImplementedError, UnavailableError } from '../../../src/errors';

describe('json-file rotation (max-size, max-file)', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-rot-'));
    file = path.join(dir, 'c-json.log');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const lines = (n: number, w: LogWriter, from = 0) => {
    for (let i = from; i < from + n; i++) w.write('stdout', Buffer.from(`line ${i}\n`));
  };
  const texts = async (o: object = {}) =>
    (await readLogEntries(file, { stdout: true, stderr: true, ...o })).map((e) => e.log.toString().trim());

  test('disk use stays bounded and the kept lines read back in order', async () => {
    const w = new LogWriter(file, parseLogPolicy({ driver: 'json-file', opts: { 'max-size': '1k', 'max-file': '3' } }));
    lines(2000, w);
    w.close();
    const files = logFiles(file);
    expect(files.map((f) => path.basename(f))).toEqual(['c-json.log.2', 'c-json.log.1', 'c-json.log']);
    for (const f of files) expect(fs.statSync(f).size).toBeLessThan(1000 + 100);
    const got = await texts();
    expect(got[got.length - 1]).toBe('line 1999');
    const first = Number(got[0].split(' ')[1]);
    expect(got).toEqual(Array.from({ length: 2000 - first }, (_, i) => `line ${first + i}`));
    expect(await texts({ tail: 3 })).toEqual(['line 1997', 'line 1998', 'line 1999']);
    expect(readLogSync(file).map((e) => e.log.toString().trim())).toEqual(got);
  });

  test('compress=true gzips rotated files as dockerd (<log>.N.gz), and they still read back in order', async () => {
    const w = new LogWriter(
      file,
      parseLogPolicy({ driver: 'json-file', opts: { 'max-size': '1k', 'max-file': '3', compress: 'true' } }),
    );
    lines(2000, w);
    w.close();
    const files = logFiles(file);
    expect(files.map((f) => path.basename(f))).toEqual(['c-json.log.2.gz', 'c-json.log.1.gz', 'c-json.log']);
    expect(fs.readdirSync(dir).sort()).toEqual(['c-json.log', 'c-json.log.1.gz', 'c-json.log.2.gz', 'c-json.log.pos']);
    const inner = zlib
      .gunzipSync(fs.readFileSync(`${file}.1.gz`))
      .toString()
      .trim()
      .split('\n');
    expect(JSON.parse(inner[0])).toMatchObject({ stream: 'stdout' });
    const got = await texts();
    const first = Number(got[0].split(' ')[1]);
    expect(got).toEqual(Array.from({ length: 2000 - first }, (_, i) => `line ${first + i}`));
    expect(got.length).toBeGreaterThan(inner.length);
    expect(readLogSync(file).map((e) => e.log.toString().trim())).toEqual(got);
  });

  test('max-file 1 (the default) cuts the log back to empty', async () => {
    const w = new LogWriter(file, parseLogPolicy({ driver: 'json-file', opts: { 'max-size': '500' } }));
    lines(100, w);
    w.close();
    expect(logFiles(file)).toEqual([file]);
    expect(fs.statSync(file).size).toBeLessThan(600);
    expect((await texts()).pop()).toBe('line 99');
  });

  test('a snapshot taken before a rotation still reads what it saw', async () => {
    const w = new LogWriter(
      file,
      parseLogPolicy({ driver: 'json-file', opts: { 'max-size': '300', 'max-file': '2' } }),
    );
    lines(4, w);
    const snap = snapshotLog(file);
    lines(50, w, 4);
    const got = (await readLogSnapshot(snap, { stdout: true, stderr: true })).map((e) => e.log.toString().trim());
    expect(got).toEqual(['line 0', 'line 1', 'line 2', 'line 3']);
    w.close();
  });

  test('a reopened writer continues the current file size (daemon restart)', () => {
    const policy = parseLogPolicy({ driver: 'json-file', opts: { 'max-size': '1k', 'max-file': '2' } });
    const a = new LogWriter(file, policy);
    lines(15, a);
    a.close();
    const b = new LogWriter(file, policy);
    lines(15, b, 15);
    b.close();
    expect(fs.existsSync(`${file}.1`)).toBe(true);
    expect(fs.statSync(file).size).toBeLessThan(1100);
  });

  test('driver none writes nothing', () => {
    const w = new LogWriter(file, parseLogPolicy({ driver: 'none', opts: {} }));
    lines(10, w);
    w.close();
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('log driver and options (dockerd 20.10 messages)', () => {
  const def = { driver: 'json-file', opts: {} };
  test('no driver takes the daemon default and its options', () => {
    expect(
      resolveLogConfig(
        { driver: '', opts: { 'max-file': '2' } },
        { driver: 'json-file', opts: { 'max-size': '1m', 'max-file': '5' } },
      ),
    ).toEqual({ driver: 'json-file', opts: { 'max-size': '1m', 'max-file': '2' } });
    expect(resolveLogConfig({ driver: 'none', opts: { foo: 'x' } }, def)).toEqual({
      driver: 'none',
      opts: { foo: 'x' },
    });
  });
  test("a Docker LogConfig's empty Type takes the daemon default and its options", () => {
    expect(
      verifyLogConfig({ Type: '', Config: { 'max-file': '2' } }, { driver: 'json-file', opts: { 'max-size': '1m' } }),
    ).toEqual({ Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } });
  });
  test.each([
    ['bogus', {}, InvalidArgumentError, 'error looking up logging plugin bogus: plugin "bogus" not found'],
    ['json-file', { foo: '1' }, InvalidArgumentError, "unknown log opt 'foo' for json-file log driver"],
    ['json-file', { mode: 'x' }, InvalidArgumentError, 'logger: logging mode not supported: x'],
    [
      'json-file',
      { 'max-buffer-size': '1m' },
      InvalidArgumentError,
      "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
    ],
    ['local', {}, NotImplementedError, "podvisor does not support the 'local' log driver"],
  ])('%s %j is refused', (Type, Config, cls, msg) => {
    expect(() => verifyLogConfig({ Type, Config }, def)).toThrow(cls);
    expect(() => verifyLogConfig({ Type, Config }, def)).toThrow(msg);
  });
  test.each([
    [{ 'max-size': 'abc' }, "failed to initialize logging driver: invalid size: 'abc'"],
    [{ 'max-size': '0' }, 'failed to initialize logging driver: max-size must be a positive number'],
    [{ 'max-file': 'x' }, 'failed to initialize logging driver: strconv.Atoi: parsing "x": invalid syntax'],
    [{ 'max-file': '0' }, 'failed to initialize logging driver: max-file cannot be less than 1'],
    [
      { compress: 'true' },
      'failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set',
    ],
  ])("start with %j fails (500), in dockerd's words through the Docker front end", (opts, msg) => {
    expect(() => parseLogPolicy({ driver: 'json-file', opts })).toThrow(UnavailableError);
    let caught: unknown;
    try {
      parseLogPolicy({ driver: 'json-file', opts });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(LogConfigError);
    expect((caught as LogConfigError).failure.detail).toBe(msg.replace('failed to initialize logging driver: ', ''));
    expect(dockerMessage(caught)).toBe(msg);
  });
  test('sizes use decimal units as go-units FromHumanSize', () => {
    expect(fromHumanSize('10k')).toBe(10000);
    expect(fromHumanSize('1.5m')).toBe(1500000);
    expect(fromHumanSize('2GB')).toBe(2e9);
    expect(fromHumanSize('100')).toBe(100);
    expect(parseLogPolicy({ driver: 'json-file', opts: { 'max-size': '10m', 'max-file': '3' } })).toEqual({
      driver: 'json-file',
      maxSize: 1e7,
      maxFile: 3,
    });
  });
});
