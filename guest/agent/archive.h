/*
 * archive.h - ARCHIVE's processes (archive.c) and their tar writer and reader (tar.c).
 */
#ifndef PV_ARCHIVE_H
#define PV_ARCHIVE_H

#include <stdint.h>
#include <sys/types.h>

#include "agent.h"

/* Longest entry name or link target taken or written (PATH_MAX). */
#define PV_TAR_NAME_MAX 4096
/* Longest PAX or GNU long-name body the reader takes. */
#define PV_TAR_EXT_MAX (64 * 1024)

struct tar_entry {
  char name[PV_TAR_NAME_MAX + 1];
  char link[PV_TAR_NAME_MAX + 1];
  char type; /* '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo */
  uint32_t mode, uid, gid, devmajor, devminor;
  uint64_t size;
  int64_t mtime;
};

enum { TAR_HAVE_NAME = 1, TAR_HAVE_LINK = 2, TAR_HAVE_SIZE = 4, TAR_HAVE_UID = 8, TAR_HAVE_GID = 16, TAR_HAVE_MTIME = 32 };

/* Writer (fd 1): a header (with a PAX header first when needed), data, padding, the end. */
int tar_header(const struct tar_entry *e);
int tar_write(const void *p, size_t n);
int tar_pad(uint64_t size);
int tar_finish(void);
int tar_flush(void);

/* Reader (fd 0): 1 and *e filled, 0 at the end, -1 on a malformed archive. Data follows. */
int tar_next(struct tar_entry *e);
/* 1 read, 0 at EOF before anything, -1 on error or a short read. */
int tar_read_full(void *p, size_t n);
int tar_skip(uint64_t n);

/* What an ARCHIVE process does (archive.c; run in the forked child). */
struct archive_job {
  uint32_t kind, flags, uid, gid;
  char path[PV_MAX_PATH + 1];
  char name[PV_MAX_PATH + 1];
  char root[PV_MAX_PATH + 1]; /* ARCHIVE_ROOT: the mount chrooted into ("" = the container's root) */
  int upper_fd; /* the container's upper disk root (O_PATH), -1 without one */
};
/* The child's work; returns its exit status. Runs in the container's mount namespace;
 * `upper_fd` is the child's copy of job->upper_fd (-1 without one). */
int archive_run(const struct archive_job *j, int upper_fd);

#endif
