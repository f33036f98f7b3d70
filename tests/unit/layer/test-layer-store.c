/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Layers in a store: the builder (canonical order and hardlink groups,
 * whatever the order of adds), open/lookup/info/mark, refusals, damaged
 * tables. */
#include "layer-test.h"

static cairn_id content_of(cairn_store *s, const char *text)
{
	cairn_batch *b;
	cairn_id id = {{0}};
	cairn_batch_new(s, &b);
	cairn_batch_put_content(b, text, strlen(text), &id);
	cairn_batch_commit(b, NULL);
	cairn_batch_free(b);
	return id;
}

/* Builds a layer from entries added in the order given by idx. */
static int build(cairn_store *s, const cairn_entry *e, const size_t *idx, size_t n, cairn_id *ret,
		 char **ret_msg)
{
	cairn_batch *b;
	cairn_layer_builder *lb;
	cairn_error *err = NULL;
	int r = cairn_batch_new(s, &b);
	if (r >= 0)
		r = cairn_layer_builder_new(b, &lb);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = cairn_layer_builder_add(lb, &e[idx ? idx[i] : i]);
	if (r >= 0)
		r = cairn_layer_builder_finish(lb, ret, &err);
	else
		cairn_layer_builder_free(lb);
	if (r >= 0)
		r = cairn_batch_commit(b, &err);
	cairn_batch_free(b);
	if (ret_msg)
		*ret_msg = err && err->msg ? strdup(err->msg) : NULL;
	cairn_error_free(err);
	return r;
}

static void test_build_and_read(cairn_store *s)
{
	cairn_id c1 = content_of(s, "hello world"), c2 = content_of(s, "other");
	cairn_xattr xs[] = {{"user.a", "1", 1}, {"user.b", "22", 2}};
	cairn_entry e[] = {
	    {.path = "usr", .type = CAIRN_ENTRY_DIR, .mode = 0755, .opaque = true},
	    {.path = "usr/bin/x",
	     .type = CAIRN_ENTRY_REG,
	     .mode = 0755,
	     .size = 11,
	     .has_content = true,
	     .content = c1,
	     .nlink_group = 7,
	     .n_xattrs = 2,
	     .xattrs = xs},
	    {.path = "usr/bin/y",
	     .type = CAIRN_ENTRY_REG,
	     .mode = 0755,
	     .size = 11,
	     .has_content = true,
	     .content = c1,
	     .nlink_group = 7,
	     .n_xattrs = 2,
	     .xattrs = xs},
	    {.path = "a",
	     .type = CAIRN_ENTRY_REG,
	     .size = 5,
	     .has_content = true,
	     .content = c2,
	     .nlink_group = 3},
	    {.path = "z",
	     .type = CAIRN_ENTRY_REG,
	     .size = 5,
	     .has_content = true,
	     .content = c2,
	     .nlink_group = 3},
	    {.path = "lonely", .type = CAIRN_ENTRY_FIFO, .nlink_group = 9},
	    {.path = "usr/gone", .type = CAIRN_ENTRY_WHITEOUT},
	    {.path = "usr/bin", .type = CAIRN_ENTRY_DIR, .mode = 0755},
	};
	size_t n = ARRAY_SIZE(e);
	size_t order2[] = {7, 6, 5, 4, 3, 2, 1, 0};
	cairn_id id1, id2;
	char *msg = NULL;
	is_int(build(s, e, NULL, n, &id1, &msg), 0, "build: %s", msg ? msg : "ok");
	free(msg);
	is_int(build(s, e, order2, n, &id2, NULL), 0, "build in another order");
	ok(memcmp(&id1, &id2, sizeof(id1)) == 0, "same entries, same layer id");
	/* other group numbers, same layer */
	e[1].nlink_group = e[2].nlink_group = 1;
	e[3].nlink_group = e[4].nlink_group = 100;
	e[5].nlink_group = 0;
	is_int(build(s, e, NULL, n, &id2, NULL), 0, "build with other group numbers");
	ok(memcmp(&id1, &id2, sizeof(id1)) == 0, "group numbers do not change the id");

	cairn_layer *l = NULL;
	cairn_error *err = NULL;
	is_int(cairn_layer_open(s, &id1, &l, &err), 0, "open");
	if (!l)
		return;
	is_int(cairn_layer_count(l), n, "count");
	const char *want[] = {"a",	 "lonely",    "usr",	   "usr/gone",
			      "usr/bin", "usr/bin/x", "usr/bin/y", "z"};
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += strcmp(cairn_layer_entry(l, i)->path, want[i]) != 0;
	is_int(bad, 0, "canonical order (whiteout usr/gone before usr/bin)");
	ok(cairn_layer_entry(l, 0)->nlink_group == 1 && cairn_layer_entry(l, 7)->nlink_group == 1,
	   "group of a, z is 1 (first in canonical order)");
	ok(cairn_layer_entry(l, 5)->nlink_group == 2 && cairn_layer_entry(l, 6)->nlink_group == 2,
	   "group of usr/bin/x, y is 2");
	is_int(cairn_layer_entry(l, 1)->nlink_group, 0, "a group of one is no group");
	const cairn_entry *x = cairn_layer_lookup(l, "usr/bin/y");
	ok(x && x->n_xattrs == 2 && strcmp(x->xattrs[1].name, "user.b") == 0 &&
	       x->xattrs[1].len == 2,
	   "lookup: xattrs of a later group member");
	ok(cairn_layer_lookup(l, "usr/gone") &&
	       cairn_layer_lookup(l, "usr/gone")->type == CAIRN_ENTRY_WHITEOUT,
	   "lookup of a whiteout");
	ok(cairn_layer_lookup(l, "usr")->opaque, "opaque flag kept");
	ok(!cairn_layer_lookup(l, "usr/bi"), "lookup of a missing path");
	cairn_layer_free(l);

	struct cairn_layer_info info;
	is_int(cairn_layer_info(s, &id1, &info), 0, "info");
	is_int(info.entries, n, "info: entries");
	is_int(info.file_bytes, 16, "info: file bytes count each hardlink group once");
	ok(memcmp(&info.table, &id1, sizeof(id1)) == 0, "info: table is the layer id");

	cairn_idset *set = cairn_idset_new();
	is_int(cairn_layer_mark(s, &id1, set, &err), 0, "mark");
	ok(cairn_idset_count(set) == 3 && cairn_idset_has(set, &id1) && cairn_idset_has(set, &c1) &&
	       cairn_idset_has(set, &c2),
	   "mark: table and both contents");
	cairn_idset_free(set);
	cairn_error_free(err);
}

