/**
 * `docker build --squash`'s image (src/storage/squash.ts) against real stores: three layers
 * committed one over another are squashed onto the first, and the new image has the first
 * one's layer plus one layer holding what the other two change of it together (a file the
 * upper one deleted that the base never had is not in it; a deletion of a base file and an
 * opaque directory are); its history marks the merged steps empty and ends with dockerd's
 * "merge X to Y" entry; its root unpacks to the same files as the unsquashed image's.
 * Needs root (whiteout devices, trusted.* xattrs).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { ImageService } from '../../../src/storage/service';
import { commitWritableLayer, type CommitStores } from '../../../src/storage/commit';
import { squashImage } from '../../../src/storage/squash';
import { imageInspectJson } from '../../../src/api/v1.41/json/images';
import { tarEntryNames } from '../../helpers/tar-members';

let root: string;
let svc: ImageService;
let stores: CommitStores;

beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-squash-'));
  svc = await ImageService.open(path.join(root, 'data'));
  stores = { content: svc.content, layers: svc.layers, images: svc.store };
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** Write `files` (path -> content, 'WHITEOUT' or 'OPAQUE' for a directory) under a new dir. */
function upper(name: string, files: Record<string, string>): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  for (const [p, v] of Object.entries(files)) {
    const abs = path.join(dir, p);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    if (v === 'WHITEOUT') execFileSync('mknod', [abs, 'c', '0', '0']);
    else if (v === 'OPAQUE') {
      fs.mkdirSync(abs);
      execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', abs]);
    } else if (v.endsWith('/')) fs.mkdirSync(abs, { recursive: true });
    else fs.writeFileSync(abs, v);
  }
  return dir;
}

/** The image's layer directories, top first (overlay lower dirs). */
async function lowers(id: string): Promise<string[]> {
  return (await svc.store.layerDirs(id)).reverse();
}

async function layerEntries(diffId: string): Promise<string[]> {
  const blob = await svc.content.read(svc.layers.get(diffId).blob!.digest);
  return tarEntryNames(Readable.from([zlib.gunzipSync(blob)]));
}

/** What a container of the image sees: an overlay of its layers, read on the host. */
function tree(layerDirs: string[]): Record<string, string> {
  const mnt = fs.mkdtempSync(path.join(root, 'mnt-'));
  const opts =
    layerDirs.length === 1
      ? `lowerdir=${layerDirs[0]}:${fs.mkdtempSync(path.join(root, 'empty-'))}`
      : `lowerdir=${layerDirs.join(':')}`;
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', opts, mnt]);
  try {
    const out: Record<string, string> = {};
    const walk = (rel: string) => {
      for (const n of fs.readdirSync(path.join(mnt, rel)).sort()) {
        const p = rel ? `${rel}/${n}` : n;
        const st = fs.lstatSync(path.join(mnt, p));
        if (st.isDirectory()) {
          out[`${p}/`] = '';
          walk(p);
        } else out[p] = fs.readFileSync(path.join(mnt, p), 'utf8');
      }
    };
    walk('');
    return out;
  } finally {
    execFileSync('umount', [mnt]);
  }
}

async function threeSteps(): Promise<{ base: string; top: string }> {
  const base = await commitWritableLayer(stores, {
    upperDir: upper('u0', { a: 'a0', gone: 'g', 'd/x': 'x', 'keep/k': 'k' }),
    lowerDirs: [],
    config: { Cmd: ['sh'] },
    createdBy: 'base',
  });
  const mid = await commitWritableLayer(stores, {
    upperDir: upper('u1', { a: 'a1', new1: 'n', gone: 'WHITEOUT', 'd/y': 'y' }),
    lowerDirs: await lowers(base),
    parentId: base,
    recordParent: true,
    config: { Cmd: ['sh'] },
    createdBy: 'step 1',
  });
  const top = await commitWritableLayer(stores, {
    upperDir: upper('u2', { new1: 'WHITEOUT', keep: 'OPAQUE', 'keep/z': 'z', later: 'l' }),
    lowerDirs: await lowers(mid),
    parentId: mid,
    recordParent: true,
    config: { Cmd: ['echo', 'top'] },
    createdBy: 'step 2',
  });
  return { base, top };
}

test('squashed onto the base: one layer of what the steps change together, the history marked, the same files', async () => {
  const { base, top } = await threeSteps();
  const id = await squashImage(stores, path.join(root, 'data/build-tmp'), top, base);
  const c = svc.store.config(id);
  const baseDiffs = svc.store.config(base).rootfs.diff_ids;
  expect(c.rootfs.diff_ids).toHaveLength(2);
  expect(c.rootfs.diff_ids[0]).toBe(baseDiffs[0]);
  expect(await layerEntries(c.rootfs.diff_ids[1])).toEqual([
    'a',
    'd/',
    'd/y',
    '.wh.gone',
    'keep/',
    'keep/.wh..wh..opq',
    'keep/z',
    'later',
  ]);
  expect(c.history?.map((h) => [h.created_by, h.empty_layer, h.comment])).toEqual([
    ['base', undefined, undefined],
    ['step 1', true, undefined],
    ['step 2', true, undefined],
    [undefined, undefined, `merge ${top} to ${base}`],
  ]);
  expect(c.config?.Cmd).toEqual(['echo', 'top']);
  // Inspect shows no parent, and the last history entry's comment (the image has none), as dockerd.
  expect(imageInspectJson(svc.store.byId(id)!, [])).toMatchObject({ Parent: '', Comment: `merge ${top} to ${base}` });
  expect(imageInspectJson(svc.store.byId(top)!, []).Comment).toBe('');
  expect(tree(await lowers(id))).toEqual(tree(await lowers(top)));
  expect(tree(await lowers(id))).toEqual({
    a: 'a1',
    'd/': '',
    'd/x': 'x',
    'd/y': 'y',
    'keep/': '',
    'keep/z': 'z',
    later: 'l',
  });
  // The scratch directory of the merge is gone.
  expect(fs.readdirSync(path.join(root, 'data/build-tmp'))).toEqual([]);
});

test('squashed onto nothing: the whole image in one layer, no whiteouts; a non-ancestor is refused', async () => {
  const { base, top } = await threeSteps();
  const id = await squashImage(stores, path.join(root, 'data/build-tmp'), top, undefined);
  const c = svc.store.config(id);
  expect(c.rootfs.diff_ids).toHaveLength(1);
  expect(await layerEntries(c.rootfs.diff_ids[0])).toEqual(['a', 'd/', 'd/x', 'd/y', 'keep/', 'keep/z', 'later']);
  expect(c.history?.[c.history.length - 1]?.comment).toBe(`create new from ${top}`);
  expect(tree(await lowers(id))).toEqual(tree(await lowers(top)));
  const other = await commitWritableLayer(stores, {
    upperDir: upper('u3', { other: 'o' }),
    lowerDirs: [],
    config: {},
    createdBy: 'other',
  });
  await expect(squashImage(stores, path.join(root, 'data/build-tmp'), top, other)).rejects.toThrow(
    `layer ID '${other}' is not a parent of the specified layer`,
  );
  expect(svc.store.byId(base)).toBeDefined();
});
