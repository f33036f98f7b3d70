/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The raw Dockerfile parser: text to a list of instruction nodes, the way
 * BuildKit's frontend/dockerfile/parser does it (same line joining, same
 * argument splitting, same JSON fallback, same AST dump), so that cairn
 * accepts and rejects exactly what `docker build` does.  Go's quirks are
 * kept on purpose (U+FFFD for invalid UTF-8 in words, Latin-1 widening of
 * flag bytes, unicode.IsSpace), because the dump is compared byte for byte.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>

#include "../../fs/common/util.h"
#include "gotext.h"
#include "parser.h"

#define SCAN_MAX 65536 /* bufio.MaxScanTokenSize */
#define JSON_MAX_DEPTH 10000

struct span {
	const char *p;
	size_t n;
};

struct sbuf {
	char *p;
	size_t len, cap;
};

struct parser {
	const char *text;
	size_t len, pos;
	int line; /* lines consumed so far */
	const char *filename;
	cairn_error **err;
	char escape;
	bool directives_done, seen_syntax, seen_escape, seen_check;
	struct df_ast *ast;
	size_t nodes_cap;
};

/* ---- small buffers -------------------------------------------------------- */

static int sb_add(struct sbuf *b, const void *p, size_t n)
{
	if (n > SIZE_MAX - b->len - 1)
		return -ENOMEM;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 32;
		while (cap < b->len + n + 1)
			cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

static int sb_addc(struct sbuf *b, char c)
{
	return sb_add(b, &c, 1);
}

static int sb_adds(struct sbuf *b, const char *s)
{
	return sb_add(b, s, strlen(s));
}

static int sb_add_rune(struct sbuf *b, uint32_t r)
{
	char u[4];
	size_t n;
	if (r < 0x80) {
		u[0] = (char) r;
		n = 1;
	} else if (r < 0x800) {
		u[0] = (char) (0xC0 | (r >> 6));
		u[1] = (char) (0x80 | (r & 0x3F));
		n = 2;
	} else if (r < 0x10000) {
		u[0] = (char) (0xE0 | (r >> 12));
		u[1] = (char) (0x80 | ((r >> 6) & 0x3F));
		u[2] = (char) (0x80 | (r & 0x3F));
		n = 3;
	} else {
		u[0] = (char) (0xF0 | (r >> 18));
		u[1] = (char) (0x80 | ((r >> 12) & 0x3F));
		u[2] = (char) (0x80 | ((r >> 6) & 0x3F));
		u[3] = (char) (0x80 | (r & 0x3F));
		n = 4;
	}
	return sb_add(b, u, n);
}

static void sb_free(struct sbuf *b)
{
	free(b->p);
	*b = (struct sbuf){0};
}

/* Appends a copy of p[0..n) to the array *v of *n_v strings.  The capacity
 * is implicit: the array is grown whenever the count is a power of two. */
static int strv_push(struct df_str **v, size_t *n_v, const char *p, size_t n)
{
	size_t k = *n_v;
	if (k == 0 || (k & (k - 1)) == 0) {
		if (k > SIZE_MAX / 2 / sizeof(**v))
			return -ENOMEM;
		struct df_str *q = realloc(*v, (k ? 2 * k : 1) * sizeof(**v));
		if (!q)
			return -ENOMEM;
		*v = q;
	}
	char *d = malloc(n + 1);
	if (!d)
		return -ENOMEM;
	if (n)
		memcpy(d, p, n);
	d[n] = 0;
	(*v)[k] = (struct df_str){d, n};
	*n_v = k + 1;
	return 0;
}

/* a copy of p[0..n) with a NUL after it (p may contain NULs itself) */
static char *memdup0(const char *p, size_t n)
{
	char *d = n < SIZE_MAX ? malloc(n + 1) : NULL;
	if (!d)
		return NULL;
	if (n)
		memcpy(d, p, n);
	d[n] = 0;
	return d;
}

static int node_arg(struct df_node *node, const char *p, size_t n)
{
	return strv_push(&node->args, &node->n_args, p, n);
}

/* ---- Go's view of text (gotext.h) ------------------------------------------- */

/* unicode.IsSpace(rune(b)) on a single byte, as Go code indexing a string does */
static bool byte_isspace(unsigned char c)
{
	return df_go_isspace(c);
}

/* The characters of the regexp class [\t\v\f\r ] */
static bool re_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

static struct span trim_left(struct span s)
{
	while (s.n) {
		size_t w;
		bool bad;
		uint32_t r = df_utf8_decode(s.p, s.n, &w, &bad);
		if (bad || !df_go_isspace(r))
			break;
		s.p += w, s.n -= w;
	}
	return s;
}

/* the width of the rune that ends at s.p + s.n, and whether it is a space */
static bool last_rune_is_space(struct span s, size_t *width)
{
	size_t start = s.n - 1, lim = s.n > 4 ? s.n - 4 : 0;
	while (start > lim && (((unsigned char) s.p[start]) & 0xC0) == 0x80)
		start--;
	size_t w;
	bool bad;
	uint32_t r = df_utf8_decode(s.p + start, s.n - start, &w, &bad);
	if (bad || start + w != s.n) {
		*width = 1;
		return false;
	}
	*width = w;
	return df_go_isspace(r);
}

/* strings.TrimSpace */
static struct span trim_space(struct span s)
{
	s = trim_left(s);
	size_t w;
	while (s.n && last_rune_is_space(s, &w))
		s.n -= w;
	return s;
}

/* bytes.TrimRight(s, "\r\n") */
static struct span trim_newline(struct span s)
{
	while (s.n && (s.p[s.n - 1] == '\n' || s.p[s.n - 1] == '\r'))
		s.n--;
	return s;
}

static bool is_comment(struct span tok)
{
	struct span t = trim_left(trim_newline(tok));
	return t.n && t.p[0] == '#';
}

/* strconv.Quote; unicode.IsPrint approximated for the rarely used planes */
static bool go_isprint(uint32_t r)
{
	if (r < 0x80)
		return r >= 0x20 && r < 0x7F;
	if (r < 0xA0 || r == 0xA0 || r == 0xAD)
		return false;
	if ((r >= 0x600 && r <= 0x605) || r == 0x61C || r == 0x6DD || r == 0x70F || r == 0x180E ||
	    r == 0x1680 || (r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F) ||
	    (r >= 0x205F && r <= 0x2064) || (r >= 0x2066 && r <= 0x206F) || r == 0x3000 ||
	    (r >= 0xD800 && r <= 0xF8FF) || r == 0xFEFF || (r >= 0xFFF9 && r <= 0xFFFB) ||
	    (r & 0xFFFE) == 0xFFFE || r >= 0xF0000 || r == 0xE0001 ||
	    (r >= 0xE0020 && r <= 0xE007F))
		return false;
	return true;
}

static int go_quote(struct sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	int r = sb_addc(b, '"');
	for (size_t i = 0; i < n && r >= 0;) {
		size_t w;
		bool bad;
		uint32_t c = df_utf8_decode(s + i, n - i, &w, &bad);
		char e[11];
		if (bad) {
			unsigned char x = (unsigned char) s[i];
			e[0] = '\\', e[1] = 'x', e[2] = hex[x >> 4], e[3] = hex[x & 15];
			r = sb_add(b, e, 4);
		} else if (c == '"' || c == '\\') {
			e[0] = '\\', e[1] = (char) c;
			r = sb_add(b, e, 2);
		} else if (go_isprint(c)) {
			r = sb_add(b, s + i, w);
		} else {
			const char *esc = NULL;
			switch (c) {
			case '\a':
				esc = "\\a";
				break;
			case '\b':
				esc = "\\b";
				break;
			case '\f':
				esc = "\\f";
				break;
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\t':
				esc = "\\t";
				break;
			case '\v':
				esc = "\\v";
				break;
			}
			if (esc) {
				r = sb_adds(b, esc);
			} else if (c < 0x20 || c == 0x7F) {
				e[0] = '\\', e[1] = 'x', e[2] = hex[c >> 4], e[3] = hex[c & 15];
				r = sb_add(b, e, 4);
			} else {
				int digits = c < 0x10000 ? 4 : 8;
				e[0] = '\\', e[1] = c < 0x10000 ? 'u' : 'U';
				for (int k = 0; k < digits; k++)
					e[2 + k] = hex[(c >> (4 * (digits - 1 - k))) & 15];
				r = sb_add(b, e, 2 + (size_t) digits);
			}
		}
		i += w;
	}
	return r < 0 ? r : sb_addc(b, '"');
}

/* ---- errors ------------------------------------------------------------------ */

static int perr(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(struct parser *p, int line, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return cairn_error_set(p->err, -ENOMEM, "%s:%d: out of memory", p->filename, line);
	return cairn_error_set(p->err, CAIRN_E_FORMAT, "%s:%d: %s", p->filename, line, msg);
}

static int perr_quoted(struct parser *p, int line, const char *pre, struct span s, const char *post)
{
	struct sbuf q = {0};
	int r = go_quote(&q, s.p, MIN(s.n, (size_t) 200));
	if (r < 0)
		return cairn_error_set(p->err, -ENOMEM, "%s:%d: out of memory", p->filename, line);
	r = perr(p, line, "%s%s%s", pre, q.p, post);
	sb_free(&q);
	return r;
}

/* ---- JSON (Go's encoding/json, decoding into []interface{}) ------------------ */

enum { JSON_OK = 0, JSON_INVALID = 1, JSON_NOT_STRINGS = 2 };

struct jp {
	const char *s;
	size_t n, i;
	bool overflow; /* a number out of float64 range: a decode error in Go */
};

static void j_ws(struct jp *j)
{
	while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' ||
			       j->s[j->i] == '\r'))
		j->i++;
}

