/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_STREAM_H
#define CAIRN_STREAM_H

/*
 * Byte streams: pull readers and push writers that stack (digest,
 * compress, count), so tars and blobs stream through without being held in
 * memory.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cairn/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Pull: returns bytes read, 0 at end, or a negative error. */
typedef ssize_t (*cairn_read_fn)(void *userdata, void *buf, size_t len);
/* Push: writes all of buf or returns a negative error. */
typedef int (*cairn_write_fn)(void *userdata, const void *buf, size_t len);

typedef enum cairn_compression {
	CAIRN_COMPRESS_NONE = 0,
	CAIRN_COMPRESS_GZIP,
	CAIRN_COMPRESS_ZSTD,
	CAIRN_COMPRESS_XZ,    /* read only */
	CAIRN_COMPRESS_BZIP2, /* read only */
} cairn_compression;

const char *cairn_compression_name(cairn_compression c);
int cairn_compression_parse(const char *name, cairn_compression *ret);
/* Detects the compression from the first bytes (magic numbers). */
cairn_compression cairn_compression_detect(const void *buf, size_t len);

/* A push sink.  Writers stack: a writer forwards to its `next`. */
typedef struct cairn_writer cairn_writer;
struct cairn_writer {
	int (*write)(cairn_writer *w, const void *buf, size_t len);
	int (*close)(cairn_writer *w); /* flush trailers, not the next writer */
	void (*free)(cairn_writer *w);
};
int cairn_writer_write(cairn_writer *w, const void *buf, size_t len);
int cairn_writer_close(cairn_writer *w);
/* Frees w only: the writer it forwards to stays with its owner. */
void cairn_writer_free(cairn_writer *w);

/* Writes to fd (not closed). */
cairn_writer *cairn_writer_fd(int fd);
/* Calls fn. */
cairn_writer *cairn_writer_fn(cairn_write_fn fn, void *userdata);
/* Counts bytes and computes sha256 of what passes through to next (next may be NULL). */
cairn_writer *cairn_writer_digest(cairn_writer *next);
/* The same, with no next writer, hashing on a thread of its own (bytes
 * are copied into 1 MiB of buffers; the thread starts once 256 KiB have
 * been written): the writer's caller goes on while the bytes are hashed. */
cairn_writer *cairn_writer_digest_async(void);
/* The digest and size of everything written so far (waits for an
 * asynchronous writer's thread); the writer stays usable. */
void cairn_writer_digest_result(cairn_writer *w, cairn_digest *ret_digest, uint64_t *ret_size);
/* Compresses into next.  Output is deterministic for a given input and
 * level (gzip: zlib, mtime 0, no name; level 0 = default 6.  zstd: level 0
 * = default 3, single-threaded, with a content checksum).  CAIRN_COMPRESS_NONE
 * passes bytes through; xz and bzip2 are -EOPNOTSUPP.  close() writes the
 * trailer. */
int cairn_writer_compress(cairn_writer *next, cairn_compression c, int level, cairn_writer **ret_w);

/* Pull-side decompression with auto-detection (gzip, zstd, xz, bzip2, none):
 * the magic number picks exactly one decoder (no stacking, no external
 * programs): gzip through zlib (CRC and length checked, members read one
 * after another), zstd, xz and bzip2 through libarchive's filters;
 * uncompressed input passes straight through.
 * raw_digest/plain_digest (either may be NULL) receive the sha256 and size
 * of the bytes read from `fn` and of the decompressed bytes, valid once the
 * stream has been read to the end (at the end of the plain stream the rest
 * of the raw input is read and digested too). */
typedef struct cairn_reader cairn_reader;
int cairn_reader_new(cairn_read_fn fn, void *userdata, cairn_reader **ret_r);
ssize_t cairn_reader_read(cairn_reader *r, void *buf, size_t len);
cairn_compression cairn_reader_compression(cairn_reader *r);
void cairn_reader_digests(cairn_reader *r, cairn_digest *ret_raw, uint64_t *ret_raw_size,
			  cairn_digest *ret_plain, uint64_t *ret_plain_size);
void cairn_reader_free(cairn_reader *r);
/* After a failed read: what the decompressor said ("truncated gzip
 * input"), or NULL when the error came from fn. */
const char *cairn_reader_error(cairn_reader *r);

/* read(2) on an fd as a cairn_read_fn; userdata is (void *)(intptr_t)fd. */
ssize_t cairn_read_fd(void *userdata, void *buf, size_t len);

/* One-shot sha256. */
void cairn_sha256(const void *buf, size_t len, cairn_digest *ret);

#ifdef __cplusplus
}
#endif
#endif
