/**
 * The Kubernetes CRI v1 front end through the real daemon, with our grpc-js test client over
 * our own .proto (test/helpers/cri.ts), as a kubelet or crictl reaches it (no VMs are booted):
 *
 *  - RuntimeService: Version, Status (RuntimeReady; NetworkReady false with an empty CNI
 *    configuration directory), UpdateRuntimeConfig (the pod CIDR recorded, a bad one refused), and an RPC not
 *    served yet answering UNIMPLEMENTED;
 *  - ImageService: a `registry.k8s.io/pause:3.9` pulled through a registries.conf mirror on the
 *    fixture registry under another path (by tag and by digest), seen by `docker images`,
 *    pulled again by `docker pull` through the same mirror,
 *    listed (with a filter), its status (uid from the config's User, verbose info), removed
 *    (idempotently), ImageFsInfo growing with the pull; a pull from the auth registry with and
 *    without credentials; bad and missing references (INVALID_ARGUMENT, NOT_FOUND);
 *  - the socket: 0660, removed at shutdown; `--no-cri` serves none.
 */
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { criClient, criFailure, type CriClient } from '../helpers/cri';
import { fixtureAuthRegistry, fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(180000);

const REG = fixtureRegistry();
const AUTH_REG = fixtureAuthRegistry();
const AUTH_USER = process.env.PODVISOR_TEST_AUTH_USER ?? 'podvisor';
const AUTH_PASSWORD = process.env.PODVISOR_TEST_AUTH_PASSWORD ?? 'fixture-password';
// The mirror's path on the fixture registry: one per run, so parallel checkouts do not meet.
const MIRROR_PATH = `cri-mirror-${crypto.randomBytes(4).toString('hex')}`;
const PAUSE = 'registry.k8s.io/pause:3.9';

interface CriImage {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: string;
  uid: { value: string } | null;
  username: string;
}

let d: TestDaemon;
let cri: CriClient;
let dir: string;
let criSock: string;

function docker(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/usr/local/bin/docker', args, { env: d.env, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${String(stderr).trim()}\n${String(stdout).trim()}`.trim()));
      else resolve(String(stdout));
    });
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-cri-'));
  criSock = path.join(dir, 'run', 'cri.sock');
  const conf = path.join(dir, 'registries.conf');
  fs.writeFileSync(
    conf,
    [
      '[[registry]]',
      'location = "registry.k8s.io"',
      '[[registry.mirror]]',
      `location = "${REG}/${MIRROR_PATH}"`,
      'insecure = true',
      '',
    ].join('\n'),
  );
  const cniConf = path.join(dir, 'net.d');
  fs.mkdirSync(cniConf);
  d = await startDaemon({
    args: ['--cri-host', `unix://${criSock}`, '--registries-conf', conf, '--cni-conf-dir', cniConf],
  });
  // The mirror's copy of pause:3.9: the fixture busybox pushed under the mirror's path.
  await docker(['pull', '-q', `${REG}/busybox:latest`]);
  await docker(['tag', `${REG}/busybox:latest`, `${REG}/${MIRROR_PATH}/pause:3.9`]);
  await docker(['push', `${REG}/${MIRROR_PATH}/pause:3.9`]);
  await docker(['rmi', `${REG}/busybox:latest`, `${REG}/${MIRROR_PATH}/pause:3.9`]);
  cri = criClient(criSock);
});

afterAll(async () => {
  cri?.close();
  await d?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('RuntimeService', () => {
  test('Version names podvisor and CRI v1', async () => {
    expect(await cri.runtime('Version', { version: '0.1.0' })).toEqual({
      version: '0.1.0',
      runtime_name: 'podvisor',
      runtime_version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      runtime_api_version: 'v1',
    });
  });

  test('Status: the runtime is ready, the network not (no CNI configuration)', async () => {
    const res = await cri.runtime<{ status: { conditions: Array<Record<string, unknown>> } }>('Status', {});
    expect(res.status.conditions).toEqual([
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
      {
        type: 'NetworkReady',
        status: false,
        reason: 'NetworkPluginNotReady',
        message: expect.stringContaining('cni plugin not initialized'),
      },
    ]);
  });

  test('UpdateRuntimeConfig records the pod CIDR; a bad one is refused and changes nothing', async () => {
    await cri.runtime('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.244.0.0/24' } } });
    const podCidrs = async () =>
      (
        JSON.parse((await cri.runtime<{ info: { config: string } }>('Status', { verbose: true })).info.config) as {
          podCIDRs: string[];
        }
      ).podCIDRs;
    expect(await podCidrs()).toEqual(['10.244.0.0/24']);
    const err = await criFailure(
      cri.runtime('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.244.0.0' } } }),
    );
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain('invalid pod CIDR "10.244.0.0"');
    expect(await podCidrs()).toEqual(['10.244.0.0/24']);
  });

  test('a call not served yet answers UNIMPLEMENTED, naming it', async () => {
    const err = await criFailure(cri.runtime('ListPodSandboxMetrics', {}));
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toBe('podvisor does not serve runtime.v1.RuntimeService/ListPodSandboxMetrics yet');
  });

  test('CheckpointContainer of an unknown container is NOT_FOUND', async () => {
    const missing = await criFailure(
      cri.runtime('CheckpointContainer', { container_id: 'nosuch', location: '/tmp/x.tar' }),
    );
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
  });

  test('the socket is 0660', () => {
    expect(fs.statSync(criSock).mode & 0o777).toBe(0o660);
  });
});

