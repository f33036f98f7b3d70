/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tar-split: an imported tar stream, reproducible byte for byte from the
 * store without a second copy of the file data.
 *
 * While the importer reads the plain (decompressed) stream, the recorder
 * sees every byte in order.  Bytes inside the data range of a plain
 * regular file are dropped (the file's content holds them); every other
 * byte (tar headers, PAX and GNU records, padding, end blocks, trailing
 * bytes, the data of sparse files, hardlinks, whiteouts and skipped
 * entries) is literal and goes to a literal content as soon as it lies
 * below libarchive's consumed position, because a file range declared
 * later always starts at or after that position.  Only the bytes libarchive
 * has read ahead are held in memory.
 *
 * Stored form (a content; its id is the split's id), version 1:
 *
 *   u8      version (1)
 *   16      literal content id
 *   varint  stream size (sum of all segment lengths)
 *   varint  literal bytes (sum of literal segment lengths = literal size)
 *   varint  number of segments
 *   per segment, in stream order:
 *     varint  length << 1 | kind      kind 0 literal, 1 file; length >= 1
 *     16      content id               (file segments only)
 *   nothing after the last segment
 *
 * Literal segments take their bytes from the literal content in order;
 * adjacent literal segments are merged (a reader refuses them).  A file
 * segment's content has exactly `length` bytes.
 */
#include <inttypes.h>
#include <stdarg.h>

#include "layer-internal.h"

#define SPLIT_VERSION 1
#define SPLIT_LEN_MAX (UINT64_C(1) << 62)
#define COMPACT_AT (64u << 10)
#define READER_BUF (64u << 10)
#define READER_LOOKAHEAD 64 /* > the largest segment record (10 + 16 bytes) */
#define COPY_BUF (256u << 10)

DEFINE_CLEANUP_FUNC(cairn_content, cairn_content_free)

/* ---- recorder ------------------------------------------------------------ */

struct tar_split {
	cairn_batch *b;
	cairn_content_writer *lit;
	/* held bytes: tee.data[head..tee.len) are stream bytes [acct, pos) */
	bytebuf tee;
	size_t head;
	uint64_t pos;  /* bytes fed */
	uint64_t acct; /* bytes accounted for: literal written or file range declared */
	uint64_t lit_run, lit_total;
	uint64_t n_segs;
	bytebuf segs;
	bool file_open;
	size_t file_id_off;
	uint64_t file_start, file_size;
	const char *why;
};

int tar_split_new(cairn_batch *b, tar_split **ret)
{
	tar_split *ts = calloc(1, sizeof(*ts));
	if (!ts)
		return -ENOMEM;
	ts->b = b;
	int r = cairn_content_writer_new(b, &ts->lit);
	if (r < 0) {
		free(ts);
		return r;
	}
	*ret = ts;
	return 0;
}

void tar_split_free(tar_split *ts)
{
	if (!ts)
		return;
	if (ts->lit)
		cairn_content_writer_free(ts->lit);
	buf_clear(&ts->tee);
	buf_clear(&ts->segs);
	free(ts);
}

const char *tar_split_why(const tar_split *ts)
{
	return ts->why ? ts->why : "inconsistent stream positions";
}

/* Bytes held back (not yet known to be literal or file data). */
static size_t tar_split_held(const tar_split *ts)
{
	return ts->tee.len - ts->head;
}

static int split_fail(tar_split *ts, const char *why)
{
	ts->why = why;
	return CAIRN_E_FORMAT;
}

/* Forgets the first n held bytes. */
static void tee_consume(tar_split *ts, size_t n)
{
	ts->head += n;
	if (ts->head == ts->tee.len)
		ts->head = ts->tee.len = 0;
}

int tar_split_feed(tar_split *ts, const void *p, size_t n)
{
	const uint8_t *d = p;
	if (ts->pos < ts->acct) { /* inside a file range: the content has these */
		size_t k = (size_t) MIN((uint64_t) n, ts->acct - ts->pos);
		ts->pos += k;
		d += k;
		n -= k;
	}
	if (n == 0)
		return 0;
	if (ts->head >= COMPACT_AT && ts->head * 2 >= ts->tee.len) {
		memmove(ts->tee.data, ts->tee.data + ts->head, ts->tee.len - ts->head);
		ts->tee.len -= ts->head;
		ts->head = 0;
	}
	int r = buf_append(&ts->tee, d, n);
	if (r < 0)
		return r;
	ts->pos += n;
	return 0;
}

int tar_split_flush(tar_split *ts, uint64_t consumed)
{
	uint64_t c = MIN(consumed, ts->pos);
	if (c <= ts->acct)
		return 0;
	size_t k = (size_t) (c - ts->acct);
	int r = cairn_content_write(ts->lit, ts->tee.data + ts->head, k);
	if (r < 0)
		return r;
	tee_consume(ts, k);
	ts->acct = c;
	ts->lit_run += k;
	ts->lit_total += k;
	return 0;
}

static int close_literal_run(tar_split *ts)
{
	if (!ts->lit_run)
		return 0;
	int r = buf_put_varint(&ts->segs, ts->lit_run << 1);
	if (r < 0)
		return r;
	ts->lit_run = 0;
	ts->n_segs++;
	return 0;
}

int tar_split_file_begin(tar_split *ts, uint64_t header_pos, uint64_t data_pos, uint64_t size)
{
	if (ts->file_open)
		return split_fail(ts, "the previous file's data was not finished");
	if (size == 0 || size >= SPLIT_LEN_MAX)
		return split_fail(ts, "file size out of range");
	if (header_pos > data_pos || data_pos < ts->acct)
		return split_fail(ts, "entry positions overlap the previous entry");
	if (data_pos > ts->pos)
		return split_fail(ts, "file data starts beyond the bytes read");
	int r = tar_split_flush(ts, data_pos);
	if (r >= 0)
		r = close_literal_run(ts);
	if (r >= 0)
		r = buf_put_varint(&ts->segs, size << 1 | 1);
	if (r < 0)
		return r;
	ts->file_id_off = ts->segs.len;
	static const cairn_id zero;
	if ((r = buf_append(&ts->segs, zero.b, CAIRN_ID_LEN)) < 0)
		return r;
	ts->n_segs++;
	tee_consume(ts, (size_t) MIN((uint64_t) tar_split_held(ts), size));
	ts->acct = data_pos + size;
	ts->file_open = true;
	ts->file_start = data_pos;
	ts->file_size = size;
	return 0;
}

int tar_split_file_end(tar_split *ts, const cairn_id *content, uint64_t size, uint64_t consumed)
{
	if (!ts->file_open || size != ts->file_size)
		return split_fail(ts, "file content size differs from its data range");
	uint64_t pad = (512 - size % 512) % 512;
	if (consumed != ts->file_start + size + pad)
		return split_fail(ts, "file data was not read exactly");
	memcpy(ts->segs.data + ts->file_id_off, content->b, CAIRN_ID_LEN);
	ts->file_open = false;
	return 0;
}

int tar_split_finish(tar_split *ts, uint64_t total, cairn_id *ret_split)
{
	if (ts->file_open)
		return split_fail(ts, "the last file's data was not finished");
	int r = tar_split_flush(ts, ts->pos);
	if (r < 0)
		return r;
	if (ts->acct != ts->pos || ts->pos != total)
		return split_fail(ts, "recorded bytes differ from the stream's size");
	r = close_literal_run(ts);
	if (r < 0)
		return r;
	cairn_id lit;
	uint64_t lit_size;
	r = cairn_content_writer_finish(steal_pointer(&ts->lit), &lit, &lit_size);
	if (r < 0)
		return r;
	if (lit_size != ts->lit_total)
		return -EIO;
	bytebuf out = {0};
	r = buf_reserve(&out, 64 + ts->segs.len);
	if (r >= 0) {
		buf_put_u8(&out, SPLIT_VERSION);
		buf_append(&out, lit.b, CAIRN_ID_LEN);
		buf_put_varint(&out, total);
		buf_put_varint(&out, ts->lit_total);
		buf_put_varint(&out, ts->n_segs);
		buf_append(&out, ts->segs.data, ts->segs.len);
		r = cairn_batch_put_content(ts->b, out.data, out.len, ret_split);
	}
	buf_clear(&out);
	return r;
}

/* ---- reader -------------------------------------------------------------- */

struct split_seg {
	bool file;
	uint64_t len;
	cairn_id id;
};

struct split_reader {
	cairn_content *c;
	size_t len, pos; /* window of buf */
	bool eof;
	cairn_id literal;
	uint64_t size, literal_size, n_segs;
	uint64_t seg, sum, lit_sum;
	bool last_literal;
	uint8_t buf[READER_BUF];
};

static void sr_free(struct split_reader *sr)
{
	if (!sr)
		return;
	cairn_content_free(sr->c);
	free(sr);
}
DEFINE_CLEANUP_FUNC(struct split_reader, sr_free)

/* Keeps at least READER_LOOKAHEAD bytes in the window unless at the end. */
static int sr_fill(struct split_reader *sr)
{
	if (sr->eof || sr->len - sr->pos >= READER_LOOKAHEAD)
		return 0;
	memmove(sr->buf, sr->buf + sr->pos, sr->len - sr->pos);
	sr->len -= sr->pos;
	sr->pos = 0;
	while (!sr->eof && sr->len < READER_BUF) {
		ssize_t n = cairn_content_read(sr->c, sr->buf + sr->len, READER_BUF - sr->len);
		if (n < 0)
			return (int) n;
		if (n == 0)
			sr->eof = true;
		sr->len += (size_t) n;
	}
	return 0;
}

static int sr_open(cairn_store *s, cairn_batch *b, const cairn_id *split, struct split_reader **ret)
{
	_cleanup_(sr_freep) struct split_reader *sr = calloc(1, sizeof(*sr));
	if (!sr)
		return -ENOMEM;
	int r =
	    b ? cairn_batch_content_open(b, split, &sr->c) : cairn_content_open(s, split, &sr->c);
	if (r >= 0)
		r = sr_fill(sr);
	if (r < 0)
		return r;
	cursor c = {sr->buf, sr->buf + sr->len};
	uint8_t v;
	const void *id;
	if (cur_u8(&c, &v) < 0 || v != SPLIT_VERSION || cur_raw(&c, CAIRN_ID_LEN, &id) < 0 ||
	    cur_varint(&c, &sr->size) < 0 || cur_varint(&c, &sr->literal_size) < 0 ||
	    cur_varint(&c, &sr->n_segs) < 0 || sr->literal_size > sr->size)
		return CAIRN_E_CORRUPT;
	memcpy(sr->literal.b, id, CAIRN_ID_LEN);
	sr->pos = (size_t) (c.p - sr->buf);
	*ret = steal_pointer(&sr);
	return 0;
}

/* 1 and the next segment, 0 at the (verified) end, or an error. */
static int sr_next(struct split_reader *sr, struct split_seg *ret)
{
	int r = sr_fill(sr);
	if (r < 0)
		return r;
	if (sr->seg == sr->n_segs)
		return sr->pos == sr->len && sr->eof && sr->sum == sr->size &&
			       sr->lit_sum == sr->literal_size
			   ? 0
			   : CAIRN_E_CORRUPT;
	cursor c = {sr->buf + sr->pos, sr->buf + sr->len};
	uint64_t v;
	const void *id;
	if (cur_varint(&c, &v) < 0)
		return CAIRN_E_CORRUPT;
	*ret = (struct split_seg){.file = v & 1, .len = v >> 1};
	if (ret->file && cur_raw(&c, CAIRN_ID_LEN, &id) < 0)
		return CAIRN_E_CORRUPT;
	if (ret->file)
		memcpy(ret->id.b, id, CAIRN_ID_LEN);
	if (ret->len == 0 || ret->len > sr->size - sr->sum || (!ret->file && sr->last_literal))
		return CAIRN_E_CORRUPT;
	sr->sum += ret->len;
	if (!ret->file && (sr->lit_sum += ret->len) > sr->literal_size)
		return CAIRN_E_CORRUPT;
	sr->last_literal = !ret->file;
	sr->pos = (size_t) (c.p - sr->buf);
	sr->seg++;
	return 1;
}

/* ---- replay -------------------------------------------------------------- */

struct replay {
	cairn_store *s;
	cairn_batch *b;
	char hex[2 * CAIRN_ID_LEN + 1];
	cairn_writer *out;
	cairn_error **err;
	uint8_t *buf;
};

static int open_content(struct replay *rp, const cairn_id *id, cairn_content **ret)
{
	return rp->b ? cairn_batch_content_open(rp->b, id, ret)
		     : cairn_content_open(rp->s, id, ret);
}

static int replay_fail(struct replay *rp, int r, const cairn_id *content, const char *what)
{
	char chex[2 * CAIRN_ID_LEN + 1];
	if (r == -ENOENT)
		r = CAIRN_E_NOTFOUND;
	if (!content)
		return cairn_error_set(rp->err, r, "tar-split %s: %s: %s", rp->hex, what,
				       cairn_strerror(r));
	cairn_id_hex(content, chex);
	return cairn_error_set(rp->err, r, "tar-split %s: content %s: %s: %s", rp->hex, chex, what,
			       cairn_strerror(r));
}

/* Copies exactly len bytes of c to out (CAIRN_E_CORRUPT when c is shorter). */
static int copy_n(struct replay *rp, cairn_content *c, uint64_t len)
{
	while (len > 0) {
		ssize_t n = cairn_content_read(c, rp->buf, (size_t) MIN(len, (uint64_t) COPY_BUF));
		if (n == 0)
			return CAIRN_E_CORRUPT;
		if (n < 0)
			return (int) n;
		int r = cairn_writer_write(rp->out, rp->buf, (size_t) n);
		if (r < 0)
			return r;
		len -= (uint64_t) n;
	}
	return 0;
}

static int replay_file(struct replay *rp, const struct split_seg *seg)
{
	_cleanup_(cairn_content_freep) cairn_content *c = NULL;
	int r = open_content(rp, &seg->id, &c);
	if (r < 0)
		return replay_fail(rp, r, &seg->id, "opening");
	if (cairn_content_size(c) != seg->len)
		return replay_fail(rp, CAIRN_E_CORRUPT, &seg->id, "size differs from the split");
	r = copy_n(rp, c, seg->len);
	if (r < 0)
		return replay_fail(rp, r, &seg->id, "copying");
	return 0;
}

static int replay_run(struct replay *rp, const cairn_id *split)
{
	_cleanup_(sr_freep) struct split_reader *sr = NULL;
	_cleanup_(cairn_content_freep) cairn_content *lit = NULL;
	int r = sr_open(rp->s, rp->b, split, &sr);
	if (r < 0)
		return replay_fail(rp, r, NULL, "reading the split");
	r = open_content(rp, &sr->literal, &lit);
	if (r < 0)
		return replay_fail(rp, r, &sr->literal, "opening the literal bytes");
	if (cairn_content_size(lit) != sr->literal_size)
		return replay_fail(rp, CAIRN_E_CORRUPT, &sr->literal, "literal size differs");
	if (!(rp->buf = malloc(COPY_BUF)))
		return -ENOMEM;
	struct split_seg seg;
	while ((r = sr_next(sr, &seg)) > 0) {
		if (seg.file) {
			r = replay_file(rp, &seg);
		} else if ((r = copy_n(rp, lit, seg.len)) < 0) {
			r = replay_fail(rp, r, &sr->literal, "copying literal bytes");
		}
		if (r < 0)
			return r;
	}
	return r < 0 ? replay_fail(rp, r, NULL, "reading the split") : 0;
}

static int split_write(cairn_store *s, cairn_batch *b, const cairn_id *split, cairn_writer *out,
		       cairn_error **err)
{
	struct replay rp = {.s = s, .b = b, .out = out, .err = err};
	cairn_id_hex(split, rp.hex);
	int r = replay_run(&rp, split);
	free(rp.buf);
	return r;
}

int cairn_tar_split_write(cairn_store *s, const cairn_id *split, cairn_writer *out,
			  cairn_error **err)
{
	return split_write(s, NULL, split, out, err);
}

int cairn_tar_split_write_staged(cairn_batch *b, const cairn_id *split, cairn_writer *out,
				 cairn_error **err)
{
	return split_write(cairn_batch_store(b), b, split, out, err);
}

/* ---- mark and check -------------------------------------------------------- */

int cairn_tar_split_mark(cairn_store *s, const cairn_id *split, cairn_idset *set, cairn_error **err)
{
	_cleanup_(sr_freep) struct split_reader *sr = NULL;
	char hex[2 * CAIRN_ID_LEN + 1];
	struct split_seg seg;
	int r = sr_open(s, NULL, split, &sr);
	if (r >= 0)
		r = cairn_idset_add(set, split);
	if (r >= 0)
		r = cairn_idset_add(set, &sr->literal);
	while (r >= 0 && (r = sr_next(sr, &seg)) > 0)
		if (seg.file)
			r = cairn_idset_add(set, &seg.id);
	if (r >= 0)
		return 0;
	cairn_id_hex(split, hex);
	return cairn_error_set(err, r == -ENOENT ? CAIRN_E_NOTFOUND : r, "tar-split %s: %s", hex,
			       cairn_strerror(r));
}

struct check {
	cairn_store *s;
	cairn_report_fn report;
	void *userdata;
	char hex[2 * CAIRN_ID_LEN + 1];
	int problems;
};

static void check_problem(struct check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void check_problem(struct check *c, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL, *line = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	c->problems++;
	if (!c->report)
		return;
	if (n < 0 || asprintf(&line, "tar-split %s: %s", c->hex, msg) < 0)
		c->report("tar-split: (out of memory formatting a problem)", c->userdata);
	else
		c->report(line, c->userdata);
}

static int check_content(struct check *c, const cairn_id *id, uint64_t want, const char *what)
{
	char chex[2 * CAIRN_ID_LEN + 1];
	uint64_t size;
	int r = cairn_content_stat(c->s, id, &size, NULL);
	cairn_id_hex(id, chex);
	if (r == CAIRN_E_NOTFOUND || r == -ENOENT)
		check_problem(c, "%s %s missing", what, chex);
	else if (r < 0)
		return r;
	else if (size != want)
		check_problem(c, "%s %s has %" PRIu64 " bytes, the split says %" PRIu64, what, chex,
			      size, want);
	return 0;
}

int cairn_tar_split_check(cairn_store *s, const cairn_id *split, cairn_report_fn report,
			  void *userdata, struct cairn_tar_split_info *ret)
{
	struct check c = {.s = s, .report = report, .userdata = userdata};
	struct cairn_tar_split_info info = {0};
	_cleanup_(sr_freep) struct split_reader *sr = NULL;
	struct split_seg seg;
	cairn_id_hex(split, c.hex);
	int r = sr_open(s, NULL, split, &sr);
	if (r == CAIRN_E_NOTFOUND || r == -ENOENT) {
		check_problem(&c, "missing");
		return c.problems;
	}
	if (r >= 0)
		r = check_content(&c, &sr->literal, sr->literal_size, "literal content");
	while (r >= 0 && (r = sr_next(sr, &seg)) > 0) {
		info.segments++;
		if (seg.file && ++info.files)
			r = check_content(&c, &seg.id, seg.len, "content");
	}
	if (r == CAIRN_E_CORRUPT) {
		check_problem(&c, "damaged (does not parse)");
		return c.problems;
	}
	if (r < 0)
		return r;
	info.size = sr->size;
	info.literal_bytes = sr->literal_size;
	if (ret)
		*ret = info;
	return c.problems;
}
