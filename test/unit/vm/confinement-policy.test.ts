/**
 * Confinement fails closed (src/vm/qemu/confinement/policy.ts): a VM whose jail binary is
 * missing does not start, in words that name the binary and the fix, unless podvisord runs
 * with --unconfined-vms; PODVISOR_JAIL=0 (bench/jail.ts's measure) stays a choice of its own.
 */
import { activeJail } from '../../../src/vm/qemu/confinement/jail';
import { allowUnconfinedVms } from '../../../src/vm/qemu/confinement/policy';
import { testIf } from '../../helpers/skip';

const saved = { jail: process.env.PODVISOR_JAIL, bin: process.env.PODVISOR_JAIL_BINARY };
afterEach(() => {
  allowUnconfinedVms(false);
  for (const [k, v] of [
    ['PODVISOR_JAIL', saved.jail],
    ['PODVISOR_JAIL_BINARY', saved.bin],
  ] as const)
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
});

const asRoot = process.getuid?.() === 0;

testIf(
  asRoot,
  'this test runs as a user other than root, for whom there is no jail (the next case)',
  'a missing jail binary fails the start, naming it and the fix; --unconfined-vms lets it run',
  () => {
    process.env.PODVISOR_JAIL_BINARY = '/nonexistent/podvisor-jail';
    expect(() => activeJail()).toThrow(
      'cannot start a VM without its confinement: the jail binary /nonexistent/podvisor-jail is missing; build it with scripts/bootstrap.sh, or start podvisord with --unconfined-vms to run VMs without their jail',
    );
    allowUnconfinedVms(true);
    expect(activeJail()).toBeUndefined();
    process.env.PODVISOR_JAIL_BINARY = process.execPath;
    expect(activeJail()).toBe(process.execPath);
  },
);

testIf(
  !asRoot,
  'this test runs as root, who has a jail (the case above)',
  'a daemon not run as root has no jail: its VMs do not start without --unconfined-vms',
  () => {
    expect(() => activeJail()).toThrow('podvisord is not running as root');
    allowUnconfinedVms(true);
    expect(activeJail()).toBeUndefined();
  },
);

test('PODVISOR_JAIL=0 runs without the jail, as bench/jail.ts measures', () => {
  process.env.PODVISOR_JAIL = '0';
  process.env.PODVISOR_JAIL_BINARY = '/nonexistent/podvisor-jail';
  expect(activeJail()).toBeUndefined();
});
