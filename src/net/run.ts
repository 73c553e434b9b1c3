/** Running the host's network tools (`ip`, `iptables-restore`) with bounded time and output. */
import { execFile } from 'node:child_process';

/** Run `cmd args...` (stdin from `input`); resolves stdout, rejects with the tool's stderr. */
export function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 15000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}
