/**
 * LinkHelper on real links (root, no VM): a tap put on a bridge with an MTU and up in one
 * request, taken off again, the kernel's error for a missing link or bridge or a bad MTU,
 * many requests answered in order, and a helper killed under it replaced on the next call;
 * and links.ts's attach and detach, which use it, as the network manager sees them.
 */
import { execFileSync } from 'node:child_process';
import { LinkHelper } from '../../../src/net/link-helper';
import { attachToBridge, detachFromBridge } from '../../../src/net/links';

const tag = (process.pid % 10000).toString(16).padStart(4, '0');
const BRIDGE = `pvt-${tag}-lbr`;
const TAP = `pvt-${tag}-ltap`;

interface LinkJson {
  ifname: string;
  mtu: number;
  master?: string;
  flags: string[];
}

function link(name: string): LinkJson {
  return (JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'dev', name], { encoding: 'utf8' })) as LinkJson[])[0];
}

let helper: LinkHelper;

beforeEach(() => {
  execFileSync('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  execFileSync('ip', ['tuntap', 'add', 'dev', TAP, 'mode', 'tap']);
  helper = new LinkHelper();
});

afterEach(() => {
  helper.close();
  for (const l of [TAP, BRIDGE]) {
    try {
      execFileSync('ip', ['link', 'del', 'dev', l], { stdio: 'ignore' });
    } catch {
      // gone already
    }
  }
});

test('puts a tap on a bridge with an MTU and up in one request, and takes it off again', async () => {
  expect(link(TAP).master).toBeUndefined();
  await helper.set(TAP, { mtu: 1400, master: BRIDGE, up: true });
  let l = link(TAP);
  expect(l.master).toBe(BRIDGE);
  expect(l.mtu).toBe(1400);
  expect(l.flags).toContain('UP');
  await helper.set(TAP, { master: null });
  l = link(TAP);
  expect(l.master).toBeUndefined();
  expect(l.mtu).toBe(1400); // fields not named are left alone
  expect(l.flags).toContain('UP');
  await helper.set(TAP, { up: false });
  expect(link(TAP).flags).not.toContain('UP');
});

test("answers with the kernel's error and changes nothing", async () => {
  await expect(helper.set(`pvt-${tag}-none`, { up: true })).rejects.toThrow(/No such device/);
  await expect(helper.set(TAP, { master: `pvt-${tag}-nobr` })).rejects.toThrow(/No such device/);
  await expect(helper.set(TAP, { mtu: 10, master: BRIDGE })).rejects.toThrow(/Invalid argument/);
  expect(link(TAP).master).toBeUndefined();
  expect(link(TAP).mtu).toBe(1500);
  // The helper still answers after errors.
  await helper.set(TAP, { mtu: 1300 });
  expect(link(TAP).mtu).toBe(1300);
});

test('answers many requests sent at once, in order', async () => {
  const mtus = Array.from({ length: 50 }, (_, i) => 1200 + i);
  await Promise.all(mtus.map((mtu) => helper.set(TAP, { mtu })));
  expect(link(TAP).mtu).toBe(1249);
});

test('a helper killed under it is replaced on the next request', async () => {
  await helper.set(TAP, { up: true });
  const pid = (helper as unknown as { helper: { pid?: number } }).helper.pid;
  expect(pid).toBeGreaterThan(0);
  process.kill(pid!, 'SIGKILL');
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid!, 0);
      await new Promise((r) => setTimeout(r, 10));
    } catch {
      break;
    }
  }
  // The kill may be noticed by this request (it fails) or before it; the next one works.
  await helper.set(TAP, { mtu: 1450 }).catch(() => undefined);
  await helper.set(TAP, { mtu: 1450 });
  expect(link(TAP).mtu).toBe(1450);
});

test("attachToBridge and detachFromBridge (the network manager's tap attachment); detaching a link that is gone is fine", async () => {
  await attachToBridge(TAP, BRIDGE, 1450);
  expect(link(TAP)).toMatchObject({ master: BRIDGE, mtu: 1450 });
  expect(link(TAP).flags).toContain('UP');
  await detachFromBridge(TAP);
  expect(link(TAP).master).toBeUndefined();
  await expect(detachFromBridge(`pvt-${tag}-none`)).resolves.toBeUndefined();
  await expect(attachToBridge(`pvt-${tag}-none`, BRIDGE, 1500)).rejects.toThrow(/Cannot find device|does not exist/);
});
