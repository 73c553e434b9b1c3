/**
 * Reconcile on real plumbing: a daemon that opens the networks of a data root after a crash
 * deletes the links of that root no record needs, keeps the bridges the records name, and
 * leaves the rules single (one jump per built-in chain). Needs root.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NetworkManager } from '../../../src/net/manager';
import { LinuxNetHost, removeAllOwned } from '../../../src/net/host';
import { createTap, ownedLinks } from '../../../src/net/links';
import { firewallOwner, listPodvisorRules } from '../../../src/net/firewall';

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-netrec-'));
});
afterAll(async () => {
  await removeAllOwned(root);
  expect(await ownedLinks(root)).toEqual([]);
  fs.rmSync(root, { recursive: true, force: true });
});

test('a second open, as after SIGKILL, removes a stale tap and keeps one set of rules', async () => {
  const m1 = await NetworkManager.open(root, new LinuxNetHost(root));
  const bridge = m1.get('bridge').bridge;
  const stale = `pvt${(process.pid % 10000).toString(16)}s`;
  await createTap(stale, root);
  expect((await ownedLinks(root)).map((l) => l.name).sort()).toEqual([bridge, stale].sort());
  // No shutdown: the first "daemon" died.
  const m2 = await NetworkManager.open(root, new LinuxNetHost(root));
  expect(m2.get('bridge').id).toBe(m1.get('bridge').id);
  expect((await ownedLinks(root)).map((l) => l.name)).toEqual([bridge]);
  const jumps = (await listPodvisorRules()).filter((l) => l.includes(`--comment "${firewallOwner(root).comment}"`));
  expect(jumps.length).toBe(4);
  await m2.shutdown();
  expect(await ownedLinks(root)).toEqual([]);
  expect((await listPodvisorRules()).filter((l) => l.includes(firewallOwner(root).forward.slice(0, 11)))).toEqual([]);
});

test('daemons opened at the same moment each get a subnet of their own, and so do their networks created at once', async () => {
  const roots = [0, 1, 2].map(() => fs.mkdtempSync(path.join(os.tmpdir(), 'pv-netrace-')));
  const managers: NetworkManager[] = [];
  try {
    managers.push(...(await Promise.all(roots.map((r) => NetworkManager.open(r, new LinuxNetHost(r))))));
    const defaults = managers.map((m) => m.get('bridge').ipam.subnet);
    expect(new Set(defaults).size).toBe(3);
    const created = await Promise.all(managers.map((m, i) => m.create({ name: `race${i}` })));
    const all = [...defaults, ...created.map((n) => n.ipam.subnet)];
    expect(new Set(all).size).toBe(6);
  } finally {
    for (const m of managers) await m.shutdown();
    for (const r of roots) {
      await removeAllOwned(r);
      fs.rmSync(r, { recursive: true, force: true });
    }
  }
});
