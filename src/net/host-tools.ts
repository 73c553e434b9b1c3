/**
 * The host programs the daemon's networks run (src/net/links.ts: `ip`; ./firewall.ts and
 * ./forwarding.ts: `iptables`, `iptables-restore`, `iptables-save`), each with the Debian
 * package that installs it. A fresh Debian 12 has no iptables: without this check the daemon
 * got as far as making a bridge and then logged `spawn iptables-restore ENOENT`. Checked once,
 * before the networks touch the host, so the log says what is missing and how to install it.
 * scripts/bootstrap.sh (`npm start`) installs these packages; a unit test
 * (test/unit/lint/bootstrap-packages.test.ts) keeps its list in step with what the code runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A program the network set-up runs, and the Debian package that gives it. */
export interface HostTool {
  program: string;
  debianPackage: string;
}

/** What the network set-up runs on the host. */
export const NETWORK_TOOLS: readonly HostTool[] = [
  { program: 'ip', debianPackage: 'iproute2' },
  { program: 'iptables', debianPackage: 'iptables' },
  { program: 'iptables-restore', debianPackage: 'iptables' },
  { program: 'iptables-save', debianPackage: 'iptables' },
];

/** Whether `program` is an executable file in one of the directories of `searchPath`. */
function onPath(program: string, searchPath: string): boolean {
  return searchPath
    .split(':')
    .filter((d) => d !== '')
    .some((dir) => {
      try {
        const p = path.join(dir, program);
        fs.accessSync(p, fs.constants.X_OK);
        return fs.statSync(p).isFile();
      } catch {
        return false;
      }
    });
}

/** The tools of `tools` that `searchPath` (default: this process's PATH) does not have. */
export function missingTools(tools: readonly HostTool[], searchPath = process.env.PATH ?? ''): HostTool[] {
  return tools.filter((t) => !onPath(t.program, searchPath));
}

/**
 * Throw, naming each missing program, its package and the command that installs it, when the
 * network set-up could not run; return when every tool is there.
 */
export function checkNetworkTools(searchPath = process.env.PATH ?? ''): void {
  const missing = missingTools(NETWORK_TOOLS, searchPath);
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((t) => t.debianPackage))];
  throw new Error(
    `this host lacks ${missing.map((t) => t.program).join(', ')} (not found in PATH ${searchPath || '(empty)'}): ` +
      `container networks, published ports and their DNS need them. Install them ` +
      `(Debian: apt-get install ${pkgs.join(' ')}; \`npm start\` installs them) and restart the daemon`,
  );
}
