"""Short execs through docker-py's exec_run, many at once, recording every output.

Usage: /usr/bin/python3 docker_py_exec_output.py <unix socket path> <image reference> <rounds> <threads>

Starts a container whose main process keeps one vCPU busy, then runs, in each of <threads>
threads, <rounds> times: exec_run("id -u", user="1000") and exec_run("echo hi"). Meanwhile one
more thread keeps this process busy, as an application's own work would: a thread that has
sent its request may wait up to the switch interval (20 ms here) for the interpreter before it
reads the answer, and the daemon's output has that long to arrive with the 101.
Then, as docker-py's own test_attach_no_stream does, attaches <rounds> times with logs=1 and
stream=0 to a container that has exited after printing a line (the whole answer is ready
before the 101 is even written). Prints one JSON object: how many execs ran, each one whose
exit code or output was not the expected one, and each attach that did not read the line. It asserts nothing (test/compat/exec-output.test.ts does).
"""
import json
import sys
import threading
import time

import docker

EXPECTED = {"id": (0, b"1000\n"), "echo": (0, b"hi\n")}


def main():
    sock_path, image, rounds, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    client = docker.DockerClient(base_url="unix://" + sock_path, timeout=120)
    client.images.pull(image)
    c = client.containers.run(image, ["sh", "-c", "while :; do :; done"], detach=True)
    ran = []
    wrong = []
    lock = threading.Lock()

    def worker():
        for _ in range(rounds):
            for name, (cmd, user) in (("id", ("id -u", "1000")), ("echo", ("echo hi", ""))):
                try:
                    r = c.exec_run(cmd, user=user)
                    got = (r.exit_code, r.output)
                except Exception as e:  # recorded for the test to show
                    got = (None, repr(e).encode())
                with lock:
                    ran.append(name)
                    if got != EXPECTED[name]:
                        wrong.append({"exec": name, "exit_code": got[0], "output": got[1].decode("utf-8", "replace")})

    done = threading.Event()

    def busy():
        while not done.is_set():
            sum(range(1000))

    sys.setswitchinterval(0.02)
    hog = threading.Thread(target=busy)
    hog.start()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    done.set()
    hog.join()
    seconds = round(time.monotonic() - t0, 1)
    c.remove(force=True)

    done_c = client.containers.run(image, ["echo", "hello"], detach=True)
    done_c.wait()
    attached = [done_c.attach(logs=True, stream=False) for _ in range(rounds)]
    done_c.remove()
    wrong_attach = [a.decode("utf-8", "replace") for a in attached if a != b"hello\n"]
    print(json.dumps({"ran": len(ran), "wrong": wrong, "seconds": seconds, "attached": len(attached), "wrong_attach": wrong_attach}))


main()
