/**
 * The commands of checkpoints (docs/checkpoint.md): checkpoint (save a running pod whole, or
 * list and remove its checkpoints) and fork (start new pods from a checkpoint).
 */
import type { NativePodView as PodInfo } from '../api/native/wire';
import { collect, intArg, type CommandKit } from './command-kit';
import { json, table } from './output';

/** The pod and checkpoint names of a path of the native API. */
const at = (pod: string, name?: string) =>
  `/v1/pods/${encodeURIComponent(pod)}/checkpoints${name ? `/${encodeURIComponent(name)}` : ''}`;

/** `checkpoint`: save a running pod's VM whole (it stops, unless --leave-running), list or remove checkpoints. */
export function checkpointCommand(kit: CommandKit): void {
  const { program, io, client, act } = kit;
  program
    .command('checkpoint')
    .description(
      'save a running pod whole as checkpoint NAME (the pod stops unless --leave-running), or as image REF with --image (docs/checkpoint-images.md); --ls lists, --rm removes',
    )
    .argument('<pod>')
    .argument('[name]')
    .option('--leave-running', 'the pod runs on after the save')
    .option(
      '--image <ref>',
      'save it as image REF (repo[:tag]): pushed, pulled and run as any image, started from its saved state',
    )
    .option('--ls', "list the pod's checkpoints")
    .option('--rm', 'remove checkpoint NAME')
    .action(
      act(
        async (
          pod: string,
          name: string | undefined,
          o: { leaveRunning?: boolean; ls?: boolean; rm?: boolean; image?: string },
        ) => {
          if (o.ls) {
            const list = await client().json<Array<{ name: string }>>('GET', at(pod));
            io.out(
              table(
                ['CHECKPOINT'],
                list.map((c) => [c.name]),
              ),
            );
            return;
          }
          if (o.image && !o.rm) {
            const made = await client().json<{ image: string }>('POST', at(pod), {
              image: o.image,
              ...(name ? { name } : {}),
              ...(o.leaveRunning ? { leaveRunning: true } : {}),
            });
            io.out(`${made.image}\n`);
            return;
          }
          if (!name) throw new Error('give the checkpoint a name');
          if (o.rm) await client().json('DELETE', at(pod, name));
          else await client().json('POST', at(pod), { name, ...(o.leaveRunning ? { leaveRunning: true } : {}) });
          io.out(`${name}\n`);
        },
      ),
    );
}

/** `fork`: start new pods from a checkpoint, each with its own name, address and disk. */
export function forkCommand(kit: CommandKit): void {
  const { program, io, client, act } = kit;
  program
    .command('fork')
    .description(
      'start new pods from checkpoint NAME of a pod: each its own name, address and disk, its processes the saved ones',
    )
    .argument('<pod>')
    .argument('<name>')
    .option('-n, --count <n>', 'how many (default 1, or one per --name)', intArg('--count'))
    .option('--name <name>', "a fork's name (repeatable)", collect)
    .option('--json', 'print JSON')
    .action(
      act(async (pod: string, name: string, o: { count?: number; name?: string[]; json?: boolean }) => {
        const forks = await client().json<PodInfo[]>('POST', `${at(pod, name)}/fork`, {
          ...(o.count !== undefined ? { count: o.count } : {}),
          ...(o.name?.length ? { names: o.name } : {}),
        });
        io.out(o.json ? json(forks) : forks.map((f) => `${f.name} running on VM ${f.vm}\n`).join(''));
      }),
    );
}
