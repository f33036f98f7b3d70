/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Byte streams: sha256, digest writer, deterministic gzip/zstd writers,
 * the auto-detecting reader (gzip, zstd, xz, bzip2, none), its digests and
 * its errors. */
#include "layer-test.h"

static const char *hex(const cairn_digest *d)
{
	static char h[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(d, h);
	return h;
}

static void fill(uint8_t *p, size_t len)
{
	uint32_t x = 12345;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245 + 12345;
		/* compressible but not trivial */
		p[i] = (i % 4096 < 2048) ? (uint8_t) (x >> 24) : (uint8_t) "cairn layer "[i % 12];
	}
}

static void test_sha256(void)
{
	cairn_digest d;
	cairn_sha256("abc", 3, &d);
	is_str(hex(&d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "sha256(abc)");
	cairn_sha256("", 0, &d);
	is_str(hex(&d), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	       "sha256 of nothing");

	bytebuf out = {0};
	cairn_writer *sink = cairn_writer_fn(mem_write, &out);
	cairn_writer *dw = cairn_writer_digest(sink);
	cairn_writer_write(dw, "a", 1);
	cairn_writer_write(dw, "bc", 2);
	uint64_t size = 0;
	cairn_writer_digest_result(dw, &d, &size);
	is_str(hex(&d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "digest writer over pieces");
	is_int(size, 3, "digest writer counts");
	ok(out.len == 3 && memcmp(out.data, "abc", 3) == 0, "digest writer forwards");
	cairn_writer_write(dw, "d", 1);
	cairn_writer_digest_result(dw, &d, &size);
	is_str(hex(&d), "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589",
	       "digest result can be taken again later (abcd)");
	cairn_writer_free(dw);
	cairn_writer_free(sink);
	buf_clear(&out);

	dw = cairn_writer_digest(NULL);
	cairn_writer_write(dw, "abc", 3);
	cairn_writer_digest_result(dw, &d, NULL);
	is_str(hex(&d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "digest writer without next");
	cairn_writer_free(dw);
}

static int compress_mem(cairn_compression c, int level, const uint8_t *p, size_t len, size_t piece,
			bytebuf *out)
{
	cairn_writer *sink = cairn_writer_fn(mem_write, out), *cw = NULL;
	int r = cairn_writer_compress(sink, c, level, &cw);
	for (size_t off = 0; r >= 0 && off < len; off += piece)
		r = cairn_writer_write(cw, p + off, MIN(piece, len - off));
	if (r >= 0)
		r = cairn_writer_close(cw);
	cairn_writer_free(cw);
	cairn_writer_free(sink);
	return r;
}

/* Reads everything through a cairn_reader in reads of `piece` bytes. */
static int read_all(const void *data, size_t len, size_t chunk, size_t piece, bytebuf *out,
		    cairn_reader **ret_r)
{
	struct mem_in in = {data, len, 0, chunk};
	cairn_reader *r = NULL;
	int ret = cairn_reader_new(mem_read, &in, &r);
	if (ret < 0)
		return ret;
	uint8_t tmp[65536];
	for (;;) {
		ssize_t n = cairn_reader_read(r, tmp, MIN(piece, sizeof(tmp)));
		if (n <= 0) {
			ret = (int) n;
			break;
		}
		buf_append(out, tmp, (size_t) n);
	}
	*ret_r = r;
	return ret;
}

static void check_roundtrip(cairn_compression c, const char *what, const uint8_t *plain, size_t len,
			    const bytebuf *comp)
{
	bytebuf back = {0};
	cairn_reader *r = NULL;
	int ret = read_all(comp->data, comp->len, 4093, 10000, &back, &r);
	is_int(ret, 0, "%s: reader reads to the end", what);
	ok(back.len == len && (len == 0 || memcmp(back.data, plain, len) == 0),
	   "%s: decodes to the input", what);
	if (r) {
		is_int(cairn_reader_compression(r), c, "%s: detected as %s", what,
		       cairn_compression_name(c));
		cairn_digest raw, pl, want;
		uint64_t raw_size, pl_size;
		cairn_reader_digests(r, &raw, &raw_size, &pl, &pl_size);
		cairn_sha256(plain, len, &want);
		ok(memcmp(&pl, &want, sizeof(want)) == 0 && pl_size == len, "%s: plain digest",
		   what);
		cairn_sha256(comp->data, comp->len, &want);
		ok(memcmp(&raw, &want, sizeof(want)) == 0 && raw_size == comp->len,
		   "%s: raw digest", what);
		cairn_reader_free(r);
	}
	buf_clear(&back);
}

static void test_compress(cairn_compression c, int level)
{
	const char *name = cairn_compression_name(c);
	size_t len = 3 << 20;
	uint8_t *plain = malloc(len);
	fill(plain, len);
	bytebuf a = {0}, b = {0};
	is_int(compress_mem(c, level, plain, len, 1 << 20, &a), 0, "%s: compress", name);
	is_int(compress_mem(c, level, plain, len, 777, &b), 0, "%s: compress in small writes",
	       name);
	ok(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
	   "%s: output does not depend on write sizes", name);
	ok(a.len < len * 6 / 10, "%s: compresses (%zu -> %zu)", name, len, a.len);
	if (c == CAIRN_COMPRESS_GZIP)
		ok(a.len > 10 && memcmp(a.data, "\x1f\x8b\x08\x00\x00\x00\x00\x00", 8) == 0,
		   "gzip: header has no name and mtime 0");
	check_roundtrip(c, name, plain, len, &a);

	bytebuf e = {0};
	is_int(compress_mem(c, level, plain, 0, 1, &e), 0, "%s: empty input", name);
	check_roundtrip(c, "empty", plain, 0, &e);
	buf_clear(&e);

	/* truncated stream: an error, never a short success */
	bytebuf back = {0};
	cairn_reader *r = NULL;
	int ret = read_all(a.data, a.len / 2, 0, 65536, &back, &r);
	ok(ret < 0, "%s: truncated stream is an error (%s)", name, cairn_strerror(ret));
	if (r) {
		ok(cairn_reader_error(r) != NULL, "%s: decompressor message: %s", name,
		   cairn_reader_error(r) ? cairn_reader_error(r) : "(none)");
		cairn_reader_free(r);
	}
	buf_clear(&back);
	buf_clear(&a);
	buf_clear(&b);
	free(plain);
}

/* xz and bzip2 are read only: make them with libarchive's raw writer. */
static void make_with_libarchive(int filter, const uint8_t *p, size_t len, bytebuf *out)
{
	struct archive *a = archive_write_new();
	archive_write_add_filter(a, filter);
	archive_write_set_format_raw(a);
	archive_write_set_bytes_per_block(a, 1);
	archive_write_open(a, out, NULL, tb_write_cb, NULL);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_pathname(e, "data");
	archive_write_header(a, e);
	archive_write_data(a, p, len);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
}

static void test_reader_formats(void)
{
	size_t len = 200000;
	uint8_t *plain = malloc(len);
	fill(plain, len);
	bytebuf x = {0};
	make_with_libarchive(ARCHIVE_FILTER_XZ, plain, len, &x);
	check_roundtrip(CAIRN_COMPRESS_XZ, "xz", plain, len, &x);
	buf_clear(&x);
	make_with_libarchive(ARCHIVE_FILTER_BZIP2, plain, len, &x);
	check_roundtrip(CAIRN_COMPRESS_BZIP2, "bzip2", plain, len, &x);
	buf_clear(&x);
	bytebuf none = {.data = plain, .len = len};
	check_roundtrip(CAIRN_COMPRESS_NONE, "plain", plain, len, &none);
	bytebuf tiny = {.data = (uint8_t *) "\x1f", .len = 1};
	check_roundtrip(CAIRN_COMPRESS_NONE, "one byte", tiny.data, 1, &tiny);
	bytebuf empty = {.data = plain, .len = 0};
	check_roundtrip(CAIRN_COMPRESS_NONE, "empty plain", plain, 0, &empty);

	/* gzip magic with a broken header */
	bytebuf bad = {0};
	cairn_reader *r = NULL;
	int ret = read_all("\x1f\x8b\x08\x00garbage", 11, 0, 100, &bad, &r);
	ok(ret == CAIRN_E_FORMAT, "damaged gzip header: %s", cairn_strerror(ret));
	cairn_reader_free(r);
	buf_clear(&bad);
	free(plain);
}

/* Members one after another are one stream; anything else after a member
 * is an error (as with Go's gzip reader). */
static void test_gzip_members(void)
{
	bytebuf a = {0}, b = {0}, out = {0};
	compress_mem(CAIRN_COMPRESS_GZIP, 0, (const uint8_t *) "hello ", 6, 6, &a);
	compress_mem(CAIRN_COMPRESS_GZIP, 9, (const uint8_t *) "world", 5, 5, &b);
	buf_append(&a, b.data, b.len);
	cairn_reader *r = NULL;
	int ret = read_all(a.data, a.len, 3, 100, &out, &r);
	ok(ret == 0 && out.len == 11 && memcmp(out.data, "hello world", 11) == 0,
	   "two gzip members read as one stream");
	cairn_reader_free(r);
	out.len = 0;
	buf_append(&a, "junk", 4);
	ret = read_all(a.data, a.len, 0, 100, &out, &r);
	ok(ret == CAIRN_E_FORMAT && r && cairn_reader_error(r) &&
	       strstr(cairn_reader_error(r), "trailing garbage"),
	   "garbage after the last member");
	cairn_reader_free(r);
	out.len = 0;
	a.len -= 4;
	a.data[a.len - 6] ^= 1; /* the CRC of the second member */
	ret = read_all(a.data, a.len, 0, 100, &out, &r);
	ok(ret == CAIRN_E_FORMAT && r && cairn_reader_error(r), "CRC mismatch detected: %s",
	   r && cairn_reader_error(r) ? cairn_reader_error(r) : "");
	cairn_reader_free(r);
	buf_clear(&a);
	buf_clear(&b);
	buf_clear(&out);
}

static void test_names(void)
{
	cairn_compression c;
	for (int i = CAIRN_COMPRESS_NONE; i <= CAIRN_COMPRESS_BZIP2; i++) {
		ok(cairn_compression_parse(cairn_compression_name(i), &c) == 0 && (int) c == i,
		   "name round trip %s", cairn_compression_name(i));
	}
	ok(cairn_compression_parse("lz4", &c) == -EINVAL, "unknown name refused");
	is_int(cairn_compression_detect("\x28\xb5\x2f\xfd", 4), CAIRN_COMPRESS_ZSTD, "zstd magic");
	is_int(cairn_compression_detect("\xfd"
					"7zXZ\0",
					6),
	       CAIRN_COMPRESS_XZ, "xz magic");
	is_int(cairn_compression_detect("BZh91AY&SY", 10), CAIRN_COMPRESS_BZIP2, "bzip2 magic");
	is_int(cairn_compression_detect("BZh9 plain", 10), CAIRN_COMPRESS_NONE,
	       "bzip2 needs its block magic");
	is_int(cairn_compression_detect("usr/", 4), CAIRN_COMPRESS_NONE, "tar is none");
	cairn_writer *w = NULL, *sink = cairn_writer_fd(1);
	is_int(cairn_writer_compress(sink, CAIRN_COMPRESS_GZIP, 10, &w), -EINVAL, "gzip level 10");
	is_int(cairn_writer_compress(sink, CAIRN_COMPRESS_XZ, 0, &w), -EOPNOTSUPP, "xz writer");
	cairn_writer_free(sink);
}

/* The asynchronous digest writer against one-shot sha256: empty, short
 * (never starts its thread), buffer-sized and multi-buffer streams
 * written in odd pieces, results taken in the middle. */
static void test_digest_async(void)
{
	static const size_t sizes[] = {0, 1, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1,
				       5 * 1024 * 1024 + 77};
	size_t max = sizes[ARRAY_SIZE(sizes) - 1];
	uint8_t *data = malloc(max);
	fill(data, max);
	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
		size_t n = sizes[k];
		cairn_writer *dw = cairn_writer_digest_async();
		ok(dw != NULL, "async digest writer (%zu bytes)", n);
		size_t step = 1, done = 0;
		while (done < n) {
			size_t len = MIN(step, n - done);
			cairn_writer_write(dw, data + done, len);
			done += len;
			step = step * 3 + 1;
			if (done >= n / 2 && done - len < n / 2) { /* a result halfway */
				cairn_digest mid, want;
				uint64_t size;
				cairn_writer_digest_result(dw, &mid, &size);
				cairn_sha256(data, done, &want);
				ok(size == done && memcmp(mid.b, want.b, CAIRN_DIGEST_LEN) == 0,
				   "async digest halfway through %zu bytes", n);
			}
		}
		cairn_writer_close(dw);
		cairn_digest got, want;
		uint64_t size = 1;
		cairn_writer_digest_result(dw, &got, &size);
		cairn_sha256(data, n, &want);
		is_int(size, n, "async digest counts %zu bytes", n);
		ok(memcmp(got.b, want.b, CAIRN_DIGEST_LEN) == 0, "async digest of %zu bytes", n);
		cairn_writer_free(dw);
	}
	free(data);
}

int main(void)
{
	test_sha256();
	test_digest_async();
	test_compress(CAIRN_COMPRESS_GZIP, 0);
	test_compress(CAIRN_COMPRESS_ZSTD, 0);
	test_compress(CAIRN_COMPRESS_ZSTD, 19);
	test_reader_formats();
	test_gzip_members();
	test_names();
	return tap_done();
}
