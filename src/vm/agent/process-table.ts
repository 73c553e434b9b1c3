/**
 * The answer of PROCESS_TABLE (guest/include/podvisor_agent.h), decoded without trusting the
 * guest: counts and sizes are bounded, numbers checked; anything out of bounds is a protocol
 * error (UnavailableError), as every malformed answer. Names and arguments are the guest
 * process's own bytes: decoded leniently (invalid UTF-8 becomes U+FFFD), never rejected, so
 * a process cannot break its VM's agent connection by the name it gives itself.
 */
import type { GuestProcessTable, GuestTask } from '../types';
import { Limits, Tag } from './protocol';
import { protocolError, type TlvReader } from './tlv';

/** The longest comm the host takes (the kernel's is 15 bytes). */
const MAX_COMM = 64;
const MAX_PID = 2 ** 22;

function pidField(r: TlvReader, tag: number, what: string, zeroOk: boolean): number {
  const v = r.needU32(tag);
  if (v > MAX_PID || (!zeroOk && v === 0)) throw protocolError(`process table: ${what} ${v} out of range`);
  return v;
}

function decodeTask(r: TlvReader): GuestTask {
  const comm = r.bytes(Tag.COMM) ?? Buffer.alloc(0);
  if (comm.length > MAX_COMM) throw protocolError(`process table: command name of ${comm.length} bytes`);
  const cmdline = r.bytes(Tag.CMDLINE) ?? Buffer.alloc(0);
  if (cmdline.length > Limits.MAX_CMDLINE) throw protocolError(`process table: ${cmdline.length} bytes of arguments`);
  const state = r.needStr(Tag.STATE, 1);
  if (!/^[A-Za-z]$/.test(state)) throw protocolError(`process table: state ${JSON.stringify(state)}`);
  const nice = r.needU32(Tag.NICE);
  if (nice > 39) throw protocolError(`process table: nice field ${nice} out of range`);
  const parts = cmdline.toString('utf8').split('\0');
  // The arguments end with a NUL each: the last piece is empty (or a cut-off argument).
  if (parts[parts.length - 1] === '') parts.pop();
  return {
    pid: pidField(r, Tag.PID, 'pid', false),
    ppid: pidField(r, Tag.PPID, 'parent pid', true),
    pgid: pidField(r, Tag.PGID, 'process group', true),
    sid: pidField(r, Tag.SID, 'session', true),
    tpgid: pidField(r, Tag.TPGID, 'terminal process group', true),
    uid: r.needU32(Tag.UID),
    gid: r.needU32(Tag.GID),
    state,
    startTicks: r.needU64(Tag.START_TICKS),
    utime: r.needU64(Tag.UTIME),
    stime: r.needU64(Tag.STIME),
    vszKiB: r.needU64(Tag.VSZ),
    rssKiB: r.needU64(Tag.RSS),
    tty: r.needU32(Tag.TTY),
    threads: r.needU32(Tag.THREADS),
    nice: nice - 20,
    comm: comm.toString('utf8'),
    args: parts,
  };
}

/** Decode and check a PROCESS_TABLE answer; throws a protocol error when it is malformed. */
export function decodeProcessTable(r: TlvReader): GuestProcessTable {
  const records = r.records(Tag.TASK);
  if (records.length > Limits.MAX_TOP_PROCESSES) throw protocolError(`process table of ${records.length} processes`);
  const clockTicks = r.needU32(Tag.CLOCK_TICKS);
  if (clockTicks < 1 || clockTicks > 100_000)
    throw protocolError(`process table: ${clockTicks} clock ticks per second`);
  const tasks = records.map(decodeTask);
  for (let i = 1; i < tasks.length; i++) {
    if (tasks[i].pid <= tasks[i - 1].pid) throw protocolError('process table: pids not in ascending order');
  }
  return {
    clockTicks,
    uptimeMs: r.needU64(Tag.UPTIME),
    memTotalKiB: r.needU64(Tag.MEM_TOTAL),
    tasks,
    truncated: r.u32(Tag.TRUNCATED) === 1,
  };
}
