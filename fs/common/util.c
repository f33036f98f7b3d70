/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "util.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

ssize_t read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t) n;
	}
	return (ssize_t) got;
}

int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t) st.st_size > max)
		return -EFBIG;
	/* files of /proc say 0 bytes: read what comes, up to max */
	size_t cap = st.st_size > 0 ? (size_t) st.st_size : MIN(max, (size_t) 4096);
	_cleanup_free_ char *b = malloc(cap + 1);
	if (!b)
		return -ENOMEM;
	ssize_t n = read_full(fd, b, cap);
	if (n < 0)
		return (int) n;
	if (st.st_size == 0 && (size_t) n == cap && cap < max) {
		while ((size_t) n == cap && cap < max) { /* more than a page: grow */
			size_t ncap = MIN(max, cap * 2);
			char *nb = realloc(b, ncap + 1);
			if (!nb)
				return -ENOMEM;
			b = nb;
			ssize_t m = read_full(fd, b + n, ncap - (size_t) n);
			if (m < 0)
				return (int) m;
			n += m;
			cap = ncap;
		}
	}
	b[n] = 0;
	if (ret_len)
		*ret_len = (size_t) n;
	*ret_buf = steal_pointer(&b);
	return 0;
}

int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp.%d", path, (int) getpid()) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int r = write_all(fd, buf, len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int buf_reserve(bytebuf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra)
		cap *= 2;
	uint8_t *d = realloc(b->data, cap);
	if (!d)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int buf_append(bytebuf *b, const void *p, size_t len)
{
	int r = buf_reserve(b, len);
	if (r < 0)
		return r;
	if (len)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	return 0;
}

int buf_put_u8(bytebuf *b, uint8_t v)
{
	return buf_append(b, &v, 1);
}

int buf_put_varint(bytebuf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		uint8_t c = v & 0x7f;
		v >>= 7;
		tmp[n++] = c | (v ? 0x80 : 0);
	} while (v);
	return buf_append(b, tmp, n);
}

int buf_put_bytes(bytebuf *b, const void *p, size_t len)
{
	int r = buf_put_varint(b, len);
	return r < 0 ? r : buf_append(b, p, len);
}

void buf_clear(bytebuf *b)
{
	free(b->data);
	*b = (bytebuf){0};
}

int cur_u8(cursor *c, uint8_t *ret)
{
	if (c->p >= c->end)
		return -EBADMSG;
	*ret = *c->p++;
	return 0;
}

int cur_varint(cursor *c, uint64_t *ret)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (c->p >= c->end)
			return -EBADMSG;
		uint8_t b = *c->p++;
		v |= (uint64_t) (b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	return -EBADMSG;
}

int cur_raw(cursor *c, size_t len, const void **ret)
{
	if ((size_t) (c->end - c->p) < len)
		return -EBADMSG;
	*ret = c->p;
	c->p += len;
	return 0;
}

int cur_bytes(cursor *c, const void **ret, size_t *ret_len)
{
	uint64_t len;
	int r = cur_varint(c, &len);
	if (r < 0)
		return r;
	if (len > (uint64_t) (c->end - c->p))
		return -EBADMSG;
	*ret_len = (size_t) len;
	return cur_raw(c, (size_t) len, ret);
}

int array_reserve(void **p, size_t *cap, size_t need, size_t elem, size_t initial)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : initial;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		n *= 2;
	}
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

char *quote_name(const char *s, size_t n)
{
	bool cut = n > 200;
	char *q = malloc(MIN(n, 200) * 4 + 4);
	if (!q)
		return NULL;
	char *o = q;
	for (size_t i = 0; i < MIN(n, 200); i++) {
		unsigned char c = (unsigned char) s[i];
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			o += sprintf(o, "\\x%02x", c);
		else
			*o++ = (char) c;
	}
	strcpy(o, cut ? "..." : "");
	return q;
}

/* ---- arena ------------------------------------------------------------- */

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

#define ARENA_BLOCK (64 * 1024)

void *arena_alloc(arena *a, size_t size)
{
	size = (size + 15) & ~(size_t) 15;
	struct arena_block *b = a->head;
	if (!b || b->cap - b->used < size) {
		size_t cap = MAX(size, (size_t) ARENA_BLOCK);
		struct arena_block *nb = malloc(sizeof(*nb) + cap);
		if (!nb)
			return NULL;
		nb->used = 0;
		nb->cap = cap;
		if (b && size > ARENA_BLOCK / 4) {
			/* big allocation: keep filling the current block afterwards */
			nb->next = b->next;
			b->next = nb;
			nb->used = size;
			return nb->data;
		}
		nb->next = b;
		a->head = b = nb;
	}
	void *p = (uint8_t *) b->data + b->used;
	b->used += size;
	return p;
}

void *arena_memdup(arena *a, const void *p, size_t len)
{
	void *d = arena_alloc(a, len ? len : 1);
	if (d && len)
		memcpy(d, p, len);
	return d;
}

char *arena_strndup(arena *a, const char *s, size_t len)
{
	char *d = arena_alloc(a, len + 1);
	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = 0;
	return d;
}

void arena_free(arena *a)
{
	struct arena_block *b = a->head;
	while (b) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
}
