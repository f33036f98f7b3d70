/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The layer model without a store: canonical order, path rules, the table
 * codec (round trip, exactly one encoding, and damaged tables refused). */
#include "layer-internal.h"
#include "layer-test.h"

static void test_path_order(void)
{
	/* the canonical walk: parents first, siblings bytewise */
	const char *sorted[] = {"",    "a",  "a/b", "a/b/c", "a/c", "a-b",
				"a.b", "a0", "b",   "b/a",   "ba",  "b\xc3\xa9"};
	size_t n = ARRAY_SIZE(sorted);
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			int c = cairn_path_compare(sorted[i], sorted[j]);
			int want = i < j ? -1 : i > j;
			if ((c < 0 ? -1 : c > 0) != want) {
				bad++;
				tap_diag("compare(%s, %s) = %d", sorted[i], sorted[j], c);
			}
		}
	is_int(bad, 0, "cairn_path_compare is the tree walk order");

	/* whiteouts before their siblings, whatever their names */
	cairn_entry d = {.path = "d", .type = CAIRN_ENTRY_DIR};
	cairn_entry dz = {.path = "d/z", .type = CAIRN_ENTRY_WHITEOUT};
	cairn_entry da = {.path = "d/a", .type = CAIRN_ENTRY_REG};
	cairn_entry dad = {.path = "d/a/x", .type = CAIRN_ENTRY_REG};
	cairn_entry dy = {.path = "d/y", .type = CAIRN_ENTRY_WHITEOUT};
	ok(cairn_entry_compare(&d, &dz) < 0, "dir before its whiteout child");
	ok(cairn_entry_compare(&dz, &da) < 0, "whiteout d/z before entry d/a");
	ok(cairn_entry_compare(&dz, &dad) < 0, "whiteout d/z before d/a/x");
	ok(cairn_entry_compare(&dy, &dz) < 0, "whiteouts sorted by name");
	ok(cairn_entry_compare(&da, &dad) < 0, "d/a before d/a/x");
	ok(cairn_entry_compare(&dz, &dz) == 0, "equal");
	ok(cairn_path_compare("d/z", "d/a") > 0, "path compare ignores whiteouts");
}

static void test_path_rules(void)
{
	static const struct {
		const char *p;
		bool valid;
	} cases[] = {
	    {"", true},
	    {"a", true},
	    {"a/b c/\xff\n", true},
	    {"/a", false},
	    {"a/", false},
	    {"a//b", false},
	    {"./a", false},
	    {"a/..", false},
	    {"a/.wh.x", false},
	    {".wh..wh..opq", false},
	    {"a/.whx", true},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *why = layer_path_invalid(cases[i].p, strlen(cases[i].p));
		ok(!why == cases[i].valid, "path case %zu: %s", i, why ? why : "valid");
	}
	char name[300];
	memset(name, 'n', sizeof(name));
	ok(layer_path_invalid(name, 255) == NULL, "255-byte name");
	ok(layer_path_invalid(name, 256) != NULL, "256-byte name refused");
}

static cairn_xattr xa[] = {
    {"security.capability", "\x01\x00\x00\x02\x00\x20\x00\x00\0\0\0\0\0\0\0\0\0\0\0\0", 20},
    {"user.empty", "", 0},
    {"user.x", "a\0b", 3},
};

static size_t sample(cairn_entry *e)
{
	size_t n = 0;
	e[n++] = (cairn_entry){.path = "", .type = CAIRN_ENTRY_DIR, .mode = 0755};
	e[n++] = (cairn_entry){.path = "bin",
			       .type = CAIRN_ENTRY_DIR,
			       .mode = 0755,
			       .opaque = true,
			       .mtime_sec = -5,
			       .mtime_nsec = 7};
	e[n++] = (cairn_entry){.path = "bin/gone", .type = CAIRN_ENTRY_WHITEOUT};
	e[n++] = (cairn_entry){.path = "bin/a",
			       .type = CAIRN_ENTRY_REG,
			       .mode = 04755,
			       .size = 5,
			       .has_content = true,
			       .content = {{1, 2, 3}},
			       .nlink_group = 1,
			       .uid = 4000000000u,
			       .gid = 7,
			       .n_xattrs = 3,
			       .xattrs = xa};
	e[n++] = (cairn_entry){.path = "bin/b",
			       .type = CAIRN_ENTRY_REG,
			       .mode = 04755,
			       .size = 5,
			       .has_content = true,
			       .content = {{1, 2, 3}},
			       .nlink_group = 1,
			       .uid = 4000000000u,
			       .gid = 7,
			       .n_xattrs = 3,
			       .xattrs = xa};
	e[n++] = (cairn_entry){
	    .path = "bin/c", .type = CAIRN_ENTRY_SYMLINK, .link = "a", .mtime_sec = INT64_MAX};
	e[n++] = (cairn_entry){.path = "dev", .type = CAIRN_ENTRY_DIR, .mode = 01777};
	e[n++] = (cairn_entry){
	    .path = "dev/null", .type = CAIRN_ENTRY_CHR, .mode = 0666, .rdev = makedev(1, 3)};
	e[n++] = (cairn_entry){.path = "dev/p", .type = CAIRN_ENTRY_FIFO};
	e[n++] = (cairn_entry){.path = "e", .type = CAIRN_ENTRY_REG};
	return n;
}

