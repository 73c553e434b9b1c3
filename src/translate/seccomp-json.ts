/**
 * Docker's seccomp profile JSON (what `docker run --security-opt seccomp=profile.json` sends, the
 * format of moby's profiles/seccomp and of a CRI Localhost profile file) -> a checked
 * SeccompProfile (src/pod/security/seccomp-types.ts). Decoding follows dockerd (Go's encoding/json into
 * moby's Seccomp struct: case-insensitive names, Go's messages for wrong types), and the checks
 * runc makes when it builds the filter are made here, at create, so a bad profile is a 400 that
 * changes nothing instead of a failed start. Messages carry dockerd's and runc's words.
 *
 *   parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],
 *     "action":"SCMP_ACT_ERRNO"}]}')
 *   -> { defaultAction: 'allow', architectures: [], rules: [{ names: ['mkdir'], action: 'errno', args: [] }] }
 *
 * null means no filter: runc's reading of a profile with neither a default action nor rules.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { InvalidArgumentError } from '../errors';
import type { SeccompAction, SeccompArgTest, SeccompCondition, SeccompProfile, SeccompProfileRule } from '../pod/types';
import { decodeBody } from '../util/go-decode';

const O = Type.Optional;
const Str = (goType?: string) => Type.String(goType ? { goType } : {});
const StrList = (goType: string) => Type.Array(Type.String(), { goType });
const Uint = (goType = 'uint') => Type.Integer({ goType });

const FilterSchema = Type.Object(
  { caps: O(StrList('[]string')), arches: O(StrList('[]string')), minKernel: O(Str('*seccomp.KernelVersion')) },
  { goStruct: 'Filter', goType: 'seccomp.Filter' },
);
const ArgSchema = Type.Object(
  { index: O(Uint()), value: O(Uint('uint64')), valueTwo: O(Uint('uint64')), op: O(Str('specs.LinuxSeccompOperator')) },
  { goStruct: 'LinuxSeccompArg', goType: 'specs.LinuxSeccompArg' },
);
const SyscallSchema = Type.Object(
  {
    names: O(StrList('[]string')),
    name: O(Str()),
    action: O(Str('specs.LinuxSeccompAction')),
    errnoRet: O(Uint()),
    args: O(Type.Array(ArgSchema, { goType: '[]specs.LinuxSeccompArg' })),
    comment: O(Str()),
    includes: O(FilterSchema),
    excludes: O(FilterSchema),
  },
  { goStruct: 'Syscall', goType: 'seccomp.Syscall' },
);
/** moby's profiles/seccomp.Seccomp (the OCI LinuxSeccomp, plus archMap and rule conditions). */
const ProfileSchema = Type.Object(
  {
    defaultAction: O(Str('specs.LinuxSeccompAction')),
    defaultErrnoRet: O(Uint()),
    architectures: O(StrList('[]specs.Arch')),
    archMap: O(
      Type.Array(
        Type.Object(
          { architecture: O(Str('specs.Arch')), subArchitectures: O(StrList('[]specs.Arch')) },
          { goStruct: 'Architecture', goType: 'seccomp.Architecture' },
        ),
        { goType: '[]seccomp.Architecture' },
      ),
    ),
    flags: O(StrList('[]specs.LinuxSeccompFlag')),
    listenerPath: O(Str()),
    listenerMetadata: O(Str()),
    syscalls: O(Type.Array(SyscallSchema, { goType: '[]*seccomp.Syscall' })),
  },
  { goStruct: 'Seccomp', goType: 'seccomp.Seccomp' },
) satisfies TSchema;
type DockerProfile = Static<typeof ProfileSchema>;
type DockerFilter = Static<typeof FilterSchema>;
type DockerSyscall = Static<typeof SyscallSchema>;

/** The guest's architecture as profiles name it (archMap entries are chosen by it). */
const NATIVE_ARCH = 'SCMP_ARCH_X86_64';

