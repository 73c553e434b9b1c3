/**
 * The VM's console is no channel a container can write (issue 67 item 4; docs/security.md):
 * a container's /dev has no /dev/console, as runc's has none without -t; a default container
 * may make the node of the VM's console (c 5:1, mknod is allowed) but cannot open it; and
 * lines forged on the console (a privileged container, whose VM is its own, can write them)
 * change nothing the host does: the host reads the agent's status port, never the console,
 * when it saves a VM and restores it.
 */
import type { BaselineDockerd } from '../../bench/common';
import { startBesideBaseline, stopBesideBaseline } from '../helpers/beside-baseline';
import type { TestDaemon } from '../helpers/daemon';
import { dockerCli, dockerOk } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(600_000);

const IMAGE = `${fixtureRegistry()}/busybox:latest`;
/** The lines the agent logged on the console when its host left (the host once waited for them). */
const FORGED = [
  'podvisor-agent: host left the control channel (end of file)',
  'podvisor-agent: host left the stream channel (end of file)',
];

let d: TestDaemon;
let base: BaselineDockerd | undefined;
let dir: string;

beforeAll(
  async () => ({ d, base, dir } = await startBesideBaseline('pv-console-', { args: ['--experimental'] }, [IMAGE])),
);
afterAll(() => stopBesideBaseline({ d, base, dir }));

test('a default container has no /dev/console without -t, as under runc', async () => {
  const args = ['run', '--rm', IMAGE, 'ls', '-l', '/dev/console'];
  const ours = await dockerCli(d, args);
  const theirs = await dockerCli(base!, args);
  expect({ code: ours.code, out: ours.out, err: ours.err }).toEqual({
    code: theirs.code,
    out: theirs.out,
    err: theirs.err,
  });
  expect(ours.err).toContain('/dev/console: No such file or directory');
});

test("with -t runc's /dev/console is the container's terminal; ours has none (docs/limitations.md)", async () => {
  const args = ['run', '--rm', '-t', IMAGE, 'sh', '-c', 'ls -l /dev/console; tty'];
  const theirs = await dockerCli(base!, args);
  expect(theirs.out).toMatch(/^crw--w---- +1 root +\w+ +136, +\d+ .*\/dev\/console\r?\n\/dev\/pts\/\d+/);
  const ours = await dockerCli(d, args);
  expect(ours.out).toMatch(/\/dev\/console: No such file or directory\r?\n\/dev\/pts\/\d+/);
});

test("a default container makes the VM console's node but cannot write to it", async () => {
  const script = [
    'mknod /dev/cx c 5 1 && echo made',
    ...FORGED.map((l) => `echo '${l}' > /dev/cx && echo written`),
    'echo still here',
  ].join('\n');
  const r = await dockerCli(d, ['run', '--rm', IMAGE, 'sh', '-c', script]);
  expect(r.out).toBe('made\nstill here\n');
  expect(r.err).toBe("sh: can't create /dev/cx: Operation not permitted\n".repeat(2));
});

test('lines forged on the console by a privileged container change nothing: its checkpoint restores and answers', async () => {
  const forge = FORGED.map((l) => `echo '${l}'`).join('; ');
  const script = `mknod /dev/cx c 5 1 && (while :; do ${forge}; sleep 0.05; done > /dev/cx &) && i=0; while :; do echo $i; i=$((i+1)); sleep 0.2; done`;
  dockerOk(d, ['run', '-d', '--privileged', '--name', 'forger', IMAGE, 'sh', '-c', script]);
  try {
    const lines = () => dockerOk(d, ['logs', 'forger']).split('\n').filter(Boolean).map(Number);
    for (let i = 0; i < 100 && lines().length < 3; i++) await new Promise((r) => setTimeout(r, 200));
    dockerOk(d, ['checkpoint', 'create', 'forger', 'cp1'], 300_000);
    dockerOk(d, ['start', '--checkpoint', 'cp1', 'forger'], 300_000);
    expect(dockerOk(d, ['exec', 'forger', 'echo', 'answers'])).toBe('answers');
    const before = lines().length;
    for (let i = 0; i < 100 && lines().length <= before + 2; i++) await new Promise((r) => setTimeout(r, 200));
    const after = lines();
    expect(after.length).toBeGreaterThan(before + 2);
    expect(after).toEqual(after.map((_, i) => i));
    // A VM cloned from the template beside it starts and runs as ever.
    expect(dockerOk(d, ['run', '--rm', IMAGE, 'echo', 'hi'])).toBe('hi');
  } finally {
    await dockerCli(d, ['rm', '-f', 'forger']);
  }
});
