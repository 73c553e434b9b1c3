/**
 * ADD <url>'s download on the host (src/builder/remote.ts): the file's name from the URL path,
 * Content-Disposition or the destination; mode 0600; mtime from Last-Modified; an error
 * status is dockerd's "failed to GET" message.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { download, downloadName, isUrl } from '../../../src/builder/remote';

let server: http.Server;
let base: string;
let dir: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/dir/') {
      res.writeHead(200, { 'Content-Disposition': 'attachment; filename="report.csv"' });
      res.end('a,b\n');
    } else if (req.url === '/file.txt') {
      res.writeHead(200, { 'Last-Modified': 'Thu, 02 Jan 2020 03:04:05 GMT' });
      res.end('content\n');
    } else {
      res.writeHead(404, 'Not Found');
      res.end('nothing here');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-remote-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('names', () => {
  expect(isUrl('https://x/y')).toBe(true);
  expect(isUrl('./http://x')).toBe(false);
  expect(downloadName(new URL('http://h/a/b%20c.tar.gz?x=1'), null, 'dest')).toBe('b c.tar.gz');
  expect(downloadName(new URL('http://h/a/'), 'attachment; filename="../../etc/x.txt"', 'dest')).toBe('x.txt');
  expect(downloadName(new URL('http://h/'), null, 'named')).toBe('named');
  expect(() => downloadName(new URL('http://h/'), null, '')).toThrow('cannot determine a file name');
});

test('a download: mode 0600, mtime from Last-Modified; Content-Disposition; a 404', async () => {
  const name = await download(`${base}/file.txt`, dir, 'fallback');
  expect(name).toBe('file.txt');
  const st = fs.statSync(path.join(dir, name));
  expect(st.mode & 0o777).toBe(0o600);
  expect(st.mtimeMs).toBe(Date.parse('2020-01-02T03:04:05Z'));
  expect(fs.readFileSync(path.join(dir, name), 'utf8')).toBe('content\n');
  expect(await download(`${base}/dir/`, dir, '')).toBe('report.csv');
  await expect(download(`${base}/missing`, dir, 'x')).rejects.toThrow(
    `failed to GET ${base}/missing with status 404 Not Found: nothing here`,
  );
});
