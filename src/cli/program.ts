/**
 * The `podvisor` commands (the seeds' verbs, with their short names as aliases), built with
 * commander. Each action prints a table or --json and returns the exit code; failures are
 * CliErrors whose message says what to do (main.ts prints them).
 */
import { Command } from 'commander';
import { PODVISOR_VERSION } from '../util/package-info';
import { Client, CliError, EXIT, endpointOf, errorOf } from './client';
import { json, table } from './output';
import { pull, pullingMissing } from './pull';
import { sendSpec, specFrom, type SpecOptions } from './spec-input';
import { attachPod, execIn, openAttach, waitPod } from './streams';
import type { NativePodView as Pod, NativeVmView as VmInfo } from '../api/native/wire';
import { containersTable, podsTable, vmsTable } from './views';

/** Where a command writes (the process's streams, or a test's). */
export interface Io {
  out(s: string): void;
  err(s: string): void;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const intArg = (name: string) => (v: string) => {
  if (!/^-?\d+$/.test(v)) throw new CliError(`${name} must be a whole number, not "${v}"`, EXIT.usage);
  return Number(v);
};

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
      'daemon address: unix:///path or tcp://HOST:PORT (default: $PODVISOR_HOST, else unix:///run/podvisor/docker.sock)',
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
  /** Wrap an action: its exit code (or 0) goes to `done`. */
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

  withSpec(
    program
      .command('run-pod')
      .alias('pod')
      .description('boot a VM (or use an idle one: --vm), create a pod and run it'),
  )
    .option('--vm <id>', 'run on this idle VM')
    .option('-t, --tty', 'allocate a TTY and attach to it')
    .action(
      act(
        async (
          image: string | undefined,
          cmd: string[],
          o: SpecOptions & { vm?: string; json?: boolean; tty?: boolean },
        ) => {
          const c = client();
          const spec = specFrom(image, cmd, o);
          const pod = await pullingMissing(c, () =>
            sendSpec<Pod>(c, '/v1/pods', spec, { start: true, ...(o.vm ? { vm: o.vm } : {}) }),
          );
          if (!o.tty) return podLine(pod, !!o.json);
          await attachPod(c, pod.id, { tty: true, stdin: true });
          return waitPod(c, pod.id);
        },
      ),
    );

  withSpec(
    program.command('create-pod').alias('create').description('create a pod (state Created: storage, no VM)'),
  ).action(
    act(async (image: string | undefined, cmd: string[], o: SpecOptions & { json?: boolean }) => {
      const c = client();
      const spec = specFrom(image, cmd, o);
      podLine(await pullingMissing(c, () => sendSpec<Pod>(c, '/v1/pods', spec, {})), !!o.json);
    }),
  );

  program
    .command('start-pod')
    .alias('start')
    .description('start a created pod on a new VM, or on an idle one (--vm)')
    .argument('<pod>', 'pod name or id')
    .option('--vm <id>', 'start on this idle VM')
    .option('--json', 'print JSON')
    .action(
      act(async (ref: string, o: { vm?: string; json?: boolean }) => {
        const p = await client().json<Pod>(
          'POST',
          `/v1/pods/${encodeURIComponent(ref)}/start`,
          o.vm ? { vm: o.vm } : {},
        );
        io.out(o.json ? json(p) : `${p.name} running on VM ${p.vm}\n`);
      }),
    );

  program
    .command('stop-pod')
    .alias('stop')
    .description('stop a pod and its VM; with --keep-vm, the pod only (its VM, cleaned, stays Idle)')
    .argument('<pod>', 'pod name or id')
    .option('--keep-vm', 'keep the VM, cleaned and Idle')
    .option('-t, --time <seconds>', 'seconds before SIGKILL', intArg('--time'))
    .option('--json', 'print JSON')
    .action(
      act(async (ref: string, o: { keepVm?: boolean; time?: number; json?: boolean }) => {
        const r = await client().json<{ pod: Pod; vm?: VmInfo }>('POST', `/v1/pods/${encodeURIComponent(ref)}/stop`, {
          ...(o.keepVm ? { keepVm: true } : {}),
          ...(o.time !== undefined ? { timeout: o.time } : {}),
        });
        io.out(o.json ? json(r) : r.vm ? `${r.pod.name} stopped; VM ${r.vm.id} is Idle\n` : `${r.pod.name} stopped\n`);
      }),
    );

