/**
 * The creation service over the in-memory pod layer (test/unit/pod/fakes.ts) and a real
 * volume store in a temp directory: each entry point (a parsed Docker create body, a pod file,
 * the native spec, a build step, the CRI front's sandboxes and containers as neutral requests)
 * makes the pod a user would see, and a refused create leaves
 * nothing behind: volumes it made are removed again, and a taken name fails before the
 * volume store is touched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { harness, type Harness } from '../pod/fakes';
import { PodEngine } from '../../../src/engine/engine';
import { VolumeStore } from '../../../src/storage/volumes';
import { BindSourceMissingError, NameInUseError } from '../../../src/pod/errors';
import { dockerMessage } from '../../../src/translate/errors';
import { InvalidArgumentError } from '../../../src/errors';
import { NoSuchImageError } from '../../../src/storage/errors';
import { mainContainer, containersOf } from '../../../src/pod/types';
import { dockerFrontend } from '../../../src/api/v1.41/docker/docker-types';
import { dockerViewOf } from '../../../src/api/v1.41/docker/pod-view';
import { podRequestOfFile } from '../../../src/api/native/podfile';
import type { CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { createCriContainer, createCriSandbox } from '../../../src/api/cri/create-request';
import type { CriContainerSecurity } from '../../../src/api/cri/security';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from '../../../src/util/capabilities';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../../../src/translate/request/policy/masked-paths';
import { createDockerContainer } from '../../../src/api/v1.41/create/docker-front';

let h: Harness;
let store: VolumeStore;
let engine: PodEngine;
let volumeEvents: string[];

beforeEach(async () => {
  h = await harness();
  store = await VolumeStore.open(path.join(h.root, 'data'));
  volumeEvents = [];
  h.events.subscribe((e) => {
    if (e.type === 'volume') volumeEvents.push(`${e.action} ${e.id}`);
  });
  engine = h.engine(h.pods, { volumes: { store, events: h.events }, logDefaults: { driver: 'none', opts: {} } });
});
afterEach(async () => {
  for (const r of h.pods.list()) await h.pods.remove(r.id, { force: true });
  await h.cleanup();
});

/** A Docker create body of busybox, parsed as the Docker front parses it before the engine. */
const body = (b: Record<string, unknown>) => parseCreateBody({ Image: 'busybox', ...b } as unknown as CreateBody, 2);
const volumeNames = () =>
  store
    .list()
    .map((v) => v.name)
    .sort();

