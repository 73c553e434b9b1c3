/**
 * VMs cloned from a template, in real VMs (QemuHypervisor on podvisor's own kernel, TCG here):
 * two VMs of one shape come from one saved template and are nevertheless distinct guests (their
 * own hardware addresses, wall clock, random numbers), their files reach the host at once over
 * 9p, a restarted daemon adopts a clone, and shutting down removes the templates. Nothing may be
 * left behind: no QEMU, no mount, no runtime or template directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentClient } from '../../src/vm/agent/client';
import { defaultGuestImages } from '../../src/vm/guest-images';
import { QemuHypervisor } from '../../src/vm/qemu/hypervisor';
import { vmPaths } from '../../src/vm/qemu/runtime-dir';
import { readVmRecord } from '../../src/vm/qemu/vm-record';
import { templatesRoot } from '../../src/vm/qemu/snapshots/templates';
import type { Vm } from '../../src/vm/types';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { makeBusyboxRootfs, run } from '../helpers/agent-fixtures';

jest.setTimeout(180_000);

const guest = defaultGuestImages();
let execRoot: string;
let hv: QemuHypervisor;
const vms: Vm[] = [];

function hypervisor(): QemuHypervisor {
  return new QemuHypervisor({
    execRoot,
    ...guest,
    accel: 'tcg',
    bootTimeoutMs: 30_000,
    connectAgent: (e) => AgentClient.connect(e),
  });
}

/** A busybox container `id` in `vm`, its rootfs written into the VM's share. */
async function container(vm: Vm, id: string): Promise<string> {
  const rel = `containers/${id}/rootfs`;
  makeBusyboxRootfs(path.join(vm.shareDir, rel));
  await vm.agent.createContainer({ id, rootfs: rel });
  return path.join(vm.shareDir, rel);
}

beforeAll(async () => {
  execRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-templates-'));
  hv = hypervisor();
  for (let i = 0; i < 2; i++) vms.push(await hv.createVm({ size: { memoryMiB: 256, cpus: 1 }, devices: { nics: 1 } }));
});

afterAll(async () => {
  for (const vm of vms) await vm.destroy().catch(() => undefined);
  await hv?.close();
  const templatesLeft = fs.existsSync(templatesRoot(execRoot));
  const ours = listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(execRoot));
  const mounts = mountsUnder(execRoot);
  const vmsLeft = fs.existsSync(path.join(execRoot, 'vms')) ? fs.readdirSync(path.join(execRoot, 'vms')) : [];
  fs.rmSync(execRoot, { recursive: true, force: true });
  expect(templatesLeft).toBe(false);
  expect(ours).toEqual([]);
  expect(mounts).toEqual([]);
  expect(vmsLeft).toEqual([]);
});

describe('VM templates', () => {
  it('the own kernel can be cloned (bootstrap builds it with 9p)', () => {
    expect(guest.templates).toBe(true);
  });

  it('two VMs of one shape are clones of one saved template, each with its own hardware address', async () => {
    const keys = fs.readdirSync(templatesRoot(execRoot));
    expect(keys).toHaveLength(1);
    expect(fs.readdirSync(path.join(templatesRoot(execRoot), keys[0])).sort()).toEqual(['ram', 'state']);
    for (const vm of vms) expect(readVmRecord(vmPaths(execRoot, vm.id))?.transport).toBe('9p');
    const macs = await Promise.all(
      vms.map(async (vm) => (await vm.agent.listInterfaces()).find((i) => i.name === 'eth0')?.mac),
    );
    expect(macs).toEqual(vms.map((vm) => vm.devices.nics[0].mac));
    expect(macs[0]).not.toBe(macs[1]);
  });

  it("each clone runs containers with the host's time and random numbers of its own", async () => {
    const out: string[] = [];
    for (const [i, vm] of vms.entries()) {
      await container(vm, `rng${i}`);
      const r = await run(vm.agent, `rng${i}`, [
        'sh',
        '-c',
        'date +%s; head -c 32 /dev/urandom | od -An -tx1 | tr -d " \\n"',
      ]);
      expect(r.status).toEqual({ exitCode: 0 });
      const [secs, random] = r.stdout.split('\n');
      expect(Math.abs(Number(secs) - Date.now() / 1000)).toBeLessThan(30);
      expect(random).toMatch(/^[0-9a-f]{64}$/);
      out.push(random);
    }
    expect(out[0]).not.toBe(out[1]);
  });

  it('files cross the 9p share at once, both ways, with owners and modes', async () => {
    const vm = vms[0];
    const root = await container(vm, 'files');
    const r = await run(vm.agent, 'files', [
      'sh',
      '-c',
      'echo from-guest > /g; chown 1000:1000 /g; chmod 640 /g; cat /h 2>&1; true',
    ]);
    expect(r.status).toEqual({ exitCode: 0 });
    const st = fs.statSync(path.join(root, 'g'));
    expect(fs.readFileSync(path.join(root, 'g'), 'utf8')).toBe('from-guest\n');
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([1000, 1000, 0o640]);
    // A file the host makes after a failed lookup in the guest is seen (no negative dentry kept).
    fs.writeFileSync(path.join(root, 'h'), 'from-host\n');
    expect((await run(vm.agent, 'files', ['cat', '/h'])).stdout).toBe('from-host\n');
  });

  it('a restarted daemon adopts a clone and talks to its agent', async () => {
    const vm = vms[1];
    vm.agent.close();
    const next = hypervisor();
    const adopted = await next.adopt(vm.id);
    expect(adopted?.id).toBe(vm.id);
    await adopted!.agent.ping();
    vms[1] = adopted!;
    await next.close();
  });
});
