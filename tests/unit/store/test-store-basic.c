/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Store basics: open, records, small contents, holes, helpers, idsets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cairn/store.h>

#include "tap.h"
#include "store-test.h"

struct rec_walk {
	char keys[16][32];
	int n;
};

static int walk_rec(const void *key, size_t klen, const void *val, size_t vlen, void *userdata)
{
	struct rec_walk *w = userdata;
	if (w->n < 16)
		snprintf(w->keys[w->n++], 32, "%.*s=%.*s", (int) klen, (const char *) key,
			 (int) vlen, (const char *) val);
	return 0;
}

static int stop_at_two(const void *key, size_t klen, const void *val, size_t vlen, void *userdata)
{
	int *n = userdata;
	return ++*n == 2 ? 42 : 0;
}

static void test_open(const char *dir)
{
	char root[4200], path[4300];
	struct stat st;
	cairn_store *s = NULL;
	cairn_error *err = NULL;

	snprintf(root, sizeof(root), "%s/a/b/root", dir);
	is_int(cairn_store_open(root, NULL, &s, &err), 0, "open creates the root");
	ok(stat(root, &st) == 0 && (st.st_mode & 0777) == 0700, "root is 0700");
	snprintf(path, sizeof(path), "%s/tmp", root);
	ok(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "tmp/ exists");
	snprintf(path, sizeof(path), "%s/lock", root);
	ok(stat(path, &st) == 0, "lock exists");
	snprintf(path, sizeof(path), "%s/store.mdb", root);
	ok(stat(path, &st) == 0, "store.mdb exists");
	is_str(cairn_store_root(s), root, "cairn_store_root");
	void *v;
	size_t vl;
	is_int(cairn_store_get(s, CAIRN_T_META, "store.format", 12, &v, &vl), 0, "format recorded");
	is_str((char *) v, "1", "format 1");
	free(v);
	cairn_store_free(s);
	is_int(cairn_store_open(root, NULL, &s, &err), 0, "reopen");
	cairn_store_free(s);
	cairn_error_free(err);
}

static void test_default_root(void)
{
	char *r = NULL;
	setenv("CAIRN_ROOT", "/x/y", 1);
	is_int(cairn_store_default_root(&r), 0, "default root");
	is_str(r, "/x/y", "CAIRN_ROOT wins");
	free(r);
	unsetenv("CAIRN_ROOT");
	if (geteuid() != 0) {
		setenv("XDG_DATA_HOME", "/data", 1);
		cairn_store_default_root(&r);
		is_str(r, "/data/cairn", "XDG_DATA_HOME/cairn");
		free(r);
		unsetenv("XDG_DATA_HOME");
		setenv("HOME", "/home/u", 1);
		cairn_store_default_root(&r);
		is_str(r, "/home/u/.local/share/cairn", "~/.local/share/cairn");
		free(r);
	} else {
		cairn_store_default_root(&r);
		is_str(r, "/var/lib/cairn", "root uses /var/lib/cairn");
		free(r);
	}
}