describe('Docker create', () => {
  test('makes the pod with its name, the Docker data and its named and anonymous volumes', async () => {
    const r = await createDockerContainer(
      engine,
      body({ Cmd: ['sleep', '9'], Volumes: { '/anon': {} }, HostConfig: { Binds: ['data:/data'] } }),
      '/web',
    );
    expect(r.name).toBe('web');
    expect(h.pods.get('web').id).toBe(r.id);
    const main = mainContainer(r);
    expect(main.spec.args).toEqual(['sleep', '9']);
    expect(dockerFrontend(r.frontend).config.Cmd).toEqual(['sleep', '9']);
    expect(r.sandbox.spec.log).toEqual({ driver: 'none', opts: {} });
    const mounts = main.spec.mounts ?? [];
    expect(mounts.map((m) => m.target).sort()).toEqual(['/anon', '/data']);
    const anon = mounts.find((m) => m.target === '/anon');
    expect(anon?.type === 'volume' && anon.anonymous).toBe(true);
    expect(volumeNames()).toContain('data');
    expect(volumeNames()).toHaveLength(2);
    expect(volumeEvents.filter((e) => e.startsWith('create'))).toHaveLength(2);
  });

  test('volumes made by a create that fails later are removed again; one that existed stays', async () => {
    await store.create({ name: 'kept', driver: undefined, labels: null, options: null });
    const missing = path.join(h.root, 'no-such-dir');
    const failing = body({
      Cmd: ['true'],
      HostConfig: {
        Binds: ['fresh:/fresh', 'kept:/kept'],
        Mounts: [{ Type: 'bind', Source: missing, Target: '/b' }],
      },
    });
    const refused = await createDockerContainer(engine, failing, 'late').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(BindSourceMissingError);
    expect(refused).toBeInstanceOf(InvalidArgumentError);
    expect(dockerMessage(refused)).toBe(
      `invalid mount config for type "bind": bind source path does not exist: ${missing}`,
    );
    expect(volumeNames()).toEqual(['kept']);
    expect(volumeEvents).toEqual(['create fresh', 'create kept', 'destroy fresh']);
    expect(h.pods.list()).toEqual([]);
  });

  test('a taken name fails before the volume store is touched', async () => {
    const first = await createDockerContainer(engine, body({ Cmd: ['true'] }), 'taken');
    const err = await createDockerContainer(
      engine,
      body({ Cmd: ['true'], HostConfig: { Binds: ['v1:/v'] }, Volumes: { '/a': {} } }),
      'taken',
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NameInUseError);
    expect(err).toMatchObject({ podName: 'taken', holderId: first.id });
    expect(volumeNames()).toEqual([]);
    expect(volumeEvents).toEqual([]);
    expect(h.pods.list().map((r) => r.id)).toEqual([first.id]);
  });

  test("dockerd's checks: a bad name, a missing image, a link to nothing, a --pid container that is not there", async () => {
    await expect(createDockerContainer(engine, body({}), 'bad name')).rejects.toThrow(
      'Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed',
    );
    await expect(createDockerContainer(engine, body({ Image: 'nothere' }))).rejects.toBeInstanceOf(NoSuchImageError);
    await expect(createDockerContainer(engine, body({ HostConfig: { Links: ['ghost:g'] } }))).rejects.toThrow(
      'could not get container for ghost: No such container: ghost',
    );
    const noPidContainer = createDockerContainer(engine, body({ HostConfig: { PidMode: 'container:ghost' } }));
    await expect(noPidContainer).rejects.toThrow('No such container: ghost');
    await expect(noPidContainer).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(h.pods.list()).toEqual([]);
    expect(volumeNames()).toEqual([]);
  });

  test('--pid container: joins the named pod; --volumes-from takes its volumes', async () => {
    const host = await createDockerContainer(
      engine,
      body({ Cmd: ['sleep', '9'], HostConfig: { Binds: ['dd:/d'] } }),
      'host',
    );
    const guest = await createDockerContainer(
      engine,
      body({ Cmd: ['true'], HostConfig: { PidMode: 'container:host', VolumesFrom: ['host:ro'] } }),
    );
    expect(guest.sandbox.spec.joinPod).toEqual({ pod: 'host', pid: true });
    const m = (mainContainer(guest).spec.mounts ?? []).find((x) => x.target === '/d');
    expect(m).toMatchObject({ type: 'volume', name: 'dd', readOnly: true });
    expect(host.id).not.toBe(guest.id);
  });
});

