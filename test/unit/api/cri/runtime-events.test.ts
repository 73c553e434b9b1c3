/**
 * GetContainerEvents (src/api/cri/runtime-events.ts): the mapping of pod-layer events to CRI
 * events, the fan-out to several clients, dropping a client that goes or falls behind; and the
 * stream through the real gRPC server on a unix socket with our CRI test client's definitions.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { EventBus } from '../../../../src/pod/events';
import type { CriRecord } from '../../../../src/api/cri/record-types';
import {
  CriEvents,
  criEventOf,
  criStatuses,
  type EventClient,
  type EventRecords,
  type StatusReader,
} from '../../../../src/api/cri/runtime-events';
import { createCriServer, criHandlers } from '../../../../src/api/cri/server';
import { loadCriServices } from '../../../../src/api/cri/proto';
import type { CriImageService } from '../../../../src/api/cri/images';
import type { RuntimeInfo } from '../../../../src/api/cri/runtime-info';

const sandboxAttrs = { name: 'k8s_POD_x' };
const containerAttrs = { name: 'k8s_c_x' };

const common = { labels: {}, annotations: {} };
const sandboxRecord = (id: string, name: string): CriRecord => ({
  ...common,
  id,
  name,
  kind: 'sandbox',
  metadata: {},
  logDirectory: '',
  pidMode: 'POD',
});
const containerRecord = (id: string, name: string, sandboxId: string): CriRecord => ({
  ...common,
  id,
  name,
  kind: 'container',
  metadata: {},
  sandboxId,
  logPath: '',
  image: 'busybox',
  mounts: [],
});

/** The CRI's records as the events read them: sandbox sb1, its containers c0..c4, and one pending. */
const byId = new Map<string, CriRecord>([
  ['sb1', sandboxRecord('sb1', 'k8s_POD_x')],
  ...[0, 1, 2, 3, 4].map((i): [string, CriRecord] => [`c${i}`, containerRecord(`c${i}`, 'k8s_c_x', 'sb1')]),
]);
const pendingRecord = containerRecord('', 'k8s_new_x', 'sb1');
const records: EventRecords = {
  find: (id, name) => byId.get(id) ?? (name === pendingRecord.name ? pendingRecord : undefined),
};

describe('criEventOf', () => {
  const bus = new EventBus();
  it('maps create, start, die and destroy of a CRI container, with the sandbox and the time', () => {
    const types = ['create', 'start', 'die', 'destroy'].map((a) => {
      const e = bus.emit('container', a, 'c1', containerAttrs);
      const ref = criEventOf(e, records);
      expect(ref).toMatchObject({ containerId: 'c1', sandboxId: 'sb1', createdAt: e.timeNano.toString() });
      return ref?.type;
    });
    expect(types).toEqual([
      'CONTAINER_CREATED_EVENT',
      'CONTAINER_STARTED_EVENT',
      'CONTAINER_STOPPED_EVENT',
      'CONTAINER_DELETED_EVENT',
    ]);
  });

  it("gives a sandbox's events the sandbox's id as container id and sandbox id", () => {
    expect(criEventOf(bus.emit('container', 'start', 'sb1', sandboxAttrs), records)).toMatchObject({
      containerId: 'sb1',
      sandboxId: 'sb1',
      type: 'CONTAINER_STARTED_EVENT',
    });
  });

  it("drops a sandbox's own events while a restore replaces its VM, not its containers'", () => {
    const restoring: EventRecords = { ...records, isRestoring: (id) => id === 'sb1' };
    for (const a of ['die', 'start'])
      expect(criEventOf(bus.emit('container', a, 'sb1', sandboxAttrs), restoring)).toBeUndefined();
    expect(criEventOf(bus.emit('container', 'create', 'c1', containerAttrs), restoring)).toMatchObject({
      sandboxId: 'sb1',
      type: 'CONTAINER_CREATED_EVENT',
    });
  });

  it('keeps nothing else: Docker containers, other actions, other object types', () => {
    expect(criEventOf(bus.emit('container', 'start', 'd1', { name: 'web' }), records)).toBeUndefined();
    expect(criEventOf(bus.emit('container', 'kill', 'c1', containerAttrs), records)).toBeUndefined();
    expect(criEventOf(bus.emit('container', 'stop', 'c1', containerAttrs), records)).toBeUndefined();
    expect(criEventOf(bus.emit('container', 'exec_create: sh', 'c1', containerAttrs), records)).toBeUndefined();
    expect(criEventOf(bus.emit('image', 'pull', 'busybox', {}), records)).toBeUndefined();
    expect(criEventOf(bus.emit('container', 'start', 'c9', { name: 'k8s_c9_x' }), records)).toBeUndefined();
  });

  it("finds a container whose create has not returned yet by its pod's name (its record is pending)", () => {
    expect(criEventOf(bus.emit('container', 'create', 'c7', { name: 'k8s_new_x' }), records)).toMatchObject({
      containerId: 'c7',
      sandboxId: 'sb1',
      type: 'CONTAINER_CREATED_EVENT',
    });
  });

  it("ignores the labels older podvisors kept the CRI's data in: only a record makes a CRI pod", () => {
    const old = { 'io.podvisor.cri.kind': 'container', 'io.podvisor.cri.sandbox': 'sb1', name: 'old' };
    expect(criEventOf(bus.emit('container', 'start', 'd2', old), records)).toBeUndefined();
  });
});

