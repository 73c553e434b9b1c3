/**
 * The baseline of the CRI benchmark: a private containerd 1.6 (Debian's, with its CRI plugin
 * and runc) on its own socket, root and state directories under the bench's directory, with a
 * CNI configuration and registry mirrors of the bench's. Nothing of it is shared with a
 * containerd of the host (none needs to run).
 *
 * Cleanup (`stop`): every sandbox it still has is stopped and removed through the CRI (which
 * runs CNI DEL and removes its network namespace), containerd gets SIGTERM (SIGKILL after
 * 15 s), runc shims still serving its socket are killed, mounts left under its directories are
 * unmounted; the CNI bridge and iptables rules are the caller's (see bench/cri.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { criClient, type CriClient } from '../test/helpers/cri';
import { mountsUnder } from '../test/helpers/leaks';

/** A running private containerd. */
export interface PrivateContainerd {
  /** Its CRI socket. */
  socket: string;
  /** Its log so far. */
  logs(): string;
  /** Remove its sandboxes, stop it and what it left (idempotent). */
  stop(): Promise<void>;
}

/** What the private containerd is given. */
export interface ContainerdOptions {
  /** Directory for its config, root, state, socket and log (created). */
  base: string;
  /** Directory of the CNI configuration it runs for every sandbox. */
  cniConfDir: string;
  /** Registries (`registry.k8s.io`, ...) to serve from `mirror` (`127.0.0.1:PORT`, plain HTTP). */
  mirrored: string[];
  mirror: string;
  /** Its sandbox ("pause") image, e.g. `registry.k8s.io/pause:3.9`. */
  sandboxImage: string;
}

/** The config.toml (version 2) of the private containerd. */
export function containerdConfig(o: ContainerdOptions): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  const lines = [
    'version = 2',
    `root = "${path.join(o.base, 'root')}"`,
    `state = "${path.join(o.base, 'state')}"`,
    '[grpc]',
    `  address = "${path.join(o.base, 'containerd.sock')}"`,
    '[ttrpc]',
    `  address = "${path.join(o.base, 'containerd.sock.ttrpc')}"`,
    '[debug]',
    `  address = "${path.join(o.base, 'debug.sock')}"`,
    '[metrics]',
    '  address = ""',
    `[plugins."io.containerd.internal.v1.opt"]`,
    `  path = "${path.join(o.base, 'opt')}"`,
    `[${cri}]`,
    `  sandbox_image = "${o.sandboxImage}"`,
    // Root here lacks CAP_SYS_RESOURCE: containerd must not raise oom_score_adj.
    '  restrict_oom_score_adj = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.cni]`,
    '  bin_dir = "/usr/lib/cni"',
    `  conf_dir = "${o.cniConfDir}"`,
  ];
  for (const r of o.mirrored) lines.push(`[${cri}.registry.mirrors."${r}"]`, `  endpoint = ["http://${o.mirror}"]`);
  return lines.join('\n') + '\n';
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 15000);
  await gone;
  clearTimeout(t);
}

/** Pids of containerd-shim processes serving `socket` (they outlive containerd by design). */
function shimsOf(socket: string): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (/containerd-shim/.test(argv[0]) && argv.includes(socket)) pids.push(Number(e));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Stop and remove every sandbox of the CRI at `cri` (best effort). */
async function removeAllSandboxes(cri: CriClient): Promise<void> {
  const list = await cri.runtime<{ items: Array<{ id: string }> }>('ListPodSandbox', {}).catch(() => ({ items: [] }));
  for (const s of list.items) {
    await cri.runtime('StopPodSandbox', { pod_sandbox_id: s.id }, 60_000).catch(() => undefined);
    await cri.runtime('RemovePodSandbox', { pod_sandbox_id: s.id }, 60_000).catch(() => undefined);
  }
}

/** Start containerd and wait (up to 30 s) until its CRI answers Version. */
export async function startContainerd(o: ContainerdOptions): Promise<PrivateContainerd> {
  fs.mkdirSync(o.base, { recursive: true });
  const cfg = path.join(o.base, 'config.toml');
  fs.writeFileSync(cfg, containerdConfig(o));
  const socket = path.join(o.base, 'containerd.sock');
  let log = '';
  const child = spawn('/usr/bin/containerd', ['--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-100000)));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null) {
      const cri = criClient(socket);
      await removeAllSandboxes(cri);
      cri.close();
    }
    await stopChild(child);
    for (const pid of shimsOf(socket)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const m of mountsUnder(o.base).reverse()) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  };
  const cri = criClient(socket);
  try {
    let up = false;
    for (let i = 0; i < 300 && child.exitCode === null && !up; i++) {
      up =
        fs.existsSync(socket) &&
        (await cri
          .runtime('Version', {}, 2000)
          .then(() => true)
          .catch(() => false));
      if (!up) await sleep(100);
    }
    if (!up) throw new Error(`containerd did not start: ${log.slice(-2000)}`);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    cri.close();
  }
  return { socket, logs: () => log, stop };
}
