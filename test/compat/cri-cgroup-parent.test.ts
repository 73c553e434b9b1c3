/**
 * The CRI sandbox's cgroup_parent (LinuxPodSandboxConfig), as a kubelet with the cgroupfs
 * driver passes it (`/kubepods/besteffort/pod<uid>`): the sandbox's VM (its QEMU) is in a
 * host cgroup under it, in the memory and pids hierarchies; once the sandbox is removed no VM
 * cgroup is left under it (the parent stays, as runc leaves it: the test removes its own).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startCriTestDaemon, stopCriTestDaemon, type CriTestDaemon } from '../helpers/cri-daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { cgroupLayout } from '../../src/vm/qemu/confinement/vm-cgroup';

jest.setTimeout(300_000);

const BUSYBOX = `${fixtureRegistry()}/busybox:latest`;
const layout = cgroupLayout();

let h: CriTestDaemon;

beforeAll(async () => {
  h = await startCriTestDaemon('podvisor-cri-cgparent-', 23, BUSYBOX);
});

afterAll(() => stopCriTestDaemon(h));

/** The VM cgroup directories below `parent` (a path from each hierarchy's root), in the memory and pids hierarchies. */
function vmCgroupsUnder(parent: string): string[] {
  return [...new Set([path.dirname(layout!.parents.memory), path.dirname(layout!.parents.pids)])].flatMap((root) => {
    const dir = path.join(root, parent);
    try {
      return fs
        .readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => path.join(dir, e.name));
    } catch {
      return [];
    }
  });
}

test("the sandbox's VM is in a cgroup under the kubelet's pod cgroup; none is left once it is removed", async () => {
  const top = `/pv-test-kubepods-${crypto.randomBytes(4).toString('hex')}`;
  const parent = `${top}/besteffort/poduid-cg`;
  const config = {
    metadata: { name: 'cg', uid: 'uid-cg', namespace: 'default', attempt: 0 },
    hostname: 'cg',
    log_directory: path.join(h.dir, 'logs', 'cg'),
    linux: { cgroup_parent: parent },
  };
  let sid = '';
  try {
    ({ pod_sandbox_id: sid } = await h.cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config }, 240_000));
    const st = await h.cri.runtime<{ info: { info: string } }>('PodSandboxStatus', {
      pod_sandbox_id: sid,
      verbose: true,
    });
    const vm = (JSON.parse(st.info.info) as { vm: string }).vm;
    const record = JSON.parse(fs.readFileSync(path.join(h.daemon.execRoot, 'vms', vm, 'vm.json'), 'utf8')) as {
      qemuPid: number;
    };
    const lines = fs.readFileSync(`/proc/${record.qemuPid}/cgroup`, 'utf8').split('\n');
    for (const c of ['memory', 'pids'])
      expect(lines.find((l) => (layout!.kind === 'unified' ? l.startsWith('0::') : l.split(':')[1] === c))).toMatch(
        new RegExp(`:${parent}/[0-9a-f]{10}-[0-9a-f]+$`),
      );
    for (const dir of vmCgroupsUnder(parent))
      expect(fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(record.qemuPid));

    await h.cri.runtime('StopPodSandbox', { pod_sandbox_id: sid });
    await h.cri.runtime('RemovePodSandbox', { pod_sandbox_id: sid });
    sid = '';
    for (let i = 0; i < 300 && vmCgroupsUnder(parent).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(vmCgroupsUnder(parent)).toEqual([]);
  } finally {
    if (sid) await h.cri.runtime('RemovePodSandbox', { pod_sandbox_id: sid }).catch(() => undefined);
    for (let i = 0; i < 300 && vmCgroupsUnder(parent).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    for (const root of new Set([path.dirname(layout!.parents.memory), path.dirname(layout!.parents.pids)]))
      for (const p of [parent, `${top}/besteffort`, top]) {
        try {
          fs.rmdirSync(path.join(root, p));
        } catch {
          // not there (the sandbox never started), or still busy: the assertions above say why
        }
      }
  }
});
