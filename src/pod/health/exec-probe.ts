/**
 * One probe command run as an exec in a container of a running pod, within a timeout: what
 * both the health check (./health.ts) and the exec probes of pod files (./probes.ts) run. The
 * exec has the container's user, working directory and environment and publishes the exec
 * events; it is not kept for inspection afterwards. A probe that runs longer than its timeout
 * (its start included: a guest that stopped answering never answers it) is killed (SIGKILL)
 * and counts as a failure; one that cannot start counts as a failure too (exit code -1, the
 * error as its output).
 */
import type { PodContext } from '../context';
import { AttachSession } from '../io/io';
import { capturedExecConfig } from '../io/exec';
import { execCreate, execStart } from '../io/exec-run';
import type { Entry, Run } from '../records/registry';
import { nowRfc3339 } from '../../util/time';
import type { ProbeResult } from './probe-types';

/** Bytes of a probe's output (stdout and stderr together) that are kept. */
export const PROBE_OUTPUT_LIMIT = 4096;
/** How long a killed probe may take to go away before the caller goes on. */
const KILL_WAIT_MS = 5000;

export type { ProbeResult } from './probe-types';

/** Keeps the first PROBE_OUTPUT_LIMIT bytes of what is written, and whether more came. */
class LimitedOutput {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;

  write(data: Buffer): void {
    const keep = Math.min(PROBE_OUTPUT_LIMIT - this.size, data.length);
    if (keep > 0) {
      this.chunks.push(data.subarray(0, keep));
      this.size += keep;
    }
    if (keep < data.length) this.truncated = true;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8') + (this.truncated ? '...' : '');
  }
}

/** A session that keeps what the probe writes (stdout and stderr in one buffer). */
function collectingSession(out: LimitedOutput): AttachSession {
  return new AttachSession({
    stdin: null,
    stdout: true,
    stderr: true,
    detachKeys: Buffer.alloc(0),
    sink: { write: (_s, data) => (out.write(data), true), drain: async () => undefined, end: () => undefined },
  });
}

/**
 * Run `args` once as an exec in container `container` of the pod (absent: its main
 * container), within `timeoutMs` (see the module comment). Never rejects.
 */
export async function runExecProbe(
  ctx: PodContext,
  e: Entry,
  run: Run,
  args: string[],
  timeoutMs: number,
  container?: string,
): Promise<ProbeResult> {
  const start = nowRfc3339();
  const out = new LimitedOutput();
  let execId: string | undefined;
  try {
    const x = execCreate(ctx, e, capturedExecConfig(args, container));
    execId = x.id;
    // The timeout covers the exec's start too: a guest that stopped answering never answers
    // the start, and its probe must still fail (the container turns unhealthy).
    const started = execStart(ctx, x.id, collectingSession(out));
    started.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      started.then(() => (x.finished ?? Promise.resolve()).then(() => false)),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs).unref())),
    ]).finally(() => clearTimeout(timer));
    if (timedOut) {
      // A probe whose start was never answered has no process to kill or wait for.
      if (x.processId) {
        if (!ctx.closing) await run.vm.agent.signalProcess(x.processId, 9).catch(() => undefined);
        let wait: NodeJS.Timeout | undefined;
        await Promise.race([x.finished, new Promise((r) => (wait = setTimeout(r, KILL_WAIT_MS).unref()))]).finally(() =>
          clearTimeout(wait),
        );
      }
      return { start, end: nowRfc3339(), exitCode: -1, output: '', timedOutMs: timeoutMs };
    }
    return { start, end: nowRfc3339(), exitCode: x.exitCode ?? -1, output: out.text() };
  } catch (err) {
    return { start, end: nowRfc3339(), exitCode: -1, output: (err as Error).message };
  } finally {
    // Probes are not kept for inspection: one a second would crowd the container's exec list.
    if (execId) ctx.execs.delete(execId);
  }
}
