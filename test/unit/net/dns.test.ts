import * as dgram from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { answerQuery, hostResolvers } from '../../../src/net/dns';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const query = (name: string, type: 'A' | 'AAAA' = 'A') =>
  Buffer.from(
    dnsPacket.encode({ type: 'query', id: 42, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] }),
  );
const resolve = (asker: string, name: string) => (asker === '10.0.0.2' && name === 'web' ? ['10.0.0.3'] : undefined);

describe('DNS answers', () => {
  test("our names: an authoritative A answer with the asker's id; AAAA: no data", async () => {
    const a = dnsPacket.decode((await answerQuery(query('web'), '10.0.0.2', resolve, []))!);
    expect(a.id).toBe(42);
    expect(a.type).toBe('response');
    expect(a.flag_aa).toBe(true);
    expect(a.answers!.map((x) => [x.type, x.name, (x as { data: string }).data])).toEqual([['A', 'web', '10.0.0.3']]);
    const six = dnsPacket.decode((await answerQuery(query('web', 'AAAA'), '10.0.0.2', resolve, []))!);
    expect((six as { rcode?: string }).rcode).toBe('NOERROR');
    expect(six.answers).toEqual([]);
  });

  test('a name with an IPv6 address too (a network with IPv6): A gets the IPv4 one, AAAA the IPv6 one', async () => {
    const both = (asker: string, name: string) => (name === 'web' ? ['10.0.0.3', '2001:db8::3'] : undefined);
    const a = dnsPacket.decode((await answerQuery(query('web'), '10.0.0.2', both, []))!);
    expect(a.answers!.map((x) => [x.type, (x as { data: string }).data])).toEqual([['A', '10.0.0.3']]);
    const six = dnsPacket.decode((await answerQuery(query('web', 'AAAA'), '10.0.0.2', both, []))!);
    expect(six.answers!.map((x) => [x.type, (x as { data: string }).data])).toEqual([['AAAA', '2001:db8::3']]);
  });

  test('other names go to the upstream, its answer is relayed; no upstream: SERVFAIL', async () => {
    const up = dgram.createSocket('udp4');
    const seen: string[] = [];
    up.on('message', (m, r) => {
      const q = dnsPacket.decode(m);
      seen.push(q.questions![0].name);
      up.send(
        dnsPacket.encode({
          type: 'response',
          id: q.id,
          questions: q.questions,
          answers: [{ type: 'A', name: q.questions![0].name, data: '192.0.2.7' }],
        }),
        r.port,
        r.address,
      );
    });
    await new Promise<void>((r) => up.bind(0, '127.0.0.1', () => r()));
    try {
      const a = dnsPacket.decode(
        (await answerQuery(query('example.org'), '10.0.0.2', resolve, [`127.0.0.1:${up.address().port}`]))!,
      );
      expect(a.answers!.map((x) => (x as { data: string }).data)).toEqual(['192.0.2.7']);
      // A name of another network's container is not ours to answer for this asker.
      await answerQuery(query('web'), '10.9.9.9', resolve, [`127.0.0.1:${up.address().port}`]);
      expect(seen).toEqual(['example.org', 'web']);
    } finally {
      up.close();
    }
    const fail = dnsPacket.decode((await answerQuery(query('example.org'), '10.0.0.2', resolve, []))!);
    expect((fail as { rcode?: string }).rcode).toBe('SERVFAIL');
  });

  test('garbage is dropped', async () => {
    expect(await answerQuery(Buffer.from('nonsense'), '10.0.0.2', resolve, [])).toBeUndefined();
  });

  test('resolvers come from resolv.conf (IPv4 nameservers)', () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pvnet-unit-')), 'resolv.conf');
    fs.writeFileSync(f, '# x\nnameserver 10.1.1.1\nnameserver ::1\nsearch example\nnameserver 10.2.2.2\n');
    expect(hostResolvers(f)).toEqual(['10.1.1.1', '10.2.2.2']);
    fs.rmSync(path.dirname(f), { recursive: true });
  });
});
