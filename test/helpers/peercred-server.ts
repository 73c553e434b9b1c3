/**
 * A host unix socket service that tells each client who it is: for every connection it writes
 * `uid=<uid> gid=<gid>\n` (SO_PEERCRED of the connection, what a host service such as
 * dockerd or ssh-agent reads), then echoes what the client sends until the client's end.
 * Node cannot read SO_PEERCRED, so the service is a small python3 program.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

const PROGRAM = `
import os, socket, struct, sys, threading
path, mode = sys.argv[1], int(sys.argv[2], 8)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, mode)
s.listen(64)
print("ready", flush=True)
def serve(c):
    try:
        pid, uid, gid = struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        c.sendall(("uid=%d gid=%d\\n" % (uid, gid)).encode())
        while True:
            b = c.recv(65536)
            if not b:
                break
            c.sendall(b)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/** A running service; stop() ends it and removes its socket file. */
export interface PeercredServer {
  path: string;
  stop(): Promise<void>;
}

/** Serve at `sockPath` (made there with `mode`); resolves once it listens. */
export async function startPeercredServer(sockPath: string, mode = 0o777): Promise<PeercredServer> {
  const child: ChildProcess = spawn('python3', ['-c', PROGRAM, sockPath, mode.toString(8)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`peercred server exited (${code})`)));
    child.stdout!.once('data', () => resolve());
  });
  return {
    path: sockPath,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      }
      fs.rmSync(sockPath, { force: true });
    },
  };
}
