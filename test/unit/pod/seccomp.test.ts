/**
 * A container's seccomp filter at start (src/pod/security/seccomp.ts): podvisor's default profile and a
 * user's profile resolved for the container's capabilities, and the filter sent to the agent
 * right behind CREATE_CONTAINER, before the init.
 */
import { harness, type Harness } from './fakes';
import { mainContainer } from '../../../src/pod/types';
import { resolveSeccompProfile, seccompFilterFor } from '../../../src/pod/security/seccomp';
import { DEFAULT_CAPABILITIES } from '../../../src/util/capabilities';
import { DEFAULT_SECCOMP_PROFILE } from '../../../src/pod/security/seccomp-default';
import { encodeSeccomp } from '../../../src/vm/agent/seccomp';
import type { SeccompFilter } from '../../../src/vm/types';

/** The names the filter refuses, whatever the arguments. */
const refusedOutright = (f: SeccompFilter) =>
  new Set(f.rules.filter((r) => r.action === 'errno' && r.args.length === 0 && !r.belowKernel).flatMap((r) => r.names));
/** The calls refused with some argument test (namespace flags). */
const refusedByArgs = (f: SeccompFilter) => new Set(f.rules.filter((r) => r.args.length > 0).flatMap((r) => r.names));

describe("podvisor's default profile", () => {
  const plain = seccompFilterFor({ seccomp: { profile: 'default' } })!;

  it("allows by default and refuses what Docker's default refuses a container without extra capabilities", () => {
    expect(plain.defaultAction).toBe('allow');
    expect(plain.architectures).toEqual(['x86_64', 'x86', 'x32']);
    const out = refusedOutright(plain);
    for (const call of [
      'sethostname',
      'setdomainname',
      'mount',
      'umount2',
      'pivot_root',
      'setns',
      'kexec_load',
      'kexec_file_load',
      'reboot',
      'init_module',
      'finit_module',
      'delete_module',
      'bpf',
      'perf_event_open',
      'keyctl',
      'add_key',
      'request_key',
      'acct',
      'swapon',
      'swapoff',
      'open_by_handle_at',
      'userfaultfd',
      'syslog',
      'settimeofday',
      'clock_settime',
    ])
      expect(out).toContain(call);
    expect(refusedByArgs(plain)).toEqual(new Set(['unshare', 'clone']));
    // clone3's flags are out of seccomp's reach: ENOSYS sends C libraries back to clone.
    expect(plain.rules.find((r) => r.names.includes('clone3'))).toMatchObject({ action: 'errno', errno: 38 });
    // ptrace only on kernels before 4.8, where seccomp could be bypassed through it.
    expect(plain.rules.find((r) => r.names.includes('ptrace'))).toMatchObject({ belowKernel: '4.8' });
    // Whatever is refused is refused with EPERM (or ENOSYS for clone3), never killed.
    expect(new Set(plain.rules.map((r) => `${r.action}:${r.errno}`))).toEqual(new Set(['errno:1', 'errno:38']));
  });

  it('refuses each CLONE_NEW* flag of unshare and clone on its own', () => {
    const bits = (call: string) =>
      plain.rules
        .filter((r) => r.names.includes(call))
        .map((r) => r.args[0])
        .map((a) => (a.op === 'MASKED_EQ' && a.value === a.value2 ? a.value : -1));
    expect(bits('clone').sort()).toEqual(
      [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000].sort(),
    );
    expect(bits('unshare')).toContain(0x80); // CLONE_NEWTIME, unshare only
  });

  it('lifts each group with the capability the kernel asks for', () => {
    const withCaps = (...caps: string[]) =>
      seccompFilterFor({
        seccomp: { profile: 'default' },
        security: {
          capabilities: [...DEFAULT_CAPABILITIES, ...caps],
          privileged: false,
          noNewPrivs: false,
          readonlyRootfs: false,
          maskedPaths: [],
          readonlyPaths: [],
          sysctls: {},
        },
      })!;
    const admin = withCaps('CAP_SYS_ADMIN');
    for (const call of ['sethostname', 'mount', 'umount2', 'setns', 'bpf', 'perf_event_open', 'swapon'])
      expect(refusedOutright(admin)).not.toContain(call);
    expect(refusedByArgs(admin).size).toBe(0);
    expect(admin.rules.some((r) => r.names.includes('clone3'))).toBe(false);
    expect(refusedOutright(admin)).toContain('reboot');
    expect(refusedOutright(withCaps('CAP_SYS_TIME'))).not.toContain('clock_settime');
    expect(refusedOutright(withCaps('CAP_SYS_BOOT'))).not.toContain('kexec_load');
    expect(refusedOutright(withCaps('CAP_SYS_MODULE'))).not.toContain('finit_module');
    expect(refusedOutright(withCaps('CAP_BPF'))).not.toContain('bpf');
    expect(withCaps('CAP_SYS_PTRACE').rules.some((r) => r.names.includes('ptrace'))).toBe(false);
    // The keyring is not namespaced: no capability opens it.
    expect(refusedOutright(withCaps('CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'))).toContain('keyctl');
  });

  it('is a filter the agent client accepts', () => {
    expect(() => encodeSeccomp('c1', plain)).not.toThrow();
    expect(DEFAULT_SECCOMP_PROFILE.rules.every((r) => r.names.length > 0)).toBe(true);
  });
});

