/*
 * mounts.c - extra mounts inside a container (MOUNT, UNMOUNT): a tmpfs, a directory or a
 * single file of a virtio-fs share other than the rootfs share (the VM's volume share), or a
 * pod's empty directory (`emptydir`: a directory of the VM's memory shared by the pod's
 * containers), or a directory `volumes/NAME` of the container's own upper disk (`diskdir`: a
 * volume that lives beside the container's layer, so it is saved and copied with it).
 *
 * The mount is built detached in the agent (fsopen/fsmount for a tmpfs; open_tree of a
 * directory of the tag, mounted once per tag under the agent's own volumes directory), its
 * flags set with mount_setattr, and then a short-lived child that joined the container's
 * mount namespace (its root is then the container's /) creates the mount point and attaches
 * the mount there with move_mount. The mount point is resolved with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS) as WRITE_FILE's paths are, so a symlink in the image cannot aim the
 * mount outside the container.
 *
 * A container of `--ipc container:X` in X's VM takes X's /dev/shm (SHM_PEER): a child joins
 * X's namespace, clones the mount there (open_tree refuses a mount of another namespace),
 * joins the new container's and moves the clone over its own /dev/shm.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

#define MAX_TAG 36 /* virtio-fs tags are at most 36 bytes */
#define MAX_TAGS 8

static char mounted_tags[MAX_TAGS][MAX_TAG + 1];

/* 1..max bytes of [A-Za-z0-9_.-], not "." or "..". */
static int valid_name(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n < 1 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
          *p == '-'))
      return 0;
  return 1;
}

static int valid_tag(const char *s) { return strcmp(s, PV_SHARE_TAG) != 0 && valid_name(s, MAX_TAG); }

#define DISKDIR_PREFIX "volumes/"
#define MAX_DISKDIR_NAME 64

/* `volumes/NAME`, NAME one plain name. */
static int valid_diskdir(const char *s) {
  return strncmp(s, DISKDIR_PREFIX, strlen(DISKDIR_PREFIX)) == 0 && valid_name(s + strlen(DISKDIR_PREFIX), MAX_DISKDIR_NAME);
}

/* Relative, no "..", no empty component; "" means the tag's root. */
static int valid_subpath(const char *s) {
  if (!s[0]) return 1;
  if (s[0] == '/' || strlen(s) > PV_MAX_PATH) return 0;
  char tmp[PV_MAX_PATH + 2];
  snprintf(tmp, sizeof tmp, "/%s", s);
  return valid_container_path(tmp) && !strstr(s, "//");
}

