/**
 * The baseline dockerd (bench/netns-dockerd.ts, used by the benches and by the compat tests that
 * compare with dockerd) leaves the network of whoever starts it alone. Started on the host's
 * network with `--bridge=none`, dockerd deleted the host's `docker0`, breaking a developer's own
 * Docker during `npm test`, and turned IPv4 forwarding on host-wide. Here a network namespace
 * with a `docker0` bridge and forwarding off stands for a developer's host; the baseline is
 * started and stopped from inside it, as `npm test` would on the real host. Needs root and
 * Debian's docker.io.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

jest.setTimeout(120000);

const tag = (process.pid % 10000).toString(16).padStart(4, '0');
const HOST = `pvt-${tag}-dh`;
const REPO = path.join(__dirname, '..', '..', '..');
const inHost = (cmd: string): string =>
  execFileSync('bash', ['-c', `ip netns exec ${HOST} ${cmd}`], { encoding: 'utf8' });

let base: string;

beforeAll(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-baseline-'));
  // A new namespace takes its IPv4 settings from the host's: forwarding off, as on a fresh host.
  execFileSync('bash', [
    '-c',
    `ip netns add ${HOST} && ip -n ${HOST} link set lo up && ip -n ${HOST} link add docker0 type bridge && ip netns exec ${HOST} sysctl -qw net.ipv4.ip_forward=0`,
  ]);
});

afterAll(() => {
  execFileSync('bash', ['-c', `ip netns del ${HOST} 2>/dev/null || true`]);
  fs.rmSync(base, { recursive: true, force: true });
});

test("a baseline dockerd started and stopped leaves the host's docker0 and forwarding as they were", async () => {
  expect(inHost('cat /proc/sys/net/ipv4/ip_forward').trim()).toBe('0');
  // Start it, ask it something through the CLI, stop it: all from the "host".
  const script = `
    const { execFileSync } = require('node:child_process');
    const { startDockerd } = require(${JSON.stringify(path.join(REPO, 'bench', 'common'))});
    (async () => {
      const d = await startDockerd(${JSON.stringify(path.join(base, 'dockerd'))});
      try {
        process.stdout.write(execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { env: d.env, encoding: 'utf8' }).trim() + ' ' + process.pid + '\\n');
      } finally {
        await d.stop();
      }
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const out = await new Promise<string>((resolve, reject) => {
    // nsenter, not `ip netns exec`, whose private /sys would hide the cgroups from dockerd.
    execFile(
      'nsenter',
      [
        `--net=/run/netns/${HOST}`,
        '--',
        path.join(REPO, 'node_modules', '.bin', 'ts-node'),
        '--transpile-only',
        '-P',
        path.join(REPO, 'tsconfig.json'),
        '-e',
        script,
      ],
      { encoding: 'utf8', cwd: REPO },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
  // The version, and the pid of the process that started it (its namespaces are named by it).
  const [version, starter] = out.trim().split(' ');
  expect(version).toMatch(/^20\.10\./);
  expect(JSON.parse(inHost('ip -j link show')).map((l: { ifname: string }) => l.ifname)).toContain('docker0');
  expect(inHost('cat /proc/sys/net/ipv4/ip_forward').trim()).toBe('0');
  // And its own namespace went with it (another run's baselines may have theirs meanwhile).
  expect(starter).toMatch(/^[0-9]+$/);
  expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toMatch(new RegExp(`^pvbn-${starter}-`, 'm'));
});
