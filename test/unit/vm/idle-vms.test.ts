/**
 * The registry of held VMs and its file (fake hypervisor): the answer to a boot, a stop that
 * keeps its VM and a removal comes only once held-vms.json says so, since a daemon killed
 * right after answering re-adopts exactly the VMs that file lists (and reclaims the others).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HeldVms } from '../../../src/vm/idle-vms';
import { FakeFactory, FakeHypervisor } from '../../helpers/fake-vm';

let dir: string;
let held: HeldVms;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-held-'));
  held = new HeldVms(
    new FakeFactory(new FakeHypervisor()),
    { size: { memoryMiB: 256, cpus: 1 } },
    path.join(dir, 'held-vms.json'),
  );
});
afterEach(async () => {
  await held.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The ids the file lists now (read at once, as a daemon started after a SIGKILL would). */
function listed(): string[] {
  const file = path.join(dir, 'held-vms.json');
  if (!fs.existsSync(file)) return [];
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { idle: Array<{ id: string }> }).idle.map((v) => v.id);
}

test('boot answers once the file lists the VM; removal once it no longer does', async () => {
  const a = await held.boot();
  expect(listed()).toEqual([a.id]);
  const b = await held.boot({ memoryMiB: 128 });
  expect(listed()).toEqual([a.id, b.id]);
  await held.remove(a.id);
  expect(listed()).toEqual([b.id]);
});

test('a claimed VM leaves the file; given back, it is listed again once saved', async () => {
  const a = await held.boot();
  const vm = held.claim(a.id, 'pod1');
  await held.saved();
  expect(listed()).toEqual([]);
  held.unclaim(vm);
  await held.saved();
  expect(listed()).toEqual([a.id]);
});
