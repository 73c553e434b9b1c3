/**
 * A container that writes as fast as it can while the daemon is killed with SIGKILL: the
 * output the dying daemon had received but not yet written to the json-file log is re-sent
 * by the guest agent to the next daemon, from the offset the log holds (src/pod/io/log-position.ts),
 * so `docker logs` has every line exactly once. The soak's slow counter rarely has bytes in
 * flight at the kill; this writer always has.
 */
import { spawnSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300000);

const IMAGE = `${fixtureRegistry()}/busybox`;
const LINES = 150000;

function docker(d: TestDaemon, args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync('docker', args, { env: d.env, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a fast writer's log has every line once across two daemon SIGKILLs", async () => {
  const d = await startDaemon({ vmPoolSize: 1 });
  try {
    expect(docker(d, ['pull', '-q', IMAGE]).code).toBe(0);
    // Waits for /go so that the kills land while it writes; then ~1 MB of numbered lines.
    const script = `while [ ! -e /go ]; do sleep 0.05; done; i=0; while [ $i -lt ${LINES} ]; do echo "line $i"; i=$((i+1)); done`;
    expect(docker(d, ['run', '-d', '--name', 'fast', IMAGE, 'sh', '-c', script]).code).toBe(0);
    expect(docker(d, ['exec', 'fast', 'touch', '/go']).code).toBe(0);
    for (let k = 0; k < 2; k++) {
      await sleep(1500);
      await d.kill9();
      await d.restart();
    }
    for (let t = 0; t < 600 && docker(d, ['inspect', '-f', '{{.State.Status}}', 'fast']).out.trim() !== 'exited'; t++)
      await sleep(500);
    expect(docker(d, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'fast']).out.trim()).toBe('exited 0');
    const lines = docker(d, ['logs', 'fast'])
      .out.split('\n')
      .filter((l) => l !== '');
    const seen = new Map<string, number>();
    for (const l of lines) seen.set(l, (seen.get(l) ?? 0) + 1);
    const missing = Array.from({ length: LINES }, (_, i) => `line ${i}`).filter((l) => !seen.has(l));
    const twice = [...seen].filter(([, n]) => n > 1).map(([l]) => l);
    const resent = [...d.logs().matchAll(/re-sending (\d+) bytes of stdout/g)].map((m) => Number(m[1]));
    process.stdout.write(
      `log-resume: ${lines.length} lines, ${missing.length} missing, ${twice.length} duplicated; re-sent after restarts: ${resent.join(', ') || 'none'} bytes\n`,
    );
    expect({ missing: missing.slice(0, 5), twice: twice.slice(0, 5), count: lines.length }).toEqual({
      missing: [],
      twice: [],
      count: LINES,
    });
    expect(lines).toEqual(Array.from({ length: LINES }, (_, i) => `line ${i}`));
    expect(d.logs()).not.toMatch(/were lost while the daemon was down/);
    docker(d, ['rm', '-f', 'fast']);
  } finally {
    await stopDaemonLeavingNothing(d);
  }
});
