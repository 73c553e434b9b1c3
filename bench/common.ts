/**
 * Shared pieces of the benchmarks: statistics, timing, and the baseline every benchmark
 * measures in the same run (dockerd 20.10 with runc from Debian's docker.io, on a private
 * socket and data root, in a network namespace of its own, with no bridge and no firewall
 * rules).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { execFileSync, spawnSync } from 'node:child_process';
import { startNetnsDockerd, type NetnsDockerd } from './netns-dockerd';

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Seconds a synchronous call takes. */
export function timeIt(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A private dockerd for the baseline: the env for the docker CLI, and how to stop it. */
export type BaselineDockerd = NetnsDockerd;

/**
 * Start the baseline dockerd under `base` (created if missing), with no bridge and no firewall
 * rules, in a network namespace of its own (./netns-dockerd.ts: never on the host's network,
 * where it would delete the host's docker0), and wait up to 30 s for its /_ping. Fails when
 * dockerd does not answer (e.g. docker.io not installed: bootstrap --bench does it).
 */
export function startDockerd(base: string): Promise<BaselineDockerd> {
  return startNetnsDockerd(base, { networkArgs: ['--bridge=none', '--iptables=false'] });
}

/** Run a bench's `main`: a failure prints its stack on stderr and exits with status 1. */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}

/** Something a bench started and stops at its end. */
interface Stoppable {
  stop(): Promise<unknown>;
}

/**
 * A bench's cleanup, in order: the baseline dockerd (if started; its failure ignored), the
 * podvisor daemon, the fixture registries, then the bench's temp directory.
 */
export async function stopBench(parts: {
  dockerd?: Stoppable;
  podvisor: Stoppable;
  registries: Stoppable[];
  base: string;
}): Promise<void> {
  await parts.dockerd?.stop().catch(() => undefined);
  await parts.podvisor.stop();
  for (const r of parts.registries) await r.stop().catch(() => undefined);
  fs.rmSync(parts.base, { recursive: true, force: true });
}

/** CPU time the whole host has used so far (user, nice, system, irq, softirq, steal), ms, from /proc/stat (USER_HZ 100). */
export function hostBusyMs(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * 10;
}

/** Run the docker CLI with `args` against the daemon of `env`; its trimmed stdout (throws on a failure). */
export function dockerOut(env: NodeJS.ProcessEnv, args: string[]): string {
  return execFileSync('docker', args, { env, encoding: 'utf8', timeout: 600000 }).trim();
}

/** Remove every container of the daemon of `env`, whatever state it is in (a bench's cleanup). */
export function removeAllContainers(env: NodeJS.ProcessEnv): void {
  const left = spawnSync('docker', ['ps', '-aq'], { env, encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  if (left.length) spawnSync('docker', ['rm', '-fv', ...left], { env, timeout: 600000 });
}

/** The host's load averages (1, 5 and 15 minutes), as a bench prints them. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}
