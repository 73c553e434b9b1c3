/**
 * A VM that root in a privileged pod could change is never kept for the next pod (issue 39,
 * item 10), through the `podvisor` CLI on real VMs: the pod writes a core_pattern helper into
 * the guest kernel (what the next pod's crashing process would run as guest root), and
 * `stop --keep-vm` and `replace` refuse with the conflict exit code, naming why, and leave it
 * running; a plain stop then destroys its VM, which no pod can get afterwards.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { podvisor, podvisorOk as ok } from '../helpers/podvisor-cli';

jest.setTimeout(240000);

const IMAGE = `${fixtureRegistry()}/busybox`;
const MARKER = '|/tmp/left-by-the-first-pod %p';

interface VmRow {
  id: string;
  state: string;
  podId?: string;
}

let d: TestDaemon;
beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 0 });
  await ok(d, ['pull', IMAGE]);
});
afterAll(async () => {
  if (!d) return;
  for (const p of JSON.parse((await podvisor(d, ['list', '--json'])).out || '[]') as Array<{ id: string }>)
    await podvisor(d, ['rm', '-f', p.id]);
  for (const v of JSON.parse((await podvisor(d, ['list', 'vms', '--json'])).out || '[]') as VmRow[])
    if (v.state === 'Idle') await podvisor(d, ['rm-vm', v.id]);
  await stopDaemonLeavingNothing(d);
});

test('a privileged pod that changed its guest kernel cannot hand its VM to the next pod', async () => {
  const vmId = (await ok(d, ['run-vm'])).trim();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-kept-vm-'));
  const file = path.join(dir, 'first.yaml');
  const script = `echo '${MARKER}' > /proc/sys/kernel/core_pattern; sleep 1000`;
  fs.writeFileSync(
    file,
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: first\nspec:\n  containers:\n    - name: main\n      image: ${IMAGE}\n      command: ["sh", "-c", ${JSON.stringify(script)}]\n      securityContext:\n        privileged: true\n`,
  );
  try {
    await ok(d, ['run-pod', '--vm', vmId, '-f', file]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // The guest kernel now runs that helper, as guest root, for any process that dumps core.
  expect(await ok(d, ['exec', 'first', 'cat', '/proc/sys/kernel/core_pattern'])).toBe(`${MARKER}\n`);

  const why =
    'pod first cannot keep its VM for another pod: container main is privileged, and root in it may ' +
    'have changed the VM (its kernel settings, its own files); stop it without --keep-vm (its VM is destroyed then)';
  const keep = await podvisor(d, ['stop', '--keep-vm', '-t', '1', 'first']);
  expect({ code: keep.code, err: keep.err.trim() }).toEqual({ code: 5, err: `podvisor: ${why}` });
  // Nothing happened to it.
  expect(await ok(d, ['exec', 'first', 'echo', 'still-running'])).toBe('still-running\n');
  expect((JSON.parse(await ok(d, ['list', 'vms', '--json'])) as VmRow[]).find((v) => v.id === vmId)?.state).toBe(
    'Associated',
  );

  // replace refuses the same way; the new pod stays created.
  await ok(d, ['create', '--name', 'second', IMAGE, 'cat', '/proc/sys/kernel/core_pattern']);
  const replace = await podvisor(d, ['replace', '-o', 'first', '-n', 'second', '-t', '1']);
  expect({ code: replace.code, err: replace.err.trim() }).toEqual({ code: 5, err: `podvisor: ${why}` });

  // A plain stop: the VM goes with the pod, and no pod can get it. Its teardown ends after the
  // stop has answered (in the background, as every stopped pod's): wait for it to leave the list.
  await ok(d, ['stop', '-t', '1', 'first']);
  const listed = async () => (JSON.parse(await ok(d, ['list', 'vms', '--json'])) as VmRow[]).map((v) => v.id);
  for (let i = 0; i < 300 && (await listed()).includes(vmId); i++) await new Promise((r) => setTimeout(r, 100));
  expect(await listed()).not.toContain(vmId);
  expect((await podvisor(d, ['start', '--vm', vmId, 'second'])).code).toBe(4);
  await ok(d, ['rm', '-f', 'first', 'second']);
});