const ACTIONS: Record<string, SeccompAction> = {
  SCMP_ACT_ALLOW: 'allow',
  SCMP_ACT_ERRNO: 'errno',
  SCMP_ACT_KILL: 'kill-thread',
  SCMP_ACT_KILL_THREAD: 'kill-thread',
  SCMP_ACT_KILL_PROCESS: 'kill-process',
  SCMP_ACT_TRAP: 'trap',
  SCMP_ACT_TRACE: 'trace',
  SCMP_ACT_LOG: 'log',
};

/** The OCI spec's architectures, by the libseccomp names the agent resolves. */
const ARCHES: Record<string, string> = {
  SCMP_ARCH_X86: 'x86',
  SCMP_ARCH_X86_64: 'x86_64',
  SCMP_ARCH_X32: 'x32',
  SCMP_ARCH_ARM: 'arm',
  SCMP_ARCH_AARCH64: 'aarch64',
  SCMP_ARCH_MIPS: 'mips',
  SCMP_ARCH_MIPS64: 'mips64',
  SCMP_ARCH_MIPS64N32: 'mips64n32',
  SCMP_ARCH_MIPSEL: 'mipsel',
  SCMP_ARCH_MIPSEL64: 'mipsel64',
  SCMP_ARCH_MIPSEL64N32: 'mipsel64n32',
  SCMP_ARCH_PPC: 'ppc',
  SCMP_ARCH_PPC64: 'ppc64',
  SCMP_ARCH_PPC64LE: 'ppc64le',
  SCMP_ARCH_S390: 's390',
  SCMP_ARCH_S390X: 's390x',
  SCMP_ARCH_PARISC: 'parisc',
  SCMP_ARCH_PARISC64: 'parisc64',
  SCMP_ARCH_RISCV64: 'riscv64',
};

const OPS: Record<string, SeccompArgTest['op']> = {
  SCMP_CMP_NE: 'NE',
  SCMP_CMP_LT: 'LT',
  SCMP_CMP_LE: 'LE',
  SCMP_CMP_EQ: 'EQ',
  SCMP_CMP_GE: 'GE',
  SCMP_CMP_GT: 'GT',
  SCMP_CMP_MASKED_EQ: 'MASKED_EQ',
};

/** The filter flags of the OCI spec: accepted; the agent loads every filter without flags. */
const FLAGS = new Set(['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW']);

/** Most rules and names per rule a profile may have (the agent's PV_MAX_SECCOMP_* bounds). */
const MAX_RULES = 1024;
const MAX_NAMES = 1024;
/** errno values Linux has (the filter's return field would take 16 bits). */
const MAX_ERRNO = 4095;
/** A system call name (anything else names no call and is skipped, as an unknown name is). */
const SYSCALL_NAME = /^[a-z0-9_]{1,64}$/;

function bad(msg: string): never {
  throw new InvalidArgumentError(msg);
}

function action(name: string, what: 'default' | 'rule'): SeccompAction {
  if (name === 'SCMP_ACT_NOTIFY')
    bad(
      what === 'default'
        ? 'SCMP_ACT_NOTIFY cannot be used as default action'
        : 'SCMP_ACT_NOTIFY is not supported: podvisor has no seccomp notification listener',
    );
  return ACTIONS[name] ?? bad(`string ${name} is not a valid action for seccomp`);
}

function errnoOf(n: number | undefined): number | undefined {
  if (n !== undefined && n > MAX_ERRNO) bad(`seccomp errnoRet ${n} is not an errno (at most ${MAX_ERRNO})`);
  return n;
}

/** moby's KernelVersion: "<kernel>.<major>". */
function kernelVersion(v: string): string {
  if (!/^\d+\.\d+$/.test(v))
    bad(`Decoding seccomp profile failed: invalid kernel version: ${JSON.stringify(v)}, expected "<kernel>.<major>"`);
  return v;
}

function condition(f: DockerFilter | undefined): SeccompCondition | undefined {
  if (!f) return undefined;
  const out: SeccompCondition = {};
  if (f.caps?.length) out.caps = f.caps;
  if (f.arches?.length) out.arches = f.arches;
  if (f.minKernel) out.minKernel = kernelVersion(f.minKernel);
  return Object.keys(out).length ? out : undefined;
}

