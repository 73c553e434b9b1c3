/**
 * The SIGKILL soak (no container, log line or record lost to a daemon killed at any moment):
 * the real daemon is killed with SIGKILL again and again while it has work in every state, and
 * restarted on the same roots each time:
 *  - "counter" runs and prints 0, 1, 2, ... every 0.2 s;
 *  - "idle" runs `sleep`;
 *  - "created" was created and never started;
 *  - a `docker logs -f counter` (the stock CLI) is following;
 *  - a fresh container is being started (`POST /containers/{id}/start` in flight), and the
 *    kill lands at a seeded random moment of its start.
 * After each restart: every container is still listed in the same state, the running ones
 * keep their Pid and StartedAt, exec works in both running ones, and the counter's log (from
 * `docker logs`) has every value exactly once. The one that was starting must still be listed
 * (running, created, or exited with an error), and can be removed.
 *
 * Length: PODVISOR_SOAK_KILLS (default 3 in `npm test`; `npm run soak` runs 20).
 * Prints restarts, containers lost and log lines lost (missing + duplicated values).
 */
import { spawn } from 'node:child_process';
import Dockerode from 'dockerode';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { fixtureRegistry } from '../fixtures/registry';
import { Rng } from '../helpers/rng';

const KILLS = Number(process.env.PODVISOR_SOAK_KILLS ?? 3);
const SEED = Number(process.env.PODVISOR_SOAK_SEED ?? 10);
const IMAGE = `${fixtureRegistry()}/busybox`;
const COUNTER = ['sh', '-c', 'i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done'];