  program
    .command('replace-pod')
    .alias('replace')
    .description('stop a running pod and start another on its VM (faster than a fresh start)')
    .requiredOption('-o, --old <pod>', 'the running pod to replace')
    .option('-n, --new <pod>', 'a created pod to start instead')
    .option('-f, --file <file>', 'a pod file (JSON or YAML) to create and start instead')
    .option('-t, --time <seconds>', 'seconds before SIGKILL of the old pod', intArg('--time'))
    .option('--json', 'print JSON')
    .action(
      act(async (o: { old: string; new?: string; file?: string; time?: number; json?: boolean }) => {
        if (!!o.new === !!o.file)
          throw new CliError('give either -n NEW (a created pod) or -f FILE (a pod spec)', EXIT.usage);
        type Replaced = { pod: Pod; replaced: Pod; vm: VmInfo };
        const path = `/v1/pods/${encodeURIComponent(o.old)}/replace`;
        const timeout: Record<string, number> = o.time !== undefined ? { timeout: o.time } : {};
        const r = o.new
          ? await client().json<Replaced>('POST', path, { with: o.new, ...timeout })
          : await pullingMissing(client(), () =>
              sendSpec<Replaced>(client(), path, specFrom(undefined, [], { file: o.file }), timeout),
            );
        io.out(o.json ? json(r) : `${r.pod.name} running on VM ${r.vm.id} (replaced ${r.replaced.name})\n`);
      }),
    );

  program
    .command('run-vm')
    .alias('vm')
    .description('boot an idle VM (no pod)')
    .option('-m, --memory <MiB>', 'memory in MiB', intArg('--memory'))
    .option('-c, --cpus <n>', 'vCPUs', intArg('--cpus'))
    .option('--json', 'print JSON')
    .action(
      act(async (o: { memory?: number; cpus?: number; json?: boolean }) => {
        const vm = await client().json<VmInfo>('POST', '/v1/vms', {
          ...(o.memory ? { memoryMiB: o.memory } : {}),
          ...(o.cpus ? { cpus: o.cpus } : {}),
        });
        io.out(o.json ? json(vm) : `${vm.id}\n`);
      }),
    );

  program
    .command('rm-vm')
    .description('destroy idle VMs')
    .argument('<vm...>', 'VM ids')
    .action(
      act(async (ids: string[]) => {
        for (const id of ids) {
          await client().json('DELETE', `/v1/vms/${encodeURIComponent(id)}`);
          io.out(`${id}\n`);
        }
      }),
    );

  program
    .command('rm')
    .description('remove pods and their storage')
    .argument('<pod...>', 'pod names or ids')
    .option('-f, --force', 'stop running pods first')
    .action(
      act(async (refs: string[], o: { force?: boolean }) => {
        for (const ref of refs) {
          await client().json('DELETE', `/v1/pods/${encodeURIComponent(ref)}${o.force ? '?force=1' : ''}`);
          io.out(`${ref}\n`);
        }
      }),
    );

  program
    .command('list')
    .description('list pods, containers or VMs')
    .addArgument(
      new Command()
        .createArgument('[what]', 'pods, containers or vms')
        .choices(['pods', 'containers', 'vms', 'pod', 'container', 'vm'])
        .default('pods'),
    )
    .option('--json', 'print JSON')
    .action(
      act(async (what: string, o: { json?: boolean }) => {
        const c = client();
        const pods = await c.json<Pod[]>('GET', '/v1/pods');
        if (what.startsWith('vm')) {
          const vms = await c.json<VmInfo[]>('GET', '/v1/vms');
          io.out(o.json ? json(vms) : vmsTable(vms, pods));
        } else if (what.startsWith('container')) {
          io.out(
            o.json
              ? json(pods.flatMap((p) => p.containers.map((x) => ({ ...x, pod: p.id, podName: p.name }))))
              : containersTable(pods),
          );
        } else {
          io.out(o.json ? json(pods) : podsTable(pods));
        }
      }),
    );

  program
    .command('info')
    .description('daemon configuration and counts, like docker info')
    .option('--json', 'print JSON')
    .action(
      act(async (o: { json?: boolean }) => {
        const c = client();
        const [d, pods, vms] = await Promise.all([
          c.json<Record<string, unknown>>('GET', '/v1.41/info'),
          c.json<Pod[]>('GET', '/v1/pods'),
          c.json<VmInfo[]>('GET', '/v1/vms'),
        ]);
        const facts = {
          server: d.ServerVersion,
          host: c.hostText,
          dataRoot: d.DockerRootDir,
          kernel: d.KernelVersion,
          cpus: d.NCPU,
          memory: d.MemTotal,
          pods: pods.length,
          running: pods.filter((p) => p.state === 'Running').length,
          ready: pods.filter((p) => p.ready).length,
          vms: vms.length,
          idleVms: vms.filter((v) => v.state === 'Idle').length,
          images: d.Images,
          isolation: 'QEMU microVM per pod',
        };
        io.out(
          o.json
            ? json(facts)
            : table(
                ['', ''],
                Object.entries(facts).map(([k, v]) => [k, String(v)]),
              )
                .split('\n')
                .slice(1)
                .join('\n'),
        );
      }),
    );

