/**
 * Pod start against replace, on the native pod API, beside dockerd 20.10 (runc) in the same run
 * (hyperd published 376 ms for a pod start and 150 ms for a replace, with KVM + qboot).
 *
 * Every figure is the wall time of the HTTP request(s), measured by this process on the unix
 * socket (no CLI process start in it), each round:
 *  - podvisor run-pod: POST /v1/pods {spec, start: true} of a busybox `sleep 3600` pod, from
 *    a warm pool (the pool's refill after it is waited for, untimed: BENCH_SETTLE_MS);
 *  - the same on a second podvisord without a pool (the pod's VM boots on the request: the
 *    case hyperd's 376 ms is, with KVM + qboot);
 *  - podvisor replace: the running pod replaced by a created one of the same spec on its VM,
 *    POST /v1/pods/OLD/replace {with: NEW, timeout: 0} (busybox sleep as PID 1 ignores
 *    SIGTERM, so the old pod is SIGKILLed at once: a replace, not a grace period, is timed);
 *  - dockerd: POST /containers/create + POST /containers/{id}/start of the same container;
 *  - a 3-container pod (a Kubernetes Pod of three busybox `sleep 3600` containers) started by
 *    POST /v1/pods {spec, start: true} from a warm pool, against the same three containers
 *    as single ones, one after the other as a script's three `docker run -d` would (create +
 *    start each), on podvisor's Docker API (one VM each: the first from the pool, the next
 *    ones boot) and on dockerd + runc.
 * The pods and containers made are removed after each round, untimed.
 *
 *   npm run bench:pods       (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_RUNS=10 BENCH_SETTLE_MS=12000   (the settle must cover a pool refill: a TCG boot and
 *                                          its rehearsal, several seconds on a loaded machine)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { Client } from '../src/cli/client';
import { median, sleep, startDockerd, runMain } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 12000);
const IMAGE = (): string => `${fixtureRegistry()}/busybox`;
/** The pod each round starts (its image's address is known once the registries are up). */
const SPEC = (): { image: string; command: string[] } => ({ image: IMAGE(), command: ['sleep', '3600'] });
/** The 3-container pod: the same container three times, as a Kubernetes Pod (made once the registries are up). */
const TRIO = () => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'trio' },
  spec: { containers: ['a', 'b', 'c'].map((name) => ({ name, image: IMAGE(), command: ['sleep', '3600'] })) },
});

/** POST /containers/create + start of `sleep 3600`, three times in a row (`docker run -d` x3); the ids. */
async function threeContainers(c: Client): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const id = (
      await c.json<{ Id: string }>('POST', '/v1.41/containers/create', { Image: IMAGE(), Cmd: ['sleep', '3600'] })
    ).Id;
    await c.json('POST', `/v1.41/containers/${id}/start`);
    ids.push(id);
  }
  return ids;
}

