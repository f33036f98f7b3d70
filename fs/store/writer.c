/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Content writers: stream bytes and holes into a batch.  The calling
 * thread cuts chunks (FastCDC) and hashes them; new chunks go to the
 * compression workers (pool.c).  Memory: one pending chunk (<= 256 KiB)
 * plus the growing segment list (~20 bytes per 64 KiB).
 */
#include "store-internal.h"

struct cairn_content_writer {
	cairn_batch *b;
	struct cdc cdc;
	uint8_t *pend; /* bytes of the chunk being cut (only when they span writes) */
	size_t pend_len;
	uint64_t hole; /* hole length not yet written to segs (holes merge) */
	uint64_t size;
	bytebuf segs;
	int error; /* sticky */
};

int cairn_content_writer_new(cairn_batch *b, cairn_content_writer **ret_w)
{
	cairn_content_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->b = b;
	*ret_w = w;
	return 0;
}

void cairn_content_writer_free(cairn_content_writer *w)
{
	if (!w)
		return;
	if (w->pend)
		store_batch_return_buffer(w->b, w->pend);
	buf_clear(&w->segs);
	free(w);
}

static int writer_emit(cairn_content_writer *w, const void *data, size_t len)
{
	cairn_id id;
	store_chunk_id(data, len, &id);
	int r = store_record_put_data(&w->segs, &id, (uint32_t) len);
	if (r < 0)
		return r;
	return store_batch_add_chunk(w->b, &id, data, len);
}

static int writer_flush_hole(cairn_content_writer *w)
{
	if (!w->hole)
		return 0;
	int r = store_record_put_hole(&w->segs, w->hole);
	w->hole = 0;
	return r;
}

/* Ends the current data run: the pending bytes become a (short) chunk. */
static int writer_flush_data(cairn_content_writer *w)
{
	int r = 0;
	if (w->pend_len)
		r = writer_emit(w, w->pend, w->pend_len);
	w->pend_len = 0;
	cdc_reset(&w->cdc);
	return r;
}

static int writer_feed(cairn_content_writer *w, const uint8_t *p, size_t len)
{
	while (len > 0) {
		bool cut;
		size_t n = store_cdc_scan(&w->cdc, p, len, &cut);
		if (w->pend_len == 0 && cut) {
			/* the whole chunk is in the caller's buffer: no copy */
			int r = writer_emit(w, p, n);
			if (r < 0)
				return r;
		} else {
			if (!w->pend && !(w->pend = store_batch_take_buffer(w->b)))
				return -ENOMEM;
			memcpy(w->pend + w->pend_len, p, n);
			w->pend_len += n;
			if (cut) {
				int r = writer_emit(w, w->pend, w->pend_len);
				w->pend_len = 0;
				if (r < 0)
					return r;
			}
		}
		p += n;
		len -= n;
	}
	return 0;
}

int cairn_content_write(cairn_content_writer *w, const void *data, size_t len)
{
	if (w->error)
		return w->error;
	if (len == 0)
		return 0;
	int r = writer_flush_hole(w);
	if (r >= 0)
		r = writer_feed(w, data, len);
	if (r < 0)
		return w->error = r;
	w->size += len;
	return 0;
}

int cairn_content_hole(cairn_content_writer *w, uint64_t len)
{
	if (w->error)
		return w->error;
	if (len == 0)
		return 0;
	if (w->size + len < w->size || (w->hole + len) >> 62)
		return -EFBIG;
	int r = writer_flush_data(w);
	if (r < 0)
		return w->error = r;
	w->hole += len;
	w->size += len;
	return 0;
}

int cairn_content_writer_finish(cairn_content_writer *w, cairn_id *ret_id, uint64_t *ret_size)
{
	bytebuf rec = {0};
	cairn_id id;
	int r = w->error;
	if (r >= 0)
		r = writer_flush_data(w);
	if (r >= 0)
		r = writer_flush_hole(w);
	if (r >= 0)
		r = buf_reserve(&rec, 16 + w->segs.len);
	if (r >= 0) {
		buf_put_u8(&rec, CONTENT_RECORD_V1);
		buf_put_varint(&rec, w->size);
		buf_append(&rec, w->segs.data, w->segs.len);
		store_chunk_id(rec.data, rec.len, &id);
		r = store_batch_stage_content(w->b, &id, rec.data, rec.len);
	}
	uint64_t size = w->size;
	buf_clear(&rec);
	cairn_content_writer_free(w);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = id;
	if (ret_size)
		*ret_size = size;
	return 0;
}

int cairn_batch_put_content(cairn_batch *b, const void *data, size_t len, cairn_id *ret_id)
{
	cairn_content_writer *w;
	int r = cairn_content_writer_new(b, &w);
	if (r < 0)
		return r;
	r = cairn_content_write(w, data, len);
	if (r < 0) {
		cairn_content_writer_free(w);
		return r;
	}
	return cairn_content_writer_finish(w, ret_id, NULL);
}
