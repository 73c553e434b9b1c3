/**
 * A busybox container's start from a checkpoint, again and again (issue 56: the restore path's
 * own cost, without the PostgreSQL and dockerd rounds of ./checkpoint.ts). A busybox counter
 * (`--storage-opt image=disk`, the default) is checkpointed once (its run ends) and its fork
 * template made; then BENCH_RUNS times: `docker start --checkpoint` timed, then the first
 * `docker exec NAME true` timed, then `docker kill` (the next round restores the same
 * checkpoint). Prints the medians (and the CPU its QEMU had used by the first exec), the load
 * average before and after, and the daemon's own account of each VM start (its debug log).
 *
 * BENCH_OTHER_MAIN=<another build's dist/src/daemon/main.js>[,<another>...] runs those builds'
 * daemons beside this tree's, each with its own container and checkpoint, and alternates their
 * rounds (one restore at a time): builds compared under the same load, round by round.
 * BENCH_LOG_DIR=<dir> keeps each daemon's log there (daemon-0.log: this tree's).
 *
 *   npm run bench:restore   (BENCH_RUNS=10, BENCH_CMD: the container's command instead of the counter)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { DAEMON_MAIN, startDaemon, type TestDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { dockerOut, loadAverage, median, runMain, sleep, stopBench } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const COUNTER = process.env.BENCH_CMD ?? 'i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done';

const docker = dockerOut;

const load = loadAverage;

/** One daemon under test: its build, and its rounds' times. */
interface Side {
  main: string;
  pv: TestDaemon;
  start: number[];
  exec: number[];
  /** CPU time its QEMU had used once the first exec answered: the guest's own work, whatever the load. */
  cpu: number[];
  /** Its container's id. */
  id: string;
}

/** Run the counter on `pv`, checkpoint it and wait for its fork template; the container's id. */
async function prepare(pv: TestDaemon): Promise<string> {
  const env = pv.env;
  const image = `${fixtureRegistry()}/busybox`;
  docker(env, ['pull', '-q', image]);
  docker(env, ['run', '-d', '--name', 'bb', image, 'sh', '-c', COUNTER]);
  docker(env, ['exec', 'bb', 'true']);
  docker(env, ['checkpoint', 'create', 'bb', 'cp']);
  const id = docker(env, ['inspect', '-f', '{{.Id}}', 'bb']);
  const dir = path.join(pv.dataRoot, 'containers', id, 'checkpoints', 'cp');
  for (let i = 0; i < 1200 && !fs.existsSync(path.join(dir, 'fork.state')); i++) await sleep(100);
  if (!fs.existsSync(path.join(dir, 'fork.state'))) throw new Error(`no fork template in ${dir}`);
  return id;
}

/** CPU time (user and system, ms) the QEMU of container `id`'s VM has used so far. */
function qemuCpuMs(pv: TestDaemon, id: string): number {
  const record = JSON.parse(fs.readFileSync(path.join(pv.dataRoot, 'containers', id, 'config.v2.json'), 'utf8')) as {
    sandbox: { vmId: string };
  };
  const vm = JSON.parse(fs.readFileSync(path.join(pv.execRoot, 'vms', record.sandbox.vmId, 'vm.json'), 'utf8')) as {
    qemuPid: number;
  };
  const stat = fs.readFileSync(`/proc/${vm.qemuPid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** One round on `s`: the start from the checkpoint, the first exec, the kill. */
async function round(s: Side): Promise<void> {
  const env = s.pv.env;
  const t0 = Date.now();
  docker(env, ['start', '--checkpoint', 'cp', 'bb']);
  const t1 = Date.now();
  docker(env, ['exec', 'bb', 'true']);
  const t2 = Date.now();
  s.start.push(t1 - t0);
  s.exec.push(t2 - t1);
  s.cpu.push(qemuCpuMs(s.pv, s.id));
  docker(env, ['kill', 'bb']);
  await sleep(500);
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-restore-'));
  const registries = await ensureFixtureRegistries();
  const others = (process.env.BENCH_OTHER_MAIN ?? '').split(',').filter(Boolean);
  const mains = [DAEMON_MAIN, ...others.map((m) => path.resolve(m))];
  const sides: Side[] = [];
  try {
    for (const main of mains) {
      const pv = await startDaemon({ main, args: ['--experimental', '--log-level', 'debug'] });
      const side: Side = { main, pv, start: [], exec: [], cpu: [], id: '' };
      sides.push(side);
      side.id = await prepare(pv);
    }
    await sleep(1000);
    process.stdout.write(`load average before: ${load()}\n`);
    for (let r = 0; r < RUNS; r++) {
      // Each round in another order, so that no build always follows the same one.
      for (let k = 0; k < sides.length; k++) await round(sides[(r + k) % sides.length]);
      process.stdout.write(
        `round ${r + 1}: ${sides.map((s) => `start ${s.start[r]} ms, exec ${s.exec[r]} ms, QEMU CPU ${s.cpu[r]} ms`).join(' | ')}\n`,
      );
    }
    process.stdout.write(`load average after: ${load()}\n`);
    for (const s of sides) {
      const both = s.start.map((x, i) => x + s.exec[i]);
      process.stdout.write(
        `${s.main}: medians of ${RUNS}: start --checkpoint ${median(s.start)} ms, first exec ${median(s.exec)} ms, both ${median(both)} ms; its QEMU's CPU by then ${median(s.cpu)} ms\n`,
      );
      for (const l of s.pv.logs().match(/VM \w+ restored from a checkpoint in .*?\)/g) ?? [])
        process.stdout.write(`  ${l}\n`);
      for (const l of s.pv.logs().match(/pod \w+: (got VM|rootfs and|on its|its restored).*/g) ?? [])
        process.stdout.write(`  ${l}\n`);
    }
  } finally {
    for (const [i, s] of sides.entries()) {
      if (process.env.BENCH_LOG_DIR)
        fs.writeFileSync(path.join(process.env.BENCH_LOG_DIR, `daemon-${i}.log`), s.pv.logs());
      execFileSync('docker', ['rm', '-fv', 'bb'], { env: s.pv.env, stdio: 'ignore' });
      if (s !== sides[sides.length - 1]) await s.pv.stop();
    }
    const last = sides[sides.length - 1];
    if (last) await stopBench({ podvisor: last.pv, registries, base });
    else fs.rmSync(base, { recursive: true, force: true });
  }
}

runMain(main);
