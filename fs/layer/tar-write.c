/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tar encoder for layer export: POSIX ustar headers, preceded by a PAX
 * extended header only when a value does not fit ustar (long names and
 * link targets, ids >= 8^7, sizes >= 8^11, negative or nanosecond mtimes,
 * xattrs as SCHILY.xattr.NAME, GNU sparse 1.0 maps).
 *
 * Fixed choices, so output depends on nothing but the header values:
 * numbers are zero-padded octal with a NUL terminator, the checksum is
 * "%06o\0 ", uname/gname are empty, devmajor/devminor are always filled,
 * PAX records come in a fixed order (xattrs sorted by name), a PAX header
 * is named "PaxHeaders/BASENAME" with mode 0644, uid/gid 0 and the
 * entry's (clamped) ustar mtime.  Names too long for the ustar name field
 * are split into prefix + name as POSIX allows (the same rule as Go's
 * archive/tar), else written as a PAX path.  Non-ASCII bytes stay raw in
 * ustar fields; PAX values that are not UTF-8 get "hdrcharset=BINARY".
 * The archive ends with two zero blocks, no record padding (as Go's
 * archive/tar and Docker write layers).
 */
#include <inttypes.h>

#include "layer-internal.h"

#define BLOCK 512

/* ---- buffered output ------------------------------------------------------- */

int tar_out_flush(tar_out *o)
{
	if (o->len == 0)
		return 0;
	int r = cairn_writer_write(o->w, o->buf, o->len);
	o->len = 0;
	return r;
}

int tar_out_write(tar_out *o, const void *p, size_t len)
{
	if (o->len + len > sizeof(o->buf)) {
		int r = tar_out_flush(o);
		if (r < 0)
			return r;
		if (len >= sizeof(o->buf))
			return cairn_writer_write(o->w, p, len);
	}
	memcpy(o->buf + o->len, p, len);
	o->len += len;
	return 0;
}

int tar_out_zeros(tar_out *o, uint64_t len)
{
	while (len > 0) {
		if (o->len == sizeof(o->buf)) {
			int r = tar_out_flush(o);
			if (r < 0)
				return r;
		}
		size_t n = MIN(len, sizeof(o->buf) - o->len);
		memset(o->buf + o->len, 0, n);
		o->len += n;
		len -= n;
	}
	return 0;
}

int tar_write_pad(tar_out *o, uint64_t size)
{
	return tar_out_zeros(o, (BLOCK - size % BLOCK) % BLOCK);
}

int tar_write_end(tar_out *o)
{
	int r = tar_out_zeros(o, 2 * BLOCK);
	return r < 0 ? r : tar_out_flush(o);
}

/* ---- fields ---------------------------------------------------------------- */

/* width - 1 octal digits and a NUL; false if v does not fit. */
static bool put_octal(uint8_t *field, size_t width, uint64_t v)
{
	size_t digits = width - 1;
	if (digits < 22 && (v >> (3 * digits)) != 0)
		return false;
	for (size_t i = digits; i-- > 0; v >>= 3)
		field[i] = (uint8_t) ('0' + (v & 7));
	field[digits] = 0;
	return true;
}

static void put_checksum(uint8_t *blk)
{
	memset(blk + 148, ' ', 8);
	unsigned sum = 0;
	for (size_t i = 0; i < BLOCK; i++)
		sum += blk[i];
	snprintf((char *) blk + 148, 8, "%06o", sum);
	blk[155] = ' ';
}

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	while (*p) {
		unsigned char c = *p;
		size_t n = c < 0x80		? 0
			   : (c & 0xe0) == 0xc0 ? 1
			   : (c & 0xf0) == 0xe0 ? 2
			   : (c & 0xf8) == 0xf0 ? 3
						: 4;
		if (n == 4 || (n == 1 && c < 0xc2))
			return false;
		for (size_t i = 1; i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n + 1;
	}
	return true;
}

/* Splits a long name into ustar prefix and name; false if it cannot. */
static bool ustar_split(const char *name, size_t len, size_t *ret_prefix)
{
	size_t l = len > 156 ? 156 : name[len - 1] == '/' ? len - 1 : len;
	const char *slash = memrchr(name, '/', l);
	if (!slash || slash == name)
		return false;
	size_t plen = (size_t) (slash - name), nlen = len - plen - 1;
	if (nlen == 0 || nlen > 100 || plen > 155)
		return false;
	*ret_prefix = plen;
	return true;
}

