/**
 * bench/fs.ts's rows "first run of a large program": a Debian python3 started in a new
 * container, where the image's files are read from (the image's lower layer), beside dockerd.
 *
 * Each row is one `docker run --rm` of the debian-python:3 fixture image (python3 and its
 * standard library from Debian's packages), its figure the docker CLI's wall time:
 *  - `true`: the start alone (the VM, the mounts, the exit), the floor of the rows below;
 *  - `python3 -c pass`: the interpreter's start (its binary, libpython, the site modules);
 *  - `python3 -c 'import ...'` of IMPORTS: more modules, so more files read.
 * Each runs on every daemon (on the block-mode podvisor the image is read from its image disk,
 * the default `--storage-opt image=disk`; on the 9p podvisor over the layers share), and once
 * more on the block-mode podvisor with `--storage-opt image=layers` (the image over the layers
 * share, 9p, under the writable layer on the container's disk): the same daemon, the two lowers.
 *
 * Every run is a first run inside its VM: each container is a new VM, with a guest page cache
 * of its own, so the guest reads every file it opens through its device (the image disk's
 * virtio-blk, or the layers share's 9p). The host's page cache is warm for all of them: the
 * group's start runs each kind of container once, untimed (which also makes the image disk if
 * the pull had not), as dockerd + runc reads the same files from the host's page cache.
 */
import { fixtureRegistry } from '../test/fixtures/registry';
import { median } from './common';
import { BLOCK_PODVISOR, docker, type Group, type Step } from './fs-parts';

const PYTHON = (): string => `${fixtureRegistry()}/debian-python:3`;
const CONTAINER = 'bench-fs-first-run';
/** Modules of the standard library that open many files between them (each a package or several modules). */
const IMPORTS = 'json, email.parser, http.client, urllib.request, logging, decimal, sqlite3';
/** The name prefix of this group's rows (BENCH_STEPS='first run' selects them alone). */
const PREFIX = 'first run:';
/** The suffix of the block-mode podvisor's rows with the image over the layers share. */
const LAYERS = ', image=layers';
/** The `--storage-opt` of those rows. */
const LAYERS_ARGS = ['--storage-opt', 'image=layers'];

/** The programs, by the short name their rows carry. */
const PROGRAMS: Record<string, string[]> = {
  true: ['true'],
  'python3 -c pass': ['python3', '-c', 'pass'],
  [`python3 -c 'import ${IMPORTS.split(',').length} modules'`]: ['python3', '-c', `import ${IMPORTS}`],
};

/** `docker run --rm` of the python image running `cmd`, with `args` before the image. */
const run = (env: NodeJS.ProcessEnv, args: string[], cmd: string[]) =>
  void docker(env, ['run', '--rm', '--name', CONTAINER, ...args, PYTHON(), ...cmd]);

/** The group: per program a row on every daemon and a row with the image over the layers share (block-mode podvisor). */
export function firstRunGroup(): Group {
  const steps: Step[] = Object.entries(PROGRAMS).flatMap(([what, cmd]) => [
    { name: `${PREFIX} ${what}`, run: (env) => run(env, [], cmd) },
    { name: `${PREFIX} ${what}${LAYERS}`, blockOnly: true, run: (env) => run(env, LAYERS_ARGS, cmd) },
  ]);
  return {
    name: 'first run of a large program',
    containers: [CONTAINER],
    start: (who, env) => {
      docker(env, ['pull', '-q', PYTHON()]);
      // Untimed: the host's page cache warmed for each lower (and the image disk made, if the pull had not).
      run(env, [], ['python3', '-c', `import ${IMPORTS}`]);
      if (who === BLOCK_PODVISOR) run(env, LAYERS_ARGS, ['python3', '-c', `import ${IMPORTS}`]);
    },
    steps,
  };
}

/**
 * The group's own table, in markdown: per program the block-mode podvisor with the image disk
 * and with the layers share, the 9p podvisor where it ran, dockerd, and their ratios; then each
 * program's time over `true` (the start left out). Empty when the group did not run.
 */
export function firstRunTable(times: Record<string, Record<string, number[]>>, clients: string[]): string[] {
  const med = (step: string, who: string) => (times[step]?.[who]?.length ? median(times[step][who]) : NaN);
  const progs = Object.keys(PROGRAMS).filter((p) => times[`${PREFIX} ${p}`]);
  if (progs.length === 0) return [];
  const cols: { label: string; at: (p: string) => number }[] = [
    { label: 'podvisor, image disk', at: (p) => med(`${PREFIX} ${p}`, BLOCK_PODVISOR) },
    { label: 'podvisor, layers share (image=layers)', at: (p) => med(`${PREFIX} ${p}${LAYERS}`, BLOCK_PODVISOR) },
    ...(clients.includes('podvisor')
      ? [{ label: 'podvisor --rootfs-disk=false', at: (p: string) => med(`${PREFIX} ${p}`, 'podvisor') }]
      : []),
    { label: 'dockerd + runc', at: (p) => med(`${PREFIX} ${p}`, 'dockerd') },
  ];
  const secs = (x: number) => (Number.isFinite(x) ? `${(Math.abs(x) < 0.005 ? 0 : x).toFixed(2)} s` : '');
  // No ratio to a difference within the noise of zero (dockerd's python over its `true`).
  const ratio = (a: number, b: number) => (b > 0.005 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '');
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const [disk, layers] = cols;
  const dockerd = cols[cols.length - 1];
  const out = [
    line(['`docker run --rm debian-python:3 ...`', ...cols.map((c) => c.label), 'disk / layers', 'disk / dockerd']),
    line(['---', ...cols.map(() => '---'), '---', '---']),
  ];
  const row = (what: string, at: (c: (typeof cols)[number]) => number) => {
    const v = cols.map(at);
    out.push(line([what, ...v.map(secs), ratio(at(disk), at(layers)), ratio(at(disk), at(dockerd))]));
  };
  for (const p of progs) row(`\`${p}\``, (c) => c.at(p));
  if (progs.includes('true')) {
    for (const p of progs.filter((q) => q !== 'true')) row(`\`${p}\` minus \`true\``, (c) => c.at(p) - c.at('true'));
  }
  return out;
}
