/*
 * podvisor_agent.h - THE contract between the host (src/vm/agent, TypeScript) and the guest
 * agent (guest/agent, C). src/vm/agent/protocol.ts mirrors every PV_* constant below, and
 * test/unit/vm/protocol-contract.test.ts parses this file and fails when the two disagree.
 *
 * Rules for changing it:
 *   - Numbers are append-only: never renumber or reuse a frame type, opcode, tag or error
 *     code; add new ones after the last. Bump PV_PROTOCOL_VERSION on any change a peer of the
 *     previous version would misread (host and guest are built from the same tree and must
 *     match exactly; the host refuses an agent whose version differs).
 *   - Keep every constant a plain `#define PV_NAME <decimal or hex literal>`; tag comments
 *     start with the value type (u32, u64, str, str[], u32[], bytes, tlv[]), which the
 *     contract test also checks against the TypeScript table.
 *
 * ---------------------------------------------------------------------------------------
 * CHANNELS
 *   Two byte streams, each a virtio-serial port in the VM (QEMU chardev unix-socket servers
 *   on the host). There is no vsock on the machines this runs on.
 *     control  "org.podvisor.ctl"  requests (host->agent), ACK/ERROR replies and events
 *     stream   "org.podvisor.io"   process stdin/stdout/stderr data, EOF and credit frames
 *   In the guest the agent finds them by name in /sys/class/virtio-ports/vport* /name and
 *   opens /dev/vportNpM. In host test mode (`podvisor-agent --ctl PATH --io PATH`) the agent
 *   listens on two unix sockets at those paths instead, and a new connection replaces the
 *   previous one (as a restarted daemon reconnecting).
 *
 * WHY A BINARY TLV AND NOT JSON
 *   The agent is PID 1 of the VM and parses everything the host sends; a fixed 12-byte
 *   header plus length-prefixed TLV fields is a few bounds checks in C (no allocation, no
 *   escaping, no number parsing), carries binary payloads (file contents) without base64, and
 *   lets the stream channel move 64 KiB of process output per frame with no per-byte work.
 *   The host, which trusts nothing from the guest, validates the same lengths.
 *
 * FRAME (both channels; all integers little-endian)
 *
 *    0               4       6       8               12
 *   +---------------+-------+-------+---------------+=============================+
 *   | length  (u32) | type  | aux   | id      (u32) | payload (length bytes)      |
 *   |               | (u16) | (u16) |               |                             |
 *   +---------------+-------+-------+---------------+=============================+
 *
 *   length  payload bytes after the 12-byte header; at most PV_MAX_CTL_PAYLOAD on the
 *           control channel and PV_MAX_IO_PAYLOAD on the stream channel. A larger length
 *           is a protocol error (the reader never buffers more than one maximal frame).
 *   type    a PV_FRAME_* (either channel) or PV_OP_* (control requests) number below.
 *   aux     control channel: 0. Stream channel: the stream, PV_STREAM_STDIN/STDOUT/STDERR.
 *   id      control channel: request id chosen by the host (non-zero); the reply carries
 *           the same id; events carry 0. Stream channel: the process handle (below).
 *
 * SYNC (start of every connection, on each channel separately)
 *   host  -> agent  PV_FRAME_SYNC        payload: 16 random bytes (the nonce), id 0
 *   agent -> host   PV_FRAME_SYNC_REPLY  payload: the same 16 bytes, id 0
 *   Bytes before the SYNC_REPLY carrying its nonce are discarded by the host (they may be
 *   the tail of a frame written to an earlier connection). On SYNC the agent drops whatever
 *   it had not yet written on that channel, so every frame after SYNC_REPLY is whole. When
 *   the agent meets a malformed frame it logs it and scans its input for the next SYNC
 *   header (10 00 00 00 01 00 00 00 00 00 00 00). A SYNC on the stream channel starts a new
 *   stream session: every process becomes detached (see REATTACH) and all output credit is
 *   withdrawn. After syncing, the host sends PV_OP_VERSION before anything else.
 *   One connection, one nonce: the host syncs both channels with the same nonce and sends
 *   nothing else on either before both SYNC_REPLYs came. The guest may see a host's close and
 *   the next host's connect as one (QEMU's port events merged), and a frame the old host left
 *   half-sent would then swallow the new SYNC. So a SYNC whose nonce differs from the other
 *   channel's session ends that session as a seen close would (unwritten output and a partial
 *   frame dropped; on the stream channel every process detached), and the agent scans what
 *   that channel read and reads next for the new SYNC. And a partial frame whose bytes end
 *   with a whole SYNC frame, followed by nothing for 1 s, is dropped and the SYNC taken.
 *
 * CONTROL PAYLOAD: a sequence of TLV fields, in any order, repeated tags allowed where the
 * type says so ([]); unknown tags are skipped (forward compatibility); a field whose length
 * does not fit its type or the remaining payload is a protocol error.
 *
 *    0       2       4               8
 *   +-------+-------+---------------+========================+
 *   | tag   | 0     | length (u32)  | value (length bytes)   |  ... next field
 *   | (u16) | (u16) |               |                        |
 *   +-------+-------+---------------+========================+
 *
 *   u32 / u64   exactly 4 / 8 bytes, little-endian.
 *   str         UTF-8, no NUL byte, at most PV_MAX_STRING bytes (ids: PV_MAX_ID, [A-Za-z0-9_.-]).
 *   bytes       raw.
 *   tlv         a nested TLV sequence (used for the records of PV_OP_LIST_PROCESSES).
 *
 * REQUESTS (host -> agent on control; reply ACK or ERROR with the request's id)
 *   PV_OP_VERSION            PROTOCOL                      -> ACK PROTOCOL AGENT LAST_OP
 *        LAST_OP: the highest opcode this agent serves (it serves every one below it). An
 *        agent built before PROCESS_TABLE leaves it out; the host then sends it no newer
 *        request (an agent resynchronises on an opcode it does not know, never answering).
 *   PV_OP_PING               -                             -> ACK
 *   PV_OP_CREATE_CONTAINER   CONTAINER_ID ROOTFS [HOSTNAME] [MEMORY_MAX] [CPU_QUOTA
 *                            CPU_PERIOD] [CPU_WEIGHT] [MEMORY_LOW] [CPUSET_CPUS] [CPUSET_MEMS]
 *                            [PIDS_MAX] [SHM_PEER] [DOCKER_INIT] [POD_PAUSE] [DEVICE_FILTER] [DEVICE_RULE...]
 *                            [DEVICE_NODE...]               -> ACK
 *        ROOTFS is relative to the share mount (AGENT_SHARE_MOUNT, /run/podvisor/share), no
 *        "..", e.g. containers/<id>/rootfs. Creates a mount namespace whose / is that tree
 *        (pivot_root) with /sys (ro), /dev (tmpfs: null zero full random urandom tty, fd
 *        symlinks), /dev/pts (new devpts instance, /dev/ptmx -> pts/ptmx), /dev/shm. With a
 *        HOSTNAME also a UTS namespace. /proc is mounted by the container's init (below).
 *        With SHM_PEER (another container of this VM: docker --ipc container:X), that
 *        container's /dev/shm is mounted over this one's, so both see the same files.
 *        PIDS_MAX is the cgroup's pids.max (0: "max"), as UPDATE_RESOURCES sets it later.
 *        With UPPER_DISK (a virtio-blk device name, vd[a-z], holding an ext4 filesystem the
 *        host made): ROOTFS is the container's read-only image tree, and / becomes an overlay
 *        of it (lower; read through the VM's layers share, PV_LAYERS_TAG, when it has one,
 *        mounted for this container alone) and the disk's upper/ and work/ directories
 *        (created when missing; the
 *        disk is mounted at /run/podvisor/disks/<id> after BLKFLSBUF drops any page cache the
 *        guest had of the device). DESTROY_CONTAINER syncs the disk and unmounts both.
 *        With IMAGE_DISK too (the serial of a read-only virtio-blk device, as
 *        /sys/block/vdX/serial shows it, holding the image's ext4 filesystem the host made):
 *        that filesystem, mounted ro,noload in the container's namespace, is the overlay's
 *        lower layer instead of ROOTFS's tree (no 9p share is mounted for it).
 *        Security (security.c), done by the container's first init before it execs, in runc's
 *        order: each SYSCTL written (KEY with '.' as '/' under /proc/sys; only in a VM, else
 *        INVALID), WRITABLE_SYSFS, each READONLY_PATH bound read-only on itself, each
 *        MASKED_PATH hidden (a file: /dev/null bound over it; a directory: an empty read-only
 *        tmpfs), then with READONLY_ROOTFS / remounted read-only (its own mounts, /dev, /proc
 *        and /sys keep their flags). SYSCTLs outside the container's own namespaces (runc's
 *        rule: IPC ones, fs.mqueue.*, net.*, kernel.domainname) are refused (UNAVAILABLE).
 *        Missing paths are skipped. A later init of the same container (a restart in place)
 *        redoes only what is under /proc (a fresh one). A failure fails that START_PROCESS.
 *        DOCKER_INIT 1 (docker --init): the agent's own binary is bound read-only (nosuid,
 *        nodev) at PV_DOCKER_INIT_PATH in the container (the file, and /sbin, made when
 *        missing, resolved inside the container's root), as dockerd binds docker-init there.
 *        Run under that name, the binary is a small init (docker_init.c, tini's job): the host
 *        starts the container's first process as `PV_DOCKER_INIT_PATH -- ARG...`; it runs
 *        ARG... as its child, reaps every orphan, forwards the signals it gets to the child and
 *        exits with the child's status (128+s for a death by signal s).
 *        POD_PAUSE 1 (a CRI sandbox's infra container, made by the agent instead of from an
 *        image): no ROOTFS (none may be sent, nor UPPER_DISK or DOCKER_INIT); / is a small
 *        tmpfs of the container's own holding /proc, /sys, /dev and the agent's own binary,
 *        bound read-only at PV_POD_PAUSE_PATH. Run under that name (the host starts the
 *        container's first process as `PV_POD_PAUSE_PATH`) the binary is the pod's pause
 *        (pause.c): PID 1 of the pod's PID namespace, which the pod's other containers join
 *        with PID_PEER; it reaps every orphan and exits 0 on SIGTERM or SIGINT.
 *        DEVICE_FILTER 1 (every container but a privileged one, as runc): an eBPF program of
 *        type BPF_PROG_TYPE_CGROUP_DEVICE, built from the DEVICE_RULE records, is attached to
 *        the container's cgroup before the answer, so before any of its processes runs: an
 *        access (mknod, read, write) of a device node is allowed when a rule of its type
 *        ('a': either) and numbers (absent: any) holds every bit of it, else EPERM. Without
 *        DEVICE_FILTER, no program: every device of the VM. A kernel without cgroup BPF (no
 *        bpf(2)) is logged once and its containers run without one; any other failure fails
 *        the create. Each DEVICE_NODE is made (mknod, then chmod to MODE) at PATH, under /dev
 *        of the container (directories on the way made 0755, a node already there replaced),
 *        resolved in its root; at most PV_MAX_DEVICE_NODES of them, PV_MAX_DEVICE_RULES rules.
 *   PV_OP_DESTROY_CONTAINER  CONTAINER_ID                  -> ACK once every process of the
 *        container is reaped (SIGKILL to its init kills its PID namespace).
 *   PV_OP_START_PROCESS      CONTAINER_ID PROCESS_ID HANDLE ARG[] ENV[] CWD UID GID GROUP[]
 *                            TERMINAL [ROWS COLS] STDIN WINDOW [RLIMIT...] -> ACK PID
 *        When the container has no live init, the process becomes its init: PID 1 of a new
 *        PID namespace, which then mounts a fresh /proc. Otherwise it joins the init's PID
 *        namespace (an exec). ARG[0] without '/' is looked up in PATH from ENV (default
 *        PV_DEFAULT_PATH). CWD is created when missing. WINDOW is the initial output credit
 *        of stdout (and stderr). Death by signal s is reported as EXIT_CODE 128+s, SIGNAL s.
 *        [CAP_BOUNDING CAP_EFFECTIVE CAP_PERMITTED CAP_INHERITABLE CAP_AMBIENT] [NO_NEW_PRIVS]:
 *        as runc: capabilities outside the bounding set dropped from it, keep-caps across the
 *        change of user, then effective, permitted and inheritable set, ambient raised; the
 *        kernel's execve rules do the rest (a non-root user keeps only ambient and file
 *        capabilities).
 *        Each RLIMIT record (RLIMIT_RESOURCE: a RLIMIT_* number below RLIM_NLIMITS,
 *        RLIMIT_SOFT, RLIMIT_HARD: all ones is unlimited; soft <= hard; at most
 *        PV_MAX_RLIMITS) is set with setrlimit before the change of user, as runc does
 *        (docker --ulimit, on the init and every exec).
 *        OOM_SCORE_ADJ is written to the process's /proc/self/oom_score_adj before the change
 *        of user (docker --oom-score-adj; its children inherit it).
 *   PV_OP_SIGNAL             PROCESS_ID SIGNAL             -> ACK (NOT_FOUND once reaped)
 *   PV_OP_RESIZE             PROCESS_ID ROWS COLS          -> ACK (INVALID without a TTY)
 *   PV_OP_WRITE_FILE         CONTAINER_ID PATH MODE DATA   -> ACK
 *   PV_OP_READ_FILE          CONTAINER_ID PATH MAX_BYTES   -> ACK DATA
 *        PATH is absolute, without ".." components; it is resolved inside the container's
 *        root (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: symlinks cannot leave the
 *        root). Only regular files; at most PV_MAX_FILE_SIZE (and MAX_BYTES) bytes.
 *   PV_OP_LIST_PROCESSES     -                             -> ACK PROCESS[]
 *        Each PROCESS record: HANDLE PROCESS_ID CONTAINER_ID PID TERMINAL STDIN EXITED
 *        STDIN_RECEIVED STDIN_LIMIT STDOUT_SENT STDERR_SENT (offsets of each stream so far).
 *   PV_OP_UPDATE_RESOURCES   CONTAINER_ID [MEMORY_MAX] [CPU_QUOTA CPU_PERIOD] [CPU_WEIGHT]
 *                            [MEMORY_LOW] [CPUSET_CPUS] [CPUSET_MEMS] [PIDS_MAX] -> ACK
 *        Changes the limits of the container's cgroup (cgroup v2 in the guest: memory.max,
 *        cpu.max, cpu.weight, memory.low, cpuset.cpus, cpuset.mems, pids.max) live. Every container has a cgroup, /sys/fs/cgroup/pv-<id>, that its init
 *        and execs join before they exec; CREATE_CONTAINER sets the initial limits. Without
 *        cgroup v2 (host test mode) a limit is refused (INVALID).
 *   PV_OP_MEMORY_STATS       CONTAINER_ID                  -> ACK MEMORY_USAGE MEMORY_LIMIT
 *        MEMORY_CACHE (NOT_FOUND without a cgroup).
 *   PV_OP_CONFIGURE_INTERFACE IFNAME [MAC] [SET_MAC] [ADDRESS PREFIX [SECONDARY...]]
 *                            [ADDRESS6 PREFIX6] [MTU] [LINK_UP] -> ACK
 *        Configures one network interface of the VM (every container of a VM shares its
 *        network namespace). IFNAME: 1..15 bytes of [A-Za-z0-9_.-]. MAC (6 bytes): refused
 *        (INVALID) unless the interface has that hardware address, so the host never
 *        configures the wrong NIC. SET_MAC (6 bytes, unicast and not all zero, else INVALID)
 *        becomes its hardware address (docker --mac-address), set while the interface is down
 *        (an interface that is up is brought down for it and up again); the kernel's error
 *        (e.g. ADDRNOTAVAIL) is returned as is. ADDRESS (IPv4, 4 bytes) with PREFIX (0..32) becomes its
 *        address, replacing every IPv4 address it had (0.0.0.0: it has none afterwards); each
 *        SECONDARY record (ADDRESS PREFIX, at most PV_MAX_SECONDARY, only with a non-zero
 *        ADDRESS) is one more, labelled IFNAME:1, IFNAME:2... (docker's --link-local-ip);
 *        ADDRESS6 (IPv6, 16 bytes) with PREFIX6 (1..128) becomes its global IPv6 address,
 *        replacing every global IPv6 address it had (::, with PREFIX6 0: it has none
 *        afterwards); it is usable at once (no duplicate address detection, as dockerd's
 *        nodad). An interface going down loses its IPv6 addresses (the kernel's rule);
 *        MTU 68..65535; LINK_UP 1 brings it up, 0 down. Applied in that order;
 *        absent fields leave that setting as it is. In host test mode the agent refuses
 *        (INVALID) unless it runs in a network namespace its parent process does not share.
 *   PV_OP_ADD_ROUTE          DESTINATION PREFIX [GATEWAY] [IFNAME] -> ACK
 *                            DESTINATION6 PREFIX [GATEWAY6] [IFNAME] -> ACK
 *        An IPv4 route, or with DESTINATION6 (16 bytes; PREFIX 0..128, GATEWAY6 16 bytes) an
 *        IPv6 one. DESTINATION 0.0.0.0 (::) with PREFIX 0 is the default route;
 *        DESTINATION must have no bits set past PREFIX. Same host-mode rule.
 *   PV_OP_LIST_INTERFACES    -                             -> ACK INTERFACE[]
 *        Each INTERFACE record: IFNAME MAC MTU LINK_UP [ADDRESS PREFIX] (IPv4) [SECONDARY...]
 *        [ADDRESS6 PREFIX6] (its first global IPv6 address).
 *   PV_OP_MOUNT              CONTAINER_ID PATH FSTYPE [SOURCE] [SUBPATH] [MOUNT_FLAGS]
 *                            [FS_OPTIONS]                  -> ACK
 *        Mounts a file system at PATH inside the container (PATH as for WRITE_FILE;
 *        directories are created when missing). FSTYPE "tmpfs" (FS_OPTIONS: comma-separated
 *        size=N[kmg%], nr_inodes=N[kmg], mode=OCTAL, uid=N, gid=N; nothing else) or
 *        "virtiofs": SOURCE is a virtio-fs tag other than PV_SHARE_TAG (1..36 bytes of
 *        [A-Za-z0-9_.-]) and SUBPATH (relative, no "..") the directory of it to mount; no
 *        FS_OPTIONS. "diskdir": SUBPATH is volumes/NAME (NAME 1..64 bytes of [A-Za-z0-9_.-],
 *        not "." or "..") on the container's upper disk, beside its upper/ and work/; no
 *        SOURCE or FS_OPTIONS; INVALID for a container without an upper disk. volumes/ (0700)
 *        and NAME (0755, root:root) are made when missing; an existing NAME keeps its content,
 *        owner and mode; a symlink or non-directory at either is refused (INVALID), never
 *        followed. MOUNT_FLAGS: PV_MOUNT_* bits.
 *   PV_OP_UNMOUNT            CONTAINER_ID PATH             -> ACK (NOT_FOUND: not a mount point)
 *   PV_OP_RESUME_OUTPUT      PROCESS_ID [STDOUT_DURABLE] [STDERR_DURABLE] -> ACK STDOUT_FROM
 *        STDERR_FROM. After a reattach, before the process is attached in this session: the
 *        host says how much of each stream it has stored (its log), and the agent re-sends
 *        from there what it still keeps (the last PV_OUTPUT_KEEP bytes of each stream of a
 *        container's init; nothing for execs). *_FROM is where the re-sent stream starts:
 *        larger than *_DURABLE when that much was no longer kept (lost). INVALID when an
 *        offset is beyond what the process wrote; CONFLICT once the process is attached.
 *   PV_OP_CLEAN_POD          -                             -> ACK
 *        Makes the VM fit for another pod: every emptydir (and what is in it) removed.
 *        CONFLICT while any container exists (destroy them first); the pod's shared PID and
 *        UTS namespaces are already gone with the last container.
 *   PV_OP_ACTIVATE           [TIME_NS] [ENTROPY] [MOUNT_SHARE] -> ACK
 *        A VM restored from a template: TIME_NS becomes the guest's wall clock; ENTROPY
 *        (16..512 bytes) is added to the kernel's random pool with full credit and the CRNG
 *        is reseeded; MOUNT_SHARE 1 mounts the rootfs share (PV_SHARE_TAG; a 9p share is never
 *        mounted at boot, since QEMU cannot save a VM whose 9p share is mounted) unless it is
 *        mounted already. Applied in that order. INVALID in host test mode. Without
 *        MOUNT_SHARE (a VM restored from a checkpoint) a share that waits for a mount (at
 *        boot, or let go by RELEASE_SHARE) is mounted by the first CREATE_CONTAINER with a
 *        ROOTFS, or READY_DISK, before it goes on; no spare namespace is made until then.
 *   PV_OP_PROCESS_TABLE      CONTAINER_ID                  -> ACK CLOCK_TICKS UPTIME MEM_TOTAL
 *                            TASK[] [TRUNCATED]
 *        The container's processes from the guest's /proc (docker top; the host renders ps's
 *        columns): those in its cgroup's cgroup.procs (every process of the container, as
 *        dockerd lists a container's cgroup), or without cgroups (host test mode) the
 *        processes the agent started in it and their descendants. Each TASK record: PID PPID
 *        PGID SID TPGID UID GID (effective ids) STATE START_TICKS UTIME STIME VSZ RSS TTY
 *        THREADS NICE COMM CMDLINE, in ascending PID order. At most PV_MAX_TOP_PROCESSES
 *        records, and no more than fit one frame: TRUNCATED 1 when some were left out. A
 *        process that exits while it is read is left out. NOT_FOUND: no such container.
 *   PV_OP_SET_SECCOMP        CONTAINER_ID SECCOMP_DEFAULT [SECCOMP_ERRNO] [SECCOMP_ARCH...]
 *                            [SECCOMP_RULE...]             -> ACK
 *        The seccomp filter of every process the container starts from then on (its init and
 *        execs; sent after CREATE_CONTAINER, before the init). The agent compiles it with
 *        libseccomp at once (guest/agent/seccomp.c), so a filter it cannot build is refused
 *        here (INVALID) and not at a process start. SECCOMP_DEFAULT is the action of a system
 *        call no rule names (a PV_SECCOMP_ACT_*; SECCOMP_ERRNO its errno for ERRNO, its
 *        value for TRACE); SECCOMP_ARCH: libseccomp architecture names (x86_64, x86, x32)
 *        the filter also covers beside the native one. Each SECCOMP_RULE record:
 *        SECCOMP_SYSCALL... (names; one the guest's libseccomp does not know is skipped, as
 *        runc does) SECCOMP_ACTION [SECCOMP_ERRNO] [SECCOMP_ARG...] [SECCOMP_MIN_KERNEL]
 *        [SECCOMP_BELOW_KERNEL]: a rule whose MIN_KERNEL ("4.8") is above the guest's kernel,
 *        or whose BELOW_KERNEL is not, is left out (Docker's includes/excludes minKernel); SECCOMP_ARG
 *        (24 bytes: u32 index 0..5, u32 PV_SECCOMP_CMP_*, u64 value, u64 value2) are ANDed,
 *        but several on the same index make one rule each (runc's reading of Docker's
 *        profiles). A rule whose action is the default action is skipped. The filter is
 *        loaded in the process just before exec: after the change of credentials when
 *        no_new_privs is set by then, else before it (loading needs CAP_SYS_ADMIN without
 *        no_new_privs), as runc does. A second SET_SECCOMP replaces the filter; one with
 *        SECCOMP_DEFAULT PV_SECCOMP_ACT_NONE removes it (unconfined). A refused SET_SECCOMP
 *        leaves the container with a filter that kills any process at its next system call
 *        (the host may have sent the init right behind it: nothing runs unfiltered).
 *   PV_OP_DISK_USAGE         CONTAINER_ID                  -> ACK DISK_USED DISK_TOTAL
 *        statfs of a block-mode container's / (the overlay reports its upper filesystem, the
 *        ext4 of the upper disk): DISK_USED (f_blocks - f_bfree) * f_bsize, DISK_TOTAL
 *        f_blocks * f_bsize (docker ps -s). NOT_FOUND: no such container, or it has no upper
 *        disk. Served by agents whose LAST_OP is 53 or more.
 *   PV_OP_ARCHIVE            CONTAINER_ID PROCESS_ID HANDLE WINDOW ARCHIVE_KIND [PATH]
 *                            [ARCHIVE_NAME] [ARCHIVE_FLAGS] [UID GID] [ARCHIVE_ROOT] -> ACK PID
 *        Files of a container whose / is an overlay over an upper disk (docker cp, diff,
 *        export, commit in block mode): starts a process of the agent's own (a fork, no
 *        exec), outside the container's PID namespace and cgroup, whose stdout (or stdin)
 *        carries a tar under the stream channel's credits as any process's output; its end
 *        comes as an EXIT event. Exit status 0 done, 2 no such path, 3 not a directory
 *        (PUT), 4 cannot overwrite (PUT with NO_OVERWRITE_DIR), 1 anything else; stderr then
 *        says why (one line). Paths are resolved in a chroot into a non-recursive clone of
 *        the container's root mount (no volumes or /proc below it), so no symlink leads out.
 *        ARCHIVE_ROOT (STAT, GET, PUT only; INVALID with others, or when it is not an
 *        absolute path free of ".." of at most PV_MAX_PATH bytes): the clone is instead of
 *        the mount at that container path (a volume on the upper disk; resolved in the
 *        container's root, no magic link followed), and PATH is resolved inside it (exit 2
 *        when ARCHIVE_ROOT is missing).
 *        ARCHIVE_KIND:
 *          PV_ARCHIVE_STAT   PATH -> stdout "MODE SIZE MTIME_SEC MTIME_NSEC\nLINK_TARGET"
 *                            (lstat, or stat with FOLLOW; LINK_TARGET: the resolved path of
 *                            a symlink, empty otherwise)
 *          PV_ARCHIVE_GET    PATH ARCHIVE_NAME -> stdout: a tar of PATH named ARCHIVE_NAME
 *                            ("" for its contents only; FOLLOW follows a last symlink)
 *          PV_ARCHIVE_PUT    PATH [UID GID] -> stdin: a tar extracted into directory PATH
 *                            (NO_OVERWRITE_DIR; UID GID: owner of every entry)
 *          PV_ARCHIVE_EXPORT -> stdout: a tar of the whole root
 *          PV_ARCHIVE_LAYER  -> stdout: the upper layer as an image layer tar (a whiteout
 *                            is DIR/.wh.NAME, an opaque directory adds DIR/.wh..wh..opq);
 *                            HEADERS_ONLY: regular files with size 0 and no data (docker diff);
 *                            FREEZE: the container's processes are frozen (cgroup.freeze) from
 *                            before the walk until the process ends (docker commit's pause)
 *        NOT_FOUND: no such container; INVALID: the container has no upper disk (LAYER).
 *   PV_OP_SOCKET_LISTEN      CONTAINER_ID PATH MODE LISTENER [UID GID] -> ACK
 *        A host unix socket bound as a single file (guest/agent/sockets.c): binds a stream
 *        socket of the agent's at PATH in the container (missing parents made 0755; a
 *        non-directory there replaced), mode MODE (0..0777), owner UID:GID (optional: the
 *        host socket's; root without them), and listens.
 *        LISTENER is the host's number for it, unique in the container (CONFLICT otherwise).
 *   PV_OP_SOCKET_ACCEPT      CONTAINER_ID LISTENER PROCESS_ID HANDLE WINDOW -> ACK PID (0) UID
 *                                                          GID GROUP...
 *        Answered when a process of the container connects (one pending per listener,
 *        CONFLICT otherwise; NOT_FOUND when the container is destroyed meanwhile). The
 *        connection is then a process without a pid under HANDLE: the peer's bytes are its
 *        STDOUT (credit WINDOW), the host's STDIN bytes go to the peer, STDERR ends at once;
 *        STDIN EOF shuts the connection's write side; SIGNAL (any) ends both directions at
 *        once; EXIT (code 0) follows once both directions ended. The host connects to the
 *        host socket, as UID GID and the GROUPs (at most PV_MAX_GROUPS; none when the
 *        process had more) of the process that connected (the connection's SO_PEERCRED
 *        and SO_PEERGROUPS); the guest names no host path.
 *   PV_OP_SOCKET_EVENT       -                             -> ACK SOCKET_EVENT SOCKET_TOKEN
 *                                                          SOURCE PATH [UID GID GROUP...]
 *        Kept pending by the host; answered with the guest kernel's next event about a unix
 *        stream socket file in a 9p mount (/dev/podvisor-sockets): SOCKET_EVENT CONNECT (a
 *        process connects to a socket file no guest socket is bound to, and waits for
 *        SOCKET_ANSWER), BOUND (a process bound one there) or WATCH (a process added an
 *        inotify watch on a file there: FILE_EVENT then brings the host's events). SOURCE is the mount's tag, PATH
 *        the file's path from the mount's root; a CONNECT's UID GID GROUP... are the caller's
 *        effective uid and gid and its first PV_MAX_GROUPS supplementary groups (the host
 *        connects as them). NOT_FOUND at once when the kernel has no such
 *        device (Debian's); CONFLICT while another is pending.
 *   PV_OP_SOCKET_ANSWER      SOCKET_TOKEN ERRNO | SOCKET_TOKEN CONTAINER_ID PROCESS_ID HANDLE
 *                            WINDOW                        -> ACK PID (0)
 *        Answers a CONNECT. With ERRNO (non-zero) the process's connect fails with it (ACK at
 *        once). Without, the host has connected on its side: the process is connected to a
 *        socket of the agent's, and that connection becomes a process without a pid, as
 *        SOCKET_ACCEPT's (ACK once connected; NOT_FOUND if the process never connects).
 *   PV_OP_SOCKET_DIAL        CONTAINER_ID PROCESS_ID HANDLE WINDOW SOURCE PATH [UID GID GROUP...]
 *                                                          -> ACK PID (0)
 *        The agent connects to the socket file PATH (from the root of the mounted 9p tag
 *        SOURCE): a guest socket bound there, which the host listens for at its file. The
 *        connection is a process without a pid, as SOCKET_ACCEPT's. With UID GID GROUP... (at
 *        most PV_MAX_GROUPS; the host client's SO_PEERCRED and SO_PEERGROUPS) the connect is
 *        made with them as its effective ids and groups, so the guest's server sees them, and
 *        the file's mode is checked against them (PERMISSION with the errno when they may
 *        not open it); half a pair, an id 2^32-1 or a malformed GROUP is INVALID. NOT_FOUND
 *        with the connect's errno when nothing in the guest listens there.
 *   PV_OP_FILE_EVENT         SOURCE PATH EVENT_MASK [EVENT_COOKIE] [EVENT_NAME] -> ACK
 *        Another writer's event (the host's, another VM's) on a file of the 9p tag SOURCE
 *        that a guest process watches (SOCKET_EVENT WATCH named it): the guest kernel
 *        delivers it to its inotify watches as if it had happened in the guest. PATH is the
 *        watched file's path from the tag's root; EVENT_NAME the entry of that directory the
 *        event is about (absent: the file itself). EVENT_MASK: IN_MODIFY, IN_ATTRIB,
 *        IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE, IN_ISDIR. A file
 *        no longer in the guest's cache (nobody watches it) is skipped; NOT_FOUND when the
 *        tag is not mounted or the kernel has no device.
 *   PV_OP_RELEASE_SHARE      (none)                        -> ACK
 *        Before the VM is saved (a checkpoint, docs/checkpoint.md): the spare container
 *        namespace (whose mounts are a copy of the agent's) is let go and the rootfs share
 *        unmounted, so that the guest holds no 9p fid of it and QEMU lets the VM be saved.
 *        CONFLICT (EBUSY) when something still uses the share; nothing when it is not mounted.
 *        ACTIVATE's MOUNT_SHARE mounts it again (after the save), or in the restored VM the
 *        first create that reads it (ACTIVATE above).
 *   PV_OP_RENAME_CONTAINER   CONTAINER_ID NEW_ID           -> ACK
 *        A VM started from a checkpoint as another container (a fork): the container saved
 *        as CONTAINER_ID is known as NEW_ID from now on, its processes and the containers that
 *        join its PID namespace too (its cgroup keeps its name). NOT_FOUND when there is no
 *        such container, CONFLICT when NEW_ID is taken.
 *   PV_OP_READY_DISK         UPPER_DISK                    -> ACK
 *        The agent's spare container namespace mounts that block device's ext4 (with its
 *        upper/ and work/) ahead of the next CREATE_CONTAINER over it, which then skips those
 *        steps. The host puts a fresh disk's file behind the device first (an idle pool VM).
 *        CONFLICT when the spare holds another disk already.
 *   PV_OP_DROP_READY_DISK    (none)                        -> ACK
 *        The spare holding a ready disk goes, and the answer comes once the device is free:
 *        the host sends it before it puts another file behind the device.
 *   PV_OP_SHUTDOWN           -                             -> ACK, then sync() and
 *        reboot(RB_AUTOBOOT) (QEMU runs with -no-reboot, so the VM process exits). In host
 *        test mode: kill every container and exit 0.
 *
 * REPLIES AND EVENTS (agent -> host on control)
 *   PV_FRAME_ACK        id = request id, payload = the fields listed above.
 *   PV_FRAME_ERROR      id = request id, payload = CODE (a PV_ERR_*), ERRNO (Linux errno, or
 *                       0), MESSAGE. The host maps CODE to its error classes.
 *   PV_FRAME_EXIT       id = 0, payload = HANDLE PROCESS_ID EXIT_CODE [SIGNAL] [OOM_KILLED]
 *                       (OOM_KILLED: a container's init only, when its cgroup saw an OOM
 *                       kill during its life). Sent only
 *                       after that process's STDOUT and STDERR EOF frames were written to the
 *                       stream channel of the current session; the agent then forgets it.
 *
 * STREAM FRAMES (stream channel, id = process handle, aux = stream)
 *   PV_FRAME_DATA    bytes of the stream; length 1..PV_MAX_IO_PAYLOAD (0 is an error).
 *   PV_FRAME_EOF     no payload. agent->host: stdout/stderr ended (the process closed it,
 *                    or it exited and what was readable was delivered). host->agent on
 *                    STDIN: close the process's stdin.
 *   PV_FRAME_CREDIT  payload: u64 limit, the absolute stream offset the receiver accepts
 *                    up to (like TCP's window edge). host->agent for STDOUT/STDERR,
 *                    agent->host for STDIN. Only ever grows; a smaller value is ignored.
 *
 *   Process handle: a u32 (non-zero) the host picks in START_PROCESS, unique in the VM.
 *   Frames for a handle the agent does not know are ignored by the agent (the host may
 *   race with an exit); the host treats them as a protocol error.
 *
 * FLOW CONTROL (credit, per stream, both directions)
 *   stdout/stderr: the agent reads a process's pipe only while sent < limit, so a fast
 *   writer in the guest blocks in write(2) when the host's consumer stops reading. The
 *   initial limit is START_PROCESS's WINDOW; the host raises it (CREDIT) as its consumer
 *   reads, keeping at most one window outstanding per stream.
 *   stdin: the host may send up to the limit; the initial limit is PV_STDIN_WINDOW, and the
 *   agent raises it (CREDIT on STDIN) as the process reads its stdin pipe.
 *
 * SESSIONS AND REATTACH (daemon restart)
 *   Processes keep running while no host is connected; the agent then stops reading their
 *   output (no credit), so writers block. After a new stream-channel SYNC every process is
 *   detached: the agent sends no stream frame for it until the host sends one for it
 *   (normally a CREDIT for STDOUT after PV_OP_LIST_PROCESSES told it the offsets). Processes
 *   started in the current session are attached from the start. Stdout/stderr EOF frames
 *   of an attached process are re-sent in the new session if they were sent before.
 *   Output written to a connection that closes before the host stored it is re-sent on
 *   request (PV_OP_RESUME_OUTPUT, within PV_OUTPUT_KEEP bytes per stream of an init).
 *   Known limit: an EXIT event written to a connection that closes is lost (the agent has
 *   then already forgotten the process).
 * ---------------------------------------------------------------------------------------
 */
