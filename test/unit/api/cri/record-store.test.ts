/**
 * The CRI front's records (src/api/cri/record-store.ts): one file per pod under its directory,
 * written before the pod is created and bound to its id after, removed when the create fails;
 * at load, records of pods that are gone are dropped, a pending record of a pod that exists is
 * bound, and a pod an older podvisor made (its CRI data in labels) gets its record from them;
 * a pod's `destroy` event drops its record.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CriRecordStore, type NewCriRecord } from '../../../../src/api/cri/record-store';
import { CriPods } from '../../../../src/api/cri/records';
import { EventBus } from '../../../../src/pod/events';
import type { PodService } from '../../../../src/pod/service';
import type { PodRecord } from '../../../../src/pod/types';

let dir: string;
let pods: PodRecord[];
const source = { list: () => pods };

/** A pod as the store reads it: id, name and labels. */
function pod(id: string, name: string, labels: Record<string, string> = {}): PodRecord {
  return { id, name, sandbox: { spec: { labels } } } as unknown as PodRecord;
}

const sandbox: NewCriRecord = {
  kind: 'sandbox',
  name: 'k8s_POD_web_default_uid-1_0',
  metadata: { name: 'web', namespace: 'default', uid: 'uid-1', attempt: 0 },
  labels: { app: 'web' },
  annotations: { note: 'x' },
  logDirectory: '/var/log/pods/web',
  pidMode: 'POD',
};

const files = (): string[] => fs.readdirSync(dir).sort();
const onDisk = (file: string): unknown => JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
const write = (file: string, rec: object): void => fs.writeFileSync(path.join(dir, file), JSON.stringify(rec));

