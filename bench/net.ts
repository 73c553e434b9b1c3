/**
 * Network throughput and request rate: podvisor beside dockerd 20.10 (runc) in the same run,
 * with the fixture busybox from the fixture registry (127.0.0.1:5000) and the stock docker CLI.
 * For each daemon, RUNS times each:
 *  - MB megabytes (default 1024) from the host into a container through a published port on
 *    127.0.0.1 (`-p 127.0.0.1:P:80`; a busybox `nc -ll -e` sink that reads to EOF, then
 *    answers "done"): the time from connect to that answer;
 *  - requests per second of busybox httpd serving a 13-byte page through a published port,
 *    REQUESTS requests (default 300), CONCURRENCY (default 8) at once, a new connection each
 *    (busybox httpd speaks HTTP/1.0);
 *  - container to container on one user network: C2C_MB megabytes (default 256) from a client
 *    container's `dd | nc` into a sink container found by name, timed in the client until dd
 *    is done (nc has then taken all but the pipe's and socket's buffers).
 * Prints the medians.
 *
 *   npm run bench:net        (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_RUNS=3 BENCH_NET_MB=1024 BENCH_NET_REQUESTS=300 BENCH_NET_C2C_MB=256
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, FIXTURE_REGISTRY } from '../test/fixtures/registry';
import { median, sleep, startDockerd } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MB = Number(process.env.BENCH_NET_MB ?? 1024);
const REQUESTS = Number(process.env.BENCH_NET_REQUESTS ?? 300);
const CONCURRENCY = Number(process.env.BENCH_NET_CONCURRENCY ?? 8);
const C2C_MB = Number(process.env.BENCH_NET_C2C_MB ?? 256);
const IMAGE = `${FIXTURE_REGISTRY}/busybox`;
/** A sink on port 80: each connection is read to EOF, then answered "done". */
const SINK = ['sh', '-c', 'printf "#!/bin/sh\\ncat >/dev/null\\necho done\\n" > /sink && chmod +x /sink && exec nc -ll -p 80 -e /sink'];
const WEB = ['sh', '-c', 'mkdir -p /www && echo "hello, world" > /www/index.html && exec httpd -f -p 80 -h /www'];

const docker = (env: NodeJS.ProcessEnv, args: string[]) => execFileSync('docker', args, { env, encoding: 'utf8', timeout: 600000 }).trim();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

/** Send `mb` MiB of zeros to 127.0.0.1:port, half-close, wait for "done": seconds. */
function push(port: number, mb: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1 << 20);
    const t0 = process.hrtime.bigint();
    const s = net.connect(port, '127.0.0.1');
    let sent = 0;
    let answer = '';
    const pump = () => {
      while (sent < mb) {
        sent++;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    s.on('connect', pump);
    s.on('data', (d) => (answer += d.toString()));
    s.on('close', () => {
      if (!answer.includes('done')) return reject(new Error(`the sink did not answer (got ${JSON.stringify(answer)})`));
      resolve(Number(process.hrtime.bigint() - t0) / 1e9);
    });
    s.on('error', reject);
  });
}

/** Ready when a GET answers. */
async function waitHttp(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      }).on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(200);
  }
  throw new Error(`nothing answers on port ${port}`);
}

/** Ready when the sink answers a tiny push. */
async function waitSink(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await push(port, 0);
      return;
    } catch {
      await sleep(200);
    }
  }
  throw new Error(`the sink on port ${port} never answered`);
}

/** REQUESTS GETs, CONCURRENCY at once: requests per second. */
async function requestRate(port: number): Promise<number> {
  let next = 0;
  const one = () => new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    }).on('error', reject);
  });
  const worker = async () => {
    while (next < REQUESTS) {
      next++;
      await one();
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return REQUESTS / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/**
 * The rate of `mb` MiB from container `client` into the sink `target` (found by name): MB/s
 * (10^6 bytes), timed in the client with /proc/uptime from the start of dd until dd has handed
 * its last block to nc (busybox dd prints no timing of its own).
 */
function c2cRate(env: NodeJS.ProcessEnv, client: string, target: string, mb: number): number {
  // busybox nc does not half-close at the end of its input, so the sink never sees EOF: once
  // dd is done, the client's nc is killed (which closes the connection).
  const script = [
    'rm -f /tmp/dd.txt',
    `ip=$(nslookup ${target} | awk '/^Address/ { a = $NF } END { print a }')`,
    't0=$(cut -d" " -f1 /proc/uptime)',
    `dd if=/dev/zero bs=1048576 count=${mb} 2>/tmp/dd.txt | nc "$ip" 80 >/dev/null & p=$!`,
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
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  const results: Record<string, { push: number[]; rps: number[]; c2c: number[] }> = {};
  try {
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    const clients: Record<string, NodeJS.ProcessEnv> = { podvisor: podvisor.env, dockerd: dockerd.env };
    for (const [name, env] of Object.entries(clients)) {
      const r = (results[name] = { push: [] as number[], rps: [] as number[], c2c: [] as number[] });
      docker(env, ['pull', '-q', IMAGE]);
      const sinkPort = await freePort();
      const webPort = await freePort();
      docker(env, ['run', '-d', '--name', 'bn-sink', '-p', `127.0.0.1:${sinkPort}:80`, IMAGE, ...SINK]);
      docker(env, ['run', '-d', '--name', 'bn-web', '-p', `127.0.0.1:${webPort}:80`, IMAGE, ...WEB]);
      docker(env, ['network', 'create', 'bn-net']);
      docker(env, ['run', '-d', '--name', 'bn-c2c-sink', '--network', 'bn-net', IMAGE, ...SINK]);
      docker(env, ['run', '-d', '--name', 'bn-c2c-client', '--network', 'bn-net', IMAGE, 'sleep', '3600']);
      try {
        await waitSink(sinkPort);
        await waitHttp(webPort);
        for (let i = 0; i < RUNS; i++) {
          const t = await push(sinkPort, MB);
          r.push.push(MB / t);
          process.stdout.write(`${name}: ${MB} MiB through a published port in ${t.toFixed(2)} s (${(MB / t).toFixed(1)} MiB/s)\n`);
          const rps = await requestRate(webPort);
          r.rps.push(rps);
          process.stdout.write(`${name}: ${REQUESTS} requests, ${CONCURRENCY} at once: ${rps.toFixed(0)} req/s\n`);
          const c2c = c2cRate(env, 'bn-c2c-client', 'bn-c2c-sink', C2C_MB);
          r.c2c.push(c2c);
          process.stdout.write(`${name}: ${C2C_MB} MiB container to container: ${c2c.toFixed(1)} MB/s\n`);
        }
      } finally {
        docker(env, ['rm', '-f', 'bn-sink', 'bn-web', 'bn-c2c-sink', 'bn-c2c-client']);
        docker(env, ['network', 'rm', 'bn-net']);
      }
    }
    process.stdout.write(`\nmedians of ${RUNS} runs, accel TCG, load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}:\n`);
    const line = (what: string, k: 'push' | 'rps' | 'c2c', unit: string) =>
      process.stdout.write(`  ${what.padEnd(52)} ${Object.entries(results).map(([n, v]) => `${n} ${median(v[k]).toFixed(1)} ${unit}`).join('   ')}\n`);
    line(`${MB} MiB host -> container, published port (127.0.0.1)`, 'push', 'MiB/s');
    line(`HTTP GET through a published port (${CONCURRENCY} at once)`, 'rps', 'req/s');
    line(`${C2C_MB} MiB container -> container, one network`, 'c2c', 'MB/s');
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
