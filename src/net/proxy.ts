/**
 * The userland half of a published port: a listener on the host address and port that
 * relays to the container's address. It serves what DNAT cannot (connections made on the host
 * itself, loopback included), and holding the socket is what reserves the host port: a port
 * already in use fails here, before any rule is written.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { UnavailableError } from '../errors';
import type { PortBinding } from './types';
import type { PortRequest } from './types';

/** How long a UDP flow with no packet keeps its relay socket (dockerd's docker-proxy: 90 s). */
const UDP_IDLE_MS = 90000;

/** One bound host port relaying to a container. */
export interface ProxyHandle {
  binding: PortBinding;
  close(): Promise<void>;
}

/**
 * A TCP relay. Its close ends the relayed connections too (as dockerd's proxy process exits):
 * a client that never closes its side must not hold the unpublish, and with it every network
 * operation queued behind it.
 */
function tcpProxy(hostIp: string, hostPort: number, toIp: string, toPort: number): Promise<{ close(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const open = new Set<() => void>();
    const server = net.createServer({ allowHalfOpen: true }, (client) => {
      const upstream = net.connect({ host: toIp, port: toPort, allowHalfOpen: true });
      const kill = () => {
        client.destroy();
        upstream.destroy();
      };
      open.add(kill);
      client.on('close', () => open.delete(kill));
      client.on('error', kill);
      upstream.on('error', kill);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      // A half close travels on (end -> shutdown of the other side's write half).
      client.pipe(upstream);
      upstream.pipe(client);
    });
    server.once('error', reject);
    // An IPv6 address binds IPv6 alone (as dockerd's tcp6 listener): "::" beside "0.0.0.0" on one port.
    server.listen({ host: hostIp, port: hostPort, exclusive: true, ipv6Only: net.isIPv6(hostIp) }, () => {
      server.off('error', reject);
      resolve({
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            for (const kill of [...open]) kill();
          }),
      });
    });
  });
}

function udpProxy(hostIp: string, hostPort: number, toIp: string, toPort: number): Promise<{ close(): void }> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(hostIp) ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
    const flows = new Map<string, { s: dgram.Socket; timer: NodeJS.Timeout }>();
    sock.on('message', (msg, rinfo) => {
      const key = `${rinfo.address}:${rinfo.port}`;
      let f = flows.get(key);
      if (!f) {
        const s = dgram.createSocket('udp4');
        s.on('message', (reply) => {
          sock.send(reply, rinfo.port, rinfo.address);
          f!.timer.refresh();
        });
        s.on('error', () => undefined);
        f = {
          s,
          timer: setTimeout(() => {
            s.close();
            flows.delete(key);
          }, UDP_IDLE_MS),
        };
        f.timer.unref();
        flows.set(key, f);
      }
      f.timer.refresh();
      f.s.send(msg, toPort, toIp);
    });
    sock.once('error', reject);
    sock.bind({ address: hostIp, port: hostPort, exclusive: true }, () => {
      sock.off('error', reject);
      sock.on('error', () => undefined);
      resolve({
        close: () => {
          for (const f of flows.values()) {
            clearTimeout(f.timer);
            f.s.close();
          }
          flows.clear();
          sock.close();
        },
      });
    });
  });
}

/** Bind one host port (a given one) and relay it to `toIp:containerPort`. */
export async function startProxy(b: PortBinding, toIp: string): Promise<ProxyHandle> {
  if (b.proto === 'tcp') {
    const s = await tcpProxy(b.hostIp, b.hostPort, toIp, b.containerPort);
    return { binding: b, close: () => s.close() };
  }
  const u = await udpProxy(b.hostIp, b.hostPort, toIp, b.containerPort);
  return { binding: b, close: async () => u.close() };
}

/** First port tried for "any free port" (dockerd's ephemeral range starts here). */
export const EPHEMERAL_FIRST = 49153;
export const EPHEMERAL_LAST = 60999;

