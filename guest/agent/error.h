/*
 * error.h - the error a request answers with (error.c): its PV_ERR_* code, the errno behind
 * it and its message. Every module that fails a request fills one with set_error; none needs
 * another module for it.
 */
#ifndef PV_ERROR_H
#define PV_ERROR_H

#include <stdint.h>

struct agent_error {
  uint32_t code;  /* PV_ERR_* */
  int err;        /* errno or 0 */
  char msg[512];
};
void set_error(struct agent_error *e, uint32_t code, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The PV_ERR_* code that an errno stands for (PV_ERR_UNAVAILABLE for the rest). */
uint32_t code_for_errno(int err);

#endif
