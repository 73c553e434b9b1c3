/**
 * The `podvisor` CLI: pods and VMs on the native pod API (the seeds' commands: run-pod, vm,
 * create, start, stop, replace, attach, exec, info, list, run, pull, rm, rm-vm, logs; see
 * program.ts). Exit codes (client.ts EXIT): 0 done, 1 the daemon refused or failed, 2 bad
 * usage, 3 daemon unreachable, 4 no such pod or VM, 5 wrong state; `run` and `exec` exit
 * with the process's own code, and a `run` whose start failed with the docker CLI's 125, 126
 * or 127 (container-commands.ts startFailureCode).
 */
import { CommanderError } from 'commander';
import { CliError, EXIT } from './client';
import { buildProgram } from './program';

/** Run the CLI on `argv` (without node and the script); resolves with the exit code. */
export async function runCli(
  argv: string[],
  io = { out: (s: string) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s) },
): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end the parse with exit code 0; usage errors were printed.
      return err.exitCode === 0 ? 0 : EXIT.usage;
    }
    if (err instanceof CliError) {
      io.err(`podvisor: ${err.message}\n`);
      return err.code;
    }
    io.err(`podvisor: ${(err as Error).message}\n`);
    return EXIT.failed;
  }
}

if (require.main === module || process.argv[1]?.endsWith('/bin/podvisor')) {
  void runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
