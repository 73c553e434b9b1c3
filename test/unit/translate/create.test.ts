import { parseCreateBody as parseDecoded, parseRestartPolicy } from '../../../src/api/v1.41/docker/create-body';
import { validateContainerName } from '../../../src/translate/request/policy/container-name';
import { translateCreate } from '../../../src/api/v1.41/docker/create';
import { vmSizeFor } from '../../../src/api/v1.41/docker/resources';
import { parseSignal, signalName } from '../../../src/translate/signals';
import { imageWith as image } from './image-record';
import { InvalidArgumentError, NotImplementedError } from '../../../src/errors';

import { decodeBody } from '../../../src/util/go-decode';
import { CreateBodySchema, type CreateBody } from '../../../src/api/v1.41/docker/docker-schema';

const ID = 'f'.repeat(64);

/** What the API does: decode the body against the schema, then check it. */
function parseCreateBody(body: unknown, hostCpus: number) {
  return parseDecoded(decodeBody<CreateBody>(CreateBodySchema, body), hostCpus);
}
const defaults = { memoryMiB: 256, cpus: 1 };

const busybox = image({ Env: ['PATH=/bin', 'X=img'], Cmd: ['sh'], Labels: { from: 'image', both: 'image' } });

function translate(body: Record<string, unknown>, img = busybox) {
  return translateCreate(parseCreateBody({ Image: 'img', ...body }, 2), img, ID, { defaults, hostCpus: 2 });
}