  withNetwork(
    program
      .command('run')
      .description('run one container in a new VM (attached; exits with its code)')
      .passThroughOptions()
      .argument('<image>')
      .argument('[command...]')
      .option('--name <name>', 'pod name')
      .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
      .option('-t, --tty', 'allocate a TTY')
      .option('-i, --interactive', 'keep stdin attached')
      .option('-d, --detach', 'do not attach; print the pod id')
      .option('--rm', 'remove the pod when it exits'),
  ).action(
    act(
      async (
        image: string,
        cmd: string[],
        o: SpecOptions & { interactive?: boolean; detach?: boolean; rm?: boolean },
      ) => {
        const c = client();
        const spec = specFrom(image, cmd, o);
        const pod = await pullingMissing(c, () => c.json<Pod>('POST', '/v1/pods', { spec }));
        if (o.detach) {
          await c.json('POST', `/v1/pods/${pod.id}/start`, {});
          io.out(`${pod.id}\n`);
          return 0;
        }
        const session = await openAttach(c, pod.id, { tty: !!o.tty, stdin: !!o.interactive });
        await c.json('POST', `/v1/pods/${pod.id}/start`, {});
        await session.ended;
        const code = await waitPod(c, pod.id);
        if (o.rm) await c.json('DELETE', `/v1/pods/${pod.id}?force=1`);
        return code;
      },
    ),
  );

  program
    .command('attach')
    .description("attach to a pod's main container (its TTY when it has one)")
    .argument('<pod>', 'pod name or id')
    .action(
      act(async (ref: string) => {
        const c = client();
        const pod = await c.json<Pod>('GET', `/v1/pods/${encodeURIComponent(ref)}`);
        const tty = pod.containers[0]?.tty ?? false;
        await attachPod(c, pod.id, { tty, stdin: tty });
      }),
    );

  program
    .command('exec')
    .description("run a command in a running pod's main container, or in another (-c)")
    .passThroughOptions()
    .argument('<pod>', 'pod name or id')
    .argument('<command...>')
    .option('-c, --container <name>', 'the container of the pod (its name in the pod file, or id)')
    .option('-d, --detach', 'do not attach')
    .option('-t, --tty', 'allocate a TTY')
    .option('-i, --interactive', 'attach stdin')
    .action(
      act(
        async (
          ref: string,
          cmd: string[],
          o: { container?: string; detach?: boolean; tty?: boolean; interactive?: boolean },
        ) => {
          const c = client();
          const pod = await c.json<Pod>('GET', `/v1/pods/${encodeURIComponent(ref)}`);
          return execIn(c, pod.id, cmd, {
            detach: !!o.detach,
            tty: !!o.tty,
            interactive: !!o.interactive,
            ...(o.container ? { container: o.container } : {}),
          });
        },
      ),
    );

  program
    .command('logs')
    .description("a pod's output (its main container's, or another's: -c)")
    .argument('<pod>', 'pod name or id')
    .option('-f, --follow', 'follow the live output')
    .option('-c, --container <name>', 'the container of the pod (its name in the pod file, or id)')
    .action(
      act(async (ref: string, o: { follow?: boolean; container?: string }) => {
        const c = client();
        const pod = await c.json<Pod>('GET', `/v1/pods/${encodeURIComponent(ref)}`);
        const q = new URLSearchParams({
          ...(o.follow ? { follow: '1' } : {}),
          ...(o.container ? { container: o.container } : {}),
        }).toString();
        const res = await c.raw('GET', `/v1/pods/${pod.id}/logs${q ? `?${q}` : ''}`);
        if ((res.statusCode ?? 0) >= 400) {
          const chunks: Buffer[] = [];
          for await (const chunk of res) chunks.push(chunk as Buffer);
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // plain text
          }
          throw errorOf(res.statusCode ?? 500, body);
        }
        for await (const chunk of res) io.out((chunk as Buffer).toString('utf8'));
      }),
    );

  program
    .command('pull')
    .description('pull an image from a registry (progress bars on a terminal)')
    .argument('<image>')
    .action(
      act(async (ref: string) => {
        await pull(client(), ref);
      }),
    );

  program
    .command('version')
    .description('print the CLI version')
    .action(act(async () => io.out(`podvisor ${PODVISOR_VERSION}\n`)));

  return program;
}
