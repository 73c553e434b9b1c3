/**
 * The audit of `docker run` / `docker create`: every flag of docker CLI 28 and every
 * field of API 1.41's create body (Config, HostConfig), each with what podvisor does about it.
 * A flag is either honoured as dockerd 20.10 + runc honours it, shown by a named test that runs
 * the same command beside the baseline dockerd, or refused at create with an error naming it;
 * `client` flags never reach the daemon as such (the CLI acts on them, or sends them as another
 * field that has its own row). `not audited` is what the audit has not reached yet: a defect
 * until it is one of the others.
 *
 * test/unit/lint/flag-audit.test.ts checks that this list covers every flag and field, that
 * each named test exists, and that the table in docs/limitations.md is this list rendered
 * (`PODVISOR_WRITE_FLAG_TABLE=1` rewrites it).
 */

/** What podvisor does with one flag. */
export type FlagStatus =
  | { status: 'honoured'; test: string; note?: string }
  | { status: 'refused'; error: string }
  | { status: 'client'; note: string }
  | { status: 'not audited'; note?: string };

/** One flag (or an API-only field) and the create-body fields it sets. */
export type FlagAuditEntry = { flag: string; fields: string[] } & FlagStatus;

/** A test as `file: name` (the file under test/, the name as written in it). */
const t = (file: string, name: string): { status: 'honoured'; test: string; note?: string } => ({
  status: 'honoured',
  test: `${file}: ${name}`,
});

/** `docker run --help` and `docker create --help` of docker CLI 28.2.2, every flag (run's superset). */
export const CLI28_RUN_FLAGS: readonly string[] = [
  '--add-host',
  '--annotation',
  '--attach',
  '--blkio-weight',
  '--blkio-weight-device',
  '--cap-add',
  '--cap-drop',
  '--cgroup-parent',
  '--cgroupns',
  '--cidfile',
  '--cpu-count',
  '--cpu-percent',
  '--cpu-period',
  '--cpu-quota',
  '--cpu-rt-period',
  '--cpu-rt-runtime',
  '--cpu-shares',
  '--cpus',
  '--cpuset-cpus',
  '--cpuset-mems',
  '--detach',
  '--detach-keys',
  '--device',
  '--device-cgroup-rule',
  '--device-read-bps',
  '--device-read-iops',
  '--device-write-bps',
  '--device-write-iops',
  '--disable-content-trust',
  '--dns',
  '--dns-option',
  '--dns-search',
  '--domainname',
  '--entrypoint',
  '--env',
  '--env-file',
  '--expose',
  '--gpus',
  '--group-add',
  '--health-cmd',
  '--health-interval',
  '--health-retries',
  '--health-start-interval',
  '--health-start-period',
  '--health-timeout',
  '--help',
  '--hostname',
  '--init',
  '--interactive',
  '--io-maxbandwidth',
  '--io-maxiops',
  '--ip',
  '--ip6',
  '--ipc',
  '--isolation',
  '--kernel-memory',
  '--label',
  '--label-file',
  '--link',
  '--link-local-ip',
  '--log-driver',
  '--log-opt',
  '--mac-address',
  '--memory',
  '--memory-reservation',
  '--memory-swap',
  '--memory-swappiness',
  '--mount',
  '--name',
  '--network',
  '--network-alias',
  '--no-healthcheck',
  '--oom-kill-disable',
  '--oom-score-adj',
  '--pid',
  '--pids-limit',
  '--platform',
  '--privileged',
  '--publish',
  '--publish-all',
  '--pull',
  '--quiet',
  '--read-only',
  '--restart',
  '--rm',
  '--runtime',
  '--security-opt',
  '--shm-size',
  '--sig-proxy',
  '--stop-signal',
  '--stop-timeout',
  '--storage-opt',
  '--sysctl',
  '--tmpfs',
  '--tty',
  '--ulimit',
  '--use-api-socket',
  '--user',
  '--userns',
  '--uts',
  '--volume',
  '--volume-driver',
  '--volumes-from',
  '--workdir',
];

