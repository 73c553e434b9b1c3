/**
 * src/net/tap-stats.ts over a stand-in /sys/class/net: the tap's counters swapped to the
 * guest's point of view, keyed by the guest interface the tap backs; gone taps and foreign
 * names left out.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { guestInterfaceOf, networksStats } from '../../../src/net/tap-stats';

let root: string;

function tap(name: string, v: Record<string, number>): void {
  const dir = path.join(root, name, 'statistics');
  fs.mkdirSync(dir, { recursive: true });
  for (const [k, n] of Object.entries(v)) fs.writeFileSync(path.join(dir, k), `${n}\n`);
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-tapstats-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

test('rx and tx swapped; one entry per guest interface, in order', async () => {
  const base = {
    rx_bytes: 0,
    rx_packets: 0,
    rx_errors: 0,
    rx_dropped: 0,
    tx_bytes: 0,
    tx_packets: 0,
    tx_errors: 0,
    tx_dropped: 0,
  };
  tap('pv0123456789ab1', { ...base, rx_bytes: 500, rx_packets: 5, tx_bytes: 9000, tx_packets: 9, tx_dropped: 1 });
  tap('pv0123456789ab0', { ...base, rx_bytes: 7 });
  const s = await networksStats(['pv0123456789ab1', 'pv0123456789ab0', 'pv0123456789ab2', undefined, '../etc'], root);
  expect(Object.keys(s!)).toEqual(['eth0', 'eth1']);
  expect(s!.eth1).toEqual({
    rx_bytes: 9000,
    rx_packets: 9,
    rx_errors: 0,
    rx_dropped: 1,
    tx_bytes: 500,
    tx_packets: 5,
    tx_errors: 0,
    tx_dropped: 0,
  });
  expect(s!.eth0.tx_bytes).toBe(7);
  expect(await networksStats([undefined], root)).toBeUndefined();
  expect(guestInterfaceOf('eth0')).toBeUndefined();
});