describe("dockerd's 400 messages", () => {
  test.each([
    [null, 'Config cannot be empty in order to create a container'],
    [{}, 'Config cannot be empty in order to create a container'],
    [[], 'json: cannot unmarshal array into Go value of type runconfig.ContainerConfigWrapper'],
    [{ Image: 'i', HostConfig: { Memory: -1 } }, 'Minimum memory limit allowed is 6MB'],
    [{ Image: 'i', HostConfig: { Memory: 1000 } }, 'Minimum memory limit allowed is 6MB'],
    [
      { Image: 'i', HostConfig: { Memory: 10000000, MemorySwap: 5000000 } },
      'Minimum memoryswap limit should be larger than memory limit, see usage',
    ],
    [
      { Image: 'i', HostConfig: { MemorySwap: 100000000 } },
      'You should always set the Memory limit when using Memoryswap limit, see usage',
    ],
    [
      { Image: 'i', HostConfig: { NanoCpus: 1e18 } },
      'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available',
    ],
    [
      { Image: 'i', HostConfig: { NanoCpus: -5 } },
      'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available',
    ],
    [
      { Image: 'i', HostConfig: { NanoCpus: 5e8, CpuQuota: 1000 } },
      'Conflicting options: Nano CPUs and CPU Quota cannot both be set',
    ],
    [
      { Image: 'i', HostConfig: { CpuPeriod: 500 } },
      'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)',
    ],
    [{ Image: 'i', HostConfig: { RestartPolicy: { Name: 'bogus' } } }, "invalid restart policy 'bogus'"],
    [
      { Image: 'i', HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 3 } } },
      "maximum retry count cannot be used with restart policy 'always'",
    ],
    [
      { Image: 'i', HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: -1 } } },
      'maximum retry count cannot be negative',
    ],
    [
      { Image: 'i', HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'always' } } },
      "can't create 'AutoRemove' container with restart policy",
    ],
    [{ Image: 'i', HostConfig: { ShmSize: -1 } }, 'SHM size can not be less than 0'],
    [{ Image: 'i', StopSignal: 'SIGBOGUS' }, 'Invalid signal: SIGBOGUS'],
    [
      { Image: 'i', WorkingDir: 'relative' },
      "the working directory 'relative' is invalid, it needs to be an absolute path",
    ],
    [{ Image: 'i', Env: ['=x'] }, 'invalid environment variable: =x'],
    [
      { Image: 'i', Env: 'x' },
      'json: cannot unmarshal string into Go struct field ContainerConfigWrapper.Env of type []string',
    ],
    [
      { Image: 'i', Tty: 'yes' },
      'json: cannot unmarshal string into Go struct field ContainerConfigWrapper.Tty of type bool',
    ],
    [
      { Image: 'i', Labels: [1] },
      'json: cannot unmarshal array into Go struct field ContainerConfigWrapper.Labels of type map[string]string',
    ],
    [
      { Image: 'i', Labels: { a: 1 } },
      'json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Labels of type string',
    ],
    [
      { Image: 'i', Env: [null, 3] },
      'json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Env of type string',
    ],
    [
      { Image: 'i', HostConfig: { RestartPolicy: { MaximumRetryCount: 'x' } } },
      'json: cannot unmarshal string into Go struct field RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount of type int',
    ],
    [
      { Image: 'i', HostConfig: { LogConfig: { Type: 3 } } },
      'json: cannot unmarshal number into Go struct field LogConfig.HostConfig.LogConfig.Type of type string',
    ],
    [
      { Image: 'i', HostConfig: { BlkioWeight: 70000 } },
      'json: cannot unmarshal number 70000 into Go struct field HostConfig.HostConfig.BlkioWeight of type uint16',
    ],
    [
      { Image: 'i', HostConfig: { Memory: 1e30 } },
      'json: cannot unmarshal number 1e+30 into Go struct field HostConfig.HostConfig.Memory of type int64',
    ],
    [
      { Image: 'i', Cmd: [1] },
      'json: cannot unmarshal array into Go struct field ContainerConfigWrapper.Cmd of type string',
    ],
    [
      { Image: 'i', StopTimeout: 'x' },
      'json: cannot unmarshal string into Go struct field ContainerConfigWrapper.StopTimeout of type int',
    ],
    [
      { Image: 'i', HostConfig: { Memory: 'x' } },
      'json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64',
    ],
    [
      { Image: 'i', HostConfig: { Memory: 1.5 } },
      'json: cannot unmarshal number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64',
    ],
    [
      { Image: 'i', HostConfig: { RestartPolicy: 'always' } },
      'json: cannot unmarshal string into Go struct field HostConfig.HostConfig.RestartPolicy of type container.RestartPolicy',
    ],
    [{ Image: 'i', HostConfig: { Runtime: 'kata' } }, 'Unknown runtime specified kata'],
  ])('%j -> %s', (body, message) => {
    expect(() => parseCreateBody(body, 2)).toThrow(new InvalidArgumentError(message));
  });

  test("the runtime is dockerd's default name, runc, given or not (what clients compare with)", () => {
    expect(parseCreateBody({ Image: 'i' }, 2).hostConfig.Runtime).toBe('runc');
    expect(parseCreateBody({ Image: 'i', HostConfig: { Runtime: 'runc' } }, 2).hostConfig.Runtime).toBe('runc');
  });

  test('features podvisor lacks are 501s that say so', () => {
    // --mac-address is taken (the guest sets it on its NIC at start), and kept as given.
    expect(parseCreateBody({ Image: 'i', MacAddress: '02:42:AC:11:00:09' }, 2).config.MacAddress).toBe(
      '02:42:AC:11:00:09',
    );
    // IPv6 link-local IPs are not supported.
    const ll6 = parseCreateBody(
      {
        Image: 'img',
        HostConfig: { NetworkMode: 'bridge' },
        NetworkingConfig: { EndpointsConfig: { bridge: { IPAMConfig: { LinkLocalIPs: ['fe80::5'] } } } },
      },
      2,
    );
    expect(() =>
      translateCreate(ll6, busybox, ID, {
        defaults,
        hostCpus: 2,
        networks: { isUserNetwork: () => false, hasUserSubnet: () => false },
      }),
    ).toThrow(NotImplementedError);
    expect(
      parseCreateBody(
        { Image: 'i', NetworkingConfig: { EndpointsConfig: { bridge: { IPAMConfig: { LinkLocalIPs: [] } } } } },
        2,
      ).endpointsConfig,
    ).toBeDefined();
    // Published ports need the host's networks: without them (no bridges, no iptables) a 501.
    expect(() =>
      translate({ Cmd: ['sh'], HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '8080' }] } } }),
    ).toThrow(NotImplementedError);
  });

  test('the network plan: the default bridge with its published ports, none, a user network', () => {
    const nets = { isUserNetwork: (ref: string) => ref !== 'bridge', hasUserSubnet: () => false };
    const body = {
      Cmd: ['sh'],
      ExposedPorts: { '81/tcp': {} },
      HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] }, PublishAllPorts: true },
    };
    const t = translateCreate(parseCreateBody({ Image: 'img', ...body }, 2), busybox, ID, {
      defaults,
      hostCpus: 2,
      networks: nets,
    });
    expect(t.spec.network?.mode).toBe('networks');
    expect(t.spec.network?.networks).toEqual([{ ref: 'bridge', aliases: [] }]);
    expect(t.spec.network?.ports.map((p) => `${p.hostIp}:${p.hostPortMin}->${p.containerPort}`).sort()).toEqual([
      '0.0.0.0:0->81',
      '127.0.0.1:8080->80',
    ]);
    const none = translateCreate(
      parseCreateBody({ Image: 'img', Cmd: ['sh'], HostConfig: { NetworkMode: 'none' } }, 2),
      busybox,
      ID,
      { defaults, hostCpus: 2, networks: nets },
    );
    expect(none.spec.network).toEqual({ mode: 'none', networks: [], ports: [] });
    const user = translateCreate(
      parseCreateBody(
        {
          Image: 'img',
          Cmd: ['sh'],
          HostConfig: { NetworkMode: 'front' },
          NetworkingConfig: { EndpointsConfig: { front: { Aliases: ['svc'] } } },
        },
        2,
      ),
      busybox,
      ID,
      { defaults, hostCpus: 2, networks: nets },
    );
    expect(user.spec.network?.networks).toEqual([{ ref: 'front', aliases: ['svc'] }]);
    // No networks on the host: a plain container gets loopback only, as before.
    expect(translate({ Cmd: ['sh'] }).spec.network).toEqual({ mode: 'none', networks: [], ports: [] });
  });

  test('accepted oddities: Cmd as a string, unknown fields, CpuShares negative', () => {
    expect(parseCreateBody({ Image: 'i', Cmd: 'ls', Bogus: 1, HostConfig: { CpuShares: -5 } }, 2).config.Cmd).toEqual([
      'ls',
    ]);
  });

  test('No command specified when neither the image nor the caller gives one', () => {
    expect(() => translate({}, image({}))).toThrow('No command specified');
    expect(() => translate({ Entrypoint: '', Cmd: null })).toThrow('No command specified');
  });
});