#ifndef PODVISOR_AGENT_H
#define PODVISOR_AGENT_H

/* Bumped on any incompatible change; host and agent must be equal. */
#define PV_PROTOCOL_VERSION 1

/* ---- framing ------------------------------------------------------------------------ */
#define PV_HEADER_SIZE 12
#define PV_TLV_HEADER_SIZE 8
#define PV_NONCE_SIZE 16
/* Control payloads carry at most one file (PV_MAX_FILE_SIZE) plus 64 KiB of fields. */
#define PV_MAX_CTL_PAYLOAD 1114112
/* Stream payloads: 64 KiB. */
#define PV_MAX_IO_PAYLOAD 65536

/* ---- limits ------------------------------------------------------------------------- */
#define PV_MAX_FILE_SIZE 1048576
#define PV_MAX_STRING 131072
/* Secondary addresses of one interface (CONFIGURE_INTERFACE). */
#define PV_MAX_SECONDARY 8
#define PV_MAX_ID 128
#define PV_MAX_PATH 4096
#define PV_MAX_ARGS 1024
#define PV_MAX_ENV 1024
#define PV_MAX_GROUPS 64
/* RLIMIT records of one START_PROCESS. */
#define PV_MAX_RLIMITS 16
/* DEVICE_RULE and DEVICE_NODE records of one CREATE_CONTAINER. */
#define PV_MAX_DEVICE_RULES 128
#define PV_MAX_DEVICE_NODES 16
#define PV_MAX_PROCESSES 1024
#define PV_MAX_CONTAINERS 64
/* Initial stdin credit of every process, and the agent's stdin buffer per process. */
#define PV_STDIN_WINDOW 262144
/* Bounds of START_PROCESS's WINDOW (output credit per stream). */
#define PV_MIN_WINDOW 4096
#define PV_MAX_WINDOW 16777216
/* Output the agent keeps per stream of a container's init, to re-send after a daemon restart:
 * twice the default WINDOW, since what a host received but had not stored when it died is at
 * most its window plus its own buffers (a frame, a partial line). */
