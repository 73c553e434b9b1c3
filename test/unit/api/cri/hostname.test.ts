/** A CRI sandbox's default hostname: the pod's name as the kubelet cuts it for a hostname. */
import { hostnameOf } from '../../../../src/api/cri/runtime';

test('a short pod name is the hostname as it is', () => {
  expect(hostnameOf('web-0')).toBe('web-0');
});

test("a long one is cut to 63 characters, less the dashes and dots that would end it (critest's names)", () => {
  const name = 'podsandbox-for-create-container-with-log-directory-' + 'a'.repeat(9) + '--b1234567-89ab';
  const h = hostnameOf(name);
  expect(h.length).toBeLessThanOrEqual(63);
  expect(name.startsWith(h)).toBe(true);
  expect(h).not.toMatch(/[-.]$/);
  expect(hostnameOf('x'.repeat(62) + '-y')).toBe('x'.repeat(62));
});
