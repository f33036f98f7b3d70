/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_ERROR_H
#define CAIRN_ERROR_H

/*
 * Errors that carry context to the user.
 *
 * Core functions return int: >= 0 on success, -errno (or a negative
 * CAIRN_E* code) on failure.  Functions that can say more take a
 * `cairn_error **err` as their last argument and, on failure, fill it with
 * a one-line message ("layer.tar: entry \"../x\": path escapes the root").
 * Only the top level (the CLI) prints.  err may be NULL.
 */

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Project error codes, below -4096 so they never collide with -errno. */
enum {
	CAIRN_E_CORRUPT = -5001,  /* damaged store record or chunk */
	CAIRN_E_FORMAT = -5002,	  /* malformed input (archive, JSON, reference) */
	CAIRN_E_UNSAFE = -5003,	  /* hostile input refused (.., absolute path, ...) */
	CAIRN_E_NOTFOUND = -5004, /* image, layer, blob not in the store */
	CAIRN_E_EXISTS = -5005,
	CAIRN_E_DIGEST = -5006, /* content does not match its digest */
	CAIRN_E_AUTH = -5007,	   /* registry: unauthorized or denied */
	CAIRN_E_RATELIMIT = -5008, /* registry: too many requests (429) */
	CAIRN_E_NETWORK = -5009,   /* registry unreachable, connection failed */
	CAIRN_E_TLS = -5010,	   /* TLS handshake or certificate verification failed */
	CAIRN_E_REMOTE = -5011,	   /* registry answered with an error we do not map */
};

typedef struct cairn_error {
	int code;  /* negative errno or CAIRN_E_* */
	char *msg; /* one line, no trailing newline */
} cairn_error;

/* Sets *err (if err && !*err) and returns code (which must be negative). */
int cairn_error_set(cairn_error **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cairn_error_setv(cairn_error **err, int code, const char *fmt, va_list ap);
/* Prefix an existing message: "ctx: old message".  Returns the error code. */
int cairn_error_prefix(cairn_error **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Ensures *err is set: if a callee returned r < 0 without a message, make one from strerror. */
int cairn_error_from(cairn_error **err, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cairn_error_free(cairn_error *err);
const char *cairn_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
