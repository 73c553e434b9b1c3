/**
 * Checkpoint images (issue 66, docs/checkpoint-images.md) with the stock docker CLI, the
 * podvisor CLI and the fixture registry (Debian's docker-registry, which knows nothing of
 * podvisor), on two daemons of their own data and exec roots (standing in for two hosts), and
 * dockerd 20.10 beside them:
 * - a busybox counter saved as an image on daemon A (its run ends, as a checkpoint without
 *   --leave-running), pushed, pulled on daemon B (restarted between the pull and the run), goes
 *   on there from the next number;
 * - three containers run from it at once on B each go on counting, each with its own id,
 *   address and disk: a file one writes is in neither other;
 * - what a saved process cannot take (a command, -e, -v) is refused naming the option, with
 *   nothing made; the cold-start label runs the image's filesystem afresh;
 * - a state tampered with in the registry (a changed record, a truncated layer, a disk said to
 *   be 1 TiB, an image disk's recipe whose disk is not the recorded one or over other layers
 *   than the image's own) is pulled, but refused at the run naming what is wrong, with nothing
 *   started and nothing unpacked left;
 * - dockerd runs the same reference as a plain image: the container's filesystem as `docker
 *   commit` makes it, and nothing of the saved state in it;
 * - a daemon limited to other registries (--checkpoint-image-registry) refuses the state, and
 *   runs the image cold with the label;
 * - B's initramfs is a copy of its own (another path and time: another host's build of the
 *   same agent), and the state starts there; a daemon whose initramfs is another build refuses
 *   it at the run, naming the initramfs, with nothing made;
 * - docker-py saves a running container through the Docker API's extension (`Image` in the
 *   checkpoint body, --leave-running) and runs it on the same daemon;
 * - `docker save` of it on B, `docker load` on A (its first copy removed) starts from the
 *   state too;
 * - the image is not removed while a container of it runs (unless forced, as dockerd), and the
 *   container runs on; once they are gone its removal leaves no unpacked state behind.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, dockerOk, dockerSync } from '../helpers/docker-cli';
import { podvisorOk } from '../helpers/podvisor-cli';
import { startNetnsDockerd } from '../../bench/netns-dockerd';
import { defaultGuestImages } from '../../src/vm/guest-images';

jest.setTimeout(900000);

const REG = fixtureRegistry();
const BASE = `${REG}/busybox`;
const RUN = `${process.pid}-${Date.now().toString(36)}`;
const REF = `${REG}/ckpt-counter-${RUN}:1`;
const COUNTER = 'echo saved-fs > /proof; i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done';

let a: TestDaemon;
let b: TestDaemon;
/** The guest files of the daemons standing in for other hosts. */
const hostFiles = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-ckpt-hosts-'));

/**
 * A copy of the default initramfs, as another host's build of the same agent (another path,
 * another time), and with `extra` bytes after it (another build).
 */
function initramfsCopy(name: string, extra = ''): string {
  const copy = path.join(hostFiles, name);
  fs.copyFileSync(defaultGuestImages().initrd, copy);
  if (extra) fs.appendFileSync(copy, extra);
  const earlier = new Date(Date.now() - 86400000);
  fs.utimesSync(copy, earlier, earlier);
  return copy;
}

beforeAll(async () => {
  // B reads its initramfs from a file of its own, as a host that built the same agent itself.
  [a, b] = await Promise.all([
    startDaemon({ args: ['--experimental'] }),
    startDaemon({ args: ['--experimental', '--initrd', initramfsCopy('b.cpio.gz')] }),
  ]);
  dockerOk(a, ['pull', '-q', BASE], 300000);
});

afterAll(async () => {
  await Promise.all([a && stopDaemonLeavingNothing(a), b && stopDaemonLeavingNothing(b)]);
  fs.rmSync(hostFiles, { recursive: true, force: true });
});