#define PV_OUTPUT_KEEP 524288
/* PROCESS_TABLE: argument bytes per process, and processes per answer. */
#define PV_MAX_CMDLINE 4096
#define PV_MAX_TOP_PROCESSES 4096

/* ---- frame types and opcodes (append-only) ------------------------------------------ */
/* Both channels. */
#define PV_FRAME_SYNC 1
#define PV_FRAME_SYNC_REPLY 2
/* Control channel, agent -> host. */
#define PV_FRAME_ACK 3
#define PV_FRAME_ERROR 4
#define PV_FRAME_EXIT 5
/* Stream channel, both directions. */
#define PV_FRAME_DATA 6
#define PV_FRAME_EOF 7
#define PV_FRAME_CREDIT 8
/* Control channel, host -> agent requests. */
#define PV_OP_VERSION 16
#define PV_OP_PING 17
#define PV_OP_CREATE_CONTAINER 18
#define PV_OP_DESTROY_CONTAINER 19
#define PV_OP_START_PROCESS 20
#define PV_OP_SIGNAL 21
#define PV_OP_RESIZE 22
#define PV_OP_WRITE_FILE 23
#define PV_OP_READ_FILE 24
#define PV_OP_LIST_PROCESSES 25
#define PV_OP_SHUTDOWN 26
#define PV_OP_UPDATE_RESOURCES 27
#define PV_OP_MEMORY_STATS 28
#define PV_OP_CONFIGURE_INTERFACE 29
#define PV_OP_ADD_ROUTE 30
#define PV_OP_LIST_INTERFACES 31
#define PV_OP_MOUNT 32
#define PV_OP_UNMOUNT 33
#define PV_OP_RESUME_OUTPUT 40
#define PV_OP_CLEAN_POD 41
#define PV_OP_ACTIVATE 42
#define PV_OP_PROCESS_TABLE 43
#define PV_OP_SET_SECCOMP 46
#define PV_OP_DISK_USAGE 53
/* 44-47: reserved for other work in progress. */
#define PV_OP_ARCHIVE 48
/* 54-57: left for other work in progress. */
#define PV_OP_SOCKET_LISTEN 58
#define PV_OP_SOCKET_ACCEPT 59
#define PV_OP_SOCKET_EVENT 60
#define PV_OP_SOCKET_ANSWER 61
#define PV_OP_SOCKET_DIAL 62
#define PV_OP_FILE_EVENT 63
#define PV_OP_RELEASE_SHARE 64
#define PV_OP_RENAME_CONTAINER 65
#define PV_OP_READY_DISK 66
#define PV_OP_DROP_READY_DISK 67

