/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Byte streams: push writers (fd, callback, sha256 digest, gzip and zstd
 * compression) and the pull reader that detects and undoes compression.
 *
 * Every stage works through a fixed-size buffer, so memory use does not
 * depend on the length of the stream.
 */
#include <cairn/stream.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <zlib.h>
#include <limits.h>
#include <pthread.h>
#include <zstd.h>

#include "util.h"

#define STREAM_BUF (128 * 1024)

/* ---- compression names and magic numbers ------------------------------ */

static const char *const compression_names[] = {
    [CAIRN_COMPRESS_NONE] = "none",   [CAIRN_COMPRESS_GZIP] = "gzip",
    [CAIRN_COMPRESS_ZSTD] = "zstd",   [CAIRN_COMPRESS_XZ] = "xz",
    [CAIRN_COMPRESS_BZIP2] = "bzip2",
};

const char *cairn_compression_name(cairn_compression c)
{
	if ((size_t) c >= ARRAY_SIZE(compression_names))
		return "unknown";
	return compression_names[c];
}

int cairn_compression_parse(const char *name, cairn_compression *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(compression_names); i++) {
		if (strcmp(name, compression_names[i]) == 0) {
			*ret = (cairn_compression) i;
			return 0;
		}
	}
	return -EINVAL;
}

static const struct {
	cairn_compression c;
	size_t len;
	const char *magic;
} compression_magic[] = {
    {CAIRN_COMPRESS_GZIP, 2, "\x1f\x8b"},
    {CAIRN_COMPRESS_ZSTD, 4, "\x28\xb5\x2f\xfd"},
    {CAIRN_COMPRESS_XZ, 6, "\xfd\x37\x7a\x58\x5a\x00"},
};

/* Bytes cairn_compression_detect() wants to see for a certain answer. */
#define DETECT_LEN 10

cairn_compression cairn_compression_detect(const void *data, size_t len)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < ARRAY_SIZE(compression_magic); i++)
		if (len >= compression_magic[i].len &&
		    memcmp(p, compression_magic[i].magic, compression_magic[i].len) == 0)
			return compression_magic[i].c;
	/* bzip2: "BZh" + block size digit + block magic (pi) or end-of-stream magic (sqrt pi) */
	if (len >= 10 && memcmp(p, "BZh", 3) == 0 && p[3] >= '1' && p[3] <= '9' &&
	    (memcmp(p + 4, "\x31\x41\x59\x26\x53\x59", 6) == 0 ||
	     memcmp(p + 4, "\x17\x72\x45\x38\x50\x90", 6) == 0))
		return CAIRN_COMPRESS_BZIP2;
	return CAIRN_COMPRESS_NONE;
}

/* ---- sha256 ------------------------------------------------------------ */

void cairn_sha256(const void *data, size_t len, cairn_digest *ret)
{
	unsigned int n = 0;
	if (!EVP_Digest(data, len, ret->b, &n, EVP_sha256(), NULL) || n != CAIRN_DIGEST_LEN)
		abort(); /* only fails on allocation failure inside OpenSSL */
}

typedef struct sha_state {
	EVP_MD_CTX *ctx;
	uint64_t size;
} sha_state;

