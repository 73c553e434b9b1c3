/**
 * The VM share interface (src/vm/share/vm-share.ts) over a stand-in VM: a shared source is
 * mounted in the guest under the volume share's tag at a name keyed with the VM's secret (one
 * per source and access mode, another in another VM, the key kept beside the share where no
 * guest reaches it); a VM booted without a volume share refuses to share; a container's rootfs
 * has one place in the rootfs share, the same for the host and the agent.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { vmShare } from '../../../../src/vm/share/vm-share';
import type { ContainerMount } from '../../../../src/vm/agent-types';
import type { Vm } from '../../../../src/vm/types';

let dir: string;

beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pv-vm-share-')));
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A VM whose volume share is `<dir>/<name>/volumes` (none when `volumes` is false), and the guest mounts it was asked. */
function standInVm(name: string, volumes = true): { vm: Vm; mounts: ContainerMount[] } {
  const vmDir = path.join(dir, name);
  fs.mkdirSync(path.join(vmDir, 'volumes'), { recursive: true });
  const mounts: ContainerMount[] = [];
  const agent = { mount: async (m: ContainerMount) => void mounts.push(m) };
  const devices = volumes
    ? { volumes: { hostDir: path.join(vmDir, 'volumes'), tag: 'podvisor-vol', cache: 'auto' } }
    : {};
  const vm = { id: name, shareDir: path.join(vmDir, 'share'), agent, devices } as unknown as Vm;
  return { vm, mounts };
}

test('a shared source is mounted under the share tag at a name keyed per source, mode and VM', async () => {
  const a = standInVm('a');
  const share = vmShare(a.vm);
  share.prepare();
  // The VM's key: beside the share, the daemon's alone.
  const key = fs.statSync(path.join(dir, 'a', 'volumes.key'));
  expect(key.mode & 0o777).toBe(0o600);
  expect(key.size).toBe(32);
  await share.mountIn('c1', '/data', { source: '/srv/data', readOnly: false });
  await share.mountIn('c2', '/data', { source: '/srv/data', readOnly: false });
  await share.mountIn('c2', '/ro', { source: '/srv/data', readOnly: true });
  const [rw1, rw2, ro] = a.mounts;
  expect(rw1).toMatchObject({ containerId: 'c1', path: '/data', fstype: 'virtiofs', source: 'podvisor-vol' });
  expect(rw1.subpath).toMatch(/^src\/[0-9a-f]{32}$/);
  // Two containers of one VM reach one source through one name; read-only is another copy.
  expect(rw2.subpath).toBe(rw1.subpath);
  expect(ro).toMatchObject({ readOnly: true });
  expect(ro.subpath).not.toBe(rw1.subpath);
  // Another VM's key gives the same source another name: a guest cannot compute it.
  const b = standInVm('b');
  await vmShare(b.vm).mountIn('c3', '/data', { source: '/srv/data', readOnly: false });
  expect(b.mounts[0].subpath).not.toBe(rw1.subpath);
  // A restarted daemon (the module loaded anew, nothing cached) reads the same key: the same
  // names, so it finds the copies made before.
  let again: typeof vmShare | undefined;
  await jest.isolateModulesAsync(async () => {
    again = (await import('../../../../src/vm/share/vm-share')).vmShare;
  });
  expect(again).not.toBe(vmShare);
  const later = standInVm('a');
  await again!(later.vm).mountIn('c4', '/data', { source: '/srv/data', readOnly: false });
  expect(later.mounts[0].subpath).toBe(rw1.subpath);
});

test('a VM booted without a volume share refuses to share, and mounts nothing', async () => {
  const { vm, mounts } = standInVm('none', false);
  expect(() => vmShare(vm).prepare()).toThrow('VM none has no volume share');
  await expect(vmShare(vm).mountIn('c1', '/data', { source: '/srv/data', readOnly: false })).rejects.toThrow(
    'VM none has no volume share',
  );
  expect(mounts).toEqual([]);
  expect(fs.existsSync(path.join(dir, 'none', 'volumes.key'))).toBe(false);
});

test("a container's rootfs has one place in the rootfs share, for the host and the agent", () => {
  const { vm } = standInVm('r');
  const place = vmShare(vm).rootfs('c1');
  expect(place.guest).toBe('containers/c1/rootfs');
  expect(place.host).toEqual({ root: path.join(dir, 'r', 'share'), rel: 'containers/c1/rootfs' });
});

test('unsharing a copy another container made leaves it', async () => {
  const { vm } = standInVm('u');
  // Nothing to unmount: no mount helper is asked (none runs in this test).
  await expect(vmShare(vm).unshare({ subpath: 'src/0123', made: false })).resolves.toBeUndefined();
});
