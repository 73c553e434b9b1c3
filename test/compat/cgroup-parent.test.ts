/**
 * `--cgroup-parent` through the stock docker CLI: the container's VM (its QEMU, with its memory
 * and task limits) is in a host cgroup under the parent named, in both hierarchies of this
 * host (cgroup v1: memory and pids), an absolute parent from the cgroup root and a relative one
 * from the daemon's own cgroup; inspect echoes the value as dockerd does; a restart puts the new
 * VM there too; `docker rm -f` leaves no VM cgroup (the parent stays, as runc leaves it: each
 * test removes its own). Values podvisor refuses are refused at create (400, nothing made),
 * beside the baseline dockerd's answer to the same create.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli } from '../helpers/docker-cli';
import type { BaselineDockerd } from '../../bench/common';
import { startBesideBaseline, stopBesideBaseline } from '../helpers/beside-baseline';
import { cgroupLayout, VM_MEMORY_OVERHEAD_MIB, VM_PIDS_MAX } from '../../src/vm/qemu/confinement/vm-cgroup';

jest.setTimeout(600000);

const IMAGE = `${fixtureRegistry()}/busybox:latest`;
const layout = cgroupLayout();
/** The root of each hierarchy a VM cgroup is in (memory, pids; one directory under cgroup v2). */
const HIERARCHIES = layout
  ? [...new Set([path.dirname(layout.parents.memory), path.dirname(layout.parents.pids)])]
  : [];

let d: TestDaemon;
let base: BaselineDockerd | undefined;
let dir: string;

beforeAll(async () => {
  ({ d, base, dir } = await startBesideBaseline('pv-cgroup-parent-', { vmPoolSize: 1 }, [IMAGE]));
});

afterAll(() => stopBesideBaseline({ d, base, dir }));

/** A request to the daemon under test: its status and JSON body. */
function api(method: string, p: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: d.socketPath, path: p, method, agent: false, headers: { 'Content-Type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** The QEMU pid and guest RAM of container `id`'s VM (the native API names the VM; its record has the rest). */
async function vmOf(id: string): Promise<{ qemuPid: number; size: { memoryMiB: number } }> {
  const pod = await api('GET', `/v1/pods/${id}`);
  const vm = pod.json.vm as string;
  expect(vm).toMatch(/^[0-9a-f]+$/);
  return JSON.parse(fs.readFileSync(path.join(d.execRoot, 'vms', vm, 'vm.json'), 'utf8')) as {
    qemuPid: number;
    size: { memoryMiB: number };
  };
}

/** The cgroups (as /proc/<pid>/cgroup lists them: one path per hierarchy) of process `pid` in the memory and pids hierarchies. */
function cgroupsOf(pid: number): { memory: string; pids: string } {
  const out = { memory: '', pids: '' };
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [, controllers, p] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers === undefined) continue;
    for (const c of ['memory', 'pids'] as const)
      if (layout?.kind === 'unified' ? controllers === '' : controllers.split(',').includes(c)) out[c] = p;
  }
  return out;
}

/** The cgroup directories below `parent` (a path from each hierarchy's root) in every hierarchy used; [] where it is not there. */
function childrenOf(parent: string, hierarchies = HIERARCHIES): string[] {
  return hierarchies.flatMap((h) => {
    const p = path.join(h, parent);
    try {
      return fs
        .readdirSync(p, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => path.join(p, e.name));
    } catch {
      return [];
    }
  });
}

/**
 * Remove cgroup `rel` (a relative path) below `from` in each of `hierarchies`, deepest first,
 * down to `from` itself (kept); nothing where it is not there. A VM cgroup still in it (a
 * failed test's) is waited for.
 */
