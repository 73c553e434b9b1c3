/**
 * The CRI restore's own logic (src/api/cri/checkpoint-restore.ts) over a fake pod service: an
 * image that is a path is an archive; refusals before anything is made (NOT_FOUND for a missing
 * archive, INVALID_ARGUMENT for one that is not a regular file or not an archive,
 * FAILED_PRECONDITION for a sandbox that is not ready or has a container running, or a save this
 * daemon cannot start, with the pod layer's reason); a restore imports the archive, creates the
 * container and restores the sandbox in that order (the sandbox marked as restoring meanwhile,
 * also when that fails), and a failed sandbox restore removes the
 * container and the checkpoint; the first start of a restored container takes the saved one over.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { criStartOptions, restoreCriContainer } from '../../../../src/api/cri/checkpoint-restore';
import { archiveSource, isCheckpointArchive } from '../../../../src/api/cri/checkpoint-sources';
import { CRI_CHECKPOINT_FORMAT, writeCriCheckpointArchive } from '../../../../src/api/cri/checkpoint-archive';
import type { CreateContainerRequest } from '../../../../src/api/cri/messages';
import type { CriPods } from '../../../../src/api/cri/records';
import type { CriContainerRecord } from '../../../../src/api/cri/record-types';
import type { CriRuntimeDeps } from '../../../../src/api/cri/runtime-deps';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../../../src/errors';
import { CheckpointError } from '../../../../src/pod/errors';
import type { PodRecord } from '../../../../src/pod/types';

const SID = 's'.repeat(64);
const OTHER = 'o'.repeat(64);
const NEW = 'n'.repeat(64);
const DISK = 'd'.repeat(64);

let dir: string;
let archive: string;
let running: Set<string>;
let calls: string[];
let importFails: Error | undefined;
let restoreFails: Error | undefined;

const podOf = (id: string, status = 'running') =>
  ({ id, containers: { [id]: { spec: { id }, state: { status } } } }) as unknown as PodRecord;

function fakeCri(): CriPods {
  return {
    sandbox: (id: string) => podOf(id),
    containersOf: () => [podOf(OTHER)],
  } as unknown as CriPods;
}

function fakeDeps(): CriRuntimeDeps {
  return {
    pods: {
      isRunning: (id: string) => running.has(id),
      importCriCheckpoint: async (ref: string, name: string, unpack: (d: string) => Promise<{ diskName: string }>) => {
        calls.push(`import ${ref === SID ? 'sandbox' : ref} ${name.replace(/[0-9a-f]{16}$/, 'X')}`);
        if (importFails) throw importFails;
        const into = path.join(dir, 'into');
        fs.mkdirSync(into);
        await unpack(into);
      },
      restoreCriSandbox: (ref: string, _name: string, joiner: string) => {
        calls.push(`restore ${ref === SID ? 'sandbox' : ref} for ${joiner === NEW ? 'new' : joiner}`);
        return restoreFails ? Promise.reject(restoreFails) : Promise.resolve();
      },
      removeCheckpoint: () => {
        calls.push('remove checkpoint');
        return Promise.resolve();
      },
      remove: (id: string) => {
        calls.push(`remove ${id === NEW ? 'new' : id}`);
        return Promise.resolve();
      },
    },
    records: {
      remove: () => {
        calls.push('remove record');
        return Promise.resolve();
      },
      setRestoring: (id: string, on: boolean) => calls.push(`${id === SID ? 'sandbox' : id} restoring ${on}`),
    },
  } as unknown as CriRuntimeDeps;
}

const request = (image: string) =>
  ({
    pod_sandbox_id: SID,
    config: { metadata: { name: 'count', attempt: 0 }, image: { image } },
  }) as unknown as CreateContainerRequest;

const restore = (image = archive) =>
  restoreCriContainer(fakeDeps(), fakeCri(), request(image), archiveSource(image), (_req, img, from) => {
    calls.push(`create ${img} from ${from.savedId.slice(0, 4)}`);
    return Promise.resolve(NEW);
  });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cri-restore-'));
  archive = path.join(dir, 'a.tar');
  fs.writeFileSync(archive, 'not a tar');
  running = new Set([SID]);
  calls = [];
  importFails = undefined;
  restoreFails = undefined;
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('isCheckpointArchive', () => {
  test.each([
    ['/var/lib/kubelet/checkpoints/c.tar', true],
    ['busybox', false],
    ['docker.io/library/busybox:latest', false],
    ['', false],
    [undefined, false],
  ])('%s: %s', (image, is) => expect(isCheckpointArchive(image)).toBe(is));
});

describe('restoreCriContainer', () => {
  it('refuses a missing archive, one that is not a file, a sandbox not ready or in use, making nothing', async () => {
    await expect(restore(path.join(dir, 'none.tar'))).rejects.toThrow(
      new NotFoundError(`CreateContainer: checkpoint archive ${path.join(dir, 'none.tar')} does not exist`),
    );
    await expect(restore(dir)).rejects.toThrow(InvalidArgumentError);
    fs.symlinkSync(archive, path.join(dir, 'link.tar'));
    await expect(restore(path.join(dir, 'link.tar'))).rejects.toThrow(/is not a regular file/);
    running = new Set();
    await expect(restore()).rejects.toThrow(/the sandbox is not ready/);
    running = new Set([SID, OTHER]);
    const busy = await restore().catch((e: Error) => e);
    expect(busy).toBeInstanceOf(ConflictError);
    expect((busy as Error).message).toContain(`its container ${OTHER} runs: the restore replaces the sandbox's VM`);
    expect(calls).toEqual([]);
  });

  it("refuses what is not an archive with the reader's reason, and a save this daemon cannot start", async () => {
    const bad = await restore().catch((e: Error) => e);
    expect(bad).toBeInstanceOf(InvalidArgumentError);
    expect((bad as Error).message).toMatch(
      /^CreateContainer: checkpoint archive .*a\.tar: not a podvisor checkpoint archive/,
    );
    importFails = new CheckpointError(
      'cannot-restore',
      SID,
      'cri-restore-x',
      'its acceleration (kvm in the save, tcg here)',
    );
    const stamp = await restore().catch((e: Error) => e);
    expect(stamp).toBeInstanceOf(ConflictError);
    expect((stamp as Error).message).toContain(
      'its saved VM cannot be started here: its acceleration (kvm in the save, tcg here)',
    );
    expect(calls.filter((c) => !c.startsWith('import'))).toEqual([]);
  });

  it('imports, creates, restores in order; a failed restore removes the container and the checkpoint', async () => {
    await writeArchive(archive);
    await expect(restore()).resolves.toBe(NEW);
    expect(calls).toEqual([
      `import sandbox cri-restore-X`,
      `create busybox from dddd`,
      'sandbox restoring true',
      'restore sandbox for new',
      'sandbox restoring false',
    ]);
    calls = [];
    fs.rmSync(path.join(dir, 'into'), { recursive: true });
    restoreFails = new Error('QEMU is gone');
    await expect(restore()).rejects.toThrow('QEMU is gone');
    expect(calls).toEqual([
      `import sandbox cri-restore-X`,
      `create busybox from dddd`,
      'sandbox restoring true',
      'restore sandbox for new',
      'sandbox restoring false',
      'remove new',
      'remove record',
      'remove checkpoint',
    ]);
  });
});

/** A CheckpointContainer archive of small stand-in files, of container DISK's save. */
async function writeArchive(file: string): Promise<void> {
  const d = path.join(dir, 'ckpt');
  fs.mkdirSync(d);
  for (const f of ['vm.state', 'vm.json', 'pod.json', 'joined-0.disk', 'image-0.ext4'])
    fs.writeFileSync(path.join(d, f), f);
  await writeCriCheckpointArchive(
    d,
    {
      format: CRI_CHECKPOINT_FORMAT,
      created: new Date().toISOString(),
      container: {
        id: DISK,
        metadata: { name: 'count' },
        image: 'busybox',
        labels: {},
        annotations: {},
        diskName: DISK,
      },
      sandbox: { id: SID.replace(/s/g, 'e'), metadata: { name: 'counter' } },
    },
    file,
  );
}

describe('criStartOptions', () => {
  const rec = (restoredFrom?: CriContainerRecord['restoredFrom']) =>
    ({ kind: 'container', ...(restoredFrom ? { restoredFrom } : {}) }) as CriContainerRecord;
  it("takes the saved container over at a restored container's first start only", () => {
    const from = { archive: '/a.tar', savedId: 'b'.repeat(64) };
    expect(criStartOptions(podOf(NEW, 'created'), rec(from))).toEqual({ takeOver: 'b'.repeat(64) });
    expect(criStartOptions(podOf(NEW, 'exited'), rec(from))).toBeUndefined();
    expect(criStartOptions(podOf(NEW, 'created'), rec())).toBeUndefined();
  });
});
