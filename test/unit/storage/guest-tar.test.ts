/**
 * The host's side of block mode's archives (src/storage/archive/guest-tar.ts, guest.ts): a
 * tar that a guest sent is checked and re-packed (hostile names, types, sizes and hard links
 * refused), docker diff is computed from a layer tar as from an upper directory, and commit
 * leaves out what dockerd never commits. The guest here is a tar made by the test.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { checkedTar, committedLayer, layerChanges } from '../../../src/storage/archive/guest-tar';
import { parseGuestStat } from '../../../src/storage/archive/guest';

type Entry = Partial<tar.Header> & { name: string; body?: string };

/** A tar of `entries` as a guest might send it (raw headers: nothing cleaned). */
async function guestTar(entries: Entry[]): Promise<Readable> {
  const pack = tar.pack();
  for (const e of entries) {
    const { body, ...h } = e;
    pack.entry({ ...h, mode: h.mode ?? 0o644 }, body ?? ''); // queued: the pack is read only afterwards
  }
  pack.finalize();
  return Readable.from(pack);
}

/** The entries of a tar stream: name, type, body. */
async function read(s: Readable): Promise<Array<{ name: string; type: string; body: string }>> {
  const x = tar.extract();
  const out: Array<{ name: string; type: string; body: string }> = [];
  s.on('error', (e) => x.destroy(e));
  s.pipe(x);
  for await (const e of x) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.push({ name: e.header.name, type: e.header.type as string, body: Buffer.concat(chunks).toString() });
  }
  return out;
}

const LIMITS = { maxBytes: 1 << 20 };

describe('checkedTar', () => {
  it('re-packs a good tar, long names and hard links included', async () => {
    const long = `d/${'n'.repeat(150)}`;
    const out = await read(
      checkedTar(
        await guestTar([
          { name: 'd/', type: 'directory' },
          { name: long, body: 'x' },
          { name: 'd/l', type: 'link', linkname: long },
          { name: 'd/s', type: 'symlink', linkname: '/etc' },
        ]),
        LIMITS,
        'd',
      ),
    );
    expect(out.map((e) => [e.name, e.type])).toEqual([
      ['d/', 'directory'],
      [long, 'file'],
      ['d/l', 'link'],
      ['d/s', 'symlink'],
    ]);
    expect(out[1].body).toBe('x');
  });

  it.each([
    ['a name that climbs out', [{ name: '../evil', body: 'x' }], /leaves the archive/],
    ['an absolute name', [{ name: '/etc/passwd', body: 'x' }], /leaves the archive/],
    ['a name outside the copied path', [{ name: 'other', body: 'x' }], /is not under "d"/],
    ['a type the guest may not send', [{ name: 'd/x', type: 'contiguous-file' as const }], /has type/],
    [
      'a hard link to an entry it lacks',
      [{ name: 'd/l', type: 'link' as const, linkname: 'd/nope' }],
      /which the archive lacks/,
    ],
    ['more file data than the budget', [{ name: 'd/big', body: 'x'.repeat(2 << 20) }], /more than 1048576 bytes/],
  ])('refuses %s', async (_what, entries, why) => {
    await expect(read(checkedTar(await guestTar(entries as Entry[]), LIMITS, 'd'))).rejects.toThrow(why);
  });

  it('fails on a stream that is not a tar', async () => {
    await expect(read(checkedTar(Readable.from([Buffer.alloc(600, 0x41)]), LIMITS))).rejects.toThrow();
  });
});

