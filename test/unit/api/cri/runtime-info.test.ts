/** Version, Status conditions (the NetworkReady seam) and the recorded pod CIDR. */
import { NO_POD_NETWORK, RuntimeConfigState, RuntimeInfo, isCidr } from '../../../../src/api/cri/runtime-info';
import { InvalidArgumentError } from '../../../../src/errors';

test('NetworkReady follows the readiness the daemon passes in', () => {
  let ready = false;
  const info = new RuntimeInfo({
    version: '1.2.3',
    config: new RuntimeConfigState(),
    network: () => (ready ? { ready: true, reason: '', message: '' } : NO_POD_NETWORK()),
  });
  expect(info.status(false).status.conditions[1]).toEqual({
    type: 'NetworkReady',
    status: false,
    reason: 'NetworkPluginNotReady',
    message: NO_POD_NETWORK().message,
  });
  ready = true;
  expect(info.status(false).status.conditions).toEqual([
    { type: 'RuntimeReady', status: true, reason: '', message: '' },
    { type: 'NetworkReady', status: true, reason: '', message: '' },
  ]);
  expect(info.status(false).info).toEqual({});
  expect(info.version()).toEqual({
    version: '0.1.0',
    runtime_name: 'podvisor',
    runtime_version: '1.2.3',
    runtime_api_version: 'v1',
  });
});

test('the pod CIDR: dual stack kept, empty changes nothing, bad refused; listeners told', () => {
  const s = new RuntimeConfigState();
  const seen: string[][] = [];
  s.onChange((c) => seen.push(c));
  s.setPodCidr('10.244.1.0/24, fd00:1::/64');
  expect(s.podCidrs()).toEqual(['10.244.1.0/24', 'fd00:1::/64']);
  s.setPodCidr('');
  expect(s.podCidrs()).toEqual(['10.244.1.0/24', 'fd00:1::/64']);
  expect(() => s.setPodCidr('10.0.0.0/33')).toThrow(InvalidArgumentError);
  expect(s.podCidrs()).toEqual(['10.244.1.0/24', 'fd00:1::/64']);
  expect(seen).toEqual([['10.244.1.0/24', 'fd00:1::/64']]);
  expect(isCidr('10.0.0.0')).toBe(false);
  expect(isCidr('fd00::/129')).toBe(false);
});
