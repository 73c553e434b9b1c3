/**
 * src/net/proxy.ts on loopback: a relayed connection whose client never closes does not hold
 * the proxy's close (which every unpublish, and the network operations behind it, waits for);
 * the client sees its connection end. publishAll: a binding with no address is on "::" too,
 * with the same port; a port another endpoint holds gets dockerd's allocator message, a range
 * passes it by.
 */
import * as net from 'node:net';
import { publishAll, startProxy } from '../../../src/net/proxy';
import type { PortRequest } from '../../../src/net/types';

/** A port free on 127.0.0.1 and ::1 now. */
async function freeLoopbackPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('publishAll: no address means every IPv4 and every IPv6 one on one port; an allocated port is refused as dockerd does', async () => {
  const port = await freeLoopbackPort();
  const req: PortRequest = {
    proto: 'tcp',
    containerPort: 80,
    hostIp: '0.0.0.0',
    hostPortMin: port,
    hostPortMax: port,
    alsoIpv6: true,
  };
  const hs = await publishAll([req], '127.0.0.1', 'web (ep)');
  expect(hs.map((h) => h.binding)).toEqual([
    { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPort: port },
    { proto: 'tcp', containerPort: 80, hostIp: '::', hostPort: port },
  ]);
  await Promise.all(hs.map((h) => h.close()));
  const held = (proto: string, ip: string, p: number) => proto === 'tcp' && ip === '::' && p === port;
  await expect(publishAll([req], '127.0.0.1', 'web (ep)', held)).rejects.toThrow(
    `driver failed programming external connectivity on endpoint web (ep): Bind for :::${port} failed: port is already allocated`,
  );
  // A range skips the allocated port (and binds nothing of it).
  const ranged = await publishAll(
    [{ ...req, hostPortMax: port + 1 }],
    '127.0.0.1',
    'web (ep)',
    (_p, _ip, n) => n === port,
  );
  expect(ranged.map((h) => h.binding.hostPort)).toEqual([port + 1, port + 1]);
  await Promise.all(ranged.map((h) => h.close()));
});

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
