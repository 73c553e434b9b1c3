/**
 * Layer extraction fed crafted, hostile layers: nothing may land outside the layer
 * directory, and what a layer legitimately holds (owners, modes, xattrs, hardlinks, symlinks,
 * device nodes, whiteouts) is kept in overlay form.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { extractLayer } from '../../../src/storage/extract';
import { packTar, type LayerEntry } from '../../fixtures/image-builder';

let root: string;
let dest: string;
let outside: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-extract-'));
  dest = path.join(root, 'layer');
  outside = path.join(root, 'outside');
  fs.mkdirSync(dest);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'victim'), 'original');
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

async function extract(entries: LayerEntry[]) {
  return extractLayer(Readable.from([await packTar(entries)]), dest);
}

/** Everything under root except the layer dir must be as the test left it. */
function outsideUntouched(): void {
  expect(fs.readdirSync(root).sort()).toEqual(['layer', 'outside']);
  expect(fs.readdirSync(outside)).toEqual(['victim']);
  expect(fs.readFileSync(path.join(outside, 'victim'), 'utf8')).toBe('original');
}

/** A raw ustar header (tar-stream refuses to write some of the lies we need). */
function rawHeader(name: string, size: number, type = '0'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

describe('hostile layers', () => {
  test('../x is refused and nothing is written outside', async () => {
    await expect(extract([{ name: '../outside/victim', content: 'pwned' }])).rejects.toThrow(
      /points outside the layer/,
    );
    outsideUntouched();
  });

  test('a/../../x is refused', async () => {
    await expect(extract([{ name: 'a/../../outside/new', content: 'pwned' }])).rejects.toThrow(
      /points outside the layer/,
    );
    outsideUntouched();
  });

  test('an absolute path lands inside the layer, as dockerd treats it', async () => {
    await extract([{ name: '/abs/file', content: 'inside' }]);
    expect(fs.readFileSync(path.join(dest, 'abs/file'), 'utf8')).toBe('inside');
    outsideUntouched();
  });

  test('a file through a symlinked parent is refused', async () => {
    await expect(
      extract([
        { name: 'escape', type: 'symlink', linkname: outside },
        { name: 'escape/victim', content: 'pwned' },
      ]),
    ).rejects.toThrow(/symlink among its parent directories/);
    outsideUntouched();
  });

  test('a directory replaced by a symlink cannot be written through afterwards', async () => {
    await expect(
      extract([
        { name: 'd', type: 'directory' },
        { name: 'd', type: 'symlink', linkname: outside },
        { name: 'd/new', content: 'pwned' },
      ]),
    ).rejects.toThrow(/symlink among its parent directories/);
    outsideUntouched();
  });

  test('a hardlink to a file outside the layer is refused', async () => {
    await expect(extract([{ name: 'link', type: 'link', linkname: '../outside/victim' }])).rejects.toThrow(
      /points outside the layer/,
    );
    await expect(extract([{ name: 'link2', type: 'link', linkname: path.join(outside, 'victim') }])).rejects.toThrow(
      /does not contain/,
    );
    outsideUntouched();
  });

  test('a hardlink to a path under a symlink is refused', async () => {
    await expect(
      extract([
        { name: 'sym', type: 'symlink', linkname: outside },
        { name: 'link', type: 'link', linkname: 'sym/victim' },
      ]),
    ).rejects.toThrow(/does not contain/);
    outsideUntouched();
  });

  test('a hardlink to a file that does not exist is refused', async () => {
    await expect(extract([{ name: 'link', type: 'link', linkname: 'nothing' }])).rejects.toThrow(/does not contain/);
  });

  test('a size header far beyond the data fails without filling the disk', async () => {
    const tarBuf = Buffer.concat([rawHeader('big', 8 * 1024 ** 3), Buffer.alloc(4096)]);
    await expect(extractLayer(Readable.from([tarBuf]), dest, { maxBytes: 1024 ** 3 })).rejects.toThrow(
      /larger than the limit/,
    );
    const tarBuf2 = Buffer.concat([rawHeader('big2', 1024 ** 3), Buffer.alloc(4096)]);
    await expect(extractLayer(Readable.from([tarBuf2]), dest)).rejects.toThrow();
    const size = fs.existsSync(path.join(dest, 'big2')) ? fs.statSync(path.join(dest, 'big2')).size : 0;
    expect(size).toBeLessThanOrEqual(4096);
  });
});

describe('what a layer holds is kept', () => {
  test('owners, modes, mtimes, symlinks, hardlinks', async () => {
    const r = await extract([
      { name: 'bin', type: 'directory', mode: 0o755 },
      { name: 'bin/tool', content: 'x'.repeat(10), mode: 0o4755, uid: 1000, gid: 2000 },
      { name: 'bin/same', type: 'link', linkname: 'bin/tool' },
      { name: 'bin/sh', type: 'symlink', linkname: '/bin/tool' },
      { name: 'tmp', type: 'directory', mode: 0o1777 },
    ]);
    const st = fs.statSync(path.join(dest, 'bin/tool'));
    expect(st.mode & 0o7777).toBe(0o4755);
    expect([st.uid, st.gid]).toEqual([1000, 2000]);
    expect(st.mtime.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(fs.statSync(path.join(dest, 'bin/same')).ino).toBe(st.ino);
    expect(fs.readlinkSync(path.join(dest, 'bin/sh'))).toBe('/bin/tool');
    expect(fs.statSync(path.join(dest, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(fs.statSync(path.join(dest, 'bin')).mtime.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    // Docker's size: the file once (hardlink not again) plus the symlink target.
    expect(r.size).toBe(10 + '/bin/tool'.length);
  });

  test('device nodes and fifos are created', async () => {
    await extract([
      { name: 'dev', type: 'directory' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loop9', type: 'block-device', devmajor: 7, devminor: 9, mode: 0o660 },
      { name: 'dev/pipe', type: 'fifo', mode: 0o600 },
    ]);
    const n = fs.statSync(path.join(dest, 'dev/null'));
    expect(n.isCharacterDevice()).toBe(true);
    expect(n.rdev).toBe((1 << 8) | 3);
    expect(n.mode & 0o777).toBe(0o666);
    expect(fs.statSync(path.join(dest, 'dev/loop9')).isBlockDevice()).toBe(true);
    expect(fs.statSync(path.join(dest, 'dev/pipe')).isFIFO()).toBe(true);
  });

  test('xattrs from PAX records are kept byte for byte; trusted.overlay.* from the layer is not', async () => {
    const binary = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0x80, 0x00, 0x00]);
    // A raw PAX header: tar-stream's writer would re-encode binary values as UTF-8.
    const record = (key: string, value: Buffer): Buffer => {
      const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
      let len = body.length + 1;
      while (String(len).length + body.length !== len) len++;
      return Buffer.concat([Buffer.from(String(len)), body]);
    };
    const pax = Buffer.concat([
      record('SCHILY.xattr.user.note', Buffer.from('hello')),
      record('SCHILY.xattr.trusted.bin', binary),
      record('SCHILY.xattr.trusted.overlay.opaque', Buffer.from('y')),
    ]);
    const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
    const tarBuf = Buffer.concat([
      rawHeader('PaxHeader/f', pax.length, 'x'),
      pad(pax),
      rawHeader('f', 1),
      pad(Buffer.from('x')),
      Buffer.alloc(1024),
    ]);
    await extractLayer(Readable.from([tarBuf]), dest);
    const get = (n: string) =>
      execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', n, path.join(dest, 'f')], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    expect(get('user.note').toString()).toBe('hello');
    expect(get('trusted.bin').equals(binary)).toBe(true);
    expect(() => get('trusted.overlay.opaque')).toThrow();
  });

  test('OCI whiteouts become overlay whiteouts; opaque markers become the opaque xattr', async () => {
    await extract([
      { name: 'data', type: 'directory' },
      { name: 'data/.wh.gone.txt' },
      { name: 'opaque', type: 'directory' },
      { name: 'opaque/.wh..wh..opq' },
      { name: 'opaque/new', content: 'new' },
      { name: '.wh..wh.plnk', type: 'directory' },
    ]);
    const wh = fs.lstatSync(path.join(dest, 'data/gone.txt'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(fs.existsSync(path.join(dest, 'data/.wh.gone.txt'))).toBe(false);
    const opq = execFileSync('getfattr', [
      '--absolute-names',
      '--only-values',
      '-n',
      'trusted.overlay.opaque',
      path.join(dest, 'opaque'),
    ]).toString();
    expect(opq).toBe('y');
    expect(fs.readdirSync(path.join(dest, 'opaque'))).toEqual(['new']);
    expect(fs.existsSync(path.join(dest, '.wh..wh.plnk'))).toBe(false);
  });
});
