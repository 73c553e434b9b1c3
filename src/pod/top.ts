/**
 * The processes of a running pod: `ps` run in its main container, its table parsed.
 */
import { UnavailableError } from '../errors';
import type { PodContext } from './context';
import { execStart } from './exec-run';
import { AttachSession } from './io';
import { notRunning } from './lifecycle';
import type { Entry } from './registry';

/** A process table: column titles and one row per process. */
export interface ProcessTable {
  titles: string[];
  processes: string[][];
}

/** Run `ps <psArgs>` in the pod's main container and return its table. */
export async function top(ctx: PodContext, e: Entry, psArgs: string): Promise<ProcessTable> {
  if (!e.run) throw notRunning(e.record);
  const args = ['ps', ...psArgs.split(/\s+/).filter(Boolean)];
  const x = ctx.execs.create(e.record.id, {
    args, env: [], workingDir: '/', user: '0', tty: false, attachStdin: false, attachStdout: true, attachStderr: true,
    detachKeys: '', privileged: false,
  });
  const out: Buffer[] = [];
  const errOut: Buffer[] = [];
  const session = new AttachSession({
    stdin: null,
    stdout: true,
    stderr: true,
    detachKeys: Buffer.alloc(0),
    sink: {
      write: (s, d) => {
        (s === 'stdout' ? out : errOut).push(d);
        return true;
      },
      drain: async () => {},
      end: () => {},
    },
  });
  try {
    const started = await execStart(ctx, x.id, session);
    await started.finished;
  } finally {
    ctx.execs.delete(x.id);
  }
  if (x.exitCode !== 0) {
    throw new UnavailableError(`Error running top: ps ${psArgs}: ${Buffer.concat(errOut).toString().trim() || `exit status ${x.exitCode}`}`);
  }
  ctx.emit(e.record, 'top');
  return parsePs(Buffer.concat(out).toString('utf8'), args.join(' '));
}

/**
 * Parse `ps` output into a process table: the header's words are the titles; each row is
 * cut into as many fields, the last one taking the rest of the line (the command). Kernel
 * threads (`[kthreadd]`) and the ps process itself (`psCommand`) are left out: dockerd runs
 * ps outside the container, so neither shows in its answer.
 */
export function parsePs(text: string, psCommand: string): ProcessTable {
  const lines = text.split('\n').filter((l) => l.trim());
  if (lines.length === 0) return { titles: [], processes: [] };
  const titles = lines[0].trim().split(/\s+/);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    const row = fields.slice(0, titles.length - 1);
    row.push(fields.slice(titles.length - 1).join(' '));
    const cmd = row[row.length - 1];
    if (/^\[.*\]$/.test(cmd)) continue;
    if (cmd === psCommand) continue;
    processes.push(row);
  }
  return { titles, processes };
}
