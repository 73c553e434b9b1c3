/**
 * A short exec's output is never lost. docker-py reads the 101 of exec start through
 * a buffered reader and the stream from the socket itself, so output that reached the socket
 * before the client read the 101 was dropped: `exec_run("id -u", user="1000")` returned
 * nothing, now and then, under load. The daemon now sends the output only once the client has
 * read the 101 (src/api/v1.41/peer-read.ts). Here 4 threads run 50 rounds of two short execs
 * each (400 execs) beside a container that keeps a vCPU busy, and every output must be exact;
 * then an attach with logs=1&stream=0 to an exited container (docker-py's own
 * test_attach_no_stream, whose answer is all ready before the 101) reads its line every time.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(600000);

const IMAGE = `${fixtureRegistry()}/busybox:latest`;
const SCRIPT = path.join(__dirname, 'docker_py_exec_output.py');
const ROUNDS = 50;
const THREADS = 4;

interface Seen {
  ran: number;
  seconds: number;
  attached: number;
  wrong_attach: string[];
  wrong: Array<{ exec: string; exit_code: number | null; output: string }>;
}

function runScript(d: TestDaemon): Promise<Seen> {
  return new Promise((resolve, reject) => {
    execFile(
      '/usr/bin/python3',
      [SCRIPT, d.socketPath, IMAGE, String(ROUNDS), String(THREADS)],
      { timeout: 540000, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`docker-py exec script failed: ${err.message}\n${stderr}\n${stdout}`));
        resolve(JSON.parse(String(stdout)) as Seen);
      },
    );
  });
}

describe('docker-py exec_run of short commands', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon({ vmPoolSize: 1 });
  });
  afterAll(async () => {
    if (d) await stopDaemonLeavingNothing(d);
  });

  test('400 short execs under load: every output exact (id -u as user 1000, echo); attach logs=1 stream=0 too', async () => {
    const seen = await runScript(d);
    console.log(`docker-py: ${seen.ran} execs in ${seen.seconds} s, ${seen.wrong.length} wrong`);
    expect(seen.wrong).toEqual([]);
    expect(seen.ran).toBe(ROUNDS * THREADS * 2);
    // docker-py's test_attach_no_stream: the logs of an exited container, all there before the 101.
    expect(seen.wrong_attach).toEqual([]);
    expect(seen.attached).toBe(ROUNDS);
  });
});