static void test_table_codec(void)
{
	cairn_entry e[16];
	size_t n = sample(e);
	bytebuf t = {0};
	is_int(layer_table_encode(e, n, &t), 0, "encode");
	arena a = {0};
	cairn_entry *d = NULL;
	size_t dn = 0;
	const char *why = NULL;
	int r = layer_table_decode(t.data, t.len, &a, &d, &dn, &why);
	is_int(r, 0, "decode: %s", why ? why : "ok");
	is_int(dn, n, "entry count");
	bool same = dn == n;
	for (size_t i = 0; same && i < n; i++)
		same = strcmp(d[i].path, e[i].path) == 0 && d[i].opaque == e[i].opaque &&
		       d[i].nlink_group == e[i].nlink_group && layer_entry_same_inode(&d[i], &e[i]);
	ok(same, "decoded entries equal the encoded ones");
	bytebuf t2 = {0};
	layer_table_encode(d, dn, &t2);
	ok(t2.len == t.len && memcmp(t2.data, t.data, t.len) == 0, "re-encoding is identical");
	ok(layer_find(d, dn, "bin/gone") == &d[2], "lookup of a whiteout");
	ok(layer_find(d, dn, "bin/c") == &d[5], "lookup of an entry");
	ok(layer_find(d, dn, "") == &d[0], "lookup of the root");
	ok(layer_find(d, dn, "bin/zz") == NULL, "lookup of a missing path");
	free(d);
	arena_free(&a);
	buf_clear(&t2);

	/* every truncation and every single-byte change: refused or valid, never a crash */
	int crashes_avoided = 0, refused = 0;
	for (size_t cut = 0; cut < t.len; cut++) {
		r = layer_table_decode(t.data, cut, &a, &d, &dn, &why);
		refused += r == CAIRN_E_CORRUPT;
		if (r >= 0)
			free(d);
		arena_free(&a);
	}
	is_int(refused, t.len, "every truncation is CAIRN_E_CORRUPT");
	for (size_t i = 0; i < t.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			t.data[i] ^= (uint8_t) (1 << bit);
			r = layer_table_decode(t.data, t.len, &a, &d, &dn, &why);
			if (r >= 0) {
				/* a valid table must re-encode to exactly these bytes */
				bytebuf t3 = {0};
				layer_table_encode(d, dn, &t3);
				if (t3.len != t.len || memcmp(t3.data, t.data, t.len) != 0)
					tap_diag("flip %zu/%d decodes to a different table", i,
						 bit);
				else
					crashes_avoided++;
				buf_clear(&t3);
				free(d);
			} else if (r != CAIRN_E_CORRUPT) {
				tap_diag("flip %zu/%d: %d", i, bit, r);
			} else {
				crashes_avoided++;
			}
			arena_free(&a);
			t.data[i] ^= (uint8_t) (1 << bit);
		}
	}
	is_int(crashes_avoided, t.len * 8, "bit flips: refused, or canonical");
	buf_clear(&t);
}

static void test_record_codec(void)
{
	struct cairn_layer_info in = {
	    .table = {{9, 8, 7}}, .entries = 12345, .file_bytes = 1ull << 40};
	struct cairn_layer_info out;
	bytebuf b = {0};
	layer_record_encode(&in, &b);
	ok(layer_record_decode(b.data, b.len, &out) == 0 && out.entries == in.entries &&
	       out.file_bytes == in.file_bytes &&
	       memcmp(&out.table, &in.table, sizeof(in.table)) == 0,
	   "record round trip");
	ok(layer_record_decode(b.data, b.len - 1, &out) == CAIRN_E_CORRUPT, "short record refused");
	b.data[0] = 9;
	ok(layer_record_decode(b.data, b.len, &out) == CAIRN_E_CORRUPT, "unknown version refused");
	buf_clear(&b);
}

static void test_entry_rules(void)
{
	cairn_entry e = {.path = "f", .type = CAIRN_ENTRY_REG, .size = 3};
	ok(layer_entry_invalid(&e) != NULL, "size without content refused");
	e.has_content = true;
	ok(layer_entry_invalid(&e) == NULL, "regular file ok");
	e.mode = 010000;
	ok(layer_entry_invalid(&e) != NULL, "mode beyond 07777 refused");
	e = (cairn_entry){.path = "d", .type = CAIRN_ENTRY_DIR, .nlink_group = 1};
	ok(layer_entry_invalid(&e) != NULL, "hardlinked directory refused");
	e = (cairn_entry){.path = "l", .type = CAIRN_ENTRY_SYMLINK};
	ok(layer_entry_invalid(&e) != NULL, "symlink without target refused");
	cairn_xattr bad[] = {{"user.b", "", 0}, {"user.a", "", 0}};
	e = (cairn_entry){.path = "x", .type = CAIRN_ENTRY_FIFO, .n_xattrs = 2, .xattrs = bad};
	ok(layer_entry_invalid(&e) != NULL, "unsorted xattrs refused");
	e = (cairn_entry){.path = "", .type = CAIRN_ENTRY_WHITEOUT};
	ok(layer_entry_invalid(&e) != NULL, "whiteout of the root refused");
}

int main(void)
{
	test_path_order();
	test_path_rules();
	test_table_codec();
	test_record_codec();
	test_entry_rules();
	return tap_done();
}