static int j_hex4(const struct jp *j, size_t at, uint32_t *ret)
{
	uint32_t v = 0;
	if (at + 4 > j->n)
		return -1;
	for (size_t k = 0; k < 4; k++) {
		char c = j->s[at + k];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -1;
		v = v << 4 | (uint32_t) d;
	}
	*ret = v;
	return 0;
}

/* A string at j->i (which is '"'); decoded into out unless out is NULL.
 * Returns 0, JSON_INVALID, or -ENOMEM. */
static int j_string(struct jp *j, struct sbuf *out)
{
	int r = 0;
	j->i++;
	for (;;) {
		if (j->i >= j->n)
			return JSON_INVALID;
		unsigned char c = (unsigned char) j->s[j->i];
		if (c == '"') {
			j->i++;
			return 0;
		}
		if (c < 0x20)
			return JSON_INVALID;
		if (c == '\\') {
			if (j->i + 1 >= j->n)
				return JSON_INVALID;
			char e = j->s[j->i + 1];
			const char *simple = strchr("\"\\/bfnrt", e);
			if (e && simple) {
				static const char val[] = "\"\\/\b\f\n\r\t";
				if (out)
					r = sb_addc(out, val[simple - "\"\\/bfnrt"]);
				j->i += 2;
			} else if (e == 'u') {
				uint32_t u, lo;
				if (j_hex4(j, j->i + 2, &u) < 0)
					return JSON_INVALID;
				j->i += 6;
				if (u >= 0xD800 && u <= 0xDFFF) {
					if (u < 0xDC00 && j->i + 1 < j->n && j->s[j->i] == '\\' &&
					    j->s[j->i + 1] == 'u' &&
					    j_hex4(j, j->i + 2, &lo) == 0 && lo >= 0xDC00 &&
					    lo <= 0xDFFF) {
						u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
						j->i += 6;
					} else {
						u = 0xFFFD;
					}
				}
				if (out)
					r = sb_add_rune(out, u);
			} else {
				return JSON_INVALID;
			}
		} else if (c < 0x80) {
			if (out)
				r = sb_addc(out, (char) c);
			j->i++;
		} else {
			size_t w;
			bool bad;
			uint32_t u = df_utf8_decode(j->s + j->i, j->n - j->i, &w, &bad);
			if (out)
				r = bad ? sb_add_rune(out, 0xFFFD) : sb_add(out, j->s + j->i, w);
			j->i += w;
			(void) u;
		}
		if (r < 0)
			return r;
	}
}

