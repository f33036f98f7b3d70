/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Wildcards in COPY sources: fsutil's containsWildcards and Go's
 * filepath.Match on Unix.  A pattern is a sequence of chunks, each an
 * optional run of '*' then literal text, '?' and classes; '*' and '?'
 * never match '/', a class may.  Runes are UTF-8 (an invalid byte is one
 * rune, U+FFFD).  A malformed pattern (unterminated class, trailing '\',
 * bad range) is an error in Go, which fsutil ignores: it matches nothing.
 */
#include "../dockerfile/gotext.h"
#include "copy-internal.h"

bool has_wildcards(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\') {
			if (!s[1])
				break;
			s++;
		} else if (*s == '*' || *s == '?' || *s == '[') {
			return true;
		}
	}
	return false;
}

typedef struct str {
	const char *p;
	size_t n;
} str;

static uint32_t next_rune(str *s)
{
	size_t w;
	uint32_t r = df_utf8_decode(s->p, s->n, &w, NULL);
	if (w > s->n)
		w = s->n;
	s->p += w;
	s->n -= w;
	return r;
}

/* The next chunk of pattern: whether it starts with '*', and its text up
 * to the next '*' outside a class. */
static str scan_chunk(str *pat, bool *star)
{
	*star = false;
	while (pat->n && pat->p[0] == '*') {
		pat->p++;
		pat->n--;
		*star = true;
	}
	bool inrange = false;
	size_t i;
	for (i = 0; i < pat->n; i++) {
		char c = pat->p[i];
		if (c == '\\') {
			if (i + 1 < pat->n)
				i++;
		} else if (c == '[') {
			inrange = true;
		} else if (c == ']') {
			inrange = false;
		} else if (c == '*' && !inrange) {
			break;
		}
	}
	str chunk = {pat->p, i};
	pat->p += i;
	pat->n -= i;
	return chunk;
}

/* One rune of a class range, with '\' escapes. */
static int class_rune(str *c, uint32_t *ret)
{
	if (!c->n || c->p[0] == '-' || c->p[0] == ']')
		return -1;
	if (c->p[0] == '\\') {
		c->p++;
		c->n--;
		if (!c->n)
			return -1;
	}
	bool invalid;
	size_t w;
	*ret = df_utf8_decode(c->p, c->n, &w, &invalid);
	if (invalid && w == 1)
		return -1;
	c->p += w;
	c->n -= w;
	return c->n ? 0 : -1;
}

/* Go's matchChunk: 1 and *rest on a match, 0 on none, -1 on a bad
 * pattern.  Keeps checking the pattern's syntax after a failure. */
static int match_chunk(str chunk, str s, str *rest)
{
	bool failed = false;
	while (chunk.n) {
		if (!failed && !s.n)
			failed = true;
		char c = chunk.p[0];
		if (c == '[') {
			uint32_t r = 0;
			if (!failed)
				r = next_rune(&s);
			chunk.p++;
			chunk.n--;
			bool negated = false;
			if (chunk.n && chunk.p[0] == '^') {
				negated = true;
				chunk.p++;
				chunk.n--;
			}
			bool match = false;
			for (int nrange = 0;; nrange++) {
				if (chunk.n && chunk.p[0] == ']' && nrange > 0) {
					chunk.p++;
					chunk.n--;
					break;
				}
				uint32_t lo, hi;
				if (class_rune(&chunk, &lo) < 0)
					return -1;
				hi = lo;
				if (chunk.p[0] == '-') {
					chunk.p++;
					chunk.n--;
					if (class_rune(&chunk, &hi) < 0)
						return -1;
				}
				if (lo <= r && r <= hi)
					match = true;
			}
			if (match == negated)
				failed = true;
		} else if (c == '?') {
			if (!failed) {
				if (s.p[0] == '/')
					failed = true;
				next_rune(&s);
			}
			chunk.p++;
			chunk.n--;
		} else {
			if (c == '\\') {
				chunk.p++;
				chunk.n--;
				if (!chunk.n)
					return -1;
			}
			if (!failed) {
				if (chunk.p[0] != s.p[0])
					failed = true;
				s.p++;
				s.n--;
			}
			chunk.p++;
			chunk.n--;
		}
	}
	if (failed)
		return 0;
	*rest = s;
	return 1;
}

static int match(str pat, str name)
{
	while (pat.n) {
		bool star;
		str chunk = scan_chunk(&pat, &star);
		if (star && !chunk.n)
			return memchr(name.p, '/', name.n) ? 0 : 1;
		str t;
		int r = match_chunk(chunk, name, &t);
		if (r > 0 && (!t.n || pat.n)) {
			name = t;
			continue;
		}
		if (r < 0)
			return -1;
		bool found = false;
		if (star) {
			for (size_t i = 0; i < name.n && name.p[i] != '/'; i++) {
				str after = {name.p + i + 1, name.n - i - 1};
				r = match_chunk(chunk, after, &t);
				if (r > 0) {
					if (!pat.n && t.n)
						continue;
					name = t;
					found = true;
					break;
				}
				if (r < 0)
					return -1;
			}
		}
		if (found)
			continue;
		/* no match: still report a malformed rest of the pattern */
		while (pat.n) {
			chunk = scan_chunk(&pat, &star);
			if (match_chunk(chunk, (str){"", 0}, &t) < 0)
				return -1;
		}
		return 0;
	}
	return name.n == 0;
}

bool go_match(const char *pattern, const char *name)
{
	return match((str){pattern, strlen(pattern)}, (str){name, strlen(name)}) > 0;
}
