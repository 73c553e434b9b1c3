/**
 * Network throughput and request rate: podvisor beside dockerd 20.10 (runc) in the same run,
 * with the fixture busybox from the fixture registry (test/fixtures/registry.ts) and the stock docker CLI.
 * dockerd runs in a network namespace of its own with its default bridge and iptables rules
 * (./netns-dockerd.ts); the client side (./net-client.ts) runs as a process in the daemon's
 * namespace, the same code for both. For each daemon, RUNS times each:
 *  - MB megabytes (default 1024) from the host into a container through a published port on
 *    127.0.0.1 (`-p 127.0.0.1:P:80`; a busybox `nc -ll -e` sink that reads to EOF, then
 *    answers "done"): the time from connect to that answer;
 *  - requests per second of busybox httpd serving a 13-byte page through a published port,
 *    REQUESTS requests (default 300), CONCURRENCY (default 8) at once, a new connection each
 *    (busybox httpd speaks HTTP/1.0);
 *  - container to container on one user network: C2C_MB megabytes (default 64) from a client
 *    container into a sink container found by name, timed in the client until dd is done, sent
 *    three ways (C2cMode below): `dd | nc` (busybox nc's small-buffer copy loop), `nc -e dd`
 *    (dd writes into the socket) and `dd | nc` to a sink on the client's own loopback (no
 *    network: the copy loop alone). For podvisor the counters of the network's taps (host side)
 *    are printed beside it: packets, drops.
 * Prints the medians side by side.
 *
 *   npm run bench:net        (needs bootstrap --bench: docker.io, docker-registry, socat)
 *   BENCH_RUNS=3 BENCH_NET_MB=1024 BENCH_NET_REQUESTS=300 BENCH_NET_C2C_MB=64
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { median } from './common';
import { startNetnsDockerd, type NetnsDockerd } from './netns-dockerd';
import { freePort } from '../test/helpers/docker-cli';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MB = Number(process.env.BENCH_NET_MB ?? 1024);
const REQUESTS = Number(process.env.BENCH_NET_REQUESTS ?? 300);
const CONCURRENCY = Number(process.env.BENCH_NET_CONCURRENCY ?? 8);
const C2C_MB = Number(process.env.BENCH_NET_C2C_MB ?? 64);
const IMAGE = (): string => `${fixtureRegistry()}/busybox`;
/** A sink on port 80: each connection is read to EOF, then answered "done". */
const SINK = [
  'sh',
  '-c',
  'printf "#!/bin/sh\\ncat >/dev/null\\necho done\\n" > /sink && chmod +x /sink && exec nc -ll -p 80 -e /sink',
];
const WEB = ['sh', '-c', 'mkdir -p /www && echo "hello, world" > /www/index.html && exec httpd -f -p 80 -h /www'];

const docker = (env: NodeJS.ProcessEnv, args: string[]) =>
  execFileSync('docker', args, { env, encoding: 'utf8', timeout: 600000 }).trim();

const CLIENT = [process.execPath, '-r', 'ts-node/register/transpile-only', path.join(__dirname, 'net-client.ts')];

/** Run the client (./net-client.ts) in the daemon's namespace (`prefix`): its stdout. */
function client(prefix: string[], args: Array<string | number>): string {
  const argv = [...prefix, ...CLIENT, ...args.map(String)];
  return execFileSync(argv[0], argv.slice(1), {
    encoding: 'utf8',
    timeout: 600000,
    env: { ...process.env, TS_NODE_PROJECT: path.join(__dirname, '..', 'tsconfig.json') },
  }).trim();
}