describe('native pods', () => {
  const POD = (hostPath: string, type = '') => `apiVersion: v1
kind: Pod
metadata: {name: kpod}
spec:
  volumes: [{name: h, hostPath: {path: ${hostPath}${type ? `, type: ${type}` : ''}}}]
  containers:
    - {name: app, image: busybox, command: [sleep, "9"], volumeMounts: [{name: h, mountPath: /h}]}
    - {name: side, image: busybox, args: [cat]}
`;

  test('a pod file makes a pod of its containers, labelled with its name and API', async () => {
    const r = await engine.createNative({ kind: 'podfile', pod: podRequestOfFile(POD(h.root)) });
    expect(r.name).toBe('kpod');
    expect(containersOf(r).map((c) => c.spec.name)).toEqual(['app', 'side']);
    expect(containersOf(r).map((c) => c.spec.seccomp)).toEqual([undefined, undefined]);
    expect(r.sandbox.spec.labels).toMatchObject({ 'io.podvisor.pod': 'kpod', 'io.podvisor.api': 'native' });
    expect(dockerViewOf(r).config.Labels).toMatchObject({ 'io.podvisor.pod': 'kpod' });
  });

  test("a hostPath that does not exist is refused with dockerd's words for a bind, and nothing is made", async () => {
    const missing = path.join(h.root, 'absent');
    const refused = await engine
      .createNative({ kind: 'podfile', pod: podRequestOfFile(POD(missing)) })
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(BindSourceMissingError);
    expect(dockerMessage(refused)).toBe(
      `invalid mount config for type "bind": bind source path does not exist: ${missing}`,
    );
    expect(h.pods.list()).toEqual([]);
    // DirectoryOrCreate asks for it to be made at start: the create passes.
    await engine.createNative({ kind: 'podfile', pod: podRequestOfFile(POD(missing, 'DirectoryOrCreate')) });
    expect(fs.existsSync(missing)).toBe(false);
  });

  test('the single-container spec; a taken name fails before anything is made', async () => {
    const r = await engine.createNative({
      kind: 'spec',
      spec: { name: 'one', image: 'busybox', command: ['sleep', '5'], env: ['A=b'], labels: { k: 'v' } },
    });
    expect(r.name).toBe('one');
    expect(mainContainer(r).spec.args).toEqual(['sleep', '5']);
    expect(mainContainer(r).spec.env).toContain('A=b');
    expect(r.sandbox.spec.labels).toMatchObject({ k: 'v', 'io.podvisor.pod': 'one', 'io.podvisor.api': 'native' });
    // No seccomp filter, as a pod file's containers (a docker create of the same gets the default).
    expect(mainContainer(r).spec.seccomp).toBeUndefined();
    await expect(engine.createNative({ kind: 'spec', spec: { name: 'one', image: 'busybox' } })).rejects.toBeInstanceOf(
      NameInUseError,
    );
    await expect(
      engine.createNative({ kind: 'podfile', pod: podRequestOfFile(POD(h.root).replace('kpod', 'one')) }),
    ).rejects.toBeInstanceOf(NameInUseError);
    expect(h.pods.list()).toHaveLength(1);
  });
});

describe('build steps', () => {
  test("a step's container: its command with no entrypoint, a json-file log whatever the default, no volumes", async () => {
    const r = await engine.createBuildStep({
      image: 'busybox',
      cmd: ['/bin/sh', '-c', 'echo hi'],
      env: ['X=1'],
      user: 'nobody',
      workingDir: '/tmp',
      settings: { network: { mode: 'none' }, resources: { memoryBytes: 64 * 1024 * 1024 } },
    });
    const main = mainContainer(r);
    expect(main.state.status).toBe('created');
    expect(main.spec.args).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(main.spec.user).toBe('nobody');
    expect(main.spec.workingDir).toBe('/tmp');
    expect(main.spec.env).toContain('X=1');
    expect(r.sandbox.spec.log).toEqual({ driver: 'json-file', opts: {} });
    expect(r.name).not.toBe('');
    expect(volumeNames()).toEqual([]);
  });

  test('a step of an image that is not there fails and makes nothing', async () => {
    await expect(
      engine.createBuildStep({ image: 'sha256:' + '0'.repeat(64), cmd: ['/'], env: [] }),
    ).rejects.toBeInstanceOf(NoSuchImageError);
    expect(h.pods.list()).toEqual([]);
  });
});

