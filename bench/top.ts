/**
 * docker top beside dockerd 20.10 (Debian's docker.io, runc; in a network namespace of its
 * own, ./netns-dockerd.ts) on the same image without ps (the fixture debian:bookworm), the
 * same processes in each container: for each ps_args, the titles of both daemons (which must
 * be equal), one row of each, the error messages of both for what ps refuses, and the time a
 * `docker top` takes (median of RUNS), with podvisor's old way (`ps` run in the container by
 * exec, on busybox which has one) for scale.
 *
 *   npm run bench:top
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { median } from './common';
import { startNetnsDockerd, type NetnsDockerd } from './netns-dockerd';

const IMAGE = (): string => `${fixtureRegistry()}/debian:bookworm`;
const BUSYBOX = (): string => `${fixtureRegistry()}/busybox`;
const RUNS = Number(process.env.RUNS ?? 10);
const ARGS = [
  '',
  '-ef',
  '-f',
  'aux',
  '-e',
  'ax',
  '-o pid,comm',
  '-o pid,user,args',
  '-eo pid,ppid,user,stat,etime,time,comm',
  '-o pid,comm=NAME',
];
const REFUSED = ['-o comm', '-o pid,bogus', '-o pid,user=PID'];

function docker(env: NodeJS.ProcessEnv, args: string[]): { code: number; out: string; err: string; ms: number } {
  const t = process.hrtime.bigint();
  const r = spawnSync('docker', args, { env, encoding: 'utf8', timeout: 120000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr.trim(), ms: Number(process.hrtime.bigint() - t) / 1e6 };
}

function ok(env: NodeJS.ProcessEnv, args: string[]): string {
  const r = docker(env, args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.err}`);
  return r.out.trim();
}

/** The engine's JSON answer, through the CLI's own connection settings. */
function topJson(
  env: NodeJS.ProcessEnv,
  name: string,
  psArgs: string,
): { Titles: string[]; Processes: string[][] } | { message: string } {
  const sock = (env.DOCKER_HOST ?? '').replace(/^unix:\/\//, '');
  const r = spawnSync(
    'curl',
    ['-s', '--unix-socket', sock, `http://d/v1.41/containers/${name}/top?ps_args=${encodeURIComponent(psArgs)}`],
    { encoding: 'utf8' },
  );
  return JSON.parse(r.stdout) as { Titles: string[]; Processes: string[][] } | { message: string };
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-top-'));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 2 });
  let dockerd: NetnsDockerd | undefined;
  const times: Record<string, number[]> = {};
  const tables: Record<string, Record<string, ReturnType<typeof topJson>>> = {};
  try {
    dockerd = await startNetnsDockerd(path.join(base, 'dockerd'), {
      networkArgs: ['--bridge=none', '--iptables=false'],
    });
    for (const [name, env] of [
      ['podvisor', podvisor.env],
      ['dockerd', dockerd.env],
    ] as const) {
      ok(env, ['pull', '-q', IMAGE()]);
      ok(env, ['run', '-d', '--name', 'bt-noproc', IMAGE(), 'bash', '-c', 'sleep 1001 & exec sleep 1002']);
      ok(env, ['exec', '-d', '-u', 'www-data', 'bt-noproc', 'sleep', '1003']);
      await new Promise((r) => setTimeout(r, 2000)); // bash has exec'd, the exec has started
      try {
        tables[name] = {};
        for (const a of [...ARGS, ...REFUSED]) tables[name][a] = topJson(env, 'bt-noproc', a);
        times[`${name} docker top (-ef)`] = Array.from({ length: RUNS }, () => docker(env, ['top', 'bt-noproc']).ms);
        times[`${name} docker top aux`] = Array.from(
          { length: RUNS },
          () => docker(env, ['top', 'bt-noproc', 'aux']).ms,
        );
        if (name === 'podvisor') {
          ok(env, ['pull', '-q', BUSYBOX()]);
          ok(env, ['run', '-d', '--name', 'bt-busybox', BUSYBOX(), 'sleep', '1000']);
          times['podvisor docker exec ps -ef (the old top)'] = Array.from(
            { length: RUNS },
            () => docker(env, ['exec', 'bt-busybox', 'ps', '-ef']).ms,
          );
        }
      } finally {
        docker(env, ['rm', '-f', 'bt-noproc', 'bt-busybox']);
      }
    }
    let same = 0;
    for (const a of [...ARGS, ...REFUSED]) {
      const p = tables.podvisor[a];
      const d = tables.dockerd[a];
      const show = (t: ReturnType<typeof topJson>) =>
        'message' in t
          ? `error: ${t.message}`
          : [t.Titles.join(' '), ...t.Processes.map((r) => r.join(' | '))].join('\n      ');
      const agree =
        JSON.stringify('message' in p ? p.message : p.Titles) === JSON.stringify('message' in d ? d.message : d.Titles);
      if (agree) same++;
      process.stdout.write(
        `ps_args ${JSON.stringify(a)}: ${agree ? 'same titles' : 'DIFFERENT'}\n  podvisor ${show(p)}\n  dockerd  ${show(d)}\n`,
      );
    }
    process.stdout.write(
      `\n${same} of ${ARGS.length + REFUSED.length} ps_args: the same titles (or error message) as dockerd\n`,
    );
    process.stdout.write(
      `medians of ${RUNS} runs, accel TCG, load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n`,
    );
    for (const [k, v] of Object.entries(times)) process.stdout.write(`  ${k.padEnd(48)} ${median(v).toFixed(0)} ms\n`);
  } finally {
    await dockerd?.stop().catch(() => undefined);
    await podvisor.stop();
    for (const r of registries) await r.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