/** Host-side counters of the taps on a podvisor network's bridge: packets and drops, summed. */
function tapCounters(bridge: string): Record<string, number> {
  const out: Record<string, number> = { rxPackets: 0, txPackets: 0, rxDropped: 0, txDropped: 0 };
  try {
    const links = JSON.parse(
      execFileSync('ip', ['-j', '-s', 'link', 'show', 'master', bridge], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ) as Array<{ stats64: { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } } }>;
    for (const l of links) {
      out.rxPackets += l.stats64.rx.packets;
      out.txPackets += l.stats64.tx.packets;
      out.rxDropped += l.stats64.rx.dropped;
      out.txDropped += l.stats64.tx.dropped;
    }
  } catch {
    // no such bridge (dockerd's are in its namespace)
  }
  return out;
}

/**
 * How the client container sends in `c2cRate`:
 *  - 'pipe':     `dd | nc IP 80`, the usual way; busybox nc copies the pipe to the socket in
 *                its own small-buffer loop;
 *  - 'direct':   `nc IP 80 -e /src`, where /src is that dd writing 1 MiB blocks straight into
 *                the connected socket (no copy loop);
 *  - 'loopback': the 'pipe' way to a sink on 127.0.0.1 in the client container itself: no
 *                network at all, what nc's loop alone allows (the sink of the first run stays
 *                and serves the later ones).
 */
type C2cMode = 'pipe' | 'direct' | 'loopback';

/**
 * The rate of `mb` MiB from container `client` into the sink `target` (found by name): MB/s
 * (10^6 bytes), timed in the client with /proc/uptime from the start of dd until dd has handed
 * its last block on (busybox dd prints no timing of its own).
 */
