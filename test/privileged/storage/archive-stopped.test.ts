/**
 * `docker cp` out of a container just stopped, whose root the stop's teardown unmounts in the
 * background: when the unmount lands between the archive service's "is its root mounted?" and
 * its open of that root, what it opened is the empty directory under the mount. The file is
 * then read from the root mounted on its own, as for any stopped container, not reported
 * missing (seen in CI as `docker cp` failing right after `docker stop` with the 9p layer).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { OverlayRootfs } from '../../../src/storage/rootfs';
import { ContainerArchive } from '../../../src/storage/archive/service';
import * as mounter from '../../../src/util/mounter';
import { mountsUnder } from '../../helpers/leaks';

let tmp: string;
let rootfs: OverlayRootfs;

beforeEach(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-archive-stopped-'));
  const layer = path.join(tmp, 'layers', 'a'.repeat(64), 'diff');
  fs.mkdirSync(path.join(layer, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(layer, 'etc', 'hostname'), 'box\n');
  rootfs = new OverlayRootfs(path.join(tmp, 'containers'));
  await rootfs.prepare('c1', [layer]);
  fs.mkdirSync(path.join(tmp, 'share'), { mode: 0o700 });
});
afterEach(() => {
  jest.restoreAllMocks();
  for (const m of mountsUnder(tmp).reverse()) execFileSync('umount', ['-l', m]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function text(s: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('latin1');
}

test('a root unmounted between the check and the open is read from its own mount, not found empty', async () => {
  const target = { root: path.join(tmp, 'share'), rel: 'c1/rootfs' };
  await rootfs.mount('c1', target);
  const merged = path.join(target.root, target.rel);
  expect(fs.readFileSync(path.join(merged, 'etc', 'hostname'), 'utf8')).toBe('box\n');
  // The teardown's unmount, landed right after the service saw the root mounted.
  execFileSync('umount', [merged]);
  const real = mounter.isMountPoint;
  jest.spyOn(mounter, 'isMountPoint').mockImplementation((dir) => dir === merged || real(dir));

  const archive = new ContainerArchive(rootfs);
  const { stat, tar } = await archive.get('c1', 'c1', '/etc/hostname');
  expect(stat.name).toBe('hostname');
  const body = await text(tar);
  expect(body).toContain('hostname');
  expect(body).toContain('box\n');
});
