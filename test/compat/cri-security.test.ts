/**
 * The CRI's security settings through the real daemon and real VMs, with our grpc-js test
 * client (test/helpers/cri.ts), on a private CNI network (bridge pvtcni17 on 10.99.17.0/24):
 * a sandbox's sysctls, and its containers' linux.security_context (capabilities added and
 * dropped with containerd's rules, ALL, privileged, readonly_rootfs, masked_paths and
 * readonly_paths, no_new_privs), each seen from inside the container by ExecSync as the
 * critest Security Context specs look at them.
 */
import * as path from 'node:path';
import { startCriTestDaemon, stopCriTestDaemon, type CriTestDaemon } from '../helpers/cri-daemon';
import { criFailure, type CriClient } from '../helpers/cri';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300_000);

const REG = fixtureRegistry();
const BUSYBOX = `${REG}/busybox:latest`;

let h: CriTestDaemon;
let cri: CriClient;
let dir: string;
let sid: string;
let sandboxConfig: object;

beforeAll(async () => {
  h = await startCriTestDaemon('podvisor-cri-sec-', 17, BUSYBOX);
  ({ dir, cri } = h);
  sandboxConfig = {
    metadata: { name: 'sec', uid: 'uid-sec', namespace: 'default', attempt: 0 },
    hostname: 'sec-host',
    log_directory: path.join(dir, 'logs'),
    linux: {
      sysctls: { 'kernel.shm_rmid_forced': '1', 'net.ipv4.ip_local_port_range': '1024 65000' },
      security_context: { privileged: true },
    },
  };
  const run = await cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config: sandboxConfig }, 240_000);
  sid = run.pod_sandbox_id;
});

afterAll(() => stopCriTestDaemon(h && { ...h, cri }));

let n = 0;

/** A running `sleep` container of the sandbox with this security context; ExecSync in it. */
async function container(
  securityContext: object,
): Promise<(script: string) => Promise<{ out: string; err: string; code: number }>> {
  const created = await cri.runtime<{ container_id: string }>('CreateContainer', {
    pod_sandbox_id: sid,
    config: {
      metadata: { name: `c${n++}`, attempt: 0 },
      image: { image: BUSYBOX },
      command: ['sleep', '1000'],
      linux: { security_context: securityContext },
    },
    sandbox_config: sandboxConfig,
  });
  const cid = created.container_id;
  await cri.runtime('StartContainer', { container_id: cid }, 240_000);
  return async (script: string) => {
    const r = await cri.runtime<{ stdout: Buffer; stderr: Buffer; exit_code: number }>(
      'ExecSync',
      { container_id: cid, cmd: ['sh', '-c', script], timeout: 60 },
      120_000,
    );
    return { out: r.stdout.toString(), err: r.stderr.toString(), code: r.exit_code };
  };
}

const capEff = 'grep -E "^Cap(Eff|Bnd)" /proc/self/status';
/** Needs CAP_NET_ADMIN (each call another address: the sandbox's containers share its network). */
let addr = 1;
const netAdmin = () => `ip addr add 10.9.9.${addr++}/32 dev lo && echo added`;

test("the sandbox's sysctls are set in its VM, for its containers", async () => {
  const exec = await container({});
  expect((await exec('cat /proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/ip_local_port_range')).out).toBe(
    '1\n1024\t65000\n',
  );
});

test('capabilities: the default set, added and dropped, ALL', async () => {
  const plain = await container({});
  expect((await plain(capEff)).out).toBe('CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n');
  expect((await plain(netAdmin())).code).not.toBe(0);
  const tweaked = await container({
    capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['NET_RAW'] },
  });
  expect((await tweaked(capEff)).out).toBe('CapEff:\t00000000a80415fb\nCapBnd:\t00000000a80415fb\n');
  expect((await tweaked(netAdmin())).out).toBe('added\n');
  const none = await container({ capabilities: { drop_capabilities: ['ALL'] } });
  expect((await none(capEff)).out).toBe('CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n');
  const all = await container({ capabilities: { add_capabilities: ['ALL'] } });
  expect((await all(capEff)).out).toBe('CapEff:\t0000003fffffffff\nCapBnd:\t0000003fffffffff\n');
  const unknown = await criFailure(
    cri.runtime('CreateContainer', {
      pod_sandbox_id: sid,
      config: {
        metadata: { name: 'bad', attempt: 0 },
        image: { image: BUSYBOX },
        linux: { security_context: { capabilities: { add_capabilities: ['FLY'] } } },
      },
      sandbox_config: sandboxConfig,
    }),
  );
  expect(unknown.details).toContain('unknown capability: "CAP_FLY"');
});

test('privileged: only in a privileged sandbox (containerd); every capability, no masked or read-only paths, /sys writable', async () => {
  const refused = await criFailure(
    cri.runtime('CreateContainer', {
      pod_sandbox_id: sid,
      config: {
        metadata: { name: 'priv-refused', attempt: 0 },
        image: { image: BUSYBOX },
        linux: { security_context: { privileged: true } },
      },
      sandbox_config: { ...sandboxConfig, linux: {} },
    }),
  );
  expect(refused.details).toBe('no privileged container allowed in sandbox');
  const exec = await container({ privileged: true });
  const r = await exec(`${capEff}; grep -cE "/proc/timer_list|/proc/sys " /proc/mounts; grep " /sys " /proc/mounts`);
  expect(r.out).toMatch(/^CapEff:\t0000003fffffffff\nCapBnd:\t0000003fffffffff\n0\nsysfs \/sys sysfs rw,/);
  expect((await exec(netAdmin())).out).toBe('added\n');
});

test("masked and read-only paths: Docker's by default, the config's when it gives some", async () => {
  const plain = await container({});
  expect((await plain('cat /proc/timer_list | wc -c; echo 1 > /proc/sys/kernel/shmmax')).out).toBe('0\n');
  const given = await container({ masked_paths: ['/etc/hostname', '/bin/no-such'], readonly_paths: ['/tmp'] });
  const r = await given(
    'cat /etc/hostname | wc -c; touch /tmp/test; echo 1 > /proc/sys/kernel/shmmax && cat /proc/sys/kernel/shmmax',
  );
  expect(r.out).toBe('0\n1\n');
  expect(r.err).toBe('touch: /tmp/test: Read-only file system\n');
});

test('readonly_rootfs and no_new_privs', async () => {
  const ro = await container({ readonly_rootfs: true });
  const r = await ro('touch test.go; touch /dev/shm/x && echo shm');
  expect(r).toEqual({ out: 'shm\n', err: 'touch: test.go: Read-only file system\n', code: 0 });
  const nnp = await container({ no_new_privs: true, run_as_user: { value: 1000 } });
  expect((await nnp('grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; id -u')).out).toBe(
    'CapEff:\t0000000000000000\nNoNewPrivs:\t1\n1000\n',
  );
});
