/**
 * Starts the real compiled daemon (`node dist/src/daemon/main.js`, built by the jest global
 * setup) as a child process for integration and compat tests:
 *
 *   const d = await startDaemon();                  // temp data/exec roots, unix socket
 *   execFileSync('docker', ['pull', ...], { env: d.env });   // stock CLI, private DOCKER_CONFIG
 *   new Dockerode({ socketPath: d.socketPath });
 *   await d.restart();                               // same roots, same socket
 *   await d.kill9();                                 // crash: SIGKILL, roots kept
 *   await d.stop();                                  // SIGTERM (then SIGKILL), temp dirs removed
 *
 * Options: extra daemon args, `vmPoolSize` (default 0), a fixed data root to share between
 * daemons. The daemon's log lines are kept and shown when it fails to come up.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { listVmProcesses, mountsUnder, processesNaming } from './leaks';
import { removeAllOwned } from '../../src/net/host';
import { removeAllSandboxNetworks } from '../../src/net/cni/sandbox-networks';

/** Where the compiled daemon is. */
export const DAEMON_MAIN = path.resolve(__dirname, '../../dist/src/daemon/main.js');

/** Options for startDaemon. */
export interface DaemonOptions {
  /** Extra podvisord flags. */
  args?: string[];
  /** --vm-pool-size (default 0: no idle VMs). */
  vmPoolSize?: number;
  /** Milliseconds to wait for /_ping (default 30 s). */
  readyTimeoutMs?: number;
  /** A data root of the caller's (e.g. on a small filesystem); it is left in place by stop(). */
  dataRoot?: string;
  /** The compiled daemon to run (default this tree's, DAEMON_MAIN): e.g. an older version's. */
  main?: string;
  /**
   * More environment for the daemon (e.g. PODVISOR_FAULT): a test's own process.env is
   * jest's copy, which a spawned child does not see. Read at each launch: a test may change
   * it before a restart (a fault armed for one launch only).
   */
  env?: Record<string, string>;
}

/** A running test daemon. */
export interface TestDaemon {
  socketPath: string;
  /** `unix:///.../docker.sock` */
  dockerHost: string;
  /** Environment for the docker CLI: DOCKER_HOST and a private DOCKER_CONFIG. */
  env: NodeJS.ProcessEnv;
  dataRoot: string;
  execRoot: string;
  /** The daemon's output so far. */
  logs(): string;
  /** The daemon's process id (undefined once it has exited). */
  pid(): number | undefined;
  /** SIGTERM, SIGKILL after 10 s; removes the temp dirs. */
  stop(): Promise<void>;
  /** SIGKILL, keeping the state (for crash tests; call restart() or stop() after). */
  kill9(): Promise<void>;
  /**
   * Stop (SIGTERM) if running, then start again on the same roots and socket (`main`: another
   * build; `whileStopped`: run between the two, e.g. to change the data root).
   */
  restart(main?: string, whileStopped?: () => void): Promise<void>;
}

/** GET /_ping on a unix socket: true when it answers OK. */
export function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/**
 * Remove the bridges, taps and firewall rules of the daemon of `dataRoot`, which has exited.
 * An `ip` or `iptables` it started can outlive it by a moment (their arguments carry the
 * owner mark, `podvisor <data root>`): they are waited for first, and the removal is done again
 * a moment later for anything they made meanwhile.
 */