static bool j_digit(const struct jp *j)
{
	return j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9';
}

static int j_number(struct jp *j)
{
	size_t start = j->i;
	if (j->s[j->i] == '-')
		j->i++;
	if (!j_digit(j))
		return JSON_INVALID;
	if (j->s[j->i] == '0')
		j->i++;
	else
		while (j_digit(j))
			j->i++;
	if (j->i < j->n && j->s[j->i] == '.') {
		j->i++;
		if (!j_digit(j))
			return JSON_INVALID;
		while (j_digit(j))
			j->i++;
	}
	if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
		j->i++;
		if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-'))
			j->i++;
		if (!j_digit(j))
			return JSON_INVALID;
		while (j_digit(j))
			j->i++;
	}
	_cleanup_free_ char *num = strndup(j->s + start, j->i - start);
	if (!num)
		return -ENOMEM;
	if (isinf(strtod(num, NULL)))
		j->overflow = true;
	return 0;
}

static int j_literal(struct jp *j)
{
	static const char *const lits[] = {"true", "false", "null"};
	for (size_t k = 0; k < ARRAY_SIZE(lits); k++) {
		size_t l = strlen(lits[k]);
		if (j->n - j->i >= l && memcmp(j->s + j->i, lits[k], l) == 0) {
			j->i += l;
			return 0;
		}
	}
	return JSON_INVALID;
}

static int j_key(struct jp *j)
{
	j_ws(j);
	if (j->i >= j->n || j->s[j->i] != '"')
		return JSON_INVALID;
	int r = j_string(j, NULL);
	if (r)
		return r;
	j_ws(j);
	if (j->i >= j->n || j->s[j->i] != ':')
		return JSON_INVALID;
	j->i++;
	return 0;
}

/* Validates (and skips) any value at j->i, nested `depth` levels deep;
 * iterative, with one bit per level (set: object) for the open containers. */
static int j_skip_value(struct jp *j, int depth)
{
	uint8_t kind[JSON_MAX_DEPTH / 8 + 2] = {0};
	int open = 0, r;

	for (;;) {
		/* a value */
		j_ws(j);
		if (j->i >= j->n)
			return JSON_INVALID;
		char c = j->s[j->i];
		if (c == '[' || c == '{') {
			if (depth + open + 1 > JSON_MAX_DEPTH)
				return JSON_INVALID;
			if (c == '{')
				kind[open / 8] |= (uint8_t) (1u << (open % 8));
			else
				kind[open / 8] &= (uint8_t) ~(1u << (open % 8));
			open++;
			j->i++;
			j_ws(j);
			if (j->i < j->n && j->s[j->i] == (c == '[' ? ']' : '}')) {
				j->i++;
				open--;
			} else if (c == '[') {
				continue;
			} else {
				r = j_key(j);
				if (r)
					return r;
				continue;
			}
		} else if (c == '"') {
			r = j_string(j, NULL);
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			r = j_number(j);
		} else {
			r = j_literal(j);
		}
		if (r)
			return r;

		/* after a value: close containers or go on to the next element */
		for (;;) {
			if (open == 0)
				return 0;
			bool obj = kind[(open - 1) / 8] & (1u << ((open - 1) % 8));
			j_ws(j);
			if (j->i >= j->n)
				return JSON_INVALID;
			c = j->s[j->i];
			if (c == (obj ? '}' : ']')) {
				j->i++;
				open--;
				continue;
			}
			if (c != ',')
				return JSON_INVALID;
			j->i++;
			if (obj) {
				r = j_key(j);
				if (r)
					return r;
			}
			break;
		}
	}
}

/* parseJSON: a JSON array of strings at the start of rest (trailing text is
 * ignored, as json.Decoder does).  JSON_OK with the strings added to node,
 * JSON_INVALID (not JSON: use the string form), JSON_NOT_STRINGS, -ENOMEM. */
static int parse_json(struct span rest, struct df_node *node)
{
	rest = trim_left(rest);
	if (!rest.n || rest.p[0] != '[')
		return JSON_INVALID;

	struct jp j = {rest.p, rest.n, 1, false};
	struct df_str *v = NULL;
	size_t n_v = 0;
	bool nonstring = false;
	struct sbuf s = {0};
	int r = 0;

	j_ws(&j);
	if (j.i < j.n && j.s[j.i] == ']') {
		j.i++;
		goto done;
	}
	for (;;) {
		j_ws(&j);
		if (j.i < j.n && j.s[j.i] == '"') {
			s.len = 0;
			r = j_string(&j, &s);
			if (r == 0)
				r = strv_push(&v, &n_v, s.p ? s.p : "", s.len);
		} else {
			nonstring = true;
			r = j_skip_value(&j, 1);
		}
		if (r)
			goto done;
		j_ws(&j);
		if (j.i < j.n && j.s[j.i] == ',') {
			j.i++;
			continue;
		}
		if (j.i < j.n && j.s[j.i] == ']') {
			j.i++;
			break;
		}
		r = JSON_INVALID;
		goto done;
	}
done:
	sb_free(&s);
	if (r == 0 && j.overflow)
		r = JSON_INVALID;
	if (r == 0 && nonstring)
		r = JSON_NOT_STRINGS;
	if (r == 0) {
		for (size_t k = 0; k < n_v && r >= 0; k++)
			r = node_arg(node, v[k].data, v[k].len);
		node->json = true;
	}
	for (size_t k = 0; k < n_v; k++)
		free(v[k].data);
	free(v);
	return r;
}

/* ---- words and flags --------------------------------------------------------- */

enum { IN_SPACES, IN_WORD, IN_QUOTE };

static uint32_t rune_at(struct span s, size_t pos, size_t *w)
{
	bool bad;
	uint32_t r = df_utf8_decode(s.p + pos, s.n - pos, w, &bad);
	return bad ? 0xFFFD : r;
}

