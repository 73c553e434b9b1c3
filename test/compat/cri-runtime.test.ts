/**
 * The CRI v1 RuntimeService's sandbox, container and exec calls through the real daemon and
 * real VMs, with our grpc-js test client (test/helpers/cri.ts), on a private CNI network of
 * Debian's plugins (bridge pvtcni13 on 10.99.13.0/24, host-local, portmap, firewall):
 *
 *  - Status: NetworkReady true with the configuration;
 *  - RunPodSandbox (hostname, DNS config, labels, annotations, log directory), PodSandboxStatus
 *    with the pod's IP on the CNI subnet, ListPodSandbox with its filters; host namespaces refused;
 *  - a busybox container created in it (command, args, env, working dir, a read-only host
 *    mount), started, ContainerStatus running, ExecSync (output, exit code, hostname, DNS,
 *    the mount), its log in the CRI format at log_directory/log_path, ListContainers filters;
 *  - Exec, Attach and PortForward through the streaming server's URLs (SPDY); the stats calls;
 *    UpdateContainerResources; ReopenContainerLog;
 *  - StopContainer: exit code and reason; RemoveContainer; StopPodSandbox, RemovePodSandbox;
 *  - a daemon SIGKILL keeps a running sandbox and container; a dead sandbox VM exits its container;
 *  - `docker ps -a` shows the sandbox and container while they exist;
 *  - nothing left: no VM, mount, CNI namespace, bridge or plugin rule.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { listVmProcesses } from '../helpers/leaks';
import type { TestDaemon } from '../helpers/daemon';
import { startCriTestDaemon, stopCriTestDaemon, type CriTestDaemon } from '../helpers/cri-daemon';
import { criClient, criFailure, type CriClient } from '../helpers/cri';
import { fixtureRegistry } from '../fixtures/registry';
import { spdyDial, spdyRemoteCommand } from '../unit/api/cri/streaming/clients';
import type { TestCniNet } from '../privileged/net/helpers/cni-net';

jest.setTimeout(300_000);

const REG = fixtureRegistry();
const BUSYBOX = `${REG}/busybox:latest`;

/** A status message as the client decodes it (64-bit times as decimal strings). */
type Status = Record<string, unknown> & {
  network: { ip: string };
  started_at: string;
  finished_at: string;
  state: string;
};

let d: TestDaemon;
let h: CriTestDaemon;
let cri: CriClient;
let dir: string;
let t: TestCniNet;

function docker(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/usr/local/bin/docker', args, { env: d.env, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${String(stderr).trim()}\n${String(stdout).trim()}`.trim()));
      else resolve(String(stdout));
    });
  });
}

function sandboxConfig(name: string, extra: object = {}): object {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    hostname: `${name}-host`,
    log_directory: path.join(dir, 'logs', name),
    dns_config: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
    labels: { app: name, tier: 'test' },
    annotations: { 'example.com/note': 'kept' },
    ...extra,
  };
}

beforeAll(async () => {
  h = await startCriTestDaemon('podvisor-cri-rt-', 13, BUSYBOX);
  ({ dir, net: t, daemon: d, cri } = h);
});

afterAll(() => stopCriTestDaemon(h && { ...h, cri }));

