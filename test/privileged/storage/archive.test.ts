/**
 * docker cp's host side against a plain directory standing for a container's root: paths
 * resolve as if chrooted there, and hostile archives (each of Docker's cp CVE classes) never
 * touch anything outside it. Also the tar out, the stat header and the writable-layer diff.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { RootDir } from '../../../src/storage/archive/resolve';
import { extractInto } from '../../../src/storage/archive/tar-in';
import { packTree } from '../../../src/storage/archive/tar-out';
import { goFileMode, pathStat } from '../../../src/storage/archive/stat';
import { listChanges } from '../../../src/storage/archive/changes';
import { mknod } from '../../../src/storage/fsops';
import { packTar, type LayerEntry } from '../../fixtures/image-builder';

let tmp: string;
let rootPath: string;
let outside: string;
let root: RootDir;

beforeEach(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-archive-'));
  rootPath = path.join(tmp, 'root');
  outside = path.join(tmp, 'outside');
  fs.mkdirSync(path.join(rootPath, 'etc'), { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'victim'), 'original');
  fs.writeFileSync(path.join(rootPath, 'etc', 'hostname'), 'box\n');
  // Symlinks a hostile container leaves for the host to follow.
  fs.symlinkSync(outside, path.join(rootPath, 'escape-abs'));
  fs.symlinkSync('../../outside', path.join(rootPath, 'escape-rel'));
  fs.symlinkSync('/etc', path.join(rootPath, 'etclink'));
  root = await RootDir.open(rootPath);
});
afterEach(async () => {
  await root.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function outsideUntouched(): void {
  expect(fs.readdirSync(outside)).toEqual(['victim']);
  expect(fs.readFileSync(path.join(outside, 'victim'), 'utf8')).toBe('original');
}

async function put(entries: LayerEntry[], dest = '/'): Promise<void> {
  await extractInto(root, dest, Readable.from([await packTar(entries)]));
}

async function listTar(s: Readable): Promise<Array<{ name: string; type: string; body: string; linkname?: string }>> {
  const x = tar.extract();
  s.pipe(x as unknown as NodeJS.WritableStream);
  const out: Array<{ name: string; type: string; body: string; linkname?: string }> = [];
  for await (const e of x) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.push({
      name: e.header.name,
      type: e.header.type,
      body: Buffer.concat(chunks).toString(),
      ...(e.header.linkname ? { linkname: e.header.linkname } : {}),
    });
  }
  return out;
}

describe('resolve in root', () => {
  test('symlinks are followed as if chrooted, `..` stops at the root', async () => {
    for (const p of ['/escape-abs/victim', '/escape-rel/victim', '/../../outside/victim', '../outside/victim']) {
      await expect(root.resolve(p, { followLast: true })).rejects.toThrow(/Could not find/);
    }
    const r = await root.resolve('/etclink/hostname', { followLast: true });
    expect(r.path).toBe('/etc/hostname');
    expect(r.stat?.isFile()).toBe(true);
    await r.release();
    const up = await root.resolve('/etc/../../../etc/hostname');
    expect(up.path).toBe('/etc/hostname');
    await up.release();
  });

  test('the last symlink is kept unless asked to follow it', async () => {
    const r = await root.resolve('/etclink');
    expect(r.stat?.isSymbolicLink()).toBe(true);
    await r.release();
    const f = await root.resolve('/etclink', { followLast: true });
    expect(f.path).toBe('/etc');
    await f.release();
  });

  test('a symlink loop is refused', async () => {
    fs.symlinkSync('/loop', path.join(rootPath, 'loop'));
    await expect(root.resolve('/loop/x')).rejects.toThrow(/symbolic links/);
  });
});

describe('tar in: the cp CVE classes never touch the host', () => {
  test('entries through a symlink leading out land inside the root', async () => {
    await put([
      { name: 'escape-abs/victim', content: 'pwned' },
      { name: 'escape-rel/new', content: 'pwned' },
    ]);
    outsideUntouched();
    // Followed as in a chroot: /escape-abs -> <root>/<outside path>, created there.
    expect(fs.readFileSync(path.join(rootPath, outside, 'victim'), 'utf8')).toBe('pwned');
  });

  test('`..` entries that climb out fail the archive', async () => {
    await expect(put([{ name: '../../outside/victim', content: 'pwned' }])).rejects.toThrow(
      /outside of the destination/,
    );
    await expect(put([{ name: 'etc/../../victim', content: 'pwned' }], '/etc')).rejects.toThrow(
      /outside of the destination/,
    );
    outsideUntouched();
  });

  test('absolute entries land below the destination', async () => {
    await put(
      [
        { name: `${outside}/victim`, content: 'pwned' },
        { name: '/abs', content: 'a' },
      ],
      '/etc',
    );
    outsideUntouched();
    expect(fs.readFileSync(path.join(rootPath, 'etc', 'abs'), 'utf8')).toBe('a');
  });

  test('a hardlink to a host file is never made', async () => {
    await expect(put([{ name: 'hl', type: 'link', linkname: `../../outside/victim` }])).rejects.toThrow(/hardlink/);
    // An absolute link name is taken inside the root, where there is no such file.
    await expect(put([{ name: 'hl', type: 'link', linkname: `${outside}/victim` }])).rejects.toThrow(
      /Could not find|hardlink/,
    );
    // Through a symlink leading out: resolved in the root.
    await expect(put([{ name: 'hl', type: 'link', linkname: 'escape-abs/victim' }])).rejects.toThrow(
      /Could not find|hardlink/,
    );
    outsideUntouched();
    expect(fs.existsSync(path.join(rootPath, 'hl'))).toBe(false);
  });

  test('a symlink entry then a file through it stays inside', async () => {
    await put([
      { name: 'sneaky', type: 'symlink', linkname: outside },
      { name: 'sneaky/victim', content: 'pwned' },
    ]);
    outsideUntouched();
    expect(fs.readlinkSync(path.join(rootPath, 'sneaky'))).toBe(outside);
  });

  test('a file over a symlink replaces the symlink, not its target', async () => {
    fs.symlinkSync(path.join(outside, 'victim'), path.join(rootPath, 'etc', 'x'));
    await put([{ name: 'x', content: 'inside' }], '/etc');
    outsideUntouched();
    expect(fs.lstatSync(path.join(rootPath, 'etc', 'x')).isFile()).toBe(true);
  });

  test('replacing a directory does not follow symlinks inside it', async () => {
    fs.mkdirSync(path.join(rootPath, 'd'));
    fs.symlinkSync(outside, path.join(rootPath, 'd', 'out'));
    await put([{ name: 'd', content: 'now a file' }]);
    outsideUntouched();
    expect(fs.readFileSync(path.join(rootPath, 'd'), 'utf8')).toBe('now a file');
  });

  test('a parent swapped for a symlink during the copy is resolved in the root', async () => {
    // The race, paced by the archive: once the extraction has written its first entry, the
    // container replaces a directory by a symlink out, before the entries under it are read.
    fs.mkdirSync(path.join(rootPath, 'race'));
    const entries: LayerEntry[] = [{ name: 'first', content: 'a' }];
    for (let i = 0; i < 50; i++) entries.push({ name: `race/f${i}`, content: 'x' });
    const archive = await packTar(entries);
    let swapped = false;
    async function* paced(): AsyncGenerator<Buffer> {
      yield archive.subarray(0, 1024); // the first entry: its header and its one block
      const first = path.join(rootPath, 'first');
      for (let i = 0; i < 500 && !(fs.existsSync(first) && fs.readFileSync(first, 'utf8') === 'a'); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      fs.rmSync(path.join(rootPath, 'race'), { recursive: true, force: true });
      fs.symlinkSync(outside, path.join(rootPath, 'race'));
      swapped = true;
      yield archive.subarray(1024);
    }
    await extractInto(root, '/', Readable.from(paced()));
    expect(swapped).toBe(true);
    outsideUntouched();
    // The swapped parent is the container's symlink, taken inside the root: the entries under
    // it are in the root's own copy of the outside path.
    expect(fs.readlinkSync(path.join(rootPath, 'race'))).toBe(outside);
    const names = entries.slice(1).map((e) => path.basename(e.name));
    expect(fs.readdirSync(path.join(rootPath, outside)).sort()).toEqual(names.sort());
  });

  test('noOverwriteDirNonDir refuses to replace a directory by a file and the reverse', async () => {
    const tarOf = async (e: LayerEntry[]) => Readable.from([await packTar(e)]);
    await expect(
      extractInto(root, '/', await tarOf([{ name: 'etc', content: 'x' }]), { noOverwriteDirNonDir: true }),
    ).rejects.toThrow(/cannot overwrite directory/);
    await expect(
      extractInto(root, '/etc', await tarOf([{ name: 'hostname', type: 'directory' }]), { noOverwriteDirNonDir: true }),
    ).rejects.toThrow(/cannot overwrite non-directory/);
    expect(fs.readFileSync(path.join(rootPath, 'etc', 'hostname'), 'utf8')).toBe('box\n');
  });

  test('owners, modes and the chown override are applied', async () => {
    await put([{ name: 'own', content: 'o', uid: 123, gid: 456, mode: 0o4750 }]);
    let st = fs.statSync(path.join(rootPath, 'own'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([123, 456, 0o4750]);
    await extractInto(root, '/', Readable.from([await packTar([{ name: 'own2', content: 'o', uid: 123 }])]), {
      chown: { uid: 7, gid: 8 },
    });
    st = fs.statSync(path.join(rootPath, 'own2'));
    expect([st.uid, st.gid]).toEqual([7, 8]);
  });
});

describe('tar in: names, truncation and the open parents', () => {
  test('a directory replaced by a symlink mid-archive: later entries follow the new link inside the root', async () => {
    fs.mkdirSync(path.join(rootPath, 'e'));
    await put([
      { name: 'd', type: 'directory' },
      { name: 'd/a', content: 'a' },
      { name: 'd', type: 'symlink', linkname: '/e' },
      { name: 'd/b', content: 'b' },
    ]);
    expect(fs.readlinkSync(path.join(rootPath, 'd'))).toBe('/e');
    expect(fs.readFileSync(path.join(rootPath, 'e', 'b'), 'utf8')).toBe('b');
    expect(fs.existsSync(path.join(rootPath, 'e', 'a'))).toBe(false);
  });

  test('a directory replaced later by a symlink to nowhere: setting directory times creates nothing', async () => {
    await put([
      { name: 'd', type: 'directory' },
      { name: 'd/e', type: 'directory' },
      { name: 'd', type: 'symlink', linkname: '/nowhere' },
    ]);
    expect(fs.readlinkSync(path.join(rootPath, 'd'))).toBe('/nowhere');
    expect(fs.existsSync(path.join(rootPath, 'nowhere'))).toBe(false);
  });

  test('concurrent copies of the same files into one directory all succeed (each replaces what the other made)', async () => {
    const tar = await packTar([
      { name: 'd', type: 'directory' },
      { name: 'd/f', content: 'f' },
      { name: 'ok', content: 'ok' },
      { name: 'l', type: 'symlink', linkname: 'ok' },
    ]);
    await Promise.all(
      Array.from({ length: 8 }, () =>
        extractInto(root, '/etc', Readable.from([tar.subarray(0, 1024), tar.subarray(1024)])),
      ),
    );
    expect(fs.readFileSync(path.join(rootPath, 'etc', 'd', 'f'), 'utf8')).toBe('f');
    expect(fs.readFileSync(path.join(rootPath, 'etc', 'ok'), 'utf8')).toBe('ok');
    expect(fs.readlinkSync(path.join(rootPath, 'etc', 'l'))).toBe('ok');
  });

  test('a name or a path too long for Linux fails the archive with a clean error, earlier entries kept', async () => {
    const deep = Array.from({ length: 45 }, () => 'z'.repeat(99)).join('/');
    for (const name of ['x'.repeat(30_000), `d/${'y'.repeat(256)}`, `${deep}/f`]) {
      await expect(
        put(
          [
            { name: 'ok', content: 'ok' },
            { name, content: 'data' },
          ],
          '/etc',
        ),
      ).rejects.toThrow(/^invalid path: open \/etc\/.*: file name too long$/);
    }
    await expect(put([{ name: 's', type: 'symlink', linkname: 'q'.repeat(5000) }], '/etc')).rejects.toThrow(
      /^invalid path: open \/etc\/s: file name too long$/,
    );
    expect(fs.readdirSync(path.join(rootPath, 'etc')).sort()).toEqual(['hostname', 'ok']);
  });

  test('a tar cut short in a file\'s data: "unexpected EOF", the earlier files kept, the half file removed', async () => {
    const full = await packTar([
      { name: 't1', content: 'a'.repeat(100) },
      { name: 't2', content: Buffer.alloc(100_000, 0x62) },
    ]);
    const cut = full.subarray(0, 512 * 3 + 50_000);
    await expect(
      extractInto(root, '/etc', Readable.from([cut.subarray(0, 30_000), cut.subarray(30_000)])),
    ).rejects.toThrow(/^invalid tar archive: unexpected EOF$/);
    expect(fs.readFileSync(path.join(rootPath, 'etc', 't1'), 'utf8')).toBe('a'.repeat(100));
    expect(fs.existsSync(path.join(rootPath, 'etc', 't2'))).toBe(false);
  });
});

describe('tar out', () => {
  test('a directory under its base name, symlinks kept, hardlinks as links', async () => {
    fs.linkSync(path.join(rootPath, 'etc', 'hostname'), path.join(rootPath, 'etc', 'hn2'));
    fs.symlinkSync(path.join(outside, 'victim'), path.join(rootPath, 'etc', 'out'));
    const r = await root.resolve('/etc');
    const entries = await listTar(packTree(r.dir, r.name, 'etc'));
    await r.release();
    expect(entries).toEqual([
      { name: 'etc/', type: 'directory', body: '' },
      { name: 'etc/hn2', type: 'file', body: 'box\n' },
      { name: 'etc/hostname', type: 'link', body: '', linkname: 'etc/hn2' },
      { name: 'etc/out', type: 'symlink', body: '', linkname: path.join(outside, 'victim') },
    ]);
  });

  test("an O_TMPFILE's hidden name (9p, guest/kernel/patches/0004) is left out, as the container leaves it out", async () => {
    fs.writeFileSync(path.join(rootPath, 'etc', '.podvisor-tmpfile-0123456789abcdef'), 'open in the guest');
    const r = await root.resolve('/etc');
    const entries = await listTar(packTree(r.dir, r.name, 'etc'));
    await r.release();
    expect(entries.map((e) => e.name)).toEqual(['etc/', 'etc/hostname']);
  });

  test('stat in dockerd form', async () => {
    const st = fs.lstatSync(path.join(rootPath, 'etc'), { bigint: false });
    expect(goFileMode(st)).toBe(2 ** 31 + 0o755);
    const s = pathStat('etc', st, '');
    expect(s.mtime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });
});

describe('changes', () => {
  test('added, modified, deleted (whiteouts)', async () => {
    const lower = path.join(tmp, 'lower');
    const upper = path.join(tmp, 'upper');
    fs.mkdirSync(path.join(lower, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(lower, 'etc', 'passwd'), 'x');
    fs.writeFileSync(path.join(lower, 'gone'), 'x');
    fs.mkdirSync(path.join(upper, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(upper, 'etc', 'passwd'), 'y');
    fs.mkdirSync(path.join(upper, 'new', 'sub'), { recursive: true });
    await mknod(path.join(upper, 'gone'), 'c', 0, 0, 0);
    fs.symlinkSync(outside, path.join(upper, 'lnk'));
    expect(await listChanges(upper, [lower])).toEqual([
      { Path: '/etc', Kind: 0 },
      { Path: '/etc/passwd', Kind: 0 },
      { Path: '/gone', Kind: 2 },
      { Path: '/lnk', Kind: 1 },
      { Path: '/new', Kind: 1 },
      { Path: '/new/sub', Kind: 1 },
    ]);
  });

  test("an O_TMPFILE's hidden name (9p, guest/kernel/patches/0004) is no change", async () => {
    const upper = path.join(tmp, 'upper');
    fs.mkdirSync(path.join(upper, 'tmp'), { recursive: true });
    fs.writeFileSync(path.join(upper, 'tmp', '.podvisor-tmpfile-0123456789abcdef'), 'open in the guest');
    fs.writeFileSync(path.join(upper, '.podvisor-tmpfile-fedcba9876543210'), 'open in the guest');
    expect(await listChanges(upper, [])).toEqual([{ Path: '/tmp', Kind: 1 }]);
  });
});
