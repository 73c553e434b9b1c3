/**
 * CheckpointContainer's own logic (src/api/cri/checkpoint.ts) over a fake pod service: the
 * refusals, each before anything is saved (INVALID_ARGUMENT, FAILED_PRECONDITION and
 * UNIMPLEMENTED as their error classes); the pod layer's refusals given the CRI's words (QEMU's
 * 9p blocker named as the sandbox's file share); and the save made on the sandbox's pod with
 * `criSandbox`, its archive written at location, the checkpoint removed after, also when the
 * archive cannot be written (nothing left at location then).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkpointCriContainer } from '../../../../src/api/cri/checkpoint';
import { unpackCriCheckpointArchive } from '../../../../src/api/cri/checkpoint-archive-read';
import type { CriPods } from '../../../../src/api/cri/records';
import type { CriRuntimeDeps } from '../../../../src/api/cri/runtime-deps';
import type { CriContainerRecord } from '../../../../src/api/cri/record-types';
import { ConflictError, InvalidArgumentError, NotImplementedError } from '../../../../src/errors';
import { CheckpointError } from '../../../../src/pod/errors';
import type { PodRecord } from '../../../../src/pod/types';

const CID = 'c'.repeat(64);
const OTHER = 'd'.repeat(64);
const SID = 's'.repeat(64);

let dir: string;
let running: Set<string>;
let mounts: CriContainerRecord['mounts'];
let calls: string[];
let saveFails: Error | undefined;
let withImageDisk: boolean;

const podOf = (id: string) => ({ id, containers: { [id]: { spec: { id }, state: {} } } }) as unknown as PodRecord;

/** The CriPods the call reads: container CID (and OTHER) in sandbox SID. */
function fakeCri(): CriPods {
  return {
    settled: (r: PodRecord) => Promise.resolve(r),
    container: (id: string) => podOf(id),
    containerRecord: (r: PodRecord) =>
      ({
        kind: 'container',
        id: r.id,
        name: 'k8s_count',
        sandboxId: SID,
        metadata: { name: 'count', attempt: 0 },
        labels: {},
        annotations: {},
        logPath: '',
        image: 'busybox',
        mounts,
      }) as CriContainerRecord,
    sandbox: (id: string) => podOf(id),
    sandboxRecord: () => ({ metadata: { name: 'counter', namespace: 'default', uid: 'u', attempt: 0 } }),
    containersOf: () => [podOf(CID), podOf(OTHER)],
  } as unknown as CriPods;
}

/** A pod service whose checkpoint writes a checkpoint's files into its directory. */
function fakeDeps(): CriRuntimeDeps {
  const ckptDir = (name: string) => path.join(dir, 'checkpoints', name);
  return {
    pods: {
      isRunning: (id: string) => running.has(id),
      checkpoint: (ref: string, name: string, opts: object) => {
        calls.push(`checkpoint ${ref === SID ? 'sandbox' : ref} ${JSON.stringify(opts)}`);
        if (saveFails) return Promise.reject(saveFails);
        const d = ckptDir(name);
        fs.mkdirSync(d, { recursive: true });
        for (const f of ['vm.state', 'vm.json', 'pod.json']) fs.writeFileSync(path.join(d, f), f);
        fs.writeFileSync(path.join(d, 'joined-0.disk'), 'layer');
        if (withImageDisk) fs.writeFileSync(path.join(d, 'image-0.ext4'), 'image');
        return Promise.resolve();
      },
      checkpointDir: (_ref: string, name: string) => ckptDir(name),
      removeCheckpoint: (_ref: string, name: string) => {
        calls.push('remove');
        fs.rmSync(ckptDir(name), { recursive: true, force: true });
        return Promise.resolve();
      },
    },
  } as unknown as CriRuntimeDeps;
}

