/**
 * The `podvisor` CLI: pods and VMs on the native pod API (hyperctl's commands: run, vm,
 * create, start, stop, replace, attach, exec, list, info, pull, rm). This first version only
 * knows `version`; the pod commands come with the native pod API.
 */
import { PODVISOR_VERSION } from '../util/package-info';

const USAGE = `Usage: podvisor COMMAND

Commands:
  version   Print the CLI version
`;

function main(argv: string[]): number {
  const cmd = argv[0];
  if (cmd === 'version') {
    process.stdout.write(`podvisor ${PODVISOR_VERSION}\n`);
    return 0;
  }
  process.stderr.write(cmd ? `podvisor: unknown command "${cmd}"\n${USAGE}` : USAGE);
  return cmd ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
