/**
 * A container that joined another's VM (`docker run --network container:X`) is destroyed by the
 * agent before X's VM goes (src/pod/lifecycle/joiners.ts): the agent's destroy syncs its layer
 * to its disk, which a VM killed with the container still in it would lose. Its exit is a
 * kill's (137), as before. The VM and agent are the fakes; the compat test
 * checkpoint-joined.test.ts checks the layer on real VMs.
 */
import { harness, type Harness } from './fakes';
import { mainContainer } from '../../../src/pod/types';
import type { CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { createDockerContainer } from '../../../src/api/v1.41/create/docker-front';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(() => h.cleanup());

const body = (b: Record<string, unknown>) => parseCreateBody({ Image: 'busybox', ...b } as unknown as CreateBody, 2);

test("X's stop destroys the container that joined its VM before the VM goes; the joined one exits 137", async () => {
  const engine = h.engine();
  const x = await createDockerContainer(engine, body({ Cmd: ['sleep', '100'] }), 'xhost');
  const y = await createDockerContainer(
    engine,
    body({ Cmd: ['sleep', '100'], HostConfig: { NetworkMode: 'container:xhost' } }),
    'yjoin',
  );
  await h.pods.start(x.id);
  await h.pods.start(y.id);
  const guests = [...h.hv.guests.values()].filter((g) => g.alive);
  expect(guests).toHaveLength(1);
  const guest = guests[0];
  let callsAtDeath: string[] | undefined;
  const die = guest.die.bind(guest);
  guest.die = (exit) => {
    callsAtDeath ??= [...guest.calls];
    die(exit);
  };
  const yExit = h.pods.wait(y.id, 'not-running');
  await h.pods.stop(x.id, 0);
  expect((await yExit).exitCode).toBe(137);
  expect(callsAtDeath).toContain(`destroyContainer ${mainContainer(y).spec.id}`);
});