/* key=value[,key=value...] with the keys and value shapes a tmpfs needs, nothing else. */
static int valid_tmpfs_options(const char *opts) {
  if (strlen(opts) > 256) return 0;
  char tmp[260];
  snprintf(tmp, sizeof tmp, "%s", opts);
  char *save = NULL;
  for (char *kv = strtok_r(tmp, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
    char *v = strchr(kv, '=');
    if (!v || !v[1]) return 0;
    *v++ = 0;
    size_t digits = strspn(v, "0123456789");
    if (digits == 0 || digits > 20) return 0;
    const char *rest = v + digits;
    if (strcmp(kv, "size") == 0) {
      if (rest[0] && (rest[1] || !strchr("kmgKMG%", rest[0]))) return 0;
    } else if (strcmp(kv, "nr_inodes") == 0) {
      if (rest[0] && (rest[1] || !strchr("kmgKMG", rest[0]))) return 0;
    } else if (strcmp(kv, "mode") == 0) {
      if (rest[0] || strspn(v, "01234567") != digits || digits > 4) return 0;
    } else if (strcmp(kv, "uid") == 0 || strcmp(kv, "gid") == 0) {
      if (rest[0] || digits > 10) return 0;
    } else {
      return 0;
    }
  }
  return 1;
}

static const char *volumes_dir(void) {
  static char dir[PV_MAX_PATH];
  if (!dir[0]) snprintf(dir, sizeof dir, "%s", g_pid1 ? "/run/podvisor/volumes" : "");
  if (!dir[0]) snprintf(dir, sizeof dir, "%s.volumes", g_stage_dir);
  return dir;
}

int volume_tag_dir(const char *tag, char *out, size_t n) {
  for (int i = 0; i < MAX_TAGS; i++)
    if (mounted_tags[i][0] && strcmp(mounted_tags[i], tag) == 0) {
      int w = snprintf(out, n, "%s/%s", volumes_dir(), tag);
      return w < 0 || (size_t)w >= n ? -1 : 0;
    }
  return -1;
}

/* An O_PATH fd of the tag's root, mounting the tag first when this is its first use. */
static int tag_root(const char *tag, struct agent_error *e) {
  char path[PV_MAX_PATH + MAX_TAG + 2];
  snprintf(path, sizeof path, "%s/%s", volumes_dir(), tag);
  int slot = -1;
  for (int i = 0; i < MAX_TAGS; i++)
    if (strcmp(mounted_tags[i], tag) == 0) return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    else if (slot < 0 && !mounted_tags[i][0]) slot = i;
  if (slot < 0) {
    set_error(e, PV_ERR_TOO_LARGE, ENOSPC, "more than %d virtio-fs tags", MAX_TAGS);
    return -1;
  }
  mkdir(volumes_dir(), 0700);
  mkdir(path, 0700);
  if (share_mount(tag, path, MS_NODEV | MS_NOSUID) < 0) {
    int err = errno;
    rmdir(path);
    set_error(e, err == ENOENT || err == ENODEV || err == EINVAL ? PV_ERR_NOT_FOUND : code_for_errno(err), err,
              "virtio-fs tag %s: %s", tag, strerror(err));
    return -1;
  }
  snprintf(mounted_tags[slot], sizeof mounted_tags[slot], "%s", tag);
  return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/*
 * An O_PATH fd of the pod's empty directory `name` (made on first use): a directory of the
 * agent's own file system (the VM's memory), so it lives as long as the VM that runs the pod,
 * and every container that mounts the same name shares it. World-writable, as Kubernetes
 * makes an emptyDir, so containers of different users can share it.
 */
static int emptydir_root(const char *name, struct agent_error *e) {
  char path[PV_MAX_PATH + MAX_TAG + 2];
  mkdir(PV_EMPTYDIR_DIR, 0700);
  snprintf(path, sizeof path, "%s/%s", PV_EMPTYDIR_DIR, name);
  if (mkdir(path, 0777) == 0) chmod(path, 0777);
  else if (errno != EEXIST) {
    set_error(e, code_for_errno(errno), errno, "emptydir %s: %s", name, strerror(errno));
    return -1;
  }
  return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* An fd of directory `name` (one component) of directory `at`, made with `mode` (root's, as the
 * agent is) when missing; an existing one is kept as it is. -1 with errno; ELOOP or ENOTDIR when
 * a symlink or something other than a directory is there (never followed). */
static int dir_beneath(int at, const char *name, mode_t mode) {
  struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  int made = mkdirat(at, name, mode) == 0;
  if (!made && errno != EEXIST) return -1;
  int fd = (int)syscall(SYS_openat2, at, name, &how, sizeof how);
  if (fd >= 0 && made && fchmod(fd, mode) < 0) { /* the umask left out of the mode */
    close(fd);
    return -1;
  }
  return fd;
}

/*
 * A detached clone of directory `subpath` (volumes/NAME) of c's upper disk, it and volumes/
 * made when missing (volumes/ 0700, NAME 0755: dockerd's mode for a new volume's directory).
 * open_tree clones only a mount of the caller's namespace, and the disk's one mount is the
 * container's (left with its stage): the device is mounted once more here (the same
 * filesystem; the root checked to be c->upper_fd's), cloned from and unmounted at once. The
 * clone lives in the container's namespace and goes with it.
 */
static int diskdir_clone(const struct container *c, const char *subpath, struct agent_error *e) {
  char dev[32], at[PV_MAX_PATH + 16];
  snprintf(dev, sizeof dev, "/dev/%s", c->disk);
  snprintf(at, sizeof at, "%s", g_pid1 ? "/run/podvisor/diskdir" : "");
  if (!at[0]) snprintf(at, sizeof at, "%s.diskdir", g_stage_dir);
  mkdir(at, 0700);
  if (mount(dev, at, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "mount the upper disk %s: %s", c->disk, strerror(errno));
    return -1;
  }
  struct stat disk, root;
  int top = open(at, O_PATH | O_DIRECTORY | O_CLOEXEC), vols = -1, dir = -1, mnt = -1;
  if (top < 0 || fstat(top, &root) < 0 || fstat(c->upper_fd, &disk) < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "open the upper disk %s: %s", c->disk, strerror(errno));
  } else if (root.st_dev != disk.st_dev || root.st_ino != disk.st_ino) {
    set_error(e, PV_ERR_UNAVAILABLE, EXDEV, "%s holds another filesystem than the container's upper disk", dev);
  } else if ((vols = dir_beneath(top, "volumes", 0700)) < 0 ||
             (dir = dir_beneath(vols, subpath + strlen(DISKDIR_PREFIX), 0755)) < 0) {
    int err = errno;
    set_error(e, err == ELOOP || err == ENOTDIR ? PV_ERR_INVALID : code_for_errno(err), err,
              "%s on the upper disk: %s", vols < 0 ? "volumes" : subpath,
              err == ELOOP || err == ENOTDIR ? "not a directory (a symlink is not followed)" : strerror(err));
  } else if ((mnt = (int)syscall(SYS_open_tree, dir, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)) < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "open_tree: %s", strerror(errno));
  }
  if (dir >= 0) close(dir);
  if (vols >= 0) close(vols);
  if (top >= 0) close(top);
  umount2(at, MNT_DETACH);
  return mnt;
}

static uint64_t attrs_of(uint32_t flags) {
  return ((flags & PV_MOUNT_RDONLY) ? MOUNT_ATTR_RDONLY : 0) | ((flags & PV_MOUNT_NOSUID) ? MOUNT_ATTR_NOSUID : 0) |
         ((flags & PV_MOUNT_NODEV) ? MOUNT_ATTR_NODEV : 0) | ((flags & PV_MOUNT_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0);
}

/* A clone of a directory: `diskdir`'s, or a virtio-fs tag's or an emptydir's (subpath in it); -1
 * with *e set. */
static int directory_clone(const struct container *c, const struct mount_spec *m, struct agent_error *e) {
  if (strcmp(m->fstype, "diskdir") == 0) return diskdir_clone(c, m->subpath, e);
  int root = strcmp(m->fstype, "emptydir") == 0 ? emptydir_root(m->source, e) : tag_root(m->source, e);
  if (root < 0) {
    if (!e->msg[0]) set_error(e, PV_ERR_UNAVAILABLE, errno, "open volume root: %s", strerror(errno));
    return -1;
  }
  int dir = root;
  if (m->subpath[0]) {
    /* A directory, or a single file (a file bind mount); never a symlink. */
    struct open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    dir = (int)syscall(SYS_openat2, root, m->subpath, &how, sizeof how);
    if (dir < 0) {
      set_error(e, code_for_errno(errno), errno, "%s in tag %s: %s", m->subpath, m->source, strerror(errno));
      close(root);
      return -1;
    }
    close(root);
  }
  int mnt = (int)syscall(SYS_open_tree, dir, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
  int err = errno;
  close(dir);
  if (mnt < 0) set_error(e, PV_ERR_UNAVAILABLE, err, "open_tree: %s", strerror(err));
  return mnt;
}

/* The detached mount, or -1 with *e set. */
static int detached_mount(const struct container *c, const struct mount_spec *m, struct agent_error *e) {
  if (strcmp(m->fstype, "tmpfs") == 0) {
    int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0) {
      set_error(e, PV_ERR_UNAVAILABLE, errno, "fsopen tmpfs: %s", strerror(errno));
      return -1;
    }
    char tmp[260];
    snprintf(tmp, sizeof tmp, "%s", m->options);
    char *save = NULL;
    /* The source runc gives a tmpfs mount (`tmpfs`, what df and /proc/mounts show), not `none`. */
    int bad = syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", "tmpfs", 0) < 0;
    for (char *kv = strtok_r(tmp, ",", &save); kv && !bad; kv = strtok_r(NULL, ",", &save)) {
      char *v = strchr(kv, '=');
      *v++ = 0;
      bad = syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, kv, v, 0) < 0;
    }
    if (bad || syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
      set_error(e, PV_ERR_INVALID, errno, "tmpfs options %s: %s", m->options, strerror(errno));
      close(fs);
      return -1;
    }
    int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, (unsigned)attrs_of(m->flags));
    int err = errno;
    close(fs);
    if (mnt < 0) set_error(e, PV_ERR_UNAVAILABLE, err, "fsmount: %s", strerror(err));
    return mnt;
  }
  int mnt = directory_clone(c, m, e);
  if (mnt < 0) return -1;
  struct mount_attr attr = {.attr_set = attrs_of(m->flags)};
  if (attr.attr_set && syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "mount_setattr: %s", strerror(errno));
    close(mnt);
    return -1;
  }
  return mnt;
}