static int sha_init(sha_state *s)
{
	s->size = 0;
	s->ctx = EVP_MD_CTX_new();
	if (!s->ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(s->ctx);
		s->ctx = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void sha_update(sha_state *s, const void *data, size_t len)
{
	if (len == 0)
		return;
	EVP_DigestUpdate(s->ctx, data, len);
	s->size += len;
}

/* Result so far; the state stays usable. */
static void sha_result(const sha_state *s, cairn_digest *ret_digest, uint64_t *ret_size)
{
	if (ret_digest) {
		EVP_MD_CTX *tmp = EVP_MD_CTX_new();
		unsigned int n = 0;
		if (!tmp || !EVP_MD_CTX_copy_ex(tmp, s->ctx) ||
		    !EVP_DigestFinal_ex(tmp, ret_digest->b, &n))
			abort();
		EVP_MD_CTX_free(tmp);
	}
	if (ret_size)
		*ret_size = s->size;
}

static void sha_done(sha_state *s)
{
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

/* ---- writers ----------------------------------------------------------- */

int cairn_writer_write(cairn_writer *w, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	return w->write(w, data, len);
}

int cairn_writer_close(cairn_writer *w)
{
	return w->close ? w->close(w) : 0;
}

void cairn_writer_free(cairn_writer *w)
{
	if (w)
		w->free(w);
}

static int writer_noop_close(cairn_writer *w)
{
	return 0;
}

static void writer_free_plain(cairn_writer *w)
{
	free(w);
}

struct fd_writer {
	cairn_writer w;
	int fd;
};

static int fd_writer_write(cairn_writer *w, const void *data, size_t len)
{
	return write_all(((struct fd_writer *) w)->fd, data, len);
}

cairn_writer *cairn_writer_fd(int fd)
{
	struct fd_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->w = (cairn_writer){fd_writer_write, writer_noop_close, writer_free_plain};
	w->fd = fd;
	return &w->w;
}

struct fn_writer {
	cairn_writer w;
	cairn_write_fn fn;
	void *userdata;
};

static int fn_writer_write(cairn_writer *w, const void *data, size_t len)
{
	struct fn_writer *f = (struct fn_writer *) w;
	return f->fn(f->userdata, data, len);
}

cairn_writer *cairn_writer_fn(cairn_write_fn fn, void *userdata)
{
	struct fn_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->w = (cairn_writer){fn_writer_write, writer_noop_close, writer_free_plain};
	w->fn = fn;
	w->userdata = userdata;
	return &w->w;
}

/* The digest writer.  Asynchronous ones copy the bytes into DIGEST_BUFS
 * buffers that a thread of their own hashes in order (started when the
 * first buffer fills, so short streams never start it); the writer blocks
 * only when every buffer waits for that thread. */
#define DIGEST_BUFS 4
#define DIGEST_BUF (256 * 1024)

struct digest_writer {
	cairn_writer w;
	cairn_writer *next;
	sha_state sha;
	bool async;
	/* async: buf[fill] is being filled; buf[head..head+queued) wait for
	 * (or are in) the thread, which alone touches sha until it drains */
	uint8_t *buf[DIGEST_BUFS];
	size_t len[DIGEST_BUFS];
	unsigned fill, head, queued;
	bool started, quit;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *digest_thread(void *userdata)
{
	struct digest_writer *d = userdata;
	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (d->queued == 0 && !d->quit)
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->queued == 0)
			break;
		unsigned i = d->head;
		pthread_mutex_unlock(&d->mu);
		sha_update(&d->sha, d->buf[i], d->len[i]);
		pthread_mutex_lock(&d->mu);
		d->len[i] = 0;
		d->head = (i + 1) % DIGEST_BUFS;
		d->queued--;
		pthread_cond_broadcast(&d->cv);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* Hashes buf[fill] on the caller's thread. */
static void digest_here(struct digest_writer *d)
{
	sha_update(&d->sha, d->buf[d->fill], d->len[d->fill]);
	d->len[d->fill] = 0;
}

/* Hands buf[fill] to the thread (or hashes it here when there is none)
 * and waits for a free buffer to fill next. */
static void digest_submit(struct digest_writer *d)
{
	unsigned i = d->fill;
	if (d->len[i] == 0)
		return;
	if (!d->started)
		d->started = pthread_create(&d->thread, NULL, digest_thread, d) == 0;
	if (!d->started) {
		digest_here(d);
		return;
	}
	pthread_mutex_lock(&d->mu);
	d->queued++;
	pthread_cond_broadcast(&d->cv);
	d->fill = (i + 1) % DIGEST_BUFS;
	while (d->queued == DIGEST_BUFS)
		pthread_cond_wait(&d->cv, &d->mu);
	pthread_mutex_unlock(&d->mu);
}

/* Hashes what is buffered; afterwards d->sha is the caller's again. */
static void digest_drain(struct digest_writer *d)
{
	if (!d->async)
		return;
	if (!d->started) { /* a short stream: no thread for it */
		digest_here(d);
		return;
	}
	digest_submit(d);
	pthread_mutex_lock(&d->mu);
	while (d->queued > 0)
		pthread_cond_wait(&d->cv, &d->mu);
	pthread_mutex_unlock(&d->mu);
}

static int digest_writer_write(cairn_writer *w, const void *data, size_t len)
{
	struct digest_writer *d = (struct digest_writer *) w;
	if (!d->async) {
		sha_update(&d->sha, data, len);
	} else {
		for (size_t done = 0; done < len;) {
			unsigned i = d->fill;
			size_t n = MIN(len - done, DIGEST_BUF - d->len[i]);
			memcpy(d->buf[i] + d->len[i], (const uint8_t *) data + done, n);
			d->len[i] += n;
			done += n;
			if (d->len[i] == DIGEST_BUF)
				digest_submit(d);
		}
	}
	return d->next ? cairn_writer_write(d->next, data, len) : 0;
}

static void digest_writer_free(cairn_writer *w)
{
	struct digest_writer *d = (struct digest_writer *) w;
	if (d->started) {
		pthread_mutex_lock(&d->mu);
		d->quit = true;
		pthread_cond_broadcast(&d->cv);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->thread, NULL);
	}
	if (d->async) {
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
		free(d->buf[0]);
	}
	sha_done(&d->sha);
	free(d);
}

static cairn_writer *digest_writer_new(cairn_writer *next, bool async)
{
	struct digest_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	if (async) {
		uint8_t *p = malloc((size_t) DIGEST_BUFS * DIGEST_BUF);
		if (!p) {
			free(w);
			return NULL;
		}
		for (unsigned i = 0; i < DIGEST_BUFS; i++)
			w->buf[i] = p + (size_t) i * DIGEST_BUF;
		pthread_mutex_init(&w->mu, NULL);
		pthread_cond_init(&w->cv, NULL);
		w->async = true;
	}
	if (sha_init(&w->sha) < 0) {
		w->async = false;
		free(w->buf[0]);
		free(w);
		return NULL;
	}
	w->w = (cairn_writer){digest_writer_write, writer_noop_close, digest_writer_free};
	w->next = next;
	return &w->w;
}

cairn_writer *cairn_writer_digest(cairn_writer *next)
{
	return digest_writer_new(next, false);
}

cairn_writer *cairn_writer_digest_async(void)
{
	return digest_writer_new(NULL, true);
}

void cairn_writer_digest_result(cairn_writer *w, cairn_digest *ret_digest, uint64_t *ret_size)
{
	struct digest_writer *d = (struct digest_writer *) w;
	digest_drain(d);
	sha_result(&d->sha, ret_digest, ret_size);
}

/* ---- compressing writer ------------------------------------------------ */

struct compress_writer {
	cairn_writer w;
	cairn_writer *next;
	cairn_compression c;
	bool closed;
	int error; /* sticky */
	z_stream z;
	ZSTD_CCtx *zc;
	uint8_t out[STREAM_BUF];
};

static int gzip_step(struct compress_writer *cw, int flush)
{
	for (;;) {
		cw->z.next_out = cw->out;
		cw->z.avail_out = sizeof(cw->out);
		int zr = deflate(&cw->z, flush);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
			return -EIO;
		size_t n = sizeof(cw->out) - cw->z.avail_out;
		int r = cairn_writer_write(cw->next, cw->out, n);
		if (r < 0)
			return r;
		if (flush == Z_FINISH ? zr == Z_STREAM_END
				      : cw->z.avail_in == 0 && n < sizeof(cw->out))
			return 0;
	}
}

static int gzip_write(struct compress_writer *cw, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		size_t n = MIN(len, (size_t) 1 << 30); /* avail_in is 32 bits */
		cw->z.next_in = (Bytef *) p;
		cw->z.avail_in = (uInt) n;
		int r = gzip_step(cw, Z_NO_FLUSH);
		if (r < 0)
			return r;
		p += n;
		len -= n;
	}
	return 0;
}

static int zstd_step(struct compress_writer *cw, ZSTD_inBuffer *in, ZSTD_EndDirective mode)
{
	for (;;) {
		ZSTD_outBuffer out = {cw->out, sizeof(cw->out), 0};
		size_t rem = ZSTD_compressStream2(cw->zc, &out, in, mode);
		if (ZSTD_isError(rem))
			return -EIO;
		int r = cairn_writer_write(cw->next, cw->out, out.pos);
		if (r < 0)
			return r;
		if (mode == ZSTD_e_end ? rem == 0 : in->pos == in->size)
			return 0;
	}
}

static int compress_writer_write(cairn_writer *w, const void *data, size_t len)
{
	struct compress_writer *cw = (struct compress_writer *) w;
	if (cw->error)
		return cw->error;
	if (cw->closed)
		return -EPIPE;
	int r;
	if (cw->c == CAIRN_COMPRESS_GZIP) {
		r = gzip_write(cw, data, len);
	} else if (cw->c == CAIRN_COMPRESS_ZSTD) {
		ZSTD_inBuffer in = {data, len, 0};
		r = zstd_step(cw, &in, ZSTD_e_continue);
	} else {
		r = cairn_writer_write(cw->next, data, len);
	}
	if (r < 0)
		cw->error = r;
	return r;
}

static int compress_writer_close(cairn_writer *w)
{
	struct compress_writer *cw = (struct compress_writer *) w;
	if (cw->error)
		return cw->error;
	if (cw->closed)
		return 0;
	int r = 0;
	if (cw->c == CAIRN_COMPRESS_GZIP) {
		cw->z.next_in = NULL;
		cw->z.avail_in = 0;
		r = gzip_step(cw, Z_FINISH);
	} else if (cw->c == CAIRN_COMPRESS_ZSTD) {
		ZSTD_inBuffer in = {NULL, 0, 0};
		r = zstd_step(cw, &in, ZSTD_e_end);
	}
	if (r < 0)
		return cw->error = r;
	cw->closed = true;
	return 0;
}

static void compress_writer_free(cairn_writer *w)
{
	struct compress_writer *cw = (struct compress_writer *) w;
	if (cw->c == CAIRN_COMPRESS_GZIP)
		deflateEnd(&cw->z);
	ZSTD_freeCCtx(cw->zc);
	free(cw);
}

static int compress_setup(struct compress_writer *cw, int level)
{
	if (cw->c == CAIRN_COMPRESS_GZIP) {
		if (level == 0)
			level = 6;
		if (level < 1 || level > 9)
			return -EINVAL;
		/* windowBits 31 = 15 + gzip wrapper: zlib writes mtime 0, no name. */
		if (deflateInit2(&cw->z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		return 0;
	}
	if (level == 0)
		level = 3;
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
		return -EINVAL;
	cw->zc = ZSTD_createCCtx();
	if (!cw->zc)
		return -ENOMEM;
	/* Single-threaded (nbWorkers 0, the default) so the output only
	 * depends on input and level; a content checksum guards the data. */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(cw->zc, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cw->zc, ZSTD_c_checksumFlag, 1)))
		return -EINVAL;
	return 0;
}

int cairn_writer_compress(cairn_writer *next, cairn_compression c, int level, cairn_writer **ret_w)
{
	if (c != CAIRN_COMPRESS_NONE && c != CAIRN_COMPRESS_GZIP && c != CAIRN_COMPRESS_ZSTD)
		return -EOPNOTSUPP;
	struct compress_writer *cw = calloc(1, sizeof(*cw));
	if (!cw)
		return -ENOMEM;
	cw->w = (cairn_writer){compress_writer_write, compress_writer_close, compress_writer_free};
	cw->next = next;
	cw->c = c;
	if (c != CAIRN_COMPRESS_NONE) {
		int r = compress_setup(cw, level);
		if (r < 0) {
			if (c == CAIRN_COMPRESS_GZIP)
				deflateEnd(&cw->z); /* harmless if deflateInit2 was not reached */
			ZSTD_freeCCtx(cw->zc);
			free(cw);
			return r;
		}
	}
	*ret_w = &cw->w;
	return 0;
}

/* ---- reader ------------------------------------------------------------ */

struct cairn_reader {
	cairn_read_fn fn;
	void *userdata;
	cairn_compression compression;
	struct archive *a; /* zstd, xz, bzip2 */
	z_stream z;	   /* gzip: zlib checks CRC and length (libarchive 3.6 does not) */
	bool z_active, z_member_end;
	sha_state raw, plain;
	uint8_t peek[DETECT_LEN];
	size_t peek_len, peek_pos;
	bool started, plain_eof, raw_eof;
	int error; /* sticky */
	char *errmsg;
	uint8_t *rbuf;
};

static void reader_fail(cairn_reader *r, int code, const char *msg)
{
	if (r->error)
		return;
	r->error = code;
	free(r->errmsg);
	r->errmsg = msg ? strdup(msg) : NULL;
}

/* Reads raw input, digesting it. */
static ssize_t reader_pull_raw(cairn_reader *r, void *data, size_t len)
{
	if (r->raw_eof)
		return 0;
	ssize_t n;
	do
		n = r->fn(r->userdata, data, len);
	while (n == -EINTR);
	if (n < 0)
		return n;
	if (n == 0)
		r->raw_eof = true;
	sha_update(&r->raw, data, (size_t) n);
	return n;
}

static ssize_t reader_archive_read(struct archive *a, void *userdata, const void **ret_buf)
{
	cairn_reader *r = userdata;
	if (r->peek_pos < r->peek_len) {
		*ret_buf = r->peek + r->peek_pos;
		size_t n = r->peek_len - r->peek_pos;
		r->peek_pos = r->peek_len;
		return (ssize_t) n;
	}
	ssize_t n = reader_pull_raw(r, r->rbuf, STREAM_BUF);
	if (n < 0) {
		reader_fail(r, (int) n, NULL);
		archive_set_error(a, (int) -n, "read error: %s", strerror((int) -n));
		return -1;
	}
	*ret_buf = r->rbuf;
	return n;
}

static int reader_open_archive(cairn_reader *r)
{
	static int (*const filters[])(struct archive *) = {
	    [CAIRN_COMPRESS_GZIP] = archive_read_support_filter_gzip,
	    [CAIRN_COMPRESS_ZSTD] = archive_read_support_filter_zstd,
	    [CAIRN_COMPRESS_XZ] = archive_read_support_filter_xz,
	    [CAIRN_COMPRESS_BZIP2] = archive_read_support_filter_bzip2,
	};
	static const int filter_codes[] = {
	    [CAIRN_COMPRESS_GZIP] = ARCHIVE_FILTER_GZIP,
	    [CAIRN_COMPRESS_ZSTD] = ARCHIVE_FILTER_ZSTD,
	    [CAIRN_COMPRESS_XZ] = ARCHIVE_FILTER_XZ,
	    [CAIRN_COMPRESS_BZIP2] = ARCHIVE_FILTER_BZIP2,
	};
	r->a = archive_read_new();
	if (!r->a)
		return -ENOMEM;
	/* Exactly the detected filter: no stacked decompression, and none of
	 * the filters that would run external programs. */
	if (filters[r->compression](r->a) != ARCHIVE_OK ||
	    archive_read_support_format_raw(r->a) != ARCHIVE_OK ||
	    archive_read_support_format_empty(r->a) != ARCHIVE_OK)
		return -EOPNOTSUPP;
	if (archive_read_open(r->a, r, NULL, reader_archive_read, NULL) != ARCHIVE_OK) {
		if (r->error)
			return r->error;
		reader_fail(r, CAIRN_E_FORMAT, archive_error_string(r->a));
		return CAIRN_E_FORMAT;
	}
	/* The magic matched but libarchive did not take the stream. */
	if (archive_filter_count(r->a) < 2 ||
	    archive_filter_code(r->a, 0) != filter_codes[r->compression]) {
		reader_fail(r, CAIRN_E_FORMAT, "damaged compression header");
		return CAIRN_E_FORMAT;
	}
	return 0;
}

static int reader_open_gzip(cairn_reader *r)
{
	if (inflateInit2(&r->z, 31) != Z_OK)
		return -ENOMEM;
	r->z_active = true;
	r->z.next_in = r->peek;
	r->z.avail_in = (uInt) r->peek_len;
	r->peek_pos = r->peek_len;
	return 0;
}

static ssize_t gzip_fail(cairn_reader *r, const char *msg)
{
	reader_fail(r, CAIRN_E_FORMAT, msg);
	return CAIRN_E_FORMAT;
}

static int gzip_refill(cairn_reader *r)
{
	if (r->z.avail_in > 0 || r->raw_eof)
		return 0;
	ssize_t n = reader_pull_raw(r, r->rbuf, STREAM_BUF);
	if (n < 0)
		return (int) n;
	r->z.next_in = r->rbuf;
	r->z.avail_in = (uInt) n;
	return 0;
}

/* gzip members one after another (as gzip -d and Go read them); anything
 * else after a member is an error. */
static ssize_t reader_read_gzip(cairn_reader *r, void *data, size_t len)
{
	for (;;) {
		int ret = gzip_refill(r);
		if (ret < 0)
			return ret;
		if (r->z_member_end) {
			if (r->z.avail_in == 0)
				return 0;
			if (r->z.next_in[0] != 0x1f)
				return gzip_fail(r, "trailing garbage after gzip data");
			inflateReset(&r->z);
			r->z_member_end = false;
		}
		r->z.next_out = data;
		r->z.avail_out = (uInt) MIN(len, (size_t) UINT_MAX);
		int zr = inflate(&r->z, Z_NO_FLUSH);
		size_t n = MIN(len, (size_t) UINT_MAX) - r->z.avail_out;
		if (zr == Z_STREAM_END)
			r->z_member_end = true;
		else if (zr == Z_BUF_ERROR && r->z.avail_in == 0 && r->raw_eof)
			return gzip_fail(r, "truncated gzip input");
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return gzip_fail(r, r->z.msg ? r->z.msg : "gzip decompression failed");
		if (n > 0)
			return (ssize_t) n;
	}
}

int cairn_reader_new(cairn_read_fn fn, void *userdata, cairn_reader **ret_r)
{
	cairn_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fn = fn;
	r->userdata = userdata;
	int ret = sha_init(&r->raw);
	if (ret >= 0)
		ret = sha_init(&r->plain);
	while (ret >= 0 && r->peek_len < DETECT_LEN) {
		ssize_t n = reader_pull_raw(r, r->peek + r->peek_len, DETECT_LEN - r->peek_len);
		if (n < 0)
			ret = (int) n;
		else if (n == 0)
			break;
		else
			r->peek_len += (size_t) n;
	}
	if (ret >= 0) {
		r->compression = cairn_compression_detect(r->peek, r->peek_len);
		if (r->compression != CAIRN_COMPRESS_NONE && !(r->rbuf = malloc(STREAM_BUF)))
			ret = -ENOMEM;
	}
	if (ret >= 0 && r->compression == CAIRN_COMPRESS_GZIP)
		ret = reader_open_gzip(r);
	else if (ret >= 0 && r->compression != CAIRN_COMPRESS_NONE)
		ret = reader_open_archive(r);
	if (ret < 0) {
		cairn_reader_free(r);
		return ret;
	}
	*ret_r = r;
	return 0;
}

/* After the last plain byte: read (and digest) whatever raw input is left. */
static int reader_drain_raw(cairn_reader *r)
{
	uint8_t tmp[4096];
	uint8_t *data = r->rbuf ? r->rbuf : tmp;
	size_t len = r->rbuf ? STREAM_BUF : sizeof(tmp);
	for (;;) {
		ssize_t n = reader_pull_raw(r, data, len);
		if (n <= 0)
			return (int) n;
	}
}

static ssize_t reader_read_plain(cairn_reader *r, void *data, size_t len)
{
	if (r->peek_pos < r->peek_len) {
		size_t n = MIN(len, r->peek_len - r->peek_pos);
		memcpy(data, r->peek + r->peek_pos, n);
		r->peek_pos += n;
		return (ssize_t) n;
	}
	return reader_pull_raw(r, data, len);
}

static ssize_t reader_read_archive(cairn_reader *r, void *data, size_t len)
{
	if (!r->started) {
		struct archive_entry *e;
		int ar = archive_read_next_header(r->a, &e);
		r->started = true;
		if (ar == ARCHIVE_EOF && !archive_error_string(r->a))
			return 0; /* empty after decompression */
		if (ar != ARCHIVE_OK) {
			reader_fail(r, r->error ? r->error : CAIRN_E_FORMAT,
				    archive_error_string(r->a));
			return r->error;
		}
	}
	la_ssize_t n = archive_read_data(r->a, data, len);
	if (n < 0) {
		reader_fail(r, r->error ? r->error : CAIRN_E_FORMAT, archive_error_string(r->a));
		return r->error;
	}
	return n;
}

ssize_t cairn_reader_read(cairn_reader *r, void *data, size_t len)
{
	if (r->error)
		return r->error;
	if (r->plain_eof || len == 0)
		return 0;
	ssize_t n = r->z_active ? reader_read_gzip(r, data, len)
		    : r->a	? reader_read_archive(r, data, len)
				: reader_read_plain(r, data, len);
	if (n < 0) {
		reader_fail(r, (int) n, NULL);
		return n;
	}
	if (n == 0) {
		int ret = reader_drain_raw(r);
		if (ret < 0) {
			reader_fail(r, ret, NULL);
			return ret;
		}
		r->plain_eof = true;
		return 0;
	}
	if (r->compression != CAIRN_COMPRESS_NONE)
		sha_update(&r->plain, data, (size_t) n);
	return n;
}

cairn_compression cairn_reader_compression(cairn_reader *r)
{
	return r->compression;
}

const char *cairn_reader_error(cairn_reader *r)
{
	return r->errmsg;
}

void cairn_reader_digests(cairn_reader *r, cairn_digest *ret_raw, uint64_t *ret_raw_size,
			  cairn_digest *ret_plain, uint64_t *ret_plain_size)
{
	sha_result(&r->raw, ret_raw, ret_raw_size);
	/* Uncompressed input: the plain bytes are the raw bytes. */
	sha_result(r->compression != CAIRN_COMPRESS_NONE ? &r->plain : &r->raw, ret_plain,
		   ret_plain_size);
}

void cairn_reader_free(cairn_reader *r)
{
	if (!r)
		return;
	if (r->a)
		archive_read_free(r->a);
	if (r->z_active)
		inflateEnd(&r->z);
	sha_done(&r->raw);
	sha_done(&r->plain);
	free(r->errmsg);
	free(r->rbuf);
	free(r);
}

ssize_t cairn_read_fd(void *userdata, void *data, size_t len)
{
	int fd = (int) (intptr_t) userdata;
	for (;;) {
		ssize_t n = read(fd, data, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}
