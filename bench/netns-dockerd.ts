/**
 * The network benchmark's baseline: dockerd 20.10 (Debian's docker.io, runc) with its own
 * default bridge and its own iptables rules, in a network namespace of its own, so that it
 * neither touches the host's firewall nor suffers from it (another dockerd on this host sets
 * the FORWARD policy to DROP). The baseline of the other benchmarks (./common.ts) runs with
 * `--bridge=none`, which leaves published ports and user networks without a way in.
 *
 * In the namespace, 127.0.0.1:5000 relays to the host's fixture registry (socat: TCP -> a unix
 * socket -> the host's 127.0.0.1:5000), so `docker pull 127.0.0.1:5000/...` works the same for
 * both daemons. What measures the baseline's published ports must run in the namespace too:
 * `inNetns` gives the command prefix. `nsenter --net`, not `ip netns exec`: the latter remounts
 * /sys privately, which hides the host's /sys/fs/cgroup from dockerd.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { ping } from '../test/helpers/daemon';
import { sleep } from './common';

/** A dockerd in its own network namespace. */
export interface NetnsDockerd {
  /** Environment for the docker CLI. */
  env: NodeJS.ProcessEnv;
  /** `nsenter --net=/run/netns/NS --` as an argv prefix. */
  inNetns: string[];
  stop(): Promise<void>;
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 15000);
  await gone;
  clearTimeout(t);
}

/** Start it under `base` (created), with `registry` (host:port on the host's loopback) relayed. */
export async function startNetnsDockerd(base: string, registry: string): Promise<NetnsDockerd> {
  fs.mkdirSync(base, { recursive: true });
  const ns = `pvbn-${process.pid}`;
  const port = registry.split(':')[1];
  const relaySock = path.join(base, 'registry.sock');
  const sock = path.join(base, 'dockerd.sock');
  const children: ChildProcess[] = [];
  execFileSync('ip', ['netns', 'add', ns]);
  const stop = async () => {
    for (const c of children.reverse()) await stopChild(c);
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      // already gone
    }
  };
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    children.push(spawn('socat', [`UNIX-LISTEN:${relaySock},fork,mode=600`, `TCP:${registry}`], { stdio: 'ignore' }));
    children.push(spawn('nsenter', [`--net=/run/netns/${ns}`, '--', 'socat', `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${relaySock}`], { stdio: 'ignore' }));
    const dockerd = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', 'dockerd', '--data-root', path.join(base, 'data'), '--exec-root', path.join(base, 'exec'),
      '-H', `unix://${sock}`, '--pidfile', path.join(base, 'pid'), '--iptables=true'], { stdio: ['ignore', 'ignore', fs.openSync(path.join(base, 'dockerd.log'), 'w')] });
    children.push(dockerd);
    for (let i = 0; i < 300 && !(await ping(sock)); i++) await sleep(100);
    if (!(await ping(sock))) throw new Error(`dockerd did not start: ${fs.readFileSync(path.join(base, 'dockerd.log'), 'utf8').slice(-2000)}`);
  } catch (err) {
    await stop();
    throw err;
  }
  const cfg = path.join(base, 'cli');
  fs.mkdirSync(cfg, { recursive: true });
  return { env: { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: cfg }, inNetns: ['nsenter', `--net=/run/netns/${ns}`, '--'], stop };
}