/* parseWords: whitespace-separated words, quotes and escapes kept. */
static int parse_words(struct span rest, char esc, struct df_str **v, size_t *n_v)
{
	struct sbuf word = {0};
	int phase = IN_SPACES, r = 0;
	bool blank_ok = false;
	uint32_t quote = 0, ch = 0;
	size_t w = 1;

	for (size_t pos = 0; pos <= rest.n && r >= 0; pos += w) {
		if (pos != rest.n)
			ch = rune_at(rest, pos, &w);
		if (phase == IN_SPACES) {
			if (pos == rest.n)
				break;
			if (df_go_isspace(ch))
				continue;
			phase = IN_WORD;
		}
		if (pos == rest.n) {
			if (blank_ok || word.len)
				r = strv_push(v, n_v, word.p ? word.p : "", word.len);
			break;
		}
		if (phase == IN_WORD) {
			if (df_go_isspace(ch)) {
				phase = IN_SPACES;
				if (blank_ok || word.len)
					r = strv_push(v, n_v, word.p ? word.p : "", word.len);
				word.len = 0;
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = IN_QUOTE;
			}
			if (ch == (uint32_t) esc) {
				if (pos + w == rest.n)
					continue;
				r = sb_add_rune(&word, ch);
				pos += w;
				ch = rune_at(rest, pos, &w);
			}
			if (r >= 0)
				r = sb_add_rune(&word, ch);
			continue;
		}
		/* IN_QUOTE */
		if (ch == quote)
			phase = IN_WORD;
		if (ch == (uint32_t) esc && quote != '\'') {
			if (pos + w == rest.n) {
				phase = IN_WORD;
				continue;
			}
			pos += w;
			r = sb_add_rune(&word, ch);
			ch = rune_at(rest, pos, &w);
		}
		if (r >= 0)
			r = sb_add_rune(&word, ch);
	}
	sb_free(&word);
	return r;
}

static void strv_free(struct df_str *v, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(v[k].data);
	free(v);
}

static bool word_is_dashdash(const struct sbuf *w)
{
	return w->len == 2 && w->p[0] == '-' && w->p[1] == '-';
}

/* extractBuilderFlags: leading "--name=value" words go to node->flags;
 * *ret_rest is what follows.  Works on bytes, like the Go code, so a byte
 * >= 0x80 becomes the rune of the same value (Latin-1). */
static int extract_flags(struct span line, struct df_node *node, struct span *ret_rest)
{
	struct sbuf word = {0};
	int phase = IN_SPACES, r = 0;
	bool blank_ok = false;
	unsigned char quote = 0, ch = 0;

	*ret_rest = (struct span){line.p + line.n, 0};
	for (size_t pos = 0; pos <= line.n && r >= 0; pos++) {
		if (pos != line.n)
			ch = (unsigned char) line.p[pos];
		if (phase == IN_SPACES) {
			if (pos == line.n)
				break;
			if (byte_isspace(ch))
				continue;
			if (ch != '-' || pos + 1 == line.n || line.p[pos + 1] != '-') {
				*ret_rest = (struct span){line.p + pos, line.n - pos};
				break;
			}
			phase = IN_WORD;
		}
		if (pos == line.n) {
			if (!word_is_dashdash(&word) && (blank_ok || word.len))
				r = strv_push(&node->flags, &node->n_flags, word.p ? word.p : "",
					      word.len);
			break;
		}
		if (phase == IN_WORD) {
			if (byte_isspace(ch)) {
				phase = IN_SPACES;
				if (word_is_dashdash(&word)) {
					*ret_rest = (struct span){line.p + pos, line.n - pos};
					break;
				}
				if (blank_ok || word.len)
					r = strv_push(&node->flags, &node->n_flags,
						      word.p ? word.p : "", word.len);
				word.len = 0;
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = IN_QUOTE;
				continue;
			}
			if (ch == '\\') {
				if (pos + 1 == line.n)
					continue;
				ch = (unsigned char) line.p[++pos];
			}
			r = sb_add_rune(&word, ch);
			continue;
		}
		/* IN_QUOTE */
		if (ch == quote) {
			phase = IN_WORD;
			continue;
		}
		if (ch == '\\') {
			if (pos + 1 == line.n) {
				phase = IN_WORD;
				continue;
			}
			ch = (unsigned char) line.p[++pos];
		}
		r = sb_add_rune(&word, ch);
	}
	sb_free(&word);
	return r;
}

/* ---- per-instruction argument parsers ---------------------------------------- */

typedef int (*line_parser)(struct parser *p, struct span rest, struct df_node *node, int line);

static int p_string(struct parser *p, struct span rest, struct df_node *node, int line)
{
	(void) p, (void) line;
	return rest.n ? node_arg(node, rest.p, rest.n) : 0;
}

static int p_ignore(struct parser *p, struct span rest, struct df_node *node, int line)
{
	(void) p, (void) rest, (void) line;
	return node_arg(node, "", 0);
}

static int p_whitespace_list(struct parser *p, struct span rest, struct df_node *node, int line)
{
	(void) p, (void) line;
	size_t i = 0;
	while (i < rest.n) {
		size_t start = i;
		while (i < rest.n && !re_ws(rest.p[i]))
			i++;
		int r = node_arg(node, rest.p + start, i - start);
		if (r < 0)
			return r;
		if (i == rest.n)
			break;
		while (i < rest.n && re_ws(rest.p[i]))
			i++;
		if (i == rest.n) /* a trailing separator leaves an empty last piece */
			return node_arg(node, "", 0);
	}
	return 0;
}

static int json_error(struct parser *p, int line)
{
	return perr(p, line,
		    "when using JSON array syntax, arrays must be comprised of strings only");
}

static int p_maybe_json(struct parser *p, struct span rest, struct df_node *node, int line)
{
	if (!rest.n)
		return 0;
	int r = parse_json(rest, node);
	if (r == JSON_NOT_STRINGS)
		return json_error(p, line);
	if (r == JSON_INVALID)
		return node_arg(node, rest.p, rest.n);
	return r;
}