/* ---- PAX records ------------------------------------------------------------ */

static int pax_add(bytebuf *b, const char *key, const void *val, size_t vlen)
{
	size_t base = 1 + strlen(key) + 1 + vlen + 1; /* " key=val\n" */
	size_t digits = 1;
	char num[24];
	while ((size_t) snprintf(num, sizeof(num), "%zu", base + digits) != digits)
		digits++;
	int r = buf_append(b, num, digits);
	r |= buf_put_u8(b, ' ');
	r |= buf_append(b, key, strlen(key));
	r |= buf_put_u8(b, '=');
	r |= buf_append(b, val, vlen);
	r |= buf_put_u8(b, '\n');
	return r ? -ENOMEM : 0;
}

static int pax_add_str(bytebuf *b, const char *key, const char *val)
{
	return pax_add(b, key, val, strlen(val));
}

static int pax_add_u64(bytebuf *b, const char *key, uint64_t v)
{
	char num[24];
	snprintf(num, sizeof(num), "%" PRIu64, v);
	return pax_add_str(b, key, num);
}

/* POSIX: the value is the time in seconds, with a fraction when needed
 * ("-1.25" is 1.25 s before the epoch). */
static int pax_add_time(bytebuf *b, int64_t sec, uint32_t nsec)
{
	char num[48];
	const char *sign = "";
	uint64_t s = (uint64_t) sec;
	if (sec < 0) {
		sign = "-";
		s = nsec ? (uint64_t) (-(sec + 1)) : (uint64_t) -sec;
		nsec = nsec ? 1000000000u - nsec : 0;
	}
	int n = snprintf(num, sizeof(num), "%s%" PRIu64 ".%09u", sign, s, nsec);
	while (num[n - 1] == '0')
		num[--n] = 0;
	if (num[n - 1] == '.')
		num[--n] = 0;
	return pax_add_str(b, "mtime", num);
}

/* ---- headers ----------------------------------------------------------------- */

static const char *base_name(const char *name, size_t *ret_len)
{
	size_t len = strlen(name);
	while (len > 0 && name[len - 1] == '/')
		len--;
	const char *slash = memrchr(name, '/', len);
	const char *base = slash ? slash + 1 : name;
	*ret_len = len - (size_t) (base - name);
	return base;
}

/* A name built from a directory-like prefix and the entry's base name,
 * cut to fit the 100-byte field. */
static void put_alias(uint8_t *field, const char *prefix, const char *name)
{
	size_t bl, pl = strlen(prefix);
	const char *base = base_name(name, &bl);
	if (bl == 0 || (bl == 1 && base[0] == '.'))
		base = "_", bl = 1;
	memcpy(field, prefix, pl);
	memcpy(field + pl, base, MIN(bl, 100 - pl));
}

static void put_ustar_common(uint8_t *blk, const struct tar_header *h, uint64_t size, char type)
{
	put_octal(blk + 100, 8, h->mode & 07777);
	put_octal(blk + 124, 12, size);
	blk[156] = (uint8_t) type;
	memcpy(blk + 257,
	       "ustar\0"
	       "00",
	       8);
	put_octal(blk + 329, 8, 0);
	put_octal(blk + 337, 8, 0);
}

static int write_pax_header(tar_out *o, const struct tar_header *h, uint64_t ustar_mtime,
			    const bytebuf *pax)
{
	uint8_t blk[BLOCK] = {0};
	put_alias(blk, "PaxHeaders/", h->name);
	put_ustar_common(blk, h, pax->len, 'x');
	memcpy(blk + 100, "0000644", 7);
	put_octal(blk + 108, 8, 0);
	put_octal(blk + 116, 8, 0);
	put_octal(blk + 136, 12, ustar_mtime);
	put_checksum(blk);
	int r = tar_out_write(o, blk, BLOCK);
	if (r >= 0)
		r = tar_out_write(o, pax->data, pax->len);
	return r < 0 ? r : tar_write_pad(o, pax->len);
}

