/**
 * The `podvisor` CLI as a user runs it (bin/podvisor, real VMs, the stock docker CLI beside):
 * pods and idle VMs through the seeds' verbs; a VM kept by `stop --keep-vm` shows the next pod
 * nothing of the old one (files, processes, mounts, hostname); `replace` on a running VM;
 * the grace period; logs -f, attach, exec -d/-i; pods and idle VMs across a daemon SIGKILL;
 * native pods visible to docker and Docker containers visible to podvisor.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { podvisor, podvisorOk, PODVISOR_BIN, type CliResult } from '../helpers/podvisor-cli';
import { ptySession } from '../helpers/pty';

jest.setTimeout(240000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;
const BIN = PODVISOR_BIN;
const ok = podvisorOk;

/** Poll `f` until it returns true (or fail after `ms`). */
async function until(f: () => Promise<boolean>, ms = 60000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 300));
  }
}

interface VmRow {
  id: string;
  state: string;
  podId?: string;
}

describe('podvisor CLI on real VMs', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon({ vmPoolSize: 1 });
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

  test('help, usage errors and an unreachable daemon have their own exit codes', async () => {
    const help = await podvisor(d, ['stop', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('--keep-vm');
    expect((await podvisor(d, ['no-such-verb'])).code).toBe(2);
    const missing = await podvisor(d, ['start', 'no-such-pod']);
    expect(missing.code).toBe(4);
    expect(missing.err).toBe(`podvisor: no pod matches "no-such-pod" (podvisor list shows the pods)\n`);
    const away = await new Promise<CliResult>((resolve) => {
      const p = spawn(process.execPath, [BIN, '-H', 'unix:///nonexistent/podvisor.sock', 'list'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      p.stderr.on('data', (c: Buffer) => (err += c.toString()));
      p.on('close', (code) => resolve({ code: code ?? -1, out: '', err }));
    });
    expect(away.code).toBe(3);
    expect(away.err).toContain('cannot reach podvisord');
  });

  test('run prints the output and exits with the code; create, start, exec, logs, list, stop, rm', async () => {
    const run = await podvisor(d, ['run', '--rm', IMAGE, 'sh', '-c', 'echo from-run; exit 3']);
    expect(run.out).toBe('from-run\n');
    expect(run.code).toBe(3);
    // A start that fails ends the command at once with the daemon's words and docker's 127,
    // and --rm removes the pod that never ran (the session attached before it is closed).
    const failed = await podvisor(d, ['run', '--rm', '--name', 'cannot-start', IMAGE, 'no-such-command']);
    expect(failed).toMatchObject({ code: 127, out: '' });
    expect(failed.err).toContain('exec: "no-such-command": executable file not found in $PATH');
    expect(await ok(d, ['list'])).not.toContain('cannot-start');

    const info = JSON.parse(await ok(d, ['info', '--json'])) as Record<string, unknown>;
    expect(info).toMatchObject({ host: d.dockerHost, pods: 0, vms: 0, isolation: 'QEMU microVM per pod' });
    expect(await ok(d, ['info'])).toMatch(/^pods\s+0$/m);

    await ok(d, ['create', '--name', 'web', IMAGE, 'sh', '-c', 'echo started; sleep 1000']);
    expect(await ok(d, ['list'])).toMatch(/web\s+Created/);
    await ok(d, ['start', 'web']);
    const pods = await ok(d, ['list']);
    expect(pods).toMatch(/POD ID\s+NAME\s+STATE\s+VM/);
    expect(pods).toMatch(/web\s+Running\s+[0-9a-f]{12}/);
    expect(await ok(d, ['exec', 'web', 'cat', '/proc/1/cmdline'])).toContain('sleep');
    const execCode = await podvisor(d, ['exec', 'web', 'sh', '-c', 'exit 7']);
    expect(execCode.code).toBe(7);
    expect(await ok(d, ['logs', 'web'])).toBe('started\n');
    expect(await ok(d, ['list', 'containers'])).toMatch(/web\s+.*busybox\s+"sh -c echo started; sleep 1000"\s+running/);
    expect(await ok(d, ['stop', '-t', '1', 'web'])).toBe('web stopped\n');
    expect(await ok(d, ['list'])).toMatch(/web\s+Created/);
    expect((await podvisor(d, ['stop', 'web'])).code).toBe(5);
    await ok(d, ['rm', 'web']);
    expect(await ok(d, ['list'])).not.toContain('web');
  });

  test('run-vm, run-pod --vm, stop --keep-vm: the next pod on that VM sees nothing of the old one', async () => {
    const vmId = (await ok(d, ['run-vm'])).trim();
    expect(vmId).toMatch(/^[0-9a-f]{12}$/);
    expect(await ok(d, ['list', 'vms'])).toMatch(new RegExp(`${vmId}\\s+Idle`));

    // The first pod leaves traces of every kind it can: a file in the VM's /tmp and its root,
    // a background process, its hostname. (Not a mount: that needs CAP_SYS_ADMIN, and a pod
    // with it never leaves its VM to another: test/compat/podvisor-kept-vm.test.ts.)
    const script = 'echo secret > /tmp/trace; echo x > /trace; sleep 4242 & sleep 1000';
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cli-')), 'first.yaml');
    fs.writeFileSync(
      file,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: first\nspec:\n  hostname: first-host\n  containers:\n    - name: main\n      image: ${IMAGE}\n      command: ["sh", "-c", ${JSON.stringify(script)}]\n`,
    );
    await ok(d, ['run-pod', '--vm', vmId, '-f', file]);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    const vms = JSON.parse(await ok(d, ['list', 'vms', '--json'])) as VmRow[];
    expect(vms.find((v) => v.id === vmId)?.state).toBe('Associated');
    expect(await ok(d, ['exec', 'first', 'hostname'])).toBe('first-host\n');
    expect(await ok(d, ['exec', 'first', 'ps'])).toContain('sleep 4242');
    expect((await podvisor(d, ['rm-vm', vmId])).code).toBe(5);

    expect(await ok(d, ['stop', '--keep-vm', '-t', '1', 'first'])).toBe(`first stopped; VM ${vmId} is Idle\n`);
    expect(await ok(d, ['list', 'vms'])).toMatch(new RegExp(`${vmId}\\s+Idle`));

    await ok(d, ['create', '--name', 'second', IMAGE, 'sleep', '1000']);
    await ok(d, ['start', '--vm', vmId, 'second']);
    const second = JSON.parse(await ok(d, ['list', '--json'])) as Array<{ name: string; vm: string }>;
    expect(second.find((p) => p.name === 'second')?.vm).toBe(vmId);
    const look = await ok(d, [
      'exec',
      'second',
      'sh',
      '-c',
      'hostname; ls /tmp; ls /trace 2>&1; ps -o args; cat /proc/mounts',
    ]);
    expect(look).not.toContain('first-host');
    expect(look).not.toContain('trace\n');
    expect(look).toContain('No such file');
    expect(look).not.toContain('sleep 4242');
    await ok(d, ['rm', '-f', 'first', 'second']);
  });

  test('replace: a running pod stopped and another started on its VM', async () => {
    await ok(d, ['run-pod', '--name', 'old', IMAGE, 'sleep', '1000']);
    const oldVm = (JSON.parse(await ok(d, ['list', '--json'])) as Array<{ name: string; vm: string }>).find(
      (p) => p.name === 'old',
    )?.vm;
    expect(oldVm).toMatch(/^[0-9a-f]{12}$/);
    await ok(d, ['create', '--name', 'new', IMAGE, 'sh', '-c', 'echo new-pod; sleep 1000']);
    expect(await ok(d, ['replace', '-o', 'old', '-n', 'new', '-t', '1'])).toBe(
      `new running on VM ${oldVm} (replaced old)\n`,
    );
    const pods = JSON.parse(await ok(d, ['list', '--json'])) as Array<{
      name: string;
      vm: string | null;
      state: string;
    }>;
    expect(pods.find((p) => p.name === 'new')).toMatchObject({ vm: oldVm, state: 'Running' });
    expect(pods.find((p) => p.name === 'old')).toMatchObject({ vm: null, state: 'Created' });
    expect((await podvisor(d, ['replace', '-o', 'old', '-n', 'new'])).code).toBe(5);
    await ok(d, ['rm', '-f', 'old', 'new']);
  });

  test('a daemon killed with SIGKILL and restarted: a running pod runs on', async () => {
    await ok(d, ['run-pod', '--name', 'survivor', IMAGE, 'sh', '-c', 'echo before; sleep 1000']);
    await d.kill9();
    await d.restart();
    const pods = JSON.parse(await ok(d, ['list', '--json'])) as Array<{ name: string; state: string }>;
    expect(pods.find((p) => p.name === 'survivor')?.state).toBe('Running');
    expect(await ok(d, ['exec', 'survivor', 'echo', 'still-here'])).toBe('still-here\n');
    expect(await ok(d, ['logs', 'survivor'])).toBe('before\n');
    await ok(d, ['rm', '-f', 'survivor']);
  });

  test('a daemon killed with SIGKILL and restarted: an idle VM is held again (re-adopted, not leaked)', async () => {
    const vmId = (await ok(d, ['run-vm'])).trim();
    await d.kill9();
    await d.restart();
    // The idle VM is re-adopted once the pods' adoption has ended (in the background).
    let vms: VmRow[] = [];
    for (let i = 0; i < 100 && !vms.some((v) => v.id === vmId); i++) {
      vms = JSON.parse(await ok(d, ['list', 'vms', '--json'])) as VmRow[];
      if (!vms.some((v) => v.id === vmId)) await new Promise((r) => setTimeout(r, 200));
    }
    // When it is not, the daemons' lines about it and the reclaim say why (in the failure).
    const said = d
      .logs()
      .split('\n')
      .filter((l) => l.includes(vmId) || /reclaimed|re-adopt|podvisord .* ready/.test(l));
    expect({ state: vms.find((v) => v.id === vmId)?.state, said }).toMatchObject({ state: 'Idle' });
    // It takes a pod, as before the crash.
    await ok(d, ['run-pod', '--vm', vmId, '--name', 'after', IMAGE, 'sleep', '1000']);
    expect(await ok(d, ['exec', 'after', 'echo', 'on-the-held-vm'])).toBe('on-the-held-vm\n');
    await ok(d, ['rm', '-f', 'after']);
  });

  test('stop gives a TERM-trapping pod its grace, and kills a TERM-ignoring one at the deadline', async () => {
    await ok(d, [
      'pod',
      '--name',
      'polite',
      IMAGE,
      'sh',
      '-c',
      "trap 'echo got-term; sleep 1; echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    await ok(d, [
      'pod',
      '--name',
      'deaf',
      IMAGE,
      'sh',
      '-c',
      "trap '' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    for (const p of ['polite', 'deaf']) await until(async () => (await ok(d, ['logs', p])) === 'ready\n');
    expect(await ok(d, ['stop-pod', '-t', '30', 'polite'])).toBe('polite stopped\n');
    expect(await ok(d, ['logs', 'polite'])).toBe('ready\ngot-term\nbye\n');
    expect(await ok(d, ['stop-pod', '-t', '1', 'deaf'])).toBe('deaf stopped\n');
    const pods = JSON.parse(await ok(d, ['list', '--json'])) as Array<{
      name: string;
      containers: Array<{ exitCode: number }>;
    }>;
    expect(pods.find((p) => p.name === 'polite')?.containers[0].exitCode).toBe(0);
    expect(pods.find((p) => p.name === 'deaf')?.containers[0].exitCode).toBe(137);
    // rm --force with grace 0: a running pod goes at once.
    await ok(d, ['start-pod', 'deaf']);
    expect(await ok(d, ['rm', '--force', 'deaf'])).toBe('deaf\n');
    await ok(d, ['rm', 'polite']);
    expect(await ok(d, ['list'])).not.toMatch(/\b(polite|deaf)\b/);
  });

  test('logs -f follows to the end; attach shows the live output; exec -d and exec -i; vm and rm-vm', async () => {
    await ok(d, ['run-pod', '--name', 'ticker', IMAGE, 'sh', '-c', 'for i in 1 2 3; do echo tick $i; sleep 1; done']);
    const followed = await podvisor(d, ['logs', '-f', 'ticker']);
    expect(followed).toMatchObject({ code: 0, out: 'tick 1\ntick 2\ntick 3\n' });

    await ok(d, ['run-pod', '--name', 'late', IMAGE, 'sh', '-c', 'sleep 3; echo late-line']);
    const attached = await podvisor(d, ['attach', 'late']);
    expect(attached.out).toBe('late-line\n');
    expect(attached.code).toBe(0);

    await ok(d, ['run-pod', '--name', 'box', IMAGE, 'sleep', '1000']);
    expect(await ok(d, ['exec', '-d', 'box', 'sh', '-c', 'sleep 1; echo detached > /tmp/d'])).toBe('');
    await until(async () => (await podvisor(d, ['exec', 'box', 'cat', '/tmp/d'])).out === 'detached\n');
    const withStdin = await new Promise<CliResult>((resolve) => {
      const p = spawn(process.execPath, [BIN, 'exec', '-i', 'box', 'sh', '-c', 'read a; echo got-$a'], {
        env: { ...process.env, PODVISOR_HOST: d.dockerHost },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      p.stdin.end('typed\n');
      p.on('close', (code) => resolve({ code: code ?? -1, out, err: '' }));
    });
    expect(withStdin).toMatchObject({ code: 0, out: 'got-typed\n' });

    const vmId = (await ok(d, ['vm'])).trim();
    expect(await ok(d, ['list', 'vms'])).toContain(vmId);
    expect(await ok(d, ['rm-vm', vmId])).toBe(`${vmId}\n`);
    expect(await ok(d, ['list', 'vms'])).not.toContain(vmId);
    expect((await podvisor(d, ['rm-vm', vmId])).code).toBe(4);
    await ok(d, ['rm', '-f', 'ticker', 'late', 'box']);
  });

  test("run-pod -t attaches to the pod's TTY at a terminal; exec -it too; the exit code comes back", async () => {
    const env = { ...process.env, PODVISOR_HOST: d.dockerHost };
    const t = ptySession(
      `stty rows 30 cols 90; exec ${process.execPath} ${BIN} run-pod -t --name tty ${IMAGE} sh`,
      env,
    );
    t.type('\r');
    await t.expect(/# /, 60000);
    t.type('stty size; exit 3\r');
    await t.expect(/30 90/);
    expect(await t.exited).toBe(3);
    // The local terminal had no output post-processing of its own (lines end \r\n, as typed).
    expect(t.output()).not.toContain('\r\r\n');
    await ok(d, ['start', 'tty']);
    const x = ptySession(`exec ${process.execPath} ${BIN} exec -it tty sh -c 'tty; exit 4'`, env);
    await x.expect(/\/dev\/pts\/\d+/, 60000);
    expect(await x.exited).toBe(4);
    await ok(d, ['rm', '-f', 'tty']);
  });

  test('bridges: native pods in docker ps with their pod label; Docker containers in podvisor list', async () => {
    await ok(d, ['run-pod', '--name', 'bridged', IMAGE, 'sh', '-c', 'echo bridged-out; sleep 1000']);
    const ps = await dockerCli(d, [
      'ps',
      '--filter',
      'label=io.podvisor.pod=bridged',
      '--format',
      '{{.Names}} {{.Label "io.podvisor.api"}}',
    ]);
    expect(ps.out).toBe('bridged native\n');
    // The pod's first line may still be on its way: wait for it (a few seconds at most).
    let logs = '';
    for (let i = 0; i < 50 && !logs; i++) {
      logs = (await dockerCli(d, ['logs', 'bridged'])).out;
      if (!logs) await new Promise((r) => setTimeout(r, 200));
    }
    expect(logs).toBe('bridged-out\n');
    expect((await dockerCli(d, ['exec', 'bridged', 'echo', 'via-docker'])).out).toBe('via-docker\n');
    expect((await dockerCli(d, ['inspect', '-f', '{{.State.Running}}', 'bridged'])).out).toBe('true\n');
    expect((await dockerCli(d, ['stop', '-t', '1', 'bridged'])).code).toBe(0);
    expect(await ok(d, ['list'])).toMatch(/bridged\s+Created/);

    expect((await dockerCli(d, ['run', '-d', '--name', 'fromdocker', IMAGE, 'sleep', '1000'])).code).toBe(0);
    expect(await ok(d, ['list'])).toMatch(/fromdocker\s+Running/);
    await ok(d, ['rm', '-f', 'bridged', 'fromdocker']);
  });
});
