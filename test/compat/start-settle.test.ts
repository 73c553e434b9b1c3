/**
 * What a client reads right after a start is what the start's command did first, as under
 * runc (issue 68 item 3; src/pod/io/start-settle.ts). docker-py's own tests do this with no
 * wait in between: test_exec_run_success starts `echo hello > /test; sleep 60` and execs
 * `cat /test` at once; test_build_in_context_dockerfile and three like it start `ls -a` and
 * read `docker logs` at once. Both, five rounds each, through docker-py's low-level client
 * (no CLI start-up in between): every exec reads the line, and every log holds the whole
 * listing that a waited-for run prints.
 */
import { execFileSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(600_000);

const IMAGE = `${fixtureRegistry()}/busybox:latest`;
const ROUNDS = 5;

const SCRIPT = `
import docker, json, sys
c = docker.APIClient(base_url='unix://' + sys.argv[1], version='1.41')
image, rounds = sys.argv[2], int(sys.argv[3])
seen = {'exec': [], 'logs': []}
for _ in range(rounds):
    ctr = c.create_container(image, ['sh', '-c', 'echo hello > /test; sleep 60'])
    c.start(ctr)
    x = c.exec_create(ctr, ['cat', '/test'])
    out = c.exec_start(x).decode()
    seen['exec'].append([c.exec_inspect(x)['ExitCode'], out])
    c.remove_container(ctr, force=True)
    ctr = c.create_container(image, ['ls', '-a', '/'])
    c.start(ctr)
    seen['logs'].append(c.logs(ctr).decode())
    c.wait(ctr)
    c.remove_container(ctr, force=True)
print(json.dumps(seen))
`;

let d: TestDaemon;
beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 1 });
  dockerOk(d, ['pull', '-q', IMAGE], 300_000);
});
afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
});

test("an exec right after the start sees the command's file; logs right after the start hold its whole output", () => {
  const listing = dockerOk(d, ['run', '--rm', IMAGE, 'ls', '-a', '/']);
  expect(listing.split('\n')).toEqual(expect.arrayContaining(['.', '..', 'bin', 'etc', 'proc']));
  const seen = JSON.parse(
    execFileSync('python3', ['-c', SCRIPT, d.socketPath, IMAGE, String(ROUNDS)], {
      encoding: 'utf8',
      timeout: 500_000,
    }),
  ) as { exec: Array<[number, string]>; logs: string[] };
  expect(seen.exec).toEqual(Array.from({ length: ROUNDS }, () => [0, 'hello\n']));
  expect(seen.logs.map((l) => l.trim())).toEqual(Array.from({ length: ROUNDS }, () => listing.trim()));
});
