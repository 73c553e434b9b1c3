/**
 * CheckpointContainer (as `crictl checkpoint --export=FILE ID` and the kubelet's checkpoint API
 * send it: the container's id and the archive's `location`), through the real daemon and real
 * VMs with our grpc-js test client, on a private CNI network of Debian's plugins (bridge
 * pvtcni47 on 10.99.47.0/24):
 *
 *  - a busybox counter's checkpoint writes a tar at `location` holding its manifest, the saved
 *    VM (vm.state, vm.json, pod.json), the copy of its layer (its counter file in it, as synced
 *    before the save) and its image's disk, which reads back through the restore's checks
 *    (src/api/cri/checkpoint-archive-read.ts); the container counts on, and no checkpoint is
 *    left on the sandbox's pod; a second checkpoint replaces the archive;
 *  - the restore (CRI-O's: a CreateContainer with the archive's path as its image, or a
 *    checkpoint image: the archive imported as an image's files with CRI-O's mark as a label,
 *    pushed, removed and pulled again by PullImage) into a new
 *    sandbox: the counter goes on from its saved value in the saved guest, with the new
 *    sandbox's address and hostname inside, its output in its CRI log, kept by a daemon SIGKILL,
 *    the sandbox ready throughout,
 *    ExecSync served, its own id, and its teardown leaves no VM, mount or namespace; refused,
 *    making nothing: a missing archive (NOT_FOUND), a cut one (INVALID_ARGUMENT), one saved
 *    under another accelerator (FAILED_PRECONDITION, naming it);
 *  - refused, the container running on and nothing written at `location`: an unknown container
 *    (NOT_FOUND), a location that is not absolute (INVALID_ARGUMENT), a container that exited,
 *    one with a host-path mount, and one whose pod had a container with one (the VM's file share
 *    stays mounted: FAILED_PRECONDITION), one with another container of its pod running beside
 *    it (UNIMPLEMENTED).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startCriTestDaemon, stopCriTestDaemon, type CriTestDaemon } from '../helpers/cri-daemon';
import { criClient, criFailure, type CriClient } from '../helpers/cri';
import { fixtureRegistry } from '../fixtures/registry';
import { unpackCriCheckpointArchive } from '../../src/api/cri/checkpoint-archive-read';
import { CHECKPOINT_IMAGE_ANNOTATION } from '../../src/api/cri/checkpoint-sources';
import { dockerOk } from '../helpers/docker-cli';
import { listVmProcesses } from '../helpers/leaks';

jest.setTimeout(300_000);

const BUSYBOX = `${fixtureRegistry()}/busybox:latest`;
const COUNTER = ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /n; echo $i; sleep 1; done'];

let h: CriTestDaemon;
let cri: CriClient;
let dir: string;

async function runSandbox(name: string): Promise<{ sid: string; config: object }> {
  const config = {
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    hostname: name,
    log_directory: path.join(dir, 'logs', name),
  };
  const r = await cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config }, 240_000);
  return { sid: r.pod_sandbox_id, config };
}

async function runContainer(
  sb: { sid: string; config: object },
  name: string,
  command: string[],
  mounts: object[] = [],
): Promise<string> {
  const r = await cri.runtime<{ container_id: string }>('CreateContainer', {
    pod_sandbox_id: sb.sid,
    config: { metadata: { name, attempt: 0 }, image: { image: BUSYBOX }, command, mounts },
    sandbox_config: sb.config,
  });
  await cri.runtime('StartContainer', { container_id: r.container_id }, 240_000);
  return r.container_id;
}

async function exec(cid: string, cmd: string[]): Promise<string> {
  const r = await cri.runtime<{ stdout: Buffer; stderr: Buffer; exit_code: number }>(
    'ExecSync',
    { container_id: cid, cmd, timeout: 60 },
    120_000,
  );
  if (r.exit_code !== 0) throw new Error(`${cmd.join(' ')} exited ${r.exit_code}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

const count = async (cid: string) => Number((await exec(cid, ['sh', '-c', 'cat /n 2>/dev/null || echo 0'])).trim());

/** Seconds the container's guest has been up (/proc/uptime). */
const uptime = async (cid: string) => Number((await exec(cid, ['cat', '/proc/uptime'])).split(' ')[0]);

