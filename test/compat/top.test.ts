/**
 * `docker top` on an image without `ps` (the fixture debian:bookworm, a minbase Debian without
 * procps, as nginx's and PostgreSQL's official images): the stock docker CLI, dockerode and
 * docker-py get the container's processes in the columns procps' ps prints for each ps_args
 * (dockerd runs ps on its host), with the container's commands, its users from its own
 * /etc/passwd, and the PID inspect shows. `docker stats` works there too.
 */
import { execFile } from 'node:child_process';
import Dockerode from 'dockerode';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli } from '../helpers/docker-cli';

jest.setTimeout(240000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/debian:bookworm`;

/** `docker top` as the CLI prints it: the titles and each row's cells (split at 2+ blanks). */
async function top(d: TestDaemon, name: string, psArgs: string[]): Promise<{ titles: string[]; rows: string[][] }> {
  const r = await dockerCli(d, ['top', name, ...psArgs]);
  if (r.code !== 0) throw new Error(`docker top ${psArgs.join(' ')}: ${r.err}`);
  const [head, ...lines] = r.out.trimEnd().split('\n');
  const cells = (l: string) => l.trim().split(/\s{2,}/);
  return { titles: cells(head), rows: lines.map(cells) };
}

describe('docker top without ps in the image', () => {
  let d: TestDaemon;
  let pid: string;
  beforeAll(async () => {
    d = await startDaemon({ vmPoolSize: 1 });
    expect((await dockerCli(d, ['pull', '-q', IMAGE])).code).toBe(0);
    // Two processes: `sleep 1002` (the init, after bash's exec) and its child `sleep 1001`.
    const run = await dockerCli(d, [
      'run',
      '-d',
      '--name',
      'noproc',
      IMAGE,
      'bash',
      '-c',
      'sleep 1001 & exec sleep 1002',
    ]);
    expect(run).toMatchObject({ code: 0 });
    pid = (await dockerCli(d, ['inspect', '-f', '{{.State.Pid}}', 'noproc'])).out.trim();
    expect(Number(pid)).toBeGreaterThan(0);
    // A process of another user, started by exec.
    expect((await dockerCli(d, ['exec', '-d', '-u', 'www-data', 'noproc', 'sleep', '1003'])).code).toBe(0);
  });
  afterAll(async () => {
    if (!d) return;
    await dockerCli(d, ['rm', '-f', 'noproc']);
    await stopDaemonLeavingNothing(d);
  });

  test('the image really has no ps', async () => {
    const r = await dockerCli(d, [
      'exec',
      'noproc',
      'bash',
      '-c',
      'command -v ps || echo none; ls /usr/bin/ps /bin/ps 2>&1 | wc -l',
    ]);
    expect(r).toMatchObject({ code: 0, out: 'none\n2\n' });
  });

  test("no ps_args and -ef: UID PID PPID C STIME TTY TIME CMD, the init's PID that of inspect", async () => {
    for (const args of [[], ['-ef']]) {
      const t = await top(d, 'noproc', args);
      expect(t.titles).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
      const byCmd = new Map(t.rows.map((r) => [r[7], r]));
      expect([...byCmd.keys()].sort()).toEqual(['sleep 1001', 'sleep 1002', 'sleep 1003']);
      const init = byCmd.get('sleep 1002')!;
      expect(init[0]).toBe('root');
      expect(init[1]).toBe(pid);
      expect(byCmd.get('sleep 1001')![2]).toBe(pid); // its parent
      expect(byCmd.get('sleep 1003')![0]).toBe('www-data');
      for (const r of t.rows) {
        expect(r[3]).toMatch(/^\d+$/);
        expect(r[4]).toMatch(/^\d\d:\d\d$/);
        expect(r[5]).toBe('?');
        expect(r[6]).toMatch(/^\d\d:\d\d:\d\d$/);
      }
    }
  });

  test('aux: USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND', async () => {
    const t = await top(d, 'noproc', ['aux']);
    expect(t.titles).toEqual(['USER', 'PID', '%CPU', '%MEM', 'VSZ', 'RSS', 'TTY', 'STAT', 'START', 'TIME', 'COMMAND']);
    const init = t.rows.find((r) => r[10] === 'sleep 1002')!;
    expect(init).toBeDefined();
    expect(init.slice(0, 2)).toEqual(['root', pid]);
    expect(init[2]).toMatch(/^\d+\.\d$/);
    expect(init[3]).toMatch(/^\d+\.\d$/);
    expect(Number(init[4])).toBeGreaterThan(Number(init[5]));
    expect(Number(init[5])).toBeGreaterThan(0);
    expect(init[7]).toMatch(/^S/);
    expect(init[9]).toMatch(/^\d+:\d\d$/);
  });

  test('-o lists: pid,comm; pid,user,args; -eo pid,ppid,comm', async () => {
    let t = await top(d, 'noproc', ['-o', 'pid,comm']);
    expect(t.titles).toEqual(['PID', 'COMMAND']);
    expect(t.rows).toContainEqual([pid, 'sleep']);
    t = await top(d, 'noproc', ['-o', 'pid,user,args']);
    expect(t.titles).toEqual(['PID', 'USER', 'COMMAND']);
    expect(t.rows.map((r) => r.slice(1))).toEqual(
      expect.arrayContaining([
        ['root', 'sleep 1002'],
        ['www-data', 'sleep 1003'],
      ]),
    );
    t = await top(d, 'noproc', ['-eo', 'pid,ppid,comm']);
    expect(t.titles).toEqual(['PID', 'PPID', 'COMMAND']);
    expect(t.rows.filter((r) => r[1] === pid)).toHaveLength(1);
  });

  test("ps_args it cannot render, and a table without PID, are dockerd's 500s with ps's kind of message", async () => {
    let r = await dockerCli(d, ['top', 'noproc', '-o', 'comm']);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe("Error response from daemon: Couldn't find PID field in ps output");
    r = await dockerCli(d, ['top', 'noproc', '-o', 'pid,bogus']);
    expect(r.err.trim()).toBe('Error response from daemon: ps: error: unknown user-defined format specifier "bogus"');
    r = await dockerCli(d, ['top', 'noproc', '-l']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/does not support the ps option "-l"/);
  });

  test('dockerode and docker-py get the same table', async () => {
    const api = new Dockerode({ socketPath: d.socketPath });
    const viaNode = (await api.getContainer('noproc').top({ ps_args: 'aux' })) as {
      Titles: string[];
      Processes: string[][];
    };
    expect(viaNode.Titles).toEqual([
      'USER',
      'PID',
      '%CPU',
      '%MEM',
      'VSZ',
      'RSS',
      'TTY',
      'STAT',
      'START',
      'TIME',
      'COMMAND',
    ]);
    expect(viaNode.Processes.map((p) => p[10]).sort()).toEqual(['sleep 1001', 'sleep 1002', 'sleep 1003']);
    const script = `import docker, json\nc = docker.APIClient(base_url='unix://${d.socketPath}', version='1.41')\nprint(json.dumps(c.top('noproc')))\n`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile('/usr/bin/python3', ['-c', script], { timeout: 60000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const viaPy = JSON.parse(out) as { Titles: string[]; Processes: string[][] };
    expect(viaPy.Titles).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    expect(viaPy.Processes.find((p) => p[1] === pid)?.[7]).toBe('sleep 1002');
  });

  test('a container with a terminal: TTY pts/0 and STAT with + (its foreground process group), as ps shows them', async () => {
    expect((await dockerCli(d, ['run', '-dt', '--name', 'withtty', IMAGE, 'sleep', '1004'])).code).toBe(0);
    try {
      const t = await top(d, 'withtty', ['-o', 'pid,tname,stat,args']);
      expect(t.titles).toEqual(['PID', 'TTY', 'STAT', 'COMMAND']);
      expect(t.rows.map((r) => [r[1], r[3]])).toEqual([['pts/0', 'sleep 1004']]);
      // R or D (its loader reading libraries from the share) while it still starts.
      expect(t.rows[0][2]).toMatch(/^[RSD]s\+$/);
    } finally {
      await dockerCli(d, ['rm', '-f', 'withtty']);
    }
  });

  test('docker stats needs no ps either', async () => {
    const r = await dockerCli(d, ['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}} {{.MemUsage}}', 'noproc']);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/^noproc \d+ [\d.]+[KMG]i?B \/ [\d.]+[KMG]i?B$/);
  });
});
