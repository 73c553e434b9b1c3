/**
 * The baseline dockerd 20.10 (Debian's docker.io, runc) of the benchmarks and of the tests that
 * compare with it, always in a network namespace of its own: the one place that starts one.
 * A dockerd on the host's network would change the host: with `--bridge=none` it deletes the
 * host's `docker0` (moby removes the default bridge interface when the bridge is disabled), so a
 * developer's own Docker loses its default network; it turns IPv4 forwarding on host-wide; with
 * its iptables rules it sets the FORWARD policy to DROP. In its namespace it does all that to
 * the namespace alone.
 *
 * In the namespace, the fixture registries' addresses (127.0.0.1:PORT, ports the run picked
 * free: test/fixtures/registry.ts) relay to the host's (socat: TCP -> a unix socket -> the
 * host's 127.0.0.1:PORT), so `docker pull 127.0.0.1:PORT/...` works the same for both daemons. What reaches the baseline's published
 * ports must run in the namespace too: `inNetns` gives the command prefix. `nsenter --net`, not
 * `ip netns exec`: the latter remounts /sys privately, which hides the host's /sys/fs/cgroup
 * from dockerd. nsenter execs dockerd, so the spawned process is dockerd itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { ping } from '../test/helpers/daemon';
import { fixtureRegistry } from '../test/fixtures/registry';

/** A network namespace for a baseline dockerd, with registries of the host relayed into it. */
export interface DockerdNetns {
  /** `nsenter --net=/run/netns/NS --` as an argv prefix. */
  inNetns: string[];
  /** Spawn `dockerd ...args` in the namespace (for a bench that stops and starts it itself). */
  spawnDockerd(args: string[], options?: SpawnOptions): ChildProcess;
  /** Stop the relays and delete the namespace (whatever runs in it must be stopped first). */
  remove(): Promise<void>;
}

/** A dockerd in its own network namespace. */
export interface NetnsDockerd {
  /** Environment for the docker CLI. */
  env: NodeJS.ProcessEnv;
  /** `nsenter --net=/run/netns/NS --` as an argv prefix. */
  inNetns: string[];
  /** SIGTERM dockerd (SIGKILL after 15 s), then remove its namespace. */
  stop(): Promise<void>;
}

/** What to start. */
export interface NetnsDockerdOptions {
  /**
   * dockerd's network flags. Default: its own default bridge and iptables rules (in the
   * namespace); `['--bridge=none', '--iptables=false']` is the plain baseline of most benches.
   */
  networkArgs?: string[];
  /** Registries on the host's loopback ("127.0.0.1:PORT") to relay (default: the fixture registry). */
  registries?: string[];
  /**
   * An unpacked docker.io (its usr/sbin/dockerd, usr/bin/docker-init, usr/sbin/docker-proxy)
   * to run instead of the host's dockerd: scripts/dockerd26.sh's, the API 1.45 oracle.
   */
  root?: string;
}

let made = 0;

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 15000);
  await gone;
  clearTimeout(t);
}

/**
 * The run's open fixture registry, when this process's run has one (jest's global setup or
 * ensureFixtureRegistries() set its address); none otherwise (a test that starts a dockerd
 * without the fixture registries, as test:privileged runs alone).
 */
function runningFixtureRegistries(): string[] {
  return process.env.PODVISOR_TEST_REGISTRY ? [fixtureRegistry()] : [];
}

/** Make the namespace under `base` (created) and relay `registries` into it (default: the run's fixture registry, if any). */
export function makeDockerdNetns(base: string, registries: string[] = runningFixtureRegistries()): DockerdNetns {
  fs.mkdirSync(base, { recursive: true });
  const ns = `pvbn-${process.pid}-${made++}`;
  const inNetns = ['nsenter', `--net=/run/netns/${ns}`, '--'];
  const relays: ChildProcess[] = [];
  execFileSync('ip', ['netns', 'add', ns]);
  const remove = async () => {
    for (const c of relays.reverse()) await stopChild(c);
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      // already gone
    }
  };
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const registry of registries) {
      const [host, port] = registry.split(':');
      const sock = path.join(base, `registry-${port}.sock`);
      relays.push(spawn('socat', [`UNIX-LISTEN:${sock},fork,mode=600`, `TCP:${registry}`], { stdio: 'ignore' }));
      relays.push(
        spawn(
          inNetns[0],
          [...inNetns.slice(1), 'socat', `TCP-LISTEN:${port},bind=${host},fork,reuseaddr`, `UNIX-CONNECT:${sock}`],
          { stdio: 'ignore' },
        ),
      );
    }
  } catch (err) {
    void remove();
    throw err;
  }
  return {
    inNetns,
    spawnDockerd: (args, options = {}) => spawn(inNetns[0], [...inNetns.slice(1), 'dockerd', ...args], options),
    remove,
  };
}

/**
 * Start dockerd under `base` (created: data and exec roots, socket, pidfile `base/pid`, log
 * `base/dockerd.log`) in a namespace of its own, and wait up to 30 s for its /_ping. Fails
 * when it does not answer (e.g. docker.io not installed: bootstrap --bench installs it).
 */
export async function startNetnsDockerd(base: string, o: NetnsDockerdOptions = {}): Promise<NetnsDockerd> {
  const netns = makeDockerdNetns(base, o.registries);
  const sock = path.join(base, 'dockerd.sock');
  const log = path.join(base, 'dockerd.log');
  let dockerd: ChildProcess | undefined;
  const stop = async () => {
    if (dockerd) await stopChild(dockerd);
    await netns.remove();
  };
  try {
    const args = [
      '--data-root',
      path.join(base, 'data'),
      '--exec-root',
      path.join(base, 'exec'),
      '-H',
      `unix://${sock}`,
      '--pidfile',
      path.join(base, 'pid'),
      ...(o.networkArgs ?? ['--iptables=true']),
    ];
    const env = o.root
      ? { ...process.env, PATH: `${o.root}/usr/sbin:${o.root}/usr/bin:${process.env.PATH ?? ''}` }
      : process.env;
    dockerd = netns.spawnDockerd(args, { stdio: ['ignore', 'ignore', fs.openSync(log, 'w')], env });
    for (let i = 0; i < 300 && dockerd.exitCode === null && !(await ping(sock)); i++) await sleep(100);
    if (!(await ping(sock))) throw new Error(`dockerd did not start: ${fs.readFileSync(log, 'utf8').slice(-2000)}`);
  } catch (err) {
    await stop();
    throw err;
  }
  const cfg = path.join(base, 'cli');
  fs.mkdirSync(cfg, { recursive: true });
  return { env: { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: cfg }, inNetns: netns.inNetns, stop };
}