describe('CRI runtime service', () => {
  it('answers NetworkReady from the CNI configuration', async () => {
    const s = await cri.runtime<{ status: { conditions: Array<{ type: string; status: boolean }> } }>('Status', {});
    expect(s.status.conditions).toContainEqual(expect.objectContaining({ type: 'NetworkReady', status: true }));
  });

  it('refuses a sandbox in the host network namespace, creating nothing', async () => {
    const err = await criFailure(
      cri.runtime('RunPodSandbox', {
        config: sandboxConfig('hostnet', {
          linux: { security_context: { namespace_options: { network: 'NODE' } } },
        }),
      }),
    );
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/host's network namespace/);
    const l = await cri.runtime<{ items: unknown[] }>('ListPodSandbox', {});
    expect(l.items).toEqual([]);
  });

  it('runs a sandbox and a container in it, through exec, logs, stop and removal', async () => {
    const hostDir = path.join(dir, 'share');
    fs.mkdirSync(hostDir);
    fs.writeFileSync(path.join(hostDir, 'data.txt'), 'from the host\n');
    const config = sandboxConfig('web');
    const run = await cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config }, 240_000);
    const sid = run.pod_sandbox_id;
    expect(sid).toMatch(/^[0-9a-f]{64}$/);

    const st = await cri.runtime<{ status: Status }>('PodSandboxStatus', { pod_sandbox_id: sid });
    expect(st.status).toMatchObject({
      id: sid,
      state: 'SANDBOX_READY',
      metadata: { name: 'web', uid: 'uid-web', namespace: 'default', attempt: 0 },
      labels: { app: 'web', tier: 'test' },
      annotations: { 'example.com/note': 'kept' },
    });
    expect(st.status.network.ip).toMatch(new RegExp(`^${t.prefix.replace(/\./g, '\\.')}\\.\\d+$`));

    const byLabel = await cri.runtime<{ items: Array<{ id: string }> }>('ListPodSandbox', {
      filter: { label_selector: { app: 'web' } },
    });
    expect(byLabel.items.map((i) => i.id)).toEqual([sid]);
    const none = await cri.runtime<{ items: unknown[] }>('ListPodSandbox', {
      filter: { label_selector: { app: 'other' } },
    });
    expect(none.items).toEqual([]);
    const notReady = await cri.runtime<{ items: unknown[] }>('ListPodSandbox', {
      filter: { state: { state: 'SANDBOX_NOTREADY' } },
    });
    expect(notReady.items).toEqual([]);

    const created = await cri.runtime<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: sid,
      config: {
        metadata: { name: 'app', attempt: 0 },
        image: { image: BUSYBOX },
        command: ['sh', '-c'],
        args: [
          'mkdir -p /tmp/www; echo hello-pf > /tmp/www/index.html; httpd -p 8080 -h /tmp/www; ' +
            'echo started; echo oops >&2; trap "exit 3" TERM; ' +
            'while true; do if [ -f /tmp/tick ]; then rm /tmp/tick; echo tick; fi; sleep 1; done',
        ],
        working_dir: '/tmp',
        envs: [{ key: 'GREETING', value: 'hello there' }],
        mounts: [{ container_path: '/hostdata', host_path: hostDir, readonly: true }],
        labels: { role: 'main' },
        annotations: { 'example.com/c': 'yes' },
        log_path: 'app/0.log',
      },
      sandbox_config: config,
    });
    const cid = created.container_id;
    const listed = await cri.runtime<{ containers: Array<{ id: string; state: string }> }>('ListContainers', {
      filter: { pod_sandbox_id: sid },
    });
    expect(listed.containers).toEqual([expect.objectContaining({ id: cid, state: 'CONTAINER_CREATED' })]);

    await cri.runtime('StartContainer', { container_id: cid }, 240_000);
    const cs = await cri.runtime<{ status: Status }>('ContainerStatus', { container_id: cid });
    expect(cs.status).toMatchObject({
      id: cid,
      state: 'CONTAINER_RUNNING',
      metadata: { name: 'app', attempt: 0 },
      image: { image: BUSYBOX },
      labels: { role: 'main' },
      annotations: { 'example.com/c': 'yes' },
      log_path: path.join(dir, 'logs', 'web', 'app/0.log'),
      mounts: [expect.objectContaining({ container_path: '/hostdata', host_path: hostDir, readonly: true })],
    });
    expect(BigInt(cs.status.started_at)).toBeGreaterThan(0n);

    const exec = async (cmd: string[], timeout = 60) => {
      const r = await cri.runtime<{ stdout: Buffer; stderr: Buffer; exit_code: number }>(
        'ExecSync',
        { container_id: cid, cmd, timeout },
        120_000,
      );
      return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), code: r.exit_code };
    };
    expect(await exec(['echo', 'hi'])).toEqual({ stdout: 'hi\n', stderr: '', code: 0 });
    expect(await exec(['sh', '-c', 'echo err >&2; exit 7'])).toEqual({ stdout: '', stderr: 'err\n', code: 7 });
    expect((await exec(['sh', '-c', 'echo "$GREETING"; pwd; hostname'])).stdout).toBe('hello there\n/tmp\nweb-host\n');
    expect((await exec(['cat', '/etc/resolv.conf'])).stdout).toBe(
      'nameserver 10.96.0.10\nsearch default.svc.cluster.local\noptions ndots:5\n',
    );
    expect((await exec(['cat', '/hostdata/data.txt'])).stdout).toBe('from the host\n');
    expect((await exec(['sh', '-c', 'echo x > /hostdata/new.txt'])).code).not.toBe(0);
    const ip = (await exec(['ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout;
    expect(ip).toContain(`inet ${st.status.network.ip}/24`);
    const timedOut = await criFailure(
      cri.runtime('ExecSync', { container_id: cid, cmd: ['sleep', '30'], timeout: 1 }, 60_000),
    );
    expect(timedOut.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // Kubernetes' checkpoint of a container with a host-path mount (on the VM's file share):
    // refused with the reason (docs/cri.md, "CheckpointContainer"), nothing written.
    const checkpoint = await criFailure(
      cri.runtime('CheckpointContainer', { container_id: cid, location: '/tmp/podvisor-cri-checkpoint.tar' }),
    );
    expect(checkpoint.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(checkpoint.details).toMatch(
      /host-path mounts \(\/hostdata\) are on the VM's file share, which QEMU cannot save/,
    );
    expect(fs.existsSync('/tmp/podvisor-cri-checkpoint.tar')).toBe(false);

    // Exec through the streaming server's URL, over SPDY as crictl and the kubelet dial it.
    const ex = await cri.runtime<{ url: string }>('Exec', {
      container_id: cid,
      cmd: ['sh', '-c', 'echo via-url; echo e >&2'],
      stdout: true,
      stderr: true,
    });
    expect(ex.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/exec\//);
    const viaUrl = await spdyRemoteCommand(ex.url, { stdout: true, stderr: true });
    expect(viaUrl).toMatchObject({ stdout: 'via-url\n', stderr: 'e\n' });
    expect(JSON.parse(viaUrl.error)).toEqual({ metadata: {}, status: 'Success' });

    // Stats: the container's cgroup in the VM, and the sandbox with its container.
    type Usage = { attributes: { id: string }; cpu: { usage_core_nano_seconds: { value: string } } } & {
      memory: { working_set_bytes: { value: string } };
    };
    const cst = await cri.runtime<{ stats: Usage }>('ContainerStats', { container_id: cid });
    expect(cst.stats.attributes.id).toBe(cid);
    expect(Number(cst.stats.cpu.usage_core_nano_seconds.value)).toBeGreaterThan(0);
    expect(Number(cst.stats.memory.working_set_bytes.value)).toBeGreaterThan(0);
    const lst = await cri.runtime<{ stats: Usage[] }>('ListContainerStats', { filter: { pod_sandbox_id: sid } });
    expect(lst.stats.map((x) => x.attributes.id)).toEqual([cid]);
    const pst = await cri.runtime<{ stats: { attributes: { id: string }; linux: { containers: Usage[] } } }>(
      'PodSandboxStats',
      { pod_sandbox_id: sid },
    );
    expect(pst.stats.attributes.id).toBe(sid);
    expect(pst.stats.linux.containers.map((x) => x.attributes.id)).toEqual([cid]);

    // UpdateContainerResources: the memory limit of the running container's cgroup.
    await cri.runtime('UpdateContainerResources', {
      container_id: cid,
      linux: { memory_limit_in_bytes: 64 * 1024 * 1024 },
    });
    expect((await exec(['cat', '/sys/fs/cgroup/memory.max'])).stdout).toBe(`${64 * 1024 * 1024}\n`);

    // PortForward through the streaming server's URL (SPDY, as kubectl port-forward) to the pod's port.
    const pf = await cri.runtime<{ url: string }>('PortForward', { pod_sandbox_id: sid, port: [8080] });
    expect(pf.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/portforward\//);
    const { conn } = await spdyDial(pf.url, ['portforward.k8s.io']);
    try {
      const perr = await conn.createStream({ streamtype: ['error'], port: ['8080'], requestid: ['0'] });
      perr.end();
      const data = await conn.createStream({ streamtype: ['data'], port: ['8080'], requestid: ['0'] });
      let body = '';
      const ended = new Promise<void>((resolve) => {
        data.on('data', (c: Buffer) => (body += c.toString()));
        data.on('end', () => resolve());
      });
      data.end('GET /index.html HTTP/1.0\r\n\r\n');
      await ended;
      expect(body).toMatch(/^HTTP\/1\.[01] 200/);
      expect(body).toContain('hello-pf\n');
    } finally {
      conn.destroy();
    }

    // ReopenContainerLog: the kubelet renames the log, then new output goes to a new file.
    const logFile = path.join(dir, 'logs', 'web', 'app', '0.log');
    fs.renameSync(logFile, `${logFile}.1`);
    await cri.runtime('ReopenContainerLog', { container_id: cid });
    await exec(['touch', '/tmp/tick']);
    // The reopen made the new file at once (empty); the tick comes after.
    for (let i = 0; i < 100 && !fs.readFileSync(logFile, 'utf8'); i++) await new Promise((r) => setTimeout(r, 200));
    expect(fs.readFileSync(logFile, 'utf8')).toMatch(/^\S+ stdout F tick\n$/);
    fs.renameSync(`${logFile}.1`, logFile + '.old');

    // Attach through the streaming server's URL: the main process's output as it comes.
    const at = await cri.runtime<{ url: string }>('Attach', { container_id: cid, stdout: true });
    expect(at.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/attach\//);
    const { conn: ac } = await spdyDial(at.url, ['v4.channel.k8s.io']);
    try {
      const aerr = await ac.createStream({ streamtype: ['error'] });
      aerr.end();
      const aout = await ac.createStream({ streamtype: ['stdout'] });
      let seen = '';
      const got = new Promise<void>((resolve) =>
        aout.on('data', (c: Buffer) => {
          seen += c.toString();
          if (seen.includes('tick\n')) resolve();
        }),
      );
      await exec(['touch', '/tmp/tick']);
      await got;
      expect(seen).toBe('tick\n');
    } finally {
      ac.destroy();
    }

    // Docker sees both: the sandbox's infra container and the container.
    const ps = await docker(['ps', '-a', '--no-trunc', '--format', '{{.ID}}']);
    expect(ps.split('\n')).toEqual(expect.arrayContaining([sid, cid]));

    await cri.runtime('StopContainer', { container_id: cid, timeout: 10 }, 120_000);
    const stopped = await cri.runtime<{ status: Status }>('ContainerStatus', { container_id: cid });
    expect(stopped.status).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 3, reason: 'Error' });
    expect(BigInt(stopped.status.finished_at)).toBeGreaterThanOrEqual(BigInt(stopped.status.started_at));

    // The log, in the CRI format at the kubelet's path.
    const lines = fs
      .readFileSync(path.join(dir, 'logs', 'web', 'app', '0.log.old'), 'utf8')
      .trim()
      .split('\n');
    const re = /^(\S+) (stdout|stderr) ([FP]) (.*)$/;
    for (const l of lines) {
      expect(l).toMatch(re);
      expect(Number.isNaN(Date.parse(re.exec(l)![1]))).toBe(false);
      expect(re.exec(l)![1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    }
    expect(lines.map((l) => re.exec(l)!.slice(2).join(' '))).toEqual(
      expect.arrayContaining(['stdout F started', 'stderr F oops']),
    );

    await cri.runtime('RemoveContainer', { container_id: cid }, 120_000);
    const gone = await criFailure(cri.runtime('ContainerStatus', { container_id: cid }));
    expect(gone.code).toBe(grpc.status.NOT_FOUND);

    await cri.runtime('StopPodSandbox', { pod_sandbox_id: sid }, 120_000);
    const down = await cri.runtime<{ status: Status }>('PodSandboxStatus', { pod_sandbox_id: sid });
    expect(down.status.state).toBe('SANDBOX_NOTREADY');
    await cri.runtime('RemovePodSandbox', { pod_sandbox_id: sid }, 120_000);
    await cri.runtime('RemovePodSandbox', { pod_sandbox_id: sid });
    const all = await cri.runtime<{ items: unknown[] }>('ListPodSandbox', {});
    expect(all.items).toEqual([]);
    const after = await docker(['ps', '-a', '--no-trunc', '--format', '{{.ID}}']);
    expect(after.split('\n')).not.toEqual(expect.arrayContaining([sid]));
    expect(fs.readdirSync(path.join(d.execRoot, 'cni')).filter((f) => f !== '.' && f !== '..')).toEqual([]);
  });
  it('a daemon SIGKILL loses no sandbox or container: both still run and answer after the restart', async () => {
    const config = sandboxConfig('crash');
    const { pod_sandbox_id: sid } = await cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config }, 240_000);
    const { container_id: cid } = await cri.runtime<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: sid,
      config: {
        metadata: { name: 'sleeper', attempt: 0 },
        image: { image: BUSYBOX },
        command: ['sleep', '3600'],
      },
      sandbox_config: config,
    });
    await cri.runtime('StartContainer', { container_id: cid }, 240_000);
    const before = await cri.runtime<{ status: Status }>('PodSandboxStatus', { pod_sandbox_id: sid });

    await d.kill9();
    cri.close();
    await d.restart();
    cri = criClient(path.join(dir, 'cri.sock'));

    const after = await cri.runtime<{ status: Status }>('PodSandboxStatus', { pod_sandbox_id: sid }, 120_000);
    expect(after.status.state).toBe('SANDBOX_READY');
    expect(after.status.network.ip).toBe(before.status.network.ip);
    const cs = await cri.runtime<{ status: Status }>('ContainerStatus', { container_id: cid });
    expect(cs.status.state).toBe('CONTAINER_RUNNING');
    const r = await cri.runtime<{ stdout: Buffer; exit_code: number }>(
      'ExecSync',
      { container_id: cid, cmd: ['echo', 'still here'], timeout: 60 },
      120_000,
    );
    expect({ out: r.stdout.toString(), code: r.exit_code }).toEqual({ out: 'still here\n', code: 0 });

    await cri.runtime('StopPodSandbox', { pod_sandbox_id: sid }, 120_000);
    const stopped = await cri.runtime<{ status: Status }>('ContainerStatus', { container_id: cid });
    expect(stopped.status.state).toBe('CONTAINER_EXITED');
    await cri.runtime('RemovePodSandbox', { pod_sandbox_id: sid }, 120_000);
    expect((await cri.runtime<{ containers: unknown[] }>('ListContainers', {})).containers).toEqual([]);
  });
  it('a dead sandbox VM: the sandbox is not ready, its container exited with reason Error', async () => {
    const config = sandboxConfig('dies');
    const { pod_sandbox_id: sid } = await cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config }, 240_000);
    const { container_id: cid } = await cri.runtime<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: sid,
      config: { metadata: { name: 'sleeper', attempt: 0 }, image: { image: BUSYBOX }, command: ['sleep', '3600'] },
      sandbox_config: config,
    });
    await cri.runtime('StartContainer', { container_id: cid }, 240_000);
    const st = await cri.runtime<{ info: { info: string } }>('PodSandboxStatus', {
      pod_sandbox_id: sid,
      verbose: true,
    });
    const vm = (JSON.parse(st.info.info) as { vm: string }).vm;
    const qemu = listVmProcesses().filter((p) => p.cmdline.includes(`podvisor-${vm} `));
    expect(qemu).toHaveLength(1);
    process.kill(qemu[0].pid, 'SIGKILL');

    let cs: { status: Status } | undefined;
    for (let i = 0; i < 150; i++) {
      cs = await cri.runtime<{ status: Status }>('ContainerStatus', { container_id: cid });
      if (cs.status.state === 'CONTAINER_EXITED') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(cs!.status).toMatchObject({ state: 'CONTAINER_EXITED', reason: 'Error' });
    expect(cs!.status.exit_code).not.toBe(0);
    const sb = await cri.runtime<{ status: Status }>('PodSandboxStatus', { pod_sandbox_id: sid });
    expect(sb.status.state).toBe('SANDBOX_NOTREADY');
    await cri.runtime('RemovePodSandbox', { pod_sandbox_id: sid }, 120_000);
  });
});
