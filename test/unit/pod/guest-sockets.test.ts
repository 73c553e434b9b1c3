/**
 * The listening sockets of a guest (src/pod/stats/guest-sockets.ts): TCP listeners of
 * /proc/net/tcp and tcp6, listening unix sockets of /proc/net/unix but the agent's autobound
 * ones; a guest's nonsense is skipped, and a guest whose files cannot be read cannot tell.
 */
import { guestListeners, parseTcpListeners, parseUnixListeners } from '../../../src/pod/stats/guest-sockets';
import type { Agent } from '../../../src/vm/agent-types';

const TCP = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
  '   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0',
  '   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1235 1 0',
  '   2: 0A00020F:1F90 0A000201:C350 01 00000000:00000000 00:00000000 00000000     0        0 1236 1 0',
  '   3: garbage',
  '',
].join('\n');
const TCP6 = [
  '  sl  local_address                         remote_address                        st tx_queue rx_queue',
  '   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000',
].join('\n');
const UNIX = [
  'Num       RefCount Protocol Flags    Type St Inode Path',
  '0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/postgresql/.s.PGSQL.5432',
  '0000000000000000: 00000002 00000000 00010000 0001 01 12346 @a1b2c',
  '0000000000000000: 00000002 00000000 00010000 0001 01 12347 @named',
  '0000000000000000: 00000003 00000000 00000000 0001 03 12348 /run/connected.sock',
  '0000000000000000: 00000002 00000000 00010000 0001 01 12349',
  'nonsense line with enough fields to look like one x',
].join('\n');

test('TCP listeners: the LISTEN sockets by port, once each; connections and nonsense skipped', () => {
  expect(parseTcpListeners(TCP)).toEqual(['tcp:8080', 'tcp:5432']);
  expect(parseTcpListeners(TCP6)).toEqual(['tcp:8080']);
  expect(parseTcpListeners('')).toEqual([]);
});

test('unix listeners: named and abstract ones, not the autobound, unbound or connected ones', () => {
  expect(parseUnixListeners(UNIX)).toEqual(['unix:/run/postgresql/.s.PGSQL.5432', 'unix:@named']);
});

test("the guest's files through the agent: what listens, or undefined when none can be read", async () => {
  const files: Record<string, string> = { '/proc/1/net/tcp': TCP, '/proc/1/net/tcp6': TCP6, '/proc/1/net/unix': UNIX };
  const asked: Array<[string, number]> = [];
  const agent = {
    readFile: async (_id: string, p: string, max: number) => {
      asked.push([p, max]);
      if (!(p in files)) throw new Error('ENOENT');
      return Buffer.from(files[p]);
    },
  } as unknown as Agent;
  expect(await guestListeners(agent, 'c')).toEqual([
    'tcp:8080',
    'tcp:5432',
    'unix:/run/postgresql/.s.PGSQL.5432',
    'unix:@named',
  ]);
  // Each read is bounded.
  expect(asked.every(([, max]) => max > 0 && max <= 1 << 20)).toBe(true);
  const failing = { readFile: async () => Promise.reject(new Error('too large')) } as unknown as Agent;
  expect(await guestListeners(failing, 'c')).toBeUndefined();
});
