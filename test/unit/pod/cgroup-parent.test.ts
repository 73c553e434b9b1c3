/**
 * A pod's host cgroup parent in the pod layer (on the fake hypervisor): its VM is put under it
 * at each start, whatever VM the start takes (a restart's new one, after a daemon restart
 * too); a pod without one has its VM under podvisor's own; a container that would run in
 * another container's VM is refused one at create.
 */
import { harness, type Harness } from './fakes';
import type { FakeVm } from '../../helpers/fake-vm';
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { decodeBody } from '../../../src/util/go-decode';
import { CreateBodySchema, type CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import { InvalidArgumentError } from '../../../src/errors';
import { createDockerContainer } from '../../../src/api/v1.41/create/docker-front';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  for (const p of h.pods.list()) await h.pods.remove(p.id, { force: true });
  await h.pods.settled();
  await h.cleanup();
});

const placements = (i: number) => (h.factory.handedOut[i] as FakeVm).cgroupPlacements;

test('the VM goes under the parent at its start, and a restart puts its new VM there too', async () => {
  const r = await h.create({ Image: 'busybox', Cmd: ['sleep', '100'], HostConfig: { CgroupParent: '//pv-batch/' } });
  expect(h.pods.get(r.id).sandbox.spec.hostCgroupParent).toBe('/pv-batch');
  await h.pods.start(r.id);
  expect(placements(0)).toEqual(['/pv-batch']);
  await h.pods.restart(r.id, 0);
  expect(h.factory.handedOut).toHaveLength(2);
  expect(placements(1)).toEqual(['/pv-batch']);
});

test('the parent is in the record: a restarted daemon starts the pod under it', async () => {
  const r = await h.create({ Image: 'busybox', Cmd: ['sleep', '100'], HostConfig: { CgroupParent: 'jobs' } });
  const pods = await h.restartDaemon();
  await pods.start(r.id);
  expect(placements(0)).toEqual(['jobs']);
});

test("a pod without a parent has its VM under podvisor's own", async () => {
  const r = await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] });
  await h.pods.start(r.id);
  expect(placements(0)).toEqual([undefined]);
});

test("a container that would run in another container's VM is refused a parent of its own (400)", async () => {
  const x = await h.create({ Image: 'busybox', Cmd: ['sleep', '100'] });
  const body = {
    Image: 'busybox',
    Cmd: ['true'],
    HostConfig: { NetworkMode: `container:${x.id}`, CgroupParent: '/pv-batch' },
  };
  const create = createDockerContainer(h.engine(), parseCreateBody(decodeBody<CreateBody>(CreateBodySchema, body), 2));
  await expect(create).rejects.toThrow(InvalidArgumentError);
  await expect(create).rejects.toThrow("--cgroup-parent places a container's VM: ");
  expect(h.pods.list()).toHaveLength(1);
});
