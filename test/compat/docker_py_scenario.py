"""docker-py (Debian's python3-docker) driven against a podvisor daemon, the way a Python user
writes it: the high-level DockerClient API plus the low-level attach socket.

Usage: /usr/bin/python3 docker_py_scenario.py <unix socket path> <image reference>

Prints one JSON object: what each step observed (outputs, exit codes, statuses, error types
and messages). test/compat/docker-py.test.ts asserts on it; this script asserts nothing, so
every observation reaches the test even when an early step goes wrong (a failing step records
its exception instead of its result).
"""
import json
import socket
import struct
import sys
import time

import docker
import docker.errors


def main():
    sock_path, image = sys.argv[1], sys.argv[2]
    client = docker.DockerClient(base_url="unix://" + sock_path, timeout=120)
    seen = {}

    def step(name, fn):
        try:
            seen[name] = fn()
        except Exception as e:  # recorded for the test to show, never hidden
            seen[name] = {"error": type(e).__name__, "message": str(e)}

    step("ping", client.ping)
    step("api_version", lambda: client.version()["ApiVersion"])
    step("pull", lambda: client.images.pull(image).tags)
    step("run_echo", lambda: client.containers.run(image, ["echo", "hi"], remove=True).decode())

    def run_failing():
        try:
            client.containers.run(image, ["sh", "-c", "echo oops >&2; exit 3"], remove=True)
            return {"raised": None}
        except docker.errors.ContainerError as e:
            return {"raised": "ContainerError", "exit_status": e.exit_status, "stderr": e.stderr.decode()}

    step("run_failing", run_failing)
    step("left_after_rm", lambda: [c.name for c in client.containers.list(all=True)])

    ticker = ["sh", "-c", 'trap "echo bye; exit 0" TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done']
    svc = None

    def start_svc():
        nonlocal svc
        svc = client.containers.run(image, ticker, detach=True, name="py-svc", labels={"suite": "docker-py"})
        svc.reload()
        return {"status": svc.status, "labels": svc.labels, "name": svc.name}

    step("svc", start_svc)
    if svc is None:
        print(json.dumps(seen))
        return

    def follow_two():
        lines = []
        stream = svc.logs(stream=True, follow=True)
        buf = b""
        for chunk in stream:
            buf += chunk
            while b"\n" in buf and len(lines) < 2:
                line, buf = buf.split(b"\n", 1)
                lines.append(line.decode())
            if len(lines) >= 2:
                break
        stream.close()
        return lines

    step("follow", follow_two)
    step("logs_tail", lambda: svc.logs(tail=1).decode())

    # docker-py reads a hijacked stream from the raw socket beneath http.client's buffered
    # reader, so output that reached the client together with the response headers was lost
    # (docker/docker-py#2042 and #3332). The daemon now sends it only once the client has read
    # the headers (src/api/v1.41/peer-read.ts), so these print at once, with no wait first.
    def execs():
        r1 = svc.exec_run(["sh", "-c", "echo $FOO; pwd; id -u"], environment={"FOO": "bar"}, workdir="/tmp", user="1000")
        r2 = svc.exec_run(["sh", "-c", "exit 5"])
        r3 = svc.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
        return {
            "env_wd_user": [r1.exit_code, r1.output.decode()],
            "exit5": r2.exit_code,
            "demux": [r3.output[0].decode(), r3.output[1].decode()],
        }

    step("exec", execs)

    def exec_tty_created_plain_started():
        # docker-py's low-level API starts with tty=False unless told: dockerd then frames
        # the stream, whatever the exec was created with.
        x = client.api.exec_create(svc.id, ["sh", "-c", "sleep 1; echo hello tty"], tty=True)
        return client.api.exec_start(x["Id"], tty=False).decode()

    step("exec_tty_plain_start", exec_tty_created_plain_started)
    step("list_by_label", lambda: [c.name for c in client.containers.list(filters={"label": "suite=docker-py"})])
    step("top_titles", lambda: svc.top()["Titles"])

    def stats_once():
        s = svc.stats(stream=False)
        return {"has_memory_usage": "usage" in s.get("memory_stats", {}), "has_cpu": "cpu_usage" in s.get("cpu_stats", {})}

    step("stats", stats_once)

    def attach_one_line():
        stream = client.api.attach(svc.id, stream=True, logs=False)
        for chunk in stream:
            if b"tick" in chunk:
                return True
        return False

    step("attach_stream", attach_one_line)

    def pause_cycle():
        svc.pause()
        svc.reload()
        paused = svc.status
        svc.unpause()
        svc.reload()
        return [paused, svc.status]

    step("pause", pause_cycle)

    def stop_and_wait():
        since = int(time.time()) - 1
        svc.stop(timeout=5)
        code = svc.wait()["StatusCode"]
        svc.reload()
        events = client.events(decode=True, since=since, until=int(time.time()) + 1, filters={"container": svc.id})
        actions = [e.get("Action") for e in events]
        return {"code": code, "status": svc.status, "last_log": svc.logs(tail=1).decode(), "actions": actions}

    step("stop", stop_and_wait)
    step("list_exited", lambda: [c.name for c in client.containers.list(filters={"status": "exited"})])
    step("remove", lambda: (svc.remove(), [c.name for c in client.containers.list(all=True)])[1])

    def stdin_roundtrip():
        api = client.api
        c = api.create_container(image, ["cat"], stdin_open=True)  # not detached: docker-py sets StdinOnce
        s = api.attach_socket(c["Id"], params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        raw = s._sock
        api.start(c["Id"])
        raw.sendall(b"hello from python\n")
        raw.shutdown(socket.SHUT_WR)
        out = b""
        buf = b""
        while True:
            data = raw.recv(65536)
            if not data:
                break
            buf += data
            while len(buf) >= 8:
                kind, size = struct.unpack(">BxxxL", buf[:8])
                if len(buf) < 8 + size:
                    break
                if kind == 1:
                    out += buf[8 : 8 + size]
                buf = buf[8 + size :]
        raw.close()
        code = api.wait(c["Id"])["StatusCode"]
        api.remove_container(c["Id"])
        return {"out": out.decode(), "code": code}

    step("stdin", stdin_roundtrip)

    def not_found():
        try:
            client.containers.get("no-such-container")
            return {"raised": None}
        except docker.errors.NotFound as e:
            return {"raised": "NotFound", "status": e.status_code, "explanation": e.explanation}

    step("not_found", not_found)

    def conflict():
        client.containers.create(image, ["true"], name="py-dup")
        try:
            client.containers.create(image, ["true"], name="py-dup")
            return {"raised": None}
        except docker.errors.APIError as e:
            return {"raised": type(e).__name__, "status": e.status_code}
        finally:
            client.containers.get("py-dup").remove()

    step("conflict", conflict)

    def ipv6_network():
        # As docker-py's own test_create_network_ipv6_enabled, then a container on it.
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
            subnet="2001:db8:27::1/64", iprange="2001:db8:27::/96", gateway="2001:db8:27::ffff")])
        net = client.networks.create("py-v6", driver="bridge", enable_ipv6=True, ipam=ipam)
        try:
            c = client.containers.run(image, ["sleep", "120"], detach=True, network="py-v6")
            try:
                c.reload()
                net.reload()
                ep = c.attrs["NetworkSettings"]["Networks"]["py-v6"]
                ip6 = ep["GlobalIPv6Address"]
                return {
                    "enable_ipv6": net.attrs["EnableIPv6"],
                    "config": net.attrs["IPAM"]["Config"][1:],
                    "endpoint": [ip6, ep["GlobalIPv6PrefixLen"], ep["IPv6Gateway"]],
                    "network_lists": net.attrs["Containers"][c.id]["IPv6Address"],
                    "guest_address": c.exec_run(["ip", "-6", "addr", "show", "dev", "eth0", "scope", "global"]).output.decode(),
                    "guest_route": c.exec_run(["ip", "-6", "route", "show", "default"]).output.decode(),
                    "ping_gateway": c.exec_run(["ping", "-c", "1", "-W", "10", "2001:db8:27::ffff"]).exit_code,
                    "hosts_tail": c.exec_run(["tail", "-n", "2", "/etc/hosts"]).output.decode(),
                    "short_id": c.id[:12],
                }
            finally:
                c.remove(force=True)
        finally:
            net.remove()

    step("ipv6_network", ipv6_network)

    def ipv6_without_pool():
        try:
            client.networks.create("py-v6-nopool", driver="bridge", enable_ipv6=True)
            return {"raised": None}
        except docker.errors.APIError as e:
            return {"raised": type(e).__name__, "status": e.status_code, "explanation": e.explanation}

    step("ipv6_without_pool", ipv6_without_pool)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
