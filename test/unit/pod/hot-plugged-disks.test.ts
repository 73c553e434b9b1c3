/**
 * Which containers get their disks hot-plugged on their VM's SCSI controller
 * (src/pod/lifecycle/joined-disks.ts): a pod joining another's VM, and each container of a pod
 * of several (the VM's own upper and image disks are one pair); and when a pod file's pod of
 * several gets them at all.
 */
import { hotPlugsDisks, podOfSeveralTakesDisks } from '../../../src/pod/lifecycle/joined-disks';
import type { PodContainerSpec, PodSpec } from '../../../src/pod/types';

const container = (id: string, extra: Partial<PodContainerSpec> = {}): PodContainerSpec =>
  ({
    id: id.repeat(64),
    image: 'sha256:' + 'a'.repeat(64),
    imageRef: 'busybox',
    args: ['true'],
    env: [],
    ...extra,
  }) as PodContainerSpec;

const pod = (containers: PodContainerSpec[], extra: Partial<PodSpec> = {}): PodSpec =>
  ({ id: containers[0].id, hostname: 'h', vm: { memoryMiB: 256, cpus: 1 }, containers, ...extra }) as PodSpec;

const networks = (n: number): PodSpec['network'] =>
  ({
    mode: 'networks',
    networks: Array.from({ length: n }, (_, i) => ({ ref: `net${i}` })),
    ports: [],
  }) as unknown as PodSpec['network'];

const hostDir = { type: 'bind', source: '/srv', target: '/srv' } as unknown as NonNullable<
  PodContainerSpec['mounts']
>[0];

test('a joining pod and a pod of several hot-plug their disks; a pod of one, or a CRI sandbox (its pause aside), uses the VM’s own', () => {
  expect(hotPlugsDisks(pod([container('a')]))).toBe(false);
  expect(hotPlugsDisks(pod([container('a')], { joinPod: { pod: 'x' } } as Partial<PodSpec>))).toBe(true);
  expect(hotPlugsDisks(pod([container('a'), container('b')]))).toBe(true);
  expect(hotPlugsDisks(pod([container('p', { podPause: true }), container('a')]))).toBe(false);
});

test('a pod of several gets disks when every container reads its image from a disk and its VM has a transport left for the controller', () => {
  const two = [container('a', { imageOnDisk: true }), container('b', { imageOnDisk: true })];
  expect(podOfSeveralTakesDisks(pod(two))).toBe(true);
  // On the pool's shape: 2 NICs and the volume share beside the upper disk leave the slot.
  expect(podOfSeveralTakesDisks(pod(two, { network: networks(1) }))).toBe(true);
  expect(
    podOfSeveralTakesDisks(
      pod([container('a', { imageOnDisk: true, mounts: [hostDir] }), two[1]], { network: networks(2) }),
    ),
  ).toBe(true);
  // One reading its layers (image=layers, or a daemon without the default): none does.
  expect(podOfSeveralTakesDisks(pod([two[0], container('b')]))).toBe(false);
  // Four NICs, the volume share and the upper disk take every transport: no controller.
  expect(
    podOfSeveralTakesDisks(
      pod([container('a', { imageOnDisk: true, mounts: [hostDir] }), two[1]], { network: networks(4) }),
    ),
  ).toBe(false);
  // Not a pod of several, or one joining another's VM (./joined-disks.ts joinerTakesDisks decides).
  expect(podOfSeveralTakesDisks(pod([two[0]]))).toBe(false);
  expect(podOfSeveralTakesDisks(pod(two, { joinPod: { pod: 'x' } } as Partial<PodSpec>))).toBe(false);
});