/** The architectures the filter covers: `architectures`, or the guest's entry of `archMap`. */
function architectures(p: DockerProfile): string[] {
  if (p.architectures?.length && p.archMap?.length)
    bad("'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'");
  let names = p.architectures ?? [];
  for (const a of p.archMap ?? [])
    if (a.architecture === NATIVE_ARCH) names = [a.architecture, ...(a.subArchitectures ?? [])];
  return [...new Set(names)].map((n) => ARCHES[n] ?? bad(`string ${n} is not a valid arch for seccomp`));
}

function argTests(call: string, c: DockerSyscall): SeccompArgTest[] {
  return (c.args ?? []).map((a): SeccompArgTest => {
    const index = a.index ?? 0;
    if (index > 5)
      bad(
        `error creating seccomp syscall condition for syscall ${call}: syscalls only have up to 6 arguments (${index} given)`,
      );
    const op = OPS[a.op ?? ''] ?? bad(`string ${a.op ?? ''} is not a valid operator for seccomp`);
    const value = a.value ?? 0;
    const value2 = a.valueTwo ?? 0;
    for (const v of [value, value2])
      if (!Number.isSafeInteger(v))
        bad(`seccomp argument value ${v} of ${call} is over 2^53, which podvisor cannot carry exactly`);
    return { index, op, value, value2 };
  });
}

/**
 * Docker's seccomp profile JSON text -> a checked profile, or null for none (see the module
 * comment). Throws InvalidArgumentError with dockerd's or runc's words for a bad one.
 */
export function parseSeccompProfile(text: string): SeccompProfile | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    bad(`Decoding seccomp profile failed: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    bad(
      `Decoding seccomp profile failed: json: cannot unmarshal ${Array.isArray(raw) ? 'array' : typeof raw} into Go value of type seccomp.Seccomp`,
    );
  let p: DockerProfile;
  try {
    p = decodeBody<DockerProfile>(ProfileSchema, raw);
  } catch (err) {
    bad(`Decoding seccomp profile failed: ${(err as Error).message}`);
  }
  const arches = architectures(p);
  const calls = p.syscalls ?? [];
  if (!p.defaultAction && calls.length === 0) return null;
  if (!p.defaultAction) bad('a defaultAction must be provided in the seccomp profile');
  for (const f of p.flags ?? []) if (!FLAGS.has(f)) bad(`seccomp flags ${JSON.stringify(f)} not yet supported`);
  if (calls.length > MAX_RULES) bad(`the seccomp profile has more than ${MAX_RULES} rules`);
  const rules: SeccompProfileRule[] = [];
  for (const c of calls) {
    if (c.name && c.names?.length)
      bad("'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'");
    const names = c.name ? [c.name] : (c.names ?? []);
    if (names.length > MAX_NAMES) bad(`a seccomp rule names more than ${MAX_NAMES} system calls`);
    const act = action(c.action ?? '', 'rule');
    const rule: SeccompProfileRule = {
      names: names.filter((n) => SYSCALL_NAME.test(n)),
      action: act,
      args: argTests(names[0] ?? '', c),
    };
    const errno = errnoOf(c.errnoRet);
    if (errno !== undefined && (act === 'errno' || act === 'trace')) rule.errno = errno;
    const includes = condition(c.includes);
    const excludes = condition(c.excludes);
    if (includes) rule.includes = includes;
    if (excludes) rule.excludes = excludes;
    if (rule.names.length) rules.push(rule);
  }
  const profile: SeccompProfile = { defaultAction: action(p.defaultAction, 'default'), architectures: arches, rules };
  const defaultErrno = errnoOf(p.defaultErrnoRet);
  if (defaultErrno !== undefined && (profile.defaultAction === 'errno' || profile.defaultAction === 'trace'))
    profile.defaultErrno = defaultErrno;
  return profile;
}
