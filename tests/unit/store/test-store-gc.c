/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Batch atomicity, fsck (garbage vs. damage, corruption, refcounts) and sweep. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "store-test.h"
#include "tap.h"

static char report[4096];

static int fsck(cairn_store *s, struct cairn_fsck_stats *st)
{
	report[0] = 0;
	return cairn_store_fsck(s, test_report, report, st);
}

static cairn_id put_commit(cairn_store *s, const uint8_t *data, size_t n)
{
	cairn_batch *b;
	cairn_id id;
	cairn_batch_new(s, &b);
	cairn_batch_put_content(b, data, n, &id);
	if (cairn_batch_commit(b, NULL) < 0)
		ok(0, "commit");
	cairn_batch_free(b);
	return id;
}

static void test_abandoned(cairn_store *s)
{
	cairn_batch *b;
	cairn_id id;
	struct cairn_fsck_stats st;
	struct cairn_store_usage u0, u1;
	/* > STAGE_LIMIT so that chunk transactions commit before the abandon */
	size_t n = 40u << 20;
	uint8_t *data = test_random(n, 21);

	cairn_store_usage(s, &u0);
	cairn_batch_new(s, &b);
	cairn_batch_put(b, CAIRN_T_IMAGES, "img", 3, "x", 1);
	cairn_batch_put_content(b, data, n, &id);
	cairn_batch_free(b); /* abandoned */
	is_int(cairn_store_has(s, CAIRN_T_IMAGES, "img", 3), 0, "abandoned record not visible");
	is_int(cairn_content_exists(s, &id), 0, "abandoned content not visible");
	cairn_store_usage(s, &u1);
	ok(u1.chunks > u0.chunks, "chunk transactions left garbage (%llu chunks)",
	   (unsigned long long) (u1.chunks - u0.chunks));
	is_int(fsck(s, &st), 0, "fsck: no problems");
	is_int(st.garbage_chunks, u1.chunks - u0.chunks, "garbage counted");

	/* the garbage is reused by a later batch, which makes it live */
	cairn_id id2 = put_commit(s, data, n);
	ok(memcmp(&id, &id2, sizeof(id)) == 0, "same id");
	is_int(fsck(s, &st), 0, "fsck clean after reuse");
	is_int(st.garbage_chunks, 0, "garbage became live");

	struct cairn_sweep_stats sw;
	cairn_idset *live = cairn_idset_new();
	cairn_idset_add(live, &id2);
	is_int(cairn_store_sweep(s, live, &sw), 0, "sweep keeping it");
	is_int(sw.contents_removed + sw.chunks_removed, 0, "nothing removed");
	cairn_idset_free(live);

	/* garbage of an abandoned batch is swept */
	uint8_t *other = test_random(20u << 20, 22);
	cairn_batch_new(s, &b);
	cairn_batch_put_content(b, other, 20u << 20, &id);
	cairn_batch_free(b);
	live = cairn_idset_new();
	cairn_idset_add(live, &id2);
	cairn_store_usage(s, &u0);
	is_int(cairn_store_sweep(s, live, &sw), 0, "sweep garbage");
	cairn_store_usage(s, &u1);
	ok(sw.chunks_removed > 0 && sw.chunks_removed == u0.chunks - u1.chunks,
	   "garbage chunks removed (%llu)", (unsigned long long) sw.chunks_removed);
	ok(sw.bytes_freed == u0.stored_bytes - u1.stored_bytes, "bytes_freed matches usage");
	is_int(sw.contents_removed, 0, "no content removed");
	is_int(fsck(s, &st), 0, "fsck clean");
	is_int(st.garbage_chunks, 0, "no garbage left");
	void *all;
	size_t len;
	ok(cairn_content_read_all(s, &id2, &all, &len) == 0 && len == n &&
	       memcmp(all, data, n) == 0,
	   "live content intact");
	free(all);
	cairn_idset_free(live);
	free(other);
	free(data);
}

