/**
 * docker-py (Debian's python3-docker, run by Debian's /usr/bin/python3) against the real
 * daemon on real VMs: the container life of a Python user, from pull to remove, through the
 * high-level DockerClient API and the low-level attach socket. The scenario lives in
 * docker_py_scenario.py, which only records what each step saw; the assertions are here.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the observations are loosely typed JSON */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(240000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox:latest`;
const SCENARIO = path.join(__dirname, 'docker_py_scenario.py');

function runScenario(d: TestDaemon): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    execFile(
      '/usr/bin/python3',
      [SCENARIO, d.socketPath, IMAGE],
      { timeout: 200000, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`docker-py scenario failed: ${err.message}\n${stderr}\n${stdout}`));
        try {
          resolve(JSON.parse(String(stdout)));
        } catch {
          reject(new Error(`docker-py scenario printed no JSON:\n${stdout}\n${stderr}`));
        }
      },
    );
  });
}

describe('docker-py', () => {
  let d: TestDaemon;
  let seen: Record<string, any>;
  beforeAll(async () => {
    d = await startDaemon({ vmPoolSize: 2 });
    seen = await runScenario(d);
  });
  afterAll(async () => {
    if (!d) return;
    await stopDaemonLeavingNothing(d);
  });

  test('ping, version and pull', () => {
    expect(seen.ping).toBe(true);
    expect(seen.api_version).toBe('1.45');
    expect(seen.pull).toEqual([IMAGE]);
  });

  test('containers.run returns the output, raises ContainerError with stderr on a non-zero exit, remove=True removes', () => {
    expect(seen.run_echo).toBe('hi\n');
    expect(seen.run_failing).toEqual({ raised: 'ContainerError', exit_status: 3, stderr: 'oops\n' });
    expect(seen.left_after_rm).toEqual([]);
  });

  test('a detached container: status, labels, logs (follow and tail)', () => {
    expect(seen.svc).toEqual({ status: 'running', labels: { suite: 'docker-py' }, name: 'py-svc' });
    expect(seen.follow).toEqual(['tick 0', 'tick 1']);
    expect(seen.logs_tail).toMatch(/^tick \d+\n$/);
  });

  test('exec_run: environment, workdir, user, exit code, demux', () => {
    expect(seen.exec).toEqual({ env_wd_user: [0, 'bar\n/tmp\n1000\n'], exit5: 5, demux: ['out\n', 'err\n'] });
  });

  test('an exec created with a TTY and started with Tty false gets a framed stream (nothing lost)', () => {
    expect(seen.exec_tty_plain_start).toBe('hello tty\r\n');
  });

  test('the daemon leaks no listeners on its sockets over the whole run', () => {
    expect(d.logs()).not.toMatch(/MaxListenersExceededWarning/);
  });

  test('list filters, top, stats, attach stream, pause', () => {
    expect(seen.list_by_label).toEqual(['py-svc']);
    expect(seen.top_titles).toContain('PID');
    expect(seen.stats).toEqual({ has_memory_usage: true, has_cpu: true });
    expect(seen.attach_stream).toBe(true);
    expect(seen.pause).toEqual(['paused', 'running']);
  });

  test('stop runs the TERM trap, wait gives 0, events were recorded, remove', () => {
    expect(seen.stop).toMatchObject({ code: 0, status: 'exited', last_log: 'bye\n' });
    expect(seen.stop.actions).toEqual(expect.arrayContaining(['pause', 'unpause', 'kill', 'die', 'stop']));
    expect(seen.list_exited).toEqual(['py-svc']);
    expect(seen.remove).toEqual([]);
  });

  test('stdin through the low-level attach socket, closed by a half-close', () => {
    expect(seen.stdin).toEqual({ out: 'hello from python\n', code: 0 });
  });

  test("a network with IPv6 enabled (docker-py's test_create_network_ipv6_enabled): the container gets its IPv6 address, default route and a way to the gateway", () => {
    expect(seen.ipv6_network).toMatchObject({
      enable_ipv6: true,
      config: [{ Subnet: '2001:db8:27::1/64', IPRange: '2001:db8:27::/96', Gateway: '2001:db8:27::ffff' }],
      // dockerd's first address of the range (the subnet's own address is never handed out).
      endpoint: ['2001:db8:27::1', 64, '2001:db8:27::ffff'],
      network_lists: '2001:db8:27::1/64',
      ping_gateway: 0,
    });
    expect(seen.ipv6_network.guest_address).toMatch(/inet6 2001:db8:27::1\/64 scope global/);
    expect(seen.ipv6_network.guest_route).toMatch(/default via 2001:db8:27::ffff dev eth0/);
    const id = seen.ipv6_network.short_id;
    expect(seen.ipv6_network.hosts_tail).toMatch(
      new RegExp(`^\\d+\\.\\d+\\.\\d+\\.\\d+\\t${id}\\n2001:db8:27::1\\t${id}\\n$`),
    );
    // dockerd 20.10 has no default IPv6 pools.
    expect(seen.ipv6_without_pool).toEqual({
      raised: 'NotFound',
      status: 404,
      explanation:
        'could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network',
    });
  });

  test('errors arrive as docker-py exceptions with dockerd statuses', () => {
    expect(seen.not_found).toEqual({
      raised: 'NotFound',
      status: 404,
      explanation: 'No such container: no-such-container',
    });
    // docker-py 5 has no Conflict class: a 409 is an APIError.
    expect(seen.conflict).toEqual({ raised: 'APIError', status: 409 });
  });
});
