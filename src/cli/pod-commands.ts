/**
 * The commands of a pod's life: run-pod, create-pod, start-pod, stop-pod, replace-pod and rm,
 * each one request to the native API (docs/native-api.md), pulling missing images first where
 * it makes a pod.
 */
import type { NativePodView as Pod, NativeReplaceAnswer, NativeStopAnswer } from '../api/native/wire';
import { CliError, EXIT } from './client';
import { intArg, type CommandKit } from './command-kit';
import { json } from './output';
import { pullingMissing } from './pull';
import { sendSpec, specFrom, type SpecOptions } from './spec-input';
import { attachPod, waitPod } from './streams';

/** `run-pod`: boot a VM (or take an idle one), create a pod and run it; -t attaches to it. */
export function runPodCommand(kit: CommandKit): void {
  const { program, client, act, withSpec, podLine } = kit;
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
}

/** `create-pod`: create a pod (Created: storage, no VM). */
export function createPodCommand(kit: CommandKit): void {
  const { program, client, act, withSpec, podLine } = kit;
  withSpec(
    program.command('create-pod').alias('create').description('create a pod (state Created: storage, no VM)'),
  ).action(
    act(async (image: string | undefined, cmd: string[], o: SpecOptions & { json?: boolean }) => {
      const c = client();
      const spec = specFrom(image, cmd, o);
      podLine(await pullingMissing(c, () => sendSpec<Pod>(c, '/v1/pods', spec, {})), !!o.json);
    }),
  );
}

/** `start-pod`: start a created pod on a new VM or an idle one. */
export function startPodCommand(kit: CommandKit): void {
  const { program, io, client, act } = kit;
  program
    .command('start-pod')
    .alias('start')
    .description('start a created pod on a new VM, on an idle one (--vm), or from a checkpoint (--checkpoint)')
    .argument('<pod>', 'pod name or id')
    .option('--vm <id>', 'start on this idle VM')
    .option('--checkpoint <name>', 'start from this checkpoint of the pod (its saved VM: docs/checkpoint.md)')
    .option('--json', 'print JSON')
    .action(
      act(async (ref: string, o: { vm?: string; checkpoint?: string; json?: boolean }) => {
        if (o.vm && o.checkpoint) throw new Error('give either --vm or --checkpoint');
        const pod = encodeURIComponent(ref);
        const p = o.checkpoint
          ? await client().json<Pod>(
              'POST',
              `/v1/pods/${pod}/checkpoints/${encodeURIComponent(o.checkpoint)}/restore`,
              {},
            )
          : await client().json<Pod>('POST', `/v1/pods/${pod}/start`, o.vm ? { vm: o.vm } : {});
        io.out(o.json ? json(p) : `${p.name} running on VM ${p.vm}\n`);
      }),
    );
}

/** `stop-pod`: stop a pod and its VM, or the pod only (--keep-vm). */
export function stopPodCommand(kit: CommandKit): void {
  const { program, io, client, act } = kit;
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
        const r = await client().json<NativeStopAnswer>('POST', `/v1/pods/${encodeURIComponent(ref)}/stop`, {
          ...(o.keepVm ? { keepVm: true } : {}),
          ...(o.time !== undefined ? { timeout: o.time } : {}),
        });
        io.out(o.json ? json(r) : r.vm ? `${r.pod.name} stopped; VM ${r.vm.id} is Idle\n` : `${r.pod.name} stopped\n`);
      }),
    );
}

/** `replace-pod`: stop a running pod and start another on its VM. */
export function replacePodCommand(kit: CommandKit): void {
  const { program, io, client, act } = kit;
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
        const path = `/v1/pods/${encodeURIComponent(o.old)}/replace`;
        const timeout: Record<string, number> = o.time !== undefined ? { timeout: o.time } : {};
        const r = o.new
          ? await client().json<NativeReplaceAnswer>('POST', path, { with: o.new, ...timeout })
          : await pullingMissing(client(), () =>
              sendSpec<NativeReplaceAnswer>(client(), path, specFrom(undefined, [], { file: o.file }), timeout),
            );
        io.out(o.json ? json(r) : `${r.pod.name} running on VM ${r.vm.id} (replaced ${r.replaced.name})\n`);
      }),
    );
}

/** `rm`: remove pods and their storage. */
export function rmPodsCommand(kit: CommandKit): void {
  const { program, io, client, act } = kit;
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
}