describe('CRI sandboxes and containers', () => {
  const sandboxRequest = {
    name: 'k8s_POD_web_default_uid-1_0',
    image: 'busybox',
    hostname: 'web-host',
    pod: { namespace: 'default', name: 'web', uid: 'uid-1' },
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }],
    dns: { servers: ['10.96.0.10'], searches: [], options: [] },
    labels: { app: 'web' },
  };
  const containerRequest = (sandboxId: string, extra: object = {}) => ({
    sandboxId,
    name: 'k8s_app_web_default_uid-1_0',
    image: 'busybox',
    command: ['sh', '-c'],
    args: ['echo hi'],
    workingDir: '/tmp',
    env: ['A=b'],
    mounts: [{ containerPath: '/data', hostPath: h.root, readonly: true }],
    labels: { role: 'main' },
    logPath: '/var/log/pods/web/app/0.log',
    tty: false,
    stdin: false,
    stdinOnce: false,
    podPid: false,
    supplementalGroups: [],
    runAsUser: 1000,
    runAsGroup: 100,
    runAsUsername: '',
    ...extra,
  });

  test("a sandbox: the infra container with stdin held open, the CNI plan, the config's hostname and labels", async () => {
    const s = await createCriSandbox(engine, sandboxRequest);
    expect(s.name).toBe('k8s_POD_web_default_uid-1_0');
    expect(s.sandbox.spec.cni).toEqual({
      pod: sandboxRequest.pod,
      portMappings: sandboxRequest.portMappings,
      dns: sandboxRequest.dns,
    });
    expect(s.sandbox.spec.hostname).toBe('web-host');
    // The config's labels and the API label: the CRI front's own data is in its records.
    expect(s.sandbox.spec.labels).toEqual({ app: 'web', 'io.podvisor.api': 'cri' });
    expect(mainContainer(s).spec.openStdin).toBe(true);
  });

  test("a container joins the sandbox's VM with the config's command, env, user, mounts and CRI log path", async () => {
    const s = await createCriSandbox(engine, sandboxRequest);
    const c = await createCriContainer(engine, containerRequest(s.id));
    expect(c.sandbox.spec.joinPod).toEqual({ pod: s.id, pid: false });
    const main = mainContainer(c).spec;
    expect(main.args).toEqual(['sh', '-c', 'echo hi']);
    expect(main.env).toContain('A=b');
    expect(main.workingDir).toBe('/tmp');
    expect(main.user).toBe('1000:100');
    expect(main.mounts).toEqual([
      expect.objectContaining({ type: 'bind', source: h.root, target: '/data', readOnly: true }),
    ]);
    expect(c.sandbox.spec.log).toEqual({
      driver: 'json-file',
      opts: { 'cri-log-path': '/var/log/pods/web/app/0.log' },
    });
  });

  test("a hostPath holding ':' is pinned at create as given; a missing one is made at start, as containerd makes it", async () => {
    const s = await createCriSandbox(engine, sandboxRequest);
    const there = path.join(h.root, 'a:b');
    fs.mkdirSync(there);
    const missing = path.join(h.root, 'c:d', 'e');
    const c = await createCriContainer(
      engine,
      containerRequest(s.id, {
        mounts: [
          { containerPath: '/m', hostPath: there, readonly: false },
          { containerPath: '/n:o', hostPath: missing, readonly: true },
        ],
      }),
    );
    expect(mainContainer(c).spec.mounts).toEqual([
      { type: 'bind', source: there, resolvedSource: there, target: '/m', readOnly: false, createSource: true },
      { type: 'bind', source: missing, resolvedSource: missing, target: '/n:o', readOnly: true, createSource: true },
    ]);
  });

  test("PID namespace mode POD joins the sandbox's PID namespace; CONTAINER does not", async () => {
    const s = await createCriSandbox(engine, sandboxRequest);
    const pod = await createCriContainer(engine, containerRequest(s.id, { podPid: true }));
    expect(pod.sandbox.spec.joinPod).toEqual({ pod: s.id, pid: true });
    const own = await createCriContainer(engine, containerRequest(s.id, { name: 'k8s_own_web_default_uid-1_0' }));
    expect(own.sandbox.spec.joinPod).toEqual({ pod: s.id, pid: false });
  });

  test("the user as containerd makes it; SupplementalGroups as the container's extra groups", async () => {
    const s = await createCriSandbox(engine, sandboxRequest);
    const named = await createCriContainer(
      engine,
      containerRequest(s.id, { runAsUser: undefined, runAsUsername: 'www-data', supplementalGroups: [1234, 5678] }),
    );
    expect(mainContainer(named).spec.user).toBe('www-data:100');
    expect(mainContainer(named).spec.groupAdd).toEqual(['1234', '5678']);
    const uidOnly = await createCriContainer(
      engine,
      containerRequest(s.id, { name: 'k8s_b_web_default_uid-1_0', runAsGroup: undefined }),
    );
    expect(mainContainer(uidOnly).spec.user).toBe('1000');
    expect(mainContainer(uidOnly).spec.groupAdd).toBeUndefined();
  });

  test('a group without a user, or a supplemental group that is no gid, is refused, and nothing is made', async () => {
    const s = await createCriSandbox(engine, sandboxRequest);
    await expect(createCriContainer(engine, containerRequest(s.id, { runAsUser: undefined }))).rejects.toThrow(
      /user group "100" is specified without user/,
    );
    await expect(createCriContainer(engine, containerRequest(s.id, { supplementalGroups: [-1] }))).rejects.toThrow(
      /supplemental group -1 is not a group id/,
    );
    expect(h.pods.list().map((r) => r.id)).toEqual([s.id]);
  });

  const security = (extra: Partial<CriContainerSecurity> = {}): CriContainerSecurity => ({
    privileged: false,
    addCapabilities: [],
    dropCapabilities: [],
    readonlyRootfs: false,
    noNewPrivs: false,
    maskedPaths: [],
    readonlyPaths: [],
    ...extra,
  });

  test("a container's security context, with containerd's capability rules and Docker's default paths", async () => {
    const s = await createCriSandbox(engine, sandboxRequest);
    let n = 0;
    const secOf = async (sec?: CriContainerSecurity) =>
      mainContainer(
        await createCriContainer(
          engine,
          containerRequest(s.id, { name: `k8s_app${n++}_web_default_uid-1_0`, ...(sec ? { security: sec } : {}) }),
        ),
      ).spec.security;
    const plain = await secOf();
    expect(plain).toEqual({
      capabilities: [...DEFAULT_CAPABILITIES],
      privileged: false,
      noNewPrivs: false,
      readonlyRootfs: false,
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      sysctls: {},
    });
    const tweaked = await secOf(security({ addCapabilities: ['NET_ADMIN'], dropCapabilities: ['net_raw', 'CHOWN'] }));
    expect(tweaked?.capabilities).toEqual([
      ...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_NET_RAW' && c !== 'CAP_CHOWN'),
      'CAP_NET_ADMIN',
    ]);
    expect((await secOf(security({ dropCapabilities: ['ALL'] })))?.capabilities).toEqual([]);
    expect((await secOf(security({ addCapabilities: ['ALL'] })))?.capabilities).toEqual([...ALL_CAPABILITIES]);
    // containerd: ALL added and dropped is none, then the names added.
    expect(
      (await secOf(security({ addCapabilities: ['ALL', 'KILL'], dropCapabilities: ['ALL'] })))?.capabilities,
    ).toEqual(['CAP_KILL']);
    const others = await secOf(
      security({ readonlyRootfs: true, noNewPrivs: true, maskedPaths: ['/bin/ls'], readonlyPaths: ['/tmp'] }),
    );
    expect(others).toMatchObject({
      readonlyRootfs: true,
      noNewPrivs: true,
      maskedPaths: ['/bin/ls'],
      readonlyPaths: ['/tmp'],
    });
    expect(await secOf(security({ privileged: true, dropCapabilities: ['ALL'] }))).toMatchObject({
      privileged: true,
      capabilities: [...ALL_CAPABILITIES],
      maskedPaths: [],
      readonlyPaths: [],
    });
  });

  test('an unknown capability is refused, and nothing is made', async () => {
    const s = await createCriSandbox(engine, sandboxRequest);
    await expect(
      createCriContainer(engine, containerRequest(s.id, { security: security({ addCapabilities: ['FLY'] }) })),
    ).rejects.toThrow('unknown capability: "CAP_FLY"');
    expect(h.pods.list().map((r) => r.id)).toEqual([s.id]);
  });

  test("a sandbox's sysctls are its infra container's, written in its VM at its start", async () => {
    const s = await createCriSandbox(engine, {
      ...sandboxRequest,
      sysctls: { 'kernel.shm_rmid_forced': '1', 'net.ipv4.ip_local_port_range': '1024 65000' },
    });
    expect(mainContainer(s).spec.security?.sysctls).toEqual({
      'kernel.shm_rmid_forced': '1',
      'net.ipv4.ip_local_port_range': '1024 65000',
    });
  });
});

