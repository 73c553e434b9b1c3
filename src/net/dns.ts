/**
 * The DNS server of one user network, on its gateway address, port 53, UDP and TCP. Names
 * of containers (name, short id, aliases) are answered from the endpoints the asker can see
 * (the `resolve` callback scopes them to the asker's networks); every other question is
 * relayed to the host's resolvers (/etc/resolv.conf). Packets are read and written with
 * dns-packet; a packet that does not decode is dropped, as a resolver would.
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import { logger } from '../util/log';

const log = logger('net');

/**
 * Given the asker's address and a name, the addresses it resolves to, IPv4 and IPv6 (an A
 * query is answered with the IPv4 ones, an AAAA query with the IPv6 ones); undefined: not ours.
 */
export type NameResolver = (askerIp: string, name: string) => string[] | undefined;

/** TTL of our answers (dockerd's embedded DNS answers with 600). */
const TTL = 600;
/** How long an upstream gets to answer. */
const UPSTREAM_TIMEOUT_MS = 3000;

/** The nameservers of /etc/resolv.conf (IPv4 only; none: empty). */
export function hostResolvers(file = '/etc/resolv.conf'): string[] {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(l)?.[1])
    .filter((x): x is string => !!x);
}

/** Ask the upstream resolvers ("ip" or "ip:port", in turn) the same question; the raw answer, or undefined. */
async function forward(query: Buffer, upstreams: string[]): Promise<Buffer | undefined> {
  for (const up of upstreams) {
    const answer = await new Promise<Buffer | undefined>((resolve) => {
      const s = dgram.createSocket('udp4');
      const timer = setTimeout(() => {
        s.close();
        resolve(undefined);
      }, UPSTREAM_TIMEOUT_MS);
      s.on('error', () => {
        clearTimeout(timer);
        s.close();
        resolve(undefined);
      });
      s.on('message', (m) => {
        clearTimeout(timer);
        s.close();
        resolve(m);
      });
      const [host, port] = up.split(':');
      s.send(query, Number(port ?? 53), host);
    });
    if (answer) return answer;
  }
  return undefined;
}

/** The answer to one query packet from `askerIp` (undefined: drop it). Exported for tests. */
export async function answerQuery(
  query: Buffer,
  askerIp: string,
  resolve: NameResolver,
  upstreams: string[],
): Promise<Buffer | undefined> {
  let q: dnsPacket.Packet;
  try {
    q = dnsPacket.decode(query);
  } catch {
    return undefined;
  }
  if (q.type !== 'query' || !q.questions || q.questions.length !== 1) return undefined;
  const question = q.questions[0];
  const name = question.name.replace(/\.$/, '');
  const ips = question.class === 'IN' ? resolve(askerIp, name) : undefined;
  if (ips === undefined) {
    const up = await forward(query, upstreams);
    if (up) return up;
    return Buffer.from(
      dnsPacket.encode({
        type: 'response',
        id: q.id,
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | 2,
        questions: q.questions,
      }),
    );
  }
  const family = question.type === 'A' ? 4 : question.type === 'AAAA' ? 6 : 0;
  const answers: dnsPacket.Answer[] = ips
    .filter((ip) => net.isIP(ip) === family)
    .map((ip) => ({ type: family === 4 ? 'A' : 'AAAA', name: question.name, ttl: TTL, class: 'IN', data: ip }));
  return Buffer.from(
    dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: q.questions,
      answers,
    }),
  );
}

/** A running DNS server (UDP and TCP on one address). */
export class DnsServer {
  private constructor(
    private readonly udp: dgram.Socket,
    private readonly tcp: net.Server,
    private readonly conns: Set<net.Socket>,
  ) {}

  /** Serve on `address`:`port` (53 unless a test asks otherwise). */
  static async start(address: string, resolve: NameResolver, upstreams: string[], port = 53): Promise<DnsServer> {
    const udp = dgram.createSocket({ type: 'udp4' });
    await new Promise<void>((ok, fail) => {
      udp.once('error', fail);
      udp.bind({ address, port, exclusive: true }, () => {
        udp.off('error', fail);
        ok();
      });
    });
    udp.on('error', (err) => log.warn(`dns ${address}: ${err.message}`));
    udp.on('message', (msg, rinfo) => {
      void answerQuery(msg, rinfo.address, resolve, upstreams).then((a) => {
        if (a) udp.send(a, rinfo.port, rinfo.address);
      });
    });
    const conns = new Set<net.Socket>();
    const tcp = net.createServer((c) => {
      conns.add(c);
      c.on('close', () => conns.delete(c));
      let buf = Buffer.alloc(0);
      c.on('error', () => c.destroy());
      c.setTimeout(10000, () => c.destroy());
      c.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length > 65537) return void c.destroy();
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          void answerQuery(Buffer.from(msg), c.remoteAddress?.replace(/^::ffff:/, '') ?? '', resolve, upstreams).then(
            (a) => {
              if (!a || c.destroyed) return;
              const len = Buffer.alloc(2);
              len.writeUInt16BE(a.length);
              c.write(Buffer.concat([len, a]));
            },
          );
        }
      });
    });
    try {
      await new Promise<void>((ok, fail) => {
        tcp.once('error', fail);
        tcp.listen({ host: address, port, exclusive: true }, () => {
          tcp.off('error', fail);
          ok();
        });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    return new DnsServer(udp, tcp, conns);
  }

  /** Stop serving (open TCP connections are closed). */
  async close(): Promise<void> {
    this.udp.close();
    for (const c of this.conns) c.destroy();
    await new Promise((r) => this.tcp.close(() => r(undefined)));
  }
}
