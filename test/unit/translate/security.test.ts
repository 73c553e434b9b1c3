/**
 * A Docker create body's security settings -> the pod spec's (src/api/v1.41/docker/security.ts):
 * dockerd's capability rules and words, SecurityOpt, the default masked and read-only paths
 * and what inspect shows of them, sysctls; pod files' defaults.
 */
import { parseCreateBody as parseDecoded } from '../../../src/api/v1.41/docker/create-body';
import { translateCreate } from '../../../src/api/v1.41/docker/create';
import type { ImageRecord } from '../../../src/storage/types';
import { InvalidArgumentError } from '../../../src/errors';
import { decodeBody } from '../../../src/util/go-decode';
import { CreateBodySchema, type CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import { SecurityOptError, dockerSecurity } from '../../../src/api/v1.41/docker/security';
import { defaultSecurity } from '../../../src/translate/request/policy/default-security';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../../../src/translate/request/policy/masked-paths';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilityMask } from '../../../src/util/capabilities';
import { processSecurity, guestContainerSecurity } from '../../../src/pod/security/security';

const ID = 'f'.repeat(64);
const img: ImageRecord = {
  id: 'sha256:' + 'a'.repeat(64),
  repoTags: ['img:latest'],
  repoDigests: [],
  config: { architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [] } },
  size: 1,
  storedAt: 0,
};

function parse(hostConfig: Record<string, unknown>) {
  return parseDecoded(decodeBody<CreateBody>(CreateBodySchema, { Image: 'img', HostConfig: hostConfig }), 2);
}
function translate(hostConfig: Record<string, unknown>) {
  return translateCreate(parse(hostConfig), img, ID, { defaults: { memoryMiB: 256, cpus: 1 }, hostCpus: 2 });
}
const securityOf = (hc: Record<string, unknown>) => translate(hc).spec.containers[0].security;

describe('capabilities', () => {
  test("dockerd's default set when nothing is asked", () => {
    expect(securityOf({})?.capabilities).toEqual([...DEFAULT_CAPABILITIES]);
    expect(capabilityMask(DEFAULT_CAPABILITIES)).toBe(0xa80425fb);
  });

  test('CapAdd and CapDrop: with or without CAP_, any case; ALL in either', () => {
    expect(securityOf({ CapAdd: ['net_admin'], CapDrop: ['CAP_CHOWN', 'Kill'] })?.capabilities).toEqual([
      ...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_CHOWN' && c !== 'CAP_KILL'),
      'CAP_NET_ADMIN',
    ]);
    expect(securityOf({ CapDrop: ['all'], CapAdd: ['SYS_TIME'] })?.capabilities).toEqual(['CAP_SYS_TIME']);
    expect(securityOf({ CapAdd: ['ALL'], CapDrop: ['sys_admin'] })?.capabilities).toEqual(
      ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_ADMIN'),
    );
    // dockerd: ALL added wins over ALL dropped.
    expect(securityOf({ CapAdd: ['ALL'], CapDrop: ['ALL'] })?.capabilities).toEqual([...ALL_CAPABILITIES]);
    expect(securityOf({ Privileged: true, CapDrop: ['ALL'] })?.capabilities).toEqual([...ALL_CAPABILITIES]);
  });

  test("an unknown name is dockerd's 400, before the image is looked up; newer ones than dockerd 20.10 knows too", () => {
    expect(() => parse({ CapAdd: ['fly'] })).toThrow(
      new InvalidArgumentError('invalid CapAdd: unknown capability: "CAP_FLY"'),
    );
    expect(() => parse({ CapAdd: ['chown'], CapDrop: ['CAP_BPF'] })).toThrow(
      new InvalidArgumentError('invalid CapDrop: unknown capability: "CAP_BPF"'),
    );
  });

  test('the sets runc applies: bounding, effective, permitted; a privileged exec every one, inheritable too', () => {
    const sec = securityOf({ CapDrop: ['NET_RAW'] });
    const mask = 0xa80405fb;
    expect(processSecurity(sec)).toEqual({
      capabilities: { bounding: mask, effective: mask, permitted: mask, inheritable: 0, ambient: 0 },
    });
    const all = 2 ** 38 - 1;
    expect(processSecurity(sec, true).capabilities).toEqual({
      bounding: all,
      effective: all,
      permitted: all,
      inheritable: all,
      ambient: 0,
    });
    // A pod recorded before these settings keeps every capability.
    expect(processSecurity(undefined, true)).toEqual({});
  });
});

