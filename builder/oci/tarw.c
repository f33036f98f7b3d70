/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A minimal deterministic ustar writer for the outer archives of `save`
 * (OCI archive, Docker archive): fixed owner (0:0, no names), fixed modes
 * (0644 files, 0755 directories), one mtime for every entry, no PAX
 * records.  Sizes beyond the octal field use the base-256 form that GNU
 * tar, libarchive and Go's archive/tar read.
 */
#include "oci-internal.h"

#define BLOCK 512

struct ustar {
	char name[100], mode[8], uid[8], gid[8], size[12], mtime[12], chksum[8];
	char typeflag, linkname[100], magic[6], version[2], uname[32], gname[32];
	char devmajor[8], devminor[8], prefix[155], pad[12];
};
_Static_assert(sizeof(struct ustar) == BLOCK, "ustar header size");

static void octal(char *field, size_t width, uint64_t v)
{
	field[width - 1] = 0;
	for (size_t i = width - 1; i-- > 0; v >>= 3)
		field[i] = (char) ('0' + (v & 7));
}

static void number(char *field, size_t width, uint64_t v)
{
	if (v < (1ull << (3 * (width - 1)))) {
		octal(field, width, v);
		return;
	}
	memset(field, 0, width);
	field[0] = (char) 0x80;
	for (size_t i = width - 1; i > 0 && v; i--, v >>= 8)
		field[i] = (char) (v & 0xff);
}

static int split_name(struct ustar *h, const char *name)
{
	size_t len = strlen(name);
	if (len <= sizeof(h->name)) {
		memcpy(h->name, name, len);
		return 0;
	}
	for (size_t i = len; i-- > 0;) {
		if (name[i] != '/' || i > sizeof(h->prefix) || len - i - 1 > sizeof(h->name))
			continue;
		memcpy(h->prefix, name, i);
		memcpy(h->name, name + i + 1, len - i - 1);
		return 0;
	}
	return -ENAMETOOLONG;
}

static int tarw_header(tarw *t, const char *name, char type, uint32_t mode, uint64_t size)
{
	struct ustar h;
	memset(&h, 0, sizeof(h));
	if (t->left)
		return -EINVAL;
	int r = split_name(&h, name);
	if (r < 0)
		return r;
	octal(h.mode, sizeof(h.mode), mode);
	octal(h.uid, sizeof(h.uid), 0);
	octal(h.gid, sizeof(h.gid), 0);
	number(h.size, sizeof(h.size), size);
	number(h.mtime, sizeof(h.mtime), (uint64_t) (t->mtime > 0 ? t->mtime : 0));
	h.typeflag = type;
	memcpy(h.magic, "ustar", 6);
	memcpy(h.version, "00", 2);
	memset(h.chksum, ' ', sizeof(h.chksum));
	unsigned sum = 0;
	for (size_t i = 0; i < BLOCK; i++)
		sum += ((unsigned char *) &h)[i];
	snprintf(h.chksum, sizeof(h.chksum), "%06o", sum);
	t->left = size;
	t->pad = (BLOCK - size % BLOCK) % BLOCK;
	return cairn_writer_write(t->out, &h, sizeof(h));
}

int tarw_dir(tarw *t, const char *name)
{
	_cleanup_free_ char *n = NULL;
	if (asprintf(&n, "%s/", name) < 0)
		return -ENOMEM;
	return tarw_header(t, n, '5', 0755, 0);
}

int tarw_file(tarw *t, const char *name, uint64_t size)
{
	return tarw_header(t, name, '0', 0644, size);
}

int tarw_data(tarw *t, const void *data, size_t len)
{
	if (len > t->left)
		return -EFBIG;
	t->left -= len;
	return cairn_writer_write(t->out, data, len);
}

int tarw_write_fn(void *userdata, const void *data, size_t len)
{
	return tarw_data(userdata, data, len);
}

int tarw_file_end(tarw *t)
{
	static const char zeros[BLOCK];
	if (t->left)
		return -EIO;
	int r = cairn_writer_write(t->out, zeros, t->pad);
	t->pad = 0;
	return r;
}

int tarw_finish(tarw *t)
{
	static const char zeros[2 * BLOCK];
	if (t->left)
		return -EIO;
	return cairn_writer_write(t->out, zeros, sizeof(zeros));
}