const checkpoint = (cid: string, location: string) =>
  cri.runtime('CheckpointContainer', { container_id: cid, location }, 240_000);

async function removeSandbox(sid: string): Promise<void> {
  await cri.runtime('StopPodSandbox', { pod_sandbox_id: sid }, 120_000);
  await cri.runtime('RemovePodSandbox', { pod_sandbox_id: sid }, 120_000);
}

/** The names in the `ls` of the sandbox pod's checkpoints (the native API's view). */
function checkpointsOf(sid: string): string[] {
  const out = execFileSync('curl', [
    '-sf',
    '--unix-socket',
    h.daemon.socketPath,
    `http://localhost/v1/pods/${sid}/checkpoints`,
  ]).toString();
  return (JSON.parse(out) as Array<{ name: string }>).map((c) => c.name);
}

interface Status {
  id: string;
  state: string;
  image: { image: string };
  network?: { ip: string };
}

/** The sandbox's IP (PodSandboxStatus). */
async function sandboxIp(sid: string): Promise<string> {
  const st = await cri.runtime<{ status: Status }>('PodSandboxStatus', { pod_sandbox_id: sid });
  return st.status.network?.ip ?? '';
}

/** The id of the VM of sandbox `sid` (PodSandboxStatus verbose). */
async function vmOf(sid: string): Promise<string> {
  const st = await cri.runtime<{ info: { info: string } }>('PodSandboxStatus', { pod_sandbox_id: sid, verbose: true });
  return (JSON.parse(st.info.info) as { vm: string }).vm;
}

const createFrom = (sb: { sid: string; config: object }, image: string) =>
  cri.runtime<{ container_id: string }>(
    'CreateContainer',
    {
      pod_sandbox_id: sb.sid,
      config: { metadata: { name: 'count', attempt: 0 }, image: { image }, log_path: 'count.log' },
      sandbox_config: sb.config,
    },
    240_000,
  );

/** The counts the container's CRI log holds (its `stdout F N` lines). */
const loggedCounts = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => /^\S+ stdout F (\d+)$/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);

/**
 * Restore `archive` (of counter `cid`, which was at `before` or more when saved) into a new
 * sandbox: it counts on from there with the new sandbox's address, serves ExecSync, and its
 * teardown leaves no VM and no mount of it.
 */