/**
 * Whether another endpoint of this daemon publishes `hostPort` of `proto` on exactly `hostIp`
 * (dockerd's port allocator keeps one map per address string: 127.0.0.1 beside 0.0.0.0 is
 * not its conflict, the kernel's bind then says "address already in use").
 */
export type AllocatedPort = (proto: 'tcp' | 'udp', hostIp: string, hostPort: number) => boolean;

/** dockerd's words for a host port its allocator holds for another endpoint. */
class PortAllocatedError extends Error {
  constructor(
    readonly hostIp: string,
    port: number,
  ) {
    super(`Bind for ${hostIp}:${port} failed: port is already allocated`);
  }
}

/** Whether a bind failed because the host has no IPv6 (disabled, or not built in). */
function noIpv6(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL';
}

/**
 * Bind one port of a request: its address, and "::" on the same port when it asks for both
 * families (`alsoIpv6`; skipped on a host without IPv6). Throws the failed bind's error with
 * the address it tried; nothing stays bound then.
 */
async function bindBoth(r: PortRequest, port: number, toIp: string, allocated: AllocatedPort): Promise<ProxyHandle[]> {
  const b = { proto: r.proto, containerPort: r.containerPort, hostIp: r.hostIp, hostPort: port };
  if (allocated(r.proto, r.hostIp, port)) throw new PortAllocatedError(r.hostIp, port);
  if (r.alsoIpv6 && allocated(r.proto, '::', port)) throw new PortAllocatedError('::', port);
  const v4 = await startProxy(b, toIp).catch((err: Error) => Promise.reject(Object.assign(err, { hostIp: r.hostIp })));
  if (!r.alsoIpv6) return [v4];
  try {
    return [v4, await startProxy({ ...b, hostIp: '::' }, toIp)];
  } catch (err) {
    if (noIpv6(err)) return [v4];
    await v4.close();
    throw Object.assign(err as Error, { hostIp: '::' });
  }
}

/**
 * Publish every request for one endpoint, or none: the first failure closes what was bound
 * and throws dockerd's message. `label` is "NAME (ENDPOINT ID)" as dockerd names the endpoint.
 */
export async function publishAll(
  reqs: PortRequest[],
  toIp: string,
  label: string,
  allocated: AllocatedPort = () => false,
): Promise<ProxyHandle[]> {
  const done: ProxyHandle[] = [];
  try {
    for (const r of reqs) {
      const [lo, hi] = r.hostPortMin === 0 ? [EPHEMERAL_FIRST, EPHEMERAL_LAST] : [r.hostPortMin, r.hostPortMax];
      let last: (Error & { hostIp?: string }) | undefined;
      let handles: ProxyHandle[] | undefined;
      for (let port = lo; port <= hi && !handles; port++) {
        try {
          handles = await bindBoth(r, port, toIp, allocated);
        } catch (err) {
          last = err as Error & { hostIp?: string };
        }
      }
      if (!handles) {
        if (last instanceof PortAllocatedError && lo === hi)
          throw new UnavailableError(
            `driver failed programming external connectivity on endpoint ${label}: ${last.message}`,
          );
        const code = (last as NodeJS.ErrnoException | undefined)?.code;
        const what =
          code === 'EADDRINUSE'
            ? 'bind: address already in use'
            : code === 'EADDRNOTAVAIL'
              ? 'bind: cannot assign requested address'
              : String(last?.message);
        const range = lo === hi ? `${lo}` : `${lo}-${hi}`;
        const ip = last?.hostIp ?? r.hostIp;
        throw new UnavailableError(
          `driver failed programming external connectivity on endpoint ${label}: Error starting userland proxy: listen ${r.proto}${net.isIPv6(ip) ? '6' : '4'} ${net.isIPv6(ip) ? `[${ip}]` : ip}:${range}: ${what}`,
        );
      }
      done.push(...handles);
    }
    return done;
  } catch (err) {
    await Promise.all(done.map((h) => h.close()));
    throw err;
  }
}
