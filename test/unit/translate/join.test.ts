/** docker --network/--pid/--ipc container:X (src/api/v1.41/docker/join.ts): what is joined, and dockerd's refusals. */
import { joinRequestOf } from '../../../src/api/v1.41/docker/join';
import { InvalidArgumentError, NotImplementedError } from '../../../src/errors';

const hc = (o: Record<string, unknown>) => ({
  NetworkMode: 'default',
  PidMode: '',
  IpcMode: 'private',
  PortBindings: null,
  PublishAllPorts: false,
  ...o,
});

test('no container mode: nothing joined', () => {
  expect(joinRequestOf({ Hostname: 'h' }, hc({}))).toBeUndefined();
  expect(
    joinRequestOf({ Hostname: '' }, hc({ NetworkMode: 'bridge', PidMode: 'host', IpcMode: 'shareable' })),
  ).toBeUndefined();
});

test('network, pid and ipc modes name what is joined; pid and ipc targets are checked at create', () => {
  expect(joinRequestOf({ Hostname: '' }, hc({ NetworkMode: 'container:x' }))).toEqual({
    target: 'x',
    pid: false,
    ipc: false,
    checkAtCreate: false,
  });
  expect(joinRequestOf({ Hostname: 'h' }, hc({ PidMode: 'container:x' }))).toEqual({
    target: 'x',
    pid: true,
    ipc: false,
    checkAtCreate: true,
  });
  expect(joinRequestOf({ Hostname: '' }, hc({ IpcMode: 'container:x' }))).toEqual({
    target: 'x',
    pid: false,
    ipc: true,
    checkAtCreate: true,
  });
  expect(
    joinRequestOf({ Hostname: '' }, hc({ NetworkMode: 'container:x', PidMode: 'container:x', IpcMode: 'container:x' })),
  ).toEqual({ target: 'x', pid: true, ipc: true, checkAtCreate: true });
});

test("dockerd's refusals: a hostname or ports with the container network mode; podvisor's: two targets", () => {
  expect(() => joinRequestOf({ Hostname: 'h' }, hc({ NetworkMode: 'container:x' }))).toThrow(
    new InvalidArgumentError('conflicting options: hostname and the network mode'),
  );
  expect(() =>
    joinRequestOf({ Hostname: '' }, hc({ NetworkMode: 'container:x', PortBindings: { '80/tcp': [{}] } })),
  ).toThrow('conflicting options: port publishing and the container type network mode');
  expect(() => joinRequestOf({ Hostname: '' }, hc({ NetworkMode: 'container:x', PublishAllPorts: true }))).toThrow(
    'conflicting options: port publishing',
  );
  expect(() => joinRequestOf({ Hostname: '' }, hc({ NetworkMode: 'container:x', PidMode: 'container:y' }))).toThrow(
    NotImplementedError,
  );
  expect(() => joinRequestOf({ Hostname: '' }, hc({ NetworkMode: 'container:' }))).toThrow(InvalidArgumentError);
});
