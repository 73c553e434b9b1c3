/**
 * Docker's seccomp profile JSON and `--security-opt seccomp=` (src/translate/seccomp-json.ts,
 * seccomp-opt.ts): what a profile becomes, and each bad profile refused with dockerd's or
 * runc's words (the baseline dockerd 20.10 + runc printed the same texts at start).
 */
import { InvalidArgumentError } from '../../../src/errors';
import { parseSeccompProfile } from '../../../src/translate/seccomp-json';
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { translateCreate } from '../../../src/api/v1.41/docker/create';
import type { CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import type { ImageRecord } from '../../../src/storage/types';

const allow = (syscalls: unknown[], more: object = {}) =>
  JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls, ...more });

describe('parseSeccompProfile', () => {
  it('reads actions, errno values, arguments and conditions', () => {
    const p = parseSeccompProfile(
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 38,
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
        syscalls: [
          { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ALLOW', errnoRet: 5 },
          { name: 'chmod', action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
          {
            names: ['personality'],
            action: 'SCMP_ACT_ALLOW',
            args: [{ index: 0, value: 4294967295, op: 'SCMP_CMP_EQ' }],
          },
          {
            names: ['mount'],
            action: 'SCMP_ACT_ALLOW',
            includes: { caps: ['CAP_SYS_ADMIN'], arches: ['amd64'], minKernel: '4.8' },
            excludes: { caps: ['CAP_SYS_BOOT'] },
          },
          { names: ['ptrace'], action: 'SCMP_ACT_KILL' },
          { names: ['reboot'], action: 'SCMP_ACT_KILL_PROCESS' },
          { names: ['uname'], action: 'SCMP_ACT_TRACE', errnoRet: 7 },
          { names: ['getpid'], action: 'SCMP_ACT_LOG' },
          { names: ['bad-name!', 'kill'], action: 'SCMP_ACT_TRAP' },
        ],
      }),
    );
    expect(p).toEqual({
      defaultAction: 'errno',
      defaultErrno: 38,
      architectures: ['x86_64', 'x86'],
      rules: [
        { names: ['mkdir', 'mkdirat'], action: 'allow', args: [] },
        { names: ['chmod'], action: 'errno', errno: 13, args: [] },
        { names: ['personality'], action: 'allow', args: [{ index: 0, op: 'EQ', value: 4294967295, value2: 0 }] },
        {
          names: ['mount'],
          action: 'allow',
          args: [],
          includes: { caps: ['CAP_SYS_ADMIN'], arches: ['amd64'], minKernel: '4.8' },
          excludes: { caps: ['CAP_SYS_BOOT'] },
        },
        { names: ['ptrace'], action: 'kill-thread', args: [] },
        { names: ['reboot'], action: 'kill-process', args: [] },
        { names: ['uname'], action: 'trace', errno: 7, args: [] },
        { names: ['getpid'], action: 'log', args: [] },
        // A name no system call can have is dropped, as an unknown one is skipped.
        { names: ['kill'], action: 'trap', args: [] },
      ],
    });
  });

  it("decodes field names case-insensitively (Go's encoding/json) and takes the guest's archMap entry", () => {
    const p = parseSeccompProfile(
      JSON.stringify({
        DefaultAction: 'SCMP_ACT_ALLOW',
        archMap: [
          { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
          { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
        ],
        Syscalls: [{ Names: ['mkdir'], Action: 'SCMP_ACT_ERRNO' }],
      }),
    );
    expect(p).toEqual({
      defaultAction: 'allow',
      architectures: ['x86_64', 'x86', 'x32'],
      rules: [{ names: ['mkdir'], action: 'errno', args: [] }],
    });
  });

  it('reads a profile without a default action or rules as no filter, as runc does', () => {
    expect(parseSeccompProfile('{}')).toBeNull();
    expect(parseSeccompProfile('{"syscalls":[]}')).toBeNull();
  });

  it.each([
    ['not JSON', '{', /^Decoding seccomp profile failed: /],
    [
      'a JSON array',
      '[]',
      'Decoding seccomp profile failed: json: cannot unmarshal array into Go value of type seccomp.Seccomp',
    ],
    [
      'a number as the default action',
      '{"defaultAction":5}',
      'Decoding seccomp profile failed: json: cannot unmarshal number into Go struct field Seccomp.defaultAction of type specs.LinuxSeccompAction',
    ],
    [
      'a negative argument value',
      allow([{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }]),
      'Decoding seccomp profile failed: json: cannot unmarshal number -1 into Go struct field LinuxSeccompArg.syscalls.args.value of type uint64',
    ],
    [
      'an unknown default action',
      '{"defaultAction":"SCMP_ACT_FOO"}',
      'string SCMP_ACT_FOO is not a valid action for seccomp',
    ],
    [
      'an unknown rule action',
      allow([{ names: ['mkdir'], action: 'SCMP_ACT_BAR' }]),
      'string SCMP_ACT_BAR is not a valid action for seccomp',
    ],
    ['a rule without an action', allow([{ names: ['mkdir'] }]), 'string  is not a valid action for seccomp'],
    [
      'NOTIFY as the default',
      '{"defaultAction":"SCMP_ACT_NOTIFY"}',
      'SCMP_ACT_NOTIFY cannot be used as default action',
    ],
    ['NOTIFY in a rule', allow([{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }]), /SCMP_ACT_NOTIFY is not supported/],
    [
      'an unknown architecture',
      allow([], { architectures: ['SCMP_ARCH_NOPE'] }),
      'string SCMP_ARCH_NOPE is not a valid arch for seccomp',
    ],
    [
      'both architectures and archMap',
      allow([], {
        architectures: ['SCMP_ARCH_X86_64'],
        archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: [] }],
      }),
      "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'",
    ],
    [
      'both name and names',
      allow([{ name: 'mkdir', names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }]),
      "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'",
    ],
    [
      'an unknown operator',
      allow([{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_XX' }] }]),
      'string SCMP_CMP_XX is not a valid operator for seccomp',
    ],
    [
      'an argument index past 5',
      allow([{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 9, value: 1, op: 'SCMP_CMP_EQ' }] }]),
      'error creating seccomp syscall condition for syscall mkdir: syscalls only have up to 6 arguments (9 given)',
    ],
    [
      'a bad minimum kernel',
      allow([{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', includes: { minKernel: 'abc' } }]),
      'Decoding seccomp profile failed: invalid kernel version: "abc", expected "<kernel>.<major>"',
    ],
    [
      'rules without a default action',
      '{"syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}',
      'a defaultAction must be provided in the seccomp profile',
    ],
    ['an unknown flag', allow([], { flags: ['SECCOMP_FILTER_FLAG_NOPE'] }), /seccomp flags "SECCOMP_FILTER_FLAG_NOPE"/],
    [
      'an errno past Linux',
      allow([{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 70000 }]),
      /errnoRet 70000 is not an errno/,
    ],
    [
      'a value podvisor cannot carry exactly',
      allow([{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 2 ** 60, op: 'SCMP_CMP_EQ' }] }]),
      /over 2\^53/,
    ],
  ])('refuses %s', (_what, text, message) => {
    expect(() => parseSeccompProfile(text)).toThrow(InvalidArgumentError);
    expect(() => parseSeccompProfile(text)).toThrow(message);
  });
});

/** The seccomp filter of a Docker create with `hc`: its front's request, then the pod's translation. */
function seccompOf(hc: { Privileged?: boolean; SecurityOpt?: string[] }) {
  const req = parseCreateBody({ Image: 'img', Cmd: ['x'], HostConfig: hc } as CreateBody, 2);
  const image: ImageRecord = {
    id: 'sha256:' + 'a'.repeat(64),
    repoTags: [],
    repoDigests: [],
    config: { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } },
    size: 1,
    storedAt: 0,
  };
  const opts = { defaults: { memoryMiB: 256, cpus: 1 }, hostCpus: 2 };
  return translateCreate(req, image, 'f'.repeat(64), opts).spec.containers[0].seccomp;
}

describe('a Docker create\u2019s seccomp filter (HostConfig.Privileged and SecurityOpt)', () => {
  const custom = allow([{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }]);

  it('gives the default profile unless privileged or unconfined', () => {
    expect(seccompOf({})).toEqual({ profile: 'default' });
    expect(seccompOf({ SecurityOpt: ['no-new-privileges', 'label=disable'] })).toEqual({ profile: 'default' });
    expect(seccompOf({ SecurityOpt: ['seccomp='] })).toEqual({ profile: 'default' });
    expect(seccompOf({ SecurityOpt: ['seccomp=unconfined'] })).toBeUndefined();
    expect(seccompOf({ SecurityOpt: ['seccomp:unconfined'] })).toBeUndefined();
    expect(seccompOf({ Privileged: true })).toBeUndefined();
    // dockerd reads no profile of a privileged container: a bad one is not an error then.
    expect(seccompOf({ Privileged: true, SecurityOpt: ['seccomp={'] })).toBeUndefined();
  });

  it('reads a profile given as JSON, the last seccomp option winning', () => {
    expect(seccompOf({ SecurityOpt: [`seccomp=${custom}`] })).toEqual({
      profile: 'custom',
      spec: { defaultAction: 'allow', architectures: [], rules: [{ names: ['mkdir'], action: 'errno', args: [] }] },
    });
    expect(seccompOf({ SecurityOpt: [`seccomp=${custom}`, 'seccomp=unconfined'] })).toBeUndefined();
    expect(seccompOf({ SecurityOpt: ['seccomp={}'] })).toBeUndefined();
  });

  it('refuses a path where the JSON belongs, as dockerd does (the docker CLI sends the file content)', () => {
    expect(() => seccompOf({ SecurityOpt: ['seccomp=/tmp/profile.json'] })).toThrow(
      /^Decoding seccomp profile failed: /,
    );
  });
});
