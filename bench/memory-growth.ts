/**
 * What a container without `-m` may use and what it costs the host: podvisor at each guest
 * memory size of BENCH_SIZES (`--vm-memory`, MiB; default 256, 2048, and 2048 booted: VMs
 * whose RAM is a memfd the guest's free page reporting punches, not clones of a template)
 * beside dockerd 20.10 (runc), in one run,
 * medians of BENCH_RUNS:
 *  - idle: PSS per container of IDLE x `docker run -d busybox sleep 600` (bench/idle-memory.ts:
 *    a VM's QEMU, or a runc container's shim and processes);
 *  - a 1 GiB allocation without -m: `docker run --rm busybox dd if=/dev/zero of=/dev/null
 *    bs=1G count=1` (busybox dd allocates its 1 GiB buffer and fills it), wall time and exit
 *    status (137: the guest's OOM killer ended it);
 *  - after a free: a container that ran the same dd and now sleeps, its PSS 2 s and 10 s after
 *    the dd ended (the VM's RAM the guest freed, unless it went back to the host);
 *  - two untars: in a Debian container with `--tmpfs /scratch:size=1g`, a tar of its /usr (many
 *    small files) untarred into the rootfs, then into the tmpfs, each timed in the container, and
 *    how the second ended (ok, or ENOSPC where the VM caps the tmpfs below the archive's size).
 *
 * BENCH_ARGS adds daemon flags to podvisor.
 *
 *   npm run bench:memory       (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_SIZES=256,1024,2048,2048-booted BENCH_RUNS=3 BENCH_IDLE=3
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { median, sleep, startDockerd, runMain } from './common';
import { dockerdContainerPss, podvisorVmPss } from './idle-memory';

/** Sizes in MiB; `-booted` after one runs that size with `--vm-templates=false` (booted VMs, not clones). */
const SIZES = (process.env.BENCH_SIZES ?? '256,2048,2048-booted').split(',');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const IDLE = Number(process.env.BENCH_IDLE ?? 3);
const ARGS = (process.env.BENCH_ARGS ?? '').split(' ').filter(Boolean);
const IMAGE = (): string => `${fixtureRegistry()}/busybox`;
const DEBIAN = (): string => `${fixtureRegistry()}/debian:bookworm`;
const DD_1G = ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1G', 'count=1'];
/**
 * The two untars, in the container: prints `rootfs SECONDS`, then `tmpfs SECONDS ok|ENOSPC|exit N`.
 * The archive is made first, untimed.
 */
const TWO_UNTARS = [
  'tar -cf /a.tar -C / usr',
  'mkdir /x /scratch/x',
  't0=$(date +%s.%N); tar -xf /a.tar -C /x; t1=$(date +%s.%N)',
  'echo "rootfs $(echo "$t1 - $t0" | awk \'{print $1 - $3}\')"',
  't0=$(date +%s.%N); tar -xf /a.tar -C /scratch/x 2>/tmp/err; s=$?; t1=$(date +%s.%N)',
  'if [ $s = 0 ]; then how=ok; elif grep -q "No space left" /tmp/err; then how=ENOSPC; else how="exit $s"; fi',
  'echo "tmpfs $(echo "$t1 - $t0" | awk \'{print $1 - $3}\') $how"',
].join('; ');

/** Run TWO_UNTARS in a fresh Debian container: the two times (s) and how the second ended. */
async function twoUntars(env: NodeJS.ProcessEnv): Promise<{ rootfs: number; tmpfs: number; how: string }> {
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn('docker', ['run', '--rm', '--tmpfs', '/scratch:size=1g', DEBIAN(), 'sh', '-c', TWO_UNTARS], {
      env,
      timeout: 600_000,
    });
    let s = '';
    c.stdout.on('data', (b: Buffer) => (s += String(b)));
    c.on('error', reject);
    c.on('close', () => resolve(s));
  });
  const rootfs = /^rootfs ([\d.]+)$/m.exec(out);
  const tmpfs = /^tmpfs ([\d.]+) (.+)$/m.exec(out);
  if (!rootfs || !tmpfs) throw new Error(`two untars: unexpected output ${JSON.stringify(out)}`);
  return { rootfs: Number(rootfs[1]), tmpfs: Number(tmpfs[1]), how: tmpfs[2] };
}

/** Run the docker CLI; resolves with its exit code (output ignored, never blocking the daemons). */
function docker(env: NodeJS.ProcessEnv, args: string[], timeout = 300_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn('docker', args, { env, stdio: 'ignore', timeout });
    c.on('error', reject);
    c.on('close', (code) => resolve(code ?? -1));
  });
}