/* ---- streams (the aux field of stream frames) --------------------------------------- */
#define PV_STREAM_STDIN 0
#define PV_STREAM_STDOUT 1
#define PV_STREAM_STDERR 2

/* ---- TLV tags (append-only; the comment's first word is the value type) ------------- */
#define PV_TAG_PROTOCOL 1        /* u32: protocol version */
#define PV_TAG_AGENT 2           /* str: agent build description */
#define PV_TAG_CODE 3            /* u32: error class, PV_ERR_* */
#define PV_TAG_ERRNO 4           /* u32: Linux errno behind an error, or 0 */
#define PV_TAG_MESSAGE 5         /* str: human-readable error */
#define PV_TAG_CONTAINER_ID 6    /* str: container id */
#define PV_TAG_ROOTFS 7          /* str: rootfs, relative to the share mount */
#define PV_TAG_HOSTNAME 8        /* str: container hostname */
#define PV_TAG_PROCESS_ID 9      /* str: host-chosen process id */
#define PV_TAG_HANDLE 10         /* u32: process handle (stream frames' id) */
#define PV_TAG_ARG 11            /* str[]: argv, in order */
#define PV_TAG_ENV 12            /* str[]: KEY=VALUE */
#define PV_TAG_CWD 13            /* str: working directory */
#define PV_TAG_UID 14            /* u32: user id */
#define PV_TAG_GID 15            /* u32: group id */
#define PV_TAG_GROUP 16          /* u32[]: supplementary group ids */
#define PV_TAG_TERMINAL 17       /* u32: 1 = allocate a TTY */
#define PV_TAG_ROWS 18           /* u32: terminal rows (1..65535) */
#define PV_TAG_COLS 19           /* u32: terminal columns (1..65535) */
#define PV_TAG_STDIN 20          /* u32: 1 = stdin open (else /dev/null) */
#define PV_TAG_WINDOW 21         /* u32: initial output credit per stream */
#define PV_TAG_PID 22            /* u32: guest pid (root PID namespace) */
#define PV_TAG_SIGNAL 23         /* u32: signal number */
#define PV_TAG_EXIT_CODE 24      /* u32: exit code (128+signal when killed) */
#define PV_TAG_PATH 25           /* str: absolute path inside a container */
#define PV_TAG_MODE 26           /* u32: file mode bits */
#define PV_TAG_DATA 27           /* bytes: file contents */
#define PV_TAG_MAX_BYTES 28      /* u32: largest file the host accepts */
#define PV_TAG_PROCESS 29        /* tlv[]: one process record of LIST_PROCESSES */
#define PV_TAG_STDIN_RECEIVED 30 /* u64: stdin bytes the agent has received */
#define PV_TAG_STDIN_LIMIT 31    /* u64: current stdin credit limit */
#define PV_TAG_STDOUT_SENT 32    /* u64: stdout bytes sent so far */
#define PV_TAG_STDERR_SENT 33    /* u64: stderr bytes sent so far */
#define PV_TAG_EXITED 34         /* u32: 1 = exited, EXIT event still to come */
#define PV_TAG_MEMORY_MAX 35     /* u64: memory.max of the container's cgroup in bytes, 0 = none */
#define PV_TAG_CPU_QUOTA 36      /* u64: cpu.max quota in microseconds per period, 0 = none */
#define PV_TAG_CPU_PERIOD 37     /* u64: cpu.max period in microseconds (default 100000) */
#define PV_TAG_OOM_KILLED 38     /* u32: 1 = the container's cgroup saw an OOM kill */
#define PV_TAG_MEMORY_USAGE 39   /* u64: memory.current of the container's cgroup */
#define PV_TAG_MEMORY_LIMIT 40   /* u64: memory.max of the container's cgroup, 0 = none */
#define PV_TAG_MEMORY_CACHE 41   /* u64: page cache charged to it (memory.stat file) */
#define PV_TAG_IFNAME 42         /* str: network interface name in the guest */
#define PV_TAG_MAC 43            /* bytes: hardware address, 6 bytes */
#define PV_TAG_ADDRESS 44        /* bytes: IPv4 address, 4 bytes, network order */
#define PV_TAG_PREFIX 45         /* u32: prefix length of ADDRESS or DESTINATION (0..32) */
#define PV_TAG_MTU 46            /* u32: MTU in bytes */
#define PV_TAG_LINK_UP 47        /* u32: 1 = interface up, 0 = down */
#define PV_TAG_GATEWAY 48        /* bytes: IPv4 gateway, 4 bytes, network order */
#define PV_TAG_DESTINATION 49    /* bytes: IPv4 route destination, 4 bytes, network order */
#define PV_TAG_INTERFACE 50      /* tlv[]: one interface record of LIST_INTERFACES */
#define PV_TAG_FSTYPE 51         /* str: file system type of MOUNT */
#define PV_TAG_SOURCE 52         /* str: virtio-fs tag of MOUNT */
#define PV_TAG_SUBPATH 53        /* str: directory inside SOURCE, relative */
#define PV_TAG_MOUNT_FLAGS 54    /* u32: PV_MOUNT_* bits */
#define PV_TAG_FS_OPTIONS 55     /* str: file system options of MOUNT */

