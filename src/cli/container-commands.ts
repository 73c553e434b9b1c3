/**
 * The commands that work with a pod's containers as docker does with one: run (attached, its
 * exit code), attach, exec and logs.
 */
import type { NativePodView as Pod } from '../api/native/wire';
import { CliError, errorOf } from './client';
import { collect, type CommandKit } from './command-kit';
import { pullingMissing } from './pull';
import { specFrom, type SpecOptions } from './spec-input';
import { attachPod, execIn, openAttach, waitPod } from './streams';

/** `run`: one container in a new VM, attached; exits with its code. */
export function runCommand(kit: CommandKit): void {
  const { program, io, client, act, withNetwork } = kit;
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
        try {
          await c.json('POST', `/v1/pods/${pod.id}/start`, {});
        } catch (err) {
          // Nothing will come on the session; --rm removes the pod that never ran, as dockerd
          // removes an AutoRemove container whose start failed.
          session.close();
          if (o.rm) await c.json('DELETE', `/v1/pods/${pod.id}?force=1`).catch(() => undefined);
          throw err instanceof CliError ? new CliError(err.message, startFailureCode(err.message)) : err;
        }
        await session.ended;
        const code = await waitPod(c, pod.id);
        if (o.rm) await c.json('DELETE', `/v1/pods/${pod.id}?force=1`);
        return code;
      },
    ),
  );
}

/**
 * The exit code of a `run` whose start failed, as the docker CLI's: 127 when the command was
 * not found, 126 when it could not be executed, 125 for any other failure.
 */
export function startFailureCode(message: string): number {
  if (/executable file not found|no such file or directory/i.test(message)) return 127;
  if (/permission denied|is a directory/i.test(message)) return 126;
  return 125;
}

/** `attach`: to a pod's main container. */
export function attachCommand(kit: CommandKit): void {
  const { program, client, act } = kit;
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
}

/** `exec`: a command in a running pod's main container or another (-c). */
export function execCommand(kit: CommandKit): void {
  const { program, client, act } = kit;
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
}

/** `logs`: a pod's output, or one of its containers'. */
export function logsCommand(kit: CommandKit): void {
  const { program, io, client, act } = kit;
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
}
