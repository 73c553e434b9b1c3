/**
 * A daemon that is safe to expose, through the stock docker CLI and real VMs: TCP only with
 * TLS and client certificates (DOCKER_TLS_VERIFY / DOCKER_CERT_PATH), refused connections, the
 * unix socket's mode and group, daemon.json (valid, conflicting, unknown keys), log drivers,
 * and json-file rotation so that a chatty container cannot fill the disk.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DAEMON_MAIN, startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { ptySession } from '../helpers/pty';
import { makeTlsFiles, type TlsFiles } from '../helpers/tls-certs';
import { lookupGid } from '../../src/daemon/listen';
import { fixtureRegistry } from '../fixtures/registry';
import { freePort } from '../helpers/docker-cli';

jest.setTimeout(180000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;

interface Result {
  out: string;
  err: string;
  code: number;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string | Buffer): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env, timeout: 120000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : 1
        : 0;
      resolve({ out: String(stdout), err: String(stderr), code });
    });
    child.stdin?.end(input);
  });
}

/** Run the daemon binary with `args`; resolves with its exit code and output (for refusals). */
function daemonExit(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [DAEMON_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (b) => (out += b));
    c.stderr.on('data', (b) => (out += b));
    const t = setTimeout(() => c.kill('SIGKILL'), 30000);
    c.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

describe('exposure: TLS, socket, daemon.json, log drivers and rotation (docker CLI, real VMs)', () => {
  let base: string;
  let certs: TlsFiles;
  let port: number;
  let d: TestDaemon;
  /** Environment of the CLI over TCP + TLS with the CA's client certificate. */
  let tlsEnv: NodeJS.ProcessEnv;
  const docker = (args: string[], env: NodeJS.ProcessEnv = d.env, input?: string | Buffer) =>
    run('/usr/local/bin/docker', args, env, input);

  beforeAll(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-expose-'));
    certs = makeTlsFiles(base);
    port = await freePort();
    const config = path.join(base, 'daemon.json');
    // TLS and the default log options come from the file, the listen addresses from flags.
    fs.writeFileSync(
      config,
      JSON.stringify({
        tlsverify: true,
        tlscacert: certs.ca,
        tlscert: certs.serverCert,
        tlskey: certs.serverKey,
        'log-opts': { 'max-size': '20k', 'max-file': '2' },
      }),
    );
    d = await startDaemon({ args: ['--config-file', config, '-H', `tcp://127.0.0.1:${port}`] });
    tlsEnv = {
      ...d.env,
      DOCKER_HOST: `tcp://127.0.0.1:${port}`,
      DOCKER_TLS_VERIFY: '1',
      DOCKER_CERT_PATH: certs.clientDir,
    };
    const pull = await docker(['pull', '-q', IMAGE], tlsEnv);
    expect(pull.err).toBe('');
  });

  afterAll(async () => {
    // A failed test may leave containers running: remove them so that their VMs go too.
    if (d) {
      const left = (await docker(['ps', '-aq'])).out.split('\n').filter(Boolean);
      if (left.length) await docker(['rm', '-f', ...left]);
      await stopDaemonLeavingNothing(d);
    }
    fs.rmSync(base, { recursive: true, force: true });
  });

  test('the stock CLI over TLS: run -i, exec -i and exec -it carry their streams', async () => {
    expect(d.logs()).toContain(`API listening on tcp://127.0.0.1:${port} (TLS, client certificates verified)`);
    const input = Buffer.alloc(300000, 'x');
    const r = await docker(['run', '--rm', '-i', IMAGE, 'sh', '-c', 'wc -c'], tlsEnv, input);
    expect(r.err).toBe('');
    expect(r.out.trim()).toBe('300000');

    expect((await docker(['run', '-d', '--name', 'tlsbox', IMAGE, 'sleep', '600'], tlsEnv)).code).toBe(0);
    const cat = await docker(['exec', '-i', 'tlsbox', 'sh', '-c', 'cat; echo " [done]"'], tlsEnv, 'over tls');
    expect(cat.out).toBe('over tls [done]\n');
    const t = ptySession('stty rows 33 cols 77; exec docker exec -it tlsbox sh', tlsEnv);
    await t.expect(/\/ # /, 60000);
    t.type('echo tty=$(tty) size=$(stty size) sum=$((6*7))\r');
    await t.expect(/tty=\/dev\/pts\/\d+ size=33 77 sum=42\r\n/, 30000);
    t.type('exit 3\r');
    expect(await t.exited).toBe(3);
    expect((await docker(['rm', '-f', 'tlsbox'], tlsEnv)).code).toBe(0);
  });

  test('TCP refuses clients without a certificate of the CA, and plain HTTP', async () => {
    const plain = await docker(['version', '--format', '{{.Server.Version}}'], {
      ...d.env,
      DOCKER_HOST: `tcp://127.0.0.1:${port}`,
    });
    expect(plain.code).not.toBe(0);
    expect(plain.out.trim()).toBe('');
    // TLS, the server verified, but no client certificate.
    const noCert = await docker(['--tls', '--tlscacert', certs.ca, 'version', '--format', '{{.Server.Version}}'], {
      ...d.env,
      DOCKER_HOST: `tcp://127.0.0.1:${port}`,
    });
    expect(noCert.code).not.toBe(0);
    expect(noCert.out.trim()).toBe('');
    expect(noCert.err).toMatch(/certificate|tls|EOF|connection reset/i);
    const wrongCa = await docker(['version', '--format', '{{.Server.Version}}'], {
      ...tlsEnv,
      DOCKER_CERT_PATH: certs.otherCaClientDir,
    });
    expect(wrongCa.code).not.toBe(0);
    expect(wrongCa.out.trim()).toBe('');
    const good = await docker(['version', '--format', '{{.Server.Version}}'], tlsEnv);
    expect(good.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(d.logs()).toMatch(/TLS handshake error from 127\.0\.0\.1/);
  });

  test('the unix socket is 0660, group docker when that group exists', () => {
    const st = fs.statSync(d.socketPath);
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.gid).toBe(lookupGid('docker') ?? process.getgid?.());
  });

  test('log drivers: unknown refused (400), none keeps no log, bad values fail the start', async () => {
    const bogus = await docker(['run', '--rm', '--log-driver=bogus', IMAGE, 'true']);
    expect(bogus.code).toBe(125);
    expect(bogus.err).toContain('error looking up logging plugin bogus: plugin "bogus" not found');
    const opt = await docker(['create', '--log-opt', 'foo=bar', IMAGE, 'true']);
    expect(opt.err).toContain("unknown log opt 'foo' for json-file log driver");
    const none = await docker(['run', '--name', 'quiet', '--log-driver', 'none', IMAGE, 'echo', 'not kept']);
    expect(none.out).toBe('not kept\n');
    const logs = await docker(['logs', 'quiet']);
    expect(logs.code).not.toBe(0);
    expect(logs.err).toContain('configured logging driver does not support reading');
    const bad = await docker(['run', '--name', 'badsize', '--log-opt', 'max-size=abc', IMAGE, 'true']);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain("failed to initialize logging driver: invalid size: 'abc'");
    // The daemon's default options (from daemon.json) show on a container that names none.
    const i = JSON.parse((await docker(['inspect', 'quiet', 'badsize'])).out);
    expect(i[0].HostConfig.LogConfig).toEqual({ Type: 'none', Config: {} });
    expect(i[1].HostConfig.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': 'abc', 'max-file': '2' } });
    await docker(['rm', '-f', 'quiet', 'badsize']);
  });

  test('a chatty container cannot fill the disk; logs (and logs -f across rotations) show the tail in order', async () => {
    const N = 20000;
    const script = `i=0; while [ $i -lt ${N} ]; do echo "line $i ----------------------------------------"; i=$((i+1)); done`;
    const c = await docker([
      'run',
      '-d',
      '--name',
      'chatty',
      '--log-opt',
      'max-size=10k',
      '--log-opt',
      'max-file=3',
      IMAGE,
      'sh',
      '-c',
      `sleep 1; ${script}`,
    ]);
    expect(c.code).toBe(0);
    const id = c.out.trim();
    // Follow from the start: every line arrives, in order, however often the file rotates.
    const follow = docker(['logs', '-f', 'chatty']);
    expect((await docker(['wait', 'chatty'])).out.trim()).toBe('0');
    const followed = (await follow).out.trim().split('\n');
    expect(followed).toHaveLength(N);
    expect(followed.every((l, i) => l.startsWith(`line ${i} `))).toBe(true);

    const dir = path.join(d.dataRoot, 'containers', id);
    // The log's stream positions (<log>.pos, 56 bytes) sit beside it; no rotated file beyond max-file.
    const names = fs
      .readdirSync(dir)
      .filter((f) => f.startsWith(`${id}-json.log`))
      .sort();
    expect(names).toEqual([`${id}-json.log`, `${id}-json.log.1`, `${id}-json.log.2`, `${id}-json.log.pos`]);
    const files = names.filter((f) => !f.endsWith('.pos'));
    const total = files.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    // 3 files of 10 kB, each at most one entry over (dockerd's rule); the output was ~1.1 MB.
    expect(total).toBeLessThan(3 * (10000 + 200));

    const kept = (await docker(['logs', 'chatty'])).out.trim().split('\n');
    expect(kept.length).toBeGreaterThan(100);
    expect(kept.length).toBeLessThan(N);
    const first = Number(kept[0].split(' ')[1]);
    expect(kept.every((l, i) => l.startsWith(`line ${first + i} `))).toBe(true);
    expect(kept[kept.length - 1]).toMatch(new RegExp(`^line ${N - 1} `));
    const tail = (await docker(['logs', '--tail', '2', 'chatty'])).out.trim().split('\n');
    expect(tail.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([`line ${N - 2}`, `line ${N - 1}`]);
    await docker(['rm', '-f', 'chatty']);
  });

  test('startup refusals: plain tcp without --insecure-tcp, daemon.json conflicts and unknown keys', async () => {
    const roots = ['--data-root', path.join(base, 'r-data'), '--exec-root', path.join(base, 'r-exec')];
    const plain = await daemonExit([...roots, '-H', 'tcp://127.0.0.1:1']);
    expect(plain.code).toBe(1);
    expect(plain.out).toContain('refusing to serve tcp://127.0.0.1:1 without TLS');
    expect(plain.out).toContain('--insecure-tcp');

    const conflict = path.join(base, 'conflict.json');
    fs.writeFileSync(conflict, JSON.stringify({ 'data-root': '/elsewhere' }));
    const c = await daemonExit([...roots, '--config-file', conflict]);
    expect(c.code).toBe(1);
    expect(c.out).toContain(
      `unable to configure the Docker daemon with file ${conflict}: the following directives are specified both as a flag and in the configuration file: data-root: (from flag: ${path.join(base, 'r-data')}, from file: /elsewhere)`,
    );

    const unknown = path.join(base, 'unknown.json');
    fs.writeFileSync(unknown, JSON.stringify({ 'storage-driver': 'overlay2', debug: true }));
    const u = await daemonExit([...roots, '--config-file', unknown]);
    expect(u.code).toBe(1);
    expect(u.out).toContain("the following directives don't match any configuration option: debug, storage-driver");

    const group = await daemonExit([...roots, '-H', `unix://${path.join(base, 'g.sock')}`, '-G', 'no-such-group-here']);
    expect(group.code).toBe(1);
    expect(group.out).toContain('failed to load listeners: group no-such-group-here not found');
  });

  test('--insecure-tcp serves plain tcp, logged loudly', async () => {
    const p = await freePort();
    const insecure = await startDaemon({ args: ['-H', `tcp://127.0.0.1:${p}`, '--insecure-tcp'] });
    try {
      expect(insecure.logs()).toContain(`tcp://127.0.0.1:${p} is served WITHOUT TLS (--insecure-tcp)`);
      const v = await docker(['version', '--format', '{{.Server.Version}}'], {
        ...insecure.env,
        DOCKER_HOST: `tcp://127.0.0.1:${p}`,
      });
      expect(v.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
    } finally {
      await stopDaemonLeavingNothing(insecure);
    }
  });
});
