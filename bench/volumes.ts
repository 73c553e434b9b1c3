/**
 * Read and write throughput of a bind mount and of a named volume: podvisor beside dockerd
 * 20.10 (runc) in the same run.
 *
 * Each daemon runs one busybox container with a host directory bind-mounted at /bind and a
 * named volume at /vol. For each mount, ROUNDS times, alternating between the daemons:
 *  - read:  the host writes a SIZE_MIB file into the mount's host directory (the bind source,
 *    the volume's Mountpoint), then `docker exec <c> dd if=<file> of=/dev/null bs=1M`: the
 *    data is in the host's page cache for both daemons, and never in the guest's (a new file);
 *  - write: `docker exec <c> dd if=/dev/zero of=<file> bs=1M count=SIZE_MIB conv=fsync`.
 * The time is the docker CLI's wall time of the exec (it includes the exec itself, ~0.1 s on
 * either daemon); the figure is SIZE_MIB over the median time, in MiB/s.
 *
 * podvisor runs twice, as two daemons in the same run: with its defaults ("podvisor": where
 * the guest kernel can be cloned, a VM cloned from a template, its mounts over virtio-9p) and
 * with `--vm-templates=false` ("podvisor-virtiofs": a booted VM, its mounts over virtio-fs
 * with cache=auto), so the two transports are compared beside dockerd. BENCH_TRANSPORTS=default
 * runs the first only.
 *
 *   npm run bench:volumes        (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_ROUNDS=5 BENCH_SIZE_MIB=256
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { median, startDockerd, timeIt, stopBench, runMain } from './common';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SIZE_MIB = Number(process.env.BENCH_SIZE_MIB ?? 256);
const IMAGE = (): string => `${fixtureRegistry()}/busybox`;
/** `default` runs podvisor with its defaults only; anything else adds the virtio-fs daemon. */
const BOTH_TRANSPORTS = (process.env.BENCH_TRANSPORTS ?? 'both') !== 'default';

const docker = (env: NodeJS.ProcessEnv, args: string[]) =>
  execFileSync('docker', args, { env, encoding: 'utf8', timeout: 600000 }).trim();

/** A SIZE_MIB file of random-looking bytes (not zeros, so nothing is sparse or compressible). */
function writeHostFile(file: string): void {
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  const fd = fs.openSync(file, 'w');
  try {
    for (let i = 0; i < SIZE_MIB; i++) fs.writeSync(fd, chunk);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-volumes-'));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 0 });
  let virtiofs: Awaited<ReturnType<typeof startDaemon>> | undefined;
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  try {
    if (BOTH_TRANSPORTS) virtiofs = await startDaemon({ vmPoolSize: 0, args: ['--vm-templates=false'] });
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    const clients: Record<string, NodeJS.ProcessEnv> = {
      podvisor: podvisor.env,
      ...(virtiofs ? { 'podvisor-virtiofs': virtiofs.env } : {}),
      dockerd: dockerd.env,
    };
    const hostDirs: Record<string, Record<string, string>> = {};
    for (const [name, env] of Object.entries(clients)) {
      docker(env, ['pull', '-q', IMAGE()]);
      const bind = path.join(base, `bind-${name}`);
      fs.mkdirSync(bind);
      docker(env, ['volume', 'create', 'benchvol']);
      docker(env, [
        'run',
        '-d',
        '--name',
        'bench-vol',
        '-v',
        `${bind}:/bind`,
        '-v',
        'benchvol:/vol',
        IMAGE(),
        'sleep',
        '36000',
      ]);
      const mp = JSON.parse(docker(env, ['volume', 'inspect', 'benchvol']))[0].Mountpoint as string;
      hostDirs[name] = { bind, vol: mp };
    }
    const rows: Record<string, number[]> = {};
    const add = (k: string, t: number) => (rows[k] ??= []).push(t);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, env] of Object.entries(clients)) {
        for (const mount of ['bind', 'vol']) {
          const hostFile = path.join(hostDirs[name][mount], `in-${r}`);
          writeHostFile(hostFile);
          const tr = timeIt(() =>
            docker(env, ['exec', 'bench-vol', 'dd', `if=/${mount}/in-${r}`, 'of=/dev/null', 'bs=1M']),
          );
          const tw = timeIt(() =>
            docker(env, [
              'exec',
              'bench-vol',
              'dd',
              'if=/dev/zero',
              `of=/${mount}/out`,
              'bs=1M',
              `count=${SIZE_MIB}`,
              'conv=fsync',
            ]),
          );
          fs.rmSync(hostFile);
          add(`${name} ${mount} read`, tr);
          add(`${name} ${mount} write`, tw);
          process.stdout.write(
            `round ${r + 1}/${ROUNDS} ${name} ${mount}: read ${(SIZE_MIB / tr).toFixed(0)} MiB/s, write ${(SIZE_MIB / tw).toFixed(0)} MiB/s\n`,
          );
        }
      }
    }
    for (const env of Object.values(clients)) {
      docker(env, ['rm', '-f', 'bench-vol']);
      docker(env, ['volume', 'rm', 'benchvol']);
    }
    process.stdout.write(
      `\n${SIZE_MIB} MiB, medians of ${ROUNDS} rounds (docker exec dd, CLI wall time), load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n`,
    );
    for (const [k, v] of Object.entries(rows))
      process.stdout.write(
        `  ${k.padEnd(32)} ${(SIZE_MIB / median(v)).toFixed(0).padStart(6)} MiB/s  (${median(v).toFixed(2)} s)\n`,
      );
  } finally {
    await virtiofs?.stop().catch(() => undefined);
    await stopBench({ dockerd, podvisor, registries, base });
  }
}

runMain(main);