async function removeParent(from: string, rel: string, hierarchies = HIERARCHIES): Promise<void> {
  const names = rel.split('/').filter(Boolean);
  await goneWithin(() => hierarchies.flatMap((h) => childrenOf(path.join(from, rel), [h])));
  for (const h of hierarchies)
    for (let n = names.length; n > 0; n--) {
      try {
        fs.rmdirSync(path.join(h, from, ...names.slice(0, n)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
}

/**
 * Wait up to 30 s for `left()` to be empty, and give what it then is: `docker rm -f` answers
 * before the VM's teardown ends, and the VM's
 * cgroup goes last.
 */
async function goneWithin(left: () => string[]): Promise<string[]> {
  for (let i = 0; i < 300 && left().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  return left();
}

/** The root of the hierarchy of `controller`. */
const hierarchyOf = (controller: 'memory' | 'pids') => path.dirname(layout!.parents[controller]);

const rand = () => crypto.randomBytes(4).toString('hex');

test('an absolute parent: the QEMU is in <parent>/<its cgroup> in the memory and pids hierarchies, with its limits; inspect echoes it; a restart keeps it; rm -f leaves no VM cgroup', async () => {
  const parent = `/pv-test-parent-${rand()}`;
  let id = '';
  try {
    const run = await dockerCli(d, ['run', '-d', '--cgroup-parent', parent, IMAGE, 'sleep', '600']);
    expect(run).toMatchObject({ code: 0, err: '' });
    id = run.out.trim();
    const vm = await vmOf(id);
    const pid = vm.qemuPid;
    const where = cgroupsOf(pid);
    expect(where.memory).toMatch(new RegExp(`^${parent}/[0-9a-f]{10}-[0-9a-f]+$`));
    expect(where.pids).toBe(where.memory);
    const own = childrenOf(parent);
    expect(own).toHaveLength(HIERARCHIES.length);
    for (const c of own)
      expect(fs.readFileSync(path.join(c, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(pid));
    const memDir = path.join(hierarchyOf('memory'), where.memory);
    const limit = fs.readFileSync(
      path.join(memDir, layout?.kind === 'unified' ? 'memory.max' : 'memory.limit_in_bytes'),
      'utf8',
    );
    expect(Number(limit)).toBe((vm.size.memoryMiB + VM_MEMORY_OVERHEAD_MIB) * 1048576);
    const pidsDir = path.join(hierarchyOf('pids'), where.pids);
    expect(fs.readFileSync(path.join(pidsDir, 'pids.max'), 'utf8').trim()).toBe(String(VM_PIDS_MAX));
    // Nothing of the VM is left under podvisor's own cgroup.
    expect(fs.existsSync(path.join(layout!.parents.memory, path.basename(where.memory)))).toBe(false);

    const shown = await dockerCli(d, ['inspect', '-f', '{{.HostConfig.CgroupParent}}', id]);
    const theirsId = (await dockerCli(base!, ['create', '--cgroup-parent', parent, IMAGE, 'true'])).out.trim();
    try {
      const theirs = await dockerCli(base!, ['inspect', '-f', '{{.HostConfig.CgroupParent}}', theirsId]);
      expect(shown).toEqual(theirs);
      expect(shown.out).toBe(`${parent}\n`);
    } finally {
      await dockerCli(base!, ['rm', '-f', theirsId]);
    }

    // A restart runs on a new VM: it is under the parent too, and the old one's cgroup is gone.
    expect((await dockerCli(d, ['restart', '-t', '0', id])).code).toBe(0);
    const after = (await vmOf(id)).qemuPid;
    expect(after).not.toBe(pid);
    expect(cgroupsOf(after).memory).toMatch(new RegExp(`^${parent}/`));
    expect(childrenOf(parent)).toHaveLength(HIERARCHIES.length);

    expect((await dockerCli(d, ['rm', '-f', id])).code).toBe(0);
    id = '';
    expect(await goneWithin(() => childrenOf(parent))).toEqual([]);
  } finally {
    if (id) await dockerCli(d, ['rm', '-f', id]);
    await removeParent('/', parent);
  }
});

test("a relative parent is below the daemon's own cgroup in each hierarchy, as dockerd's cgroupfs driver puts it", async () => {
  const parent = `pv-test-parent-${rand()}/jobs`;
  const own = cgroupsOf(d.pid()!);
  let id = '';
  try {
    const run = await dockerCli(d, ['run', '-d', '--cgroup-parent', parent, IMAGE, 'sleep', '600']);
    expect(run.code).toBe(0);
    id = run.out.trim();
    const where = cgroupsOf((await vmOf(id)).qemuPid);
    for (const c of ['memory', 'pids'] as const) expect(path.dirname(where[c])).toBe(path.join(own[c], parent));
    expect((await dockerCli(d, ['rm', '-f', id])).code).toBe(0);
    id = '';
    for (const c of ['memory', 'pids'] as const)
      expect(await goneWithin(() => childrenOf(path.join(own[c], parent), [hierarchyOf(c)]))).toEqual([]);
  } finally {
    if (id) await dockerCli(d, ['rm', '-f', id]);
    for (const c of ['memory', 'pids'] as const) await removeParent(own[c], parent, [hierarchyOf(c)]);
  }
});

test.each([
  ['/../pv-test-escape', '".." leads above the cgroup root'],
  ['/pv-test-a/../../pv-test-escape', '".." leads above the cgroup root'],
  ['../../pv-test-escape', `".." leads above the daemon's own cgroup, where it starts`],
])(
  '%j is refused at create with 400 and nothing is made (dockerd 20.10 takes it, and clamps the ".." when it starts)',
  async (value, why) => {
    const before = (await dockerCli(d, ['ps', '-aq'])).out;
    const ours = await dockerCli(d, ['create', '--cgroup-parent', value, IMAGE, 'true']);
    expect(ours.code).toBe(1);
    expect(ours.err).toContain(`Error response from daemon: invalid cgroup parent "${value}": ${why}`);
    const raw = await api('POST', '/containers/create', { Image: IMAGE, HostConfig: { CgroupParent: value } });
    expect(raw).toEqual({ status: 400, json: { message: `invalid cgroup parent "${value}": ${why}` } });
    expect((await dockerCli(d, ['ps', '-aq'])).out).toBe(before);
    expect(childrenOf('/pv-test-escape')).toEqual([]);
    for (const h of HIERARCHIES) expect(fs.existsSync(path.join(h, 'pv-test-escape'))).toBe(false);
    // The baseline creates the container (a create makes no cgroup yet).
    const theirs = await dockerCli(base!, ['create', '--cgroup-parent', value, IMAGE, 'true']);
    expect(theirs.code).toBe(0);
    await dockerCli(base!, ['rm', '-f', theirs.out.trim()]);
  },
);

test("a container that runs in another's VM cannot have a parent of its own (400)", async () => {
  const x = (await dockerCli(d, ['run', '-d', IMAGE, 'sleep', '600'])).out.trim();
  try {
    const r = await dockerCli(d, [
      'create',
      '--network',
      `container:${x}`,
      '--cgroup-parent',
      '/pv-test-join',
      IMAGE,
      'true',
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("Error response from daemon: --cgroup-parent places a container's VM: ");
  } finally {
    await dockerCli(d, ['rm', '-f', x]);
  }
});
