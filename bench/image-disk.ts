/**
 * `--storage-opt image=disk`: first starts and host disk per container, for the PostgreSQL
 * fixture image (debian-postgres:15), of two daemons in one run: BENCH_BEFORE (another
 * checkout's built daemon, e.g. /work/main/dist/src/daemon/main.js: the image copied onto each
 * container's disk) and this checkout's (one read-only image disk shared by the image's
 * containers: src/storage/image-disks/image-disks.ts).
 *
 * Per daemon: the image pulled, then BENCH_RUNS containers run one after another, each
 * `docker run --storage-opt image=disk --entrypoint ls IMAGE /usr/lib/postgresql` to its exit
 * (the first one also makes the image disk on the new daemon), then each container's disk
 * file's allocated bytes, and the image disks' (shared, once per image).
 *
 *   BENCH_BEFORE=/work/main/dist/src/daemon/main.js npx ts-node --transpile-only -P tsconfig.json bench/image-disk.ts
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DAEMON_MAIN, startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { dockerOut, runMain } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const IMAGE = (): string => `${fixtureRegistry()}/debian-postgres:15`;

const docker = dockerOut;

/** Allocated MiB of `file` (0 when missing). */
function allocatedMiB(file: string): number {
  try {
    return (fs.statSync(file).blocks * 512) / 2 ** 20;
  } catch {
    return 0;
  }
}

/** The runs of one daemon built at `main`: start times (s) and disk use (MiB). */
async function measure(label: string, main: string): Promise<void> {
  const d = await startDaemon({ main });
  try {
    docker(d.env, ['pull', '-q', IMAGE()]);
    const times: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = process.hrtime.bigint();
      docker(d.env, [
        'run',
        '--name',
        `c${i}`,
        '--storage-opt',
        'image=disk',
        '--entrypoint',
        'ls',
        IMAGE(),
        '/usr/lib/postgresql',
      ]);
      times.push(Number(process.hrtime.bigint() - started) / 1e9);
      ids.push(docker(d.env, ['inspect', '-f', '{{.Id}}', `c${i}`]));
    }
    const perContainer = ids.map((id) => allocatedMiB(path.join(d.dataRoot, 'containers', id, 'upper.ext4')));
    const imageDir = path.join(d.dataRoot, 'image-disks');
    const shared = (fs.existsSync(imageDir) ? fs.readdirSync(imageDir) : []).map((f) =>
      allocatedMiB(path.join(imageDir, f)),
    );
    console.log(
      `${label}: docker run to exit ${times.map((t) => t.toFixed(2)).join(' ')} s; ` +
        `each container's disk ${perContainer.map((m) => m.toFixed(1)).join(' ')} MiB; ` +
        `image disks ${shared.map((m) => m.toFixed(1)).join(' ') || 'none'} MiB`,
    );
    docker(d.env, ['rm', '-f', ...ids]);
  } finally {
    await d.stop();
  }
}

runMain(async () => {
  await ensureFixtureRegistries();
  const before = process.env.BENCH_BEFORE;
  if (before) await measure('before (image copied onto each disk)', before);
  await measure('after (one image disk per image)', DAEMON_MAIN);
});
