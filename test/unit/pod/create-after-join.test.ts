/**
 * startPod's order: an app container's CREATE_CONTAINER goes out once the network's join is
 * done, in block mode too. Sent before it (9536abc, 23ef8fb), the guest's overlay mount failed
 * now and then with EINVAL (src/pod/lifecycle/runtime.ts's module comment); this keeps it from coming
 * back unnoticed. The VM and its agent are stand-ins that record the order of what the pod
 * layer asks of them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { startPod, type JoinedNetwork, type StartDeps } from '../../../src/pod/lifecycle/runtime';
import type { PodContainerSpec, PodSpec } from '../../../src/pod/types';
import type { Vm } from '../../../src/vm/types';
import type { RootfsManager } from '../../../src/storage/types';
import { defaultSecurity } from '../../../src/translate/request/policy/default-security';

/** Temp directories of this file, removed after its tests. */
const temps: string[] = [];
function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(d);
  return d;
}
afterAll(() => {
  for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
});

/** A promise and what settles it. */
function gate<T = void>(): { promise: Promise<T>; open(v?: T): void; fail(e: Error): void } {
  let open!: (v?: T) => void;
  let fail!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    open = (v) => res(v as T);
    fail = rej;
  });
  return { promise, open, fail };
}

const tick = () => new Promise((r) => setTimeout(r, 1));

interface Stage {
  vm: Vm;
  /** What was asked, in order: "create c1", "join", "joined", "destroy", ... */
  events: string[];
  /** Opened by the test to let the guest's CREATE_CONTAINER of `id` answer. */
  creates: Map<string, ReturnType<typeof gate>>;
}

const ETC_PASSWD = 'root:x:0:0:root:/root:/bin/sh\n';
const ETC_GROUP = 'root:x:0:\n';

function stage(): Stage {
  const events: string[] = [];
  const creates = new Map<string, ReturnType<typeof gate>>();
  const agent = {
    createContainer: async (spec: { id: string; upperDisk?: string }) => {
      events.push(`create ${spec.id}${spec.upperDisk ? ` on ${spec.upperDisk}` : ''}`);
      const g = gate();
      creates.set(spec.id, g);
      await g.promise;
      events.push(`created ${spec.id}`);
    },
    writeFile: async () => undefined,
    readFile: async (_id: string, p: string) => Buffer.from(p === '/etc/passwd' ? ETC_PASSWD : ETC_GROUP),
    startProcess: async (spec: { containerId: string }) => {
      events.push(`start ${spec.containerId}`);
      // Ends at once with nothing written (an init container runs to its end).
      return {
        processId: `init-${spec.containerId}`,
        stdout: Readable.from([]),
        stderr: Readable.from([]),
        exited: Promise.resolve({ exitCode: 0 }),
      };
    },
    destroyContainer: async () => undefined,
  };
  const vm = {
    id: 'vm1',
    shareDir: tempDir('podvisor-beside-'),
    devices: { nics: [], upperDisk: { guestName: 'vda' } },
    agent,
    attachUpperDisk: async () => {
      events.push('attach disk');
    },
    detachUpperDisk: async () => {
      events.push('detach disk');
    },
    destroy: async () => {
      events.push('destroy');
    },
  } as unknown as Vm;
  return { vm, events, creates };
}

function container(id: string, over: Partial<PodContainerSpec> = {}): PodContainerSpec {
  return {
    id,
    image: 'busybox',
    imageRef: 'busybox',
    args: ['true'],
    env: [],
    workingDir: '',
    user: '',
    tty: false,
    openStdin: false,
    stdinOnce: false,
    stopSignal: 15,
    stopTimeout: 10,
    ...over,
  } as PodContainerSpec;
}

function pod(containers: PodContainerSpec[]): PodSpec {
  return { id: containers[0].id, hostname: 'h', domainname: '', labels: {}, containers } as unknown as PodSpec;
}

/** StartDeps over `s`, block mode unless `disks` is false; the join waits for `join`. */
function deps(s: Stage, join: Promise<void>, disks = true): StartDeps {
  const dir = tempDir('podvisor-beside-c-');
  const rootfs = {
    mount: async () => undefined,
    unmount: async () => {
      s.events.push('unmount');
    },
    ...(disks ? { diskOf: (id: string) => `/disks/${id}.ext4` } : {}),
  } as unknown as RootfsManager;
  return {
    acquireVm: async () => s.vm,
    rootfs,
    containerDir: (id) => path.join(dir, id),
    resolvConf: path.join(dir, 'no-resolv.conf'),
    joinNetwork: async (): Promise<JoinedNetwork> => {
      s.events.push('join');
      await join;
      s.events.push('joined');
      return { hosts: '127.0.0.1\tlocalhost\n', resolv: '', undo: async () => void s.events.push('leave') };
    },
  };
}

/** Wait until `s` saw `event`. */
async function seen(s: Stage, event: string): Promise<void> {
  for (let i = 0; i < 1000 && !s.events.includes(event); i++) await tick();
  expect(s.events).toContain(event);
}

describe("startPod: app containers are created after the network's join", () => {
  const late: Array<[string, PodContainerSpec[], boolean]> = [
    ['a block-mode container', [container('c1')], true],
    ['an init container (it runs to its end first)', [container('i1', { init: true }), container('c1')], true],
    [
      'sysctls (an interface key names what the join makes)',
      [container('c1', { security: { ...defaultSecurity(false), sysctls: { 'net.ipv4.ip_forward': '1' } } })],
      true,
    ],
    ['the rootfs share (the host writes the hosts files into it before the guest looks)', [container('c1')], false],
  ];
  it.each(late)('creates after the join with %s', async (_why, containers, disks) => {
    const s = stage();
    const join = gate();
    const started = startPod(deps(s, join.promise, disks), pod(containers));
    await seen(s, 'join');
    for (let i = 0; i < 20; i++) await tick();
    expect(s.events.some((e) => e.startsWith('create '))).toBe(false);
    join.open();
    for (const c of containers) {
      for (let i = 0; i < 1000 && !s.creates.has(c.id); i++) await tick();
      s.creates.get(c.id)!.open();
    }
    await started;
    expect(s.events.findIndex((e) => e.startsWith('create '))).toBeGreaterThan(s.events.indexOf('joined'));
  });
});
