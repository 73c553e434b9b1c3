/** A CRI sandbox's interface counters from `ip -s -j link` (src/net/cni/link-stats.ts) and as NetworkUsage. */
import { parseLinkStats } from '../../../src/net/cni/link-stats';
import { networkUsage } from '../../../src/api/cri/stats';

const IP_OUTPUT = JSON.stringify([
  {
    ifindex: 3,
    ifname: 'eth0',
    mtu: 1500,
    stats64: {
      rx: { bytes: 123456, packets: 80, errors: 2, dropped: 1, over_errors: 0, multicast: 0 },
      tx: { bytes: 6543, packets: 40, errors: 3, dropped: 0, carrier_errors: 0, collisions: 0 },
    },
  },
]);

test('the counters of the link, rx and tx as the namespace sees them', () => {
  expect(parseLinkStats(IP_OUTPUT)).toEqual({
    rx_bytes: 123456,
    rx_packets: 80,
    rx_errors: 2,
    rx_dropped: 1,
    tx_bytes: 6543,
    tx_packets: 40,
    tx_errors: 3,
    tx_dropped: 0,
  });
});

test('no counters from output without stats or that is not JSON; bad numbers read as 0', () => {
  expect(parseLinkStats('[]')).toBeUndefined();
  expect(parseLinkStats('[{"ifname":"eth0"}]')).toBeUndefined();
  expect(parseLinkStats('Device "eth0" does not exist.')).toBeUndefined();
  const odd = parseLinkStats(JSON.stringify([{ stats64: { rx: { bytes: -5 }, tx: { bytes: 'x' } } }]));
  expect(odd?.rx_bytes).toBe(0);
  expect(odd?.tx_bytes).toBe(0);
});

test('NetworkUsage: the default interface only, as containerd fills it, with a timestamp in ns', () => {
  const c = parseLinkStats(IP_OUTPUT);
  expect(c).toBeDefined();
  expect(networkUsage('eth0', c!, 1_700_000_000_123)).toEqual({
    timestamp: '1700000000123000000',
    default_interface: {
      name: 'eth0',
      rx_bytes: { value: '123456' },
      rx_errors: { value: '2' },
      tx_bytes: { value: '6543' },
      tx_errors: { value: '3' },
    },
    interfaces: [],
  });
});
