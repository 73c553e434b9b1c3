/**
 * A complete in-memory implementation of the VM contracts (src/vm/types.ts) for unit tests
 * of the layers above (src/pod, src/api), and one of the three agents the agent conformance
 * suite (test/conformance) runs against. No process, file or socket is created.
 *
 * A `FakeHypervisor` owns `FakeGuest`s (what would live inside QEMU). A `FakeVm` is a
 * handle on a guest with its own `FakeAgent`; `adopt()` makes a new handle and agent on a
 * guest that is still "running", which is how a daemon restart is simulated:
 *
 *   const hv = new FakeHypervisor();
 *   const vm = await hv.createVm({ memoryMiB: 256, cpus: 1 });
 *   await vm.agent.createContainer({ id: 'c1', rootfs: 'containers/c1/rootfs' });
 *   const p = await vm.agent.startProcess({ containerId: 'c1', processId: 'init', args: ['echo', 'hi'], ... });
 *   // p.stdout yields "hi\n"; p.exited resolves { exitCode: 0 }
 *   vm.agent.close(); const again = await hv.adopt(vm.id); await again!.agent.reattach();
 *   hv.crash(vm.id, 'kernel panic');   // every process rejects UnavailableError, vm.exited resolves
 *
 * Processes run small scripted programs from a registry (`FAKE_PROGRAMS`, extendable per
 * hypervisor with `hv.programs.set(name, fn)`): true, false, echo, cat, sleep, sh -c (a tiny
 * interpreter: `;`, `exit N`, `trap '' TERM`, `>&2`), env, pwd, id, hostname, ps, stty size,
 * yes, head, and two test helpers: `trap-term` (prints "got TERM" and exits 0 on SIGTERM) and
 * `ignore-term` (ignores SIGTERM; only SIGKILL ends it). Output streams are flow-controlled:
 * a program's write waits while the consumer does not read. Default signal dispositions are
 * the kernel's: a signal kills with 128 + n unless trapped or ignored (SIGCHLD, SIGWINCH,
 * SIGURG, SIGCONT are ignored). With a terminal, `\n` becomes `\r\n`, input is echoed and
 * Ctrl-C sends SIGINT.
 */
export { FAKE_PROGRAMS, splitShell, type FakeProcessContext, type FakeProgram } from './programs';
export { FakeGuest } from './guest';
export { FakeAgent } from './agent';
export { FakeFactory, FakeHypervisor, FakeVm, type FakeFailures, type FakeHypervisorOptions } from './hypervisor';