const run = (location: string, id = CID) =>
  checkpointCriContainer(fakeDeps(), fakeCri(), { container_id: id, location });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cri-ckpt-'));
  running = new Set([CID, SID]);
  mounts = [];
  calls = [];
  saveFails = undefined;
  withImageDisk = true;
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('checkpointCriContainer', () => {
  it("saves the sandbox's pod with criSandbox, writes the archive, and removes the checkpoint", async () => {
    const location = path.join(dir, 'a.tar');
    await run(location);
    expect(calls).toEqual(['checkpoint sandbox {"exit":false,"criSandbox":true}', 'remove']);
    const into = path.join(dir, 'into');
    fs.mkdirSync(into);
    const m = await unpackCriCheckpointArchive(location, into);
    expect(m.container).toMatchObject({ id: CID, diskName: CID, image: 'busybox', metadata: { name: 'count' } });
    expect(m.sandbox).toMatchObject({ id: SID, metadata: { name: 'counter' } });
    expect(fs.readFileSync(path.join(into, 'joined-0.disk'), 'utf8')).toBe('layer');
    expect(fs.readdirSync(path.join(dir, 'checkpoints'))).toEqual([]);
  });

  it('refuses before any save, each with its class', async () => {
    const location = path.join(dir, 'a.tar');
    await expect(run('a.tar')).rejects.toThrow(InvalidArgumentError);
    await expect(run(path.join(dir, 'nodir', 'a.tar'))).rejects.toThrow(/the directory of .* does not exist/);
    running = new Set([SID]);
    await expect(run(location)).rejects.toThrow(
      new ConflictError(`CheckpointContainer: container ${CID}: it is not running`),
    );
    running = new Set([CID, SID, OTHER]);
    const several = await run(location).catch((e: Error) => e);
    expect(several).toBeInstanceOf(NotImplementedError);
    expect((several as Error).message).toContain(`its pod's container ${OTHER} runs in the same VM`);
    running = new Set([CID, SID]);
    mounts = [{ containerPath: '/data', hostPath: '/srv', readonly: false, propagation: 'PROPAGATION_PRIVATE' }];
    await expect(run(location)).rejects.toThrow(/its host-path mounts \(\/data\) are on the VM's file share/);
    expect(calls).toEqual([]);
    expect(fs.existsSync(location)).toBe(false);
  });

  it("gives the pod layer's refusals in the CRI's words", async () => {
    const location = path.join(dir, 'a.tar');
    saveFails = new CheckpointError(
      'cannot-save',
      SID,
      'cri-x',
      "its VM cannot be saved (see docs/checkpoint.md): Migration is disabled when VirtFS export path '/x/volumes' is mounted in the guest using mount_tag 'podvisor-vol' (a container can be saved when ...)",
    );
    const err = await run(location).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toBe(
      `CheckpointContainer: container ${CID}: its sandbox's VM has a file share mounted, which QEMU cannot save: a container of the pod had host-path mounts (QEMU: Migration is disabled when VirtFS export path '/x/volumes' is mounted in the guest using mount_tag 'podvisor-vol')`,
    );
    saveFails = new CheckpointError('cannot-save', SID, 'cri-x', 'its VM cannot be saved: the guest did not answer');
    await expect(run(location)).rejects.toThrow(
      new ConflictError(`CheckpointContainer: container ${CID}: its VM cannot be saved: the guest did not answer`),
    );
    expect(calls.filter((c) => c === 'remove')).toEqual([]);
  });

  it('removes the checkpoint when the archive cannot be written, leaving nothing at location', async () => {
    withImageDisk = false;
    const location = path.join(dir, 'a.tar');
    await expect(run(location)).rejects.toThrow(/image-0.ext4/);
    expect(calls).toEqual(['checkpoint sandbox {"exit":false,"criSandbox":true}', 'remove']);
    expect(fs.readdirSync(dir).sort()).toEqual(['checkpoints']);
    expect(fs.readdirSync(path.join(dir, 'checkpoints'))).toEqual([]);
  });
});
