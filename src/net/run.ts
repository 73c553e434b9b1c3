/** Running the host's network tools (`ip`, `iptables-restore`) with bounded time and output. */
import { execFile } from 'node:child_process';

/** A tool that failed: its command line and stderr in the message, the stderr alone in `detail`. */
export class ToolError extends Error {
  constructor(
    message: string,
    /** What the tool wrote to stderr (trimmed), or the spawn's own error when it wrote nothing. */
    readonly detail: string,
  ) {
    super(message);
  }
}

/** Run `cmd args...` (stdin from `input`); resolves stdout, rejects with a ToolError. */
export function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 15000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const detail = String(stderr).trim() || err?.message;
      if (err) reject(new ToolError(`${cmd} ${args.join(' ')}: ${detail}`, detail ?? ''));
      else resolve(String(stdout));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}