jest.setTimeout(120_000 + KILLS * 60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Snapshot {
  status: string;
  pid: number;
  startedAt: string;
}

/** The counter values in a log text, in order. */
function counterValues(text: string): number[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map(Number);
}

/** Missing and duplicated values of a counter sequence that should be 0, 1, 2, ... */
function gaps(values: number[]): { missing: number; duplicated: number; bad: number } {
  const seen = new Set<number>();
  let duplicated = 0;
  let bad = 0;
  for (const v of values) {
    if (!Number.isInteger(v) || v < 0) bad++;
    else if (seen.has(v)) duplicated++;
    else seen.add(v);
  }
  const max = values.length ? Math.max(...values.filter((v) => Number.isInteger(v))) : -1;
  let missing = 0;
  for (let i = 0; i <= max; i++) if (!seen.has(i)) missing++;
  return { missing, duplicated, bad };
}

/** docker logs of a container, as text (the fixture image writes only stdout). */
async function logsText(docker: Dockerode, name: string): Promise<string> {
  const buf = (await docker
    .getContainer(name)
    .logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
  // Without a TTY the body is stdcopy-framed: 8-byte headers, then the payload.
  const out: Buffer[] = [];
  for (let o = 0; o + 8 <= buf.length; ) {
    const n = buf.readUInt32BE(o + 4);
    out.push(buf.subarray(o + 8, o + 8 + n));
    o += 8 + n;
  }
  return Buffer.concat(out).toString();
}

async function snapshot(docker: Dockerode, name: string): Promise<Snapshot> {
  const s = (await docker.getContainer(name).inspect()).State;
  return { status: s.Status, pid: s.Pid, startedAt: s.StartedAt };
}

async function execOut(docker: Dockerode, name: string, cmd: string[]): Promise<string> {
  const ex = await docker.getContainer(name).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await ex.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (b: Buffer) => chunks.push(b));
  await new Promise((r) => stream.on('end', r));
  const raw = Buffer.concat(chunks);
  let text = '';
  for (let o = 0; o + 8 <= raw.length; ) {
    const n = raw.readUInt32BE(o + 4);
    text += raw.subarray(o + 8, o + 8 + n).toString();
    o += 8 + n;
  }
  return text;
}

/** `docker logs -f counter` with the stock CLI; resolves when it exits (the daemon died). */
function followLogs(d: TestDaemon): { exited: Promise<number | null>; lines: () => number } {
  const p = spawn('docker', ['logs', '-f', '--tail', '1', 'counter'], {
    env: d.env,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let n = 0;
  p.stdout.on('data', (b: Buffer) => {
    n += b.toString().split('\n').length - 1;
  });
  return { exited: new Promise((r) => p.once('exit', (code) => r(code))), lines: () => n };
}

test(`SIGKILL soak: ${KILLS} kills with running, idle, created, starting containers and a logs -f`, async () => {
  const d = await startDaemon({ vmPoolSize: 1 });
  // What the agents re-sent after restarts (the daemon's log keeps only its tail: collected as it goes).
  const resentLines = new Set<string>();
  const noteResent = () => {
    for (const m of d.logs().matchAll(/^.*re-sending \d+ bytes of (stdout|stderr) the host had not stored.*$/gm))
      resentLines.add(m[0]);
  };
  const docker = new Dockerode({ socketPath: d.socketPath });
  const rand = new Rng(SEED);
  const leftVms: number[] = [];
  const report = {
    restarts: 0,
    containersLost: 0,
    logLinesLost: 0,
    duplicatedLines: 0,
    startingOutcomes: [] as string[],
  };
  try {
    await new Promise<void>((resolve, reject) => {
      docker.pull(IMAGE, (err: Error | null, s: NodeJS.ReadableStream) => {
        if (err) return reject(err);
        docker.modem.followProgress(s, (e: Error | null) => (e ? reject(e) : resolve()));
      });
    });
    await (await docker.createContainer({ name: 'counter', Image: IMAGE, Cmd: COUNTER })).start();
    await (await docker.createContainer({ name: 'idle', Image: IMAGE, Cmd: ['sleep', '1000000'] })).start();
    await docker.createContainer({ name: 'created', Image: IMAGE, Cmd: ['true'] });
    const names = ['counter', 'idle', 'created'];

    for (let k = 1; k <= KILLS; k++) {
      const before: Record<string, Snapshot> = {};
      for (const n of names) before[n] = await snapshot(docker, n);
      const follower = followLogs(d);
      const starting = `starting-${k}`;
      await docker.createContainer({ name: starting, Image: IMAGE, Cmd: ['sleep', '1000000'] });
      const started = docker
        .getContainer(starting)
        .start()
        .then(
          () => 'answered',
          (e: Error) => `failed: ${e.message}`,
        );
      await sleep(rand.int(2500));

      await d.kill9();
      report.restarts++;
      // The follower's connection went with the daemon: the CLI exits.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        follower.exited,
        new Promise(
          (_r, reject) =>
            (timer = setTimeout(() => reject(new Error('docker logs -f did not end when the daemon died')), 10_000)),
        ),
      ]);
      clearTimeout(timer);
      await started;
      await d.restart();

      const listed = new Map((await docker.listContainers({ all: true })).map((c) => [c.Names[0].slice(1), c.State]));
      for (const n of names) {
        if (!listed.has(n)) {
          report.containersLost++;
          continue;
        }
        expect({ name: n, ...(await snapshot(docker, n)) }).toEqual({ name: n, ...before[n] });
      }
      if (!listed.has(starting)) report.containersLost++;
      report.startingOutcomes.push(`${starting}: ${listed.get(starting) ?? 'LOST'}`);
      expect(['running', 'created', 'exited']).toContain(listed.get(starting));
      expect(await execOut(docker, 'counter', ['echo', `alive ${k}`])).toBe(`alive ${k}\n`);
      expect(await execOut(docker, 'idle', ['echo', 'idle ok'])).toBe('idle ok\n');
      await docker.getContainer(starting).remove({ force: true });

      // The counter goes on after the restart, and its log has every value once.
      const last = counterValues(await logsText(docker, 'counter')).pop() ?? -1;
      for (let t = 0; t < 100 && (counterValues(await logsText(docker, 'counter')).pop() ?? -1) <= last + 2; t++)
        await sleep(200);
      const g = gaps(counterValues(await logsText(docker, 'counter')));
      expect(g.bad).toBe(0);
      report.logLinesLost = g.missing;
      report.duplicatedLines = g.duplicated;
      noteResent();
      process.stdout.write(
        `soak: kill ${k}/${KILLS}: containers lost ${report.containersLost}, log lines missing ${g.missing}, duplicated ${g.duplicated}, ${report.startingOutcomes[k - 1]}\n`,
      );
    }
    const final = counterValues(await logsText(docker, 'counter'));
    process.stdout.write(
      `soak: ${report.restarts} restarts, ${report.containersLost} containers lost, ${report.logLinesLost} log lines lost, ${report.duplicatedLines} duplicated; counter reached ${final.pop()}\n`,
    );
    noteResent();
    const resent = [...resentLines].map((l) => Number(/re-sending (\d+) bytes/.exec(l)![1]));
    process.stdout.write(
      `soak: output re-sent by the agent after ${resent.length} restarts, ${resent.reduce((a, b) => a + b, 0)} bytes\n`,
    );
    // Nothing lost, nothing twice: output the daemon had not yet written to the log when it
    // died is re-sent by the agent from the offset the log durably holds (src/pod/io/log-position.ts).
    expect(report).toMatchObject({ restarts: KILLS, containersLost: 0, logLinesLost: 0, duplicatedLines: 0 });
    for (const n of ['counter', 'idle', 'created']) await docker.getContainer(n).remove({ force: true });
  } finally {
    // Best effort after a failure above, so that the leak check sees only real leaks.
    for (const c of await docker.listContainers({ all: true }).catch(() => []))
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
    await d.stop().finally(() => {
      for (const p of listVmProcesses({ jails: true }).filter((q) => q.cmdline.includes(d.execRoot)))
        leftVms.push(p.pid);
      for (const pid of leftVms) process.kill(pid, 'SIGKILL');
    });
    // VM processes of a boot the kill interrupted can outlive every daemon (the next daemon's
    // orphan sweep reaps them; test/integration/vm-crash.test.ts asserts it): counted and
    // printed here, then killed.
    process.stdout.write(`soak: VM processes left after the last daemon stopped: ${leftVms.length}\n`);
    expect(mountsUnder(d.dataRoot)).toEqual([]);
    expect(mountsUnder(d.execRoot)).toEqual([]);
  }
});
