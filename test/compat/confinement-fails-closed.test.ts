/**
 * Confinement fails closed (issue 67 item 5a; docs/security.md): a daemon whose VMs cannot be
 * jailed (here: its jail binary missing) refuses to start them, and `docker run` says why in
 * the daemon's words, naming the binary and the fix; started with --unconfined-vms, the same
 * daemon runs the container (without the jail, as the flag says).
 */
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300_000);

const IMAGE = `${fixtureRegistry()}/busybox:latest`;
const env = { PODVISOR_JAIL_BINARY: '/nonexistent/podvisor-jail' };

let d: TestDaemon | undefined;
afterEach(async () => {
  if (d) await stopDaemonLeavingNothing(d);
  d = undefined;
});

test('without the jail binary docker run fails with the named reason, and nothing is left', async () => {
  d = await startDaemon({ env });
  expect((await dockerCli(d, ['pull', '-q', IMAGE])).code).toBe(0);
  const r = await dockerCli(d, ['run', '--name', 'c1', IMAGE, 'echo', 'hi']);
  expect(r.code).toBe(125);
  expect(r.out).toBe('');
  expect(r.err).toContain(
    'docker: Error response from daemon: cannot start a VM without its confinement: the jail binary /nonexistent/podvisor-jail is missing; build it with scripts/bootstrap.sh, or start podvisord with --unconfined-vms to run VMs without their jail (their own mount namespace and root, cgroup and capability bound)',
  );
});

test('with --unconfined-vms the same daemon runs it', async () => {
  d = await startDaemon({ env, args: ['--unconfined-vms'] });
  expect((await dockerCli(d, ['pull', '-q', IMAGE])).code).toBe(0);
  const r = await dockerCli(d, ['run', '--rm', IMAGE, 'echo', 'hi']);
  expect({ code: r.code, out: r.out }).toEqual({ code: 0, out: 'hi\n' });
  expect(d.logs()).toContain('the jail binary /nonexistent/podvisor-jail is missing: VMs run without their jail');
});
