/**
 * CNI pod networking with real VMs (template clones, as the daemon's pool hands out): two
 * sandboxes on one CNI bridge made by Debian's bridge plugin, each a VM whose NIC's tap is moved
 * into the sandbox's namespace and joined to CNI's eth0 by tc redirects (src/net/cni). The
 * guests take CNI's MAC and address, reach each other and the gateway, and the portmap plugin's
 * hostPort reaches a server in a VM. Nothing may be left: no QEMU, tap, namespace, bridge or rule.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { AgentClient } from '../../src/vm/agent/client';
import { defaultGuestImages } from '../../src/vm/guest-images';
import { QemuHypervisor } from '../../src/vm/qemu/hypervisor';
import type { Vm } from '../../src/vm/types';
import { CniNetworks, type SandboxNetwork } from '../../src/net/cni/sandbox-networks';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { makeBusyboxRootfs, run, spec } from '../helpers/agent-fixtures';
import { DEBIAN_CNI_BIN, iptablesLines, makeCniNet, type TestCniNet } from '../privileged/net/helpers/cni-net';

jest.setTimeout(240_000);

const links = (): string[] =>
  (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as Array<{ ifname: string }>).map(
    (l) => l.ifname,
  );

let execRoot: string;
let hv: QemuHypervisor;
let t: TestCniNet;
let cni: CniNetworks;
const vms: Vm[] = [];
const nets: SandboxNetwork[] = [];
const taps: string[] = [];

/** A busybox container `id` in `vm`. */
async function container(vm: Vm, id: string): Promise<void> {
  const rel = `containers/${id}/rootfs`;
  makeBusyboxRootfs(path.join(vm.shareDir, rel));
  fs.mkdirSync(path.join(vm.shareDir, rel, 'www'));
  fs.writeFileSync(path.join(vm.shareDir, rel, 'www', 'index.html'), `hello from ${id}\n`);
  await vm.agent.createContainer({ id, rootfs: rel });
}

beforeAll(async () => {
  execRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cni-vm-'));
  t = makeCniNet(12);
  cni = new CniNetworks({ confDir: t.confDir, binDirs: [DEBIAN_CNI_BIN], stateDir: path.join(execRoot, 'cni') });
  hv = new QemuHypervisor({
    execRoot,
    ...defaultGuestImages(),
    accel: 'tcg',
    bootTimeoutMs: 30_000,
    connectAgent: (e) => AgentClient.connect(e),
  });
  for (let i = 0; i < 2; i++) {
    const vm = await hv.createVm({ size: { memoryMiB: 256, cpus: 1 }, devices: { nics: 1 } });
    vms.push(vm);
    taps.push(vm.devices.nics[0].tap);
    const id = `pod${i}-${vm.id}`;
    nets.push(
      await cni.setUp({
        id,
        pod: { namespace: 'default', name: `pod${i}`, uid: `uid-${i}` },
        ...(i === 1 ? { portMappings: [{ hostPort: 18932, containerPort: 8080, protocol: 'tcp' as const }] } : {}),
      }),
    );
    await cni.attachVm(id, { tap: vm.devices.nics[0].tap, guestName: 'eth0', agent: vm.agent });
    await container(vm, `c${i}`);
  }
});

afterAll(async () => {
  for (const n of nets) await cni.tearDown(n.id).catch(() => undefined);
  for (const vm of vms) await vm.destroy().catch(() => undefined);
  await hv?.close();
  const ours = listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(execRoot));
  const mounts = mountsUnder(execRoot);
  t.cleanup();
  fs.rmSync(execRoot, { recursive: true, force: true });
  expect(ours).toEqual([]);
  expect(mounts).toEqual([]);
  const left = links();
  expect(left.filter((l) => taps.includes(l) || l === t.name)).toEqual([]);
  expect([...iptablesLines('nat', t.name), ...iptablesLines('nat', `${t.prefix}.`)]).toEqual([]);
  expect(iptablesLines('filter', `${t.prefix}.`)).toEqual([]);
});

describe('VMs on a CNI network', () => {
  it("each guest has CNI's MAC, address and default route on eth0", async () => {
    for (const [i, vm] of vms.entries()) {
      const eth0 = (await vm.agent.listInterfaces()).find((x) => x.name === 'eth0');
      expect(eth0).toMatchObject({ mac: nets[i].mac, address: nets[i].ip, prefix: 24, up: true });
      const r = await run(vm.agent, `c${i}`, ['ip', 'route']);
      expect(r.stdout).toContain(`default via ${t.prefix}.1 dev eth0`);
    }
    expect(nets[0].ip).not.toBe(nets[1].ip);
    // The taps left the host's namespace.
    for (const tap of taps) expect(links()).not.toContain(tap);
  });

  it('two VMs on one CNI bridge ping each other, and the gateway', async () => {
    const r = await run(vms[0].agent, 'c0', ['ping', '-c', '2', '-W', '10', nets[1].ip!]);
    expect(r.stdout).toMatch(/2 packets transmitted, 2 (packets )?received/);
    const g = await run(vms[1].agent, 'c1', ['ping', '-c', '1', '-W', '10', `${t.prefix}.1`]);
    expect(g.status.exitCode).toBe(0);
  });

  it("the portmap plugin's hostPort reaches a server in a VM, from the host and from the other pod", async () => {
    const server = await vms[1].agent.startProcess(spec('c1', ['httpd', '-f', '-v', '-p', '8080', '-h', '/www']));
    try {
      await new Promise((r) => setTimeout(r, 500));
      const body = execFileSync('curl', ['-s', '--max-time', '20', `http://${t.prefix}.1:18932/index.html`], {
        encoding: 'utf8',
      });
      expect(body).toBe('hello from c1\n');
      // The pod's own port, straight across the bridge.
      const r = await run(vms[0].agent, 'c0', ['wget', '-q', '-O', '-', `http://${nets[1].ip}:8080/index.html`]);
      expect(r.stdout).toBe('hello from c1\n');
    } finally {
      await vms[1].agent.signalProcess(server.processId, 9).catch(() => undefined);
    }
  });

  it('tear-down removes the namespace with the tap in it, and the VM is unreachable', async () => {
    await cni.tearDown(nets[1].id);
    expect(fs.existsSync(nets[1].netns)).toBe(false);
    expect(iptablesLines('nat', '--dport 18932')).toEqual([]);
    const r = await run(vms[0].agent, 'c0', ['ping', '-c', '1', '-W', '2', nets[1].ip!]);
    expect(r.status.exitCode).not.toBe(0);
  });
});
