/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_UTIL_H
#define CAIRN_UTIL_H

/* Internal helpers shared by every module: cleanup attributes, ownership
 * transfer, small allocation wrappers.  Not installed. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cairn/error.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void freep(void *p)
{
	free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand ownership on: returns the pointer and clears the variable. */
#define steal_pointer(pp)                                                                          \
	({                                                                                         \
		__typeof__(*(pp)) _p = *(pp);                                                      \
		*(pp) = NULL;                                                                      \
		_p;                                                                                \
	})
static inline int steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

/* Declares a cleanup function for a type with a _free(). */
#define DEFINE_CLEANUP_FUNC(type, func)                                                            \
	static inline void func##p(type **p)                                                       \
	{                                                                                          \
		if (*p)                                                                            \
			func(*p);                                                                  \
	}

DEFINE_CLEANUP_FUNC(cairn_error, cairn_error_free)
#define _cleanup_error_ _cleanup_(cairn_error_freep)

/* Loops on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);
/* Loops on EINTR; returns bytes read (short only at EOF) or -errno. */
ssize_t read_full(int fd, void *buf, size_t len);
/* mkdir -p with mode; -errno on failure. */
int mkdir_p(const char *path, mode_t mode);
/* Reads a whole (small) file; NUL-terminated. */
int read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len);
/* Writes a file atomically (tmp + rename, fsync). */
int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode);

/* Big-endian integer coding for records. */
static inline void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t) v;
}
static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t) v;
}
static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* Growable byte buffer for serializing records. */
typedef struct bytebuf {
	uint8_t *data;
	size_t len, cap;
} bytebuf;
int buf_reserve(bytebuf *b, size_t extra);
int buf_append(bytebuf *b, const void *p, size_t len);
int buf_put_u8(bytebuf *b, uint8_t v);
int buf_put_varint(bytebuf *b, uint64_t v);
int buf_put_bytes(bytebuf *b, const void *p, size_t len); /* varint length + bytes */
void buf_clear(bytebuf *b);

/* Cursor for decoding; every getter fails (returns -EBADMSG) past the end. */
typedef struct cursor {
	const uint8_t *p, *end;
} cursor;
int cur_u8(cursor *c, uint8_t *ret);
int cur_varint(cursor *c, uint64_t *ret);
int cur_bytes(cursor *c, const void **ret, size_t *ret_len); /* varint length + bytes */
int cur_raw(cursor *c, size_t len, const void **ret);

/* Grows the array *p (element size elem, capacity *cap) so that it holds at
 * least need elements: doubling from `initial`.  -ENOMEM leaves it as it was. */
int array_reserve(void **p, size_t *cap, size_t need, size_t elem, size_t initial);
#define ARRAY_RESERVE(arr, cap, need, initial)                                                     \
	array_reserve((void **) &(arr), &(cap), (need), sizeof(*(arr)), (initial))

/* A name from untrusted input made printable for a one-line message:
 * control bytes, '"' and '\\' as \xNN, cut after 200 bytes ("...").
 * Malloc'd; NULL on ENOMEM. */
char *quote_name(const char *s, size_t n);

/* ---- arena: many small, immutable allocations freed at once ------------- */

typedef struct arena {
	struct arena_block *head;
} arena;
void *arena_alloc(arena *a, size_t size);
char *arena_strndup(arena *a, const char *s, size_t len);
void *arena_memdup(arena *a, const void *p, size_t len);
void arena_free(arena *a);

#endif
