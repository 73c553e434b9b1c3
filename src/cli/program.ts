/**
 * The `podvisor` program (the seeds' verbs, with their short names as aliases), built with
 * commander: the root command with its global options, and its commands in the order --help
 * lists them. The commands live by concern: a pod's life (./pod-commands.ts), idle VMs
 * (./vm-commands.ts), what the daemon holds (./status-commands.ts), a pod's containers as
 * docker works with one (./container-commands.ts); what they share is ./command-kit.ts. Each
 * action prints a table or --json and returns the exit code; failures are CliErrors whose
 * message says what to do (main.ts prints them).
 */
import { Command } from 'commander';
import { PODVISOR_VERSION } from '../util/package-info';
import { Client, endpointOf } from './client';
import { commandKit, type CommandKit, type Io } from './command-kit';
import { attachCommand, execCommand, logsCommand, runCommand } from './container-commands';
import {
  createPodCommand,
  replacePodCommand,
  rmPodsCommand,
  runPodCommand,
  startPodCommand,
  stopPodCommand,
} from './pod-commands';
import { pull } from './pull';
import { infoCommand, listCommand } from './status-commands';
import { rmVmCommand, runVmCommand } from './vm-commands';
import { checkpointCommand, forkCommand } from './checkpoint-commands';

export type { Io };

/** `pull`: an image from a registry, with progress bars on a terminal. */
function pullCommand(kit: CommandKit): void {
  const { program, client, act } = kit;
  program
    .command('pull')
    .description('pull an image from a registry (progress bars on a terminal)')
    .argument('<image>')
    .action(
      act(async (ref: string) => {
        await pull(client(), ref);
      }),
    );
}

/** `version`: the CLI version. */
function versionCommand(kit: CommandKit): void {
  const { program, io, act } = kit;
  program
    .command('version')
    .description('print the CLI version')
    .action(act(async () => io.out(`podvisor ${PODVISOR_VERSION}\n`)));
}

/** The commands in the order `--help` lists them. */
const COMMANDS: Array<(kit: CommandKit) => void> = [
  runPodCommand,
  createPodCommand,
  startPodCommand,
  stopPodCommand,
  replacePodCommand,
  checkpointCommand,
  forkCommand,
  runVmCommand,
  rmVmCommand,
  rmPodsCommand,
  listCommand,
  infoCommand,
  runCommand,
  attachCommand,
  execCommand,
  logsCommand,
  pullCommand,
  versionCommand,
];

/** Build the program; `done(code)` receives each action's exit code. */
export function buildProgram(io: Io, done: (code: number) => void): Command {
  const program = new Command('podvisor');
  program
    .description(
      'Pods and VMs on podvisord: run pods of containers in QEMU microVMs, keep idle VMs, replace pods on them',
    )
    .version(PODVISOR_VERSION, '-v, --version', 'print the CLI version')
    .option(
      '-H, --host <address>',
      'daemon address: unix:///path or tcp://HOST:PORT ' +
        '(default: $PODVISOR_HOST, else unix:///run/podvisor/docker.sock)',
    )
    .showHelpAfterError('(run with --help for usage)')
    // A command's own options come before its arguments: `exec POD sh -c ...` passes -c on.
    .enablePositionalOptions()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride();

  const client = (): Client => {
    const host = program.opts<{ host?: string }>().host;
    return new Client(endpointOf(host), host || process.env.PODVISOR_HOST || 'unix:///run/podvisor/docker.sock');
  };
  const kit = commandKit(program, io, done, client);
  for (const add of COMMANDS) add(kit);
  return program;
}
