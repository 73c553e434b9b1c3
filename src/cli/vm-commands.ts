/** The commands of idle VMs: run-vm (boot one, no pod) and rm-vm (destroy idle ones). */
import type { NativeVmView as VmInfo } from '../api/native/wire';
import { intArg, type CommandKit } from './command-kit';
import { json } from './output';

/** `run-vm`: boot an idle VM. */
export function runVmCommand(kit: CommandKit): void {
  const { program, io, client, act } = kit;
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
}

/** `rm-vm`: destroy idle VMs. */
export function rmVmCommand(kit: CommandKit): void {
  const { program, io, client, act } = kit;
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
}