static int mkdir_p_in(int root, const char *path) {
  char tmp[PV_MAX_PATH + 1];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1;; p++) {
    char c = *p;
    if (c != '/' && c != 0) continue;
    *p = 0;
    int fd = open_in_root(root, tmp, O_PATH | O_DIRECTORY, 0);
    if (fd < 0 && errno == ENOENT) {
      char *slash = strrchr(tmp, '/');
      *slash = 0;
      int parent = open_in_root(root, tmp[0] ? tmp : "/", O_PATH | O_DIRECTORY, 0);
      *slash = '/';
      if (parent < 0) return -1;
      int rc = mkdirat(parent, slash + 1, 0755);
      close(parent);
      if (rc < 0 && errno != EEXIST) return -1;
    } else if (fd < 0) {
      return -1;
    } else {
      close(fd);
    }
    if (c == 0) return 0;
    *p = c;
  }
}

/* The mount point of a single file: its parents made as directories, the file made (empty,
 * 0644) when missing; an O_PATH fd of it. */
static int file_mount_point(int root, const char *path) {
  char parent[PV_MAX_PATH + 1];
  snprintf(parent, sizeof parent, "%s", path);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) {
    *slash = 0;
    if (mkdir_p_in(root, parent) < 0) return -1;
  }
  int t = open_in_root(root, path, O_PATH, 0);
  if (t < 0 && errno == ENOENT) {
    int f = open_in_root(root, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
    if (f < 0 && errno != EEXIST) return -1;
    if (f >= 0) close(f);
    t = open_in_root(root, path, O_PATH, 0);
  }
  return t;
}

