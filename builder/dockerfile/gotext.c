/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Go's utf8.DecodeRune and unicode.IsSpace (see gotext.h), shared by the
 * Dockerfile parser, the shell-word lexer and the .dockerignore matcher.
 */
#include "gotext.h"

uint32_t df_utf8_decode(const char *s, size_t n, size_t *width, bool *invalid)
{
	const unsigned char *u = (const unsigned char *) s;
	uint32_t r, min;
	size_t w;
	bool bad = true;

	*width = 1;
	if (n == 0)
		goto out;
	if (u[0] < 0x80) {
		if (invalid)
			*invalid = false;
		return u[0];
	}
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		w = 2, r = u[0] & 0x1f, min = 0x80;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		w = 3, r = u[0] & 0x0f, min = 0x800;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		w = 4, r = u[0] & 0x07, min = 0x10000;
	} else {
		goto out;
	}
	if (n < w)
		goto out;
	for (size_t i = 1; i < w; i++) {
		if ((u[i] & 0xc0) != 0x80)
			goto out;
		r = r << 6 | (u[i] & 0x3f);
	}
	if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))
		goto out;
	*width = w;
	bad = false;
out:
	if (invalid)
		*invalid = bad;
	return bad ? 0xfffd : r;
}

bool df_go_isspace(uint32_t r)
{
	if (r < 0x80)
		return r == ' ' || (r >= '\t' && r <= '\r');
	return r == 0x85 || r == 0xa0 || r == 0x1680 || (r >= 0x2000 && r <= 0x200a) || r == 0x2028 ||
	       r == 0x2029 || r == 0x202f || r == 0x205f || r == 0x3000;
}
