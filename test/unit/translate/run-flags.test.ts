/**
 * `docker run` flags that reach the guest as settings of the container's processes
 * (src/api/v1.41/docker/security.ts, docker-request.ts, src/translate/request/request-pod.ts): --ulimit as resource limits of the init
 * and every exec, --domainname and dockerd 20.10's default sysctls of a container's own
 * network namespace, --init as the agent's docker-init in front of the command. Inspect keeps
 * what the client sent, as dockerd's does. The compat test test/compat/run-flags.test.ts shows
 * each through the docker CLI beside the baseline dockerd.
 */
import { parseCreateBody as parseDecoded } from '../../../src/api/v1.41/docker/create-body';
import { translateCreate } from '../../../src/api/v1.41/docker/create';
import type { ImageRecord } from '../../../src/storage/types';
import { InvalidArgumentError } from '../../../src/errors';
import { decodeBody } from '../../../src/util/go-decode';
import { CreateBodySchema, type CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import { parseUlimits } from '../../../src/api/v1.41/docker/security';
import { processSecurity } from '../../../src/pod/security/security';

const img: ImageRecord = {
  id: 'sha256:' + 'a'.repeat(64),
  repoTags: ['img:latest'],
  repoDigests: [],
  config: { architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [] } },
  size: 1,
  storedAt: 0,
};

function translate(body: Record<string, unknown>) {
  const parsed = parseDecoded(decodeBody<CreateBody>(CreateBodySchema, { Image: 'img', ...body }), 2);
  return translateCreate(parsed, img, 'f'.repeat(64), { defaults: { memoryMiB: 256, cpus: 1 }, hostCpus: 2 });
}

describe('--ulimit', () => {
  test('each type becomes its RLIMIT_* number with its soft and hard limit; -1 is unlimited', () => {
    expect(
      parseUlimits([
        { Name: 'nofile', Soft: 2048, Hard: 4096 },
        { Name: 'nproc', Soft: 100, Hard: 200 },
        { Name: 'core', Soft: -1, Hard: -1 },
        { Name: 'stack', Soft: 8388608, Hard: -1 },
      ]),
    ).toEqual([
      { resource: 7, soft: 2048, hard: 4096 },
      { resource: 6, soft: 100, hard: 200 },
      { resource: 4, soft: -1, hard: -1 },
      { resource: 3, soft: 8388608, hard: -1 },
    ]);
  });

  test("every type of Docker's --ulimit is known; a type seen twice keeps its last limits", () => {
    const names = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc'];
    const more = ['rss', 'rtprio', 'rttime', 'sigpending', 'stack'];
    const all = parseUlimits([...names, ...more].map((Name) => ({ Name, Soft: 1, Hard: 2 })));
    expect(new Set(all.map((r) => r.resource)).size).toBe(15);
    expect(
      parseUlimits([
        { Name: 'nofile', Soft: 1, Hard: 2 },
        { Name: 'nofile', Soft: 3, Hard: 4 },
      ]),
    ).toEqual([{ resource: 7, soft: 3, hard: 4 }]);
  });

  test('an unknown type, a soft limit above the hard one, or a limit that is not an integer is refused by name', () => {
    expect(() => parseUlimits([{ Name: 'fly', Soft: 1, Hard: 1 }])).toThrow(
      new InvalidArgumentError('invalid --ulimit: invalid ulimit type: fly'),
    );
    expect(() => parseUlimits([{ Name: 'nofile', Soft: 4096, Hard: 2048 }])).toThrow(
      'invalid --ulimit nofile: ulimit soft limit must be less than or equal to hard limit: 4096 > 2048',
    );
    expect(() => parseUlimits([{ Name: 'nofile', Soft: -1, Hard: 2048 }])).toThrow('-1 > 2048');
    expect(() => parseUlimits([{ Name: 'nofile', Soft: 1.5, Hard: 2 }])).toThrow('limits must be integers');
    expect(() => translate({ HostConfig: { Ulimits: [{ Name: 'fly', Soft: 1, Hard: 1 }] } })).toThrow(
      InvalidArgumentError,
    );
  });

  test("a container's ulimits go with its init and with every exec; inspect shows them as sent", () => {
    const ulimits = [{ Name: 'nofile', Soft: 2048, Hard: 4096 }];
    const t = translate({ HostConfig: { Ulimits: ulimits } });
    const sec = t.spec.containers[0].security;
    expect(processSecurity(sec).rlimits).toEqual([{ resource: 7, soft: 2048, hard: 4096 }]);
    expect(processSecurity(sec, true).rlimits).toEqual([{ resource: 7, soft: 2048, hard: 4096 }]);
    expect(t.frontend.hostConfig.Ulimits).toEqual(ulimits);
    expect(processSecurity(translate({}).spec.containers[0].security).rlimits).toBeUndefined();
  });

  test('--oom-score-adj goes with its init and with every exec; 0 writes nothing', () => {
    const sec = translate({ HostConfig: { OomScoreAdj: -500 } }).spec.containers[0].security;
    expect(processSecurity(sec).oomScoreAdj).toBe(-500);
    expect(processSecurity(sec, true).oomScoreAdj).toBe(-500);
    expect(processSecurity(translate({ HostConfig: { OomScoreAdj: 0 } }).spec.containers[0].security).oomScoreAdj).toBe(
      undefined,
    );
  });

  test("--pids-limit is the limit of the container's cgroup", () => {
    expect(translate({ HostConfig: { PidsLimit: 8 } }).spec.containers[0].limits).toEqual({ pidsMax: 8 });
    expect(translate({ HostConfig: { PidsLimit: -1 } }).spec.containers[0].limits).toBeUndefined();
  });
});

describe("dockerd's sysctls and --domainname", () => {
  const sysctls = (body: Record<string, unknown>) => translate(body).spec.containers[0].security?.sysctls;

  test('a container of its own network namespace may bind low ports and ping without capabilities', () => {
    expect(sysctls({})).toEqual({
      'net.ipv4.ip_unprivileged_port_start': '0',
      'net.ipv4.ping_group_range': '0 2147483647',
    });
    expect(sysctls({ HostConfig: { NetworkMode: 'none' } })?.['net.ipv4.ip_unprivileged_port_start']).toBe('0');
  });

  test("not in another container's namespace; the user's own sysctls win", () => {
    expect(sysctls({ HostConfig: { NetworkMode: 'container:abc' } })).toEqual({});
    expect(sysctls({ HostConfig: { Sysctls: { 'net.ipv4.ip_unprivileged_port_start': '1024' } } })).toMatchObject({
      'net.ipv4.ip_unprivileged_port_start': '1024',
    });
  });

  test("--domainname sets the UTS domain name (kernel.domainname); inspect's Sysctls stay the user's", () => {
    const t = translate({ Domainname: 'example.test' });
    expect(t.spec.containers[0].security?.sysctls).toMatchObject({ 'kernel.domainname': 'example.test' });
    expect(t.frontend.config.Domainname).toBe('example.test');
    expect(t.frontend.hostConfig.Sysctls ?? {}).toEqual({});
  });
});

describe('--init', () => {
  test("the container runs under docker-init; Path and Args stay the command's", () => {
    const t = translate({ Cmd: ['ps'], HostConfig: { Init: true } });
    expect(t.spec.containers[0].dockerInit).toBe(true);
    expect(t.spec.containers[0].args).toEqual(['ps']);
    expect(t.frontend.hostConfig.Init).toBe(true);
    expect(translate({ Cmd: ['ps'] }).spec.containers[0].dockerInit).toBeUndefined();
  });
});