/* Runs in a child: join the container's mount namespace and do one step; exit status is an errno.
 * `is_dir`: the mount is a directory (else a single file, mounted on a file). */
static int in_container(const struct container *c, const char *path, int mnt_fd, int is_dir) {
  pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    if (setns(c->mnt_fd, CLONE_NEWNS) < 0) _exit(errno);
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) _exit(errno);
    if (mnt_fd < 0) /* the root is the container's: "..", and absolute symlinks, stay inside it */
      _exit(umount2(path, UMOUNT_NOFOLLOW | MNT_DETACH) < 0 ? (errno == EINVAL ? ENOENT : errno) : 0);
    if (is_dir && mkdir_p_in(root, path) < 0) _exit(errno);
    int t = is_dir ? open_in_root(root, path, O_PATH | O_DIRECTORY, 0) : file_mount_point(root, path);
    if (t < 0) _exit(errno);
    _exit(syscall(SYS_move_mount, mnt_fd, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0 ? errno : 0);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return errno;
  return WIFEXITED(st) ? WEXITSTATUS(st) : EIO;
}

int mount_in_container(struct container *c, const struct mount_spec *m, struct agent_error *e) {
  e->msg[0] = 0;
  if (!valid_container_path(m->path)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "mount path must be absolute without ..");
    return -1;
  }
  if (m->flags & ~(uint32_t)(PV_MOUNT_RDONLY | PV_MOUNT_NOSUID | PV_MOUNT_NODEV | PV_MOUNT_NOEXEC)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "unknown mount flags");
    return -1;
  }
  if (strcmp(m->fstype, "tmpfs") == 0) {
    if (m->source[0] || m->subpath[0] || !valid_tmpfs_options(m->options)) {
      set_error(e, PV_ERR_INVALID, EINVAL, "tmpfs takes no source and only size, nr_inodes, mode, uid, gid options");
      return -1;
    }
  } else if (strcmp(m->fstype, "virtiofs") == 0) {
    if (!valid_tag(m->source) || !valid_subpath(m->subpath) || m->options[0]) {
      set_error(e, PV_ERR_INVALID, EINVAL, "virtiofs needs a volume tag, a relative subpath and no options");
      return -1;
    }
  } else if (strcmp(m->fstype, "emptydir") == 0) {
    if (!valid_tag(m->source) || m->subpath[0] || m->options[0]) {
      set_error(e, PV_ERR_INVALID, EINVAL, "emptydir needs a name and no subpath or options");
      return -1;
    }
  } else if (strcmp(m->fstype, "diskdir") == 0) {
    if (m->source[0] || m->options[0] || !valid_diskdir(m->subpath)) {
      set_error(e, PV_ERR_INVALID, EINVAL, "diskdir needs a subpath volumes/NAME and no source or options");
      return -1;
    }
    if (c->upper_fd < 0) {
      set_error(e, PV_ERR_INVALID, EINVAL, "diskdir: container %s has no upper disk", c->id);
      return -1;
    }
  } else {
    set_error(e, PV_ERR_INVALID, EINVAL, "unsupported file system type");
    return -1;
  }
  int mnt = detached_mount(c, m, e);
  if (mnt < 0) return -1;
  struct stat st;
  int err = fstat(mnt, &st) < 0 ? errno : in_container(c, m->path, mnt, S_ISDIR(st.st_mode));
  close(mnt);
  if (err) {
    set_error(e, code_for_errno(err), err, "mount on %s: %s", m->path, strerror(err));
    return -1;
  }
  return 0;
}

