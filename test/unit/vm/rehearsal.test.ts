/**
 * The container rehearsal on the in-memory VM: what it asks the agent for, and that it leaves
 * the VM as it found it (no container, no process, nothing under the share directory).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeHypervisor, type FakeVm } from '../../helpers/fake-vm';
import { Rehearsal, isStaticElf, poolWarmStep } from '../../../src/vm/rehearsal';
import { CachedFactory, DirectFactory } from '../../../src/vm/pool';
import { setLogSink } from '../../../src/util/log';

const SIZE = { size: { memoryMiB: 256, cpus: 1 } };
let root: string;
let busybox: string;
const logs: string[] = [];

beforeAll(() => setLogSink((l) => logs.push(l)));
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'rehearsal-test-'));
  // Any static ELF will do for the fake guest; the host's busybox-static is one.
  busybox = '/bin/busybox';
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** The fake guest has no `ls`: one that lists what the rehearsal's throwaway rootfs holds at `/`. */
function withLs(hv: FakeHypervisor): FakeHypervisor {
  hv.programs.set('ls', async (ctx) => {
    await ctx.write('.\n..\nbin\netc\ntmp\n');
    return 0;
  });
  return hv;
}

async function bootFake(hv: FakeHypervisor): Promise<FakeVm> {
  const vm = (await hv.createVm(SIZE)) as FakeVm;
  fs.mkdirSync(vm.shareDir, { recursive: true });
  return vm;
}

