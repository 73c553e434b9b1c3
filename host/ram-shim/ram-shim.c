/*
 * ram-shim.c - preloaded into a clone's QEMU (src/vm/qemu/memory/ram-shim.ts): lets the clone
 * hand back the guest pages its balloon reports free, while its template's RAM file stays
 * read-only to it.
 *
 * A clone maps its template's RAM file privately (copy-on-write). QEMU discards a reported
 * range of a file-backed RAM block in two steps: it punches a hole in the file
 * (fallocate PUNCH_HOLE), then, for a private mapping, drops its own copies of the pages
 * (madvise MADV_DONTNEED), after which they read the file's pages again. The hole would zero
 * the template's pages under every clone; dropping the copies is all a clone needs.
 *
 * For the one file named by PODVISOR_RAM_FILE (the template's RAM file, read-only in the
 * clone's jail), this library:
 *  - opens it O_RDONLY whatever QEMU asks (QEMU refuses discards on a block it opened
 *    read-only itself, `readonly=on`; a private mapping of an O_RDONLY fd is still writable,
 *    and its writes never reach the file);
 *  - answers a PUNCH_HOLE fallocate on that file with success, doing nothing.
 * Every other open and fallocate goes through unchanged. The file stays O_RDONLY, so no
 * write to it can succeed whatever QEMU asks: the jail's read-only bind and the open mode
 * both refuse it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *ram_path; /* PODVISOR_RAM_FILE, or NULL */
static int ram_known;
static dev_t ram_dev;
static ino_t ram_ino;

typedef int (*open_fn)(const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*fallocate_fn)(int, int, off_t, off_t);

static open_fn next_open64, next_open;
static open2_fn next_open64_2, next_open_2;
static openat_fn next_openat64, next_openat;
static fallocate_fn next_fallocate64, next_fallocate;

/* Resolved once, before QEMU's main: its 9p server opens a file for every guest open. */
__attribute__((constructor)) static void init(void) {
  ram_path = getenv("PODVISOR_RAM_FILE");
  if (ram_path && !ram_path[0]) ram_path = NULL;
  next_open64 = (open_fn)dlsym(RTLD_NEXT, "open64");
  next_open = (open_fn)dlsym(RTLD_NEXT, "open");
  next_open64_2 = (open2_fn)dlsym(RTLD_NEXT, "__open64_2");
  next_open_2 = (open2_fn)dlsym(RTLD_NEXT, "__open_2");
  next_openat64 = (openat_fn)dlsym(RTLD_NEXT, "openat64");
  next_openat = (openat_fn)dlsym(RTLD_NEXT, "openat");
  next_fallocate64 = (fallocate_fn)dlsym(RTLD_NEXT, "fallocate64");
  next_fallocate = (fallocate_fn)dlsym(RTLD_NEXT, "fallocate");
}

/* Whether `path` names the RAM file (as QEMU was given it: the exact string). */
static int is_ram_file(const char *path) { return ram_path && path && strcmp(path, ram_path) == 0; }

/* The flags to open `path` with: read-only, whatever was asked, for the RAM file. */
static int ram_flags(const char *path, int flags) {
  if (is_ram_file(path)) flags = (flags & ~(O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND)) | O_RDONLY;
  return flags;
}

/* Remember the RAM file's identity from an fd just opened on it. */
static int note(const char *path, int fd) {
  struct stat st;
  if (fd >= 0 && is_ram_file(path) && fstat(fd, &st) == 0) {
    ram_dev = st.st_dev;
    ram_ino = st.st_ino;
    ram_known = 1;
  }
  return fd;
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open64(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return note(path, next_open64(path, ram_flags(path, flags), mode));
}

int open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return note(path, next_open(path, ram_flags(path, flags), mode));
}

int __open64_2(const char *path, int flags) { return note(path, next_open64_2(path, ram_flags(path, flags))); }

int __open_2(const char *path, int flags) { return note(path, next_open_2(path, ram_flags(path, flags))); }

int openat64(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return note(path, next_openat64(dirfd, path, ram_flags(path, flags), mode));
}

int openat(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return note(path, next_openat(dirfd, path, ram_flags(path, flags), mode));
}

/* Whether fallocate(fd, mode) is a hole punched in the RAM file. */
static int punches_ram(int fd, int mode) {
  struct stat st;
  return ram_known && (mode & FALLOC_FL_PUNCH_HOLE) && fstat(fd, &st) == 0 && st.st_dev == ram_dev &&
         st.st_ino == ram_ino;
}

int fallocate64(int fd, int mode, off_t offset, off_t len) {
  return punches_ram(fd, mode) ? 0 : next_fallocate64(fd, mode, offset, len);
}

int fallocate(int fd, int mode, off_t offset, off_t len) {
  return punches_ram(fd, mode) ? 0 : next_fallocate(fd, mode, offset, len);
}