describe('SecurityOpt', () => {
  test('no-new-privileges in its forms', () => {
    for (const [opt, nnp] of [
      ['no-new-privileges', true],
      ['no-new-privileges:true', true],
      ['no-new-privileges=1', true],
      ['no-new-privileges=false', false],
    ] as const) {
      expect(securityOf({ SecurityOpt: [opt] })?.noNewPrivs).toBe(nnp);
    }
    expect(processSecurity(securityOf({ SecurityOpt: ['no-new-privileges'] })).noNewPrivs).toBe(true);
  });

  test("seccomp, apparmor and label are taken; anything else is dockerd's error (a 500)", () => {
    expect(securityOf({ SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined', 'label=disable'] })).toBeDefined();
    for (const [opt, message] of [
      ['foo', 'invalid --security-opt 1: "foo"'],
      ['foo=bar', 'invalid --security-opt 2: "foo=bar"'],
      ['systempaths=open', 'invalid --security-opt 2: "systempaths=open"'],
      ['no-new-privileges:maybe', 'invalid --security-opt 2: "no-new-privileges:maybe"'],
    ]) {
      expect(() => translate({ SecurityOpt: [opt] })).toThrow(new SecurityOptError(message));
    }
  });
});

describe('paths, read-only root, sysctls', () => {
  test("Docker's defaults, shown by inspect; none for a privileged container; [] with systempaths=unconfined", () => {
    const plain = translate({});
    expect(plain.spec.containers[0].security).toMatchObject({
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      readonlyRootfs: false,
      privileged: false,
    });
    expect(plain.frontend.hostConfig.MaskedPaths).toEqual([...DEFAULT_MASKED_PATHS]);
    expect(plain.frontend.hostConfig.ReadonlyPaths).toEqual([...DEFAULT_READONLY_PATHS]);
    const priv = translate({ Privileged: true });
    expect(priv.spec.containers[0].security).toMatchObject({ maskedPaths: [], readonlyPaths: [], privileged: true });
    expect(priv.frontend.hostConfig.MaskedPaths).toBeNull();
    const open = translate({ SecurityOpt: ['systempaths=unconfined', 'no-new-privileges'] });
    expect(open.spec.containers[0].security).toMatchObject({ maskedPaths: [], readonlyPaths: [], noNewPrivs: true });
    expect(open.frontend.hostConfig.MaskedPaths).toEqual([]);
    expect(open.frontend.hostConfig.SecurityOpt).toEqual(['no-new-privileges']);
    const given = translate({ MaskedPaths: ['/secret'], ReadonlyPaths: [] });
    expect(given.spec.containers[0].security).toMatchObject({ maskedPaths: ['/secret'], readonlyPaths: [] });
  });

  test('ReadonlyRootfs and Sysctls reach the guest with the container', () => {
    const sec = securityOf({ ReadonlyRootfs: true, Sysctls: { 'net.ipv4.ip_forward': '1' }, Privileged: true });
    expect(guestContainerSecurity(sec)).toEqual({
      // dockerd's two defaults of a container's own network namespace come first.
      sysctls: [
        'net.ipv4.ip_unprivileged_port_start=0',
        'net.ipv4.ping_group_range=0 2147483647',
        'net.ipv4.ip_forward=1',
      ],
      maskedPaths: [],
      readonlyPaths: [],
      readonlyRootfs: true,
      writableSysfs: true,
    });
  });

  test("a pod file's container: the defaults, or every capability and no paths when privileged", () => {
    expect(defaultSecurity(false)).toMatchObject({
      capabilities: [...DEFAULT_CAPABILITIES],
      maskedPaths: [...DEFAULT_MASKED_PATHS],
    });
    expect(defaultSecurity(true)).toMatchObject({ capabilities: [...ALL_CAPABILITIES], maskedPaths: [] });
  });

  test.each([false, true])('the defaults (privileged %s) are what a Docker create that sets nothing gets', (p) => {
    const none = { CapAdd: null, CapDrop: null, Privileged: p, ReadonlyRootfs: false, SecurityOpt: null };
    const hc = { ...none, MaskedPaths: null, ReadonlyPaths: null } as unknown as Parameters<typeof dockerSecurity>[0];
    expect(defaultSecurity(p)).toEqual(dockerSecurity(hc).security);
  });
});