static int p_maybe_json_list(struct parser *p, struct span rest, struct df_node *node, int line)
{
	int r = parse_json(rest, node);
	if (r == JSON_NOT_STRINGS)
		return json_error(p, line);
	if (r == JSON_INVALID)
		return p_whitespace_list(p, rest, node, line);
	return r;
}

static int p_name_val(struct parser *p, struct span rest, struct df_node *node, int line,
		      const char *key)
{
	struct df_str *words = NULL;
	size_t n_words = 0;
	int r = parse_words(rest, p->escape, &words, &n_words);
	if (r < 0 || n_words == 0)
		goto out;

	if (!memchr(words[0].data, '=', words[0].len)) {
		/* the old form: KEY name value */
		size_t i = 0;
		while (i < rest.n && !re_ws(rest.p[i]))
			i++;
		if (i == rest.n) {
			r = perr(p, line, "%s must have two arguments", key);
			goto out;
		}
		size_t j = i;
		while (j < rest.n && re_ws(rest.p[j]))
			j++;
		r = node_arg(node, rest.p, i);
		if (r >= 0)
			r = node_arg(node, rest.p + j, rest.n - j);
		if (r >= 0)
			r = node_arg(node, "", 0);
		goto out;
	}
	for (size_t k = 0; k < n_words && r >= 0; k++) {
		const char *eq = memchr(words[k].data, '=', words[k].len);
		if (!eq) {
			r = perr_quoted(p, line, "Syntax error - can't find = in ",
					(struct span){words[k].data, words[k].len},
					". Must be of the form: name=value");
			break;
		}
		size_t kl = (size_t) (eq - words[k].data);
		r = node_arg(node, words[k].data, kl);
		if (r >= 0)
			r = node_arg(node, eq + 1, words[k].len - kl - 1);
		if (r >= 0)
			r = node_arg(node, "=", 1);
	}
out:
	strv_free(words, n_words);
	return r;
}

static int p_env(struct parser *p, struct span rest, struct df_node *node, int line)
{
	return p_name_val(p, rest, node, line, "ENV");
}

static int p_label(struct parser *p, struct span rest, struct df_node *node, int line)
{
	return p_name_val(p, rest, node, line, "LABEL");
}

static int p_name_or_name_val(struct parser *p, struct span rest, struct df_node *node, int line)
{
	(void) line;
	struct df_str *words = NULL;
	size_t n_words = 0;
	int r = parse_words(rest, p->escape, &words, &n_words);
	for (size_t k = 0; k < n_words && r >= 0; k++)
		r = node_arg(node, words[k].data, words[k].len);
	strv_free(words, n_words);
	return r;
}

/* HEALTHCHECK: a type word (CMD, NONE, ...) then CMD's arguments */
static int p_health(struct parser *p, struct span rest, struct df_node *node, int line)
{
	size_t sep = 0, next;
	while (sep < rest.n && !byte_isspace((unsigned char) rest.p[sep]))
		sep++;
	for (next = sep; next < rest.n; next++)
		if (!byte_isspace((unsigned char) rest.p[next]))
			break;
	if (sep == 0)
		return 0;
	int r = node_arg(node, rest.p, sep);
	if (r < 0)
		return r;
	return p_maybe_json(p, (struct span){rest.p + next, rest.n - next}, node, line);
}

static const struct {
	const char *name;
	line_parser parse;
} dispatch[] = {
    {"add", p_maybe_json_list},
    {"arg", p_name_or_name_val},
    {"cmd", p_maybe_json},
    {"copy", p_maybe_json_list},
    {"entrypoint", p_maybe_json},
    {"env", p_env},
    {"expose", p_whitespace_list},
    {"from", p_whitespace_list},
    {"healthcheck", p_health},
    {"label", p_label},
    {"maintainer", p_string},
    {"run", p_maybe_json},
    {"shell", p_maybe_json},
    {"stopsignal", p_string},
    {"user", p_string},
    {"volume", p_maybe_json_list},
    {"workdir", p_string},
};

static bool keyword_is(const struct df_node *n, const char *k)
{
	return n->keyword.len == strlen(k) && memcmp(n->keyword.data, k, n->keyword.len) == 0;
}

/* unicode.ToLower for the scripts a keyword is likely to be mistyped in
 * (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic, the Kelvin and
 * Angstrom signs); other runes are kept. */
static uint32_t rune_lower(uint32_t r)
{
	if (r >= 'A' && r <= 'Z')
		return r + 32;
	if ((r >= 0xC0 && r <= 0xDE && r != 0xD7) || (r >= 0x391 && r <= 0x3AB && r != 0x3A2) ||
	    (r >= 0x410 && r <= 0x42F))
		return r + 32;
	if (r >= 0x400 && r <= 0x40F)
		return r + 80;
	if (r >= 0x100 && r <= 0x17F && r != 0x130 && r != 0x131 && r != 0x138 && r != 0x149 &&
	    r != 0x178 && r != 0x17F) {
		bool odd_upper = (r >= 0x139 && r <= 0x148) || (r >= 0x179 && r <= 0x17E);
		if (odd_upper ? (r & 1) : !(r & 1))
			return r + 1;
		return r;
	}
	switch (r) {
	case 0x130:
		return 'i';
	case 0x178:
		return 0xFF;
	case 0x212A:
		return 'k';
	case 0x212B:
		return 0xE5;
	}
	return r;
}

/* strings.ToLower: invalid UTF-8 becomes U+FFFD */
static int keyword_lower(struct span t, struct df_str *ret)
{
	struct sbuf b = {0};
	int r = sb_add(&b, "", 0);
	for (size_t i = 0, w; i < t.n && r >= 0; i += w) {
		if ((unsigned char) t.p[i] < 0x80) {
			w = 1;
			r = sb_addc(&b, (char) rune_lower((unsigned char) t.p[i]));
		} else {
			r = sb_add_rune(&b, rune_lower(rune_at(t, i, &w)));
		}
	}
	if (r < 0) {
		sb_free(&b);
		return r;
	}
	*ret = (struct df_str){b.p, b.len};
	return 0;
}

