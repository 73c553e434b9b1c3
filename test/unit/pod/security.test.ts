/**
 * What the guest agent is asked for a container's security settings (src/pod/security/security.ts),
 * through the pod layer over the fake VM: the container's part with CREATE_CONTAINER, the
 * capability sets and no_new_privs with its init's and each exec's START_PROCESS (a privileged
 * exec: every capability).
 */
import { harness, type Harness } from './fakes';
import { capabilityMask, ALL_CAPABILITIES } from '../../../src/util/capabilities';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../../../src/translate/request/policy/masked-paths';
import { DEFAULT_DEVICE_RULES } from '../../../src/pod/security/devices';

let h: Harness;

beforeEach(async () => {
  h = await harness();
});
afterEach(() => h.cleanup());

const execConfig = (privileged: boolean) => ({
  args: ['true'],
  env: [],
  workingDir: '',
  user: '',
  tty: false,
  attachStdin: false,
  attachStdout: false,
  attachStderr: false,
  detachKeys: '',
  privileged,
});

test("a Docker container's settings reach the agent with its create, its init and its execs", async () => {
  const r = await h.create({
    Image: 'busybox',
    Cmd: ['sleep', '10'],
    HostConfig: {
      CapDrop: ['NET_RAW'],
      ReadonlyRootfs: true,
      SecurityOpt: ['no-new-privileges'],
      Sysctls: { 'net.ipv4.ip_forward': '1' },
    },
  });
  await h.pods.start(r.id);
  const guest = h.hv.running()[0];
  expect(guest.containers.get(r.id)?.spec.security).toEqual({
    // dockerd's defaults of a container's own network namespace, then the user's.
    sysctls: [
      'net.ipv4.ip_unprivileged_port_start=0',
      'net.ipv4.ping_group_range=0 2147483647',
      'net.ipv4.ip_forward=1',
    ],
    maskedPaths: [...DEFAULT_MASKED_PATHS],
    readonlyPaths: [...DEFAULT_READONLY_PATHS],
    readonlyRootfs: true,
    writableSysfs: false,
    deviceRules: [...DEFAULT_DEVICE_RULES],
  });
  const mask = 0xa80405fb;
  const sets = { bounding: mask, effective: mask, permitted: mask, inheritable: 0, ambient: 0 };
  const init = [...guest.processes.values()][0];
  expect(init.spec).toMatchObject({ capabilities: sets, noNewPrivs: true });

  for (const privileged of [false, true]) {
    const x = h.pods.execCreate(r.id, execConfig(privileged));
    await (
      await h.pods.execStart(x.id)
    ).finished;
    const spec = [...guest.processes.values()].find((p) => p.spec.processId === `exec-${x.id.slice(0, 16)}`)?.spec;
    const all = capabilityMask(ALL_CAPABILITIES);
    expect(spec).toMatchObject({
      capabilities: privileged ? { bounding: all, effective: all, permitted: all, inheritable: all, ambient: 0 } : sets,
      noNewPrivs: true,
    });
  }
  await h.pods.kill(r.id, 9);
});

test('a privileged container: every capability, writable /sys, nothing masked', async () => {
  const r = await h.create({ Image: 'busybox', Cmd: ['sleep', '10'], HostConfig: { Privileged: true } });
  await h.pods.start(r.id);
  const guest = h.hv.running()[0];
  expect(guest.containers.get(r.id)?.spec.security).toMatchObject({
    maskedPaths: [],
    readonlyPaths: [],
    writableSysfs: true,
  });
  expect(guest.containers.get(r.id)?.spec.security?.deviceRules).toBeUndefined();
  const init = [...guest.processes.values()][0];
  expect(init.spec.capabilities?.effective).toBe(2 ** 38 - 1);
  expect(init.spec.noNewPrivs).toBeUndefined();
  await h.pods.kill(r.id, 9);
});