/** Seconds an async call takes. */
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-pods-'));
  const registries = await ensureFixtureRegistries();
  // Debug logs: the VM cleaning's own time is read from them.
  const podvisor = await startDaemon({ vmPoolSize: 1, args: ['--log-level', 'debug'] });
  const cold = await startDaemon({ vmPoolSize: 0 });
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  try {
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    for (const env of [podvisor.env, cold.env, dockerd.env])
      execFileSync('docker', ['pull', '-q', IMAGE()], { env, stdio: 'ignore', timeout: 120000 });
    const pv = new Client({ socketPath: podvisor.socketPath }, podvisor.dockerHost);
    const pc = new Client({ socketPath: cold.socketPath }, cold.dockerHost);
    const dd = new Client(
      { socketPath: (dockerd.env.DOCKER_HOST as string).slice('unix://'.length) },
      dockerd.env.DOCKER_HOST as string,
    );
    await sleep(SETTLE_MS);

    const runPod: number[] = [];
    const runPodCold: number[] = [];
    const replace: number[] = [];
    const docker: number[] = [];
    const trioPod: number[] = [];
    const trioPv: number[] = [];
    const trioDocker: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      // run-pod from a warm pool.
      let oldId = '';
      runPod.push(
        await timed(
          async () => (oldId = (await pv.json<{ id: string }>('POST', '/v1/pods', { spec: SPEC(), start: true })).id),
        ),
      );
      // replace it by a created pod of the same spec, on its VM.
      const next = await pv.json<{ id: string }>('POST', '/v1/pods', { spec: SPEC() });
      replace.push(await timed(() => pv.json('POST', `/v1/pods/${oldId}/replace`, { with: next.id, timeout: 0 })));
      // run-pod without a pool: the VM boots on the request.
      let coldId = '';
      runPodCold.push(
        await timed(
          async () => (coldId = (await pc.json<{ id: string }>('POST', '/v1/pods', { spec: SPEC(), start: true })).id),
        ),
      );
      // dockerd: create + start of the same container.
      let cid = '';
      docker.push(
        await timed(async () => {
          cid = (
            await dd.json<{ Id: string }>('POST', '/v1.41/containers/create', {
              Image: IMAGE(),
              Cmd: ['sleep', '3600'],
            })
          ).Id;
          await dd.json('POST', `/v1.41/containers/${cid}/start`);
        }),
      );
      process.stdout.write(
        `round ${r + 1}/${RUNS}: run-pod ${runPod[r].toFixed(3)} s, run-pod no pool ${runPodCold[r].toFixed(3)} s, replace ${replace[r].toFixed(3)} s, dockerd create+start ${docker[r].toFixed(3)} s\n`,
      );
      await pv.json('DELETE', `/v1/pods/${oldId}?force=1`);
      await pv.json('DELETE', `/v1/pods/${next.id}?force=1`);
      await pc.json('DELETE', `/v1/pods/${coldId}?force=1`);
      await dd.json('DELETE', `/v1.41/containers/${cid}?force=1`);
      // The VM replace reused is destroyed with its pod; the pool refills meanwhile (untimed).
      await sleep(SETTLE_MS);

      // A 3-container pod from a warm pool, against three single containers.
      let trioId = '';
      trioPod.push(
        await timed(
          async () => (trioId = (await pv.json<{ id: string }>('POST', '/v1/pods', { spec: TRIO(), start: true })).id),
        ),
      );
      await pv.json('DELETE', `/v1/pods/${trioId}?force=1`);
      await sleep(SETTLE_MS);
      let pvIds: string[] = [];
      trioPv.push(await timed(async () => (pvIds = await threeContainers(pv))));
      let ddIds: string[] = [];
      trioDocker.push(await timed(async () => (ddIds = await threeContainers(dd))));
      process.stdout.write(
        `round ${r + 1}/${RUNS}: 3-container pod ${trioPod[r].toFixed(3)} s, podvisor docker run -d x3 ${trioPv[r].toFixed(3)} s, dockerd docker run -d x3 ${trioDocker[r].toFixed(3)} s\n`,
      );
      for (const id of pvIds) await pv.json('DELETE', `/v1.41/containers/${id}?force=1`);
      for (const id of ddIds) await dd.json('DELETE', `/v1.41/containers/${id}?force=1`);
      await sleep(SETTLE_MS);
    }
    const line = (what: string, xs: number[]) => `  ${what.padEnd(56)} ${(median(xs) * 1000).toFixed(0)} ms\n`;
    process.stdout.write(
      `\nmedians of ${RUNS} rounds (request wall time), accel ${process.env.PODVISOR_ACCEL ?? 'auto'}, load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n`,
    );
    process.stdout.write(line('podvisor run-pod (POST /v1/pods, start, warm pool)', runPod));
    process.stdout.write(line('podvisor run-pod, no pool (the VM boots)', runPodCold));
    process.stdout.write(line('podvisor replace (same VM, old pod SIGKILLed)', replace));
    process.stdout.write(line('dockerd + runc create + start', docker));
    process.stdout.write(line('podvisor 3-container pod (POST /v1/pods, warm pool)', trioPod));
    process.stdout.write(line('podvisor 3 containers, create + start x3 (docker API)', trioPv));
    process.stdout.write(line('dockerd + runc 3 containers, create + start x3', trioDocker));
    const cleans = [...podvisor.logs().matchAll(/cleaned for reuse in (\d+) ms/g)].map((m) => Number(m[1]) / 1000);
    if (cleans.length) process.stdout.write(line('  of which the cleaning of the VM (daemon log)', cleans));
  } finally {
    await dockerd?.stop().catch(() => undefined);
    await podvisor.stop();
    await cold.stop();
    for (const r of registries) await r.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

runMain(main);
