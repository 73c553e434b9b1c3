/**
 * Legacy links (`--link`) and `--mac-address`, through the stock docker CLI against the real
 * daemon (real QEMU VMs). What is expected is dockerd 20.10's output, measured with the same
 * commands on a private dockerd: on the default bridge a link gives a hosts line
 * `IP\tALIAS HOSTNAME NAME` and the variables ALIAS_NAME, ALIAS_PORT*, ALIAS_ENV_*; on a user
 * network only a name that resolves for the linking container; inspect shows
 * HostConfig.Links as `/target:/me/alias` and the endpoint's Links as `target:alias`.
 * `--mac-address` is the guest NIC's address, shown by inspect, and traffic flows with it.
 * `docker rm --link` removes a link; a connect's MacAddress is shown until the start.
 * `--link-local-ip` is one more address of the guest interface, a /16 as dockerd gives it.
 */
import { spawnSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerSync, dockerOk, type CliResult } from '../helpers/docker-cli';

jest.setTimeout(240000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;

const docker = (args: string[], timeout = 120000): CliResult => dockerSync(d, args, timeout);
const ok = (args: string[]): string => dockerOk(d, args);

beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 1 });
});

afterAll(async () => {
  for (const c of ['lt', 'll', 'l2', 'lx', 'lu', 'lu2', 'm1', 'm2', 'm3', 'm4', 'k1']) docker(['rm', '-f', c]);
  for (const n of ['pvl-u', 'pvl-m', 'pvl-k']) docker(['network', 'rm', n]);
  await stopDaemonLeavingNothing(d);
});