static void test_records(cairn_store *s)
{
	cairn_batch *b;
	cairn_error *err = NULL;
	void *v;
	size_t vl;

	is_int(cairn_batch_new(s, &b), 0, "batch");
	cairn_batch_put(b, CAIRN_T_TAGS, "b", 1, "2", 1);
	cairn_batch_put(b, CAIRN_T_TAGS, "a", 1, "1", 1);
	cairn_batch_put(b, CAIRN_T_TAGS, "c", 1, "3", 1);
	cairn_batch_del(b, CAIRN_T_TAGS, "c", 1);
	cairn_batch_put(b, CAIRN_T_TAGS, "a", 1, "one", 3);
	cairn_batch_del(b, CAIRN_T_TAGS, "zz", 2);
	is_int(cairn_batch_put(b, CAIRN_T_COUNT_, "a", 1, "1", 1), -EINVAL, "bad table refused");
	is_int(cairn_batch_put(b, CAIRN_T_TAGS, "", 0, "1", 1), -EINVAL, "empty key refused");
	is_int(cairn_store_has(s, CAIRN_T_TAGS, "a", 1), 0, "staged record not visible");
	is_int(cairn_batch_commit(b, &err), 0, "commit");
	cairn_batch_free(b);

	is_int(cairn_store_get(s, CAIRN_T_TAGS, "a", 1, &v, &vl), 0, "get a");
	ok(vl == 3 && memcmp(v, "one", 3) == 0, "later put wins (call order)");
	free(v);
	is_int(cairn_store_has(s, CAIRN_T_TAGS, "c", 1), 0, "put then del: absent");
	is_int(cairn_store_get(s, CAIRN_T_TAGS, "c", 1, &v, &vl), -ENOENT, "get absent: -ENOENT");
	is_int(cairn_store_has(s, CAIRN_T_LAYERS, "a", 1), 0, "tables are separate");

	struct rec_walk w = {0};
	is_int(cairn_store_foreach(s, CAIRN_T_TAGS, walk_rec, &w), 0, "foreach");
	is_int(w.n, 2, "two records");
	is_str(w.keys[0], "a=one", "key order 1");
	is_str(w.keys[1], "b=2", "key order 2");
	int n = 0;
	is_int(cairn_store_foreach(s, CAIRN_T_TAGS, stop_at_two, &n), 42,
	       "non-zero stops the walk");

	/* many records: foreach crosses its read slices */
	cairn_batch_new(s, &b);
	for (int i = 0; i < 1000; i++) {
		char k[16];
		int len = snprintf(k, sizeof(k), "k%05d", i);
		cairn_batch_put(b, CAIRN_T_CACHE, k, (size_t) len, k, (size_t) len);
	}
	is_int(cairn_batch_commit(b, &err), 0, "commit 1000 records");
	cairn_batch_free(b);
	struct count_walk cw = {0};
	cairn_store_foreach(s, CAIRN_T_CACHE, count_rec, &cw);
	is_int(cw.n, 1000, "foreach sees 1000");
	ok(cw.sorted, "in key order");
	cairn_error_free(err);
}

static void test_contents(cairn_store *s)
{
	cairn_batch *b;
	cairn_error *err = NULL;
	cairn_id id, id2, empty;
	const char *hello = "hello, world\n";

	cairn_batch_new(s, &b);
	is_int(cairn_batch_put_content(b, hello, strlen(hello), &id), 0, "put small content");
	is_int(cairn_batch_put_content(b, "", 0, &empty), 0, "put empty content");
	is_int(cairn_content_exists(s, &id), 0, "not visible before commit");
	is_int(cairn_batch_commit(b, &err), 0, "commit");
	cairn_batch_free(b);
	is_int(cairn_content_exists(s, &id), 1, "visible after commit");
	is_int(cairn_content_exists(s, &empty), 1, "empty content exists");

	void *data;
	size_t len;
	is_int(cairn_content_read_all(s, &id, &data, &len), 0, "read_all");
	ok(len == strlen(hello) && strcmp(data, hello) == 0, "same bytes, NUL-terminated");
	free(data);
	is_int(cairn_content_read_all(s, &empty, &data, &len), 0, "read_all empty");
	ok(len == 0 && ((char *) data)[0] == 0, "empty read");
	free(data);

	/* same bytes, same id, in another batch */
	cairn_batch_new(s, &b);
	cairn_batch_put_content(b, hello, strlen(hello), &id2);
	ok(memcmp(&id, &id2, sizeof(id)) == 0, "equal bytes give equal ids");
	cairn_batch_commit(b, &err);
	cairn_batch_free(b);

	cairn_content *c;
	is_int(cairn_content_open(s, &id, &c), 0, "open");
	is_int(cairn_content_size(c), strlen(hello), "size");
	char buf4[8];
	is_int(cairn_content_read(c, buf4, 5), 5, "read 5");
	is_int(cairn_content_read(c, buf4, 5), 5, "read 5 more");
	ok(memcmp(buf4, ", wor", 5) == 0, "sequential read continues");
	is_int(cairn_content_pread(c, buf4, 8, 7), 6, "pread near end is short");
	is_int(cairn_content_pread(c, buf4, 8, 100), 0, "pread past end gives 0");
	cairn_content_free(c);

	uint64_t size, dbytes;
	is_int(cairn_content_stat(s, &id, &size, &dbytes), 0, "stat");
	ok(size == strlen(hello) && dbytes == size, "stat sizes");
	cairn_id missing = {{1, 2, 3}};
	is_int(cairn_content_open(s, &missing, &c), CAIRN_E_NOTFOUND, "open missing: NOTFOUND");
	is_int(cairn_content_stat(s, &missing, &size, NULL), CAIRN_E_NOTFOUND, "stat missing");
	cairn_error_free(err);
}