describe('ImageService', () => {
  let pulledId: string;

  test('PullImage fetches registry.k8s.io/pause:3.9 from its registries.conf mirror', async () => {
    const before = await cri.image<{ image_filesystems: Array<{ used_bytes: { value: string } }> }>('ImageFsInfo', {});
    const res = await cri.image<{ image_ref: string }>('PullImage', { image: { image: PAUSE } });
    expect(res.image_ref).toMatch(/^sha256:[a-f0-9]{64}$/);
    pulledId = res.image_ref;
    const status = await cri.image<{ image: CriImage }>('ImageStatus', { image: { image: PAUSE } });
    expect(status.image).toEqual({
      id: pulledId,
      repo_tags: [PAUSE],
      repo_digests: [expect.stringMatching(/^registry\.k8s\.io\/pause@sha256:[a-f0-9]{64}$/)],
      size: expect.stringMatching(/^[1-9]\d*$/),
      uid: null,
      username: '',
      spec: null,
      pinned: false,
    });
    const after = await cri.image<{
      image_filesystems: Array<{
        timestamp: string;
        fs_id: { mountpoint: string };
        used_bytes: { value: string };
        inodes_used: { value: string };
      }>;
    }>('ImageFsInfo', {});
    expect(after.image_filesystems).toHaveLength(1);
    const fsu = after.image_filesystems[0];
    expect(fsu.fs_id.mountpoint).toBe(d.dataRoot);
    expect(BigInt(fsu.used_bytes.value)).toBeGreaterThan(BigInt(before.image_filesystems[0].used_bytes.value));
    expect(BigInt(fsu.inodes_used.value)).toBeGreaterThan(100n);
    // Nanoseconds, about now.
    expect(Math.abs(Number(BigInt(fsu.timestamp) / 1_000_000n) - Date.now())).toBeLessThan(60_000);
  });

  test('docker images sees the image the CRI pulled, under its registry.k8s.io name', async () => {
    const out = await docker(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    expect(out.split('\n')).toContain(`${PAUSE} ${pulledId}`);
  });

  test('a pull by digest goes through the mirror too', async () => {
    const status = await cri.image<{ image: CriImage }>('ImageStatus', { image: { image: PAUSE } });
    const byDigest = status.image.repo_digests[0];
    const res = await cri.image<{ image_ref: string }>('PullImage', { image: { image: byDigest } });
    expect(res.image_ref).toBe(pulledId);
  });

  test('ListImages lists it; a filter keeps the image it names (by name, by ID), or none', async () => {
    const all = await cri.image<{ images: CriImage[] }>('ListImages', {});
    expect(all.images.map((i) => i.id)).toContain(pulledId);
    const named = await cri.image<{ images: CriImage[] }>('ListImages', { filter: { image: { image: PAUSE } } });
    expect(named.images.map((i) => i.id)).toEqual([pulledId]);
    const byId = await cri.image<{ images: CriImage[] }>('ListImages', {
      filter: { image: { image: pulledId.slice('sha256:'.length, 19) } },
    });
    expect(byId.images.map((i) => i.id)).toEqual([pulledId]);
    const none = await cri.image<{ images: CriImage[] }>('ListImages', {
      filter: { image: { image: 'registry.k8s.io/pause:0.0' } },
    });
    expect(none.images).toEqual([]);
  });

  test("ImageStatus gives the config's numeric User as uid, and the config with verbose", async () => {
    await cri.image('PullImage', { image: { image: `${REG}/configured:latest` } });
    const res = await cri.image<{ image: CriImage; info: { info: string } }>('ImageStatus', {
      image: { image: `${REG}/configured` },
      verbose: true,
    });
    expect(res.image.uid).toEqual({ value: '1000' });
    expect(res.image.username).toBe('');
    expect(res.image.repo_tags).toEqual([`${REG}/configured:latest`]);
    const info = JSON.parse(res.info.info) as { id: string; imageSpec: { config: { User: string } } };
    expect(info.id).toBe(res.image.id);
    expect(info.imageSpec.config.User).toBe('1000');
    await cri.image('RemoveImage', { image: { image: res.image.id } });
  });

  test('PullImage with AuthConfig: username/password, then auth; none is refused', async () => {
    const image = { image: `${AUTH_REG}/busybox:latest` };
    const refused = await criFailure(cri.image('PullImage', { image }));
    expect(refused.code).toBe(grpc.status.UNAVAILABLE);
    expect(refused.details).toContain('no basic auth credentials');
    const wrong = await criFailure(cri.image('PullImage', { image, auth: { username: AUTH_USER, password: 'x' } }));
    expect(wrong.code).not.toBe(grpc.status.OK);
    const a = await cri.image<{ image_ref: string }>('PullImage', {
      image,
      auth: { username: AUTH_USER, password: AUTH_PASSWORD },
    });
    expect(a.image_ref).toMatch(/^sha256:/);
    await cri.image('RemoveImage', { image });
    const b = await cri.image<{ image_ref: string }>('PullImage', {
      image,
      auth: { auth: Buffer.from(`${AUTH_USER}:${AUTH_PASSWORD}`).toString('base64') },
    });
    expect(b.image_ref).toBe(a.image_ref);
    await cri.image('RemoveImage', { image });
  });

  test('bad references are INVALID_ARGUMENT, a missing tag NOT_FOUND, an empty spec INVALID_ARGUMENT', async () => {
    const bad = await criFailure(cri.image('PullImage', { image: { image: 'Not/A Ref' } }));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.details).toContain('invalid reference format');
    const badStatus = await criFailure(cri.image('ImageStatus', { image: { image: 'UPPER:case' } }));
    expect(badStatus.code).toBe(grpc.status.INVALID_ARGUMENT);
    const missing = await criFailure(cri.image('PullImage', { image: { image: `${REG}/busybox:no-such-tag` } }));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    expect(missing.details).toContain('no-such-tag');
    const empty = await criFailure(cri.image('PullImage', { image: { image: '' } }));
    expect(empty.code).toBe(grpc.status.INVALID_ARGUMENT);
    // An image that is not here: no image, and no error.
    expect(await cri.image('ImageStatus', { image: { image: 'registry.k8s.io/pause:0.0' } })).toEqual({
      image: null,
      info: {},
    });
  });

  test("the Docker API's pulls go through the same registries.conf mirrors", async () => {
    await docker(['pull', '-q', 'registry.k8s.io/pause:3.9']);
    const id = (await docker(['image', 'inspect', '--format', '{{.Id}}', 'registry.k8s.io/pause:3.9'])).trim();
    expect(id).toBe(pulledId);
    const status = await cri.image<{ image: CriImage }>('ImageStatus', { image: { image: PAUSE } });
    expect(status.image.id).toBe(pulledId);
  });

  test('RemoveImage removes the image with all its names; again is no error', async () => {
    await cri.image('RemoveImage', { image: { image: PAUSE } });
    expect(await cri.image('ImageStatus', { image: { image: PAUSE } })).toEqual({ image: null, info: {} });
    expect(await cri.image('ImageStatus', { image: { image: pulledId } })).toEqual({ image: null, info: {} });
    const out = await docker(['images', '--format', '{{.Repository}}']);
    expect(out).not.toContain('registry.k8s.io/pause');
    await cri.image('RemoveImage', { image: { image: PAUSE } });
  });
});

describe('the socket', () => {
  test('is removed when the daemon shuts down; --no-cri serves none', async () => {
    const sock = path.join(dir, 'second', 'cri.sock');
    const second = await startDaemon({ args: ['--cri-host', `unix://${sock}`] });
    try {
      expect(fs.statSync(sock).isSocket()).toBe(true);
    } finally {
      await second.stop();
    }
    expect(fs.existsSync(sock)).toBe(false);
    const none = await startDaemon({ args: ['--no-cri'] });
    try {
      expect(fs.existsSync(path.join(none.execRoot, 'cri.sock'))).toBe(false);
    } finally {
      await none.stop();
    }
  });
});