describe('--link on the default bridge', () => {
  let ip = '';

  test('hosts lines and variables as dockerd gives them, for `--link t:alias` and `--link t`; execs get them too', () => {
    ok([
      'run',
      '-d',
      '--name',
      'lt',
      '--hostname',
      'tgt',
      '-e',
      'FOO=bar',
      '-e',
      'GREETING=hello world',
      '--expose',
      '80',
      '--expose',
      '53/udp',
      '--expose',
      '9000-9001',
      IMAGE,
      'sleep',
      '600',
    ]);
    ip = JSON.parse(ok(['inspect', 'lt']))[0].NetworkSettings.IPAddress as string;
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    ok([
      'run',
      '-d',
      '--name',
      'll',
      '--link',
      'lt:db',
      '--link',
      'lt',
      '-e',
      'DB_ENV_FOO=mine',
      IMAGE,
      'sleep',
      '600',
    ]);
    const hosts = ok(['exec', 'll', 'cat', '/etc/hosts']).split('\n');
    const own = JSON.parse(ok(['inspect', 'll']))[0];
    // The fixed lines, the links' lines (dockerd's order among them follows a Go map), its own last.
    expect(hosts.slice(-3, -1).sort()).toEqual([`${ip}\tdb tgt lt`, `${ip}\tlt tgt`]);
    expect(hosts[hosts.length - 1]).toBe(`${own.NetworkSettings.IPAddress}\t${own.Config.Hostname}`);
    const env = ok(['exec', 'll', 'env'])
      .split('\n')
      .filter((l) => /^(DB|LT)_/.test(l))
      .sort();
    const forAlias = (A: string, name: string) => [
      `${A}_ENV_FOO=bar`,
      `${A}_ENV_GREETING=hello world`,
      `${A}_NAME=/ll/${name}`,
      `${A}_PORT=udp://${ip}:53`,
      ...[
        ['53', 'UDP', 'udp'],
        ['80', 'TCP', 'tcp'],
        ['9000', 'TCP', 'tcp'],
        ['9001', 'TCP', 'tcp'],
      ].flatMap(([p, P, proto]) => [
        `${A}_PORT_${p}_${P}=${proto}://${ip}:${p}`,
        `${A}_PORT_${p}_${P}_ADDR=${ip}`,
        `${A}_PORT_${p}_${P}_PORT=${p}`,
        `${A}_PORT_${p}_${P}_PROTO=${proto}`,
      ]),
    ];
    // The container's own DB_ENV_FOO wins over the link's.
    const expected = [...forAlias('DB', 'db'), ...forAlias('LT', 'lt')]
      .map((l) => (l === 'DB_ENV_FOO=bar' ? 'DB_ENV_FOO=mine' : l))
      .sort();
    expect(env).toEqual(expected);
    // The init has them as well as an exec.
    expect(ok(['exec', 'll', 'sh', '-c', 'tr "\\0" "\\n" < /proc/1/environ | grep ^DB_NAME='])).toBe('DB_NAME=/ll/db');
    expect(JSON.parse(ok(['inspect', 'll']))[0].HostConfig.Links.sort()).toEqual(['/lt:/ll/db', '/lt:/ll/lt']);
  });

  test('docker rm --link PARENT/ALIAS: the link is gone from inspect and from the next start; the containers stay', () => {
    ok(['rm', '--link', 'll/db']);
    expect(JSON.parse(ok(['inspect', 'll']))[0].HostConfig.Links).toEqual(['/lt:/ll/lt']);
    expect(ok(['ps', '-a', '--format', '{{.Names}}']).split('\n').sort()).toEqual(['ll', 'lt']);
    ok(['restart', '-t', '0', 'll']);
    // Only its own DB_ENV_FOO is left of the db link's variables.
    expect(ok(['exec', 'll', 'sh', '-c', 'env | grep ^DB_'])).toBe('DB_ENV_FOO=mine');
    expect(ok(['exec', 'll', 'sh', '-c', 'env | grep ^LT_NAME='])).toBe('LT_NAME=/ll/lt');
    expect(ok(['exec', 'll', 'cat', '/etc/hosts'])).not.toMatch(/\sdb(\s|$)/m);
    // dockerd's answers: a link that is not there, and a container's own name.
    expect(docker(['rm', '--link', 'll/db']).err).toContain('No such container: ll/db');
    expect(docker(['rm', '--link', 'lt']).err).toContain(
      'Conflict, cannot remove the default link name of the container',
    );
  });

  test("dockerd's errors: an unknown target at create (400), a target that does not run at start", () => {
    const r = docker(['create', '--name', 'lx', '--link', 'nosuch:db', IMAGE, 'true']);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('could not get container for nosuch: No such container: nosuch');
    ok(['create', '--name', 'l2', '--link', 'lt:db', IMAGE, 'true']);
    expect(JSON.parse(ok(['inspect', 'l2']))[0].HostConfig.Links).toEqual(['/lt:/l2/db']);
    ok(['stop', '-t', '0', 'lt']);
    const s = docker(['start', 'l2']);
    expect(s.code).not.toBe(0);
    expect(s.err).toContain('Cannot link to a non running container: /lt AS /l2/db');
    ok(['rm', '-f', 'l2', 'll']);
  });
});

test('--link on a user network: a name for the linking container alone, no variables, Links on the endpoint', () => {
  ok(['network', 'create', 'pvl-u']);
  ok(['run', '-d', '--name', 'lu', '--network', 'pvl-u', '-e', 'FOO=bar', '--expose', '80', IMAGE, 'sleep', '600']);
  const luIp = JSON.parse(ok(['inspect', 'lu']))[0].NetworkSettings.Networks['pvl-u'].IPAddress as string;
  ok(['run', '-d', '--name', 'lu2', '--network', 'pvl-u', '--link', 'lu:db', IMAGE, 'sleep', '600']);
  const lookup = "nslookup db 2>/dev/null | awk '/^Address/ { a = $NF } END { print a }'";
  expect(ok(['exec', 'lu2', 'sh', '-c', lookup])).toBe(luIp);
  expect(ok(['exec', 'lu2', 'sh', '-c', 'env | grep -c ^DB_ || true'])).toBe('0');
  // No hosts line names db (the container's own line names its id, which may hold "db").
  expect(ok(['exec', 'lu2', 'cat', '/etc/hosts'])).not.toMatch(/\sdb(\s|$)/m);
  // Another container of the network does not have the name.
  expect(ok(['run', '--rm', '--network', 'pvl-u', IMAGE, 'sh', '-c', lookup])).not.toBe(luIp);
  const ins = JSON.parse(ok(['inspect', 'lu2']))[0];
  expect(ins.HostConfig.Links).toBeNull();
  expect(ins.NetworkSettings.Networks['pvl-u'].Links).toEqual(['lu:db']);
  ok(['rm', '-f', 'lu', 'lu2']);
});

