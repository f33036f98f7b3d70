/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hostile and broken archives: each is refused with a one-line message
 * naming the archive and the entry, and the store is left as it was
 * (no new layer records, fsck clean). */
#include "tar-fixture.h"

static cairn_store *s;

/* A raw ustar header block with a valid checksum. */
static void raw_header(bytebuf *out, const char *name, char type, const char *size_octal)
{
	uint8_t b[512] = {0};
	memcpy(b, name, strlen(name));
	memcpy(b + 100, "0000644", 7);
	memcpy(b + 108, "0000000", 7);
	memcpy(b + 116, "0000000", 7);
	memcpy(b + 124, size_octal, strlen(size_octal));
	memcpy(b + 136, "00000000000", 11);
	b[156] = (uint8_t) type;
	memcpy(b + 257,
	       "ustar\0"
	       "00",
	       8);
	memset(b + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += b[i];
	snprintf((char *) b + 148, 8, "%06o", sum);
	buf_append(out, b, 512);
}

static void tar_of(bytebuf *out, const struct tb_entry *list, size_t n)
{
	struct tb t;
	tb_open(&t, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	for (size_t i = 0; i < n; i++)
		tb_add(&t, &list[i]);
	tb_close(&t);
	*out = t.out;
}

static void refuse(const char *what, const bytebuf *tar, int code, const char *msg_part)
{
	char *msg = NULL;
	int r = import_mem(s, tar->data, tar->len, 0, NULL, &msg);
	ok(r == code && msg && strstr(msg, msg_part) && !strchr(msg, '\n'),
	   "%s: refused (%s) with \"%s\"", what, cairn_strerror(r), msg ? msg : "(no message)");
	if (msg && !strstr(msg, msg_part))
		tap_diag("wanted a message with \"%s\"", msg_part);
	free(msg);
}

#define REFUSE(what, code, part, ...)                                                              \
	do {                                                                                       \
		struct tb_entry l_[] = {__VA_ARGS__};                                              \
		bytebuf t_;                                                                        \
		tar_of(&t_, l_, ARRAY_SIZE(l_));                                                   \
		refuse(what, &t_, code, part);                                                     \
		buf_clear(&t_);                                                                    \
	} while (0)

static void test_paths(void)
{
	REFUSE("absolute path", CAIRN_E_UNSAFE, "test.tar: entry \"/etc/passwd\": absolute path",
	       {.path = "/etc/passwd", .type = AE_IFREG});
	/* only the root itself may be written absolutely ("/", "/.") */
	REFUSE("absolute directory", CAIRN_E_UNSAFE, "test.tar: entry \"/etc/\": absolute path",
	       {.path = "/etc/", .type = AE_IFDIR});
	REFUSE("absolute with a double slash", CAIRN_E_UNSAFE,
	       "entry \"//etc/passwd\": absolute path", {.path = "//etc/passwd", .type = AE_IFREG});
	REFUSE("absolute ..", CAIRN_E_UNSAFE, "entry \"/../\": absolute path",
	       {.path = "/..", .type = AE_IFDIR});
	REFUSE("absolute after a root entry", CAIRN_E_UNSAFE,
	       "entry \"/etc/passwd\": absolute path", {.path = "/", .type = AE_IFDIR},
	       {.path = "/etc/passwd", .type = AE_IFREG});
	REFUSE("root written twice", CAIRN_E_FORMAT, "entry \"./\": duplicate entry",
	       {.path = "/", .type = AE_IFDIR}, {.path = "./", .type = AE_IFDIR});
	REFUSE("root as a file, written absolutely", CAIRN_E_FORMAT, "root is not a directory",
	       {.path = "/.", .type = AE_IFREG});
	REFUSE("../ at the start", CAIRN_E_UNSAFE,
	       "test.tar: entry \"../etc/passwd\": path escapes the root",
	       {.path = "../etc/passwd", .type = AE_IFREG});
	REFUSE("a/../../x", CAIRN_E_UNSAFE, "entry \"a/../../x\": path contains a \"..\"",
	       {.path = "a/../../x", .type = AE_IFREG});
	REFUSE("whiteout of ..", CAIRN_E_UNSAFE, "whiteout escapes its directory",
	       {.path = "a/.wh...", .type = AE_IFREG});
	REFUSE("entry through a symlink", CAIRN_E_UNSAFE,
	       "entry \"link/passwd\": path goes through the symlink \"link\"",
	       {.path = "link", .type = AE_IFLNK, .link = "/etc"},
	       {.path = "link/passwd", .type = AE_IFREG, .data = "x", .len = 1});
	REFUSE("whiteout through a symlink", CAIRN_E_UNSAFE, "goes through the symlink",
	       {.path = "l", .type = AE_IFLNK, .link = "/"},
	       {.path = "l/etc/.wh.passwd", .type = AE_IFREG});
	REFUSE("opaque marker through a symlink", CAIRN_E_UNSAFE, "goes through the symlink",
	       {.path = "l", .type = AE_IFLNK, .link = "/"},
	       {.path = "l/x/.wh..wh..opq", .type = AE_IFREG});
	REFUSE("duplicate entry", CAIRN_E_FORMAT, "entry \"./a\": duplicate entry",
	       {.path = "a", .type = AE_IFREG}, {.path = "./a", .type = AE_IFREG});
	REFUSE("entry below a file", CAIRN_E_FORMAT, "parent \"f\" is not a directory",
	       {.path = "f", .type = AE_IFREG}, {.path = "f/x", .type = AE_IFREG});
	REFUSE("file over a directory with children", CAIRN_E_FORMAT,
	       "replaces a directory with entries below it", {.path = "d/x", .type = AE_IFREG},
	       {.path = "d", .type = AE_IFLNK, .link = "/"});
	REFUSE("root as a file", CAIRN_E_FORMAT, "root is not a directory",
	       {.path = ".", .type = AE_IFREG});
	REFUSE("whiteout as a directory", CAIRN_E_FORMAT, "whiteout used as a directory",
	       {.path = ".wh.x/y", .type = AE_IFREG});
}

static void test_links(void)
{
	REFUSE("hardlink to a missing path", CAIRN_E_UNSAFE,
	       "entry \"h\": hardlink to \"etc/shadow\", not an earlier entry",
	       {.path = "h", .type = 0, .link = "etc/shadow"});
	REFUSE("hardlink to an absolute path", CAIRN_E_UNSAFE,
	       "entry \"h\": hardlink target: absolute path",
	       {.path = "h", .type = 0, .link = "/etc/shadow"});
	REFUSE("hardlink to a later entry", CAIRN_E_UNSAFE, "hardlink to \"later\", not an earlier",
	       {.path = "h", .type = 0, .link = "later"}, {.path = "later", .type = AE_IFREG});
	REFUSE("hardlink escaping", CAIRN_E_UNSAFE, "hardlink target: path escapes the root",
	       {.path = "h", .type = 0, .link = "../../etc/passwd"});
	REFUSE("hardlink to a directory", CAIRN_E_FORMAT, "hardlink to a directory",
	       {.path = "d/", .type = AE_IFDIR}, {.path = "h", .type = 0, .link = "d"});
	REFUSE("hardlink to a whiteout", CAIRN_E_UNSAFE, "not an earlier entry",
	       {.path = ".wh.w", .type = AE_IFREG}, {.path = "h", .type = 0, .link = "w"});
}

static void test_broken(void)
{
	bytebuf good, t = {0};
	struct tb_entry l[] = {
	    {.path = "usr/bin/x", .type = AE_IFREG, .data = fx_big(), .len = 300000},
	};
	tar_of(&good, l, 1);

	bytebuf cut = {.data = good.data, .len = 512 + 100000};
	refuse("truncated tar", &cut, CAIRN_E_FORMAT,
	       "test.tar: entry \"usr/bin/x\": archive truncated");
	cut.len = 300;
	refuse("truncated header", &cut, CAIRN_E_FORMAT, "archive truncated");

	cairn_writer *sink = cairn_writer_fn(mem_write, &t), *gz = NULL;
	cairn_writer_compress(sink, CAIRN_COMPRESS_GZIP, 0, &gz);
	cairn_writer_write(gz, good.data, good.len);
	cairn_writer_close(gz);
	cairn_writer_free(gz);
	cairn_writer_free(sink);
	cut = (bytebuf){.data = t.data, .len = t.len - 100};
	refuse("truncated gzip", &cut, CAIRN_E_FORMAT, "damaged gzip data: truncated gzip input");
	t.data[t.len / 2] ^= 0x55;
	refuse("corrupt gzip", &t, CAIRN_E_FORMAT, "damaged gzip data");
	buf_clear(&t);

	raw_header(&t, "huge", '0', "77777777777");
	buf_append(&t, fx_big(), 4096);
	refuse("absurd size", &t, CAIRN_E_FORMAT, "entry \"huge\": archive truncated");
	buf_clear(&t);

	raw_header(&t, "neg", '0', "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
	refuse("negative size", &t, CAIRN_E_FORMAT, "test.tar");
	buf_clear(&t);

	buf_append(&t, fx_big(), 5000);
	refuse("garbage", &t, CAIRN_E_FORMAT, "test.tar: not a tar archive");
	buf_clear(&t);

	raw_header(&t, "ok", '0', "00000000000");
	buf_append(&t, fx_big(), 1024);
	refuse("garbage after an entry", &t, CAIRN_E_FORMAT, "after entry \"ok\"");
	buf_clear(&t);
	buf_clear(&good);
}

int main(void)
{
	s = test_store("store");
	/* something real in the store first */
	bytebuf fx;
	fx_build(&fx, false);
	is_int(import_mem(s, fx.data, fx.len, 0, NULL, NULL), 0, "a good import first");
	buf_clear(&fx);
	size_t layers = count_records(s, CAIRN_T_LAYERS);
	test_paths();
	test_links();
	test_broken();
	is_int(count_records(s, CAIRN_T_LAYERS), layers, "no layer records added");
	is_int(fsck_problems(s), 0, "fsck clean after all refusals");
	cairn_store_free(s);
	return tap_done();
}