struct ext {
	uint64_t off[8], len[8];
	bool hole[8];
	int n;
};

static int walk_ext(uint64_t off, uint64_t len, bool hole, void *userdata)
{
	struct ext *e = userdata;
	if (e->n < 8) {
		e->off[e->n] = off;
		e->len[e->n] = len;
		e->hole[e->n] = hole;
	}
	e->n++;
	return 0;
}

static void test_holes(cairn_store *s)
{
	cairn_batch *b;
	cairn_content_writer *w;
	cairn_error *err = NULL;
	cairn_id id, id2;
	uint64_t size;
	struct cairn_store_usage u0, u1;
	size_t n = 300000;
	uint8_t *data = test_random(n, 7);

	cairn_store_usage(s, &u0);
	cairn_batch_new(s, &b);
	cairn_content_writer_new(b, &w);
	cairn_content_hole(w, 1 << 20);
	cairn_content_write(w, data, n);
	cairn_content_hole(w, 4096);
	cairn_content_hole(w, 1ull << 30); /* merged with the previous hole */
	cairn_content_write(w, "x", 1);
	cairn_content_hole(w, 5000);
	is_int(cairn_content_writer_finish(w, &id, &size), 0, "finish sparse content");
	is_int(size, (1 << 20) + n + 4096 + (1ull << 30) + 1 + 5000, "size counts holes");
	/* the same layout written with other splits */
	cairn_content_writer_new(b, &w);
	cairn_content_hole(w, 1 << 19);
	cairn_content_hole(w, 1 << 19);
	cairn_content_write(w, data, 1000);
	cairn_content_write(w, data + 1000, n - 1000);
	cairn_content_hole(w, 4096 + (1ull << 30));
	cairn_content_write(w, "x", 1);
	cairn_content_hole(w, 5000);
	cairn_content_writer_finish(w, &id2, NULL);
	ok(memcmp(&id, &id2, sizeof(id)) == 0, "hole layout, not call pattern, makes the id");
	is_int(cairn_batch_commit(b, &err), 0, "commit");
	cairn_batch_free(b);
	cairn_store_usage(s, &u1);
	ok(u1.chunk_bytes - u0.chunk_bytes == n + 1, "holes are not stored (%llu new chunk bytes)",
	   (unsigned long long) (u1.chunk_bytes - u0.chunk_bytes));

	cairn_content *c;
	cairn_content_open(s, &id, &c);
	uint8_t *got = malloc(n + 200);
	is_int(cairn_content_pread(c, got, 100, 0), 100, "read in leading hole");
	ok(test_all_zero(got, 100), "hole reads as zeros");
	is_int(cairn_content_pread(c, got, n + 200, (1 << 20) - 100), n + 200,
	       "read across hole/data");
	ok(test_all_zero(got, 100) && memcmp(got + 100, data, n) == 0 &&
	       test_all_zero(got + 100 + n, 100),
	   "bytes and zeros in place");
	uint64_t xoff = (1 << 20) + n + 4096 + (1ull << 30);
	is_int(cairn_content_pread(c, got, 10, xoff - 2), 10, "read around the x");
	ok(got[0] == 0 && got[1] == 0 && got[2] == 'x' && test_all_zero(got + 3, 7), "x in place");

	struct ext e = {0};
	is_int(cairn_content_extents(c, walk_ext, &e), 0, "extents");
	is_int(e.n, 5, "five extents");
	ok(e.hole[0] && e.off[0] == 0 && e.len[0] == 1 << 20, "hole 1");
	ok(!e.hole[1] && e.off[1] == 1 << 20 && e.len[1] == n, "data run merged into one extent");
	ok(e.hole[2] && e.len[2] == 4096 + (1ull << 30), "adjacent holes merged");
	ok(!e.hole[3] && e.len[3] == 1 && e.hole[4] && e.len[4] == 5000, "tail");
	cairn_content_free(c);

	uint64_t dbytes;
	cairn_content_stat(s, &id, &size, &dbytes);
	ok(dbytes == n + 1, "stat data bytes exclude holes");
	free(got);
	free(data);
	cairn_error_free(err);
}