static void test_refusals(cairn_store *s)
{
	cairn_entry e[] = {
	    {.path = "a", .type = CAIRN_ENTRY_REG},
	    {.path = "a", .type = CAIRN_ENTRY_FIFO},
	};
	cairn_id id;
	char *msg = NULL;
	size_t before = count_records(s, CAIRN_T_LAYERS);
	is_int(build(s, e, NULL, 2, &id, &msg), -EEXIST, "duplicate path: %s", msg ? msg : "");
	free(msg);
	e[1].type = CAIRN_ENTRY_WHITEOUT;
	is_int(build(s, e, NULL, 2, &id, &msg), -EEXIST, "whiteout and entry of one path: %s",
	       msg ? msg : "");
	free(msg);
	cairn_entry bad = {.path = "/abs", .type = CAIRN_ENTRY_DIR};
	is_int(build(s, &bad, NULL, 1, &id, &msg), -EINVAL, "invalid path: %s", msg ? msg : "");
	free(msg);
	cairn_entry h[] = {
	    {.path = "h1", .type = CAIRN_ENTRY_FIFO, .nlink_group = 1, .mode = 0600},
	    {.path = "h2", .type = CAIRN_ENTRY_FIFO, .nlink_group = 1, .mode = 0644},
	};
	is_int(build(s, h, NULL, 2, &id, &msg), -EINVAL, "hardlinks that differ: %s",
	       msg ? msg : "");
	free(msg);
	is_int(count_records(s, CAIRN_T_LAYERS), before, "refused layers leave no record");

	cairn_id missing = {{0xde, 0xad}};
	cairn_layer *l = NULL;
	cairn_error *err = NULL;
	is_int(cairn_layer_open(s, &missing, &l, &err), CAIRN_E_NOTFOUND, "unknown layer: %s",
	       err ? err->msg : "");
	cairn_error_free(err);
}

static void test_empty_and_damaged(cairn_store *s)
{
	cairn_id id;
	is_int(build(s, NULL, NULL, 0, &id, NULL), 0, "empty layer");
	cairn_layer *l = NULL;
	ok(cairn_layer_open(s, &id, &l, NULL) == 0 && cairn_layer_count(l) == 0,
	   "empty layer opens");
	cairn_layer_free(l);

	/* a record whose table is garbage */
	const char *garbage = "\x01\x05not a table at all";
	cairn_batch *b;
	cairn_id gid;
	cairn_batch_new(s, &b);
	cairn_batch_put_content(b, garbage, strlen(garbage), &gid);
	uint8_t rec[18] = {1};
	memcpy(rec + 1, gid.b, 16);
	cairn_batch_put(b, CAIRN_T_LAYERS, gid.b, 16, rec, sizeof(rec));
	cairn_batch_commit(b, NULL);
	cairn_batch_free(b);
	cairn_error *err = NULL;
	l = NULL;
	is_int(cairn_layer_open(s, &gid, &l, &err), CAIRN_E_CORRUPT, "damaged table: %s",
	       err ? err->msg : "");
	ok(l == NULL, "no layer returned");
	cairn_error_free(err);

	/* a layer staged but not committed is not visible */
	cairn_entry e = {.path = "only-in-batch", .type = CAIRN_ENTRY_FIFO};
	cairn_layer_builder *lb;
	cairn_batch_new(s, &b);
	cairn_layer_builder_new(b, &lb);
	cairn_layer_builder_add(lb, &e);
	cairn_layer_builder_finish(lb, &id, NULL);
	cairn_batch_free(b);
	struct cairn_layer_info info;
	is_int(cairn_layer_info(s, &id, &info), CAIRN_E_NOTFOUND, "abandoned batch: no layer");
}

int main(void)
{
	cairn_store *s = test_store("store");
	test_build_and_read(s);
	test_refusals(s);
	test_empty_and_damaged(s);
	is_int(fsck_problems(s), 0, "fsck clean");
	cairn_store_free(s);
	return tap_done();
}