describe('merge with the image', () => {
  test.each([
    ['image Cmd when none given', {}, ['sh']],
    ['caller Cmd replaces the image Cmd', { Cmd: ['echo', 'hi'] }, ['echo', 'hi']],
    ['empty Cmd list takes the image Cmd', { Cmd: [] }, ['sh']],
  ])('%s', (_name, body, args) => {
    expect(translate(body).spec.containers[0].args).toEqual(args);
  });

  test('Entrypoint from the image is prepended; a caller Entrypoint stops Cmd inheritance', () => {
    const img = image({ Entrypoint: ['/entry'], Cmd: ['default'] });
    expect(translate({}, img).spec.containers[0].args).toEqual(['/entry', 'default']);
    expect(translate({ Cmd: ['x'] }, img).spec.containers[0].args).toEqual(['/entry', 'x']);
    expect(translate({ Entrypoint: ['/other'] }, img).spec.containers[0].args).toEqual(['/other']);
    expect(translate({ Entrypoint: '', Cmd: ['ls'] }, img).spec.containers[0].args).toEqual(['ls']);
  });

  test("Env merges by key with the caller winning, the caller's first as dockerd has them; Labels likewise", () => {
    const t = translate({ Env: ['X=me', 'Y=1'], Labels: { both: 'me', mine: 'x' } });
    expect(t.frontend.config.Env).toEqual(['X=me', 'Y=1', 'PATH=/bin']);
    expect(t.spec.containers[0].env).toEqual(['X=me', 'Y=1', 'PATH=/bin']);
    expect(translate({ Env: ['PATH=/mine', 'A=1', 'A=2'] }).frontend.config.Env).toEqual([
      'PATH=/mine',
      'A=1',
      'A=2',
      'X=img',
    ]);
    expect(t.frontend.config.Labels).toEqual({ from: 'image', both: 'me', mine: 'x' });
    expect(t.spec.labels).toEqual({ from: 'image', both: 'me', mine: 'x' });
  });

  test('User, WorkingDir and StopSignal come from the image when unset', () => {
    const img = image({ User: 'nobody', WorkingDir: '/srv', StopSignal: 'SIGQUIT', Cmd: ['x'] });
    const c = translate({}, img).spec.containers[0];
    expect([c.user, c.workingDir, c.stopSignal]).toEqual(['nobody', '/srv', 3]);
    const d = translate({ User: '1000:1000', WorkingDir: '/w', StopSignal: 'USR1' }, img).spec.containers[0];
    expect([d.user, d.workingDir, d.stopSignal]).toEqual(['1000:1000', '/w', 10]);
  });

  test('defaults: hostname = first 12 of the id, stop timeout 10, SIGTERM, workdir /', () => {
    const t = translate({});
    expect(t.spec.hostname).toBe(ID.slice(0, 12));
    expect(t.frontend.config.Hostname).toBe(ID.slice(0, 12));
    expect(t.spec.containers[0]).toMatchObject({
      stopTimeout: 10,
      stopSignal: 15,
      workingDir: '/',
      tty: false,
      openStdin: false,
    });
    expect(t.spec.restartPolicy).toEqual({ name: 'no', maximumRetryCount: 0 });
  });

  test('Tty, OpenStdin, StdinOnce, StopTimeout, AutoRemove, RestartPolicy carry over', () => {
    const t = translate({
      Tty: true,
      OpenStdin: true,
      StdinOnce: true,
      StopTimeout: 3,
      HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } },
    });
    expect(t.spec.containers[0]).toMatchObject({ tty: true, openStdin: true, stdinOnce: true, stopTimeout: 3 });
    expect(t.spec.restartPolicy).toEqual({ name: 'on-failure', maximumRetryCount: 2 });
    expect(translate({ HostConfig: { AutoRemove: true } }).spec.autoRemove).toBe(true);
  });

  test('HostConfig.ConsoleSize becomes the initial terminal size with a TTY; without one, or absurd, it is ignored', () => {
    expect(translate({ Tty: true, HostConfig: { ConsoleSize: [30, 90] } }).spec.containers[0].consoleSize).toEqual([
      30, 90,
    ]);
    expect(
      translate({ Tty: false, HostConfig: { ConsoleSize: [30, 90] } }).spec.containers[0].consoleSize,
    ).toBeUndefined();
    expect(
      translate({ Tty: true, HostConfig: { ConsoleSize: [0, 0] } }).spec.containers[0].consoleSize,
    ).toBeUndefined();
    expect(
      translate({ Tty: true, HostConfig: { ConsoleSize: [70000, 90] } }).spec.containers[0].consoleSize,
    ).toBeUndefined();
  });

  test("the Config kept for inspect has dockerd's keys in dockerd's order", () => {
    const t = translate({ Cmd: ['x'] });
    expect(Object.keys(t.frontend.config)).toEqual([
      'Hostname',
      'Domainname',
      'User',
      'AttachStdin',
      'AttachStdout',
      'AttachStderr',
      'Tty',
      'OpenStdin',
      'StdinOnce',
      'Env',
      'Cmd',
      'Image',
      'Volumes',
      'WorkingDir',
      'Entrypoint',
      'OnBuild',
      'Labels',
    ]);
    expect(t.frontend.hostConfig).toMatchObject({
      NetworkMode: 'default',
      ShmSize: 67108864,
      LogConfig: { Type: 'json-file', Config: {} },
      RestartPolicy: { Name: '', MaximumRetryCount: 0 },
    });
  });

  test('PortBindings are kept as dockerd stores them: both fields of each binding, "" for one left out', () => {
    const hc = parseCreateBody(
      {
        Image: 'i',
        HostConfig: {
          PortBindings: {
            '80/tcp': [{ HostPort: '0' }, {}, { HostIp: '127.0.0.1', HostPort: '8080' }],
            '53/udp': null,
          },
        },
      },
      2,
    ).hostConfig;
    expect(hc.PortBindings).toEqual({
      '80/tcp': [
        { HostIp: '', HostPort: '0' },
        { HostIp: '', HostPort: '' },
        { HostIp: '127.0.0.1', HostPort: '8080' },
      ],
      '53/udp': null,
    });
  });
});