const RUN_FLAGS_TEST = 'compat/run-flags.test.ts';
const SECURITY_TEST = 'compat/security.test.ts';
const API_FIELDS_TEST = 'compat/run-api-fields.test.ts';
const CONFIG_FIELDS = 'Cmd, Image, ArgsEscaped, OnBuild and Shell: what runs, what inspect shows, what commit keeps';
const NETWORK_TEST = 'compat/run-network-flags.test.ts';
const PROCESS_LIMITS_TEST = 'compat/run-process-limits.test.ts';
const DISK_THROTTLE_TEST = 'compat/disk-throttle.test.ts';
const CGROUP_PARENT_TEST = 'compat/cgroup-parent.test.ts';

/** Every flag and API-only field, in the CLI's order, then the API-only fields. */
export const RUN_FLAG_AUDIT: readonly FlagAuditEntry[] = [
  {
    flag: '--add-host',
    fields: ['HostConfig.ExtraHosts'],
    ...t(RUN_FLAGS_TEST, '--add-host: a line of /etc/hosts'),
  },
  {
    flag: '--annotation',
    fields: ['HostConfig.Annotations'],
    ...t(RUN_FLAGS_TEST, 'flags whose answer is an error or a no-op under dockerd on Linux: the same answer'),
  },
  {
    flag: '--attach',
    fields: ['Config.AttachStdin', 'Config.AttachStdout', 'Config.AttachStderr'],
    ...t(RUN_FLAGS_TEST, '--attach: only the streams asked for'),
  },
  {
    flag: '--blkio-weight',
    fields: ['HostConfig.BlkioWeight'],
    ...t(RUN_FLAGS_TEST, "--blkio-weight and --blkio-weight-device: discarded with dockerd's warning"),
    note: "where the host's cgroups cannot weigh block I/O, as dockerd there; refused by name where they can",
  },
  {
    flag: '--blkio-weight-device',
    fields: ['HostConfig.BlkioWeightDevice'],
    ...t(RUN_FLAGS_TEST, "--blkio-weight and --blkio-weight-device: discarded with dockerd's warning"),
    note: "where the host's cgroups cannot weigh block I/O, as dockerd there; refused by name where they can",
  },
  {
    flag: '--cap-add',
    fields: ['HostConfig.CapAdd'],
    ...t(SECURITY_TEST, '--cap-add and --cap-drop, with and without CAP_, any case, ALL'),
  },
  {
    flag: '--cap-drop',
    fields: ['HostConfig.CapDrop'],
    ...t(SECURITY_TEST, '--cap-add and --cap-drop, with and without CAP_, any case, ALL'),
  },
  {
    flag: '--cgroup-parent',
    fields: ['HostConfig.CgroupParent'],
    ...t(
      CGROUP_PARENT_TEST,
      'an absolute parent: the QEMU is in <parent>/<its cgroup> in the memory and pids hierarchies, with its limits; inspect echoes it; a restart keeps it; rm -f leaves no VM cgroup',
    ),
    note: "the container's VM (its QEMU's host cgroup) goes under the parent; a `..` above where the path starts is refused (dockerd clamps it)",
  },
  {
    flag: '--cgroupns',
    fields: ['HostConfig.CgroupnsMode'],
    ...t(RUN_FLAGS_TEST, "--cgroupns private: the container's cgroup is the root of its namespace, as under dockerd"),
    note: "private, dockerd's cgroup v2 default; host is refused (the host's cgroup namespace is not in a VM)",
  },
  { flag: '--cidfile', fields: ['HostConfig.ContainerIDFile'], status: 'client', note: 'the CLI writes the file' },
  {
    flag: '--cpu-count',
    fields: ['HostConfig.CpuCount'],
    ...t(RUN_FLAGS_TEST, 'flags whose answer is an error or a no-op under dockerd on Linux: the same answer'),
  },
  {
    flag: '--cpu-percent',
    fields: ['HostConfig.CpuPercent'],
    ...t(RUN_FLAGS_TEST, 'flags whose answer is an error or a no-op under dockerd on Linux: the same answer'),
  },
  {
    flag: '--cpu-period',
    fields: ['HostConfig.CpuPeriod'],
    ...t(RUN_FLAGS_TEST, '--cpus, --cpu-period and --cpu-quota beside dockerd'),
  },
  {
    flag: '--cpu-quota',
    fields: ['HostConfig.CpuQuota'],
    ...t(RUN_FLAGS_TEST, '--cpus, --cpu-period and --cpu-quota beside dockerd'),
  },
  {
    flag: '--cpu-rt-period',
    fields: ['HostConfig.CpuRealtimePeriod'],
    status: 'refused',
    error: "--cpu-rt-period is not supported: a container's VM does not give its cgroup real-time CPU time",
  },
  {
    flag: '--cpu-rt-runtime',
    fields: ['HostConfig.CpuRealtimeRuntime'],
    status: 'refused',
    error: "--cpu-rt-runtime is not supported: a container's VM does not give its cgroup real-time CPU time",
  },
  {
    flag: '--cpu-shares',
    fields: ['HostConfig.CpuShares'],
    ...t(
      'compat/run-flags.test.ts',
      "--cpu-shares and --memory-reservation: the container's cgroup gets them (cpu.weight and memory.low on cgroup v2)",
    ),
  },
  {
    flag: '--cpus',
    fields: ['HostConfig.NanoCpus'],
    ...t(RUN_FLAGS_TEST, '--cpus, --cpu-period and --cpu-quota beside dockerd'),
    note: "cpu.max as runc's; the VM's vCPUs against the host's CPUs: docs/limitations.md",
  },
  {
    flag: '--cpuset-cpus',
    fields: ['HostConfig.CpusetCpus'],
    ...t(RUN_FLAGS_TEST, '--cpuset-cpus and --cpuset-mems beside dockerd'),
    note: "CPU n is the VM's vCPU n, checked against the host's CPUs: docs/limitations.md",
  },
  {
    flag: '--cpuset-mems',
    fields: ['HostConfig.CpusetMems'],
    ...t(RUN_FLAGS_TEST, '--cpuset-cpus and --cpuset-mems beside dockerd'),
    note: 'a VM has one memory node, 0',
  },
  { flag: '--detach', fields: [], status: 'client', note: 'the CLI does not attach' },
  { flag: '--detach-keys', fields: [], status: 'client', note: 'sent with attach, not create' },
  {
    flag: '--device',
    fields: ['HostConfig.Devices'],
    ...t(
      'compat/devices.test.ts',
      '--device /dev/fuse gives an openable /dev/fuse, at another path and with fewer permissions too',
    ),
    note: "the guest kernel's own devices only (/dev/fuse, /dev/net/tun, /dev/null, zero, full, random, urandom); the host's hardware is refused by name: the VM has none of it",
  },
  {
    flag: '--device-cgroup-rule',
    fields: ['HostConfig.DeviceCgroupRules'],
    ...t('compat/devices.test.ts', '--device-cgroup-rule allows what it names'),
    note: "rules on the devices of the container's VM",
  },
  {
    flag: '--device-read-bps',
    fields: ['HostConfig.BlkioDeviceReadBps'],
    ...t(DISK_THROTTLE_TEST, "--device-write-bps 1mb: a synced 4 MiB write to the container's disk takes 3 s or more"),
    note: "QEMU's throttling of the container's own disk, set with --device-write-bps's (block mode only; the path is not looked up)",
  },
  {
    flag: '--device-read-iops',
    fields: ['HostConfig.BlkioDeviceReadIOps'],
    ...t(DISK_THROTTLE_TEST, "--device-write-bps 1mb: a synced 4 MiB write to the container's disk takes 3 s or more"),
    note: "QEMU's throttling of the container's own disk, set with --device-write-bps's (block mode only; the path is not looked up)",
  },
  {
    flag: '--device-write-bps',
    fields: ['HostConfig.BlkioDeviceWriteBps'],
    ...t(DISK_THROTTLE_TEST, "--device-write-bps 1mb: a synced 4 MiB write to the container's disk takes 3 s or more"),
    note: "QEMU's throttling of the container's own disk (block mode only; the path is not looked up)",
  },
  {
    flag: '--device-write-iops',
    fields: ['HostConfig.BlkioDeviceWriteIOps'],
    ...t(DISK_THROTTLE_TEST, "--device-write-bps 1mb: a synced 4 MiB write to the container's disk takes 3 s or more"),
    note: "QEMU's throttling of the container's own disk, set with --device-write-bps's (block mode only; the path is not looked up)",
  },
  { flag: '--disable-content-trust', fields: [], status: 'client', note: 'the CLI resolves the image' },
  {
    flag: '--dns',
    fields: ['HostConfig.Dns'],
    ...t(RUN_FLAGS_TEST, '--dns, --dns-search and --dns-option: /etc/resolv.conf'),
  },
  {
    flag: '--dns-option',
    fields: ['HostConfig.DnsOptions'],
    ...t(RUN_FLAGS_TEST, '--dns, --dns-search and --dns-option: /etc/resolv.conf'),
  },
  {
    flag: '--dns-search',
    fields: ['HostConfig.DnsSearch'],
    ...t(RUN_FLAGS_TEST, '--dns, --dns-search and --dns-option: /etc/resolv.conf'),
  },
  { flag: '--domainname', fields: ['Config.Domainname'], ...t(RUN_FLAGS_TEST, '--domainname is the UTS domain name') },
  {
    flag: '--entrypoint',
    fields: ['Config.Entrypoint'],
    ...t(RUN_FLAGS_TEST, '--entrypoint: the program, the arguments after the image'),
  },
  {
    flag: '--env',
    fields: ['Config.Env'],
    ...t(RUN_FLAGS_TEST, '--env: set, empty and unset variables'),
  },
  { flag: '--env-file', fields: ['Config.Env'], status: 'client', note: 'the CLI reads the file into Env' },
  {
    flag: '--expose',
    fields: ['Config.ExposedPorts'],
    ...t(RUN_FLAGS_TEST, '--label and --expose: inspect shows them'),
  },
  {
    flag: '--gpus',
    fields: ['HostConfig.DeviceRequests'],
    status: 'refused',
    error:
      "--gpus is not supported: every container runs in its own VM, with its own kernel: the host's GPUs are not in it",
  },
  {
    flag: '--group-add',
    fields: ['HostConfig.GroupAdd'],
    ...t(RUN_FLAGS_TEST, '--user and --group-add: the ids of the command'),
  },
  {
    flag: '--health-cmd',
    fields: ['Config.Healthcheck'],
    ...t(
      RUN_FLAGS_TEST,
      '--health-cmd, --health-interval, --health-retries, --health-timeout, --health-start-period: the check runs, inspect shows it',
    ),
  },
  {
    flag: '--health-interval',
    fields: ['Config.Healthcheck'],
    ...t(
      RUN_FLAGS_TEST,
      '--health-cmd, --health-interval, --health-retries, --health-timeout, --health-start-period: the check runs, inspect shows it',
    ),
  },
  {
    flag: '--health-retries',
    fields: ['Config.Healthcheck'],
    ...t(
      RUN_FLAGS_TEST,
      '--health-cmd, --health-interval, --health-retries, --health-timeout, --health-start-period: the check runs, inspect shows it',
    ),
  },
  {
    flag: '--health-start-interval',
    fields: ['Config.Healthcheck'],
    ...t(RUN_FLAGS_TEST, 'flags whose answer is an error or a no-op under dockerd on Linux: the same answer'),
  },
  {
    flag: '--health-start-period',
    fields: ['Config.Healthcheck'],
    ...t(
      RUN_FLAGS_TEST,
      '--health-cmd, --health-interval, --health-retries, --health-timeout, --health-start-period: the check runs, inspect shows it',
    ),
  },
  {
    flag: '--health-timeout',
    fields: ['Config.Healthcheck'],
    ...t(
      RUN_FLAGS_TEST,
      '--health-cmd, --health-interval, --health-retries, --health-timeout, --health-start-period: the check runs, inspect shows it',
    ),
  },
  { flag: '--help', fields: [], status: 'client', note: 'the CLI prints its help' },
  {
    flag: '--hostname',
    fields: ['Config.Hostname'],
    ...t(RUN_FLAGS_TEST, '--hostname: the UTS name and /etc/hostname'),
  },
  {
    flag: '--init',
    fields: ['HostConfig.Init'],
    ...t(RUN_FLAGS_TEST, 'PID 1 is docker-init and the command its child, as under dockerd'),
  },
  {
    flag: '--interactive',
    fields: ['Config.OpenStdin', 'Config.StdinOnce'],
    ...t(RUN_FLAGS_TEST, '--interactive: stdin reaches the command'),
  },
  {
    flag: '--io-maxbandwidth',
    fields: ['HostConfig.IOMaximumBandwidth'],
    ...t(RUN_FLAGS_TEST, 'flags whose answer is an error or a no-op under dockerd on Linux: the same answer'),
  },
  {
    flag: '--io-maxiops',
    fields: ['HostConfig.IOMaximumIOps'],
    ...t(RUN_FLAGS_TEST, 'flags whose answer is an error or a no-op under dockerd on Linux: the same answer'),
  },
  {
    flag: '--ip',
    fields: ['NetworkingConfig'],
    ...t(NETWORK_TEST, 'a static IPv4 address on a user network: eth0 has it, /etc/hosts names it, inspect shows it'),
  },
  {
    flag: '--ip6',
    fields: ['NetworkingConfig'],
    ...t(NETWORK_TEST, 'a static IPv6 address on a user network with IPv6: eth0 has it, inspect shows it'),
  },
  {
    flag: '--ipc',
    fields: ['HostConfig.IpcMode'],
    status: 'refused',
    error:
      "host and none: `--ipc host is not supported: ... the host's IPC namespace is not there to share`, `--ipc none is not supported: a container's VM mounts its /dev/shm`; private, shareable and container:X are honoured (container:X runs in X's VM with X's /dev/shm: docs/limitations.md)",
  },
  {
    flag: '--isolation',
    fields: ['HostConfig.Isolation'],
    ...t(RUN_FLAGS_TEST, 'flags whose answer is an error or a no-op under dockerd on Linux: the same answer'),
  },
  {
    flag: '--kernel-memory',
    fields: ['HostConfig.KernelMemory', 'HostConfig.KernelMemoryTCP'],
    status: 'refused',
    error:
      "--kernel-memory is not supported: kernel memory limits are gone from cgroup v2, which a container's VM has (KernelMemoryTCP too)",
  },
  {
    flag: '--label',
    fields: ['Config.Labels'],
    ...t(RUN_FLAGS_TEST, '--label and --expose: inspect shows them'),
  },
  { flag: '--label-file', fields: ['Config.Labels'], status: 'client', note: 'the CLI reads the file into Labels' },
  {
    flag: '--link',
    fields: ['HostConfig.Links'],
    ...t(
      NETWORK_TEST,
      'on the default bridge: the hosts line and the variables of `--link t:alias`, with the address as a word',
    ),
  },
  {
    flag: '--link-local-ip',
    fields: ['NetworkingConfig'],
    ...t(NETWORK_TEST, 'the address is on eth0 beside its own, a /16; inspect shows it; a peer with one reaches it'),
  },
  {
    flag: '--log-driver',
    fields: ['HostConfig.LogConfig'],
    ...t(RUN_FLAGS_TEST, '--log-driver and --log-opt: json-file rotation keeps the tail; none keeps nothing readable'),
  },
  {
    flag: '--log-opt',
    fields: ['HostConfig.LogConfig'],
    ...t(RUN_FLAGS_TEST, '--log-driver and --log-opt: json-file rotation keeps the tail; none keeps nothing readable'),
  },
  {
    flag: '--mac-address',
    fields: ['Config.MacAddress'],
    ...t(NETWORK_TEST, 'Config.MacAddress (as older CLIs and docker-py send it): eth0 has it, inspect shows it'),
  },
  {
    flag: '--memory',
    fields: ['HostConfig.Memory'],
    ...t(RUN_FLAGS_TEST, '--memory: a command past the limit is killed (137)'),
  },
  {
    flag: '--memory-reservation',
    fields: ['HostConfig.MemoryReservation'],
    ...t(
      'compat/run-flags.test.ts',
      "--cpu-shares and --memory-reservation: the container's cgroup gets them (cpu.weight and memory.low on cgroup v2)",
    ),
  },
  {
    flag: '--memory-swap',
    fields: ['HostConfig.MemorySwap'],
    ...t(RUN_FLAGS_TEST, '--memory-swap beside dockerd: no swap is used past --memory'),
    note: 'a VM has no swap, as a host with swap off',
  },
  {
    flag: '--memory-swappiness',
    fields: ['HostConfig.MemorySwappiness'],
    ...t(RUN_FLAGS_TEST, "--memory-swappiness: discarded with dockerd's warning for cgroup v2"),
  },
  {
    flag: '--mount',
    fields: ['HostConfig.Mounts'],
    ...t(RUN_FLAGS_TEST, '--volume and --mount: a host directory, read-write and read-only; --volumes-from'),
  },
  { flag: '--name', fields: [], status: 'client', note: 'sent as the `name` query parameter' },
  {
    flag: '--network',
    fields: ['HostConfig.NetworkMode', 'NetworkingConfig'],
    ...t(NETWORK_TEST, 'a user network: the address from its subnet, its gateway the default route'),
  },
  {
    flag: '--network-alias',
    fields: ['NetworkingConfig'],
    ...t(
      NETWORK_TEST,
      'another container of the network resolves the alias to the container; one of the default bridge does not',
    ),
  },
  {
    flag: '--no-healthcheck',
    fields: ['Config.Healthcheck'],
    ...t(RUN_FLAGS_TEST, '--no-healthcheck: inspect shows NONE'),
  },
  {
    flag: '--oom-kill-disable',
    fields: ['HostConfig.OomKillDisable'],
    status: 'refused',
    error: "--oom-kill-disable is not supported: cgroup v2, which a container's VM has, cannot turn its OOM killer off",
  },
  {
    flag: '--oom-score-adj',
    fields: ['HostConfig.OomScoreAdj'],
    ...t(PROCESS_LIMITS_TEST, '--oom-score-adj: the init has it (500, and -500, which only root may set); an exec too'),
  },
  {
    flag: '--pid',
    fields: ['HostConfig.PidMode'],
    status: 'refused',
    error:
      "host: `--pid host is not supported: ... the host's processes are not there to share`; container:X is honoured (docs/limitations.md)",
  },
  {
    flag: '--pids-limit',
    fields: ['HostConfig.PidsLimit'],
    ...t(
      PROCESS_LIMITS_TEST,
      'docker update --pids-limit: 30 lets 20 children run; -1 lifts the limit (0 is not sent)',
    ),
    note: "pids.max of the container's cgroup in its VM",
  },
  { flag: '--platform', fields: [], status: 'client', note: 'sent as the `platform` query parameter' },
  {
    flag: '--privileged',
    fields: ['HostConfig.Privileged'],
    ...t(
      SECURITY_TEST,
      "a privileged container makes bridges, veth pairs, dummy links and tun devices of its VM's kernel; a plain one may not",
    ),
  },
  {
    flag: '--publish',
    fields: ['HostConfig.PortBindings'],
    ...t(
      NETWORK_TEST,
      '-p 127.0.0.1:P:80, -p P2:80 and -p 127.0.0.1::81: docker port, inspect, and a GET through each address',
    ),
  },
  {
    flag: '--publish-all',
    fields: ['HostConfig.PublishAllPorts'],
    ...t(NETWORK_TEST, '-P publishes each exposed port on a picked port of every address: docker port, and a GET'),
  },
  { flag: '--pull', fields: [], status: 'client', note: 'the CLI pulls first' },
  { flag: '--quiet', fields: [], status: 'client', note: 'the CLI pulls quietly' },
  {
    flag: '--read-only',
    fields: ['HostConfig.ReadonlyRootfs'],
    ...t(
      SECURITY_TEST,
      '--read-only: the root and its /etc files read-only, /dev, /dev/shm, tmpfs and volumes writable',
    ),
  },
  {
    flag: '--restart',
    fields: ['HostConfig.RestartPolicy'],
    ...t(RUN_FLAGS_TEST, '--restart on-failure:2: two restarts, then exited'),
  },
  {
    flag: '--rm',
    fields: ['HostConfig.AutoRemove'],
    ...t(RUN_FLAGS_TEST, '--rm: the container is gone once it exits'),
  },
  {
    flag: '--runtime',
    fields: ['HostConfig.Runtime'],
    ...t(RUN_FLAGS_TEST, 'flags whose answer is an error or a no-op under dockerd on Linux: the same answer'),
  },
  {
    flag: '--security-opt',
    fields: ['HostConfig.SecurityOpt'],
    ...t(SECURITY_TEST, '--security-opt no-new-privileges sets NoNewPrivs, for the execs too'),
  },
  {
    flag: '--shm-size',
    fields: ['HostConfig.ShmSize'],
    ...t(RUN_FLAGS_TEST, '--shm-size: the size of /dev/shm (and its default)'),
  },
  { flag: '--sig-proxy', fields: [], status: 'client', note: 'the CLI forwards signals' },
  {
    flag: '--stop-signal',
    fields: ['Config.StopSignal'],
    ...t(RUN_FLAGS_TEST, "--stop-signal: docker stop sends it, the container exits with the command's status"),
  },
  {
    flag: '--stop-timeout',
    fields: ['Config.StopTimeout'],
    ...t(
      RUN_FLAGS_TEST,
      '--stop-timeout: a container that ignores the signal is killed (137); inspect shows the timeout',
    ),
  },
  {
    flag: '--storage-opt',
    fields: ['HostConfig.StorageOpt'],
    ...t(
      'compat/rootfs-disk-size.test.ts',
      '--storage-opt size=64M: df shows the disk; writing past it gives ENOSPC; the daemon serves on; rm leaves nothing',
    ),
    note: "size=, as dockerd's overlay2 on xfs with pquota; without block mode refused with the baseline's words (overlay2 on ext4)",
  },
  {
    flag: '--sysctl',
    fields: ['HostConfig.Sysctls'],
    ...t(
      SECURITY_TEST,
      '--sysctl is written in the VM before the command runs; what runc refuses fails the start as there',
    ),
  },
  {
    flag: '--tmpfs',
    fields: ['HostConfig.Tmpfs'],
    ...t(RUN_FLAGS_TEST, '--tmpfs: the mount, its size, mode and flags'),
  },
  {
    flag: '--tty',
    fields: ['Config.Tty'],
    ...t(RUN_FLAGS_TEST, '--tty: the command has a terminal'),
  },
  {
    flag: '--ulimit',
    fields: ['HostConfig.Ulimits'],
    ...t(RUN_FLAGS_TEST, "every type's soft and hard limit, in the init and in an exec, as under dockerd"),
  },
  {
    flag: '--use-api-socket',
    fields: ['HostConfig.Mounts'],
    ...t(
      API_FIELDS_TEST,
      "the daemon's socket and the CLI's credentials are in the container, and the CLI inside drives the daemon",
    ),
    note: 'CLI 28: a bind of the socket, and the credentials copied in',
  },
  {
    flag: '--user',
    fields: ['Config.User'],
    ...t(RUN_FLAGS_TEST, '--user and --group-add: the ids of the command'),
  },
  {
    flag: '--userns',
    fields: ['HostConfig.UsernsMode'],
    ...t(RUN_FLAGS_TEST, '--userns host: no user namespace, the ids are the kernel’s own'),
  },
  {
    flag: '--uts',
    fields: ['HostConfig.UTSMode'],
    status: 'refused',
    error: "host: `--uts host is not supported: ... the host's hostname is not there to share`",
  },
  {
    flag: '--volume',
    fields: ['HostConfig.Binds', 'Config.Volumes'],
    ...t(RUN_FLAGS_TEST, '--volume and --mount: a host directory, read-write and read-only; --volumes-from'),
  },
  {
    flag: '--volume-driver',
    fields: ['HostConfig.VolumeDriver'],
    ...t(
      API_FIELDS_TEST,
      'an unknown driver is refused for a named and an anonymous volume with dockerd words, and nothing is made',
    ),
    note: 'only `local` exists; dockerd looks for a plugin for 30 s first, podvisor answers at once',
  },
  {
    flag: '--volumes-from',
    fields: ['HostConfig.VolumesFrom'],
    ...t(RUN_FLAGS_TEST, '--volume and --mount: a host directory, read-write and read-only; --volumes-from'),
  },
  {
    flag: '--workdir',
    fields: ['Config.WorkingDir'],
    ...t(RUN_FLAGS_TEST, '--workdir: the directory, made when missing'),
  },
  // Fields of API 1.41 that no flag of `docker run` sets.
  { flag: '(API) Config.Cmd', fields: ['Config.Cmd'], ...t(API_FIELDS_TEST, CONFIG_FIELDS) },
  { flag: '(API) Config.Image', fields: ['Config.Image'], ...t(API_FIELDS_TEST, CONFIG_FIELDS) },
  { flag: '(API) Config.ArgsEscaped', fields: ['Config.ArgsEscaped'], ...t(API_FIELDS_TEST, CONFIG_FIELDS) },
  {
    flag: '(API) Config.NetworkDisabled',
    fields: ['Config.NetworkDisabled'],
    ...t(NETWORK_TEST, 'no address but loopback and no route; inspect shows no network'),
  },
  { flag: '(API) Config.OnBuild', fields: ['Config.OnBuild'], ...t(API_FIELDS_TEST, CONFIG_FIELDS) },
  { flag: '(API) Config.Shell', fields: ['Config.Shell'], ...t(API_FIELDS_TEST, CONFIG_FIELDS) },
  {
    flag: '(API) HostConfig.Cgroup',
    fields: ['HostConfig.Cgroup'],
    status: 'refused',
    error: "HostConfig.Cgroup is not supported: a container's cgroup is in its own VM, where no other container's is",
  },
  {
    flag: '(API) HostConfig.ConsoleSize',
    fields: ['HostConfig.ConsoleSize'],
    ...t(
      API_FIELDS_TEST,
      "a terminal container's first size is ConsoleSize, as Docker 23 and later make it (dockerd 20.10: 0x0)",
    ),
    note: 'the terminal has the size from the start, as Docker 23+; dockerd 20.10 ignores it until the first resize',
  },
  {
    flag: '(API) HostConfig.MaskedPaths',
    fields: ['HostConfig.MaskedPaths'],
    ...t(SECURITY_TEST, "Docker's masked and read-only paths; none with systempaths=unconfined"),
  },
  {
    flag: '(API) HostConfig.ReadonlyPaths',
    fields: ['HostConfig.ReadonlyPaths'],
    ...t(SECURITY_TEST, "Docker's masked and read-only paths; none with systempaths=unconfined"),
  },
];
