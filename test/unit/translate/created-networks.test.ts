/**
 * The networks inspect shows for a container that has not started: under the names its
 * create's EndpointsConfig gave, as dockerd 26.1 and 20.10 showed them for the same bodies.
 */
import { underCreateNames } from '../../../src/api/v1.41/json/endpoint-settings';

const entry = (aliases: string[] | null) => ({ Aliases: aliases, NetworkID: '' });

test('an endpoint named other than the network of the mode: that network shown under the name given', () => {
  expect(underCreateNames({ front: entry(['a']) }, ['other'], 'front')).toEqual({ other: entry(['a']) });
});

test("several endpoints that leave out the mode's network: that one not listed", () => {
  const planned = { bridge: entry(null), front: entry(null), back: entry(null) };
  expect(underCreateNames(planned, ['front', 'back'], 'bridge')).toEqual({ front: entry(null), back: entry(null) });
});

test("no endpoint given, or the mode's network among them: the plan's networks as they are (a connect's too)", () => {
  const planned = { front: entry(['a']), back: entry(null) };
  expect(underCreateNames(planned, undefined, 'front')).toBe(planned);
  expect(underCreateNames(planned, ['front'], 'front')).toBe(planned);
  expect(underCreateNames({ other: entry(null), front: entry(null) }, ['other'], 'front')).toEqual({
    other: entry(null),
  });
});
