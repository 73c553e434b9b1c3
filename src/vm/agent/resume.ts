/**
 * The reattach side of output durability: decoding LIST_PROCESSES records, and asking the
 * agent (RESUME_OUTPUT) to re-send a process's output from what the host has stored, with
 * every offset of the answer checked (see PV_OP_RESUME_OUTPUT in the protocol header).
 */
import type { OutputResume } from '../types';
import { InvalidArgumentError, PodvisorError } from '../../errors';
import { logger } from '../../util/log';
import type { StreamOffsets } from './process';
import { Limits, Tag } from './protocol';
import { protocolError, TlvReader, TlvWriter } from './tlv';

const log = logger('agent');

/** A process record of LIST_PROCESSES. */
export interface ListedProcess {
  handle: number;
  processId: string;
  containerId: string;
  pid: number;
  terminal: boolean;
  stdin: boolean;
  offsets: StreamOffsets;
}

/** The records of a LIST_PROCESSES answer (throws a protocol error when malformed). */
export function decodeListed(r: TlvReader): ListedProcess[] {
  const out: ListedProcess[] = [];
  for (const rec of r.records(Tag.PROCESS)) {
    const handle = rec.needU32(Tag.HANDLE);
    if (handle === 0) throw protocolError('process handle 0');
    out.push({
      handle,
      processId: rec.needStr(Tag.PROCESS_ID, Limits.MAX_ID),
      containerId: rec.needStr(Tag.CONTAINER_ID, Limits.MAX_ID),
      pid: rec.needU32(Tag.PID),
      terminal: rec.needU32(Tag.TERMINAL) === 1,
      stdin: rec.needU32(Tag.STDIN) === 1,
      offsets: {
        stdoutSent: rec.needU64(Tag.STDOUT_SENT),
        stderrSent: rec.needU64(Tag.STDERR_SENT),
        stdinReceived: rec.needU64(Tag.STDIN_RECEIVED),
        stdinLimit: rec.needU64(Tag.STDIN_LIMIT),
      },
    });
  }
  return out;
}

/** What resumeOutput needs of the client. */
export interface ResumeChannel {
  /** Send RESUME_OUTPUT with these fields; resolves with the ACK's fields. */
  request(w: TlvWriter): Promise<TlvReader>;
  /** Run a decoder over an answer: a malformed answer closes the channels. */
  decode<T>(fn: () => T): T;
  /** True once the channels are closed. */
  closed(): boolean;
}

/**
 * RESUME_OUTPUT for a listed process that is not attached yet: `l.offsets` then hold the
 * offsets its streams start at. An answer before the offset asked is a protocol violation
 * (the host would store bytes twice); one after it means the agent no longer kept those
 * bytes (reported through `want.lost`). A refusal (the host's offsets are beyond what the
 * process wrote: not its log) leaves the offsets as listed, and nothing is re-sent.
 */
export async function resumeOutput(l: ListedProcess, want: OutputResume, ch: ResumeChannel): Promise<void> {
  const ask = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (!ask(want.stdout) || !ask(want.stderr)) throw new InvalidArgumentError('invalid output offsets');
  const w = new TlvWriter().str(Tag.PROCESS_ID, l.processId).u64(Tag.STDOUT_DURABLE, want.stdout);
  if (!l.terminal) w.u64(Tag.STDERR_DURABLE, want.stderr);
  let a: TlvReader;
  try {
    a = await ch.request(w);
  } catch (e) {
    if (ch.closed() || !(e instanceof PodvisorError)) throw e;
    log.warn(`process ${l.processId}: output not re-sent (${e.message})`);
    return;
  }
  const streams: Array<['stdout' | 'stderr', number, number]> = [['stdout', Tag.STDOUT_FROM, want.stdout]];
  if (!l.terminal) streams.push(['stderr', Tag.STDERR_FROM, want.stderr]);
  const from = ch.decode(() =>
    streams.map(([name, tag, asked]) => {
      const f = a.needU64(tag);
      if (f < asked) throw protocolError(`RESUME_OUTPUT re-sends ${name} from ${f}, before the ${asked} bytes asked`);
      return f;
    }),
  );
  const listed = [l.offsets.stdoutSent, l.offsets.stderrSent];
  streams.forEach(([name, , asked], i) => {
    if (from[i] > asked) want.lost(name, from[i] - asked);
    if (listed[i] > from[i])
      log.info(`process ${l.processId}: re-sending ${listed[i] - from[i]} bytes of ${name} the host had not stored`);
  });
  l.offsets.stdoutSent = from[0];
  if (!l.terminal) l.offsets.stderrSent = from[1];
}