describe('VM size rule', () => {
  test.each([
    [{}, { memoryMiB: 256, cpus: 1 }],
    [{ Memory: 6 * 1024 * 1024 }, { memoryMiB: 128, cpus: 1 }],
    [{ Memory: 512 * 1024 * 1024 }, { memoryMiB: 576, cpus: 1 }],
    [{ Memory: 512 * 1024 * 1024 + 1 }, { memoryMiB: 577, cpus: 1 }],
    [{ NanoCpus: 1.5e9 }, { memoryMiB: 256, cpus: 2 }],
    [{ NanoCpus: 1e7 }, { memoryMiB: 256, cpus: 1 }],
    [
      { CpuQuota: 150000, CpuPeriod: 100000 },
      { memoryMiB: 256, cpus: 2 },
    ],
    [{ CpuCount: 8 }, { memoryMiB: 256, cpus: 2 }],
    [{ CpuShares: 2048 }, { memoryMiB: 256, cpus: 1 }],
  ])('%j -> %j', (hc, size) => {
    const full = { Memory: 0, NanoCpus: 0, CpuQuota: 0, CpuPeriod: 0, CpuCount: 0, ...hc };
    expect(vmSizeFor(full, defaults, 2)).toEqual(size);
  });
});

describe('names, signals, restart policies', () => {
  test.each([['web'], ['/web'], ['a.b_c-d'], ['9x']])('valid name %s', (n) => {
    expect(validateContainerName(n)).toBe(n.replace(/^\//, ''));
  });
  test.each([['a'], ['bad/name'], ['-x'], ['']])('invalid name %s', (n) => {
    expect(() => validateContainerName(n)).toThrow(
      `Invalid container name (${n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    );
  });
  test.each([
    ['SIGKILL', 9],
    ['KILL', 9],
    ['kill', 9],
    ['9', 9],
    ['TERM', 15],
    ['SIGUSR1', 10],
    ['RTMIN+1', 35],
    ['SIGRTMAX', 64],
    ['HUP', 1],
  ])('signal %s = %d', (s, n) => {
    expect(parseSignal(s)).toBe(n);
  });
  test.each([['BOGUS'], ['0'], ['65'], ['-1'], ['']])('invalid signal %s', (s) => {
    expect(() => parseSignal(s)).toThrow(`Invalid signal: ${s}`);
  });
  test('signal names', () => {
    expect(signalName(15)).toBe('SIGTERM');
    expect(signalName(6)).toBe('SIGABRT');
  });
  test('restart policy parsing', () => {
    expect(parseRestartPolicy({ Name: 'unless-stopped' })).toEqual({ name: 'unless-stopped', maximumRetryCount: 0 });
    expect(parseRestartPolicy(null)).toEqual({ name: 'no', maximumRetryCount: 0 });
  });
});

describe('the record as each dockerd stores it', () => {
  /** The record of `body`, served as dockerd 26 serves it when `dockerd26`. */
  const record = (body: Record<string, unknown>, dockerd26 = false) => {
    const req = parseCreateBody({ Image: 'img', ...body }, 2);
    if (dockerd26) req.asDockerd26 = true;
    return translateCreate(req, busybox, ID, { defaults, hostCpus: 2 }).frontend;
  };

  test('label=disable added to a privileged container, unless a label is set', () => {
    expect(record({ HostConfig: { Privileged: true } }).hostConfig.SecurityOpt).toEqual(['label=disable']);
    expect(
      record({ HostConfig: { Privileged: true, SecurityOpt: ['seccomp=unconfined'] } }).hostConfig.SecurityOpt,
    ).toEqual(['seccomp=unconfined', 'label=disable']);
    expect(record({ HostConfig: { Privileged: true, SecurityOpt: ['label=user:u'] } }).hostConfig.SecurityOpt).toEqual([
      'label=user:u',
    ]);
    expect(record({ HostConfig: {} }).hostConfig.SecurityOpt).toBeNull();
  });

  test("dockerd 26's masked paths add the power-capping interface; dockerd 20.10's do not", () => {
    const masked = (dockerd26: boolean) => record({ HostConfig: {} }, dockerd26).hostConfig.MaskedPaths ?? [];
    expect(masked(true)).toEqual([...masked(false), '/sys/devices/virtual/powercap']);
    expect(masked(false)).not.toContain('/sys/devices/virtual/powercap');
  });

  test('a body with no HostConfig names no Runtime as dockerd 20.10; dockerd 26 and any HostConfig name runc', () => {
    expect('Runtime' in record({}).hostConfig).toBe(false);
    expect(record({}, true).hostConfig.Runtime).toBe('runc');
    expect(record({ HostConfig: {} }).hostConfig.Runtime).toBe('runc');
    // A HostConfig field at the top level (docker-py's runtime=) is dockerd's embedded HostConfig.
    expect(record({ Runtime: 'runc' } as never).hostConfig.Runtime).toBe('runc');
  });

  test('an Entrypoint of [""] and an empty Volumes stored as null', () => {
    const c = record({ Entrypoint: [''], Cmd: ['ls'], Volumes: {} }).config;
    expect([c.Entrypoint, c.Volumes]).toEqual([null, null]);
  });
});
