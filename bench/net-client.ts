/**
 * The client side of the network benchmark (./net.ts), run as its own process so that it can
 * run in the baseline dockerd's network namespace (./netns-dockerd.ts) as well as on the host:
 *
 *   net-client.ts push PORT MB             MB MiB of zeros to 127.0.0.1:PORT, half-close, wait
 *                                          for the sink's "done": prints the seconds
 *   net-client.ts rps PORT N CONCURRENCY   N GETs of / (CONCURRENCY at once, a new connection
 *                                          each): prints requests per second
 *   net-client.ts wait-sink PORT | wait-http PORT   until the server answers (exit 1 if never)
 */
import * as http from 'node:http';
import * as net from 'node:net';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

function getOnce(port: number, timeout?: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false, ...(timeout ? { timeout } : {}) }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject)
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error('timeout'));
      });
  });
}

/** `n` GETs, `concurrency` at once: requests per second. */
async function requestRate(port: number, n: number, concurrency: number): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const status = await getOnce(port);
      if (status !== 200) throw new Error(`HTTP ${status}`);
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function until(ok: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await ok().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`${what} never answered`);
}

async function main(): Promise<void> {
  const [mode, p, a, b] = process.argv.slice(2);
  const port = Number(p);
  if (mode === 'push') process.stdout.write(`${await push(port, Number(a))}\n`);
  else if (mode === 'rps') process.stdout.write(`${await requestRate(port, Number(a), Number(b))}\n`);
  else if (mode === 'wait-sink') await until(async () => (await push(port, 0)) >= 0, `the sink on port ${port}`);
  else if (mode === 'wait-http')
    await until(async () => (await getOnce(port, 2000)) === 200, `the server on port ${port}`);
  else throw new Error(`unknown mode ${mode}`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