describe('Rehearsal', () => {
  it('runs an init that lists a directory from a working directory, execs with and without a terminal, then leaves no container, process or file', async () => {
    const hv = withLs(new FakeHypervisor({ shareRoot: root }));
    const vm = await bootFake(hv);
    const before = fs.readdirSync(vm.shareDir);
    await Rehearsal.create({ busybox })!.rehearse(vm);

    const calls = vm.guest.calls.join('\n');
    expect(calls).toMatch(/createContainer rehearsal-1/);
    expect(calls).toMatch(/writeFile rehearsal-1 \/etc\/hosts/);
    expect(calls).toMatch(/readFile rehearsal-1 \/etc\/passwd/);
    expect(calls).toMatch(/startProcess rehearsal-1-a ls -la \//);
    // The init writes to its stdout pipe from a working directory other than / (what a
    // user's first process does: docker-py's `ls -a` in a WORKDIR, issue 27).
    expect(vm.guest.processes.get('rehearsal-1-a')?.spec.cwd).toBe('/tmp');
    expect(calls).toMatch(/startProcess rehearsal-1-c true/);
    expect(calls).toMatch(/startProcess rehearsal-1-d true/);
    expect(calls).toMatch(/destroyContainer rehearsal-1/);
    const terminal = [...vm.guest.processes.values()].filter((p) => p.spec.terminal);
    expect(terminal.map((p) => p.spec.processId)).toEqual(['rehearsal-1-d']);

    expect(vm.guest.containers.size).toBe(0);
    expect([...vm.guest.processes.values()].filter((p) => p.running)).toEqual([]);
    expect(fs.readdirSync(path.join(vm.shareDir, 'containers'))).toEqual([]);
    expect(before).toEqual([]);
    // The VM still runs a user's container afterwards.
    await vm.agent.createContainer({ id: 'user', rootfs: 'containers/user/rootfs' });
    expect(vm.guest.containers.size).toBe(1);
  });

  it('sets the seccomp filter it is given before its init, so the agent keeps it compiled', async () => {
    const hv = withLs(new FakeHypervisor({ shareRoot: root }));
    const vm = await bootFake(hv);
    const seccomp = { defaultAction: 'allow' as const, architectures: [], rules: [] };
    await Rehearsal.create({ busybox, seccomp })!.rehearse(vm);
    const calls = vm.guest.calls.filter((c) => /^(createContainer|setSeccomp|startProcess)/.test(c));
    expect(calls.slice(0, 3)).toEqual([
      'createContainer rehearsal-1',
      'setSeccomp rehearsal-1 allow',
      'startProcess rehearsal-1-a ls -la /',
    ]);
    // Without one, none is set.
    const other = await bootFake(hv);
    await Rehearsal.create({ busybox })!.rehearse(other);
    expect(other.guest.calls.filter((c) => c.startsWith('setSeccomp'))).toEqual([]);
  });

  it('in a VM with an upper disk (block mode), rehearses on a fresh disk of its own, then puts the placeholder back and removes the file', async () => {
    const hv = withLs(new FakeHypervisor({ shareRoot: root }));
    const vm = await bootFake(hv);
    // The fake guest has no block device: the VM gets one, whose attach and detach are recorded.
    const events: string[] = [];
    Object.defineProperty(vm, 'devices', { value: { ...vm.devices, upperDisk: { guestName: 'vda', sizeBytes: 1 } } });
    Object.defineProperty(vm, 'attachUpperDisk', {
      value: async (file: string) => void events.push(`attach ${path.basename(file)} ${fs.existsSync(file)}`),
    });
    Object.defineProperty(vm, 'detachUpperDisk', { value: async () => void events.push('detach') });
    const create = jest.spyOn(vm.agent, 'createContainer');
    const dir = path.join(root, 'disks');
    const disks = {
      make: async (name: string) => {
        fs.mkdirSync(dir, { recursive: true });
        const file = path.join(dir, `${name}.ext4`);
        fs.writeFileSync(file, '');
        events.push(`make ${name}`);
        return file;
      },
      remove: async (file: string) => {
        fs.rmSync(file, { force: true });
        events.push(`remove ${path.basename(file)}`);
      },
    };
    await Rehearsal.create({ busybox, disks })!.rehearse(vm);
    const name = `${vm.id}-rehearsal-1`;
    expect(events).toEqual([`make ${name}`, `attach ${name}.ext4 true`, 'detach', `remove ${name}.ext4`]);
    expect(create.mock.calls[0][0]).toMatchObject({ id: 'rehearsal-1', upperDisk: 'vda' });
    expect(vm.guest.calls).toContain('destroyContainer rehearsal-1');
    expect(fs.readdirSync(dir)).toEqual([]);

    // Without disks, or in a VM without the device, no disk is made.
    events.length = 0;
    await Rehearsal.create({ busybox })!.rehearse(vm);
    const plain = await bootFake(hv);
    await Rehearsal.create({ busybox, disks })!.rehearse(plain);
    expect(events).toEqual([]);
  });

  it('rejects and still cleans up when a rehearsal process fails', async () => {
    for (const [program, what] of [
      ['ls', 'init ls'],
      ['true', 'exec true'],
    ]) {
      const hv = withLs(new FakeHypervisor({ shareRoot: root }));
      hv.programs.set(program, async () => 1);
      const vm = await bootFake(hv);
      await expect(Rehearsal.create({ busybox })!.rehearse(vm)).rejects.toThrow(`rehearsal ${what} exited with 1`);
      expect(vm.guest.containers.size).toBe(0);
      expect(fs.readdirSync(path.join(vm.shareDir, 'containers'))).toEqual([]);
    }
  });

  it('is not available without a static busybox, and says so', () => {
    const script = path.join(root, 'not-elf');
    fs.writeFileSync(script, '#!/bin/sh\n');
    expect(isStaticElf(script)).toBe(false);
    expect(isStaticElf(path.join(root, 'missing'))).toBe(false);
    expect(isStaticElf('/bin/sh')).toBe(false); // dynamically linked
    expect(isStaticElf('/bin/busybox')).toBe(true);
    expect(Rehearsal.create({ busybox: script })).toBeUndefined();
    expect(logs.join('\n')).toMatch(/no statically linked busybox at .*not-elf.*busybox-static/);
  });

  it('as the pool warming step: rehearses, then trims the idle VM; without a rehearsal it only trims; a failed rehearsal fails the step', async () => {
    const hv = withLs(new FakeHypervisor({ shareRoot: root }));
    const vm = await bootFake(hv);
    await poolWarmStep(Rehearsal.create({ busybox }))(vm);
    expect(vm.guest.calls).toContain('destroyContainer rehearsal-1');
    expect(vm.trims).toBe(1);

    const plain = await bootFake(hv);
    await poolWarmStep(undefined)(plain);
    expect(plain.guest.calls.filter((c) => /Container/.test(c))).toEqual([]);
    expect(plain.trims).toBe(1);

    hv.programs.set('true', async () => 1);
    const failing = await bootFake(hv);
    await expect(poolWarmStep(Rehearsal.create({ busybox }))(failing)).rejects.toThrow(/exited with 1/);
    expect(failing.trims).toBe(0);
  });

  it('warms the pool VMs a CachedFactory hands out', async () => {
    const hv = withLs(new FakeHypervisor({ shareRoot: root }));
    const origCreate = hv.createVm.bind(hv);
    hv.createVm = async (size) => {
      const vm = await origCreate(size);
      fs.mkdirSync(vm.shareDir, { recursive: true });
      return vm;
    };
    const rehearsal = Rehearsal.create({ busybox })!;
    const pool = new CachedFactory(1, new DirectFactory(hv), SIZE, { warm: poolWarmStep(rehearsal) });
    pool.start();
    await pool.whenFull();
    const vm = (await pool.getVm(SIZE)) as FakeVm;
    expect(vm.guest.calls).toContain('destroyContainer rehearsal-1');
    expect(vm.trims).toBe(1);
    expect(vm.guest.containers.size).toBe(0);
    await pool.whenFull();
    await pool.close();
    await vm.destroy();
  });
});