describe('resolveSeccompProfile', () => {
  const profile = {
    defaultAction: 'errno' as const,
    defaultErrno: 1,
    architectures: ['x86_64'],
    rules: [
      { names: ['read'], action: 'allow' as const, args: [] },
      { names: ['mount'], action: 'allow' as const, args: [], includes: { caps: ['CAP_SYS_ADMIN', 'SYS_CHROOT'] } },
      { names: ['reboot'], action: 'allow' as const, args: [], excludes: { caps: ['sys_boot'] } },
      { names: ['arm_only'], action: 'allow' as const, args: [], includes: { arches: ['arm64'] } },
      { names: ['not_amd64'], action: 'allow' as const, args: [], excludes: { arches: ['amd64'] } },
      { names: ['new'], action: 'allow' as const, args: [], includes: { minKernel: '5.10' } },
    ],
  };
  const names = (caps: string[]) => resolveSeccompProfile(profile, caps).rules.map((r) => r.names[0]);

  it("keeps a rule when all its includes hold and none of its excludes (Docker's reading)", () => {
    expect(names([])).toEqual(['read', 'reboot', 'new']);
    expect(names(['CAP_SYS_ADMIN'])).toEqual(['read', 'reboot', 'new']);
    expect(names(['SYS_ADMIN', 'CAP_SYS_CHROOT', 'CAP_SYS_BOOT'])).toEqual(['read', 'mount', 'new']);
  });

  it("leaves kernel versions to the agent, which knows the guest's kernel", () => {
    const r = resolveSeccompProfile(profile, []).rules.find((x) => x.names[0] === 'new');
    expect(r).toEqual({ names: ['new'], action: 'allow', args: [], minKernel: '5.10' });
  });

  it("takes Docker's default capabilities when the spec lists none", () => {
    const spec = { seccomp: { profile: 'custom' as const, spec: profile } };
    expect(seccompFilterFor(spec)!.rules.map((r) => r.names[0])).toEqual(['read', 'reboot', 'new']);
    expect(seccompFilterFor({})).toBeNull();
  });
});

describe('a container start', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(() => h.cleanup());

  const agentCalls = () => [...h.hv.guests.values()].flatMap((g) => g.calls);

  it('sends the filter after CREATE_CONTAINER and before the init, and none for an unconfined container', async () => {
    const r = await h.create({ Image: 'busybox', Cmd: ['true'] });
    expect(mainContainer(r).spec.seccomp).toEqual({ profile: 'default' });
    await h.pods.start(r.id);
    const calls = agentCalls().filter((c) => /^(createContainer|setSeccomp|startProcess)/.test(c));
    expect(calls.map((c) => c.split(' ')[0])).toEqual(['createContainer', 'setSeccomp', 'startProcess']);
    expect(calls[1]).toBe(`setSeccomp ${r.id} allow`);
    const guest = [...h.hv.guests.values()].find((g) => g.containers.has(r.id))!;
    expect(guest.containers.get(r.id)!.seccomp!.rules.some((x) => x.names.includes('sethostname'))).toBe(true);

    const u = await h.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { SecurityOpt: ['seccomp=unconfined'] } });
    expect(mainContainer(u).spec.seccomp).toBeUndefined();
    await h.pods.start(u.id);
    expect(agentCalls().filter((c) => c.startsWith(`setSeccomp ${u.id}`))).toEqual([]);
  });

  it("in a VM whose agent predates seccomp: the default profile's container runs without it, a user's profile is refused", async () => {
    h.hv.olderAgents = true;
    const r = await h.create({ Image: 'busybox', Cmd: ['true'] });
    await h.pods.start(r.id);
    expect(agentCalls().filter((c) => c.startsWith(`startProcess`)).length).toBe(1);
    const profile = '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}';
    const u = await h.create({ Image: 'busybox', Cmd: ['true'], HostConfig: { SecurityOpt: [`seccomp=${profile}`] } });
    await expect(h.pods.start(u.id)).rejects.toThrow('the guest agent predates SET_SECCOMP');
  });

  it('refuses a bad profile at create and makes nothing', async () => {
    const before = h.pods.list().length;
    await expect(
      h.create({ Image: 'busybox', HostConfig: { SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_NOPE"}'] } }),
    ).rejects.toThrow('string SCMP_ACT_NOPE is not a valid action for seccomp');
    expect(h.pods.list().length).toBe(before);
  });
});
