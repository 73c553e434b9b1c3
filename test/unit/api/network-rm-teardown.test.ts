/**
 * `docker network rm` right after the containers on it were removed (what `compose down`
 * does): the containers' teardowns, which take them off their networks, run in the background
 * after their stop and rm answered, so the removal waits for them instead of finding an ended
 * container's endpoint (dockerd takes a container off its networks before its stop answers).
 * A network a running container is on is still refused, and a network's inspect lists only running
 * containers (Compose v2's `down` reads it before it asks for the removal). Over the API with dockerode, the real
 * network manager on an in-memory host, and the pod layer on the VM fakes, with each
 * disconnect held for a moment as a busy host holds it.
 */
import Docker from 'dockerode';
import { closeAfterRemovingAll, failureOf, startFakeApi, type FakeApi } from './fake-api';
import { NetworkManager } from '../../../src/net/manager';

let fake: FakeApi;
let docker: Docker;
beforeEach(async () => {
  fake = await startFakeApi({ networks: true });
  docker = new Docker({ socketPath: fake.sock });
  const disconnect = NetworkManager.prototype.disconnect;
  jest.spyOn(NetworkManager.prototype, 'disconnect').mockImplementation(async function (this: NetworkManager, ...a) {
    await new Promise((r) => setTimeout(r, 300));
    return disconnect.apply(this, a);
  });
});
afterEach(async () => {
  jest.restoreAllMocks();
  await closeAfterRemovingAll(fake, docker);
});

test('a network whose containers were just stopped and removed goes at once (no "active endpoints")', async () => {
  const net = await docker.createNetwork({ Name: 'front' });
  const back = await docker.createNetwork({ Name: 'back' });
  const c = await docker.createContainer({
    Image: 'busybox',
    Cmd: ['sleep', '1000'],
    HostConfig: { NetworkMode: 'front' },
  });
  await back.connect({ Container: c.id });
  await c.start();
  await c.stop({ t: 1 });
  await c.remove();
  expect(await failureOf(net.remove())).toEqual([0, '']);
  expect(await failureOf(back.remove())).toEqual([0, '']);
  expect((await docker.listNetworks()).map((n) => n.Name).filter((n) => ['front', 'back'].includes(n))).toEqual([]);
});

test('a network a running container is on is still refused, in dockerd words', async () => {
  const net = await docker.createNetwork({ Name: 'busy' });
  const c = await docker.createContainer({
    Image: 'busybox',
    Cmd: ['sleep', '1000'],
    HostConfig: { NetworkMode: 'busy' },
  });
  await c.start();
  const [status, message] = await failureOf(net.remove());
  expect([status, message]).toEqual([
    403,
    expect.stringMatching(/^error while removing network: network busy id \w+ has active endpoints$/),
  ]);
  await c.remove({ force: true });
});

test("a network's inspect lists only running containers: one just removed is gone at once, as Compose v2's down reads it before removing the network", async () => {
  const net = await docker.createNetwork({ Name: 'shown' });
  const c = await docker.createContainer({
    Image: 'busybox',
    Cmd: ['sleep', '1000'],
    HostConfig: { NetworkMode: 'shown' },
  });
  await c.start();
  expect(Object.keys((await net.inspect()).Containers ?? {})).toEqual([c.id]);
  await c.stop({ t: 1 });
  // The teardown (each disconnect held 300 ms here) is still under way: dockerd lists no stopped container.
  expect((await net.inspect()).Containers).toEqual({});
  await c.remove();
  expect((await net.inspect()).Containers).toEqual({});
  expect(await failureOf(net.remove())).toEqual([0, '']);
});