/** The counter's log lines as numbers (other lines dropped). */
function counts(d: TestDaemon, name: string): number[] {
  return dockerOk(d, ['logs', name])
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

/** Wait until container `name` has logged at least `n` numbers; its numbers then. */
async function countsAtLeast(d: TestDaemon, name: string, n: number, timeoutMs = 120000): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = counts(d, name);
    if (c.length >= n) return c;
    if (Date.now() > until) throw new Error(`${name} logged only ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Whether `nums` goes up one by one. */
function consecutive(nums: number[]): boolean {
  return nums.every((x, i) => i === 0 || x === nums[i - 1] + 1);
}

let savedLast = -1;

test('a counter saved as an image on A goes on, on B, from the next number', async () => {
  dockerOk(a, ['run', '-d', '--name', 'cnt', BASE, 'sh', '-c', COUNTER]);
  await countsAtLeast(a, 'cnt', 5);
  const id = (await podvisorOk(a, ['checkpoint', '--image', REF, 'cnt'])).trim();
  expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
  // Without --leave-running its run ended, as a checkpoint's does.
  expect(dockerOk(a, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'cnt']).trim()).toBe('exited 137');
  const before = counts(a, 'cnt');
  savedLast = before[before.length - 1];
  expect(dockerOk(a, ['image', 'inspect', '-f', '{{.Id}}', REF]).trim()).toBe(id);
  dockerOk(a, ['push', REF], 300000);
  // The registry holds an OCI index: the image's manifest and, for no platform, the state.
  const [host, ...repo] = REF.replace(/:1$/, '').split('/');
  const index = JSON.parse(
    execFileSync('curl', [
      '-sf',
      '-H',
      'Accept: application/vnd.oci.image.index.v1+json',
      `http://${host}/v2/${repo.join('/')}/manifests/1`,
    ]).toString(),
  ) as { mediaType: string; manifests: Array<{ platform?: { os: string }; annotations?: Record<string, string> }> };
  expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
  expect(index.manifests.map((m) => m.platform?.os).sort()).toEqual(['linux', 'unknown']);

  dockerOk(b, ['pull', '-q', REF], 300000);
  // A daemon restart between the pull and the run keeps the state.
  await b.restart();
  dockerOk(b, ['run', '-d', '--name', 'c1', REF]);
  const after = await countsAtLeast(b, 'c1', 3);
  expect(after[0]).toBe(savedLast + 1);
  expect(consecutive(after)).toBe(true);
  // Its filesystem is the saved one, and it is a container of its own.
  expect(dockerOk(b, ['exec', 'c1', 'cat', '/proof']).trim()).toBe('saved-fs');
  expect(dockerOk(b, ['inspect', '-f', '{{.Config.Image}}', 'c1']).trim()).toBe(REF);
  // Its hostname is its own (its ID's first 12), in the guest as in inspect, as dockerd's.
  const own = dockerOk(b, ['inspect', '-f', '{{.Id}}', 'c1']).slice(0, 12);
  expect(dockerOk(b, ['inspect', '-f', '{{.Config.Hostname}}', 'c1']).trim()).toBe(own);
  expect(dockerOk(b, ['exec', 'c1', 'hostname']).trim()).toBe(own);
});

