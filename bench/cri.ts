/**
 * A Kubernetes pod start through the CRI, as the kubelet makes it: RunPodSandbox +
 * CreateContainer + StartContainer of one busybox `sleep 3600` container, and its teardown
 * (StopContainer with timeout 0 + StopPodSandbox + RemovePodSandbox), on podvisord and on
 * containerd 1.6 + runc (Debian's, with its CRI plugin) started privately in the same run.
 *
 * Every figure is the wall time of the gRPC calls, measured by this process over our own
 * client and .proto (test/helpers/cri.ts) on each runtime's unix socket:
 *  - back to back: BENCH_RUNS pods one after the other (each call timed, and their sum);
 *  - 10 at once: BENCH_PARALLEL pods started together, the median pod's start and the time
 *    until the last one runs;
 *  - the host's CPU per pod back to back (/proc/stat), and podvisord's phases of each
 *    RunPodSandbox and StartContainer from its debug log (bench/start-phases.ts).
 *
 * Set-up, all private to the bench and removed at its end:
 *  - a Debian docker-registry on a free port holding the fixture busybox as
 *    `e2e-test-images/busybox:1.29-2` and a pause stand-in (busybox sleeping) as `pause:3.9`;
 *    both runtimes reach `registry.k8s.io/...` through a mirror onto it (podvisord through a
 *    containers-registries.conf(5) file, containerd through its CRI plugin's mirrors). The
 *    images are pulled before timing, untimed;
 *  - one CNI bridge network per runtime (bridge + host-local, no masquerade), bridges pvbcri1
 *    and pvbcri2 on 10.98.1.0/24 and 10.98.2.0/24, IPAM state in the bench's directory; the
 *    bridges and any iptables rule naming those subnets are removed at the end;
 *  - podvisord from this tree's dist/ (test/helpers/daemon.ts: removes its VMs, taps and
 *    sandbox networks when stopped), its CRI on a socket of its own.
 *
 * While podvisord does not serve the runtime service (RunPodSandbox answers UNIMPLEMENTED),
 * its part says so and containerd's figures are still printed.
 *
 *   npm run bench:cri        (needs bootstrap --bench, containerd, runc, containernetworking-plugins)
 *   BENCH_RUNS=5 BENCH_PARALLEL=10 BENCH_ONLY=containerd|podvisor BENCH_POOL=2 (podvisord's idle VMs)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon';
import { criClient, type CriClient } from '../test/helpers/cri';
import { startRegistry, type RunningRegistry } from '../test/fixtures/registry';
import { assembleImage, buildLayer, pushImage } from '../test/fixtures/image-builder';
import { busyboxEntries } from '../test/fixtures/images';
import { startContainerd, type PrivateContainerd } from './cri-containerd';
import { hostBusyMs, median, runMain } from './common';
import { cniStepTable, logSince, phaseTable } from './start-phases';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 10);
const POOL = Number(process.env.BENCH_POOL ?? 2);
const ONLY = process.env.BENCH_ONLY;
const IMAGE = 'registry.k8s.io/e2e-test-images/busybox:1.29-2';
const PAUSE = 'registry.k8s.io/pause:3.9';
const MIRRORED = ['registry.k8s.io'];

/** The CNI network of one runtime. */
interface BenchNetwork {
  confDir: string;
  bridge: string;
  subnet: string;
}

/** Timings of one pod, in seconds. */
interface PodTimes {
  run: number;
  create: number;
  start: number;
  total: number;
  teardown: number;
}

/** The bench's registry with the workload image and the pause stand-in. */
async function startBenchRegistry(dir: string): Promise<RunningRegistry> {
  const reg = await startRegistry(dir);
  const base = await buildLayer(busyboxEntries());
  await pushImage({ registry: reg.addr, repository: 'e2e-test-images/busybox' }, assembleImage([base]), ['1.29-2']);
  // A pause stand-in: PID 1 sleeps until it is told to stop.
  const pause = assembleImage([base], {
    config: { Entrypoint: ['/bin/sh', '-c', "trap 'exit 0' TERM INT; sleep 2147483647 & wait"], Cmd: null },
  });
  await pushImage({ registry: reg.addr, repository: 'pause' }, pause, ['3.9']);
  return reg;
}

/** Write a bridge conflist for `n` into its conf dir (IPAM state under `stateDir`). */
function writeNetwork(n: BenchNetwork, stateDir: string): void {
  fs.mkdirSync(n.confDir, { recursive: true });
  const conf = {
    cniVersion: '1.0.0',
    name: n.bridge,
    plugins: [
      {
        type: 'bridge',
        bridge: n.bridge,
        isGateway: true,
        ipMasq: false,
        ipam: { type: 'host-local', ranges: [[{ subnet: n.subnet }]], dataDir: stateDir },
      },
    ],
  };
  fs.writeFileSync(path.join(n.confDir, '10-bench.conflist'), JSON.stringify(conf, null, 2));
}

