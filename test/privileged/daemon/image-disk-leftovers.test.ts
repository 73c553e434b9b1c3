/**
 * A killed daemon's image disk make, as it is left on the host (real mounts, a real process),
 * removed at the next start (src/daemon/image-disk-leftovers.ts): its mkfs.ext4 killed, its
 * temporary file gone, its tree unmounted however many times it was mounted there; a user's
 * mount in the same directory, and a mount a symlink of a make's name leads to, stay.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { removeInterruptedMakes } from '../../../src/daemon/image-disk-leftovers';
import { ImageDisks, makeScratch } from '../../../src/storage/image-disks/image-disks';
import { Mounter } from '../../../src/util/mounter';
import { mountsUnder } from '../../helpers/leaks';

let tmp: string;
const mounter = new Mounter();

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-leftovers-'));
});

afterEach(() => {
  // Only after a failed test is anything still mounted here.
  for (const m of mountsUnder(tmp).reverse()) execFileSync('umount', ['-l', m]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

afterAll(() => mounter.close());

const bind = (from: string, to: string) => execFileSync('mount', ['--bind', '-o', 'ro', from, to]);

test("the make's process, temporary file and stacked tree mount go; a user's mount and a symlink's target stay", async () => {
  const dir = path.join(tmp, 'image-disks');
  fs.mkdirSync(dir);
  const layer = path.join(tmp, 'layer');
  fs.mkdirSync(layer);
  fs.writeFileSync(path.join(layer, 'file'), 'layer\n');
  const a = makeScratch(path.join(dir, `${'a'.repeat(64)}.ext4`));
  fs.writeFileSync(a.tmp, 'half a filesystem');
  fs.mkdirSync(a.tree);
  bind(layer, a.tree);
  bind(layer, a.tree);
  // A user's mount beside the disks, and a mount a symlink of a make's name leads to.
  const userMnt = path.join(dir, 'user-mnt');
  fs.mkdirSync(userMnt);
  bind(layer, userMnt);
  const elsewhere = path.join(tmp, 'elsewhere');
  fs.mkdirSync(elsewhere);
  bind(layer, elsewhere);
  const b = makeScratch(path.join(dir, `${'b'.repeat(64)}.ext4`));
  fs.symlinkSync(elsewhere, b.tree);
  // The make's mkfs.ext4, still running: a process of that name whose last argument is the file.
  const mkfs = spawn('perl', ['-e', 'sleep 600', a.tmp], { argv0: 'mkfs.ext4', stdio: 'ignore' });
  const gone = new Promise((r) => mkfs.once('exit', (_code, signal) => r(signal)));
  await new Promise((r) => mkfs.once('spawn', r));
  const disks = new ImageDisks(dir, 8 << 20);
  expect(await removeInterruptedMakes(disks, { mounter })).toBe(2);
  expect(await gone).toBe('SIGKILL');
  expect(mountsUnder(tmp).sort()).toEqual([elsewhere, userMnt]);
  expect(fs.readdirSync(dir)).toEqual(['user-mnt']);
  expect(fs.readFileSync(path.join(userMnt, 'file'), 'utf8')).toBe('layer\n');
  expect(fs.readFileSync(path.join(elsewhere, 'file'), 'utf8')).toBe('layer\n');
});