int unmount_in_container(struct container *c, const char *path, struct agent_error *e) {
  if (!valid_container_path(path)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "mount path must be absolute without ..");
    return -1;
  }
  int err = in_container(c, path, -1, 1);
  if (err) {
    set_error(e, code_for_errno(err), err, "unmount %s: %s", path, strerror(err));
    return -1;
  }
  return 0;
}

/* nftw callback: remove one entry below the emptydir root (depth first, the root kept). */
static int clear_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  if (ftw->level == 0) return 0;
  int r = flag == FTW_DP ? rmdir(path) : unlink(path);
  return r < 0 && errno != ENOENT ? errno : 0;
}

int emptydirs_clear(struct agent_error *e) {
  /* FTW_PHYS: symlinks are removed, not followed; FTW_MOUNT: nothing of another file system
   * is walked (none is mounted there: containers mount emptydirs in their own namespaces). */
  int r = nftw(PV_EMPTYDIR_DIR, clear_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  if (r < 0 && errno == ENOENT) return 0;
  if (r != 0) {
    int err = r > 0 ? r : errno;
    set_error(e, code_for_errno(err), err, "clearing %s: %s", PV_EMPTYDIR_DIR, strerror(err));
    return -1;
  }
  return 0;
}

int mount_peer_shm(struct container *c, const struct container *peer, struct agent_error *e) {
  pid_t pid = fork();
  if (pid < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "fork: %s", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    if (setns(peer->mnt_fd, CLONE_NEWNS) < 0) _exit(errno);
    int t = (int)syscall(SYS_open_tree, AT_FDCWD, "/dev/shm", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (t < 0) _exit(errno);
    if (setns(c->mnt_fd, CLONE_NEWNS) < 0) _exit(errno);
    _exit(syscall(SYS_move_mount, t, "", AT_FDCWD, "/dev/shm", MOVE_MOUNT_F_EMPTY_PATH) < 0 ? errno : 0);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) {
      set_error(e, PV_ERR_UNAVAILABLE, errno, "wait: %s", strerror(errno));
      return -1;
    }
  int err = WIFEXITED(st) ? WEXITSTATUS(st) : EIO;
  if (err) {
    set_error(e, PV_ERR_UNAVAILABLE, err, "share /dev/shm of container %s: %s", peer->id, strerror(err));
    return -1;
  }
  return 0;
}
