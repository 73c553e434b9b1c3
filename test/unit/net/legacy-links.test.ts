import { linkEnv, linkHostsLine } from '../../../src/net/legacy-links';
import { endpointLinks, inspectLinks, parseLinks } from '../../../src/translate/network/links';
import { resolveScoped } from '../../../src/net/resolve';
import { PlainError } from '../../../src/errors';
import type { NetworkRecord } from '../../../src/net/types';

// The expected values are dockerd 20.10's, measured with the stock CLI on a private dockerd:
//   docker run -d --name nf-t2 -e HOME=/h -e PATH=/p:/bin -e HOSTNAME=zz -e EQ=a=b -e EMPTY= \
//     --expose 7000-7002 --expose 8000/udp --expose 8000/tcp --expose 6000/udp busybox sleep 600
//   docker run --rm --link nf-t2:x-y busybox sh -c 'env | grep ^X_Y | sort; grep x-y /etc/hosts'
const IP = '172.29.0.2';

test('link variables: ports sorted (tcp first on one number), runs of 3+ with START/END, env without HOME and PATH', () => {
  const env = linkEnv(
    { name: 'nf-t2', alias: 'x-y' },
    'determined_volhard',
    IP,
    ['7000/tcp', '7001/tcp', '7002/tcp', '8000/udp', '8000/tcp', '6000/udp'],
    ['HOME=/h', 'PATH=/p:/bin', 'HOSTNAME=zz', 'EQ=a=b', 'EMPTY='],
  );
  expect([...env].sort()).toEqual([
    'X_Y_ENV_EMPTY=',
    'X_Y_ENV_EQ=a=b',
    'X_Y_ENV_HOSTNAME=zz',
    'X_Y_NAME=/determined_volhard/x-y',
    'X_Y_PORT=udp://172.29.0.2:6000',
    'X_Y_PORT_6000_UDP=udp://172.29.0.2:6000',
    'X_Y_PORT_6000_UDP_ADDR=172.29.0.2',
    'X_Y_PORT_6000_UDP_PORT=6000',
    'X_Y_PORT_6000_UDP_PROTO=udp',
    'X_Y_PORT_7000_TCP=tcp://172.29.0.2:7000',
    'X_Y_PORT_7000_TCP_ADDR=172.29.0.2',
    'X_Y_PORT_7000_TCP_END=tcp://172.29.0.2:7002',
    'X_Y_PORT_7000_TCP_PORT=7000',
    'X_Y_PORT_7000_TCP_PORT_END=7002',
    'X_Y_PORT_7000_TCP_PORT_START=7000',
    'X_Y_PORT_7000_TCP_PROTO=tcp',
    'X_Y_PORT_7000_TCP_START=tcp://172.29.0.2:7000',
    'X_Y_PORT_7001_TCP=tcp://172.29.0.2:7001',
    'X_Y_PORT_7001_TCP_ADDR=172.29.0.2',
    'X_Y_PORT_7001_TCP_PORT=7001',
    'X_Y_PORT_7001_TCP_PROTO=tcp',
    'X_Y_PORT_7002_TCP=tcp://172.29.0.2:7002',
    'X_Y_PORT_7002_TCP_ADDR=172.29.0.2',
    'X_Y_PORT_7002_TCP_PORT=7002',
    'X_Y_PORT_7002_TCP_PROTO=tcp',
    'X_Y_PORT_8000_TCP=tcp://172.29.0.2:8000',
    'X_Y_PORT_8000_TCP_ADDR=172.29.0.2',
    'X_Y_PORT_8000_TCP_PORT=8000',
    'X_Y_PORT_8000_TCP_PROTO=tcp',
    'X_Y_PORT_8000_UDP=udp://172.29.0.2:8000',
    'X_Y_PORT_8000_UDP_ADDR=172.29.0.2',
    'X_Y_PORT_8000_UDP_PORT=8000',
    'X_Y_PORT_8000_UDP_PROTO=udp',
  ]);
});

test('two consecutive ports are no run; no exposed port, no PORT variable', () => {
  const env = linkEnv({ name: 't', alias: 'db' }, 'p', IP, ['9000/tcp', '9001/tcp'], []);
  expect(env.filter((e) => e.includes('START') || e.includes('END'))).toEqual([]);
  expect(env[0]).toBe('DB_PORT=tcp://172.29.0.2:9000');
  expect(linkEnv({ name: 't', alias: 'db' }, 'p', IP, [], ['FOO=bar'])).toEqual(['DB_NAME=/p/db', 'DB_ENV_FOO=bar']);
});

test('hosts lines: alias, hostname, and the name unless it is the alias', () => {
  expect(linkHostsLine({ name: 'nf-target', alias: 'db' }, 'tgt', IP)).toBe('172.29.0.2\tdb tgt nf-target');
  expect(linkHostsLine({ name: 'nf-target', alias: 'nf-target' }, 'tgt', IP)).toBe('172.29.0.2\tnf-target tgt');
});

test('parse and show links as dockerd does', () => {
  expect(parseLinks(['nf-target:db', 'nf-target', '/a:/me/b'])).toEqual([
    { name: 'nf-target', alias: 'db' },
    { name: 'nf-target', alias: 'nf-target' },
    { name: 'a', alias: 'b' },
  ]);
  expect(inspectLinks(parseLinks(['nf-target:db']), 'nf-l2')).toEqual(['/nf-target:/nf-l2/db']);
  expect(endpointLinks(parseLinks(['nf-u1:db']))).toEqual(['nf-u1:db']);
  for (const bad of [':x', 'a:']) expect(() => parseLinks([bad])).toThrow(`invalid link format: ${bad}`);
  // dockerd's plain errors (500).
  for (const [bad, message] of [
    ['a:b:c', 'bad format for links: a:b:c'],
    ['', 'empty string specified for links'],
  ]) {
    expect(() => parseLinks([bad])).toThrow(message);
    expect(() => parseLinks([bad])).toThrow(PlainError);
  }
});

test('a link on a user network resolves for the linking container only', () => {
  const ep = (n: string, ip: string, links?: Array<{ name: string; alias: string }>) => ({
    id: n.repeat(8),
    containerId: n.repeat(64).slice(0, 64),
    name: n,
    aliases: [],
    ip,
    mac: '',
    ports: [],
    ...(links ? { links } : {}),
  });
  const net = {
    id: 'n1',
    isDefault: false,
    endpoints: {
      a: ep('target', '10.0.0.2'),
      b: ep('linker', '10.0.0.3', [{ name: 'target', alias: 'db' }]),
      c: ep('other', '10.0.0.4'),
    },
  } as unknown as NetworkRecord;
  expect(resolveScoped([net], '10.0.0.3', 'db')).toEqual(['10.0.0.2']);
  expect(resolveScoped([net], '10.0.0.4', 'db')).toBeUndefined();
  expect(resolveScoped([net], '10.0.0.4', 'target')).toEqual(['10.0.0.2']);
});