async function removeNetworkOf(dataRoot: string): Promise<void> {
  const mark = `podvisor ${dataRoot}`;
  for (let i = 0; i < 50 && processesNaming(mark).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  await removeAllOwned(dataRoot);
  await new Promise((r) => setTimeout(r, 200));
  await removeAllOwned(dataRoot);
}

/** Start a daemon on fresh temp directories. */
export async function startDaemon(opts: DaemonOptions = {}): Promise<TestDaemon> {
  let main = opts.main ?? DAEMON_MAIN;
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run npx tsc -p tsconfig.build.json`);
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-test-'));
  const dataRoot = opts.dataRoot ?? path.join(base, 'data');
  const execRoot = path.join(base, 'exec');
  const socketPath = path.join(base, 'docker.sock');
  const dockerConfig = path.join(base, 'docker-config');
  fs.mkdirSync(dockerConfig);
  let child: ChildProcess | undefined;
  let output = '';
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    const args = [
      main,
      '--data-root',
      dataRoot,
      '--exec-root',
      execRoot,
      '-H',
      `unix://${socketPath}`,
      '--vm-pool-size',
      String(opts.vmPoolSize ?? 0),
      ...(opts.args ?? []),
    ];
    const c = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    });
    child = c;
    // This launch's own output (a restart keeps the earlier output in `output`).
    let launched = '';
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-200000);
      if (!launched.includes('CRI v1 listening on')) launched = (launched + b.toString()).slice(-100000);
    };
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    let gone = false;
    exited = new Promise((resolve) =>
      c.once('exit', () => {
        gone = true;
        resolve();
      }),
    );
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 30000);
    // The CRI front (on unless --no-cri) serves once the Docker API does and every running
    // container is re-adopted: ready is both, as a test may use either at once. Another build
    // (an earlier release, `main`) is ready at its first ping, as its own tests knew it.
    const withCri = !args.includes('--no-cri') && main === DAEMON_MAIN;
    while (Date.now() < deadline) {
      if (gone) throw new Error(`podvisord exited before it was ready:\n${output}`);
      if ((await ping(socketPath)) && (!withCri || launched.includes('CRI v1 listening on'))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    c.kill('SIGKILL');
    await exited;
    throw new Error(`podvisord did not answer /_ping in time:\n${output}`);
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (err) {
    // A daemon that exited or was killed before it was ready may have made its default bridge
    // and rules already: they go with its roots.
    await removeNetworkOf(dataRoot).catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
    throw err;
  }
  return {
    socketPath,
    dockerHost: `unix://${socketPath}`,
    env: {
      ...process.env,
      DOCKER_HOST: `unix://${socketPath}`,
      DOCKER_CONFIG: dockerConfig,
      DOCKER_CLI_HINTS: 'false',
    },
    dataRoot,
    execRoot,
    logs: () => output,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    stop: async () => {
      await terminate('SIGTERM');
      // A daemon killed earlier (kill9) left its bridges and rules, and its CRI sandboxes'
      // CNI networks: they go with its roots.
      await removeNetworkOf(dataRoot);
      await removeAllSandboxNetworks(execRoot);
      fs.rmSync(base, { recursive: true, force: true });
    },
    kill9: async () => {
      await terminate('SIGKILL');
    },
    restart: async (other?: string, whileStopped?: () => void) => {
      await terminate('SIGTERM');
      whileStopped?.();
      if (other) main = other;
      await launch();
    },
  };
}

/**
 * Stop a compat test's daemon and assert it left nothing: no QEMU or virtiofsd of its exec
 * root (a daemon leaves running containers' VMs for its successor, so a failed test could
 * leave one: it is killed here, then reported) and no mount under its data or exec root.
 */
export async function stopDaemonLeavingNothing(d: TestDaemon): Promise<void> {
  // Removing the roots fails while something is still mounted under them: that is reported
  // below, after what the failed test left is cleaned up, so later suites start clean.
  let stopError: unknown;
  await d.stop().catch((e: unknown) => {
    stopError = e;
  });
  const left = listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(d.execRoot));
  for (const p of left) process.kill(p.pid, 'SIGKILL');
  const mounts = [...mountsUnder(d.dataRoot), ...mountsUnder(d.execRoot)];
  if (left.length || mounts.length) {
    for (const m of mounts.slice().reverse()) {
      try {
        execFileSync('umount', ['-l', m]);
      } catch {
        // Gone meanwhile.
      }
    }
    await d.stop().catch(() => undefined);
  }
  expect(left).toEqual([]);
  expect(mounts).toEqual([]);
  // Nothing is left mounted now, yet removing the roots met a busy mount point: a detach that
  // was still settling as the daemon exited (seen under a full run's load, once for longer
  // than 200 ms). The roots are removed again for up to 5 s; only if that fails is it reported.
  for (let i = 0; i < 25 && stopError && (stopError as NodeJS.ErrnoException).code === 'EBUSY'; i++) {
    await new Promise((r) => setTimeout(r, 200));
    stopError = undefined;
    await d.stop().catch((e: unknown) => {
      stopError = e;
    });
  }
  if (stopError) throw stopError;
}