/* ---- MOUNT_FLAGS bits ---------------------------------------------------------------- */
#define PV_MOUNT_RDONLY 1
#define PV_MOUNT_NOSUID 2
#define PV_MOUNT_NODEV 4
#define PV_MOUNT_NOEXEC 8
#define PV_TAG_STDOUT_DURABLE 60 /* u64: stdout bytes the host has stored (RESUME_OUTPUT) */
#define PV_TAG_STDERR_DURABLE 61 /* u64: stderr bytes the host has stored (RESUME_OUTPUT) */
#define PV_TAG_STDOUT_FROM 62    /* u64: stdout offset the agent re-sends from */
#define PV_TAG_STDERR_FROM 63    /* u64: stderr offset the agent re-sends from */
#define PV_TAG_SHARE_NS 64       /* u32: 1 = the container joins the pod's PID and UTS namespaces */
#define PV_TAG_PID_PEER 65       /* str: container whose init's PID namespace this container's processes join */
#define PV_TAG_SET_MAC 66        /* bytes: hardware address CONFIGURE_INTERFACE gives the interface, 6 bytes */
#define PV_TAG_TIME_NS 67        /* u64: wall-clock time, nanoseconds since the epoch (ACTIVATE) */
#define PV_TAG_ENTROPY 68        /* bytes: random bytes from the host, 16..512 (ACTIVATE) */
#define PV_TAG_MOUNT_SHARE 69    /* u32: 1 = mount the rootfs share (ACTIVATE) */
#define PV_TAG_SECONDARY 70      /* tlv[]: one more IPv4 address of an interface: ADDRESS PREFIX */
#define PV_TAG_TASK 71           /* tlv[]: one process of PROCESS_TABLE */
#define PV_TAG_PPID 72           /* u32: parent pid (root PID namespace) */
#define PV_TAG_STATE 73          /* str: the state letter of /proc/<pid>/stat (R S D Z T t X I ...) */
#define PV_TAG_START_TICKS 74    /* u64: start time, clock ticks after boot */
#define PV_TAG_UTIME 75          /* u64: user CPU time, clock ticks */
#define PV_TAG_STIME 76          /* u64: system CPU time, clock ticks */
#define PV_TAG_VSZ 77            /* u64: virtual memory size, KiB */
#define PV_TAG_RSS 78            /* u64: resident set size, KiB */
#define PV_TAG_TTY 79            /* u32: controlling terminal as /proc/<pid>/stat's tty_nr, 0 = none */
#define PV_TAG_COMM 80           /* bytes: command name (at most 15 bytes; any bytes but NUL) */
#define PV_TAG_CMDLINE 81        /* bytes: the NUL-terminated arguments, at most PV_MAX_CMDLINE */
#define PV_TAG_THREADS 82        /* u32: number of threads */
#define PV_TAG_NICE 83           /* u32: nice value plus 20 (0..39) */
#define PV_TAG_PGID 84           /* u32: process group */
#define PV_TAG_SID 85            /* u32: session */
#define PV_TAG_TPGID 86          /* u32: foreground process group of its terminal, 0 = none */
#define PV_TAG_CLOCK_TICKS 87    /* u32: clock ticks per second (CLK_TCK) */
#define PV_TAG_UPTIME 88         /* u64: milliseconds since boot (CLOCK_BOOTTIME) when the table was read */
#define PV_TAG_MEM_TOTAL 89      /* u64: the VM's memory, KiB (MemTotal) */
#define PV_TAG_TRUNCATED 90      /* u32: 1 = the container has more processes than one answer holds */
#define PV_TAG_LAST_OP 91        /* u32: the highest opcode the agent serves (VERSION's answer) */
#define PV_TAG_ADDRESS6 92       /* bytes: IPv6 address, 16 bytes, network order */
#define PV_TAG_PREFIX6 93        /* u32: prefix length of ADDRESS6 (0..128) */
#define PV_TAG_DESTINATION6 94   /* bytes: IPv6 route destination, 16 bytes, network order */
#define PV_TAG_GATEWAY6 95       /* bytes: IPv6 gateway, 16 bytes, network order */
#define PV_TAG_UPPER_DISK 96     /* str: guest block device of the container's writable layer (CREATE_CONTAINER) */
/* Security settings (security.c). START_PROCESS: the process's capability sets, each a mask of
 * capability numbers (bit n = capability n); with CAP_BOUNDING absent the process keeps every
 * capability (the other four are then ignored). CREATE_CONTAINER: applied by its first init. */
