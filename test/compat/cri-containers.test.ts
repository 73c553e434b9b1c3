/**
 * What critest checks of CRI containers beyond the basic lifecycle (test/compat/cri-runtime.test.ts),
 * through the real daemon and real VMs with our grpc-js test client, on a private CNI network
 * of Debian's plugins (bridge pvtcni37 on 10.99.37.0/24):
 *
 *  - the CRI log file exists as soon as StartContainer answers, output or not, and
 *    ReopenContainerLog makes the new file at once (critest opens both right away);
 *  - PID namespace mode POD (the CRI's default): the containers of a sandbox share its PID
 *    namespace, whose PID 1 is the sandbox's infra; CONTAINER: a namespace of the container's own;
 *    PodSandboxStatus reports the sandbox's mode; a timed-out ExecSync's command is killed;
 *  - StopContainer right after StartContainer of busybox `top` ends it with its TERM (143) in
 *    both modes, not with the KILL after the timeout; and `docker stop` right after `docker run -d`
 *    of the same (dockerd + runc: 143 in 70 ms);
 *  - SupplementalGroups are the processes' extra groups (init and exec); RunAsGroup without a
 *    user is refused and makes nothing;
 *  - mount propagation from host to container (a mount made on the host under an rshared bind
 *    source after the start shows in the container), and ContainerStatus reports the mode asked;
 *  - `podvisor list` and `docker ps` show the sandbox and the container, whose Docker labels
 *    hold none of the CRI's records (<data-root>/cri/, one file each); `docker rm -f` of the
 *    container removes it for the CRI too, with its record;
 *  - a unix socket in a hostPath that two sandboxes (two VMs) mount connects them;
 *  - a hostPath and a container path holding ':' mount as given (CRI's mounts are structured).
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { TestDaemon } from '../helpers/daemon';
import { startCriTestDaemon, stopCriTestDaemon, type CriTestDaemon } from '../helpers/cri-daemon';
import { criFailure, type CriClient } from '../helpers/cri';
import { podvisorOk } from '../helpers/podvisor-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300_000);

const REG = fixtureRegistry();
const BUSYBOX = `${REG}/busybox:latest`;

let d: TestDaemon;
let h: CriTestDaemon;
let cri: CriClient;
let dir: string;

type PidMode = 'POD' | 'CONTAINER';
interface ContainerStatus {
  state: string;
  exit_code: number;
  log_path: string;
}

function docker(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/usr/local/bin/docker', args, { env: d.env, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${String(stderr).trim()}\n${String(stdout).trim()}`.trim()));
      else resolve(String(stdout));
    });
  });
}

function sandboxConfig(name: string, pid?: PidMode): object {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    hostname: name,
    log_directory: path.join(dir, 'logs', name),
    ...(pid ? { linux: { security_context: { namespace_options: { pid } } } } : {}),
  };
}

async function runSandbox(name: string, pid?: PidMode): Promise<{ sid: string; config: object }> {
  const config = sandboxConfig(name, pid);
  const r = await cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config }, 240_000);
  return { sid: r.pod_sandbox_id, config };
}

async function createContainer(
  sb: { sid: string; config: object },
  name: string,
  command: string[],
  extra: { pid?: PidMode; security?: object; log_path?: string } = {},
): Promise<string> {
  const security = {
    ...(extra.pid ? { namespace_options: { pid: extra.pid } } : {}),
    ...(extra.security ?? {}),
  };
  const r = await cri.runtime<{ container_id: string }>('CreateContainer', {
    pod_sandbox_id: sb.sid,
    config: {
      metadata: { name, attempt: 0 },
      image: { image: BUSYBOX },
      command,
      ...(extra.log_path ? { log_path: extra.log_path } : {}),
      linux: { security_context: security },
    },
    sandbox_config: sb.config,
  });
  return r.container_id;
}

async function exec(cid: string, cmd: string[]): Promise<string> {
  const r = await cri.runtime<{ stdout: Buffer; stderr: Buffer; exit_code: number }>(
    'ExecSync',
    { container_id: cid, cmd, timeout: 60 },
    120_000,
  );
  if (r.exit_code !== 0) throw new Error(`${cmd.join(' ')} exited ${r.exit_code}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

const status = async (cid: string) =>
  (await cri.runtime<{ status: ContainerStatus }>('ContainerStatus', { container_id: cid })).status;

/** The PID namespace mode PodSandboxStatus reports. */
async function sandboxPidMode(sid: string): Promise<string> {
  const s = await cri.runtime<{ status: { linux: { namespaces: { options: { pid: string } } } } }>('PodSandboxStatus', {
    pod_sandbox_id: sid,
  });
  return s.status.linux.namespaces.options.pid;
}