/** Remove the bridge of `n` and iptables rules that name its subnet (what CNI DEL leaves). */
function removeNetwork(n: BenchNetwork): void {
  try {
    execFileSync('ip', ['link', 'del', n.bridge], { stdio: 'ignore' });
  } catch {
    // never made
  }
  const prefix = n.subnet.split('/')[0];
  for (const table of ['filter', 'nat']) {
    const rules = execFileSync('iptables-save', ['-t', table], { encoding: 'utf8' }).split('\n');
    for (const r of rules.filter((l) => l.startsWith('-A ') && l.includes(prefix))) {
      try {
        execFileSync('iptables', [
          '-t',
          table,
          '-D',
          ...r
            .slice(3)
            .match(/"[^"]*"|\S+/g)!
            .map(unquote),
        ]);
      } catch {
        // gone meanwhile
      }
    }
  }
}

function unquote(s: string): string {
  return s.startsWith('"') ? s.slice(1, -1) : s;
}

let podSeq = 0;

/** One pod's sandbox config (its own name, uid and log directory). */
function sandboxConfig(logRoot: string): Record<string, unknown> {
  const n = podSeq++;
  const uid = `bench-uid-${process.pid}-${n}`;
  const logDir = path.join(logRoot, uid);
  fs.mkdirSync(logDir, { recursive: true });
  return {
    metadata: { name: `bench-${n}`, uid, namespace: 'bench', attempt: 0 },
    hostname: `bench-${n}`,
    log_directory: logDir,
    labels: { app: 'bench' },
    linux: {},
  };
}

/** Seconds `fn` takes, and its result. */
async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t) / 1e9, r];
}

/** Start one pod and tear it down, timing each call. */
async function onePod(
  cri: CriClient,
  logRoot: string,
  teardown = true,
): Promise<PodTimes & { id: string; container: string }> {
  const config = sandboxConfig(logRoot);
  const [run, sb] = await timed(() => cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config }, 600_000));
  const id = sb.pod_sandbox_id;
  const container = {
    metadata: { name: 'sleeper', attempt: 0 },
    image: { image: IMAGE },
    command: ['sleep', '3600'],
    log_path: 'sleeper/0.log',
    linux: {},
  };
  const [create, c] = await timed(() =>
    cri.runtime<{ container_id: string }>(
      'CreateContainer',
      { pod_sandbox_id: id, config: container, sandbox_config: config },
      600_000,
    ),
  );
  const [start] = await timed(() => cri.runtime('StartContainer', { container_id: c.container_id }, 600_000));
  let down = 0;
  if (teardown) [down] = await timed(() => tearDown(cri, id, c.container_id));
  return { id, container: c.container_id, run, create, start, total: run + create + start, teardown: down };
}

/** StopContainer (timeout 0) + StopPodSandbox + RemovePodSandbox. */
async function tearDown(cri: CriClient, sandbox: string, container: string): Promise<void> {
  await cri.runtime('StopContainer', { container_id: container, timeout: 0 }, 600_000);
  await cri.runtime('StopPodSandbox', { pod_sandbox_id: sandbox }, 600_000);
  await cri.runtime('RemovePodSandbox', { pod_sandbox_id: sandbox }, 600_000);
}

function ms(s: number): string {
  return `${Math.round(s * 1000)} ms`;
}

/** Only the lines of `log` about pods `ids` (the debug log names a pod by its id's first 12). */
function linesOf(log: string, ids: string[]): string {
  const short = new Set(ids.map((id) => id.slice(0, 12)));
  return log
    .split('\n')
    .filter((l) => short.has(/ pod ([0-9a-f]{12}):/.exec(l)?.[1] ?? ''))
    .join('\n');
}

/**
 * Measure one runtime; the lines to print. `daemonLog` (podvisord's, at debug level) gives
 * the phases of its sandbox and container starts.
 */