#define PV_TAG_CAP_BOUNDING 100    /* u64: bounding set (START_PROCESS) */
#define PV_TAG_CAP_EFFECTIVE 101   /* u64: effective set (START_PROCESS) */
#define PV_TAG_CAP_PERMITTED 102   /* u64: permitted set (START_PROCESS) */
#define PV_TAG_CAP_INHERITABLE 103 /* u64: inheritable set (START_PROCESS) */
#define PV_TAG_CAP_AMBIENT 104     /* u64: ambient set, raised as far as the kernel lets (START_PROCESS) */
#define PV_TAG_NO_NEW_PRIVS 105    /* u32: 1 = prctl(PR_SET_NO_NEW_PRIVS) before exec (START_PROCESS) */
#define PV_TAG_SYSCTL 106          /* str[]: KEY=VALUE written to /proc/sys before the init runs (CREATE_CONTAINER) */
#define PV_TAG_MASKED_PATH 107     /* str[]: absolute path hidden in the container (CREATE_CONTAINER) */
#define PV_TAG_READONLY_PATH 108   /* str[]: absolute path made read-only in the container (CREATE_CONTAINER) */
#define PV_TAG_READONLY_ROOTFS 109 /* u32: 1 = the container's / read-only (CREATE_CONTAINER) */
#define PV_TAG_WRITABLE_SYSFS 110  /* u32: 1 = /sys and /sys/fs/cgroup writable (privileged; CREATE_CONTAINER) */
#define PV_TAG_SECCOMP_DEFAULT 120    /* u32: PV_SECCOMP_ACT_* of a call no rule names (SET_SECCOMP) */
#define PV_TAG_SECCOMP_ERRNO 121      /* u32: errno of an ERRNO action (TRACE: its value); absent: EPERM */
#define PV_TAG_SECCOMP_ARCH 122       /* str[]: libseccomp architecture names the filter covers */
#define PV_TAG_SECCOMP_RULE 123       /* tlv[]: one rule: SECCOMP_SYSCALL... SECCOMP_ACTION ... */
#define PV_TAG_SECCOMP_SYSCALL 124    /* str[]: system call names of a rule */
#define PV_TAG_SECCOMP_ACTION 125     /* u32: PV_SECCOMP_ACT_* of a rule */
#define PV_TAG_SECCOMP_ARG 126        /* bytes[]: argument test, 24 bytes: u32 index, u32 op, u64 value, u64 value2 */
#define PV_TAG_SECCOMP_MIN_KERNEL 127 /* str: lowest guest kernel (major.minor) a rule applies on */
#define PV_TAG_SECCOMP_BELOW_KERNEL 128 /* str: a rule applies only on a guest kernel older than this (major.minor) */