async function removeSandbox(sid: string): Promise<void> {
  await cri.runtime('StopPodSandbox', { pod_sandbox_id: sid }, 120_000);
  await cri.runtime('RemovePodSandbox', { pod_sandbox_id: sid }, 120_000);
}

beforeAll(async () => {
  h = await startCriTestDaemon('podvisor-cri-ctr-', 37, BUSYBOX);
  ({ dir, daemon: d, cri } = h);
});

afterAll(() => stopCriTestDaemon(h && { ...h, cri }));

describe('CRI containers as critest checks them', () => {
  it('the log file exists when StartContainer answers, and again when ReopenContainerLog answers', async () => {
    const sb = await runSandbox('logs');
    const cid = await createContainer(sb, 'quiet', ['sleep', '3600'], { log_path: 'quiet/0.log' });
    const file = path.join(dir, 'logs', 'logs', 'quiet', '0.log');
    await cri.runtime('StartContainer', { container_id: cid }, 240_000);
    expect(fs.readFileSync(file, 'utf8')).toBe('');
    fs.renameSync(file, `${file}.1`);
    await cri.runtime('ReopenContainerLog', { container_id: cid });
    expect(fs.readFileSync(file, 'utf8')).toBe('');
    await removeSandbox(sb.sid);
  });

  it("a sandbox's containers each write their layer to a disk of their own, hot-plugged on its VM, and read their image from its disk", async () => {
    const sb = await runSandbox('disks');
    const a = await createContainer(sb, 'da', ['sh', '-c', 'echo a > /who; exec sleep 3600']);
    const b = await createContainer(sb, 'db', ['sh', '-c', 'echo b > /who; exec sleep 3600']);
    for (const c of [a, b]) await cri.runtime('StartContainer', { container_id: c }, 240_000);
    for (const [c, who] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      // Its root: an overlay whose lower is its image's disk (mounted at the stage's image/).
      expect(await exec(c, ['cat', '/proc/mounts'])).toMatch(/^overlay \/ overlay .*lowerdir=[^,]*\/image/m);
      expect((await exec(c, ['cat', '/who'])).trim()).toBe(who);
    }
    // The VM's SCSI disks: its own image disk's slot, and two per container.
    const disks = (await exec(a, ['ls', '/sys/block'])).split(/\s+/).filter((n) => n.startsWith('sd'));
    expect(disks.length).toBe(5);
    await cri.runtime('StopContainer', { container_id: b, timeout: 0 }, 120_000);
    await cri.runtime('RemoveContainer', { container_id: b }, 120_000);
    // QEMU drops an unplugged SCSI disk at once; the guest's SCSI layer removes its sd device a
    // moment later (a loaded host once still listed it right after RemoveContainer).
    const scsiDisks = async () =>
      (await exec(a, ['ls', '/sys/block'])).split(/\s+/).filter((n) => n.startsWith('sd')).length;
    let after = await scsiDisks();
    for (const end = Date.now() + 20_000; after !== 3 && Date.now() < end; after = await scsiDisks())
      await new Promise((r) => setTimeout(r, 200));
    expect(after).toBe(3);
    await removeSandbox(sb.sid);
  });

  it("POD: the sandbox's containers share its PID namespace, its infra as PID 1; CONTAINER: their own", async () => {
    const sb = await runSandbox('pids');
    const a = await createContainer(sb, 'a', ['sleep', '3601']);
    const b = await createContainer(sb, 'b', ['sleep', '3602'], { pid: 'POD' });
    const own = await createContainer(sb, 'own', ['sleep', '3603'], { pid: 'CONTAINER' });
    for (const c of [a, b, own]) await cri.runtime('StartContainer', { container_id: c }, 240_000);
    // The infra container is the pod's pause (the agent's, as containerd runs the pause image's).
    expect(await exec(a, ['cat', '/proc/1/cmdline'])).toBe('/pause\0');
    expect(await exec(b, ['cat', '/proc/1/cmdline'])).toBe('/pause\0');
    const seenByB = await exec(b, ['ps', '-o', 'args']);
    expect(seenByB).toContain('sleep 3601');
    expect(seenByB).toContain('sleep 3602');
    expect(seenByB).not.toContain('sleep 3603');
    expect(await exec(own, ['cat', '/proc/1/cmdline'])).toBe('sleep\x003603\0');
    expect(await exec(own, ['ps', '-o', 'args'])).not.toContain('sleep 3601');
    expect(await sandboxPidMode(sb.sid)).toBe('POD');

    // ExecSync past its timeout: DEADLINE_EXCEEDED, and the command is gone (containerd kills it).
    const late = await criFailure(
      cri.runtime('ExecSync', { container_id: b, cmd: ['sleep', '4321'], timeout: 1 }, 60_000),
    );
    expect(late.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(await exec(a, ['ps', '-o', 'args'])).not.toContain('sleep 4321');
    await removeSandbox(sb.sid);
  });

  it('StopContainer right after StartContainer: busybox top ends on its TERM (143), in either PID mode', async () => {
    const sb = await runSandbox('stops', 'CONTAINER');
    expect(await sandboxPidMode(sb.sid)).toBe('CONTAINER');
    for (const pid of ['POD', 'CONTAINER'] as const) {
      const cid = await createContainer(sb, `top-${pid.toLowerCase()}`, ['top'], { pid });
      await cri.runtime('StartContainer', { container_id: cid }, 240_000);
      await cri.runtime('StopContainer', { container_id: cid, timeout: 60 }, 180_000);
      expect({ pid, ...(await status(cid)) }).toMatchObject({ pid, state: 'CONTAINER_EXITED', exit_code: 143 });
    }
    await removeSandbox(sb.sid);
  });

  it('docker stop right after docker run -d of busybox top: exited on its TERM (143), as with dockerd', async () => {
    const id = (await docker(['run', '-d', '--network', 'none', BUSYBOX, 'top'])).trim();
    await docker(['stop', '-t', '60', id]);
    expect((await docker(['inspect', '-f', '{{.State.ExitCode}}', id])).trim()).toBe('143');
    await docker(['rm', id]);
  });

  it('mount propagation host to container: a host mount under an rshared source shows in the container and stays on the host', async () => {
    // As critest sets it up: the source is an rshared mount point; the sub-mount comes after the start.
    const host = fs.mkdtempSync(path.join(dir, 'prop-'));
    const src = path.join(host, 'mnt');
    const flagDir = path.join(host, 'flags');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.mkdirSync(flagDir);
    fs.writeFileSync(path.join(flagDir, 'flagFile'), '');
    execFileSync('mount', ['--bind', src, src]);
    let subMounted = false;
    try {
      execFileSync('mount', ['--make-rshared', src]);
      const sb = await runSandbox('prop');
      const r = await cri.runtime<{ container_id: string }>('CreateContainer', {
        pod_sandbox_id: sb.sid,
        config: {
          metadata: { name: 'prop', attempt: 0 },
          image: { image: BUSYBOX },
          command: ['sleep', '3600'],
          mounts: [{ host_path: src, container_path: '/data', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }],
        },
        sandbox_config: sb.config,
      });
      const cid = r.container_id;
      const st = await cri.runtime<{ status: { mounts: Array<{ propagation: string }> } }>('ContainerStatus', {
        container_id: cid,
      });
      expect(st.status.mounts.map((m) => m.propagation)).toEqual(['PROPAGATION_HOST_TO_CONTAINER']);
      await cri.runtime('StartContainer', { container_id: cid }, 240_000);
      expect(await exec(cid, ['ls', '-A', '/data/sub'])).toBe('');
      execFileSync('mount', ['--bind', flagDir, path.join(src, 'sub')]);
      subMounted = true;
      expect(await exec(cid, ['ls', '-A', '/data/sub'])).toBe('flagFile\n');
      await removeSandbox(sb.sid);
      // The VM's teardown unmounted its copy of the source, and nothing of the host's.
      expect(fs.readdirSync(path.join(src, 'sub'))).toEqual(['flagFile']);
    } finally {
      if (subMounted) execFileSync('umount', [path.join(src, 'sub')]);
      execFileSync('umount', [src]);
    }
  });

  it("a hostPath and a container path holding ':': the container sees the host's files there", async () => {
    const src = path.join(fs.mkdtempSync(path.join(dir, 'colon-')), 'a:b');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'greeting'), 'hello from a:b\n');
    const sb = await runSandbox('colons');
    const r = await cri.runtime<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: sb.sid,
      config: {
        metadata: { name: 'reader', attempt: 0 },
        image: { image: BUSYBOX },
        command: ['sleep', '3600'],
        mounts: [
          { host_path: src, container_path: '/m' },
          { host_path: src, container_path: '/in:side', readonly: true },
        ],
      },
      sandbox_config: sb.config,
    });
    await cri.runtime('StartContainer', { container_id: r.container_id }, 240_000);
    expect(await exec(r.container_id, ['cat', '/m/greeting', '/in:side/greeting'])).toBe(
      'hello from a:b\nhello from a:b\n',
    );
    const st = await cri.runtime<{ status: { mounts: Array<{ host_path: string; container_path: string }> } }>(
      'ContainerStatus',
      { container_id: r.container_id },
    );
    expect(st.status.mounts.map((m) => [m.host_path, m.container_path])).toEqual([
      [src, '/m'],
      [src, '/in:side'],
    ]);
    await removeSandbox(sb.sid);
  });

  it("a unix socket in a hostPath both sandboxes mount: one sandbox's server answers the other's client (two VMs)", async () => {
    // Sockets in shared directories cross the VM's edge (src/pod/network/share-sockets.ts), for the
    // CRI's mounts as for Docker's. Perl (the Debian fixture) serves and connects.
    const debian = `${REG}/debian:bookworm`;
    await cri.image('PullImage', { image: { image: debian } }, 300_000);
    const shared = fs.mkdtempSync(path.join(dir, 'sock-'));
    const inDebian = async (sb: { sid: string; config: object }, name: string, command: string[]) => {
      const r = await cri.runtime<{ container_id: string }>('CreateContainer', {
        pod_sandbox_id: sb.sid,
        config: {
          metadata: { name, attempt: 0 },
          image: { image: debian },
          command,
          mounts: [{ host_path: shared, container_path: '/shared' }],
        },
        sandbox_config: sb.config,
      });
      await cri.runtime('StartContainer', { container_id: r.container_id }, 240_000);
      return r.container_id;
    };
    const a = await runSandbox('sock-server');
    const b = await runSandbox('sock-client');
    await inDebian(a, 'server', [
      'perl',
      '-MIO::Socket::UNIX',
      '-e',
      '$l = IO::Socket::UNIX->new(Local => "/shared/s.sock", Listen => 5) or die "listen: $!"; ' +
        'while ($c = $l->accept) { $x = <$c>; print $c "pong $x"; close $c }',
    ]);
    const client = await inDebian(b, 'client', ['sleep', '3600']);
    let answer = '';
    for (let i = 0; i < 100 && !answer.startsWith('pong'); i++) {
      const r = await cri.runtime<{ stdout: Buffer; exit_code: number }>(
        'ExecSync',
        {
          container_id: client,
          cmd: [
            'perl',
            '-MIO::Socket::UNIX',
            '-e',
            '$s = IO::Socket::UNIX->new(Peer => "/shared/s.sock") or exit 1; print $s "ping\\n"; print scalar <$s>',
          ],
          timeout: 60,
        },
        120_000,
      );
      answer = r.exit_code === 0 ? r.stdout.toString() : '';
      if (!answer.startsWith('pong')) await new Promise((res) => setTimeout(res, 200));
    }
    expect(answer).toBe('pong ping\n');
    await removeSandbox(a.sid);
    await removeSandbox(b.sid);
  });

  it("SupplementalGroups join the user's groups for the init and for exec; a group without a user is refused", async () => {
    const sb = await runSandbox('groups');
    const cid = await createContainer(sb, 'ids', ['sh', '-c', 'id -G; sleep 3600'], {
      security: { run_as_user: { value: 1000 }, supplemental_groups: [1234, 5678] },
      log_path: 'ids.log',
    });
    await cri.runtime('StartContainer', { container_id: cid }, 240_000);
    expect(await exec(cid, ['id', '-G'])).toBe('1000 1234 5678\n');
    const log = path.join(dir, 'logs', 'groups', 'ids.log');
    for (let i = 0; i < 100 && !fs.readFileSync(log, 'utf8'); i++) await new Promise((r) => setTimeout(r, 200));
    expect(fs.readFileSync(log, 'utf8')).toMatch(/^\S+ stdout F 1000 1234 5678\n$/);

    const err = await criFailure(
      createContainer(sb, 'groupless', ['id'], { security: { run_as_group: { value: 1002 } } }),
    );
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/user group "1002" is specified without user/);
    const listed = await cri.runtime<{ containers: Array<{ id: string }> }>('ListContainers', {
      filter: { pod_sandbox_id: sb.sid },
    });
    expect(listed.containers.map((c) => c.id)).toEqual([cid]);

    // podvisor list and docker ps show the sandbox and its container as pods.
    const pods = JSON.parse(await podvisorOk(d, ['list', '--json'])) as Array<{ id: string; name: string }>;
    expect(pods).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: sb.sid, name: 'k8s_POD_groups_default_uid-groups_0' }),
        expect.objectContaining({ id: cid, name: 'k8s_ids_groups_default_uid-groups_0' }),
      ]),
    );
    const ps = (await docker(['ps', '--no-trunc', '--format', '{{.ID}} {{.Names}}'])).split('\n');
    expect(ps).toEqual(
      expect.arrayContaining([
        `${sb.sid} k8s_POD_groups_default_uid-groups_0`,
        `${cid} k8s_ids_groups_default_uid-groups_0`,
      ]),
    );
    // Their Docker labels are the kubelet's (none here) and the API's: the CRI keeps its own records.
    const labels = (await docker(['inspect', '-f', '{{json .Config.Labels}}', sb.sid, cid]))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    expect(labels.map((l) => l['io.podvisor.api'])).toEqual(['cri', 'cri']);
    expect(labels.flatMap((l) => Object.keys(l).filter((k) => k.startsWith('io.podvisor.cri.')))).toEqual([]);
    const records = path.join(d.dataRoot, 'cri');
    const mine = () => fs.readdirSync(records).filter((f) => f === `${cid}.json` || f === `${sb.sid}.json`);
    expect(mine().sort()).toEqual([`${cid}.json`, `${sb.sid}.json`].sort());
    // A CRI container removed by another API is gone for the CRI too, its record with it.
    await docker(['rm', '-f', cid]);
    const left = await cri.runtime<{ containers: unknown[] }>('ListContainers', { filter: { pod_sandbox_id: sb.sid } });
    expect(left.containers).toEqual([]);
    for (let i = 0; i < 100 && fs.existsSync(path.join(records, `${cid}.json`)); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(mine()).toEqual([`${sb.sid}.json`]);
    await removeSandbox(sb.sid);
    expect(mine()).toEqual([]);
    const after = JSON.parse(await podvisorOk(d, ['list', '--json'])) as Array<{ id: string }>;
    expect(after.map((p) => p.id)).not.toEqual(expect.arrayContaining([sb.sid]));
  });
});
