/*
 * error.c - filling a request's error (error.h), and the PV_ERR_* code of an errno.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "../include/podvisor_agent.h"
#include "error.h"

void set_error(struct agent_error *e, uint32_t code, int err, const char *fmt, ...) {
  e->code = code;
  e->err = err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
}

uint32_t code_for_errno(int err) {
  switch (err) {
  case ENOENT:
  case ENOTDIR:
  case ESRCH:
    return PV_ERR_NOT_FOUND;
  case EEXIST:
  case EBUSY:
    return PV_ERR_CONFLICT;
  case EACCES:
  case EPERM:
  case EROFS:
    return PV_ERR_PERMISSION;
  case EFBIG:
  case E2BIG:
  case ENAMETOOLONG:
    return PV_ERR_TOO_LARGE;
  case EINVAL:
  case ELOOP:
  case EXDEV:
  case EISDIR:
  case ENXIO:
    return PV_ERR_INVALID;
  default:
    return PV_ERR_UNAVAILABLE;
  }
}