static void test_sweep_live(cairn_store *s)
{
	struct cairn_store_usage u0, u1;
	struct cairn_sweep_stats sw;
	struct cairn_fsck_stats st;

	/* everything goes with an empty live set */
	cairn_idset *none = cairn_idset_new();
	is_int(cairn_store_sweep(s, none, &sw), 0, "sweep everything");
	ok(sw.contents_removed > 0 && sw.chunks_removed > 0, "contents and chunks removed");
	cairn_store_usage(s, &u1);
	is_int(u1.chunks, 0, "no chunks left");
	is_int(u1.contents, 0, "no contents left");
	is_int(fsck(s, &st), 0, "fsck clean on the empty store");
	cairn_idset_free(none);

	uint8_t *a = test_random(3u << 20, 31), *b = test_random(3u << 20, 32);
	uint8_t *ab = malloc(6u << 20);
	memcpy(ab, a, 3u << 20);
	memcpy(ab + (3u << 20), b, 3u << 20);
	cairn_id ia = put_commit(s, a, 3u << 20), ib = put_commit(s, b, 3u << 20);
	cairn_id iab = put_commit(s, ab, 6u << 20); /* shares most chunks with a and b */

	cairn_idset *live = cairn_idset_new();
	cairn_idset_add(live, &iab);
	cairn_store_usage(s, &u0);
	is_int(cairn_store_sweep(s, live, &sw), 0, "sweep with live = {ab}");
	cairn_store_usage(s, &u1);
	ok(sw.contents_removed >= 2, "a and b removed (%llu contents)",
	   (unsigned long long) sw.contents_removed);
	is_int(cairn_content_exists(s, &ia), 0, "a gone");
	is_int(cairn_content_exists(s, &ib), 0, "b gone");
	ok(sw.chunks_removed <= 4, "shared chunks kept (%llu removed)",
	   (unsigned long long) sw.chunks_removed);
	void *all;
	size_t len;
	ok(cairn_content_read_all(s, &iab, &all, &len) == 0 && len == 6u << 20 &&
	       memcmp(all, ab, len) == 0,
	   "ab reads back after sweep");
	free(all);
	is_int(fsck(s, &st), 0, "fsck clean");

	cairn_idset_free(live);
	free(a);
	free(b);
	free(ab);
}

/* Raw edits through LMDB, as damage would do. */
struct raw_edit {
	MDB_dbi dbi;
	cairn_id key;
	uint8_t *val;
	size_t len;
	bool del;
};

static int raw_apply(cairn_store *s, MDB_txn *txn, void *userdata)
{
	struct raw_edit *e = userdata;
	MDB_val k = mdb_val(e->key.b, CAIRN_ID_LEN), v = mdb_val(e->val, e->len);
	if (e->del)
		return store_mdb_err(mdb_del(txn, e->dbi, &k, NULL));
	return store_mdb_err(mdb_put(txn, e->dbi, &k, &v, 0));
}

static int first_key(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *userdata)
{
	struct raw_edit *e = userdata;
	memcpy(e->key.b, k->mv_data, CAIRN_ID_LEN);
	e->len = v->mv_size;
	e->val = malloc(v->mv_size);
	memcpy(e->val, v->mv_data, v->mv_size);
	return 1;
}

