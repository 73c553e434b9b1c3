/**
 * `docker cp` of many small files into a container: podvisor beside dockerd 20.10 (runc) in
 * the same run.
 *
 * The host holds one directory of BENCH_FILES empty files (default 100,000). For each daemon,
 * ROUNDS times, alternating between the daemons: a fresh container is created from busybox (not
 * started: both daemons mount its root filesystem for the request), the stock CLI's
 * `docker cp <dir> <container>:/tmp/` is timed (wall time: the CLI's tar, the upload and the
 * daemon's extraction), the file count inside is checked, and the container is removed. The
 * figures are the median time per daemon, the files per second it makes, and the median CPU
 * time the daemon itself used for the copy (user + system, its waited-for children included:
 * dockerd unpacks in a re-executed child): on a loaded host the wall time mostly measures the
 * disk and the scheduler, the CPU time what the daemon does per file.
 *
 * dockerd runs in a network namespace of its own (./netns-dockerd.ts), so that it never
 * touches the host's bridges or firewall. BENCH_MAIN names another build of podvisord
 * (`dist/src/daemon/main.js` of an older checkout) to measure beside this one: a before and
 * after in the same run. The podvisord measured runs in its default block mode, where a
 * created container's layer is still on the host (its disk is made at its first start), so
 * the copy is done on the host as without block mode; BENCH_9P=1 adds a podvisord with
 * `--rootfs-disk=false` (the layer on the host for good) to compare.
 *
 *   npm run bench:cp        (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_ROUNDS=3 BENCH_FILES=100000 BENCH_MAIN=/path/to/old/dist/src/daemon/main.js BENCH_9P=1
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { median, stopBench, runMain, timeIt } from './common';
import { startNetnsDockerd, type NetnsDockerd } from './netns-dockerd';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FILES = Number(process.env.BENCH_FILES ?? 100_000);
const IMAGE = (): string => `${fixtureRegistry()}/busybox`;

/** CPU seconds process `pid` and its waited-for children have used (/proc/<pid>/stat). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14-17 of stat(5) (utime, stime, cutime, cstime), counted from field 3 here.
  return f.slice(11, 15).reduce((a, b) => a + Number(b), 0) / 100;
}

/** The pid of the process whose command line names `needle` (the daemon serving a socket). */
function pidOf(needle: string): number {
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    if (cmd.some((a) => a.includes(needle)) && cmd.some((a) => /podvisord|main\.js$|^dockerd$/.test(path.basename(a))))
      return Number(p);
  }
  throw new Error(`no daemon process names ${needle}`);
}

const docker = (env: NodeJS.ProcessEnv, args: string[]) =>
  execFileSync('docker', args, { env, encoding: 'utf8', timeout: 900_000, maxBuffer: 64 << 20 }).trim();

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-cp-'));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 0 });
  let before: TestDaemon | undefined;
  let hostLayer: TestDaemon | undefined;
  let dockerd: NetnsDockerd | undefined;
  try {
    if (process.env.BENCH_MAIN) before = await startDaemon({ vmPoolSize: 0, main: process.env.BENCH_MAIN });
    if (process.env.BENCH_9P === '1') hostLayer = await startDaemon({ vmPoolSize: 0, args: ['--rootfs-disk=false'] });
    dockerd = await startNetnsDockerd(path.join(base, 'dockerd'), {
      networkArgs: ['--bridge=none', '--iptables=false'],
    });
    const clients: Record<string, NodeJS.ProcessEnv> = {
      podvisor: podvisor.env,
      ...(before ? { 'podvisor (BENCH_MAIN)': before.env } : {}),
      ...(hostLayer ? { 'podvisor --rootfs-disk=false': hostLayer.env } : {}),
      'dockerd+runc': dockerd.env,
    };
    const pids: Record<string, number> = {
      podvisor: pidOf(podvisor.socketPath),
      ...(before ? { 'podvisor (BENCH_MAIN)': pidOf(before.socketPath) } : {}),
      ...(hostLayer ? { 'podvisor --rootfs-disk=false': pidOf(hostLayer.socketPath) } : {}),
      'dockerd+runc': pidOf(String(dockerd.env.DOCKER_HOST).replace(/^unix:\/\//, '')),
    };
    const src = path.join(base, 'many');
    fs.mkdirSync(src);
    for (let i = 0; i < FILES; i++) fs.closeSync(fs.openSync(path.join(src, `f${i}`), 'w'));
    for (const env of Object.values(clients)) docker(env, ['pull', '-q', IMAGE()]);

    const rows: Record<string, number[]> = {};
    const cpu: Record<string, number[]> = {};
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, env] of Object.entries(clients)) {
        const c = docker(env, ['create', IMAGE(), 'true']);
        const cpu0 = cpuSeconds(pids[name]);
        const t = timeIt(() => docker(env, ['cp', src, `${c}:/tmp/`]));
        (cpu[name] ??= []).push(cpuSeconds(pids[name]) - cpu0);
        // What arrived, counted from the container's own export (the same way for both daemons).
        const listed = execFileSync('sh', ['-c', `docker export ${c} | tar -t | grep -c '^tmp/many/f'`], {
          env,
          encoding: 'utf8',
        }).trim();
        docker(env, ['rm', c]);
        if (Number(listed) !== FILES) throw new Error(`${name}: ${listed} files arrived of ${FILES}`);
        (rows[name] ??= []).push(t);
        process.stdout.write(
          `round ${r + 1}/${ROUNDS} ${name}: ${t.toFixed(2)} s, daemon CPU ${cpu[name].at(-1)?.toFixed(2)} s\n`,
        );
      }
    }
    process.stdout.write(
      `\ndocker cp of ${FILES} empty files into a created container, medians of ${ROUNDS} rounds (CLI wall time), load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n`,
    );
    for (const [k, v] of Object.entries(rows)) {
      process.stdout.write(
        `  ${k.padEnd(24)} ${median(v).toFixed(2).padStart(7)} s  ${(FILES / median(v)).toFixed(0).padStart(7)} files/s  daemon CPU ${median(cpu[k]).toFixed(2).padStart(6)} s  (${v.map((x) => x.toFixed(1)).join(', ')})\n`,
      );
    }
  } finally {
    await before?.stop().catch(() => undefined);
    await hostLayer?.stop().catch(() => undefined);
    await stopBench({ dockerd, podvisor, registries, base });
  }
}

runMain(main);