/* Name and link fields; records what has to go to PAX. */
static int put_names(uint8_t *blk, const struct tar_header *h, bytebuf *pax, bool *binary)
{
	size_t nlen = strlen(h->name), plen;
	int r = 0;
	if (h->sparse) {
		put_alias(blk, "GNUSparseFile.0/", h->name);
		r |= pax_add_str(pax, "GNU.sparse.major", "1");
		r |= pax_add_str(pax, "GNU.sparse.minor", "0");
		r |= pax_add_str(pax, "GNU.sparse.name", h->name);
		r |= pax_add_u64(pax, "GNU.sparse.realsize", h->sparse_realsize);
		*binary |= !utf8_valid(h->name);
	} else if (nlen <= 100) {
		memcpy(blk, h->name, nlen);
	} else if (ustar_split(h->name, nlen, &plen)) {
		memcpy(blk + 345, h->name, plen);
		memcpy(blk, h->name + plen + 1, nlen - plen - 1);
	} else {
		memcpy(blk, h->name, 100);
		r |= pax_add_str(pax, "path", h->name);
		*binary |= !utf8_valid(h->name);
	}
	if (h->link) {
		size_t llen = strlen(h->link);
		memcpy(blk + 157, h->link, MIN(llen, (size_t) 100));
		if (llen > 100) {
			r |= pax_add_str(pax, "linkpath", h->link);
			*binary |= !utf8_valid(h->link);
		}
	}
	return r ? -ENOMEM : 0;
}

static int put_numbers(uint8_t *blk, const struct tar_header *h, bytebuf *pax, uint64_t *ret_mtime)
{
	int r = 0;
	if (!put_octal(blk + 124, 12, h->size)) {
		put_octal(blk + 124, 12, 0);
		r |= pax_add_u64(pax, "size", h->size);
	}
	if (!put_octal(blk + 108, 8, h->uid)) {
		put_octal(blk + 108, 8, 0);
		r |= pax_add_u64(pax, "uid", h->uid);
	}
	if (!put_octal(blk + 116, 8, h->gid)) {
		put_octal(blk + 116, 8, 0);
		r |= pax_add_u64(pax, "gid", h->gid);
	}
	uint64_t mt = h->mtime < 0 ? 0 : (uint64_t) h->mtime;
	if (!put_octal(blk + 136, 12, mt))
		put_octal(blk + 136, 12, mt = 077777777777);
	if (h->mtime < 0 || mt != (uint64_t) h->mtime || h->mtime_nsec)
		r |= pax_add_time(pax, h->mtime, h->mtime_nsec);
	if (!put_octal(blk + 329, 8, h->devmajor)) {
		put_octal(blk + 329, 8, 0);
		r |= pax_add_u64(pax, "SCHILY.devmajor", h->devmajor);
	}
	if (!put_octal(blk + 337, 8, h->devminor)) {
		put_octal(blk + 337, 8, 0);
		r |= pax_add_u64(pax, "SCHILY.devminor", h->devminor);
	}
	*ret_mtime = mt;
	return r ? -ENOMEM : 0;
}

int tar_write_header(tar_out *o, const struct tar_header *h, bytebuf *pax)
{
	uint8_t blk[BLOCK] = {0};
	_cleanup_(buf_clear) bytebuf recs = {0};
	bool binary = false;
	uint64_t mtime;
	put_ustar_common(blk, h, h->size, h->type);
	int r = put_names(blk, h, &recs, &binary);
	if (r >= 0)
		r = put_numbers(blk, h, &recs, &mtime);
	for (size_t i = 0; r >= 0 && i < h->n_xattrs; i++) {
		_cleanup_free_ char *key = NULL;
		if (asprintf(&key, "SCHILY.xattr.%s", h->xattrs[i].name) < 0)
			return -ENOMEM;
		r = pax_add(&recs, key, h->xattrs[i].value, h->xattrs[i].len);
	}
	if (r < 0)
		return r;
	put_checksum(blk);
	if (recs.len > 0) {
		pax->len = 0;
		if (binary)
			r = pax_add_str(pax, "hdrcharset", "BINARY");
		if (r >= 0)
			r = buf_append(pax, recs.data, recs.len);
		if (r >= 0)
			r = write_pax_header(o, h, mtime, pax);
		if (r < 0)
			return r;
	}
	return tar_out_write(o, blk, BLOCK);
}
