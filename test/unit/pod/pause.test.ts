/**
 * A CRI sandbox's infra container as the agent's pause (src/pod/lifecycle/sandbox.ts `pausePod`), on the
 * fake hypervisor with a stand-in for the node's CNI network: no rootfs mounted, CREATE_CONTAINER
 * with `podPause` and no rootfs, `/pause` as its init; the record keeps the image's container,
 * so a restarted daemon adopts the sandbox as any pod. The real agent's side (the pause as PID
 * 1 that a joined container sees, reaping, TERM) is test/conformance's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { harness, type Harness } from './fakes';
import { RECORD_FILE } from '../../../src/storage/state';
import { mainContainer, podPhase, type PodSpec } from '../../../src/pod/types';
import { FakeHypervisor } from '../../helpers/fake-vm';
import type { SandboxNetwork, SandboxVmNic } from '../../../src/net/cni/sandbox-networks';

let h: Harness;
const torn: string[] = [];
/** Whether the pause was made in the guest when the VM's NIC was joined to the CNI interface. */
let pauseAtAttach: boolean | undefined;
const cni = {
  setUp: async (req: { id: string }, vm?: SandboxVmNic): Promise<SandboxNetwork> => {
    // The set-up joins the VM's NIC (the tap moved in, the guest's interface configured).
    if (vm) pauseAtAttach = [...h.hv.guests.values()].some((g) => g.containers.size > 0);
    return { id: req.id, ip: '10.88.0.7' } as unknown as SandboxNetwork;
  },
  tearDown: async (id: string) => {
    torn.push(id);
  },
};

beforeEach(async () => {
  torn.length = 0;
  pauseAtAttach = undefined;
  h = await harness(new FakeHypervisor(), { cni });
});
afterEach(async () => {
  // A case that failed before its stop leaves the pause running (it would keep jest alive).
  for (const g of h.hv.guests.values()) for (const p of g.processes.values()) if (p.running) p.signal(9);
  await h.cleanup();
});

/** A CRI sandbox's pod spec (as the CRI front's create makes it: the sandbox image, a CNI plan). */
async function sandboxSpec(sysctls: Record<string, string> = {}): Promise<PodSpec> {
  const one = await h.create({ Image: 'busybox', Cmd: ['sh'], Hostname: 'web-0', OpenStdin: true });
  await h.pods.remove(one.id, { force: true });
  const spec = structuredClone({ ...one.sandbox.spec, containers: [mainContainer(one).spec] }) as PodSpec;
  spec.cni = { pod: { namespace: 'default', name: 'web-0', uid: 'uid-1' }, portMappings: [] };
  const c = spec.containers[0];
  if (c.security) c.security.sysctls = sysctls;
  return spec;
}

function guestOf(id: string) {
  return h.hv.guests.get(h.pods.get(id).sandbox.vmId as string)!;
}

test.each([
  ['without sysctls (started beside the network join)', {}],
  ['with sysctls (started after it)', { 'kernel.shm_rmid_forced': '1' }],
])("a CRI sandbox's infra container is the agent's pause, %s", async (_, sysctls) => {
  const spec = await sandboxSpec(sysctls);
  const r = await h.pods.create(spec, 'sb', null);
  await h.pods.start('sb');
  expect(podPhase(h.pods.get('sb'))).toBe('running');
  // Beside the join unless it has sysctls to write (those wait for the VM on its network).
  expect(pauseAtAttach).toBe(Object.keys(sysctls).length === 0);
  // No image mounted for it, and the agent made it without a rootfs.
  expect(h.rootfs.mounted.has(r.id)).toBe(false);
  const guest = guestOf('sb');
  const created = guest.containers.get(r.id)!.spec;
  expect(created).toMatchObject({ id: r.id, podPause: true, hostname: 'web-0' });
  expect(created.rootfs).toBeUndefined();
  expect(created.upperDisk).toBeUndefined();
  expect(created.security?.sysctls).toEqual(Object.entries(sysctls).map(([k, v]) => `${k}=${v}`));
  const init = [...guest.processes.values()].find((p) => p.spec.containerId === r.id)!;
  expect(init.spec).toMatchObject({ args: ['/pause'], stdin: false, terminal: false, cwd: '/' });
  expect(init.spec.user).toEqual({ uid: 0, gid: 0, additionalGids: [] });
  // The host's copies of the hosts files, which the sandbox's containers take.
  const dir = path.join(h.root, 'containers', r.id);
  expect(fs.readFileSync(path.join(dir, 'hosts'), 'utf8')).toContain('10.88.0.7\tweb-0');
  // Stopped: TERM ends the pause with 0; the network goes with the VM (its teardown ends
  // after the stop answers).
  await h.pods.stop('sb', 10);
  expect(mainContainer(h.pods.get('sb')).state).toMatchObject({ status: 'exited', exitCode: 0 });
  for (let i = 0; i < 200 && torn.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
  expect(torn).toEqual([r.id]);
});

test('the record keeps the image container (no podPause): a restarted daemon adopts the sandbox as it ran', async () => {
  const spec = await sandboxSpec();
  const r = await h.pods.create(spec, 'sb', null);
  await h.pods.start('sb');
  await h.state.flush();
  const onDisk = JSON.parse(fs.readFileSync(path.join(h.state.root, r.id, RECORD_FILE), 'utf8'));
  expect(JSON.stringify(onDisk)).not.toContain('podPause');
  expect(onDisk.containers[r.id].spec.image).toBe(mainContainer(r).spec.image);
  const pods = await h.restartDaemon();
  expect(pods.isRunning('sb')).toBe(true);
  await pods.stop('sb', 10);
  expect(mainContainer(pods.get('sb')).state).toMatchObject({ status: 'exited', exitCode: 0 });
});