/* splitCommand + dispatch.  ONBUILD nests: its instruction goes to ->next
 * (iteratively, so a long ONBUILD ONBUILD ... chain cannot exhaust the stack). */
static int node_from_line(struct parser *p, struct span line, struct df_node *node, int lineno)
{
	struct df_node *cur = node;
	int r;

	for (;;) {
		struct span t = trim_space(line), args = {t.p + t.n, 0};
		size_t i = 0;
		while (i < t.n && !re_ws(t.p[i]))
			i++;
		if (i < t.n) {
			size_t j = i;
			while (j < t.n && re_ws(t.p[j]))
				j++;
			r = extract_flags((struct span){t.p + j, t.n - j}, cur, &args);
			if (r < 0)
				return r;
			args = trim_space(args);
		}
		/* the original text only on the top node: copying it for every
		 * level of an ONBUILD chain would be quadratic */
		bool top = cur == node;
		r = keyword_lower((struct span){t.p, i}, &cur->keyword);
		if (r < 0)
			return r;
		cur->original.data = memdup0(line.p, top ? line.n : 0);
		if (!cur->original.data)
			return -ENOMEM;
		cur->original.len = top ? line.n : 0;

		if (keyword_is(cur, "onbuild")) {
			if (!args.n)
				return 0;
			cur->next = calloc(1, sizeof(*cur->next));
			if (!cur->next)
				return -ENOMEM;
			cur = cur->next;
			line = args;
			continue;
		}
		line_parser fn = p_ignore;
		for (size_t k = 0; k < ARRAY_SIZE(dispatch); k++)
			if (keyword_is(cur, dispatch[k].name))
				fn = dispatch[k].parse;
		return fn(p, args, cur, lineno);
	}
}

/* Go's regexp \s: [\t\n\f\r ] */
static bool directive_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/* ---- heredocs ---------------------------------------------------------------- */

static bool can_contain_heredoc(const struct df_node *n)
{
	if (keyword_is(n, "onbuild") && n->next)
		n = n->next;
	if (!keyword_is(n, "run") && !keyword_is(n, "copy") && !keyword_is(n, "add"))
		return false;
	return !n->json;
}

/* The delimiter word of "<<WORD": quotes removed, escapes applied.  Returns
 * 1 if it is usable, 0 if not, <0 on error (unterminated quote). */
static int heredoc_name(struct parser *p, struct span w, int line, struct sbuf *name, bool *expand)
{
	char q = 0;
	int r = 0;
	*expand = true;
	for (size_t i = 0; i < w.n && r >= 0; i++) {
		char c = w.p[i];
		if (q == '\'') {
			if (c == '\'')
				q = 0;
			else
				r = sb_addc(name, c);
		} else if (q == '"') {
			if (c == '"')
				q = 0;
			else if (c == '\\' && i + 1 < w.n && strchr("\"\\$`", w.p[i + 1]))
				r = sb_addc(name, w.p[++i]);
			else
				r = sb_addc(name, c);
		} else if (c == '\'' || c == '"') {
			q = c;
			*expand = false;
		} else if (c == '\\' && i + 1 < w.n) {
			r = sb_addc(name, w.p[++i]);
		} else if (c != '\\') {
			r = sb_addc(name, c);
		}
	}
	if (r < 0)
		return r;
	if (q)
		return perr(p, line, "unexpected end of statement while looking for matching %s",
			    q == '\'' ? "single-quote" : "double-quote");
	return name->len > 0;
}

/* One word of the line: "N<<-WORD" (^(\d*)<<(-?)([^<]*)$) adds a heredoc. */
static int heredoc_from_word(struct parser *p, struct span w, struct df_node *node, int line)
{
	size_t i = 0;
	unsigned long fd = 0;
	bool chomp = false, expand;
	while (i < w.n && w.p[i] >= '0' && w.p[i] <= '9') {
		unsigned d = (unsigned) (w.p[i] - '0');
		fd = fd > (ULONG_MAX - d) / 10 ? ULONG_MAX : fd * 10 + d;
		i++;
	}
	if (w.n - i < 2 || w.p[i] != '<' || w.p[i + 1] != '<')
		return 0;
	i += 2;
	if (i < w.n && w.p[i] == '-')
		chomp = true, i++;
	while (i < w.n && directive_space(w.p[i])) /* the regexp's \s* */
		i++;
	struct span rest = {w.p + i, w.n - i};
	if (!rest.n || memchr(rest.p, '<', rest.n))
		return 0;

	struct sbuf name = {0};
	int r = heredoc_name(p, rest, line, &name, &expand);
	if (r <= 0) {
		sb_free(&name);
		return r;
	}
	size_t k = node->n_heredocs;
	if (k == 0 || (k & (k - 1)) == 0) {
		struct df_heredoc *h = realloc(node->heredocs, (k ? 2 * k : 1) * sizeof(*h));
		if (!h) {
			sb_free(&name);
			return -ENOMEM;
		}
		node->heredocs = h;
	}
	node->heredocs[k] = (struct df_heredoc){
	    .name = {name.p, name.len}, .fd = fd, .expand = expand, .chomp = chomp};
	node->n_heredocs = k + 1;
	return 0;
}

/* The width of the unicode space at line.p[i], or 0. */
static size_t space_at(struct span line, size_t i)
{
	size_t w;
	bool bad;
	uint32_t r = df_utf8_decode(line.p + i, line.n - i, &w, &bad);
	return !bad && df_go_isspace(r) ? w : 0;
}

/* The end of the shell word starting at i, quotes and escapes kept, as
 * BuildKit's lexer splits it: "<<" swallows the blanks after it, so that
 * "<<  EOF" is one word.  *unterminated is set on an open quote. */
static size_t shell_word_end(struct span line, size_t i, bool *unterminated)
{
	char q = 0;
	while (i < line.n) {
		char c = line.p[i];
		if (q) {
			if (c == q)
				q = 0;
			else if (q == '"' && c == '\\' && i + 1 < line.n)
				i++;
			i++;
		} else if (c == '\'' || c == '"') {
			q = c;
			i++;
		} else if (c == '\\') {
			i += i + 1 < line.n ? 2 : 1;
		} else if (c == '<' && i + 1 < line.n && line.p[i + 1] == '<') {
			i += 2;
			while (i < line.n && (line.p[i] == ' ' || line.p[i] == '\t'))
				i++;
		} else if (space_at(line, i)) {
			break;
		} else {
			i++;
		}
	}
	*unterminated = q != 0;
	return i;
}

