/**
 * A real pod layer for integration tests, wired as the daemon wires it (src/daemon/main.ts)
 * but without the API: images pulled from the fixture registry, QEMU VMs booted per start,
 * overlay rootfs, records on disk. `runPodFile` reads a pod file and creates its pod; the
 * child-process entry below does that and starts it, so that a test can SIGKILL a "daemon"
 * that holds a running pod and open the same roots again.
 */
import * as path from 'node:path';
import { EventBus } from '../../src/pod/events';
import { AttachSession } from '../../src/pod/io/io';
import { capturedExecConfig } from '../../src/pod/io/exec';
import { PodManager } from '../../src/pod/manager';
import type { PodRecord } from '../../src/pod/types';
import { OverlayRootfs } from '../../src/storage/rootfs';
import { parseReference } from '../../src/storage/reference';
import { ImageService } from '../../src/storage/service';
import { StateStore } from '../../src/storage/state';
import { parsePodFile } from '../../src/api/native/podspec/podspec';
import { resolveAccel } from '../../src/vm/accel';
import { AgentClient } from '../../src/vm/agent/client';
import { defaultGuestImages } from '../../src/vm/guest-images';
import { DirectFactory } from '../../src/vm/pool';
import { QemuHypervisor } from '../../src/vm/qemu/hypervisor';
import { fixtureRegistry } from '../fixtures/registry';
import { podOfFile } from './pod-file';

/** The fixture registry's busybox. */
export const BUSYBOX = `${fixtureRegistry()}/busybox:latest`;

/** An open pod layer on `root` (data under root/data, VMs under root/exec). */
export interface RealPods {
  pods: PodManager;
  images: ImageService;
  execRoot: string;
  /** Let go of the guests without touching them (as a daemon shutdown). */
  close(): void;
}

/** Open (and restore) the pod layer on `root`; busybox is pulled once. */
export async function openRealPods(root: string): Promise<RealPods> {
  const dataRoot = path.join(root, 'data');
  const execRoot = path.join(root, 'exec');
  const images = await ImageService.open(dataRoot, { insecureRegistries: [fixtureRegistry()] });
  await images.pull(parseReference(BUSYBOX), {});
  const guest = defaultGuestImages();
  const accel = await resolveAccel({ mode: 'auto', execRoot, ...guest });
  const hypervisor = new QemuHypervisor({
    execRoot,
    ...guest,
    accel: accel.accel,
    connectAgent: (e) => AgentClient.connect(e),
  });
  const containersRoot = path.join(dataRoot, 'containers');
  const state = new StateStore(containersRoot);
  await state.init();
  const pods = new PodManager({
    factory: new DirectFactory(hypervisor),
    hypervisor,
    images: images.store,
    rootfs: new OverlayRootfs(containersRoot),
    state,
    events: new EventBus(),
    containersRoot,
  });
  await pods.restore();
  return { pods, images, execRoot, close: () => pods.shutdown() };
}

/** Create (not start) the pod of a pod file's text; the file's `busybox` is the fixture's. */
export async function createFromPodFile(p: RealPods, text: string, id: string): Promise<PodRecord> {
  const built = await podOfFile(parsePodFile(text), {
    id,
    resolveImage: (ref) => p.images.store.resolve(ref === 'busybox' ? BUSYBOX : ref),
    defaults: { memoryMiB: 256, cpus: 1 },
    hostCpus: 2,
  });
  return p.pods.create(built.spec, built.name, null);
}

/** Run a command in a container of a running pod; its exit code and output. */
export async function execIn(
  pods: PodManager,
  ref: string,
  container: string,
  args: string[],
): Promise<{ exitCode: number; out: string }> {
  const x = pods.execCreate(ref, capturedExecConfig(args, container));
  let out = '';
  const sink = {
    write: (_s: string, d: Buffer) => ((out += d.toString('utf8')), true),
    drain: async () => undefined,
    end: () => undefined,
  };
  const session = new AttachSession({ stdin: null, stdout: true, stderr: true, sink, detachKeys: Buffer.alloc(0) });
  const started = await pods.execStart(x.id, session);
  await started.finished;
  return { exitCode: pods.execGet(x.id).exitCode ?? -1, out };
}

/** Read a container's whole log (stdout and stderr) as text. */
export async function logText(pods: PodManager, ref: string, container?: string): Promise<string> {
  let text = '';
  for await (const e of pods.logs(ref, {
    follow: false,
    stdout: true,
    stderr: true,
    ...(container ? { container } : {}),
  } as Parameters<PodManager['logs']>[1])) {
    text += e.log.toString('utf8');
  }
  return text;
}

// Child-process entry: `ts-node real-pods.ts ROOT ID` reads a pod file on stdin, creates and
// starts its pod, prints "started", and waits to be killed.
if (require.main === module) {
  const [root, id] = process.argv.slice(2);
  void (async () => {
    let text = '';
    for await (const chunk of process.stdin) text += String(chunk);
    const p = await openRealPods(root);
    const r = await createFromPodFile(p, text, id);
    await p.pods.start(r.id);
    process.stdout.write('started\n');
    await new Promise(() => undefined);
  })().catch((err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
