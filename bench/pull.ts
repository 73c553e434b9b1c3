/**
 * Image pull benchmark: podvisor beside dockerd 20.10 in the same run.
 *
 * Builds a ~100 MB image of 4 layers of incompressible data with the fixture builder (no
 * container engine), pushes it to a private docker-registry on 127.0.0.1, then times
 * `docker pull` (the stock CLI) against podvisor and against dockerd (private socket and
 * data root), RUNS times each, alternating, removing the image between runs so every pull
 * downloads and unpacks all layers. Prints both medians.
 *
 *   npm run bench:pull            (needs bootstrap --bench: docker.io, docker-registry)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { startRegistry } from '../test/fixtures/registry';
import { assembleImage, layerFromTar, packTar, pushImage } from '../test/fixtures/image-builder';
import { median, startDockerd, timeIt } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const LAYER_MB = [40, 30, 20, 10];

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-pull-'));
  // A registry of its own, on a port picked free.
  const registry = await startRegistry(path.join(base, 'registry'));
  const IMAGE = `${registry.addr}/bench/big:latest`;
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  const podvisor = await startDaemon();
  try {
    process.stdout.write(`building a ${LAYER_MB.reduce((a, b) => a + b)} MB image of ${LAYER_MB.length} layers...\n`);
    const layers = [];
    for (const [i, mb] of LAYER_MB.entries()) {
      const tarBuf = await packTar([
        { name: `data${i}`, type: 'directory' },
        ...Array.from({ length: mb }, (_, j) => ({
          name: `data${i}/chunk${j}`,
          content: crypto.randomBytes(1024 * 1024),
        })),
      ]);
      layers.push(layerFromTar(tarBuf, 1));
    }
    await pushImage({ registry: registry.addr, repository: 'bench/big' }, assembleImage(layers), ['latest']);
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    const clients = { podvisor: podvisor.env, dockerd: dockerd.env };
    const times: Record<string, number[]> = { podvisor: [], dockerd: [] };
    for (let r = 0; r < RUNS; r++) {
      for (const [name, env] of Object.entries(clients)) {
        const t = timeIt(() => execFileSync('docker', ['pull', '-q', IMAGE], { env, stdio: 'ignore' }));
        times[name].push(t);
        execFileSync('docker', ['rmi', IMAGE], { env, stdio: 'ignore' });
        process.stdout.write(`run ${r + 1}/${RUNS} ${name}: ${t.toFixed(3)} s\n`);
      }
    }
    process.stdout.write(
      `\nmedian docker pull of ${IMAGE} (${LAYER_MB.reduce((a, b) => a + b)} MB, ${LAYER_MB.length} layers), ${RUNS} runs:\n`,
    );
    process.stdout.write(
      `  podvisor: ${median(times.podvisor).toFixed(3)} s\n  dockerd:  ${median(times.dockerd).toFixed(3)} s\n`,
    );
  } finally {
    await dockerd?.stop();
    await podvisor.stop();
    await registry.stop();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench/pull: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
