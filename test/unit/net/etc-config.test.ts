/**
 * src/net/etc-config.ts: create's checks of --dns, --dns-search, --dns-option and --add-host
 * with dockerd's messages, and the /etc/hosts and /etc/resolv.conf they give, in dockerd's
 * layout (checked against dockerd 20.10's files for the same flags).
 */
import { extraHostLines, resolvWith, withExtraHosts } from '../../../src/net/etc-config';
import { parseEtcOptions } from '../../../src/translate/etc-options';

test("nothing asked: no options; bad values: dockerd's 400 messages", () => {
  expect(parseEtcOptions({ Dns: [], DnsSearch: null })).toBeUndefined();
  expect(() => parseEtcOptions({ Dns: ['nine'] })).toThrow('nine is not an ip address');
  expect(() => parseEtcOptions({ ExtraHosts: ['foo:1.2.3'] })).toThrow('invalid IP address in add-host: "1.2.3"');
  expect(() => parseEtcOptions({ ExtraHosts: ['justaname'] })).toThrow('bad format for add-host: "justaname"');
  expect(parseEtcOptions({ ExtraHosts: ['gw:host-gateway', 'v6:::1'] })?.extraHosts).toEqual([
    'gw:host-gateway',
    'v6:::1',
  ]);
});

test("hosts: extra entries before the container's own line, host-gateway as the gateway", () => {
  const base = '127.0.0.1\tlocalhost\n172.29.0.2\th1.example.org h1\n';
  const extra = extraHostLines(['foo:1.2.3.4', 'gw:host-gateway'], '172.29.0.1');
  expect(withExtraHosts(base, extra)).toBe(
    '127.0.0.1\tlocalhost\n1.2.3.4\tfoo\n172.29.0.1\tgw\n172.29.0.2\th1.example.org h1\n',
  );
  // No network, no gateway: the host-gateway entry is left out.
  expect(extraHostLines(['gw:host-gateway', 'foo:1.2.3.4'], undefined)).toEqual(['1.2.3.4\tfoo']);
});

test('resolv.conf: search, nameserver, options, each replaced when given', () => {
  const host = 'search lan\nnameserver 10.255.255.53\noptions edns0\n';
  const o = parseEtcOptions({ Dns: ['9.9.9.9'], DnsSearch: ['s.example'], DnsOptions: ['ndots:3'] });
  expect(resolvWith(host, o, false)).toBe('search s.example\nnameserver 9.9.9.9\noptions ndots:3\n');
  expect(resolvWith(host, parseEtcOptions({ DnsOptions: ['ndots:3'] }), false)).toBe(
    'search lan\nnameserver 10.255.255.53\noptions ndots:3\n',
  );
  expect(resolvWith(host, parseEtcOptions({ DnsSearch: ['.'] }), false)).toBe(
    'nameserver 10.255.255.53\noptions edns0\n',
  );
  // On a user network our server stays first; the given ones follow it.
  expect(resolvWith('nameserver 172.30.0.1\nsearch lan\n', parseEtcOptions({ Dns: ['9.9.9.9'] }), true)).toBe(
    'search lan\nnameserver 172.30.0.1\nnameserver 9.9.9.9\n',
  );
  expect(resolvWith(host, undefined, false)).toBe(host);
});