/* ---- seccomp actions (SECCOMP_DEFAULT, SECCOMP_ACTION) and argument tests (SECCOMP_ARG) -- */
#define PV_SECCOMP_ACT_NONE 0 /* SECCOMP_DEFAULT only: no filter */
#define PV_SECCOMP_ACT_ALLOW 1
#define PV_SECCOMP_ACT_ERRNO 2
#define PV_SECCOMP_ACT_KILL_THREAD 3
#define PV_SECCOMP_ACT_KILL_PROCESS 4
#define PV_SECCOMP_ACT_TRAP 5
#define PV_SECCOMP_ACT_TRACE 6
#define PV_SECCOMP_ACT_LOG 7
#define PV_SECCOMP_CMP_NE 1
#define PV_SECCOMP_CMP_LT 2
#define PV_SECCOMP_CMP_LE 3
#define PV_SECCOMP_CMP_EQ 4
#define PV_SECCOMP_CMP_GE 5
#define PV_SECCOMP_CMP_GT 6
#define PV_SECCOMP_CMP_MASKED_EQ 7
/* Rules of one filter, and system call names of one rule. */
#define PV_MAX_SECCOMP_RULES 1024
#define PV_MAX_SECCOMP_SYSCALLS 1024
#define PV_TAG_DISK_USED 160     /* u64: bytes in use on a container's upper disk (DISK_USAGE) */
#define PV_TAG_LISTENER 170      /* u32: a bound socket's number, the host's, unique per container (SOCKET_*) */
#define PV_TAG_SOCKET_EVENT 171  /* u32: PV_SOCKET_EVENT_* (SOCKET_EVENT) */
#define PV_TAG_SOCKET_TOKEN 172  /* u32: the kernel's id of a CONNECT (SOCKET_EVENT, SOCKET_ANSWER) */
#define PV_TAG_EVENT_MASK 173    /* u32: inotify IN_* bits of a file event (FILE_EVENT) */
#define PV_TAG_EVENT_COOKIE 174  /* u32: a rename's cookie, 0 for others (FILE_EVENT) */
#define PV_TAG_CPU_WEIGHT 176    /* u64: cpu.weight of the container's cgroup (1..10000; CREATE_CONTAINER, UPDATE_RESOURCES) */
#define PV_TAG_MEMORY_LOW 177    /* u64: memory.low of the container's cgroup in bytes, 0 = none (CREATE_CONTAINER, UPDATE_RESOURCES) */
#define PV_TAG_CPUSET_CPUS 178   /* str: cpuset.cpus of the container's cgroup, e.g. "0-1,3"; "" = all (CREATE_CONTAINER, UPDATE_RESOURCES) */
#define PV_TAG_CPUSET_MEMS 179   /* str: cpuset.mems of the container's cgroup; "" = all (CREATE_CONTAINER, UPDATE_RESOURCES) */
#define PV_TAG_PIDS_MAX 182     /* u64: pids.max of the container's cgroup, 0 = none (CREATE_CONTAINER, UPDATE_RESOURCES) */
#define PV_TAG_OOM_SCORE_ADJ 183 /* u32: the process's oom_score_adj, -1000..1000 as a two's complement int32 (START_PROCESS) */
#define PV_TAG_SHM_PEER 184     /* str: container whose /dev/shm this one mounts over its own (CREATE_CONTAINER) */
#define PV_TAG_NEW_ID 180        /* str: the id a container is known by from now on (RENAME_CONTAINER) */
#define PV_TAG_EVENT_NAME 175    /* str: the entry of a watched directory an event is about; absent: the watched file itself (FILE_EVENT) */
#define PV_TAG_DISK_TOTAL 161    /* u64: bytes of a container's upper disk's filesystem (DISK_USAGE) */
#define PV_TAG_ARCHIVE_KIND 140  /* u32: what ARCHIVE does, PV_ARCHIVE_* */
#define PV_TAG_ARCHIVE_NAME 141  /* str: the name of the top entry of ARCHIVE's GET tar ("" = contents only) */
#define PV_TAG_ARCHIVE_FLAGS 142 /* u32: PV_ARCHIVE_F_* bits */
#define PV_TAG_ARCHIVE_ROOT 143  /* str: container path of the mount STAT, GET, PUT chroot into (a volume's; absent: the root's) */
#define PV_TAG_RLIMIT 162          /* tlv[]: a resource limit of the process: RLIMIT_RESOURCE RLIMIT_SOFT RLIMIT_HARD (START_PROCESS) */
#define PV_TAG_RLIMIT_RESOURCE 163 /* u32: RLIMIT_* number (RLIMIT record) */
#define PV_TAG_RLIMIT_SOFT 164     /* u64: soft limit, all ones = unlimited (RLIMIT record) */
#define PV_TAG_RLIMIT_HARD 165     /* u64: hard limit, all ones = unlimited (RLIMIT record) */
#define PV_TAG_DOCKER_INIT 166     /* u32: 1 = bind the agent at PV_DOCKER_INIT_PATH as the container's init (CREATE_CONTAINER) */
#define PV_TAG_POD_PAUSE 181       /* u32: 1 = no rootfs, the agent bound at PV_POD_PAUSE_PATH as the pod's pause (CREATE_CONTAINER) */
#define PV_TAG_DEVICE_FILTER 190   /* u32: 1 = a device program on the container's cgroup allows only the DEVICE_RULEs (CREATE_CONTAINER) */
#define PV_TAG_DEVICE_RULE 191     /* tlv[]: an allowed access: DEVICE_TYPE DEVICE_ACCESS, optional DEVICE_MAJOR DEVICE_MINOR (CREATE_CONTAINER) */
#define PV_TAG_DEVICE_NODE 192     /* tlv[]: a node made in the container's /dev: PATH DEVICE_TYPE DEVICE_MAJOR DEVICE_MINOR MODE (CREATE_CONTAINER) */
#define PV_TAG_DEVICE_TYPE 193     /* u32: 'c' (char), 'b' (block), 'a' (either; a rule only) */
#define PV_TAG_DEVICE_MAJOR 194    /* u32: major number; absent in a rule: any */
#define PV_TAG_DEVICE_MINOR 195    /* u32: minor number; absent in a rule: any */
#define PV_TAG_DEVICE_ACCESS 196   /* u32: bits 1 mknod, 2 read, 4 write (the kernel's BPF_DEVCG_ACC_*) */
#define PV_TAG_IMAGE_DISK 197      /* str: serial of the read-only block device of the container's image (CREATE_CONTAINER) */

