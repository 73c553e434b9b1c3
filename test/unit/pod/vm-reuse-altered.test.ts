/**
 * A VM that a pod could have changed for the pods after it is never kept for another one
 * (issue 39, item 10; src/pod/lifecycle/guest-altering.ts): a privileged container, one with
 * CAP_SYS_ADMIN or a writable /proc/sys, or a privileged exec. `stop --keep-vm` and `replace`
 * refuse (409, dockerd's conflict) and leave the pod running; a privileged exec started after
 * the check still gets the VM destroyed, not kept; a failed start on a held VM destroys the
 * VM instead of giving it back. A plain pod keeps its VM (test/unit/pod/vm-reuse.test.ts).
 */
import { harness, type Harness } from './fakes';
import { HeldVms } from '../../../src/vm/idle-vms';
import { PodManager } from '../../../src/pod/manager';
import type { FakeVm } from '../../helpers/fake-vm';
import { ConflictError } from '../../../src/errors';
import type { ExecConfig } from '../../../src/pod/io/exec';
import { podPhase } from '../../../src/pod/types';

let h: Harness;
let pods: PodManager;
beforeEach(async () => {
  h = await harness();
  h.pods.shutdown();
  pods = new PodManager(
    (h.pods as unknown as { ctx: { deps: ConstructorParameters<typeof PodManager>[0] } }).ctx.deps,
    new HeldVms(h.factory, { size: { memoryMiB: 256, cpus: 1 }, devices: { nics: 1 } }),
  );
  h.pods = pods;
});
afterEach(async () => {
  for (const p of pods.list()) await pods.remove(p.id, { force: true });
  for (const v of pods.vms.listVms()) if (v.state === 'Idle') await pods.vms.removeVm(v.id);
  await pods.settled();
  await h.cleanup();
});

const privilegedExec: ExecConfig = {
  args: ['sh', '-c', 'echo "|/tmp/helper" > /proc/sys/kernel/core_pattern'],
  env: [],
  workingDir: '',
  user: '',
  tty: false,
  attachStdin: false,
  attachStdout: false,
  attachStderr: false,
  detachKeys: '',
  privileged: true,
};

/** A pod created from `hostConfig` and started on a fresh held VM; returns the VM's id and the fake. */
async function onHeldVm(name: string, hostConfig: Record<string, unknown>): Promise<{ vmId: string; fake: FakeVm }> {
  const vm = await pods.vms.bootVm();
  await h.create({ Image: 'busybox', Cmd: ['sleep', '100'], HostConfig: hostConfig }, name);
  await pods.vms.startOnVm(name, vm.id);
  return { vmId: vm.id, fake: h.factory.handedOut.at(-1) as FakeVm };
}

test.each([
  [{ Privileged: true }, 'its container is privileged'],
  [{ CapAdd: ['SYS_ADMIN'] }, 'its container has CAP_SYS_ADMIN'],
  [{ SecurityOpt: ['systempaths=unconfined'] }, 'its container can write /proc/sys'],
  [{ Sysctls: { 'net.ipv4.ip_forward': '1' } }, 'its container sets sysctls (net.ipv4.ip_forward)'],
  [
    { Sysctls: { 'net.ipv4.ip_unprivileged_port_start': '1024' } },
    'its container sets sysctls (net.ipv4.ip_unprivileged_port_start)',
  ],
])('stop --keep-vm of a pod with %j is refused, and the pod runs on', async (hostConfig, why) => {
  const { vmId, fake } = await onHeldVm('p', hostConfig);
  const err = await pods.vms.stopKeepingVm('p', 1).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConflictError);
  expect((err as Error).message).toBe(
    `pod p cannot keep its VM for another pod: ${why}, and root in it may have changed the VM ` +
      `(its kernel settings, its own files); stop it without --keep-vm (its VM is destroyed then)`,
  );
  expect(podPhase(pods.get('p'))).toBe('running');
  expect(fake.guest.alive).toBe(true);
  expect(pods.vms.listVms()).toEqual([expect.objectContaining({ id: vmId, state: 'Associated' })]);

  // replace refuses the same way: the new pod is not started on that VM.
  await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] }, 'next');
  await expect(pods.vms.replace('p', 'next', 1)).rejects.toThrow(`pod p cannot keep its VM for another pod: ${why}`);
  expect(podPhase(pods.get('next'))).toBe('created');
  expect(podPhase(pods.get('p'))).toBe('running');
});

test("dockerd's default network sysctls and a domain name do not stop a pod from keeping its VM", async () => {
  const vm = await pods.vms.bootVm();
  await h.create({ Image: 'busybox', Cmd: ['sleep', '100'], Domainname: 'example.test' }, 'named');
  await pods.vms.startOnVm('named', vm.id);
  await pods.vms.stopKeepingVm('named', 1);
  expect(pods.vms.listVms()).toEqual([expect.objectContaining({ id: vm.id, state: 'Idle' })]);
});

test('a privileged exec makes a plain pod give up its VM: keeping it is refused', async () => {
  const { fake } = await onHeldVm('plain', {});
  const x = pods.execCreate('plain', privilegedExec);
  const started = await pods.execStart(x.id);
  await started.finished;
  await expect(pods.vms.stopKeepingVm('plain', 1)).rejects.toThrow(
    'pod plain cannot keep its VM for another pod: a privileged exec ran in it ' +
      '(sh -c echo "|/tmp/helper" > /proc/sys/kernel/core_pattern)',
  );
  expect(fake.guest.alive).toBe(true);
});

test('a privileged exec started while the pod stops keeping its VM: the VM is destroyed, not kept', async () => {
  const { vmId, fake } = await onHeldVm('racer', {});
  // The stop's check has passed; the exec lands before the run ends.
  const stopping = pods.vms.stopKeepingVm('racer', 1).catch((e: unknown) => e);
  const x = pods.execCreate('racer', privilegedExec);
  await pods.execStart(x.id).catch(() => undefined);
  const err = await stopping;
  expect(err).toBeInstanceOf(ConflictError);
  expect((err as Error).message).toBe(
    `the VM ${vmId} was destroyed, not kept: a privileged exec ran in it ` +
      `(sh -c echo "|/tmp/helper" > /proc/sys/kernel/core_pattern), and root in it may have changed the VM ` +
      `(its kernel settings, its own files) for any pod after it`,
  );
  expect(fake.guest.alive).toBe(false);
  expect(pods.vms.listVms().find((v) => v.id === vmId)).toBeUndefined();
  expect(podPhase(pods.get('racer'))).toBe('created');
});

test('a failed start of a privileged pod on a held VM destroys the VM instead of giving it back', async () => {
  const vm = await pods.vms.bootVm();
  await h.create({ Image: 'busybox', Cmd: ['sleep', '100'], HostConfig: { Privileged: true } }, 'failing');
  h.hv.failNext.createContainer = true;
  await expect(pods.vms.startOnVm('failing', vm.id)).rejects.toThrow();
  const fake = h.factory.handedOut.at(-1) as FakeVm;
  expect(fake.guest.alive).toBe(false);
  await pods.settled();
  expect(pods.vms.listVms().map((v) => v.id)).not.toContain(vm.id);
});
