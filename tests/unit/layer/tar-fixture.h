/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_TAR_FIXTURE_H
#define CAIRN_TAR_FIXTURE_H

/* A tar with every kind of entry the layer model holds, built with
 * libarchive's pax writer. */

#include "layer-test.h"

/* security.capability v2: cap_net_bind_service+ep */
static const char fx_cap[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
/* system.posix_acl_access: user::rw- user:1000:r-- group::r-- mask::r-- other::r-- */
static const char fx_acl[44] = {
    0x02,	 0x00,	      0x00,	   0x00,	0x01, 0x00, 0x06, 0x00,
    (char) 0xff, (char) 0xff, (char) 0xff, (char) 0xff, 0x02, 0x00, 0x04, 0x00,
    (char) 0xe8, 0x03,	      0x00,	   0x00,	0x04, 0x00, 0x04, 0x00,
    (char) 0xff, (char) 0xff, (char) 0xff, (char) 0xff, 0x10, 0x00, 0x04, 0x00,
    (char) 0xff, (char) 0xff, (char) 0xff, (char) 0xff, 0x20, 0x00, 0x04, 0x00,
    (char) 0xff, (char) 0xff, (char) 0xff, (char) 0xff,
};

#define FX_BIG_LEN (1 << 20)
#define FX_SPARSE_SIZE (1ull << 30)

static uint8_t *fx_big(void)
{
	static uint8_t *big;
	if (!big) {
		big = malloc(FX_BIG_LEN);
		uint64_t x = 88172645463325252ull;
		for (size_t i = 0; i < FX_BIG_LEN; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			big[i] = (uint8_t) x;
		}
	}
	return big;
}

/* The deep path: 21 components of 200 bytes (> 4096 bytes in all). */
static const char *fx_deep_path(void)
{
	static char p[21 * 201 + 16];
	if (!p[0]) {
		char *o = p;
		for (int i = 0; i < 21; i++) {
			memset(o, 'a' + i, 200);
			o[200] = '/';
			o += 201;
		}
		strcpy(o, "deep-file");
	}
	return p;
}

static const char *fx_long_name(void)
{
	static char p[300];
	if (!p[0]) {
		strcpy(p, "long/");
		memset(p + 5, 'L', 255);
		p[260] = 0;
	}
	return p;
}

static const uint64_t fx_sparse_map[] = {0, 4096, 512ull << 20, 4096};

static void fx_build(bytebuf *out, bool with_sparse)
{
	struct tb t;
	tb_open(&t, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
	const char *hello = "hello, world\n";
	struct tb_entry list[] = {
	    {.path = "./", .type = AE_IFDIR, .mode = 0755, .mtime = 1700000000, .nsec = 123456789},
	    {.path = "etc/", .type = AE_IFDIR, .mode = 0755, .mtime = 1600000000},
	    {.path = "etc/hello",
	     .type = AE_IFREG,
	     .mode = 0644,
	     .data = hello,
	     .len = strlen(hello),
	     .uid = 1000,
	     .gid = 1000,
	     .mtime = 1700000001,
	     .nsec = 5},
	    {.path = "etc/link", .type = AE_IFLNK, .mode = 0777, .link = "hello"},
	    {.path = "etc/hard", .type = 0, .link = "etc/hello"},
	    {.path = "./etc//hard2", .type = 0, .link = "./etc/hard"},
	    {.path = "etc/.wh.shadow", .type = AE_IFREG, .mode = 0, .mtime = 42},
	    {.path = "etc/empty", .type = AE_IFREG, .mode = 0600},
	    {.path = "usr/bin/ping",
	     .type = AE_IFREG,
	     .mode = 04755,
	     .data = "ELF",
	     .len = 3,
	     .xattr_name = {"security.capability", "user.note"},
	     .xattr_value = {fx_cap, "a\nb\0c"},
	     .xattr_len = {sizeof(fx_cap), 5}},
	    {.path = "usr/bin/sgid",
	     .type = AE_IFREG,
	     .mode = 02711,
	     .uid = 4000000000ll,
	     .gid = 3000000000ll},
	    {.path = "usr/share/acl",
	     .type = AE_IFREG,
	     .mode = 0644,
	     .xattr_name = {"system.posix_acl_access"},
	     .xattr_value = {fx_acl},
	     .xattr_len = {sizeof(fx_acl)}},
	    {.path = "tmp/", .type = AE_IFDIR, .mode = 01777, .mtime = -1},
	    {.path = "dev/null", .type = AE_IFCHR, .mode = 0666, .major = 1, .minor = 3},
	    {.path = "dev/sda", .type = AE_IFBLK, .mode = 0660, .major = 8, .minor = 0, .gid = 6},
	    {.path = "run/fifo", .type = AE_IFIFO, .mode = 0600},
	    {.path = "names/caf\xc3\xa9 na\xc3\xafve.txt", .type = AE_IFREG, .data = "u", .len = 1},
	    {.path = "names/new\nline", .type = AE_IFREG},
	    {.path = "names/bad\xff", .type = AE_IFREG},
	    {.path = "names/with space", .type = AE_IFDIR, .mode = 0700},
	    {.path = "var/cache/.wh..wh..opq", .type = AE_IFREG},
	    {.path = "var/cache/", .type = AE_IFDIR, .mode = 0755, .mtime = 77},
	    {.path = "var/cache/new", .type = AE_IFREG},
	    {.path = "var/lib/.wh..wh..opq", .type = AE_IFREG},
	    {.path = "big", .type = AE_IFREG, .data = fx_big(), .len = FX_BIG_LEN},
	    {.path = fx_long_name(), .type = AE_IFREG, .data = "x", .len = 1},
	    {.path = fx_deep_path(), .type = AE_IFREG, .data = "deep", .len = 4},
	};
	for (size_t i = 0; i < ARRAY_SIZE(list); i++)
		tb_add(&t, &list[i]);
	if (with_sparse)
		tb_sparse(&t, "sparse", FX_SPARSE_SIZE, fx_sparse_map, 2, 's');
	tb_close(&t);
	*out = t.out;
}

/* Number of entries the fixture's layer has: the list above, minus the
 * two opaque markers, plus the synthesized var/lib, plus the sparse file. */
#define FX_ENTRIES(with_sparse) (26 - 2 + 1 + ((with_sparse) ? 1 : 0))

#endif
