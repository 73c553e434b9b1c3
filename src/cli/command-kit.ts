/**
 * What every `podvisor` command is built from: the program to add it to, where it writes, a
 * client of the daemon, the wrapper that hands an action's exit code on, and the option sets
 * that several commands share (a pod spec from a file or a command line, its network).
 */
import type { Command } from 'commander';
import type { NativePodView as Pod } from '../api/native/wire';
import { CliError, EXIT, type Client } from './client';
import { json } from './output';

/** Where a command writes (the process's streams, or a test's). */
export interface Io {
  out(s: string): void;
  err(s: string): void;
}

/** The pieces a module of commands adds its commands with (made once by buildProgram). */
export interface CommandKit {
  /** The root command; each command module adds its commands to it. */
  program: Command;
  io: Io;
  /** A client of the daemon named by -H (or $PODVISOR_HOST, or the default socket). */
  client(): Client;
  /** Wrap an action: its exit code (or 0) goes to buildProgram's `done`. */
  act<A extends unknown[]>(f: (...a: A) => Promise<number | void>): (...a: A) => Promise<void>;
  /** Add the network options of a command that makes a pod from a command line. */
  withNetwork(c: Command): Command;
  /** Add IMAGE [COMMAND...], -f FILE and the other options of a command that makes a pod. */
  withSpec(c: Command): Command;
  /** Print a made pod: its name and id, or its JSON. */
  podLine(p: Pod, asJson: boolean): void;
}

/** Commander's collector of a repeatable option. */
export const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Commander's parser of a whole-number option named `name`; anything else is a usage error. */
export const intArg = (name: string) => (v: string) => {
  if (!/^-?\d+$/.test(v)) throw new CliError(`${name} must be a whole number, not "${v}"`, EXIT.usage);
  return Number(v);
};

/** The kit of `program`, its commands writing to `io` and their exit codes going to `done`. */
export function commandKit(program: Command, io: Io, done: (code: number) => void, client: () => Client): CommandKit {
  const act =
    <A extends unknown[]>(f: (...a: A) => Promise<number | void>) =>
    async (...a: A) =>
      done((await f(...a)) ?? 0);
  // The network options of every command that makes a pod from a command line.
  const withNetwork = (c: Command) =>
    c
      .option('--network <name>', 'network to join (default: the default bridge; "none": loopback only)')
      .option('-p, --publish <[ip:][hostPort:]port[/proto]>', 'publish a port, as docker run -p (repeatable)', collect);
  const withSpec = (c: Command) =>
    withNetwork(
      c
        .passThroughOptions()
        .argument('[image]', 'image of a single-container pod (instead of -f)')
        .argument('[command...]', 'its command')
        .option(
          '-f, --file <file>',
          'pod file: Kubernetes Pod, hyper podfile or native spec, JSON or YAML (docs/native-api.md)',
        )
        .option('--name <name>', 'pod name')
        .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
        .option('-w, --workdir <dir>', 'working directory')
        .option('-l, --label <KEY=VALUE>', 'label (repeatable)', collect),
    ).option('--json', 'print JSON');
  const podLine = (p: Pod, asJson: boolean) => io.out(asJson ? json(p) : `${p.name} ${p.id}\n`);
  return { program, io, client, act, withNetwork, withSpec, podLine };
}