/** POST `body` to the daemon's API path; the body and status. */
function api(method: string, p: string, body?: unknown): { out: string; status: number } {
  const args = [
    '-s',
    '-w',
    '\n%{http_code}',
    '--unix-socket',
    d.socketPath,
    '-X',
    method,
    ...(body ? ['-H', 'Content-Type: application/json', '-d', JSON.stringify(body)] : []),
    `http://x/v1.41${p}`,
  ];
  const r = spawnSync('curl', args, { encoding: 'utf8' });
  const i = r.stdout.lastIndexOf('\n');
  return { out: r.stdout.slice(0, i), status: Number(r.stdout.slice(i + 1)) };
}

// The stock CLI (28.x) refuses --mac-address against an API 1.41 daemon ("requires API version
// 1.44"), dockerd's as ours, so the MAC goes in through the API (Config.MacAddress, as
// docker-py's mac_address and older CLIs send it).
test('--mac-address: the guest NIC has it, inspect shows it, traffic flows; a bad one fails the start as in dockerd', () => {
  const mac = '02:42:AC:11:00:99';
  const web = 'mkdir -p /www && echo mac-ok > /www/index.html && exec httpd -f -p 80 -h /www';
  expect(
    api('POST', '/containers/create?name=m1', { Image: IMAGE, MacAddress: mac, Cmd: ['sh', '-c', web] }).status,
  ).toBe(201);
  ok(['start', 'm1']);
  const ins = JSON.parse(ok(['inspect', 'm1']))[0];
  expect(ins.Config.MacAddress).toBe(mac);
  expect(ins.NetworkSettings.MacAddress).toBe(mac.toLowerCase());
  expect(ins.NetworkSettings.Networks.bridge.MacAddress).toBe(mac.toLowerCase());
  expect(ok(['exec', 'm1', 'cat', '/sys/class/net/eth0/address'])).toBe(mac.toLowerCase());
  // Another container reaches it: its ARP answers carry the new MAC.
  const ip = ins.NetworkSettings.IPAddress as string;
  const get = `for i in 1 2 3 4 5 6 7 8 9 10; do b=$(printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 ${ip} 80 | tail -n 1); [ -n "$b" ] && break; sleep 1; done; echo "$b"; cat /proc/net/arp`;
  const out = ok(['run', '--rm', IMAGE, 'sh', '-c', get]);
  expect(out.split('\n')[0]).toBe('mac-ok');
  expect(out.toLowerCase()).toContain(mac.toLowerCase());
  // A restart (a new VM, or this one cleaned) gives it the same MAC again.
  ok(['restart', '-t', '0', 'm1']);
  expect(ok(['exec', 'm1', 'cat', '/sys/class/net/eth0/address'])).toBe(mac.toLowerCase());
  ok(['rm', '-f', 'm1']);
  // A bad one: created (as dockerd does), its start fails with dockerd's 500.
  expect(api('POST', '/containers/create?name=m2', { Image: IMAGE, MacAddress: 'zz:11', Cmd: ['true'] }).status).toBe(
    201,
  );
  const st = api('POST', '/containers/m2/start');
  expect(st.status).toBe(500);
  expect(JSON.parse(st.out)).toEqual({ message: 'address zz:11: invalid MAC address' });
  expect(JSON.parse(ok(['inspect', 'm2']))[0].State.Running).toBe(false);
  ok(['rm', '-f', 'm2']);
});