async function restoreAndCheck(
  archive: string,
  cid: string,
  before: number,
  upBefore: number,
  sandbox = 'restored',
  crash = true,
): Promise<void> {
  const sb = await runSandbox(sandbox);
  const ip = await sandboxIp(sb.sid);
  // Its state as PodSandboxStatus and ListPodSandbox answer it while the restore replaces its VM.
  const seen = new Set<string>();
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const st = await cri.runtime<{ status: Status }>('PodSandboxStatus', { pod_sandbox_id: sb.sid });
      const listed = await cri.runtime<{ items: Status[] }>('ListPodSandbox', { filter: { id: sb.sid } });
      seen.add(st.status.state).add(listed.items[0]?.state ?? 'none');
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  poll.catch(() => undefined); // awaited below
  const t0 = Date.now();
  const { container_id: rid } = await createFrom(sb, archive).finally(() => (polling = false));
  const created = Date.now();
  await poll;
  expect([...seen]).toEqual(['SANDBOX_READY']);
  await cri.runtime('StartContainer', { container_id: rid }, 240_000);
  const took = Date.now() - t0;
  expect(rid).not.toBe(cid);
  const st = await cri.runtime<{ status: Status }>('ContainerStatus', { container_id: rid });
  expect(st.status).toMatchObject({ id: rid, state: 'CONTAINER_RUNNING' });
  expect(st.status.image.image).toBe(BUSYBOX);
  // It goes on from the saved count, not from 0, in the saved guest (whose uptime goes on from
  // the save's: a VM booted for the new sandbox would have been up for a moment only).
  const first = await count(rid);
  expect(first).toBeGreaterThanOrEqual(before);
  expect(await uptime(rid)).toBeGreaterThan(upBefore);
  // The new sandbox's hostname.
  expect(await exec(rid, ['hostname'])).toBe(`${sandbox}\n`);
  for (const end = Date.now() + 60_000; (await count(rid)) <= first && Date.now() < end; )
    await new Promise((r) => setTimeout(r, 500));
  expect(await count(rid)).toBeGreaterThan(first);
  // The new sandbox's address, inside (the sandbox's own, reported after the restore).
  const now = await sandboxIp(sb.sid);
  expect(now).toMatch(/^10\.99\.47\./);
  expect(await exec(rid, ['ip', '-4', 'addr', 'show', 'eth0'])).toContain(`inet ${now}/`);
  expect(await exec(rid, ['echo', 'restored'])).toBe('restored\n');
  // Its /etc/hosts names the new address and hostname, not the saved sandbox's.
  const hosts = await exec(rid, ['cat', '/etc/hosts']);
  expect(hosts).toContain(`${now}\t${sandbox}`);
  expect(hosts).not.toContain('\tcounter');
  process.stdout.write(
    `CRI restore: CreateContainer+StartContainer ${took} ms (CreateContainer ${created - t0} ms); counter ${before} at the save, ${first} after; sandbox IP ${ip} before, ${now} after; ${[...h.daemon.logs().matchAll(/restored from .*\)/g)].pop()?.[0] ?? ''}\n`,
  );
  // Its output goes on in its CRI log (kubectl logs), from the saved count on.
  const logged = loggedCounts(path.join(dir, 'logs', sandbox, 'count.log'));
  expect(logged.length).toBeGreaterThan(0);
  expect(Math.min(...logged)).toBeGreaterThanOrEqual(before);
  if (crash) {
    // A daemon SIGKILL keeps it: the restored sandbox and container are re-adopted, and it counts on.
    await h.daemon.kill9();
    cri.close();
    await h.daemon.restart();
    cri = h.cri = criClient(h.criSock);
    const st2 = await cri.runtime<{ status: Status }>('ContainerStatus', { container_id: rid }, 120_000);
    expect(st2.status.state).toBe('CONTAINER_RUNNING');
    const resumed = await count(rid);
    for (const end = Date.now() + 60_000; (await count(rid)) <= resumed && Date.now() < end; )
      await new Promise((r) => setTimeout(r, 500));
    expect(await count(rid)).toBeGreaterThan(resumed);
    expect(await sandboxIp(sb.sid)).toBe(now);
  }
  // Torn down: no VM, no mount, no network namespace of it left.
  const vm = await vmOf(sb.sid);
  await cri.runtime('StopContainer', { container_id: rid, timeout: 0 }, 120_000);
  await cri.runtime('RemoveContainer', { container_id: rid }, 120_000);
  await removeSandbox(sb.sid);
  expect(listVmProcesses().filter((p) => p.cmdline.includes(`podvisor-${vm} `))).toEqual([]);
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  expect(mounts.filter((l) => l.includes(sb.sid) || l.includes(rid))).toEqual([]);
}

/**
 * Refused restores create nothing: a missing archive (NOT_FOUND), a cut one (INVALID_ARGUMENT),
 * one saved under another accelerator (FAILED_PRECONDITION, naming it).
 */