test('three containers run from it at once each go on, with disks of their own', async () => {
  const names = ['m1', 'm2', 'm3'];
  const runs = await Promise.all(names.map((n) => dockerCli(b, ['run', '-d', '--name', n, REF])));
  for (const r of runs) expect(r.err).toBe('');
  expect(runs.map((r) => r.code)).toEqual([0, 0, 0]);
  for (const n of names) {
    const c = await countsAtLeast(b, n, 3);
    expect(c[0]).toBe(savedLast + 1);
    expect(consecutive(c)).toBe(true);
  }
  const ids = names.map((n) => dockerOk(b, ['inspect', '-f', '{{.Id}}', n]).trim());
  expect(new Set(ids).size).toBe(3);
  const ips = names.map((n) => dockerOk(b, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', n]).trim());
  expect(new Set(ips).size).toBe(3);
  dockerOk(b, ['exec', 'm1', 'sh', '-c', 'echo mine > /written']);
  expect(dockerOk(b, ['exec', 'm1', 'cat', '/written']).trim()).toBe('mine');
  for (const n of ['m2', 'm3']) expect(dockerSync(b, ['exec', n, 'cat', '/written']).code).not.toBe(0);
  dockerOk(b, ['rm', '-f', ...names]);
});

test('what a saved process cannot take is refused naming the option, and nothing is made', () => {
  const before = dockerOk(b, ['ps', '-aq']).trim();
  const cases: Array<[string[], string]> = [
    [['run', '-d', REF, 'echo', 'hi'], 'a command'],
    [['run', '-d', '-e', 'FOO=1', REF], '-e FOO'],
    [['run', '-d', '-v', '/tmp:/mnt', REF], '-v'],
  ];
  for (const [args, option] of cases) {
    const r = dockerSync(b, args);
    expect(r.code).toBe(125);
    expect(r.err).toContain(option);
    expect(r.err).toContain('starts from its saved state');
  }
  expect(dockerOk(b, ['ps', '-aq']).trim()).toBe(before);
  // The cold-start label: the image's filesystem, its command run afresh.
  expect(
    dockerOk(b, ['run', '--rm', '--label', 'org.podvisor.checkpoint-image.start=cold', REF, 'cat', '/proof']).trim(),
  ).toBe('saved-fs');
});

test('a daemon limited to other registries refuses the state, and runs the image cold', async () => {
  const c = await startDaemon({ args: ['--experimental', '--checkpoint-image-registry', 'registry.example:5000'] });
  try {
    dockerOk(c, ['pull', '-q', REF], 300000);
    const r = dockerSync(c, ['run', '-d', REF]);
    expect(r.code).toBe(125);
    expect(r.err).toContain(`came from registry ${REG}`);
    expect(r.err).toContain('--checkpoint-image-registry');
    expect(dockerOk(c, ['ps', '-aq'])).toBe('');
    expect(
      dockerOk(c, ['run', '--rm', '--label', 'org.podvisor.checkpoint-image.start=cold', REF, 'cat', '/proof']).trim(),
    ).toBe('saved-fs');
  } finally {
    await stopDaemonLeavingNothing(c);
  }
});

test('a daemon of another agent refuses the state naming what differs, and makes nothing', async () => {
  // Its initramfs is another build: zero padding after the archive (which the kernel skips).
  const c = await startDaemon({ args: ['--experimental', '--initrd', initramfsCopy('c.cpio.gz', '\0'.repeat(512))] });
  try {
    dockerOk(c, ['pull', '-q', REF], 300000);
    const r = dockerSync(c, ['run', '-d', REF]);
    expect(r.code).toBe(125);
    expect(r.err).toContain('made under another guest kernel, agent or QEMU than this daemon runs now');
    expect(r.err).toMatch(
      /its initramfs \(the agent is in it\) \(sha256:[0-9a-f]{12} in the save, sha256:[0-9a-f]{12} here\)/,
    );
    expect(r.err).not.toContain('its guest kernel (');
    expect(dockerOk(c, ['ps', '-aq'])).toBe('');
  } finally {
    await stopDaemonLeavingNothing(c);
  }
});

test('docker-py saves a container through the Docker API (its Image extension) and runs it on the same daemon', async () => {
  const ref2 = `${REG}/ckpt-dpy-${RUN}:1`;
  dockerOk(a, ['run', '-d', '--name', 'cnt2', BASE, 'sh', '-c', COUNTER]);
  await countsAtLeast(a, 'cnt2', 3);
  const script = [
    'import docker, sys',
    'c = docker.from_env(version="1.45")',
    'r = c.api._post_json(c.api._url("/containers/{0}/checkpoints", "cnt2"), data={"Image": sys.argv[1], "Exit": False})',
    'c.api._raise_for_status(r)',
    'print(r.status_code, r.json()["Id"])',
    'print(c.images.get(sys.argv[1]).id)',
    'x = c.containers.run(sys.argv[1], detach=True, name="dpy")',
    'print(x.id)',
  ].join('\n');
  const out = execFileSync('python3', ['-c', script, ref2], { env: a.env, timeout: 300000 }).toString().split('\n');
  const [status, id] = out[0].split(' ');
  expect(status).toBe('201');
  expect(out[1]).toBe(id);
  // --leave-running: the saved container counts on, and the new one goes on from the save.
  expect(dockerOk(a, ['inspect', '-f', '{{.State.Status}}', 'cnt2']).trim()).toBe('running');
  const saved = counts(a, 'cnt2');
  const started = await countsAtLeast(a, 'dpy', 3);
  expect(started[0]).toBeLessThanOrEqual(saved[saved.length - 1] + 1);
  expect(started[0]).toBeGreaterThan(2);
  expect(consecutive(started)).toBe(true);
  dockerOk(a, ['rm', '-f', 'dpy', 'cnt2']);
  dockerOk(a, ['rmi', ref2]);
});

/** A registry's HTTP API at the fixture registry, for repository `repo`. */
function registry(repo: string) {
  const base = `http://${REG}/v2/${repo}`;
  const accept = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';
  return {
    async manifest(ref: string): Promise<Buffer> {
      const r = await fetch(`${base}/manifests/${ref}`, { headers: { Accept: accept } });
      if (!r.ok) throw new Error(`GET manifest ${ref}: ${r.status}`);
      return Buffer.from(await r.arrayBuffer());
    },
    async blob(digest: string): Promise<Buffer> {
      const r = await fetch(`${base}/blobs/${digest}`);
      if (!r.ok) throw new Error(`GET blob ${digest}: ${r.status}`);
      return Buffer.from(await r.arrayBuffer());
    },
    /** Upload `bytes`; its digest. */
    async putBlob(bytes: Buffer): Promise<string> {
      const digest = `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
      const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
      const loc = new URL(start.headers.get('location') ?? '', `http://${REG}`);
      loc.searchParams.set('digest', digest);
      const r = await fetch(loc, {
        method: 'PUT',
        body: bytes,
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      if (!r.ok) throw new Error(`PUT blob: ${r.status} ${await r.text()}`);
      return digest;
    },
    /** Put manifest `bytes` of type `type` under `ref`; its digest. */
    async putManifest(ref: string, type: string, bytes: Buffer): Promise<string> {
      const r = await fetch(`${base}/manifests/${ref}`, {
        method: 'PUT',
        body: bytes,
        headers: { 'Content-Type': type },
      });
      if (!r.ok) throw new Error(`PUT manifest ${ref}: ${r.status} ${await r.text()}`);
      return `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
    },
  };
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string };
}

/**
 * Push to the registry, under tag `tag` of REF's repository, REF with its state changed by
 * `change` (given the state manifest and a way to upload a blob; it returns the new manifest).
 */
async function pushTampered(
  tag: string,
  change: (
    m: { config: Descriptor; layers: Descriptor[] },
    reg: ReturnType<typeof registry>,
  ) => Promise<{ config: Descriptor; layers: Descriptor[] }>,
): Promise<void> {
  const repo = REF.slice(REG.length + 1).replace(/:1$/, '');
  const reg = registry(repo);
  const index = JSON.parse((await reg.manifest('1')).toString()) as { manifests: Descriptor[] };
  const state = index.manifests.find((m) => m.platform?.os === 'unknown')!;
  const m = JSON.parse((await reg.manifest(state.digest)).toString()) as { config: Descriptor; layers: Descriptor[] };
  const changed = Buffer.from(JSON.stringify({ ...m, ...(await change(m, reg)) }));
  const type = 'application/vnd.oci.image.manifest.v1+json';
  const digest = await reg.putManifest(
    `sha256:${crypto.createHash('sha256').update(changed).digest('hex')}`,
    type,
    changed,
  );
  const manifests = index.manifests.map((e) => (e === state ? { ...e, digest, size: changed.length } : e));
  await reg.putManifest(
    tag,
    'application/vnd.oci.image.index.v1+json',
    Buffer.from(JSON.stringify({ ...index, manifests })),
  );
}

test('a tampered state from the registry is refused with nothing started and nothing left', async () => {
  const repo = REF.replace(/:1$/, '');
  // A changed record: the saved container's id made a path.
  await pushTampered('record', async (m, reg) => {
    const config = JSON.parse((await reg.blob(m.config.digest)).toString()) as {
      record: { container: { id: string } };
    };
    config.record.container.id = '../../../etc';
    const bytes = Buffer.from(JSON.stringify(config));
    return { config: { ...m.config, digest: await reg.putBlob(bytes), size: bytes.length }, layers: m.layers };
  });
  // A truncated layer: the saved RAM's zstd cut in half (a blob true to its own digest).
  await pushTampered('truncated', async (m, reg) => {
    const layers = await Promise.all(
      m.layers.map(async (l) => {
        if (l.annotations?.['org.opencontainers.image.title'] !== 'vm.state') return l;
        const half = (await reg.blob(l.digest)).subarray(0, Math.floor(l.size / 2));
        return { ...l, digest: await reg.putBlob(half), size: half.length };
      }),
    );
    return { config: m.config, layers };
  });
  // An oversized layer: the state says its disk is 1 TiB.
  await pushTampered('oversized', async (m, reg) => {
    const config = JSON.parse((await reg.blob(m.config.digest)).toString()) as {
      files: Array<{ name: string; bytes: number }>;
    };
    for (const f of config.files) if (f.name === 'upper.ext4') f.bytes = 1024 ** 4;
    const bytes = Buffer.from(JSON.stringify(config));
    return { config: { ...m.config, digest: await reg.putBlob(bytes), size: bytes.length }, layers: m.layers };
  });
  // A recipe whose disk is not the one recorded: the image disk's digest changed.
  await pushTampered('recipe', async (m, reg) => {
    const config = JSON.parse((await reg.blob(m.config.digest)).toString()) as {
      files: Array<{ name: string; recipe?: { digest: string } }>;
    };
    const entry = config.files.find((f) => f.name === 'image.ext4');
    expect(entry?.recipe).toBeDefined();
    entry!.recipe!.digest = `sha256:${'0'.repeat(64)}`;
    const bytes = Buffer.from(JSON.stringify(config));
    return { config: { ...m.config, digest: await reg.putBlob(bytes), size: bytes.length }, layers: m.layers };
  });
  // A recipe over layers that are not the image's own: they would be read from this host.
  await pushTampered('base', async (m, reg) => {
    const config = JSON.parse((await reg.blob(m.config.digest)).toString()) as {
      files: Array<{ name: string; recipe?: { base: string[] } }>;
    };
    config.files.find((f) => f.name === 'image.ext4')!.recipe!.base = [`sha256:${'1'.repeat(64)}`];
    const bytes = Buffer.from(JSON.stringify(config));
    return { config: { ...m.config, digest: await reg.putBlob(bytes), size: bytes.length }, layers: m.layers };
  });
  // A daemon of its own: the five share the saved image's ID, whose state each pull replaces.
  const d = await startDaemon({ args: ['--experimental'] });
  try {
    const states = path.join(d.dataRoot, 'checkpoint-images');
    const unpacked = () => (fs.existsSync(states) ? fs.readdirSync(states) : []);
    for (const [tag, why] of [
      ['record', /its record is not one this daemon reads: no container id/],
      ['truncated', /vm\.state.*zstd: truncated stream/],
      ['oversized', /upper\.ext4 of 1099511627776 bytes is over its limit/],
      ['recipe', /image\.ext4: image disk recipe: the disk it makes \(sha256:\w+\) is not the one it was made from/],
      ['base', /image\.ext4: its image disk's recipe was made over layers that are not this image's own first layers/],
    ] as const) {
      dockerOk(d, ['pull', '-q', `${repo}:${tag}`], 300000);
      const r = dockerSync(d, ['run', '-d', `${repo}:${tag}`]);
      expect(r.code).toBe(125);
      expect(r.err).toMatch(/the saved state of image \w+ cannot be used/);
      expect(r.err).toMatch(why);
      expect(dockerOk(d, ['ps', '-aq'])).toBe('');
      expect(unpacked()).toEqual([]);
      dockerOk(d, ['rmi', `${repo}:${tag}`]);
    }
  } finally {
    await stopDaemonLeavingNothing(d);
  }
});

test('dockerd runs the same reference as a plain image, with nothing of the saved state in it', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-ckimg-dockerd-'));
  const dockerd = await startNetnsDockerd(base);
  try {
    const out = dockerOk(dockerd, ['run', '--rm', REF, 'sh', '-c', 'cat /proof; ls -a /'], 300000);
    expect(out.split('\n')[0]).toBe('saved-fs');
    const top = out.split('\n').slice(1).filter(Boolean).sort();
    const plain = dockerOk(dockerd, ['run', '--rm', BASE, 'ls', '-a', '/'], 300000).split('\n').filter(Boolean);
    expect(top).toEqual([...plain, 'proof'].sort());
  } finally {
    await dockerd.stop();
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('docker save and load carry the state; the image goes with no state left once unused', async () => {
  const tar = path.join(os.tmpdir(), `pv-ckimg-${RUN}.tar`);
  try {
    dockerOk(b, ['save', '-o', tar, REF]);
    dockerOk(a, ['rm', '-f', 'cnt']);
    dockerOk(a, ['rmi', REF]);
    dockerOk(a, ['load', '-i', tar]);
    dockerOk(a, ['run', '-d', '--name', 'loaded', REF]);
    const c = await countsAtLeast(a, 'loaded', 2);
    expect(c[0]).toBe(savedLast + 1);
  } finally {
    fs.rmSync(tar, { force: true });
  }
  // An image a container uses is not removed unless forced (dockerd's 409), and the container runs on.
  const r = dockerSync(b, ['rmi', REF]);
  expect(r.code).not.toBe(0);
  expect(r.err).toMatch(/must force.*container .* is using its referenced image/);
  const goesOn = counts(b, 'c1').length;
  await countsAtLeast(b, 'c1', goesOn + 2);
  dockerOk(b, ['rm', '-f', 'c1']);
  dockerOk(b, ['rmi', REF]);
  dockerOk(a, ['rm', '-f', 'loaded']);
  dockerOk(a, ['rmi', REF]);
  for (const d of [a, b]) {
    const root = path.join(d.dataRoot, 'checkpoint-images');
    const until = Date.now() + 10000;
    while (fs.existsSync(root) && fs.readdirSync(root).length > 0 && Date.now() < until)
      await new Promise((res) => setTimeout(res, 200));
    expect(fs.existsSync(root) ? fs.readdirSync(root) : []).toEqual([]);
  }
});