static void test_damage(cairn_store *s)
{
	struct cairn_fsck_stats st;
	uint8_t *text = test_text(100000, 41);
	put_commit(s, text, 100000);
	is_int(fsck(s, &st), 0, "clean before damage");

	/* flip a byte of a chunk's data */
	struct raw_edit e = {.dbi = s->dbi_chunks};
	store_scan(s, s->dbi_chunks, 0, first_key, &e);
	uint8_t *orig = malloc(e.len);
	memcpy(orig, e.val, e.len);
	e.val[e.len / 2] ^= 0x40;
	store_write(s, 0, raw_apply, &e);
	ok(fsck(s, &st) >= 1, "flipped byte detected");
	char hex[33];
	cairn_id_hex(&e.key, hex);
	ok(strstr(report, "chunk ") && strstr(report, hex) &&
	       (strstr(report, "hashes to") || strstr(report, "does not decode")),
	   "report names the chunk");
	memcpy(e.val, orig, e.len);
	store_write(s, 0, raw_apply, &e);
	is_int(fsck(s, &st), 0, "repaired");

	/* a raw chunk with one byte changed hashes differently */
	uint8_t *raw = test_random(20000, 42);
	put_commit(s, raw, 20000);
	struct raw_edit r = {.dbi = s->dbi_chunks};
	store_chunk_id(raw, 20000, &r.key);
	r.len = 20001;
	r.val = malloc(r.len);
	r.val[0] = CHUNK_RAW;
	memcpy(r.val + 1, raw, 20000);
	r.val[500] ^= 1;
	store_write(s, 0, raw_apply, &r);
	is_int(fsck(s, &st), 1, "one problem");
	cairn_id_hex(&r.key, hex);
	char want[200];
	snprintf(want, sizeof(want), "chunk %s: stored data hashes to ", hex);
	ok(strstr(report, want) != NULL, "message: %s", want);
	r.val[500] ^= 1;
	store_write(s, 0, raw_apply, &r);

	/* wrong refcount */
	struct raw_edit rc = {.dbi = s->dbi_refs, .key = r.key, .len = 8};
	rc.val = malloc(8);
	put_be64(rc.val, 3);
	store_write(s, 0, raw_apply, &rc);
	is_int(fsck(s, &st), 1, "wrong refcount detected");
	snprintf(want, sizeof(want), "chunk %s: refcount 3, referenced 1 times", hex);
	ok(strstr(report, want) != NULL, "message: %s", want);
	put_be64(rc.val, 1);
	store_write(s, 0, raw_apply, &rc);
	is_int(fsck(s, &st), 0, "refcount repaired");

	/* a missing chunk: fsck reports it and a commit referencing it fails */
	r.del = true;
	store_write(s, 0, raw_apply, &r);
	ok(fsck(s, &st) >= 2, "missing chunk detected");
	ok(strstr(report, "references missing chunk") != NULL, "message names the missing chunk");
	cairn_batch *b;
	cairn_id id;
	cairn_error *err = NULL;
	uint8_t *raw2 = malloc(40000);
	memcpy(raw2, raw, 20000);
	memcpy(raw2 + 20000, raw, 20000); /* new content, one chunk: not the deleted one */
	cairn_batch_new(s, &b);
	cairn_batch_put_content(b, raw, 20000, &id); /* existing content: skipped */
	cairn_batch_put(b, CAIRN_T_TAGS, "t", 1, "v", 1);
	is_int(cairn_batch_commit(b, &err), 0,
	       "committing an existing content does not recheck it");
	cairn_batch_free(b);
	cairn_error_free(err);
	err = NULL;
	/* content whose chunk was seen by the batch but is gone at commit */
	cairn_batch_new(s, &b);
	cairn_batch_put_content(b, raw2, 40000, &id);
	struct raw_edit r2 = {.dbi = s->dbi_chunks, .del = true};
	store_chunk_id(raw2, 40000, &r2.key);
	cairn_batch_put(b, CAIRN_T_TAGS, "u", 1, "v", 1);
	/* let the workers write it, then delete it behind the batch's back */
	ok(cairn_batch_commit(b, NULL) == 0, "commit"); /* commit 1 makes it live ... */
	cairn_batch_free(b);
	cairn_batch_new(s, &b);
	cairn_content_writer *w;
	cairn_content_writer_new(b, &w);
	cairn_content_write(w, raw2, 40000);
	cairn_content_hole(w, 10); /* ... a new content that reuses that chunk */
	cairn_content_writer_finish(w, &id, NULL);
	cairn_batch_put(b, CAIRN_T_TAGS, "w", 1, "v", 1);
	/* more data: the batch looks its pending chunks up (raw2's is present) */
	uint8_t *more = test_random(300000, 43);
	cairn_id more_id;
	cairn_batch_put_content(b, more, 300000, &more_id);
	store_write(s, 0, raw_apply, &r2);
	int rr = cairn_batch_commit(b, &err);
	is_int(rr, CAIRN_E_CORRUPT, "commit with a missing chunk fails");
	ok(err && strstr(err->msg, "references missing chunk"), "error: %s", err ? err->msg : "");
	is_int(cairn_store_has(s, CAIRN_T_TAGS, "w", 1), 0, "nothing of the failed batch visible");
	is_int(cairn_content_exists(s, &id), 0, "content of the failed batch not visible");
	cairn_batch_free(b);
	cairn_error_free(err);

	free(raw);
	free(raw2);
	free(more);
	free(r.val);
	free(rc.val);
	free(e.val);
	free(orig);
	free(text);
}

static void test_lock_rules(cairn_store *s)
{
	cairn_batch *b, *b2;
	cairn_batch_new(s, &b);
	is_int(cairn_store_lock_exclusive(s), -EDEADLK,
	       "exclusive lock with own live batch: EDEADLK");
	cairn_batch_free(b);
	is_int(cairn_store_lock_exclusive(s), 0, "exclusive lock");
	is_int(cairn_batch_new(s, &b2), 0, "batch under own exclusive lock does not block");
	cairn_batch_put(b2, CAIRN_T_TAGS, "p", 1, "q", 1);
	is_int(cairn_batch_commit(b2, NULL), 0, "and commits");
	cairn_batch_free(b2);
	struct cairn_sweep_stats sw;
	is_int(cairn_store_sweep(s, NULL, &sw), 0,
	       "sweep under the lock (NULL live set: all dead)");
	cairn_store_unlock_exclusive(s);
	is_int(cairn_store_has(s, CAIRN_T_TAGS, "p", 1), 1, "record committed under the lock");
}

int main(void)
{
	cairn_store *s;
	char root[4200];
	snprintf(root, sizeof(root), "%s/store", tap_tmpdir());
	struct cairn_store_options o = {.threads = 2};
	if (cairn_store_open(root, &o, &s, NULL) < 0)
		return ok(0, "open"), tap_done();
	test_abandoned(s);
	test_sweep_live(s);
	test_damage(s);
	test_lock_rules(s);
	cairn_store_free(s);
	return tap_done();
}
