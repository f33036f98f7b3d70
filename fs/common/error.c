/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <cairn/error.h>

#include "util.h"

const char *cairn_strerror(int code)
{
	switch (code) {
	case CAIRN_E_CORRUPT:
		return "store damaged";
	case CAIRN_E_FORMAT:
		return "malformed input";
	case CAIRN_E_UNSAFE:
		return "unsafe input refused";
	case CAIRN_E_NOTFOUND:
		return "not found";
	case CAIRN_E_EXISTS:
		return "already exists";
	case CAIRN_E_DIGEST:
		return "digest mismatch";
	case CAIRN_E_AUTH:
		return "unauthorized";
	case CAIRN_E_RATELIMIT:
		return "rate limited";
	case CAIRN_E_NETWORK:
		return "registry unreachable";
	case CAIRN_E_TLS:
		return "TLS failure";
	case CAIRN_E_REMOTE:
		return "registry error";
	default:
		return code < 0 ? strerror(-code) : "success";
	}
}

int cairn_error_setv(cairn_error **err, int code, const char *fmt, va_list ap)
{
	if (code >= 0)
		code = -EINVAL;
	if (!err || *err)
		return code;
	cairn_error *e = calloc(1, sizeof(*e));
	if (!e)
		return code;
	e->code = code;
	if (vasprintf(&e->msg, fmt, ap) < 0)
		e->msg = NULL;
	*err = e;
	return code;
}

int cairn_error_set(cairn_error **err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	code = cairn_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int cairn_error_prefix(cairn_error **err, const char *fmt, ...)
{
	if (!err || !*err)
		return -EINVAL;
	_cleanup_free_ char *pre = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&pre, fmt, ap);
	va_end(ap);
	if (n < 0)
		return (*err)->code;
	char *msg = NULL;
	if (asprintf(&msg, "%s: %s", pre,
		     (*err)->msg ? (*err)->msg : cairn_strerror((*err)->code)) >= 0) {
		free((*err)->msg);
		(*err)->msg = msg;
	}
	return (*err)->code;
}

int cairn_error_from(cairn_error **err, int r, const char *fmt, ...)
{
	if (r >= 0)
		r = -EINVAL;
	if (!err || *err)
		return r;
	_cleanup_free_ char *pre = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&pre, fmt, ap);
	va_end(ap);
	if (n < 0)
		return r;
	return cairn_error_set(err, r, "%s: %s", pre, cairn_strerror(r));
}

void cairn_error_free(cairn_error *err)
{
	if (!err)
		return;
	free(err->msg);
	free(err);
}