/* heredocsFromLine: the words of the line that are "N<<-WORD".  A line the
 * lexer cannot split (an open quote) has none. */
static int heredocs_from_line(struct parser *p, struct span line, struct df_node *node, int lineno)
{
	for (int pass = 0; pass < 2; pass++) {
		size_t i = 0, w;
		while (i < line.n) {
			while (i < line.n && (w = space_at(line, i)))
				i += w;
			if (i == line.n)
				break;
			bool open;
			size_t start = i;
			i = shell_word_end(line, i, &open);
			if (open)
				return 0;
			if (pass == 1) {
				int r = heredoc_from_word(
				    p, (struct span){line.p + start, i - start}, node, lineno);
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}

/* ---- the line scanner and the main loop -------------------------------------- */

/* Next line, newline included.  1: *tok set; 0: end; <0: error. */
static int scan(struct parser *p, struct span *tok)
{
	if (p->pos >= p->len)
		return 0;
	const char *s = p->text + p->pos;
	size_t left = p->len - p->pos;
	const char *nl = memchr(s, '\n', left);
	size_t n = nl ? (size_t) (nl - s) + 1 : left;
	if (n > SCAN_MAX || (!nl && n >= SCAN_MAX))
		return perr(p, p->line + 1, "dockerfile line greater than max allowed size of %d",
			    SCAN_MAX - 1);
	*tok = (struct span){s, n};
	p->pos += n;
	return 1;
}

/* A "# key=value" parser directive, while they are still allowed. */
static int directive_line(struct parser *p, struct span t, int line)
{
	if (p->directives_done)
		return 0;
	if (!t.n || t.p[0] != '#') {
		p->directives_done = true;
		return 0;
	}
	struct span s = trim_left((struct span){t.p + 1, t.n - 1});
	size_t i = 0;
	if (!s.n || !((s.p[0] | 0x20) >= 'a' && (s.p[0] | 0x20) <= 'z')) {
		p->directives_done = true;
		return 0;
	}
	while (i < s.n && (((s.p[i] | 0x20) >= 'a' && (s.p[i] | 0x20) <= 'z') ||
			   (s.p[i] >= '0' && s.p[i] <= '9')))
		i++;
	size_t key_len = i;
	while (i < s.n && directive_space(s.p[i]))
		i++;
	if (i == s.n || s.p[i] != '=' || i + 1 == s.n) {
		p->directives_done = true;
		return 0;
	}
	struct span v = {s.p + i + 1, s.n - i - 1};
	size_t a = 0, b = v.n;
	while (a < v.n && directive_space(v.p[a]))
		a++;
	while (b > a && directive_space(v.p[b - 1]))
		b--;
	if (a == b) /* only spaces: the lazy (.+?) takes the last one */
		a = v.n - 1, b = v.n;
	struct span val = {v.p + a, b - a};

	char key[8] = {0};
	bool *seen;
	if (key_len > 6) {
		p->directives_done = true;
		return 0;
	}
	for (size_t k = 0; k < key_len; k++)
		key[k] = (char) (s.p[k] | 0x20);
	if (strcmp(key, "syntax") == 0)
		seen = &p->seen_syntax;
	else if (strcmp(key, "escape") == 0)
		seen = &p->seen_escape;
	else if (strcmp(key, "check") == 0)
		seen = &p->seen_check;
	else {
		p->directives_done = true;
		return 0;
	}
	if (*seen)
		return perr(p, line, "only one %s parser directive can be used", key);
	*seen = true;

	if (strcmp(key, "escape") == 0) {
		if (val.n != 1 || (val.p[0] != '\\' && val.p[0] != '`'))
			return perr_quoted(p, line, "invalid escape token ", val,
					   " does not match ` or \\");
		p->escape = val.p[0];
		p->ast->escape = val.p[0];
		return 0;
	}
	char **slot = strcmp(key, "syntax") == 0 ? &p->ast->syntax : &p->ast->check;
	*slot = strndup(val.p, val.n);
	return *slot ? 0 : -ENOMEM;
}

/* The line continuation regexp ([^E])E[ \t]*$|^E[ \t]*$: strips the escape
 * character (and the blanks after it) and returns false if it is there. */
static bool trim_continuation(struct span *s, char esc)
{
	size_t j = s->n;
	while (j && (s->p[j - 1] == ' ' || s->p[j - 1] == '\t'))
		j--;
	if (!j || s->p[j - 1] != esc)
		return true;
	if (j >= 2 && s->p[j - 2] == esc)
		return true;
	s->n = j - 1;
	return false;
}

static int heredoc_bodies(struct parser *p, struct df_node *node, int start)
{
	for (size_t k = 0; k < node->n_heredocs; k++) {
		struct df_heredoc *h = &node->heredocs[k];
		struct sbuf content = {0};
		struct span tok;
		bool terminated = false;
		int r;
		while ((r = scan(p, &tok)) > 0) {
			p->line++;
			struct span t = trim_newline(tok);
			if (h->chomp)
				while (t.n && t.p[0] == '\t')
					t.p++, t.n--;
			if (t.n == h->name.len && memcmp(t.p, h->name.data, t.n) == 0) {
				terminated = true;
				break;
			}
			r = sb_add(&content, tok.p, tok.n);
			if (r < 0)
				break;
		}
		if (r >= 0 && !terminated)
			r = perr(p, start, "unterminated heredoc");
		if (r >= 0 && !content.p)
			r = sb_add(&content, "", 0);
		if (r < 0) {
			sb_free(&content);
			return r;
		}
		h->content = (struct df_str){content.p, content.len};
	}
	return 0;
}

static struct df_node *ast_new_node(struct parser *p)
{
	struct df_ast *a = p->ast;
	if (a->n_nodes == p->nodes_cap) {
		size_t cap = p->nodes_cap ? p->nodes_cap * 2 : 16;
		struct df_node *n = realloc(a->nodes, cap * sizeof(*n));
		if (!n)
			return NULL;
		a->nodes = n;
		p->nodes_cap = cap;
	}
	struct df_node *n = &a->nodes[a->n_nodes++];
	*n = (struct df_node){0};
	return n;
}

/* One instruction: its first line is tok (not a comment or blank line). */
static int parse_instruction(struct parser *p, struct span first, struct sbuf *line)
{
	int start = p->line, r;
	struct span tok;
	bool eol = trim_continuation(&first, p->escape);

	line->len = 0;
	r = sb_add(line, first.p, first.n);
	while (r >= 0 && !eol && (r = scan(p, &tok)) > 0) {
		struct span t = trim_newline(tok);
		r = directive_line(p, t, p->line + 1);
		if (r < 0)
			return r;
		p->line++;
		if (is_comment(tok) || trim_left(t).n == 0)
			continue;
		eol = trim_continuation(&t, p->escape);
		r = sb_add(line, t.p, t.n);
	}
	if (r < 0)
		return r;

	struct df_node *node = ast_new_node(p);
	if (!node)
		return -ENOMEM;
	struct span l = {line->p ? line->p : "", line->len};
	r = node_from_line(p, l, node, start);
	if (r >= 0 && can_contain_heredoc(node) && memmem(l.p, l.n, "<<", 2)) {
		r = heredocs_from_line(p, l, node, start);
		if (r >= 0)
			r = heredoc_bodies(p, node, start);
	}
	node->start_line = start;
	node->end_line = p->line;
	return r;
}

static void node_clear(struct df_node *n)
{
	bool top = true;
	while (n) {
		struct df_node *next = n->next;
		free(n->keyword.data);
		free(n->original.data);
		strv_free(n->flags, n->n_flags);
		strv_free(n->args, n->n_args);
		for (size_t k = 0; k < n->n_heredocs; k++) {
			free(n->heredocs[k].name.data);
			free(n->heredocs[k].content.data);
		}
		free(n->heredocs);
		if (!top)
			free(n);
		top = false;
		n = next;
	}
}

void df_ast_free(struct df_ast *ast)
{
	if (!ast)
		return;
	for (size_t k = 0; k < ast->n_nodes; k++)
		node_clear(&ast->nodes[k]);
	free(ast->nodes);
	free(ast->syntax);
	free(ast->check);
	free(ast);
}

int df_parse(const char *text, size_t len, const char *filename, struct df_ast **ret,
	     cairn_error **err)
{
	struct df_ast *ast = calloc(1, sizeof(*ast));
	struct sbuf line = {0};
	struct span tok;
	int r;

	if (!ast)
		return cairn_error_set(err, -ENOMEM, "out of memory");
	ast->escape = '\\';
	struct parser p = {
	    .text = text ? text : "",
	    .len = text ? len : 0,
	    .filename = filename ? filename : "Dockerfile",
	    .err = err,
	    .escape = '\\',
	    .ast = ast,
	};

	while ((r = scan(&p, &tok)) > 0) {
		if (p.line == 0 && tok.n >= 3 && memcmp(tok.p, "\xEF\xBB\xBF", 3) == 0)
			tok.p += 3, tok.n -= 3;
		struct span t = trim_left(trim_newline(tok));
		r = directive_line(&p, t, p.line + 1);
		if (r < 0)
			break;
		p.line++;
		if (t.n && t.p[0] == '#')
			t.n = 0;
		struct span probe = t;
		if (trim_continuation(&probe, p.escape) && probe.n == 0)
			continue;
		r = parse_instruction(&p, t, &line);
		if (r < 0)
			break;
	}
	sb_free(&line);
	if (r >= 0 && ast->n_nodes == 0)
		r = perr(&p, p.line > 0 ? p.line : 1, "file with no instructions");
	if (r < 0) {
		if (r == -ENOMEM)
			cairn_error_set(err, r, "%s: out of memory", p.filename);
		df_ast_free(ast);
		return r;
	}
	*ret = ast;
	return 0;
}

/* ---- the dump ---------------------------------------------------------------- */

static int dump_node(struct sbuf *out, const struct df_node *n)
{
	struct sbuf s = {0};
	size_t depth = 0;
	int r = 0;

	for (const struct df_node *cur = n; cur && r >= 0; cur = cur->next) {
		r = sb_add(&s, cur->keyword.data, cur->keyword.len);
		if (r >= 0 && cur->n_flags) {
			r = sb_adds(&s, " [");
			for (size_t k = 0; k < cur->n_flags && r >= 0; k++) {
				if (k)
					r = sb_addc(&s, ' ');
				if (r >= 0)
					r = go_quote(&s, cur->flags[k].data, cur->flags[k].len);
			}
			if (r >= 0)
				r = sb_addc(&s, ']');
		}
		for (size_t k = 0; k < cur->n_args && r >= 0; k++) {
			r = sb_addc(&s, ' ');
			if (r >= 0)
				r = go_quote(&s, cur->args[k].data, cur->args[k].len);
		}
		if (r >= 0 && cur->next) {
			r = sb_adds(&s, " (");
			depth++;
		}
	}
	for (size_t k = 0; k < depth && r >= 0; k++)
		r = sb_addc(&s, ')');
	if (r >= 0) {
		struct span t = trim_space((struct span){s.p ? s.p : "", s.len});
		r = sb_addc(out, '(');
		if (r >= 0)
			r = sb_add(out, t.p, t.n);
		if (r >= 0)
			r = sb_adds(out, ")\n");
	}
	sb_free(&s);
	return r;
}

char *df_ast_dump(const struct df_ast *ast)
{
	struct sbuf out = {0};
	if (sb_add(&out, "", 0) < 0)
		return NULL;
	for (size_t k = 0; ast && k < ast->n_nodes; k++)
		if (dump_node(&out, &ast->nodes[k]) < 0) {
			sb_free(&out);
			return NULL;
		}
	return out.p;
}