// dockerd 20.10 keeps a connect's EndpointConfig.MacAddress, shows it until the container
// starts and then does not use it (measured: the endpoint got its own MAC; "zz" was taken too).
test('network connect of a created container with a MAC: inspect shows it until the start, which does not use it', () => {
  ok(['network', 'create', 'pvl-m']);
  ok(['create', '--name', 'm3', IMAGE, 'sleep', '600']);
  const mac = '02:42:ac:11:00:02';
  expect(api('POST', '/networks/pvl-m/connect', { Container: 'm3', EndpointConfig: { MacAddress: mac } }).status).toBe(
    200,
  );
  const nets = () => JSON.parse(ok(['inspect', 'm3']))[0].NetworkSettings.Networks;
  expect(nets()['pvl-m'].MacAddress).toBe(mac);
  expect(nets().bridge.MacAddress).toBe('');
  ok(['start', 'm3']);
  const running = nets()['pvl-m'];
  expect(running.IPAddress).not.toBe('');
  expect(running.MacAddress).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  expect(running.MacAddress).not.toBe(mac);
  expect(ok(['exec', 'm3', 'sh', '-c', 'cat /sys/class/net/*/address'])).toContain(running.MacAddress);
  ok(['rm', '-f', 'm3']);
  // Not checked at connect (dockerd neither), and gone with a disconnect.
  ok(['create', '--name', 'm4', IMAGE, 'true']);
  expect(api('POST', '/networks/pvl-m/connect', { Container: 'm4', EndpointConfig: { MacAddress: 'zz' } }).status).toBe(
    200,
  );
  expect(JSON.parse(ok(['inspect', 'm4']))[0].NetworkSettings.Networks['pvl-m'].MacAddress).toBe('zz');
  ok(['network', 'disconnect', 'pvl-m', 'm4']);
  ok(['network', 'connect', 'pvl-m', 'm4']);
  expect(JSON.parse(ok(['inspect', 'm4']))[0].NetworkSettings.Networks['pvl-m'].MacAddress).toBe('');
  ok(['rm', '-f', 'm4']);
  ok(['network', 'rm', 'pvl-m']);
});

// dockerd 20.10 (measured with the same commands): `inet 169.254.8.8/16 brd 169.254.255.255
// scope global eth0` beside the network's address; the label of podvisor's is eth0:1 (an alias).
test('--link-local-ip: the guest interface has it beside its own address, inspect shows it, a peer reaches it; a connect gives one', () => {
  ok(['run', '-d', '--name', 'k1', '--link-local-ip', '169.254.8.8', IMAGE, 'sleep', '600']);
  const ins = JSON.parse(ok(['inspect', 'k1']))[0];
  expect(ins.NetworkSettings.Networks.bridge.IPAMConfig).toEqual({ LinkLocalIPs: ['169.254.8.8'] });
  const eth0 = ok(['exec', 'k1', 'ip', '-4', 'addr', 'show', 'eth0']);
  expect(eth0).toContain(`inet ${ins.NetworkSettings.IPAddress}/`);
  expect(eth0).toMatch(/inet 169\.254\.8\.8\/16 brd 169\.254\.255\.255 scope global eth0/);
  // Another container with one of its own reaches it on the bridge.
  const ping = docker([
    'run',
    '--rm',
    '--link-local-ip',
    '169.254.9.9',
    IMAGE,
    'ping',
    '-c',
    '1',
    '-W',
    '5',
    '169.254.8.8',
  ]);
  expect([ping.code, ping.out]).toEqual([0, expect.stringContaining('1 packets received')]);
  ok(['network', 'create', 'pvl-k']);
  ok(['network', 'connect', '--link-local-ip', '169.254.7.7', 'pvl-k', 'k1']);
  expect(JSON.parse(ok(['inspect', 'k1']))[0].NetworkSettings.Networks['pvl-k'].IPAMConfig).toEqual({
    LinkLocalIPs: ['169.254.7.7'],
  });
  expect(ok(['exec', 'k1', 'ip', '-4', 'addr', 'show', 'eth1'])).toMatch(/inet 169\.254\.7\.7\/16 /);
  // dockerd's words for an address that is not link-local; nothing is created.
  const bad = docker(['create', '--name', 'k2', '--link-local-ip', '10.1.2.3', IMAGE, 'true']);
  expect(bad.err).toContain('invalid link local IP address: 10.1.2.3');
  ok(['rm', '-f', 'k1']);
  expect(docker(['inspect', 'k2']).code).not.toBe(0);
});
