/**
 * Checkpoint images (issue 66, docs/checkpoint-images.md): PostgreSQL saved as an image on one
 * podvisor daemon, pushed to the fixture registry (Debian's docker-registry on loopback), pulled
 * on a second daemon of its own data and exec roots (standing in for another host) and run
 * there, beside dockerd 20.10 + runc's cold `docker run -d` of the same base image, in one run.
 *
 * The database: the fixture image debian-postgres:15 (Debian's PostgreSQL run as the official
 * image runs it), plain `docker run -d`, its data in the image's VOLUME; 1,000 rows written
 * before the save. Per round:
 *   dockerd    docker run -d -p 5432, cold, to its first query answered (the host's `psql -c
 *              'select 1'` on the published port, as an application connects, polled every 50 ms)
 *   podvisor   on A: `podvisor checkpoint --image` (commit, save, pack; its run ends), then
 *              `docker push`; on B: `docker pull`, then `docker run -d` to the 1,000 rows
 *              answered (`select count(*)`, polled every 100 ms)
 *   podvisor   on B, three `docker run -d` of it at once, to the rows answered in each
 * Then the image's sizes: the base image's layers, the committed layer and the saved state's
 * blobs (compressed, as pushed).
 *
 *   npm run bench:checkpoint-image     (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_RUNS=3
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { dockerOut, median, removeAllContainers, runMain, stopBench } from './common';
import { startNetnsDockerd, type NetnsDockerd } from './netns-dockerd';
import { timeTo, untilAnswer, type Side } from './postgres-probe';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const IMAGE = (): string => `${fixtureRegistry()}/debian-postgres:15`;
const PODVISOR_BIN = path.join(__dirname, '..', 'bin', 'podvisor');
const docker = dockerOut;

/** The podvisor CLI against daemon `d`. */
const podvisor = (d: TestDaemon, args: string[]): string =>
  execFileSync(process.execPath, [PODVISOR_BIN, ...args], {
    env: { ...process.env, PODVISOR_HOST: d.dockerHost },
    encoding: 'utf8',
    timeout: 600000,
  }).trim();

/** Bytes of blob `digest` in daemon `d`'s content store. */
function blobBytes(d: TestDaemon, digest: string): number {
  return fs.statSync(path.join(d.dataRoot, 'content', 'blobs', 'sha256', digest.replace(/^sha256:/, ''))).size;
}

/** The saved state's blobs (its manifest's config and layers) of image `id` on daemon `d`, bytes each. */
function stateBlobs(d: TestDaemon, id: string): Array<{ name: string; bytes: number }> {
  const state = JSON.parse(fs.readFileSync(path.join(d.dataRoot, 'images', 'state.json'), 'utf8')) as {
    checkpoints?: Record<string, string>;
  };
  const digest = state.checkpoints?.[id];
  if (!digest) return [];
  const m = JSON.parse(
    fs.readFileSync(path.join(d.dataRoot, 'content', 'blobs', 'sha256', digest.replace(/^sha256:/, '')), 'utf8'),
  ) as { config: { digest: string }; layers: Array<{ digest: string; annotations?: Record<string, string> }> };
  return [
    { name: 'record', bytes: blobBytes(d, m.config.digest) },
    ...m.layers.map((l) => ({
      name: l.annotations?.['org.opencontainers.image.title'] ?? l.digest,
      bytes: blobBytes(d, l.digest),
    })),
  ];
}

/** A manifest of `repo` at `tagOrDigest` in the fixture registry, as the registry serves it. */
function registryManifest(repo: string, tagOrDigest: string): Record<string, unknown> {
  const accept = [
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.oci.image.manifest.v1+json',
  ].join(', ');
  const out = execFileSync('curl', [
    '-sf',
    '-H',
    `Accept: ${accept}`,
    `http://${fixtureRegistry()}/v2/${repo}/manifests/${tagOrDigest}`,
  ]);
  return JSON.parse(out.toString()) as Record<string, unknown>;
}