static void test_helpers(void)
{
	cairn_id id, back;
	char hex[33], dhex[65];
	for (int i = 0; i < 16; i++)
		id.b[i] = (uint8_t) (i * 17);
	cairn_id_hex(&id, hex);
	is_str(hex, "00112233445566778899aabbccddeeff", "id hex");
	is_int(cairn_id_parse(hex, &back), 0, "id parse");
	ok(memcmp(&id, &back, sizeof(id)) == 0, "round trip");
	is_int(cairn_id_parse("00112233", &back), -EINVAL, "short id refused");
	is_int(cairn_id_parse("0011223344556677889gaabbccddeeff", &back), -EINVAL, "bad digit");
	ok(!cairn_id_is_zero(&id), "not zero");
	cairn_id z = {{0}};
	ok(cairn_id_is_zero(&z), "zero");

	cairn_digest d;
	for (int i = 0; i < 32; i++)
		d.b[i] = (uint8_t) (255 - i);
	cairn_digest_hex(&d, dhex);
	char *str = cairn_digest_string(&d);
	ok(strncmp(str, "sha256:", 7) == 0 && strcmp(str + 7, dhex) == 0, "digest string");
	cairn_digest d2;
	is_int(cairn_digest_parse(str, false, &d2), 0, "digest parse");
	ok(memcmp(&d, &d2, sizeof(d)) == 0, "digest round trip");
	is_int(cairn_digest_parse(dhex, false, &d2), -EINVAL, "bare refused without allow_bare");
	is_int(cairn_digest_parse(dhex, true, &d2), 0, "bare accepted with allow_bare");
	is_int(cairn_digest_parse("sha512:00", true, &d2), -EINVAL, "other algorithm refused");
	free(str);

	cairn_idset *set = cairn_idset_new();
	is_int(cairn_idset_add(set, &id), 1, "idset add new");
	is_int(cairn_idset_add(set, &id), 0, "idset add again");
	is_int(cairn_idset_add(set, &z), 1, "zero id is a member like any other");
	ok(cairn_idset_has(set, &z) && cairn_idset_has(set, &id), "has");
	for (int i = 0; i < 10000; i++) {
		cairn_id x = {{0}};
		memcpy(x.b, &i, sizeof(i));
		x.b[15] = 1;
		cairn_idset_add(set, &x);
	}
	is_int(cairn_idset_count(set), 10002, "count after growth");
	cairn_id x = {{0}};
	int i = 4321;
	memcpy(x.b, &i, sizeof(i));
	x.b[15] = 1;
	ok(cairn_idset_has(set, &x), "member after growth");
	x.b[15] = 2;
	ok(!cairn_idset_has(set, &x), "non-member");
	cairn_idset_free(set);
}

int main(void)
{
	const char *dir = tap_tmpdir();
	char root[4200];
	cairn_store *s;
	cairn_error *err = NULL;

	test_open(dir);
	test_default_root();
	test_helpers();
	snprintf(root, sizeof(root), "%s/store", dir);
	if (cairn_store_open(root, NULL, &s, &err) < 0) {
		ok(0, "open: %s", err ? err->msg : "?");
		return tap_done();
	}
	test_records(s);
	test_contents(s);
	test_holes(s);
	struct cairn_fsck_stats st;
	is_int(cairn_store_fsck(s, test_report, NULL, &st), 0, "fsck clean");
	is_int(st.garbage_chunks, 0, "no garbage");
	cairn_store_free(s);
	return tap_done();
}
