/**
 * SET_SECCOMP's fields (guest/include/podvisor_agent.h): a resolved seccomp filter as TLV, checked
 * before it goes so that the agent never sees a value out of its ranges.
 */
import { InvalidArgumentError } from '../../errors';
import type { SeccompAction, SeccompArgTest, SeccompFilter } from '../types';
import { Limits, SeccompAct, SeccompCmp, Tag } from './protocol';
import { TlvWriter } from './tlv';

const ACTIONS: Record<SeccompAction, number> = {
  allow: SeccompAct.ALLOW,
  errno: SeccompAct.ERRNO,
  'kill-thread': SeccompAct.KILL_THREAD,
  'kill-process': SeccompAct.KILL_PROCESS,
  trap: SeccompAct.TRAP,
  trace: SeccompAct.TRACE,
  log: SeccompAct.LOG,
};

/** Linux errno values are below 4096; the filter's return value field holds 16 bits. */
const MAX_ERRNO = 4095;
const NAME_RE = /^[a-z0-9_]{1,64}$/;
const ARCH_RE = /^[a-z0-9_]{1,64}$/;
const KERNEL_RE = /^\d{1,4}(\.\d{1,4})?$/;

function action(a: SeccompAction): number {
  const n = ACTIONS[a];
  if (n === undefined) throw new InvalidArgumentError(`seccomp: unknown action ${JSON.stringify(a)}`);
  return n;
}

function errnoOf(n: number | undefined): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 0 || n > MAX_ERRNO)
    throw new InvalidArgumentError(`seccomp: errno ${n} out of range`);
  return n;
}

function argTest(t: SeccompArgTest): Buffer {
  const op = SeccompCmp[t.op];
  const ok = (v: number) => Number.isSafeInteger(v) && v >= 0;
  if (op === undefined || !Number.isInteger(t.index) || t.index < 0 || t.index > 5 || !ok(t.value) || !ok(t.value2))
    throw new InvalidArgumentError(`seccomp: bad argument test ${JSON.stringify(t)}`);
  const b = Buffer.alloc(24);
  b.writeUInt32LE(t.index, 0);
  b.writeUInt32LE(op, 4);
  b.writeBigUInt64LE(BigInt(t.value), 8);
  b.writeBigUInt64LE(BigInt(t.value2), 16);
  return b;
}

/** SET_SECCOMP's payload for `containerId`: `filter`, or null for none. */
export function encodeSeccomp(containerId: string, filter: SeccompFilter | null): TlvWriter {
  const w = new TlvWriter().str(Tag.CONTAINER_ID, containerId);
  if (!filter) return w.u32(Tag.SECCOMP_DEFAULT, SeccompAct.NONE);
  w.u32(Tag.SECCOMP_DEFAULT, action(filter.defaultAction));
  const def = errnoOf(filter.defaultErrno);
  if (def !== undefined) w.u32(Tag.SECCOMP_ERRNO, def);
  for (const a of filter.architectures) {
    if (!ARCH_RE.test(a)) throw new InvalidArgumentError(`seccomp: bad architecture name ${JSON.stringify(a)}`);
    w.str(Tag.SECCOMP_ARCH, a);
  }
  if (filter.rules.length > Limits.MAX_SECCOMP_RULES)
    throw new InvalidArgumentError(`seccomp: more than ${Limits.MAX_SECCOMP_RULES} rules`);
  for (const r of filter.rules) {
    const rw = new TlvWriter();
    if (r.names.length > Limits.MAX_SECCOMP_SYSCALLS)
      throw new InvalidArgumentError(`seccomp: a rule names more than ${Limits.MAX_SECCOMP_SYSCALLS} system calls`);
    for (const n of r.names) {
      if (!NAME_RE.test(n)) throw new InvalidArgumentError(`seccomp: bad system call name ${JSON.stringify(n)}`);
      rw.str(Tag.SECCOMP_SYSCALL, n);
    }
    rw.u32(Tag.SECCOMP_ACTION, action(r.action));
    const e = errnoOf(r.errno);
    if (e !== undefined) rw.u32(Tag.SECCOMP_ERRNO, e);
    for (const t of r.args) rw.bytes(Tag.SECCOMP_ARG, argTest(t));
    for (const [tag, v] of [
      [Tag.SECCOMP_MIN_KERNEL, r.minKernel],
      [Tag.SECCOMP_BELOW_KERNEL, r.belowKernel],
    ] as const) {
      if (v === undefined) continue;
      if (!KERNEL_RE.test(v)) throw new InvalidArgumentError(`seccomp: bad kernel version ${JSON.stringify(v)}`);
      rw.str(tag, v);
    }
    w.nested(Tag.SECCOMP_RULE, rw);
  }
  return w;
}