describe('layer tars', () => {
  let lower: string;
  beforeAll(() => {
    lower = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-guest-tar-'));
    fs.mkdirSync(path.join(lower, 'etc/keep'), { recursive: true });
    fs.writeFileSync(path.join(lower, 'etc/issue'), 'x');
    fs.writeFileSync(path.join(lower, 'etc/debian_version'), '12');
    fs.writeFileSync(path.join(lower, 'etc/keep/old'), 'x');
    fs.mkdirSync(path.join(lower, 'usr/share'), { recursive: true });
  });
  afterAll(() => fs.rmSync(lower, { recursive: true, force: true }));

  /** What a guest's LAYER sends for: a changed, a deleted and a new file, an opaque dir, runtime files. */
  const layer = (): Promise<Readable> =>
    guestTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/debian_version', body: '13' },
      { name: 'etc/hostname', body: 'h' },
      { name: 'etc/hosts', body: 'h' },
      { name: 'etc/.wh.issue', body: '' },
      { name: 'etc/keep/', type: 'directory' },
      { name: 'etc/keep/.wh..wh..opq', body: '' },
      { name: 'etc/keep/new', body: 'n' },
      { name: 'made/', type: 'directory' },
      { name: 'made/.wh.ghost', body: '' },
      { name: 'made/f', body: 'f' },
      { name: 'proc/', type: 'directory' },
      { name: 'usr/', type: 'directory' },
      { name: 'usr/share/', type: 'directory' },
    ]);

  it('gives docker diff as an upper directory would', async () => {
    const changes = await layerChanges(await layer(), [lower], LIMITS);
    expect(changes).toEqual([
      { Path: '/etc', Kind: 0 },
      { Path: '/etc/debian_version', Kind: 0 },
      { Path: '/etc/hostname', Kind: 1 },
      { Path: '/etc/hosts', Kind: 1 },
      { Path: '/etc/issue', Kind: 2 },
      { Path: '/etc/keep', Kind: 0 },
      { Path: '/etc/keep/new', Kind: 1 },
      { Path: '/made', Kind: 1 },
      { Path: '/made/f', Kind: 1 },
      { Path: '/proc', Kind: 1 },
      { Path: '/usr', Kind: 0 },
      { Path: '/usr/share', Kind: 0 },
    ]);
  });

  it('refuses file data in a headers-only layer', async () => {
    await expect(layerChanges(await guestTar([{ name: 'f', body: 'data' }]), [lower], { maxBytes: 0 })).rejects.toThrow(
      /more than 0 bytes/,
    );
  });

  it('commits the changes less runtime files, copy-ups and runtime mount points', async () => {
    const t = committedLayer(await layer(), [lower], LIMITS);
    const out = await read(t.stream);
    expect(out.map((e) => e.name)).toEqual([
      'etc/',
      'etc/debian_version',
      'etc/.wh.issue',
      'etc/keep/',
      'etc/keep/.wh..wh..opq',
      'etc/keep/new',
      'made/',
      'made/f',
    ]);
    expect(out[1].body).toBe('13');
    expect(await t.entries).toBe(8);
  });

  it('commits nothing for a layer of copy-ups and runtime files only', async () => {
    const t = committedLayer(
      await guestTar([
        { name: 'etc/', type: 'directory' },
        { name: 'etc/hostname', body: 'h' },
        { name: 'usr/', type: 'directory' },
      ]),
      [lower],
      LIMITS,
    );
    expect(await read(t.stream)).toEqual([]);
    expect(await t.entries).toBe(0);
  });
});

describe('parseGuestStat', () => {
  it("turns the guest's stat line into dockerd's path stat", () => {
    expect(parseGuestStat('41453 4 1700000000 500000000\n/etc', 'l')).toEqual({
      name: 'l',
      size: 4,
      mode: 2 ** 27 + 0o755,
      mtime: '2023-11-14T22:13:20.5Z',
      linkTarget: '/etc',
    });
    expect(parseGuestStat('16877 4096 0 0\n', '/').mode).toBe(2 ** 31 + 0o755);
  });

  it.each(['', 'x 1 2 3\n', '16877 1 2 3\nrelative', `16877 1 2 3\n/${'a'.repeat(5000)}`])(
    'refuses a malformed answer %#',
    (text) => {
      expect(() => parseGuestStat(text, 'x')).toThrow(/bad stat/);
    },
  );
});