describe('criStatuses', () => {
  it("reads the sandbox's status and each of its containers' statuses; a gone sandbox gives null", async () => {
    let gone = false;
    const read = criStatuses({
      podSandboxStatus: async (req) => {
        if (gone) throw new Error('pod sandbox not found');
        return { status: { id: req.pod_sandbox_id, state: 'SANDBOX_READY' } };
      },
      listContainers: () => ({
        containers: [
          { id: 'c1', pod_sandbox_id: 'sb1' },
          { id: 'c2', pod_sandbox_id: 'sb1' },
        ],
      }),
      containerStatus: (req) => {
        if (req.container_id === 'c2') throw new Error('container c2 not found');
        return { status: { id: req.container_id, state: 'CONTAINER_RUNNING' } };
      },
    });
    expect(await read('sb1')).toEqual({
      pod_sandbox_status: { id: 'sb1', state: 'SANDBOX_READY' },
      containers_statuses: [{ id: 'c1', state: 'CONTAINER_RUNNING' }],
    });
    gone = true;
    expect((await read('sb1')).pod_sandbox_status).toBeNull();
  });
});

/** A client that records what it is sent, with a backlog the test sets. */
function fakeClient(): EventClient & { got: Array<Record<string, unknown>>; failed?: Error; pending: number } {
  const c = {
    got: [] as Array<Record<string, unknown>>,
    failed: undefined as Error | undefined,
    pending: 0,
    send: (m: object) => void c.got.push(m as Record<string, unknown>),
    backlog: () => c.pending,
    fail: (err: Error) => void (c.failed = err),
  };
  return c;
}

const statuses: StatusReader = async (id) => ({
  pod_sandbox_status: { id, state: 'SANDBOX_READY' },
  containers_statuses: [{ id: 'c1' }],
});

describe('CriEvents', () => {
  it('sends every CRI event to every client, in order, with the statuses; a client that goes gets no more', async () => {
    const bus = new EventBus();
    const events = new CriEvents({ events: bus, records, statuses });
    const a = fakeClient();
    const b = fakeClient();
    const bGone = new AbortController();
    events.serve(a, new AbortController().signal);
    events.serve(b, bGone.signal);
    expect(bus.listenerCount).toBe(1);
    const e1 = bus.emit('container', 'create', 'c1', containerAttrs);
    bus.emit('container', 'start', 'web', { name: 'web' }); // not a CRI pod
    bus.emit('container', 'start', 'c1', containerAttrs);
    await events.flushed();
    expect(a.got).toEqual([
      {
        container_id: 'c1',
        container_event_type: 'CONTAINER_CREATED_EVENT',
        created_at: e1.timeNano.toString(),
        pod_sandbox_status: { id: 'sb1', state: 'SANDBOX_READY' },
        containers_statuses: [{ id: 'c1' }],
      },
      expect.objectContaining({ container_id: 'c1', container_event_type: 'CONTAINER_STARTED_EVENT' }),
    ]);
    expect(b.got).toEqual(a.got);
    bGone.abort();
    bus.emit('container', 'die', 'c1', containerAttrs);
    await events.flushed();
    expect(a.got.map((m) => m.container_event_type)).toEqual([
      'CONTAINER_CREATED_EVENT',
      'CONTAINER_STARTED_EVENT',
      'CONTAINER_STOPPED_EVENT',
    ]);
    expect(b.got).toHaveLength(2);
    expect(events.clientCount).toBe(1);
  });

  it('stops listening to the bus when the last client goes', () => {
    const bus = new EventBus();
    const events = new CriEvents({ events: bus, records, statuses });
    const gone = new AbortController();
    events.serve(fakeClient(), gone.signal);
    expect(bus.listenerCount).toBe(1);
    gone.abort();
    expect(bus.listenerCount).toBe(0);
    expect(events.clientCount).toBe(0);
  });

  it('drops a client that falls behind with RESOURCE_EXHAUSTED, keeping the others', async () => {
    const bus = new EventBus();
    const events = new CriEvents({ events: bus, records, statuses, backlogLimit: 3 });
    const slow = fakeClient();
    const fast = fakeClient();
    events.serve(slow, new AbortController().signal);
    events.serve(fast, new AbortController().signal);
    for (let i = 0; i < 5; i++) {
      bus.emit('container', 'start', `c${i}`, containerAttrs);
      await events.flushed();
      slow.pending = slow.got.length; // the slow client reads nothing
    }
    expect(slow.got).toHaveLength(3);
    expect(slow.failed?.constructor.name).toBe('ResourceExhaustedError');
    expect(slow.failed?.message).toMatch(/3 events were waiting/);
    expect(fast.got).toHaveLength(5);
    expect(events.clientCount).toBe(1);
  });
});

