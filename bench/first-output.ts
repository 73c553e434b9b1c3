/**
 * From `start` to a container's first output, beside dockerd 20.10 (Debian's docker.io, runc;
 * in a network namespace of its own, ./netns-dockerd.ts). The case is docker-py's
 * `test_build_*_dockerfile`: an image built `FROM busybox` + `COPY . /src` + `WORKDIR /src`,
 * a container of it running `ls -a`, started, and its logs asked for at once. For each run:
 * how long `start` took, when the first line reached the log (the entry's own timestamp, taken
 * by the daemon on this host's clock) counted from the moment `start` answered (negative: it
 * was logged before the answer), and whether a `logs` sent right after `start` already had all
 * four lines (what those docker-py tests assert).
 *
 *   npm run bench:first-output        (RUNS=20 by default)
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { median, runMain } from './common';
import { startNetnsDockerd, type NetnsDockerd } from './netns-dockerd';

const BUSYBOX = (): string => `${fixtureRegistry()}/busybox`;
const RUNS = Number(process.env.RUNS ?? 20);
const IMAGE = 'bench-first-output';

function ok(env: NodeJS.ProcessEnv, args: string[]): string {
  const r = spawnSync('docker', args, { env, encoding: 'utf8', timeout: 300000 });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** One API request on the daemon's socket: status and body. */
function request(socketPath: string, method: string, p: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: `/v1.41${p}` }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The payloads of a multiplexed (stdcopy) logs answer, joined. */
function demux(b: Buffer): string {
  let out = '';
  for (let i = 0; i + 8 <= b.length; ) {
    const n = b.readUInt32BE(i + 4);
    out += b.subarray(i + 8, i + 8 + n).toString('utf8');
    i += 8 + n;
  }
  return out;
}

interface Run {
  startMs: number;
  /** First log entry's timestamp minus the moment `start` answered. */
  firstOutputMs: number;
  /** A `logs` sent right after `start` had every line. */
  complete: boolean;
}

async function oneRun(env: NodeJS.ProcessEnv, socketPath: string): Promise<Run> {
  const id = ok(env, ['create', IMAGE, 'ls', '-a']);
  try {
    const t0 = Date.now();
    const started = await request(socketPath, 'POST', `/containers/${id}/start`);
    const t1 = Date.now();
    if (started.status !== 204) throw new Error(`start: ${started.status} ${started.body.toString()}`);
    const at = demux((await request(socketPath, 'GET', `/containers/${id}/logs?stdout=1&stderr=1`)).body);
    await request(socketPath, 'POST', `/containers/${id}/wait`);
    const logged = demux((await request(socketPath, 'GET', `/containers/${id}/logs?stdout=1&timestamps=1`)).body);
    const first = logged.split('\n')[0].split(' ')[0];
    const ts = Date.parse(first);
    if (!Number.isFinite(ts)) throw new Error(`no timestamped output: ${JSON.stringify(logged)}`);
    // Date.parse keeps milliseconds; the sub-millisecond digits of RFC3339Nano are added back.
    const frac = /\.(\d+)Z$/.exec(first)?.[1] ?? '0';
    const exact = ts - (ts % 1000) + Number(`0.${frac}`) * 1000;
    return {
      startMs: t1 - t0,
      firstOutputMs: exact - t1,
      complete: at.split('\n').filter(Boolean).length === 4,
    };
  } finally {
    spawnSync('docker', ['rm', '-f', id], { env });
  }
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-first-output-'));
  const ctx = path.join(base, 'ctx');
  fs.mkdirSync(ctx);
  fs.writeFileSync(path.join(ctx, 'file.txt'), 'hello world');
  fs.writeFileSync(path.join(ctx, 'custom.dockerfile'), `FROM ${BUSYBOX()}\nCOPY . /src\nWORKDIR /src\n`);
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 2 });
  let dockerd: NetnsDockerd | undefined;
  const results: Record<string, Run[]> = {};
  try {
    dockerd = await startNetnsDockerd(path.join(base, 'dockerd'), {
      networkArgs: ['--bridge=none', '--iptables=false'],
    });
    const daemons = [
      ['podvisor', podvisor.env, podvisor.socketPath],
      ['dockerd', dockerd.env, (dockerd.env.DOCKER_HOST ?? '').replace(/^unix:\/\//, '')],
    ] as const;
    for (const [name, env] of daemons) {
      ok(env, ['pull', '-q', BUSYBOX()]);
      ok(env, ['build', '-q', '-f', path.join(ctx, 'custom.dockerfile'), '-t', IMAGE, ctx]);
      results[name] = [];
    }
    // Back to back as the suite runs them, interleaved so that both daemons see the same load.
    for (let i = 0; i < RUNS; i++) {
      for (const [name, env, sock] of daemons) {
        results[name].push(await oneRun(env, sock));
      }
    }
    process.stdout.write(
      `start -> first output of \`ls -a\` (docker-py's test_build_*_dockerfile), medians of ${RUNS} interleaved runs, ` +
        `load average at the end ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}:\n`,
    );
    for (const [name, runs] of Object.entries(results)) {
      const fo = runs.map((r) => r.firstOutputMs);
      process.stdout.write(
        `  ${name.padEnd(9)} start ${median(runs.map((r) => r.startMs)).toFixed(0)} ms; first output ${median(fo).toFixed(0)} ms ` +
          `after start answered (min ${Math.min(...fo).toFixed(0)}, max ${Math.max(...fo).toFixed(0)}); ` +
          `logs right after start complete in ${runs.filter((r) => r.complete).length} of ${runs.length}\n`,
      );
    }
  } finally {
    await dockerd?.stop().catch(() => undefined);
    await podvisor.stop();
    for (const r of registries) await r.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

runMain(main);