/* ---- ARCHIVE kinds and flags ------------------------------------------------------------ */
#define PV_ARCHIVE_STAT 1
#define PV_ARCHIVE_GET 2
#define PV_ARCHIVE_PUT 3
#define PV_ARCHIVE_EXPORT 4
#define PV_ARCHIVE_LAYER 5
#define PV_ARCHIVE_F_FOLLOW 1           /* STAT, GET: follow a symlink at the end of PATH */
#define PV_ARCHIVE_F_NO_OVERWRITE_DIR 2 /* PUT: never replace a directory by a non-directory or back */
#define PV_ARCHIVE_F_HEADERS_ONLY 4     /* LAYER: no file data */
#define PV_ARCHIVE_F_CHOWN 8            /* PUT: UID GID own every entry */
#define PV_ARCHIVE_F_FREEZE 16          /* LAYER: the container's cgroup is frozen while it runs (commit's pause) */

/* ---- SOCKET_EVENT kinds ------------------------------------------------------------ */
#define PV_SOCKET_EVENT_CONNECT 1
#define PV_SOCKET_EVENT_BOUND 2
#define PV_SOCKET_EVENT_WATCH 3

/* ---- error classes (PV_TAG_CODE of an ERROR frame) ---------------------------------- */
#define PV_ERR_INVALID 1     /* bad request: host maps to InvalidArgumentError */
#define PV_ERR_NOT_FOUND 2   /* no such container, process, file, command: NotFoundError */
#define PV_ERR_CONFLICT 3    /* id already in use, container busy: ConflictError */
#define PV_ERR_UNAVAILABLE 4 /* the guest failed (mount, fork...): UnavailableError */
#define PV_ERR_TOO_LARGE 5   /* file or request over a limit: InvalidArgumentError */
#define PV_ERR_PERMISSION 6  /* EACCES/EPERM inside the guest: InvalidArgumentError */

/* ---- names (strings; the contract test checks these too) --------------------------- */
#define PV_PORT_CTL_NAME "org.podvisor.ctl"
#define PV_PORT_IO_NAME "org.podvisor.io"
#define PV_PORT_LOCKS_NAME "org.podvisor.locks" /* 9p locks taken on the host (guest/agent/locks.c) */
/* The agent's status to the host, which reads its host end as a file: one line, a channel's
 * name ("control", "stream"), each time the agent has seen its host leave that channel and
 * dropped what it held (guest/agent/channel.c; src/vm/qemu/agent-status.ts). */
#define PV_PORT_STATUS_NAME "org.podvisor.status"
#define PV_SHARE_TAG "podvisor"
#define PV_SHARE_MOUNT "/run/podvisor/share"
#define PV_LAYERS_TAG "podvisor-layers" /* read-only 9p export of the share (block mode) */
#define PV_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Where DOCKER_INIT binds the agent in a container, and the name it runs as an init under. */
#define PV_DOCKER_INIT_PATH "/sbin/docker-init"
/* Where POD_PAUSE binds the agent in its container, and the name it runs as the pod's pause under. */
#define PV_POD_PAUSE_PATH "/pause"

#endif /* PODVISOR_AGENT_H */
