/**
 * Regressions of bugs once found in podvisor, each through the stock docker CLI against the real
 * daemon on real VMs (fixture registry): binary stdin without a TTY, the exit codes of a
 * command that cannot be started, memory limits held by the guest's cgroup (stats, live
 * update, OOM), and a persisted daemon ID. One daemon, one long-running
 * container for the exec checks.
 */
import { createHash, randomBytes } from 'node:crypto';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, type CliResult } from '../helpers/docker-cli';

jest.setTimeout(180000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;

/** Run the docker CLI; `input` is written to its stdin (then closed). */
function docker(d: TestDaemon, args: string[], input?: Buffer): Promise<CliResult> {
  return dockerCli(d, args, input ?? Buffer.alloc(0));
}

function md5(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}

describe('regressions (docker CLI)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon({ vmPoolSize: 1 });
    const pulled = await docker(d, ['pull', '-q', IMAGE]);
    expect(pulled.code).toBe(0);
  });
  afterAll(async () => {
    if (!d) return;
    await docker(d, ['rm', '-f', 'reg-svc']);
    await stopDaemonLeavingNothing(d);
  });

  test('3 MB of random bytes pass unchanged through docker run -i and docker exec -i (no TTY)', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    // The point of the test: the default detach keys (ctrl-p ctrl-q) occur in the input.
    expect(data.includes(Buffer.from([0x10, 0x11]))).toBe(true);
    const want = `${md5(data)}  -\n${data.length}\n`;
    const viaRun = await docker(
      d,
      ['run', '-i', '--rm', IMAGE, 'sh', '-c', 'tee /tmp/in | md5sum; wc -c < /tmp/in'],
      data,
    );
    expect(viaRun).toEqual({ code: 0, out: want, err: '' });
    expect((await docker(d, ['run', '-d', '--name', 'reg-svc', IMAGE, 'sleep', '600'])).code).toBe(0);
    const viaExec = await docker(
      d,
      ['exec', '-i', 'reg-svc', 'sh', '-c', 'tee /tmp/in | md5sum; wc -c < /tmp/in'],
      data,
    );
    expect(viaExec).toEqual({ code: 0, out: want, err: '' });
  });

  test('a missing command exits 127, a file that cannot be run 126, an exec that cannot start 126, with dockerd wording', async () => {
    const abs = await docker(d, ['run', '--rm', IMAGE, '/nonexistent']);
    expect(abs.code).toBe(127);
    expect(abs.err).toContain('exec: "/nonexistent": stat /nonexistent: no such file or directory');
    const onPath = await docker(d, ['run', '--rm', IMAGE, 'nonexistent']);
    expect(onPath.code).toBe(127);
    expect(onPath.err).toContain('exec: "nonexistent": executable file not found in $PATH');
    const notExec = await docker(d, ['run', '--rm', IMAGE, '/etc/passwd']);
    expect(notExec.code).toBe(126);
    expect(notExec.err).toContain('exec: "/etc/passwd": permission denied');
    // The container that failed to start records the same code (docker ps -a, inspect).
    expect((await docker(d, ['create', '--name', 'reg-missing', IMAGE, '/nonexistent'])).code).toBe(0);
    expect((await docker(d, ['start', 'reg-missing'])).code).not.toBe(0);
    const state = await docker(d, ['inspect', '-f', '{{.State.ExitCode}}', 'reg-missing']);
    expect(state.out.trim()).toBe('127');
    await docker(d, ['rm', '-f', 'reg-missing']);
    // docker exec of a command that cannot start: 126 whatever the cause (dockerd 20.10
    // records 126 for every exec start failure), with runc's exec wording.
    const ex = await docker(d, ['exec', 'reg-svc', '/nonexistent']);
    expect(ex.code).toBe(126);
    // dockerd writes it on the hijacked stream's stdout frame, so the CLI prints it on stdout.
    expect(ex.out).toContain(
      'OCI runtime exec failed: exec failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory: unknown',
    );
    expect((await docker(d, ['exec', 'reg-svc', '/etc/passwd'])).code).toBe(126);
  });

  test('docker run -m: stats show the limit, docker update changes it live, the OOM killer holds to it', async () => {
    expect(await docker(d, ['run', '-d', '--name', 'reg-mem', '-m', '64m', IMAGE, 'sleep', '600'])).toMatchObject({
      code: 0,
      err: '',
    });
    const stats = await docker(d, ['stats', '--no-stream', '--format', '{{.MemUsage}}', 'reg-mem']);
    expect(stats.out).toMatch(/ \/ 64MiB\n$/);
    expect((await docker(d, ['update', '-m', '48m', '--memory-swap', '48m', 'reg-mem'])).code).toBe(0);
    expect((await docker(d, ['stats', '--no-stream', '--format', '{{.MemUsage}}', 'reg-mem'])).out).toMatch(
      / \/ 48MiB\n$/,
    );
    const tooBig = await docker(d, ['update', '-m', '4g', '--memory-swap', '4g', 'reg-mem']);
    expect(tooBig.code).not.toBe(0);
    expect(tooBig.err).toContain('does not fit its running VM');
    await docker(d, ['rm', '-f', 'reg-mem']);
    // busybox `tail /dev/zero` keeps one endless line: it grows until the cgroup's OOM kill.
    const oom = await docker(d, ['run', '--name', 'reg-oom', '-m', '32m', IMAGE, 'tail', '/dev/zero']);
    expect(oom.code).toBe(137);
    const state = await docker(d, ['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}}', 'reg-oom']);
    expect(state.out).toBe('true 137\n');
    const until = String(Math.ceil(Date.now() / 1000) + 2);
    const events = await docker(d, [
      'events',
      '--since',
      '0',
      '--until',
      until,
      '--filter',
      'container=reg-oom',
      '--format',
      '{{.Action}}',
    ]);
    expect(events.out.split('\n')).toEqual(expect.arrayContaining(['oom', 'die']));
    expect(events.out.indexOf('oom')).toBeLessThan(events.out.indexOf('die'));
    await docker(d, ['rm', '-f', 'reg-oom']);
  });

  test('--group-add adds groups by name and number to the init and to execs, as dockerd', async () => {
    const root = await docker(d, ['run', '--rm', '--group-add', 'user', '--group-add', '1234', IMAGE, 'id', '-G']);
    expect(root).toEqual({ code: 0, out: '0 1000 1234\n', err: '' });
    const user = await docker(d, [
      'run',
      '--rm',
      '--group-add',
      'user',
      '--group-add',
      '1234',
      '-u',
      '1000',
      IMAGE,
      'id',
      '-G',
    ]);
    expect(user.out).toBe('1000 1234\n');
    expect(
      (await docker(d, ['run', '-d', '--name', 'reg-groups', '--group-add', '1234', IMAGE, 'sleep', '600'])).code,
    ).toBe(0);
    expect((await docker(d, ['exec', 'reg-groups', 'id', '-G'])).out).toBe('0 1234\n');
    await docker(d, ['rm', '-f', 'reg-groups']);
    const missing = await docker(d, ['run', '--rm', '--group-add', 'nosuch', IMAGE, 'id', '-G']);
    expect(missing.code).toBe(125);
    expect(missing.err).toContain('Unable to find group nosuch: no matching entries in group file');
  });

  test('docker info has a daemon ID in dockerd shape, the same after a restart', async () => {
    const before = (await docker(d, ['info', '-f', '{{.ID}}'])).out.trim();
    expect(before).toMatch(/^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$/);
    await d.restart();
    const after = (await docker(d, ['info', '-f', '{{.ID}}'])).out.trim();
    expect(after).toBe(before);
  });
});
