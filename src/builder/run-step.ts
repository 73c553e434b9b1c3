/** The RUN instruction of the classic builder (./builder.ts). */
import type { Instruction } from '../dockerfile/parse';
import type { StepImage } from './backend';
import { BuildError, PROXY_ARGS } from './options';
import type { StageState, StepHost } from './stage';

/**
 * A RUN step: its command in a step container of the stage's image (with the declared build args
 * and the proxy args in its environment), committed as the next image; a cache hit runs nothing.
 * A failed step's container stays unless forcerm; a cancelled one is removed.
 */
export async function runStep(host: StepHost, ins: Instruction, st: StageState, shell: string[]): Promise<void> {
  const cmd = ins.json ?? [...shell, ins.args];
  const argEnv = [...st.args]
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  const proxyEnv = Object.entries(host.opts.buildArgs)
    .filter(([k, v]) => PROXY_ARGS.has(k) && v !== null && !st.args.has(k))
    .map(([k, v]) => `${k}=${v}`);
  const prefix = argEnv.length ? `|${argEnv.length} ${argEnv.join(' ')} ` : '';
  const step: StepImage = {
    ...(st.imageId ? { parentId: st.imageId } : {}),
    ...(st.author ? { author: st.author } : {}),
    config: st.config,
    createdBy: `${prefix}${cmd.join(' ')}`,
    stepCmd: argEnv.length ? [`|${argEnv.length}`, ...argEnv, ...cmd] : [...cmd],
  };
  const hit = host.cached(step.parentId, step.createdBy);
  if (hit) return host.finish(st, step, hit);
  const env = [...(st.config.Env ?? [])];
  for (const e of [...argEnv, ...proxyEnv]) if (!env.some((x) => x.split('=')[0] === e.split('=')[0])) env.push(e);
  let containerId: string | undefined;
  let ok = false;
  try {
    const res = await host.backend.run(
      step,
      cmd,
      env,
      (id) => {
        containerId = id;
        host.say(` ---> Running in ${id.slice(0, 12)}\n`);
      },
      (chunk, stream) =>
        host.say(stream === 'stderr' ? `\x1b[91m${chunk.toString('utf8')}\x1b[0m` : chunk.toString('utf8')),
      host.opts.signal,
    );
    if (host.opts.signal?.aborted) {
      // The backend killed it; dockerd removes a cancelled step's container whatever rm says.
      await host.backend.removeContainer(res.containerId).catch(() => undefined);
      containerId = undefined;
      host.checkCancelled();
    }
    if (res.exitCode !== 0)
      throw new BuildError(`The command '${cmd.join(' ')}' returned a non-zero code: ${res.exitCode}`, res.exitCode);
    const id = await host.backend.commit(res.containerId, step);
    ok = true;
    await host.removeStep(res.containerId);
    await host.finish(st, step, id);
  } finally {
    // dockerd keeps a failed step's container, unless forcerm, which removes it and says so.
    if (!ok && containerId && host.opts.forceRm) {
      await host.backend.removeContainer(containerId).catch(() => undefined);
      host.say(`Removing intermediate container ${containerId.slice(0, 12)}\n`);
    }
  }
}
