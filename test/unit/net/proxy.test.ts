/**
 * src/net/proxy.ts on loopback: a relayed connection whose client never closes does not hold
 * the proxy's close (which every unpublish, and the network operations behind it, waits for);
 * the client sees its connection end.
 */
import * as net from 'node:net';
import { startProxy } from '../../../src/net/proxy';

test('close ends open relayed connections and resolves at once', async () => {
  const upstream = net.createServer((s) => s.write('hi'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const toPort = (upstream.address() as net.AddressInfo).port;
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const hostPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const h = await startProxy({ proto: 'tcp', containerPort: toPort, hostIp: '127.0.0.1', hostPort }, '127.0.0.1');
  const client = net.connect(hostPort, '127.0.0.1');
  await new Promise<void>((r) => client.once('data', () => r()));
  const closed = new Promise<void>((r) => client.once('close', () => r()));
  client.on('error', () => undefined);
  const t0 = Date.now();
  await h.close();
  await closed;
  expect(Date.now() - t0).toBeLessThan(2000);
  await new Promise<void>((r) => upstream.close(() => r()));
});