/** The compressed bytes of image `ref`'s layers in the fixture registry (its linux manifest's), lowest first. */
function layerBytes(ref: string): number[] {
  const [repo, tag] = ref.slice(fixtureRegistry().length + 1).split(':');
  let m = registryManifest(repo, tag);
  const index = m.manifests as Array<{ digest: string; platform?: { os: string } }> | undefined;
  if (index) m = registryManifest(repo, index.find((x) => x.platform?.os === 'linux')?.digest ?? '');
  return ((m.layers as Array<{ size: number }> | undefined) ?? []).map((l) => l.size);
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-ckimg-'));
  const registries = await ensureFixtureRegistries();
  const a = await startDaemon({ args: ['--experimental'] });
  const b = await startDaemon({ args: ['--experimental'] });
  let dockerd: NetnsDockerd | undefined;
  const times: Record<string, number[]> = {
    'dockerd + runc: docker run -d -p 5432, cold, to its first query (host psql)': [],
    'podvisor A: podvisor checkpoint --image (commit, save, pack)': [],
    'podvisor A: docker push': [],
    'podvisor B: docker pull': [],
    'podvisor B: docker run -d -p 5432 of the image, to its 1,000 rows (host psql)': [],
    'podvisor B: 3 x docker run -d at once, to the rows answered in each': [],
  };
  const keys = Object.keys(times);
  let sizes = '';
  const SQL_ROWS = 'select count(*) from t';
  try {
    // dockerd with its own bridge and rules in its namespace, so that -p publishes there.
    dockerd = await startNetnsDockerd(path.join(base, 'dockerd'), { networkArgs: ['--iptables=true'] });
    const dd: Side = { env: dockerd.env, reach: dockerd.inNetns };
    const pa: Side = { env: a.env, reach: [] };
    const pb: Side = { env: b.env, reach: [] };
    for (const d of [dockerd.env, a.env]) docker(d, ['pull', '-q', IMAGE()]);
    for (let r = 0; r < RUNS; r++) {
      const ref = `${fixtureRegistry()}/bench-pg-ready-${process.pid}:${r}`;
      const run = (side: Side, name: string) =>
        docker(side.env, ['run', '-d', '--name', name, '-p', '5432', '-e', 'POSTGRES_PASSWORD=secret', IMAGE()]);
      times[keys[0]].push(await timeTo(dd, ['pgd'], 'select 1', '1', () => run(dd, 'pgd')));
      docker(dd.env, ['rm', '-fv', 'pgd']);
      run(pa, 'pg');
      await untilAnswer(pa, 'pg', 'select 1', '1');
      docker(a.env, [
        'exec',
        '-u',
        'postgres',
        'pg',
        'psql',
        '-qc',
        'create table t as select g as id, md5(g::text) as v from generate_series(1, 1000) g',
      ]);
      let t0 = Date.now();
      const id = podvisor(a, ['checkpoint', '--image', ref, 'pg']);
      times[keys[1]].push(Date.now() - t0);
      t0 = Date.now();
      docker(a.env, ['push', ref]);
      times[keys[2]].push(Date.now() - t0);
      t0 = Date.now();
      docker(b.env, ['pull', '-q', ref]);
      times[keys[3]].push(Date.now() - t0);
      times[keys[4]].push(
        await timeTo(pb, ['r0'], SQL_ROWS, '1000', () =>
          docker(b.env, ['run', '-d', '-p', '5432', '--name', 'r0', ref]),
        ),
      );
      const three = ['r1', 'r2', 'r3'];
      times[keys[5]].push(
        await timeTo(pb, three, SQL_ROWS, '1000', () => {
          for (const n of three) execFile('docker', ['run', '-d', '-p', '5432', '--name', n, ref], { env: b.env });
        }),
      );
      if (r === RUNS - 1) {
        const layers = layerBytes(ref);
        const baseLayers = layerBytes(IMAGE());
        const state = stateBlobs(a, id);
        const mib = (n: number) => (n / 1048576).toFixed(1);
        const stateTotal = state.reduce((s, x) => s + x.bytes, 0);
        sizes =
          `sizes (compressed, as pushed): the base image's layers ${mib(baseLayers.reduce((s, x) => s + x, 0))} MiB; ` +
          `the committed layer ${mib((layers[layers.length - 1] ?? 0) * (layers.length > baseLayers.length ? 1 : 0))} MiB; ` +
          `the saved state ${mib(stateTotal)} MiB (${state.map((s) => `${s.name} ${mib(s.bytes)}`).join(', ')})`;
      }
      docker(b.env, ['rm', '-f', 'r0', ...three]);
      docker(a.env, ['rm', '-fv', 'pg']);
      docker(b.env, ['rmi', ref]);
      docker(a.env, ['rmi', ref]);
      process.stdout.write(`round ${r + 1}/${RUNS}: ${keys.map((k) => `${times[k][r]} ms`).join(', ')}\n`);
    }
    const cold = median(times[keys[0]]);
    process.stdout.write(
      `\nmedians of ${RUNS} rounds, load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n`,
    );
    for (const k of keys)
      process.stdout.write(
        `  ${k.padEnd(72)} ${median(times[k]).toFixed(0).padStart(7)} ms  (${(median(times[k]) / cold).toFixed(2)}x dockerd's cold start)\n`,
      );
    process.stdout.write(`${sizes}\n`);
  } finally {
    if (dockerd) spawnSync('docker', ['rm', '-fv', 'pgd'], { env: dockerd.env });
    for (const d of [a, b]) {
      removeAllContainers(d.env);
    }
    await b.stop();
    await stopBench({ dockerd, podvisor: a, registries, base });
  }
}

runMain(main);