describe('GetContainerEvents through the gRPC server', () => {
  let dir: string;
  let server: grpc.Server;
  let bus: EventBus;
  let events: CriEvents;
  let client: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  let setBig: (v: boolean) => void;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-cri-events-'));
    bus = new EventBus();
    // Large statuses and a low limit: a client that does not read falls behind in a few events.
    let big = false;
    const padded: StatusReader = async (id) => ({
      ...(await statuses(id)),
      ...(big ? { containers_statuses: [{ id: 'c1', annotations: { pad: 'x'.repeat(64 * 1024) } }] } : {}),
    });
    setBig = (v) => (big = v);
    events = new CriEvents({ events: bus, records, statuses: padded, backlogLimit: 20 });
    server = createCriServer(criHandlers({ info: {} as RuntimeInfo, images: {} as CriImageService, events }));
    const sock = path.join(dir, 'cri.sock');
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    const s = loadCriServices();
    client = new s.RuntimeService(`unix://${sock}`, grpc.credentials.createInsecure()) as typeof client;
  });

  afterAll(async () => {
    client?.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function until(cond: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(cond()).toBe(true);
  }

  it('streams the events to two clients at once, and drops a client that cancels', async () => {
    const open = (): { got: Array<Record<string, unknown>>; call: grpc.ClientReadableStream<unknown> } => {
      const got: Array<Record<string, unknown>> = [];
      const call = client.GetContainerEvents({}) as grpc.ClientReadableStream<unknown>;
      call.on('data', (m) => got.push(m as Record<string, unknown>));
      call.on('error', () => undefined); // the cancel below
      return { got, call };
    };
    const a = open();
    const b = open();
    await until(() => events.clientCount === 2);
    bus.emit('container', 'create', 'sb1', sandboxAttrs);
    bus.emit('container', 'start', 'sb1', sandboxAttrs);
    await until(() => a.got.length === 2 && b.got.length === 2);
    expect(a.got[0]).toMatchObject({
      container_id: 'sb1',
      container_event_type: 'CONTAINER_CREATED_EVENT',
      pod_sandbox_status: { id: 'sb1', state: 'SANDBOX_READY' },
    });
    expect(a.got[1]).toMatchObject({ container_id: 'sb1', container_event_type: 'CONTAINER_STARTED_EVENT' });
    expect(b.got).toEqual(a.got);
    b.call.cancel();
    await until(() => events.clientCount === 1);
    a.call.cancel();
    await until(() => events.clientCount === 0);
    expect(bus.listenerCount).toBe(0);
  });

  it('ends the stream of a client that does not read with RESOURCE_EXHAUSTED; one that reads keeps going', async () => {
    setBig(true);
    try {
      const got: unknown[] = [];
      const reader = client.GetContainerEvents({}) as grpc.ClientReadableStream<unknown>;
      reader.on('data', (m) => got.push(m));
      reader.on('error', () => undefined);
      const stalled = client.GetContainerEvents({}) as grpc.ClientReadableStream<unknown>;
      let stalledGot = 0;
      stalled.on('data', () => stalledGot++);
      const ended = new Promise<grpc.ServiceError>((resolve) => stalled.on('error', resolve));
      await until(() => events.clientCount === 2);
      stalled.pause();
      // Sent one by one, each once the reader has the one before: the reader's backlog stays small.
      for (let i = 0; i < 120 && events.clientCount === 2; i++) {
        bus.emit('container', 'start', 'c1', containerAttrs);
        await until(() => got.length === i + 1);
      }
      expect(events.clientCount).toBe(1); // the stalled one was dropped, the reader kept
      stalled.resume();
      const err = await ended;
      expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(err.details).toMatch(/container event stream dropped: 20 events were waiting/);
      expect(stalledGot).toBeLessThan(got.length);
      bus.emit('container', 'die', 'c1', containerAttrs);
      const n = got.length;
      await until(() => got.length === n + 1);
      reader.cancel();
      await until(() => events.clientCount === 0);
    } finally {
      setBig(false);
    }
  });

  it('answers UNIMPLEMENTED without the events service', async () => {
    const s = createCriServer(criHandlers({ info: {} as RuntimeInfo, images: {} as CriImageService }));
    const sock = path.join(dir, 'bare.sock');
    await new Promise<void>((resolve, reject) =>
      s.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    const c = new (loadCriServices().RuntimeService)(
      `unix://${sock}`,
      grpc.credentials.createInsecure(),
    ) as typeof client;
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      const call = c.GetContainerEvents({}) as grpc.ClientReadableStream<unknown>;
      call.on('error', resolve);
      call.on('data', () => undefined);
    });
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    c.close();
    await new Promise<void>((resolve) => s.tryShutdown(() => resolve()));
  });
});
