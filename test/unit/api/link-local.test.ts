/**
 * `--link-local-ip` (an endpoint's IPAMConfig.LinkLocalIPs) as dockerd 20.10 serves it: the
 * container's interface on that network gets each address as one more (a /16), inspect echoes
 * them in IPAMConfig, a connect can give them too, and bad ones get dockerd's words. Checked
 * over the API with dockerode, the real network manager on an in-memory host and the pod layer
 * on the VM fakes (the fake guest's interfaces show what the agent was asked).
 */
import Docker from 'dockerode';
import { startFakeApi, type FakeApi } from './fake-api';
import type { FakeVm } from '../../helpers/fake-vm';

let fake: FakeApi;
let docker: Docker;
beforeEach(async () => {
  fake = await startFakeApi({ networks: true });
  docker = new Docker({ socketPath: fake.sock });
});
afterEach(async () => {
  for (const c of await docker.listContainers({ all: true })) await docker.getContainer(c.Id).remove({ force: true });
  await fake.close();
});

async function status(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
    return [0, ''];
  } catch (err) {
    const e = err as { statusCode: number; json?: { message: string } };
    return [e.statusCode, e.json?.message ?? ''];
  }
}

/** The fake guest interfaces of a running container's VM. */
function interfacesOf(id: string) {
  const vmId = fake.h.pods.get(id).sandbox.vmId;
  const vm = fake.h.factory.handedOut.find((v) => v.id === vmId) as FakeVm;
  return vm.guest.interfaces;
}

test('at create: the interface gets them as secondary /16 addresses; inspect echoes them before and after the start', async () => {
  const c = await docker.createContainer({
    Image: 'busybox', Cmd: ['sleep', '1000'], HostConfig: { NetworkMode: 'bridge' },
    NetworkingConfig: { EndpointsConfig: { bridge: { IPAMConfig: { LinkLocalIPs: ['169.254.8.8', '169.254.9.9'] } } } },
  });
  expect((await c.inspect()).NetworkSettings.Networks.bridge.IPAMConfig).toEqual({ LinkLocalIPs: ['169.254.8.8', '169.254.9.9'] });
  await c.start();
  const ep = (await c.inspect()).NetworkSettings.Networks.bridge;
  expect(ep.IPAMConfig).toEqual({ LinkLocalIPs: ['169.254.8.8', '169.254.9.9'] });
  const eth0 = interfacesOf(c.id).find((i) => i.name === 'eth0');
  expect(eth0).toMatchObject({ up: true, address: ep.IPAddress, secondary: [{ address: '169.254.8.8', prefix: 16 }, { address: '169.254.9.9', prefix: 16 }] });
});

test('at connect of a running container: that network\'s interface gets them; a disconnect and a plain connect drop them', async () => {
  const net = await docker.createNetwork({ Name: 'll' });
  const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '1000'] });
  await c.start();
  await net.connect({ Container: c.id, EndpointConfig: { IPAMConfig: { LinkLocalIPs: ['169.254.7.7'] } } });
  const ep = (await c.inspect()).NetworkSettings.Networks.ll;
  expect(ep.IPAMConfig).toEqual({ LinkLocalIPs: ['169.254.7.7'] });
  const nic = interfacesOf(c.id).find((i) => i.address === ep.IPAddress);
  expect(nic?.secondary).toEqual([{ address: '169.254.7.7', prefix: 16 }]);
  expect(interfacesOf(c.id).find((i) => i.name === 'eth0')?.secondary).toBeUndefined();
  await net.disconnect({ Container: c.id });
  await net.connect({ Container: c.id });
  const again = (await c.inspect()).NetworkSettings.Networks.ll;
  expect(again.IPAMConfig).toBeNull();
  expect(interfacesOf(c.id).find((i) => i.address === again.IPAddress)?.secondary).toBeUndefined();
});

test('bad ones: dockerd\'s words, nothing created', async () => {
  const ask = (ips: string[]) => docker.createContainer({ Image: 'busybox', HostConfig: { NetworkMode: 'bridge' }, NetworkingConfig: { EndpointsConfig: { bridge: { IPAMConfig: { LinkLocalIPs: ips } } } } });
  expect(await status(ask(['garbage', '169.254.1.1']))).toEqual([400, 'Invalid link-local IP address: [garbage 169.254.1.1]']);
  expect(await status(ask(['10.1.2.3']))).toEqual([400, 'invalid link local IP address: 10.1.2.3']);
  expect((await status(ask(['fe80::5'])))[0]).toBe(501);
  expect(await docker.listContainers({ all: true })).toEqual([]);
});
