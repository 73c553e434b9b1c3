/** The commands that show what the daemon holds: list (pods, containers or VMs) and info. */
import { Command } from 'commander';
import type { NativePodView as Pod, NativeVmView as VmInfo } from '../api/native/wire';
import type { CommandKit } from './command-kit';
import { json, table } from './output';
import { containersTable, podsTable, vmsTable } from './views';

/** `list`: pods, containers or VMs, as a table or --json. */
export function listCommand(kit: CommandKit): void {
  const { program, io, client, act } = kit;
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
}

/** `info`: the daemon's configuration and counts, like docker info. */
export function infoCommand(kit: CommandKit): void {
  const { program, io, client, act } = kit;
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
}