describe('volumes kept on a container disk (--storage-opt image=disk)', () => {
  let hd: Harness;
  let dstore: VolumeStore;
  let dengine: PodEngine;
  beforeEach(async () => {
    hd = await harness(undefined, { rootfsDisk: { bytes: 1 << 30 } });
    dstore = await VolumeStore.open(path.join(hd.root, 'data'));
    dengine = hd.engine(hd.pods, { volumes: { store: dstore, events: hd.events } });
  });
  afterEach(async () => {
    for (const r of hd.pods.list()) await hd.pods.remove(r.id, { force: true });
    await hd.cleanup();
  });
  const onDisk = (extra: Record<string, unknown> = {}) =>
    body({ Cmd: ['true'], Volumes: { '/data': {} }, HostConfig: { StorageOpt: { image: 'disk' } }, ...extra });

  test("its anonymous volumes and a named volume it alone mounts live on its own disk; another container's stay on the host", async () => {
    const r = await createDockerContainer(
      dengine,
      onDisk({ HostConfig: { StorageOpt: { image: 'disk', volumes: 'disk' }, Binds: ['named:/named'] } }),
      '/db',
    );
    const mounts = mainContainer(r).spec.mounts ?? [];
    const anon = mounts.find((m) => m.target === '/data');
    if (anon?.type !== 'volume') throw new Error('no volume at /data');
    expect(anon.diskDir).toBe(`volumes/${anon.name}`);
    expect(dstore.get(anon.name).onDiskOf).toBe(r.id);
    // Its data is not on the host: its size there is unknown, not 0.
    expect(await dstore.size(anon.name)).toBe(-1);
    const named = mounts.find((m) => m.target === '/named');
    expect(named?.type === 'volume' && named.diskDir).toBe('volumes/named');
    expect(dstore.get('named').onDiskOf).toBe(r.id);
    expect(fs.readdirSync(dstore.dataDir('named'))).toEqual([]);
    const plain = await createDockerContainer(dengine, body({ Cmd: ['true'], Volumes: { '/data': {} } }), '/plain');
    const p = (mainContainer(plain).spec.mounts ?? [])[0];
    expect(p?.type === 'volume' && p.diskDir).toBeUndefined();
  });

  test('where its volumes live: named ones on the share unless volumes=disk, anonymous ones on its disk unless volumes=share; volumes=disk without the image on a disk is refused', async () => {
    const where = async (storageOpt: Record<string, string>, name: string) => {
      const r = await createDockerContainer(
        dengine,
        body({
          Cmd: ['true'],
          Volumes: { '/anon': {} },
          HostConfig: { StorageOpt: storageOpt, Binds: [`${name}:/n`] },
        }),
        `/${name}`,
      );
      const ms = mainContainer(r).spec.mounts ?? [];
      const at = (target: string) => {
        const m = ms.find((x) => x.target === target);
        return m?.type === 'volume' && m.diskDir ? 'disk' : 'share';
      };
      return [at('/anon'), at('/n')];
    };
    expect(await where({ image: 'disk' }, 'v1')).toEqual(['disk', 'share']);
    expect(dstore.get('v1').onDiskOf).toBeUndefined();
    expect(await where({ image: 'disk', volumes: 'disk' }, 'v2')).toEqual(['disk', 'disk']);
    expect(await where({ image: 'disk', volumes: 'share' }, 'v3')).toEqual(['share', 'share']);
    expect(await where({ image: 'layers' }, 'v4')).toEqual(['share', 'share']);
    const before = dstore.list().length;
    await expect(
      createDockerContainer(
        dengine,
        body({
          Cmd: ['true'],
          Volumes: { '/anon': {} },
          HostConfig: { StorageOpt: { image: 'layers', volumes: 'disk' } },
        }),
        '/refused',
      ),
    ).rejects.toThrow('--storage-opt volumes=disk: only for a container that reads its image from a disk');
    expect(dstore.list().length).toBe(before);
  });

  test('another container that mounts such a volume gets it over the volume share, its data left on the disk until it starts', async () => {
    const r = await createDockerContainer(dengine, onDisk(), '/db');
    const anon = (mainContainer(r).spec.mounts ?? [])[0];
    if (anon?.type !== 'volume') throw new Error('no volume');
    for (const [hc, name] of [
      [{ Binds: [`${anon.name}:/x`] }, '/by-name'],
      [{ VolumesFrom: ['db'] }, '/from'],
    ] as const) {
      const other = await createDockerContainer(dengine, body({ Cmd: ['true'], HostConfig: hc }), name);
      const m = (mainContainer(other).spec.mounts ?? []).find((x) => x.type === 'volume' && x.name === anon.name);
      expect(m).toMatchObject({ type: 'volume', name: anon.name, source: dstore.dataDir(anon.name) });
      expect(m?.type === 'volume' && m.diskDir).toBeUndefined();
      // Still its container's: nothing was copied into its host directory.
      expect(dstore.get(anon.name).onDiskOf).toBe(r.id);
      expect(fs.readdirSync(dstore.dataDir(anon.name))).toEqual([]);
    }
  });

  test('a named volume stays on the volume share when another container mounts it, it has driver options or data on the host, it is mounted twice, or its container goes with --rm', async () => {
    const onShare = async (hostConfig: Record<string, unknown>, name: string, volume: string) => {
      const r = await createDockerContainer(
        dengine,
        body({ Cmd: ['true'], HostConfig: { StorageOpt: { image: 'disk', volumes: 'disk' }, ...hostConfig } }),
        name,
      );
      const ms = (mainContainer(r).spec.mounts ?? []).filter((m) => m.type === 'volume' && m.name === volume);
      expect(ms.length).toBeGreaterThan(0);
      for (const m of ms) expect(m.type === 'volume' && m.diskDir).toBeUndefined();
      expect(dstore.get(volume).onDiskOf).toBeUndefined();
    };
    // Mounted by an existing container (on the share: a plain one).
    await createDockerContainer(dengine, body({ Cmd: ['true'], HostConfig: { Binds: ['shared:/s'] } }), '/first');
    await onShare({ Binds: ['shared:/s'] }, '/second', 'shared');
    // Driver options (empty ones, all the local driver lets podvisor keep).
    await dstore.create({ name: 'opts', options: { type: '', device: '' } });
    await onShare({ Binds: ['opts:/o'] }, '/opts', 'opts');
    // Data in its host directory already.
    await dstore.create({ name: 'full' });
    fs.writeFileSync(path.join(dstore.dataDir('full'), 'f'), 'x');
    await onShare({ Binds: ['full:/f'] }, '/full', 'full');
    // Twice in one container; a --rm container.
    await onShare({ Binds: ['twice:/a', 'twice:/b'] }, '/twice', 'twice');
    await onShare({ Binds: ['gone:/g'], AutoRemove: true }, '/rm', 'gone');
    // An existing empty volume nobody mounts goes on the disk, as a new one does.
    await dstore.create({ name: 'empty' });
    const r = await createDockerContainer(
      dengine,
      body({ Cmd: ['true'], HostConfig: { StorageOpt: { image: 'disk', volumes: 'disk' }, Binds: ['empty:/e'] } }),
      '/empty',
    );
    expect(dstore.get('empty').onDiskOf).toBe(r.id);
    // A plain container (image over the layers share) keeps named volumes on the share.
    await onShare({ StorageOpt: { image: 'layers' }, Binds: ['plainvol:/p'] }, '/plainvol', 'plainvol');
  });

  test("the daemon's --storage-opt image=disk: a container with a VM of its own that did not choose reads its image from a disk", async () => {
    const e = hd.engine(hd.pods, { volumes: { store: dstore, events: hd.events }, imageOnDiskByDefault: true });
    const plain = await createDockerContainer(e, body({ Cmd: ['sleep', '9'], Volumes: { '/data': {} } }), '/plain');
    const main = mainContainer(plain).spec;
    expect(main.imageOnDisk).toBe(true);
    const v = (main.mounts ?? [])[0];
    expect(v?.type === 'volume' && v.diskDir).toMatch(/^volumes\/[0-9a-f]{64}$/);
    const chose = await createDockerContainer(
      e,
      body({ Cmd: ['true'], HostConfig: { StorageOpt: { Image: 'layers' } } }),
      '/chose',
    );
    expect(mainContainer(chose).spec.imageOnDisk).toBeUndefined();
    const joined = await createDockerContainer(
      e,
      body({ Cmd: ['true'], HostConfig: { NetworkMode: 'container:plain' } }),
      '/joined',
    );
    // Given the default by the engine, then dropped by the pod layer: plain's storage here
    // (a rootfs manager that makes no disks) will not put it on a VM with the SCSI controller.
    expect(mainContainer(joined).spec.imageOnDisk).toBeUndefined();
    // Without the daemon's option, nothing changes.
    expect(
      mainContainer(await createDockerContainer(dengine, body({ Cmd: ['true'] }), '/other')).spec.imageOnDisk,
    ).toBeUndefined();
  });

  test("the daemon's --storage-opt image=disk: a native pod of one container reads its image from a disk too, and so does one joining such a pod's VM", async () => {
    const e = hd.engine(hd.pods, { volumes: { store: dstore, events: hd.events }, imageOnDiskByDefault: true });
    const own = await e.createNative({ kind: 'spec', spec: { name: 'nat', image: 'busybox', command: ['true'] } });
    expect(mainContainer(own).spec.imageOnDisk).toBe(true);
    const joined = await e.createNative({
      kind: 'spec',
      spec: { name: 'natjoin', image: 'busybox', command: ['true'], network: 'container:nat' },
    });
    // The engine gives it the default; the pod layer decides whether it gets disks in nat's VM
    // (src/pod/lifecycle/joined-disks.ts).
    expect(mainContainer(joined).spec.imageOnDisk).toBe(true);
    const other = await dengine.createNative({ kind: 'spec', spec: { name: 'nat2', image: 'busybox' } });
    expect(mainContainer(other).spec.imageOnDisk).toBeUndefined();
  });

  test("the daemon's --storage-opt image=disk: every container of a pod file reads its image from a disk (init containers too)", async () => {
    const e = hd.engine(hd.pods, { volumes: { store: dstore, events: hd.events }, imageOnDiskByDefault: true });
    const file = `apiVersion: v1
kind: Pod
metadata: {name: several}
spec:
  initContainers:
    - {name: seed, image: busybox, command: ["true"]}
  containers:
    - {name: app, image: busybox, command: [sleep, "9"]}
    - {name: side, image: busybox, args: [cat]}
`;
    const r = await e.createNative({ kind: 'podfile', pod: podRequestOfFile(file) });
    expect(Object.values(r.containers).map((c) => [c.spec.name, c.spec.imageOnDisk])).toEqual([
      ['seed', true],
      ['app', true],
      ['side', true],
    ]);
    // Without the daemon's option, none does.
    const plain = await dengine.createNative({
      kind: 'podfile',
      pod: podRequestOfFile(file.replace('several', 'plainpod')),
    });
    expect(Object.values(plain.containers).map((c) => c.spec.imageOnDisk)).toEqual([undefined, undefined, undefined]);
  });
});
