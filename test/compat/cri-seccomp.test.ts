/**
 * Seccomp through the CRI v1 RuntimeService (our grpc-js test client, real daemon, real VMs, a
 * private CNI network: bridge pvtcni17 on 10.99.17.0/24), chosen as containerd 1.6 chooses it:
 * RuntimeDefault (podvisor's default profile), Unconfined, a Localhost profile file on the node
 * that blocks sethostname, the deprecated seccomp_profile_path (unset: unconfined), the
 * sandbox's own profile, and the refusals: a missing Localhost file, a path without
 * `localhost/`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startCriTestDaemon, stopCriTestDaemon, type CriTestDaemon } from '../helpers/cri-daemon';
import { criFailure, type CriClient } from '../helpers/cri';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300_000);

const REG = fixtureRegistry();
const BUSYBOX = `${REG}/busybox:latest`;
/** gRPC status INVALID_ARGUMENT. */
const INVALID_ARGUMENT = 3;

let h: CriTestDaemon;
let cri: CriClient;
let dir: string;
let blockHostname: string;

function sandboxConfig(name: string, security: object = {}): object {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    hostname: `${name}-host`,
    log_directory: path.join(dir, 'logs', name),
    linux: { security_context: security },
  };
}

function containerConfig(name: string, security: object): object {
  return {
    metadata: { name, attempt: 0 },
    image: { image: BUSYBOX },
    command: ['sleep', '600'],
    linux: { security_context: security },
  };
}

async function execSync(cid: string, cmd: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const r = await cri.runtime<{ stdout: Buffer; stderr: Buffer; exit_code: number }>(
    'ExecSync',
    { container_id: cid, cmd, timeout: 60 },
    120_000,
  );
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), code: r.exit_code };
}

beforeAll(async () => {
  h = await startCriTestDaemon('podvisor-cri-seccomp-', 19, BUSYBOX);
  ({ dir, cri } = h);
  blockHostname = path.join(dir, 'block-host-name.json');
  // critest's own profile for these cases.
  fs.writeFileSync(
    blockHostname,
    '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]}',
  );
});

afterAll(() => stopCriTestDaemon(h && { ...h, cri }));

it('applies RuntimeDefault, Unconfined, a Localhost profile and seccomp_profile_path to containers and to the sandbox', async () => {
  const sc = sandboxConfig('sec', { seccomp: { profile_type: 'RuntimeDefault' } });
  const { pod_sandbox_id: sid } = await cri.runtime<{ pod_sandbox_id: string }>(
    'RunPodSandbox',
    { config: sc },
    240_000,
  );
  const start = async (name: string, security: object): Promise<string> => {
    const { container_id: cid } = await cri.runtime<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: sid,
      config: containerConfig(name, security),
      sandbox_config: sc,
    });
    await cri.runtime('StartContainer', { container_id: cid }, 240_000);
    return cid;
  };
  const seccompOf = async (cid: string) => (await execSync(cid, ['grep', '^Seccomp:', '/proc/self/status'])).stdout;
  const sethostname = (cid: string) => execSync(cid, ['hostname', 'renamed']);

  const byDefault = await start('default', { seccomp: { profile_type: 'RuntimeDefault' } });
  expect(await seccompOf(byDefault)).toBe('Seccomp:\t2\n');
  expect(await sethostname(byDefault)).toEqual({
    stdout: '',
    stderr: 'hostname: sethostname: Operation not permitted\n',
    code: 1,
  });

  const byPath = await start('docker-default', { seccomp_profile_path: 'docker/default' });
  expect(await seccompOf(byPath)).toBe('Seccomp:\t2\n');

  // CAP_SYS_ADMIN, so that only the filter can refuse sethostname (as critest asks).
  const sysAdmin = { capabilities: { add_capabilities: ['SYS_ADMIN'] } };
  const unconfined = await start('unconfined', { ...sysAdmin, seccomp: { profile_type: 'Unconfined' } });
  expect(await seccompOf(unconfined)).toBe('Seccomp:\t0\n');
  expect(await sethostname(unconfined)).toEqual({ stdout: '', stderr: '', code: 0 });

  // Neither field: unconfined, the kubelet's default.
  const unset = await start('unset', {});
  expect(await seccompOf(unset)).toBe('Seccomp:\t0\n');

  const local = await start('localhost', {
    ...sysAdmin,
    seccomp: { profile_type: 'Localhost', localhost_ref: blockHostname },
  });
  expect(await seccompOf(local)).toBe('Seccomp:\t2\n');
  expect(await sethostname(local)).toEqual({
    stdout: '',
    stderr: 'hostname: sethostname: Operation not permitted\n',
    code: 1,
  });
  expect((await execSync(local, ['chmod', '700', '/tmp'])).code).toBe(0);
  const localByPath = await start('localhost-path', { seccomp_profile_path: `localhost/${blockHostname}` });
  expect((await sethostname(localByPath)).code).toBe(1);

  // The sandbox's infra container (the agent's pause, PID 1 of the PID namespace the
  // containers join: pid mode POD) runs with the sandbox's profile, the containers' aside.
  expect((await execSync(unset, ['cat', '/proc/1/cmdline'])).stdout).toBe('/pause\0');
  expect((await execSync(unset, ['grep', '^Seccomp:', '/proc/1/status'])).stdout).toBe('Seccomp:\t2\n');

  // Refused at create, nothing made: a missing Localhost file, a path without localhost/.
  const before = (await cri.runtime<{ containers: unknown[] }>('ListContainers', {})).containers.length;
  const missing = await criFailure(
    cri.runtime('CreateContainer', {
      pod_sandbox_id: sid,
      config: containerConfig('missing', { seccomp_profile_path: `localhost/${dir}/none.json` }),
      sandbox_config: sc,
    }),
  );
  expect(missing.code).toBe(INVALID_ARGUMENT);
  expect(missing.details).toContain(`cannot load seccomp profile "${dir}/none.json"`);
  const noPrefix = await criFailure(
    cri.runtime('CreateContainer', {
      pod_sandbox_id: sid,
      config: containerConfig('no-prefix', { seccomp_profile_path: blockHostname }),
      sandbox_config: sc,
    }),
  );
  expect(noPrefix.code).toBe(INVALID_ARGUMENT);
  expect(noPrefix.details).toContain('invalid seccomp profile');
  expect((await cri.runtime<{ containers: unknown[] }>('ListContainers', {})).containers.length).toBe(before);

  await cri.runtime('StopPodSandbox', { pod_sandbox_id: sid }, 120_000);
  await cri.runtime('RemovePodSandbox', { pod_sandbox_id: sid }, 120_000);
});