async function measure(name: string, cri: CriClient, logRoot: string, daemonLog?: () => string): Promise<string[]> {
  await cri.image('PullImage', { image: { image: IMAGE } }, 600_000);
  // One untimed pod first: caches, the pool, the CNI bridge made.
  await onePod(cri, logRoot);
  const serial: Array<PodTimes & { id: string; container: string }> = [];
  const since = new Date().toISOString();
  const cpu0 = hostBusyMs();
  for (let i = 0; i < RUNS; i++) serial.push(await onePod(cri, logRoot));
  const cpuPerPod = (hostBusyMs() - cpu0) / RUNS;
  const col = (k: keyof PodTimes) => ms(median(serial.map((t) => t[k])));
  const lines = [
    `${name}, back to back (${RUNS}, medians): RunPodSandbox ${col('run')}, CreateContainer ${col('create')}, ` +
      `StartContainer ${col('start')}; together ${col('total')}; teardown ${col('teardown')}; ` +
      `host CPU ${cpuPerPod.toFixed(0)} ms per pod (start and teardown, the whole host)`,
  ];
  if (daemonLog) {
    const log = logSince(daemonLog(), since);
    const wall = (k: 'run' | 'start') => median(serial.map((t) => t[k])) * 1000;
    lines.push(
      `${name}: phases of RunPodSandbox (median ${wall('run').toFixed(0)} ms):`,
      ...phaseTable(
        linesOf(
          log,
          serial.map((t) => t.id),
        ),
        wall('run'),
      ),
      `${name}: the network phase of RunPodSandbox, step by step:`,
      ...cniStepTable(
        log,
        serial.map((t) => t.id),
      ),
      `${name}: phases of StartContainer (median ${wall('start').toFixed(0)} ms; the container joins the sandbox's VM):`,
      ...phaseTable(
        linesOf(
          log,
          serial.map((t) => t.container),
        ),
        wall('start'),
      ),
    );
  }
  const t0 = process.hrtime.bigint();
  const pods = await Promise.all(
    Array.from({ length: PARALLEL }, () =>
      onePod(cri, logRoot, false).then((p) => ({ ...p, at: Number(process.hrtime.bigint() - t0) / 1e9 })),
    ),
  );
  const allUp = Math.max(...pods.map((p) => p.at));
  const [down] = await timed(() => Promise.all(pods.map((p) => tearDown(cri, p.id, p.container))));
  lines.push(
    `${name}, ${PARALLEL} at once: median pod ${ms(median(pods.map((p) => p.total)))} ` +
      `(RunPodSandbox ${ms(median(pods.map((p) => p.run)))}), all running after ${ms(allUp)}; ` +
      `teardown of all ${ms(down)}`,
  );
  return lines;
}

/** Whether `cri` serves RunPodSandbox (false: UNIMPLEMENTED). */
async function servesRuntime(cri: CriClient): Promise<boolean> {
  try {
    await cri.runtime('PodSandboxStatus', { pod_sandbox_id: 'bench-probe-none' });
    return true;
  } catch (e) {
    return (e as grpc.ServiceError).code !== grpc.status.UNIMPLEMENTED;
  }
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-cri-'));
  const logRoot = path.join(base, 'pod-logs');
  const pvNet: BenchNetwork = { confDir: path.join(base, 'cni-pv'), bridge: 'pvbcri1', subnet: '10.98.1.0/24' };
  const ctrNet: BenchNetwork = { confDir: path.join(base, 'cni-ctr'), bridge: 'pvbcri2', subnet: '10.98.2.0/24' };
  let registry: RunningRegistry | undefined;
  let podvisor: TestDaemon | undefined;
  let containerd: PrivateContainerd | undefined;
  const out: string[] = [];
  try {
    registry = await startBenchRegistry(path.join(base, 'registry'));
    writeNetwork(pvNet, path.join(base, 'ipam-pv'));
    writeNetwork(ctrNet, path.join(base, 'ipam-ctr'));
    if (ONLY !== 'containerd') {
      const conf = path.join(base, 'registries.conf');
      fs.writeFileSync(
        conf,
        MIRRORED.map((r) =>
          [
            '[[registry]]',
            `location = "${r}"`,
            '[[registry.mirror]]',
            `location = "${registry!.addr}"`,
            'insecure = true',
          ].join('\n'),
        ).join('\n') + '\n',
      );
      const criSock = path.join(base, 'podvisor-cri.sock');
      podvisor = await startDaemon({
        // The daemon's own default pool (as `npm start` runs it), as bench:run measures Docker starts.
        vmPoolSize: POOL,
        args: [
          '--cri-host',
          `unix://${criSock}`,
          '--registries-conf',
          conf,
          '--cni-conf-dir',
          pvNet.confDir,
          // Each phase of a start is logged at debug level (bench/start-phases.ts).
          '--log-level',
          'debug',
        ],
      });
      const cri = criClient(criSock);
      try {
        if (await servesRuntime(cri)) out.push(...(await measure('podvisor', cri, logRoot, () => podvisor!.logs())));
        else out.push('podvisor: not measured: this build does not serve the CRI runtime service (UNIMPLEMENTED)');
      } finally {
        cri.close();
      }
      await podvisor.stop();
      podvisor = undefined;
    }
    if (ONLY !== 'podvisor') {
      containerd = await startContainerd({
        base: path.join(base, 'containerd'),
        cniConfDir: ctrNet.confDir,
        mirrored: MIRRORED,
        mirror: registry.addr,
        sandboxImage: PAUSE,
      });
      const cri = criClient(containerd.socket);
      try {
        out.push(...(await measure('containerd + runc', cri, logRoot)));
      } finally {
        cri.close();
      }
    }
  } finally {
    await containerd?.stop().catch(() => undefined);
    await podvisor?.stop().catch(() => undefined);
    removeNetwork(pvNet);
    removeNetwork(ctrNet);
    await registry?.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  }
  for (const l of out) console.log(l);
}

runMain(main);