function c2cRate(env: NodeJS.ProcessEnv, client: string, target: string, mb: number, mode: C2cMode): number {
  // busybox nc does not half-close at the end of its input, so the sink never sees EOF: once
  // dd is done, the client's nc is killed (which closes the connection).
  const send =
    mode === 'direct'
      ? `printf '#!/bin/sh\\nexec dd if=/dev/zero bs=1048576 count=${mb} 2>/tmp/dd.txt\\n' > /tmp/src && chmod +x /tmp/src && nc "$ip" 80 -e /tmp/src & p=$!`
      : `dd if=/dev/zero bs=1048576 count=${mb} 2>/tmp/dd.txt | nc "$ip" ${mode === 'loopback' ? 81 : 80} >/dev/null & p=$!`;
  const script = [
    'rm -f /tmp/dd.txt',
    mode === 'loopback'
      ? 'ip=127.0.0.1; printf "#!/bin/sh\\ncat >/dev/null\\n" > /tmp/sink && chmod +x /tmp/sink; (nc -ll -p 81 -e /tmp/sink 2>/dev/null &) ; sleep 1'
      : `ip=$(nslookup ${target} | awk '/^Address/ { a = $NF } END { print a }')`,
    't0=$(cut -d" " -f1 /proc/uptime)',
    send,
    'while kill -0 $p 2>/dev/null && ! grep -q "records out" /tmp/dd.txt 2>/dev/null; do sleep 0.05; done',
    't1=$(cut -d" " -f1 /proc/uptime)',
    'kill $p 2>/dev/null; echo "sink $ip time $t0 $t1"; cat /tmp/dd.txt',
  ].join('\n');
  const out = docker(env, ['exec', client, 'sh', '-c', script]);
  const m = /time ([\d.]+) ([\d.]+)/.exec(out);
  if (!m || !out.includes(`${mb}+0 records out`)) throw new Error(`the copy did not finish: ${out}`);
  return (mb * 1048576) / 1e6 / Math.max(0.01, Number(m[2]) - Number(m[1]));
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-net-'));
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 2 });
  let dockerd: NetnsDockerd | undefined;
  type Figures = Record<'push' | 'rps' | C2cMode, number[]>;
  const results: Record<string, Figures> = {};
  try {
    dockerd = await startNetnsDockerd(path.join(base, 'dockerd'), { registries: [fixtureRegistry()] });
    const daemons: Array<[string, NodeJS.ProcessEnv, string[]]> = [
      ['podvisor', podvisor.env, []],
      ['dockerd', dockerd.env, dockerd.inNetns],
    ];
    for (const [name, env, prefix] of daemons) {
      const r: Figures = (results[name] = { push: [], rps: [], pipe: [], direct: [], loopback: [] });
      docker(env, ['pull', '-q', IMAGE()]);
      const sinkPort = await freePort();
      const webPort = await freePort();
      docker(env, ['run', '-d', '--name', 'bn-sink', '-p', `127.0.0.1:${sinkPort}:80`, IMAGE(), ...SINK]);
      docker(env, ['run', '-d', '--name', 'bn-web', '-p', `127.0.0.1:${webPort}:80`, IMAGE(), ...WEB]);
      const netId = docker(env, ['network', 'create', 'bn-net']);
      docker(env, ['run', '-d', '--name', 'bn-c2c-sink', '--network', 'bn-net', IMAGE(), ...SINK]);
      docker(env, ['run', '-d', '--name', 'bn-c2c-client', '--network', 'bn-net', IMAGE(), 'sleep', '3600']);
      try {
        client(prefix, ['wait-sink', sinkPort]);
        client(prefix, ['wait-http', webPort]);
        for (let i = 0; i < RUNS; i++) {
          const t = Number(client(prefix, ['push', sinkPort, MB]));
          r.push.push(MB / t);
          process.stdout.write(
            `${name}: ${MB} MiB through a published port in ${t.toFixed(2)} s (${(MB / t).toFixed(1)} MiB/s)\n`,
          );
          const rps = Number(client(prefix, ['rps', webPort, REQUESTS, CONCURRENCY]));
          r.rps.push(rps);
          process.stdout.write(`${name}: ${REQUESTS} requests, ${CONCURRENCY} at once: ${rps.toFixed(0)} req/s\n`);
          for (const mode of ['pipe', 'direct', 'loopback'] as const) {
            const bridge = name === 'podvisor' ? `pv-${netId.slice(0, 12)}` : '';
            const before = bridge ? tapCounters(bridge) : {};
            const c2c = c2cRate(env, 'bn-c2c-client', 'bn-c2c-sink', C2C_MB, mode);
            const after = bridge ? tapCounters(bridge) : {};
            r[mode].push(c2c);
            const taps =
              bridge && mode !== 'loopback'
                ? `  (taps: ${Object.keys(after)
                    .map((k) => `${k} +${after[k] - before[k]}`)
                    .join(', ')})`
                : '';
            process.stdout.write(
              `${name}: ${C2C_MB} MiB container to container (${mode}): ${c2c.toFixed(1)} MB/s${taps}\n`,
            );
          }
        }
      } finally {
        docker(env, ['rm', '-f', 'bn-sink', 'bn-web', 'bn-c2c-sink', 'bn-c2c-client']);
        docker(env, ['network', 'rm', 'bn-net']);
      }
    }
    process.stdout.write(
      `\nmedians of ${RUNS} runs, accel TCG, load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n`,
    );
    const line = (what: string, k: keyof Figures, unit: string) =>
      process.stdout.write(
        `  ${what.padEnd(52)} ${Object.entries(results)
          .map(([n, v]) => `${n} ${median(v[k]).toFixed(1)} ${unit}`)
          .join('   ')}\n`,
      );
    line(`${MB} MiB host -> container, published port (127.0.0.1)`, 'push', 'MiB/s');
    line(`HTTP GET through a published port (${CONCURRENCY} at once)`, 'rps', 'req/s');
    line(`${C2C_MB} MiB container -> container, dd | nc`, 'pipe', 'MB/s');
    line(`${C2C_MB} MiB container -> container, nc -e dd`, 'direct', 'MB/s');
    line(`${C2C_MB} MiB dd | nc to 127.0.0.1 in the container`, 'loopback', 'MB/s');
  } finally {
    await dockerd?.stop().catch(() => undefined);
    await podvisor.stop();
    for (const r of registries) await r.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
