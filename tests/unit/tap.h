/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_TAP_H
#define CAIRN_TAP_H

/* A tiny TAP producer for unit tests.
 *
 *   ok(cond, "what");          one assertion
 *   is_int(got, want, "what"); with the values printed on failure
 *   tap_skip_all("why");       plan 1..0 # SKIP, exit 0 (meson's TAP
 *                              parser reports it skipped; a non-zero
 *                              status would be an error under TAP)
 *   return tap_done();         prints the plan, exit status 1 on failure
 *
 * tap_tmpdir() gives a fresh directory under $TMPDIR removed at exit. */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tap_n, tap_failed;

static inline int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...)                                                                     \
	({                                                                                         \
		long long _g = (long long) (got), _w = (long long) (want);                         \
		int _r = ok(_g == _w, __VA_ARGS__);                                                \
		if (!_r)                                                                           \
			printf("#   got %lld, want %lld\n", _g, _w);                               \
		_r;                                                                                \
	})
#define is_str(got, want, ...)                                                                     \
	({                                                                                         \
		const char *_g = (got), *_w = (want);                                              \
		int _r = ok(_g && _w && strcmp(_g, _w) == 0, __VA_ARGS__);                         \
		if (!_r)                                                                           \
			printf("#   got \"%s\", want \"%s\"\n", _g ? _g : "(null)",                \
			       _w ? _w : "(null)");                                                \
		_r;                                                                                \
	})

static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline void tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

static char tap_tmp[4096];
static inline void tap_rm_tmp(void)
{
	if (tap_tmp[0] && !getenv("CAIRN_KEEP_TMP")) {
		char cmd[4200];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tap_tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tap_tmp);
	}
}
static inline const char *tap_tmpdir(void)
{
	if (!tap_tmp[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(tap_tmp, sizeof(tap_tmp), "%s/cairn-test-XXXXXX", t ? t : "/tmp");
		if (!mkdtemp(tap_tmp)) {
			perror("mkdtemp");
			exit(99);
		}
		atexit(tap_rm_tmp);
	}
	return tap_tmp;
}

#endif