/** `docker args`, failing on a non-zero exit. */
async function dockerOk(env: NodeJS.ProcessEnv, args: string[]): Promise<void> {
  const code = await docker(env, args);
  if (code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${code}`);
}

interface Target {
  env: NodeJS.ProcessEnv;
  /** PSS (MiB) of each of its containers (for podvisor: each VM, the pool's idle ones too). */
  pss(): number[];
}

const fmt = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '-');

async function measure(t: Target): Promise<Record<string, string>> {
  const idle: number[] = [];
  const allocS: number[] = [];
  const codes: number[] = [];
  const after2: number[] = [];
  const after10: number[] = [];
  const untarRootfs: number[] = [];
  const untarTmpfs: number[] = [];
  const untarHow: string[] = [];
  for (let r = 0; r < RUNS; r++) {
    const names = Array.from({ length: IDLE }, (_, i) => `bench-idle-${i}`);
    for (const n of names) await dockerOk(t.env, ['run', '-d', '--name', n, IMAGE(), 'sleep', '600']);
    await sleep(3000);
    idle.push(median(t.pss()));
    await dockerOk(t.env, ['rm', '-f', ...names]);

    const t0 = process.hrtime.bigint();
    codes.push(await docker(t.env, ['run', '--rm', IMAGE(), ...DD_1G]));
    allocS.push(Number(process.hrtime.bigint() - t0) / 1e9);

    await dockerOk(t.env, ['run', '-d', '--name', 'bench-freed', IMAGE(), 'sh', '-c', `${DD_1G.join(' ')}; sleep 600`]);
    // The dd is done when the container's top shows only the sleep.
    for (let i = 0; i < 300; i++) {
      const out = await new Promise<string>((resolve) => {
        const c = spawn('docker', ['top', 'bench-freed'], { env: t.env });
        let s = '';
        c.stdout.on('data', (b: Buffer) => (s += String(b)));
        c.on('close', () => resolve(s));
      });
      if (!out.includes('dd if=')) break;
      await sleep(500);
    }
    await sleep(2000);
    after2.push(Math.max(...t.pss()));
    await sleep(8000);
    after10.push(Math.max(...t.pss()));
    await dockerOk(t.env, ['rm', '-f', 'bench-freed']);

    const u = await twoUntars(t.env);
    untarRootfs.push(u.rootfs);
    untarTmpfs.push(u.tmpfs);
    untarHow.push(u.how);
  }
  return {
    'idle PSS per container (MiB)': fmt(median(idle)),
    '1 GiB dd without -m (s)': fmt(median(allocS)),
    '1 GiB dd exit status': codes.join('/'),
    'PSS 2 s after freeing 1 GiB (MiB)': fmt(median(after2)),
    'PSS 10 s after freeing 1 GiB (MiB)': fmt(median(after10)),
    'untar /usr into the rootfs (s)': fmt(median(untarRootfs)),
    'then into a 1g tmpfs (s)': fmt(median(untarTmpfs)),
    'how the tmpfs untar ended': untarHow.join('/'),
  };
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-mem-'));
  const registries = await ensureFixtureRegistries();
  const results: Record<string, Record<string, string>> = {};
  for (const entry of SIZES) {
    const size = parseInt(entry, 10);
    const booted = entry.endsWith('-booted') ? ['--vm-templates=false'] : [];
    const args = [...ARGS, ...booted];
    const d = await startDaemon({ vmPoolSize: 0, args: [...args, '--vm-memory', String(size)] });
    try {
      await dockerOk(d.env, ['pull', '-q', IMAGE()]);
      await dockerOk(d.env, ['pull', '-q', DEBIAN()]);
      results[`podvisor ${size} MiB${args.length ? ` ${args.join(' ')}` : ''}`] = await measure({
        env: d.env,
        pss: () => podvisorVmPss(d.pid()!),
      });
    } finally {
      await d.stop();
    }
  }
  const dockerd = await startDockerd(path.join(base, 'dockerd'));
  try {
    await dockerOk(dockerd.env, ['pull', '-q', IMAGE()]);
    await dockerOk(dockerd.env, ['pull', '-q', DEBIAN()]);
    results.dockerd = await measure({
      env: dockerd.env,
      pss: () => dockerdContainerPss(path.join(base, 'dockerd')),
    });
  } finally {
    await dockerd.stop().catch(() => undefined);
    for (const r of registries) await r.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  }
  const cols = Object.keys(results);
  const rows = Object.keys(results[cols[0]]);
  console.log(['', ...cols].join(' | '));
  for (const r of rows) console.log([r, ...cols.map((c) => results[c][r])].join(' | '));
  console.log(`(medians of ${RUNS}; ${IDLE} idle containers; ${os.cpus().length} cores, load ${os.loadavg()[0]})`);
}

runMain(main);