beforeEach(() => {
  dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cri-records-')), 'cri');
  pods = [];
});
afterEach(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

describe('create', () => {
  it('writes the record before the pod is created, then keeps it under the pod id', async () => {
    const store = await CriRecordStore.open(dir, source);
    let during: unknown[] = [];
    const r = await store.create(sandbox, async () => {
      during = files().map(onDisk);
      pods.push(pod('sb1', sandbox.name));
      return pods[0];
    });
    expect(r.id).toBe('sb1');
    expect(during).toEqual([{ ...sandbox, id: '' }]);
    expect(files()).toEqual(['sb1.json']);
    expect(onDisk('sb1.json')).toEqual({ ...sandbox, id: 'sb1' });
    expect(store.get('sb1')).toEqual({ ...sandbox, id: 'sb1' });
    expect(fs.statSync(path.join(dir, 'sb1.json')).mode & 0o777).toBe(0o600);
  });

  it('removes the record when the create fails, and passes the failure on', async () => {
    const store = await CriRecordStore.open(dir, source);
    await expect(store.create(sandbox, () => Promise.reject(new Error('no such image: pause')))).rejects.toThrow(
      'no such image: pause',
    );
    expect(files()).toEqual([]);
    expect(store.list()).toEqual([]);
  });

  it("finds the record by the pod's name while the create runs (the pod's create event), by id after", async () => {
    const store = await CriRecordStore.open(dir, source);
    let seen: unknown;
    await store.create(sandbox, async () => {
      seen = store.find('sb1', `/${sandbox.name}`);
      return pod('sb1', sandbox.name);
    });
    expect(seen).toMatchObject({ kind: 'sandbox', name: sandbox.name });
    expect(store.find('sb1', undefined)).toMatchObject({ id: 'sb1' });
    expect(store.find('other', 'k8s_other')).toBeUndefined();
  });
});

describe('open', () => {
  it('loads the records a daemon wrote before, of pods that still exist', async () => {
    const first = await CriRecordStore.open(dir, source);
    pods.push(pod('sb1', sandbox.name));
    await first.create(sandbox, async () => pods[0]);
    const again = await CriRecordStore.open(dir, source);
    expect(again.list()).toEqual([{ ...sandbox, id: 'sb1' }]);
  });

  it('drops the records of pods that are gone, files that are no record, and writes cut short', async () => {
    fs.mkdirSync(dir, { recursive: true });
    write('gone.json', { ...sandbox, id: 'gone' });
    write('broken.json', { hello: 1 });
    fs.writeFileSync(path.join(dir, 'torn.json'), '{"kind":');
    fs.writeFileSync(path.join(dir, '.tmp-sb1.json-0a1b2c'), '{"kind":"sand');
    pods.push(pod('sb1', sandbox.name));
    write('sb1.json', { ...sandbox, id: 'sb1' });
    const store = await CriRecordStore.open(dir, source);
    expect(store.list().map((r) => r.id)).toEqual(['sb1']);
    expect(files()).toEqual(['sb1.json']);
  });

  it('binds a pending record to the pod of its name (the daemon died before the bind), drops one with no pod', async () => {
    fs.mkdirSync(dir, { recursive: true });
    write('pending-aa.json', { ...sandbox, id: '' });
    write('pending-bb.json', { ...sandbox, name: 'k8s_POD_never_made', id: '' });
    pods.push(pod('sb1', sandbox.name));
    const store = await CriRecordStore.open(dir, source);
    expect(store.get('sb1')).toEqual({ ...sandbox, id: 'sb1' });
    expect(files()).toEqual(['sb1.json']);
  });

  it('makes the record of a pod an older podvisor made from its labels, and of no other pod', async () => {
    const mounts = [{ containerPath: '/data', hostPath: '/srv', readonly: true }];
    pods.push(
      pod('sb1', 'k8s_POD_web', {
        app: 'web',
        'io.podvisor.cri.kind': 'sandbox',
        'io.podvisor.cri.metadata': JSON.stringify({ name: 'web', uid: 'u', namespace: 'default', attempt: 1 }),
        'io.podvisor.cri.labels': JSON.stringify({ app: 'web' }),
        'io.podvisor.cri.annotations': JSON.stringify({ note: 'x' }),
        'io.podvisor.cri.log-directory': '/var/log/pods/web',
      }),
      pod('c1', 'k8s_main_web', {
        'io.podvisor.cri.kind': 'container',
        'io.podvisor.cri.sandbox': 'sb1',
        'io.podvisor.cri.metadata': JSON.stringify({ name: 'main', attempt: 0 }),
        'io.podvisor.cri.labels': '{',
        'io.podvisor.cri.log-path': '/var/log/pods/web/main.log',
        'io.podvisor.cri.image': 'busybox',
        'io.podvisor.cri.mounts': JSON.stringify(mounts),
      }),
      pod('d1', 'docker-one', { app: 'web' }),
    );
    const store = await CriRecordStore.open(dir, source);
    expect(store.get('sb1')).toEqual({
      id: 'sb1',
      name: 'k8s_POD_web',
      kind: 'sandbox',
      metadata: { name: 'web', uid: 'u', namespace: 'default', attempt: 1 },
      labels: { app: 'web' },
      annotations: { note: 'x' },
      logDirectory: '/var/log/pods/web',
      pidMode: 'CONTAINER',
    });
    expect(store.get('c1')).toEqual({
      id: 'c1',
      name: 'k8s_main_web',
      kind: 'container',
      metadata: { name: 'main', attempt: 0 },
      labels: {},
      annotations: {},
      sandboxId: 'sb1',
      logPath: '/var/log/pods/web/main.log',
      image: 'busybox',
      mounts,
    });
    expect(store.get('d1')).toBeUndefined();
    expect(files()).toEqual(['c1.json', 'sb1.json']);
    // Written once: the next load reads the file.
    expect(onDisk('sb1.json')).toEqual(store.get('sb1'));
  });
});

describe('removal', () => {
  it("drops a record with its file on remove, and on the pod's destroy event", async () => {
    const store = await CriRecordStore.open(dir, source);
    const ids = ['a', 'b', 'c'];
    for (const id of ids) await store.create({ ...sandbox, name: id }, async () => pod(id, id));
    await store.remove('a');
    expect(files()).toEqual(['b.json', 'c.json']);

    const bus = new EventBus();
    store.follow(bus);
    // A listener of the same event still reads the record (the CRI's event stream does).
    let seenByLater: unknown;
    bus.subscribe((e) => (seenByLater = store.get(e.id)));
    bus.emit('container', 'destroy', 'b', { name: 'b' });
    expect(seenByLater).toMatchObject({ id: 'b' });
    for (let i = 0; i < 500 && files().includes('b.json'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(store.get('b')).toBeUndefined();
    expect(files()).toEqual(['c.json']);
  });
});

describe('the lists', () => {
  it('show only pods with a record, and keep the record of a pod being removed until its destroy event', async () => {
    const store = await CriRecordStore.open(dir, source);
    await store.create(sandbox, async () => pod('sb1', sandbox.name));
    pods = [pod('sb1', sandbox.name), pod('d1', 'docker-one')];
    const cri = new CriPods(source as unknown as PodService, store);
    expect(cri.sandboxes().map((r) => r.id)).toEqual(['sb1']);
    expect(cri.containers()).toEqual([]);
    // Its removal has begun: the pod layer lists it no more, its destroy event is still to come.
    pods = [];
    expect(cri.sandboxes()).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));
    expect(store.get('sb1')).toMatchObject({ kind: 'sandbox' });
    expect(files()).toEqual(['sb1.json']);
  });
});