async function refusedRestores(archive: string): Promise<void> {
  const sb = await runSandbox('refused-restore');
  const ip = await sandboxIp(sb.sid);
  const missing = await criFailure(createFrom(sb, path.join(dir, 'nosuch.tar')));
  expect(missing.code).toBe(grpc.status.NOT_FOUND);
  expect(missing.details).toContain('nosuch.tar does not exist');
  const cut = path.join(dir, 'cut.tar');
  fs.copyFileSync(archive, cut);
  fs.truncateSync(cut, Math.floor(fs.statSync(cut).size / 2));
  const e1 = await criFailure(createFrom(sb, cut));
  expect(e1.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(e1.details).toMatch(/cut\.tar: not a podvisor checkpoint archive: /);
  // The same archive with its VM's stamp naming another accelerator (same length: the
  // manifest's sizes hold).
  const other = path.join(dir, 'kvm.tar');
  execFileSync('python3', ['-c', RESTAMP, archive, other]);
  const e2 = await criFailure(createFrom(sb, other));
  expect(e2.code).toBe(grpc.status.FAILED_PRECONDITION);
  expect(e2.details).toMatch(/its saved VM cannot be started here: .*acceleration \(kvm in the save, tcg here\)/);
  // Nothing made: no container, no checkpoint, the sandbox as it was.
  const listed = await cri.runtime<{ containers: unknown[] }>('ListContainers', { filter: { pod_sandbox_id: sb.sid } });
  expect(listed.containers).toEqual([]);
  expect(checkpointsOf(sb.sid)).toEqual([]);
  expect(await sandboxIp(sb.sid)).toBe(ip);
  await removeSandbox(sb.sid);
}

/** Copies the tar argv[1] to argv[2], every member as it is but vm.json, whose accel=tcg becomes accel=kvm. */
const RESTAMP = `
import sys, tarfile, io
with tarfile.open(sys.argv[1]) as src, tarfile.open(sys.argv[2], 'w', format=tarfile.USTAR_FORMAT) as dst:
    for m in src.getmembers():
        data = src.extractfile(m).read()
        if m.name == 'vm.json':
            assert b'accel=tcg' in data
            data = data.replace(b'accel=tcg', b'accel=kvm')
        dst.addfile(m, io.BytesIO(data))
`;

beforeAll(async () => {
  h = await startCriTestDaemon('podvisor-cri-ckpt-', 47, BUSYBOX);
  ({ dir, cri } = h);
});

afterAll(() => stopCriTestDaemon(h));

describe('CheckpointContainer', () => {
  it("writes the archive of a running counter's saved VM at location; the container counts on", async () => {
    const sb = await runSandbox('counter');
    const cid = await runContainer(sb, 'count', COUNTER);
    for (const end = Date.now() + 60_000; (await count(cid)) < 3 && Date.now() < end; )
      await new Promise((r) => setTimeout(r, 500));
    const before = await count(cid);
    const upBefore = await uptime(cid);
    // Written back to its disk, so that the layer's copy holds it (what the guest has not
    // written back yet is in the saved memory).
    await exec(cid, ['sync']);
    const archive = path.join(dir, 'counter.tar');
    const t0 = Date.now();
    await checkpoint(cid, archive);
    const took = Date.now() - t0;
    const after = await count(cid);
    expect(after).toBeGreaterThanOrEqual(before);

    // Its members, in the order written: the manifest first.
    const members = execFileSync('tar', ['-tf', archive]).toString().trim().split('\n');
    expect(members).toEqual([
      'podvisor-cri-checkpoint.json',
      'vm.state',
      'vm.json',
      'pod.json',
      'joined-0.disk',
      'image-0.ext4',
    ]);
    // Read back as a restore reads it (as hostile input).
    const out = path.join(dir, 'unpacked');
    fs.mkdirSync(out);
    const manifest = await unpackCriCheckpointArchive(archive, out);
    expect(manifest.format).toBe('podvisor-cri-checkpoint/1');
    expect(manifest.container).toMatchObject({ id: cid, image: BUSYBOX, metadata: { name: 'count' } });
    expect(manifest.sandbox.id).toBe(sb.sid);
    // The image's disk is a 16 GiB sparse file, as made at the pull.
    expect(manifest.files.find((f) => f.name === 'image-0.ext4')?.size).toBe(16 * 1024 ** 3);
    // The copy of its layer holds its counter as synced before the save: between the reads around it.
    const saved = Number(
      execFileSync('debugfs', ['-R', 'cat upper/n', path.join(out, 'joined-0.disk')], { stdio: 'pipe' })
        .toString()
        .trim(),
    );
    expect(saved).toBeGreaterThanOrEqual(before);
    expect(saved).toBeLessThanOrEqual(after);
    // The disks are sparse in the archive: a few MiB, not their 16 GiB each.
    expect(fs.statSync(archive).size).toBeLessThan(1024 ** 3);
    process.stdout.write(
      `CheckpointContainer: ${took} ms, archive ${fs.statSync(archive).size} bytes; ${h.daemon.logs().match(/checkpointed to .*\)/)?.[0] ?? ''}\n`,
    );
    fs.rmSync(out, { recursive: true });

    // It counts on, and the save left no checkpoint on the sandbox's pod.
    for (const end = Date.now() + 60_000; (await count(cid)) <= after && Date.now() < end; )
      await new Promise((r) => setTimeout(r, 500));
    expect(await count(cid)).toBeGreaterThan(after);
    expect(checkpointsOf(sb.sid)).toEqual([]);

    // The restore (CRI-O's: the archive's path as the image) into a new sandbox.
    await restoreAndCheck(archive, cid, before, upBefore);
    await refusedRestores(archive);

    // CRI-O's checkpoint image: the archive's members as an image's files, marked (here by the
    // label `docker import --change` sets; buildah sets the manifest's annotation), through a
    // registry that knows nothing of podvisor, pulled again by the CRI, and named as the image.
    const ref = `${fixtureRegistry()}/cri-ckpt-${process.pid}:1`;
    dockerOk(h.daemon, ['import', '--change', `LABEL ${CHECKPOINT_IMAGE_ANNOTATION}=count`, archive, ref], 300_000);
    dockerOk(h.daemon, ['push', ref], 300_000);
    dockerOk(h.daemon, ['rmi', ref]);
    await cri.image('PullImage', { image: { image: ref } }, 300_000);
    await restoreAndCheck(ref, cid, before, upBefore, 'restored-image', false);
    // An image that holds no archive but carries the mark is refused, making nothing.
    const sb2 = await runSandbox('not-an-archive');
    const marked = `cri-marked-${process.pid}:1`;
    dockerOk(h.daemon, ['tag', BUSYBOX, `${marked}-base`]);
    const context = path.join(dir, 'marked');
    fs.mkdirSync(context);
    fs.writeFileSync(
      path.join(context, 'Dockerfile'),
      `FROM ${marked}-base\nLABEL ${CHECKPOINT_IMAGE_ANNOTATION}=count\n`,
    );
    dockerOk(h.daemon, ['build', '-q', '-t', marked, context], 300_000);
    const e = await criFailure(createFrom(sb2, marked));
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e.details).toBe(
      `CreateContainer: checkpoint image ${marked}: the image holds no podvisor-cri-checkpoint.json`,
    );
    const none = await cri.runtime<{ containers: unknown[] }>('ListContainers', {
      filter: { pod_sandbox_id: sb2.sid },
    });
    expect(none.containers).toEqual([]);
    await removeSandbox(sb2.sid);
    dockerOk(h.daemon, ['rmi', marked, `${marked}-base`]);

    // A second checkpoint replaces the archive.
    await checkpoint(cid, archive);
    expect(execFileSync('tar', ['-tf', archive]).toString()).toContain('vm.state');
    await removeSandbox(sb.sid);
  });

  it('refuses what it cannot save, the container running on and nothing written', async () => {
    const location = path.join(dir, 'refused.tar');
    expect((await criFailure(checkpoint('nosuchcontainer', location))).code).toBe(grpc.status.NOT_FOUND);

    const sb = await runSandbox('refusals');
    const bind = path.join(dir, 'bind');
    fs.mkdirSync(bind);
    const mounted = await runContainer(
      sb,
      'mounted',
      ['sleep', '3600'],
      [{ container_path: '/data', host_path: bind }],
    );
    const e1 = await criFailure(checkpoint(mounted, location));
    expect(e1.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(e1.details).toMatch(/host-path mounts \(\/data\).*file share/);

    // Another container of its pod runs beside it.
    const plain = await runContainer(sb, 'plain', ['sleep', '3600']);
    const e2 = await criFailure(checkpoint(plain, location));
    expect(e2.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(e2.details).toMatch(/only running container of a pod/);
    expect((await criFailure(checkpoint(plain, 'relative.tar'))).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await exec(plain, ['echo', 'still'])).toBe('still\n');

    // A container that exited.
    await cri.runtime('StopContainer', { container_id: mounted, timeout: 0 }, 120_000);
    const e3 = await criFailure(checkpoint(mounted, location));
    expect(e3.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(e3.details).toMatch(/not running/);

    // The pod's one running container now, but the VM's file share stays mounted for the
    // host-path mount of the container that exited.
    const e4 = await criFailure(checkpoint(plain, location));
    expect(e4.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(e4.details).toMatch(
      /its sandbox's VM has a file share mounted, which QEMU cannot save: a container of the pod had host-path mounts \(QEMU: Migration is disabled when VirtFS export path .* is mounted in the guest using mount_tag 'podvisor-vol'\)$/,
    );
    expect(await exec(plain, ['echo', 'still'])).toBe('still\n');

    expect(fs.existsSync(location)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('.refused'))).toEqual([]);
    await removeSandbox(sb.sid);
  });
});
