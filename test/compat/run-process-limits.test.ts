/**
 * `--pids-limit` and `--oom-score-adj` through the stock docker CLI: the container's cgroup in
 * its VM gets pids.max (a fork past it fails, `docker update` changes it live, inspect shows
 * HostConfig.PidsLimit as dockerd does), and its init and execs the OOM score adjustment (an
 * out-of-range one refused with dockerd's words, beside the baseline dockerd).
 */
import type { TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli } from '../helpers/docker-cli';
import type { BaselineDockerd } from '../../bench/common';
import { startBesideBaseline, stopBesideBaseline } from '../helpers/beside-baseline';

jest.setTimeout(600000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox:latest`;
// 20 children at once, each a fork of the shell (busybox ash says "can't fork" and exits 2).
const TWENTY = 'for i in $(seq 20); do sleep 3 & done; wait; echo done';

let d: TestDaemon;
let base: BaselineDockerd | undefined;
let dir: string;

beforeAll(async () => {
  ({ d, base, dir } = await startBesideBaseline('pv-process-limits-', { vmPoolSize: 1 }, [IMAGE]));
});

afterAll(() => stopBesideBaseline({ d, base, dir }));

test("--pids-limit 8: the ninth task cannot fork (busybox's can't fork, status 2); inspect shows 8", async () => {
  const r = await dockerCli(d, ['run', '--rm', '--pids-limit', '8', IMAGE, 'sh', '-c', TWENTY]);
  expect(r.code).toBe(2);
  expect(r.err).toContain("can't fork: Resource temporarily unavailable");
  expect(r.out).not.toContain('done');
  const id = (await dockerCli(d, ['create', '--pids-limit', '8', IMAGE, 'true'])).out.trim();
  try {
    expect((await dockerCli(d, ['inspect', '-f', '{{.HostConfig.PidsLimit}}', id])).out).toBe('8\n');
  } finally {
    await dockerCli(d, ['rm', '-f', id]);
  }
});

test('--pids-limit 0 and -1 are no limit, shown as null (<nil>) as dockerd shows them', async () => {
  for (const n of ['0', '-1']) {
    const r = await dockerCli(d, ['run', '--rm', '--pids-limit', n, IMAGE, 'sh', '-c', TWENTY]);
    expect(r).toMatchObject({ code: 0, out: 'done\n' });
    const id = (await dockerCli(d, ['create', '--pids-limit', n, IMAGE, 'true'])).out.trim();
    const theirs = (await dockerCli(base!, ['create', '--pids-limit', n, IMAGE, 'true'])).out.trim();
    try {
      const ours = await dockerCli(d, ['inspect', '-f', '{{.HostConfig.PidsLimit}}', id]);
      expect(ours.out).toBe((await dockerCli(base!, ['inspect', '-f', '{{.HostConfig.PidsLimit}}', theirs])).out);
      expect(ours.out).toBe('<nil>\n');
    } finally {
      await dockerCli(d, ['rm', '-f', id]);
      await dockerCli(base!, ['rm', '-f', theirs]);
    }
  }
});

test('docker update --pids-limit: 30 lets 20 children run; -1 lifts the limit (0 is not sent)', async () => {
  const name = `pv-pids-${process.pid}`;
  const pids = (daemon: TestDaemon | BaselineDockerd) =>
    dockerCli(daemon, ['inspect', '-f', '{{.HostConfig.PidsLimit}}', name]);
  expect((await dockerCli(d, ['run', '-d', '--name', name, '--pids-limit', '8', IMAGE, 'sleep', '600'])).code).toBe(0);
  expect((await dockerCli(base!, ['run', '-d', '--name', name, '--pids-limit', '8', IMAGE, 'sleep', '600'])).code).toBe(
    0,
  );
  try {
    const before = await dockerCli(d, ['exec', name, 'sh', '-c', TWENTY]);
    expect(before.code).toBe(2);
    expect(before.err).toContain("can't fork");
    expect((await dockerCli(d, ['update', '--pids-limit', '30', name])).code).toBe(0);
    expect((await dockerCli(d, ['exec', name, 'sh', '-c', TWENTY])).out).toBe('done\n');
    expect((await dockerCli(d, ['exec', name, 'cat', '/sys/fs/cgroup/pids.max'])).out).toBe('30\n');
    expect((await pids(d)).out).toBe('30\n');
    // The CLI sends no limit for 0 (nothing changes) and -1 for -1, which lifts it.
    expect((await dockerCli(d, ['update', '--pids-limit', '0', name])).code).toBe(0);
    expect((await dockerCli(d, ['exec', name, 'cat', '/sys/fs/cgroup/pids.max'])).out).toBe('30\n');
    expect((await dockerCli(d, ['update', '--pids-limit', '-1', name])).code).toBe(0);
    expect((await dockerCli(d, ['exec', name, 'cat', '/sys/fs/cgroup/pids.max'])).out).toBe('max\n');
    expect((await dockerCli(base!, ['update', '--pids-limit', '-1', name])).code).toBe(0);
    expect((await pids(d)).out).toBe((await pids(base!)).out);
  } finally {
    await dockerCli(d, ['rm', '-f', name]);
    await dockerCli(base!, ['rm', '-f', name]);
  }
});

test('--oom-score-adj: the init has it (500, and -500, which only root may set); an exec too', async () => {
  const args = (n: string) => ['run', '--rm', '--oom-score-adj', n, IMAGE, 'cat', '/proc/self/oom_score_adj'];
  const [ours, theirs] = await Promise.all([dockerCli(d, args('500')), dockerCli(base!, args('500'))]);
  expect(ours).toMatchObject({ code: 0, out: '500\n' });
  expect(theirs).toMatchObject({ code: 0, out: '500\n' });
  // Not beside the baseline: lowering it needs CAP_SYS_RESOURCE where dockerd's runc runs,
  // which a dockerd in a container of its own may not have.
  expect(await dockerCli(d, args('-500'))).toMatchObject({ code: 0, out: '-500\n' });
  const name = `pv-oom-${process.pid}`;
  expect(
    (await dockerCli(d, ['run', '-d', '--name', name, '--oom-score-adj', '300', IMAGE, 'sleep', '600'])).code,
  ).toBe(0);
  try {
    expect((await dockerCli(d, ['exec', name, 'cat', '/proc/self/oom_score_adj'])).out).toBe('300\n');
  } finally {
    await dockerCli(d, ['rm', '-f', name]);
  }
});

test("--oom-score-adj out of -1000..1000: dockerd's 400, the CLI's 125", async () => {
  for (const n of ['1001', '-1001']) {
    const args = ['run', '--rm', '--oom-score-adj', n, IMAGE, 'true'];
    const [ours, theirs] = await Promise.all([dockerCli(d, args), dockerCli(base!, args)]);
    expect(ours.code).toBe(125);
    expect(ours.err).toContain(
      `Error response from daemon: Invalid value ${n}, range for oom score adj is [-1000, 1000]`,
    );
    expect(theirs.code).toBe(125);
    expect(ours.err).toBe(theirs.err);
  }
  expect((await dockerCli(d, ['ps', '-aq'])).out).toBe('');
});
