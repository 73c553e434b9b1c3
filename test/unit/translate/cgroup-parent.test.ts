/**
 * `--cgroup-parent` (src/translate/request/policy/cgroup-parent.ts): the paths dockerd's cgroupfs driver
 * takes, cleaned as Go cleans them; what podvisor refuses (a `..` above where the path
 * starts, a control character, a name too long) with a 400 at create; the pod's record keeps
 * the cleaned path while inspect's HostConfig keeps the value as sent; the CRI sandbox's
 * cgroup_parent and the native spec's cgroupParent arrive the same way.
 */
import { parseCgroupParent } from '../../../src/translate/request/policy/cgroup-parent';
import { parseCreateBody as parseDecoded } from '../../../src/api/v1.41/docker/create-body';
import { translateCreate } from '../../../src/api/v1.41/docker/create';
import { checkContainerRequest } from '../../../src/translate/request/request-check';
import { translateContainerRequest } from '../../../src/translate/request/request-pod';
import { sandboxRequestOf } from '../../../src/api/cri/create-request';
import { checkSpec } from '../../../src/api/native/spec';
import { decodeBody } from '../../../src/util/go-decode';
import { CreateBodySchema, type CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import { InvalidArgumentError } from '../../../src/errors';
import type { ImageRecord } from '../../../src/storage/types';
import { neutralView as viewOf } from '../../helpers/neutral-view';

const parse = (HostConfig: Record<string, unknown>) =>
  parseDecoded(decodeBody<CreateBody>(CreateBodySchema, { Image: 'img', HostConfig }), 2);

const IMAGE: ImageRecord = {
  id: `sha256:${'a'.repeat(64)}`,
  repoTags: ['img:latest'],
  repoDigests: [],
  config: { architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [] } },
  size: 1,
  storedAt: 0,
};

test.each([
  ['/pv-batch', '/pv-batch'],
  ['//kubepods///besteffort/./pod1/', '/kubepods/besteffort/pod1'],
  ['/a/b/../c', '/a/c'],
  ['/', '/'],
  ['batch', 'batch'],
  ['batch/../jobs', 'jobs'],
  ['.', '.'],
  ['./', '.'],
  ['x.slice', 'x.slice'],
  ['system.slice:docker:x', 'system.slice:docker:x'],
  ['a b', 'a b'],
])('%j is cgroup parent %j', (value, cleaned) => {
  expect(parseCgroupParent(value)).toBe(cleaned);
});

test('no value is no parent', () => {
  expect(parseCgroupParent('')).toBeUndefined();
});

test.each([
  ['/../escape', '".." leads above the cgroup root'],
  ['/a/../../b', '".." leads above the cgroup root'],
  ['..', `".." leads above the daemon's own cgroup, where it starts`],
  ['../../escape', `".." leads above the daemon's own cgroup, where it starts`],
  ['/a\nb', 'it holds a control character'],
  ['/a\u0000b', 'it holds a control character'],
  [`/${'n'.repeat(256)}`, 'a cgroup name is at most 255 bytes'],
])('%j is refused at create (400): %s', (value, why) => {
  expect(() => parse({ CgroupParent: value })).toThrow(InvalidArgumentError);
  expect(() => parse({ CgroupParent: value })).toThrow(`invalid cgroup parent "${value}": ${why}`);
});

test("the pod keeps the cleaned parent; inspect's HostConfig.CgroupParent is the value sent", () => {
  const t = translateCreate(parse({ CgroupParent: '//pv-batch/./jobs/' }), IMAGE, 'f'.repeat(64), {
    defaults: { memoryMiB: 256, cpus: 1 },
    hostCpus: 2,
  });
  expect(t.spec.hostCgroupParent).toBe('/pv-batch/jobs');
  expect(t.frontend.hostConfig.CgroupParent).toBe('//pv-batch/./jobs/');
  const none = translateCreate(parse({}), IMAGE, 'f'.repeat(64), {
    defaults: { memoryMiB: 256, cpus: 1 },
    hostCpus: 2,
  });
  expect(none.spec.hostCgroupParent).toBeUndefined();
  expect(viewOf(none).hostConfig.CgroupParent).toBe('');
});

test("a CRI sandbox's cgroup_parent places its VM and is shown as its HostConfig.CgroupParent; none leaves it out", async () => {
  const sandbox = {
    name: 'k8s_POD_web_default_uid-1_0',
    image: 'pause',
    hostname: 'web',
    pod: { namespace: 'default', name: 'web', uid: 'uid-1' },
    portMappings: [],
    labels: {},
  };
  const opts = { defaults: { memoryMiB: 256, cpus: 1 }, hostCpus: 2 };
  const pod = async (cgroupParent: string) =>
    translateContainerRequest(await sandboxRequestOf({ ...sandbox, cgroupParent }), IMAGE, 'f'.repeat(64), opts);
  const placed = await pod('/kubepods/besteffort/poduid-1');
  expect(placed.spec.hostCgroupParent).toBe('/kubepods/besteffort/poduid-1');
  expect(viewOf(placed).hostConfig.CgroupParent).toBe('/kubepods/besteffort/poduid-1');
  const none = await pod('');
  expect(none.spec.hostCgroupParent).toBeUndefined();
  expect(viewOf(none).hostConfig.CgroupParent).toBe('');
  const bad = await sandboxRequestOf({ ...sandbox, cgroupParent: '/../kubepods' });
  expect(() => checkContainerRequest(bad, 2)).toThrow('invalid cgroup parent "/../kubepods"');
});

test("the native spec's cgroupParent is a string field", () => {
  expect(checkSpec({ image: 'busybox', cgroupParent: '/pv-batch' }).cgroupParent).toBe('/pv-batch');
  expect(() => checkSpec({ image: 'busybox', cgroupParent: 1 })).toThrow('spec: field "cgroupParent" must be a string');
});
