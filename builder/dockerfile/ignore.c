/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * .dockerignore patterns with the semantics of moby/patternmatcher (New,
 * MatchesOrParentMatches), its ignorefile reader and fsutil's rule for
 * skipping excluded directories.
 *
 * patternmatcher sorts each cleaned pattern into one of four kinds, and so
 * do we, because the kinds do not agree with each other on every input:
 *
 *   exact    no wildcard at all: the path equals the pattern
 *   prefix   literal text then a final "**": the path starts with the text
 *   suffix   "**" first, then literal text: the path ends with the text
 *            (or equals it without its leading '/')
 *   glob     anything else: an anchored match of the token list below
 *
 * Glob tokens are what patternmatcher's regular expression means:
 *
 *   *        [^/]*     any run of runes other than '/'
 *   ?        [^/]      one rune other than '/'
 *   [...]    a class of runes (ranges, ^ negation, \ escapes; may match '/')
 *   ** /     (.* /)?   nothing, or any text up to and including a '/'
 *   ** (end) .*        any text
 *   ^        ^         only at the start of the path
 *   \c       c
 *
 * The '.' of the regular expression does not match '\n', so neither do
 * "**" tokens.  Paths and patterns are UTF-8; an invalid byte is one rune
 * U+FFFD, as in Go.  Matching runs the token list as an NFA over the path
 * (a bit set of positions), so it takes O(tokens * path) time whatever the
 * pattern, and a single run answers for the path and all its parents.
 */
#include "gotext.h"
#include "ignore.h"

#include "util.h"

enum tok_kind {
	T_LIT,	     /* the rune cp */
	T_ANY,	     /* ? */
	T_STAR,	     /* * */
	T_DSTAR,     /* ** not at the end: (.* /)? */
	T_DSTAR_END, /* ** at the end: .* */
	T_CLASS,     /* ranges[first .. first + n) pairs, maybe negated */
	T_BOL,	     /* ^ outside a class */
};

typedef struct tok {
	uint8_t kind;
	bool negated;
	uint32_t cp;
	size_t first, n;
} tok;

enum pat_mode { M_EXACT, M_PREFIX, M_SUFFIX, M_GLOB };

typedef struct pattern {
	char *text; /* cleaned, without the '!' */
	size_t len;
	bool exception;
	enum pat_mode mode;
	size_t stem_len; /* text without a trailing "/ **" or "/ *" */
	bool wild_stem;	 /* the stem has one of * [ ] ? ^ \ */
	tok *toks;
	size_t ntoks;
	uint32_t *ranges; /* lo, hi pairs for T_CLASS */
	size_t nranges;
} pattern;

struct df_ignore {
	pattern *v;
	size_t n, cap;
	bool exceptions;      /* some pattern is an exception */
	bool wild_exceptions; /* ... and one of them has a wildcard in its stem */
};

/* Bit sets of this many words live on the stack; longer patterns allocate. */
#define STACK_WORDS 8

/* ---- UTF-8 and white space ----------------------------------------------- */

/* Decodes one rune at s (n >= 1 bytes) as Go does: an invalid, overlong or
 * surrogate sequence is U+FFFD of length 1. */
static size_t utf8_decode(const char *s, size_t n, uint32_t *ret_cp)
{
	size_t w;
	*ret_cp = df_utf8_decode(s, n, &w, NULL);
	return w;
}

/* Go's unicode.IsSpace. */
static bool is_space(uint32_t c)
{
	return df_go_isspace(c);
}

/* strings.TrimSpace on (*s, *n). */
static void trim_space(const char **s, size_t *n)
{
	size_t i = 0, end = 0;
	bool lead = true;

	while (i < *n) {
		uint32_t c;
		size_t l = utf8_decode(*s + i, *n - i, &c);

		if (!is_space(c)) {
			if (lead) {
				*s += i;
				*n -= i;
				i = 0;
				lead = false;
			}
			end = i + l;
		}
		i += l;
	}
	*n = lead ? 0 : end;
}

/* ---- filepath.Clean -------------------------------------------------------- */

/* Go's filepath.Clean (Unix) of s[0..n); malloc'd, NUL-terminated. */
static char *path_clean(const char *s, size_t n, size_t *ret_len)
{
	char *out = malloc(n + 2);
	bool rooted = n > 0 && s[0] == '/';
	size_t r = 0, w = 0, dotdot = 0;

	if (!out)
		return NULL;
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < n) {
		bool end1 = r + 1 == n || s[r + 1] == '/';

		if (s[r] == '/') {
			r++;
		} else if (s[r] == '.' && end1) {
			r++;
		} else if (s[r] == '.' && s[r + 1] == '.' && (r + 2 == n || s[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			while (r < n && s[r] != '/')
				out[w++] = s[r++];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	*ret_len = w;
	return out;
}

/* ---- pattern syntax ------------------------------------------------------ */

/* One class endpoint (filepath.Match's getEsc) at p[*i..n); stores the rune
 * and advances *i, or returns why it is malformed. */
static const char *class_char(const char *p, size_t n, size_t *i, uint32_t *ret_cp)
{
	size_t l;

	if (*i >= n)
		return "unterminated character class";
	if (p[*i] == '-' || p[*i] == ']')
		return "'-' or ']' where a character class needs a character";
	if (p[*i] == '\\') {
		if (++*i >= n)
			return "unterminated character class";
	}
	l = utf8_decode(p + *i, n - *i, ret_cp);
	if (*ret_cp == 0xfffd && l == 1)
		return "invalid UTF-8 in character class";
	*i += l;
	if (*i >= n)
		return "unterminated character class";
	return NULL;
}

/* Reads the class whose '[' is at p[*i] and leaves *i after its ']'.  With
 * t, also records its ranges in pat.  Returns NULL or why it is malformed.
 * A reversed range (z-a) is an error here; patternmatcher fails on it only
 * when its regular expression is compiled, at the first match. */
static const char *class_scan(const char *p, size_t n, size_t *i, pattern *pat, tok *t)
{
	size_t nrange = 0;

	++*i;
	if (*i < n && p[*i] == '^') {
		if (t)
			t->negated = true;
		++*i;
	}
	for (;;) {
		uint32_t lo, hi;
		const char *why;

		if (*i < n && p[*i] == ']' && nrange > 0) {
			++*i;
			return NULL;
		}
		why = class_char(p, n, i, &lo);
		if (why)
			return why;
		hi = lo;
		if (p[*i] == '-') {
			++*i;
			why = class_char(p, n, i, &hi);
			if (why)
				return why;
		}
		if (hi < lo)
			return "reversed range in character class";
		if (pat) {
			pat->ranges[2 * pat->nranges] = lo;
			pat->ranges[2 * pat->nranges + 1] = hi;
			pat->nranges++;
			t->n++;
		}
		nrange++;
	}
}

/* The syntax check patternmatcher does with filepath.Match(p, "."). */
static const char *check_syntax(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (p[i] == '\\') {
			if (i + 1 >= n)
				return "'\\' at the end of the pattern";
			i += 2;
		} else if (p[i] == '[') {
			const char *why = class_scan(p, n, &i, NULL, NULL);

			if (why)
				return why;
		} else {
			i++;
		}
	}
	return NULL;
}

static void push_tok(pattern *pat, uint8_t kind, uint32_t cp)
{
	pat->toks[pat->ntoks++] = (tok){.kind = kind, .cp = cp};
}

/* Translates the (valid) pattern text into tokens and decides its kind,
 * following patternmatcher's compile(). */
static int compile(pattern *pat)
{
	const char *p = pat->text;
	size_t n = pat->len, i = 0;
	bool first = true;

	/* at most one token and one range pair per byte */
	pat->toks = calloc(n + 1, sizeof(*pat->toks));
	pat->ranges = calloc(n + 1, 2 * sizeof(*pat->ranges));
	if (!pat->toks || !pat->ranges)
		return -ENOMEM;
	pat->mode = M_EXACT;
	while (i < n) {
		uint32_t cp;

		if (p[i] == '*' && i + 1 < n && p[i + 1] == '*') {
			i += 2;
			if (i < n && p[i] == '/')
				i++;
			if (i < n) {
				push_tok(pat, T_DSTAR, 0);
				pat->mode = M_GLOB;
			} else if (pat->mode == M_EXACT) {
				pat->mode = M_PREFIX;
			} else {
				push_tok(pat, T_DSTAR_END, 0);
				pat->mode = M_GLOB;
			}
			if (first)
				pat->mode = M_SUFFIX;
		} else if (p[i] == '*' || p[i] == '?') {
			push_tok(pat, p[i] == '*' ? T_STAR : T_ANY, 0);
			pat->mode = M_GLOB;
			i++;
		} else if (p[i] == '[') {
			tok *t = &pat->toks[pat->ntoks++];

			*t = (tok){.kind = T_CLASS, .first = pat->nranges};
			if (class_scan(p, n, &i, pat, t))
				return CAIRN_E_FORMAT; /* checked before: cannot happen */
			pat->mode = M_GLOB;
		} else if (p[i] == '\\' && i + 1 < n) {
			i++;
			i += utf8_decode(p + i, n - i, &cp);
			push_tok(pat, T_LIT, cp);
			pat->mode = M_GLOB;
		} else if (p[i] == '^') {
			push_tok(pat, T_BOL, 0);
			i++;
		} else {
			if (p[i] == ']')
				pat->mode = M_GLOB;
			i += utf8_decode(p + i, n - i, &cp);
			push_tok(pat, T_LIT, cp);
		}
		first = false;
	}
	return 0;
}

/* fsutil's patternWithoutTrailingGlob, and whether what is left is literal. */
static void set_stem(pattern *pat)
{
	size_t n = pat->len;

	if (n >= 3 && memcmp(pat->text + n - 3, "/**", 3) == 0)
		n -= 3;
	if (n >= 2 && memcmp(pat->text + n - 2, "/*", 2) == 0)
		n -= 2;
	pat->stem_len = n;
	pat->wild_stem = false;
	for (size_t i = 0; i < n; i++)
		if (strchr("*[]?^\\", pat->text[i]) && pat->text[i] != '\0')
			pat->wild_stem = true;
}

static void pattern_done(pattern *pat)
{
	free(pat->text);
	free(pat->toks);
	free(pat->ranges);
}

/* patternmatcher.New for one entry s[0..n): appends it to ig unless blank.
 * Returns 0, -ENOMEM, or CAIRN_E_FORMAT with *ret_why set. */
static int add_pattern(df_ignore *ig, const char *s, size_t n, const char **ret_why)
{
	pattern pat = {0};
	const char *why;
	char *c;
	size_t clen;
	int r;

	trim_space(&s, &n);
	if (n == 0)
		return 0;
	c = path_clean(s, n, &clen);
	if (!c)
		return -ENOMEM;
	if (c[0] == '!') {
		if (clen == 1) {
			free(c);
			*ret_why = "an exception needs a pattern after '!'";
			return CAIRN_E_FORMAT;
		}
		pat.exception = true;
		memmove(c, c + 1, clen--);
	}
	pat.text = c;
	pat.len = clen;
	why = check_syntax(c, clen);
	if (why) {
		pattern_done(&pat);
		*ret_why = why;
		return CAIRN_E_FORMAT;
	}
	r = compile(&pat);
	if (r >= 0)
		r = ARRAY_RESERVE(ig->v, ig->cap, ig->n + 1, 16);
	if (r < 0) {
		pattern_done(&pat);
		return r;
	}
	set_stem(&pat);
	if (pat.exception) {
		ig->exceptions = true;
		if (pat.wild_stem)
			ig->wild_exceptions = true;
	}
	ig->v[ig->n++] = pat;
	return 0;
}

/* One .dockerignore line as ignorefile.ReadAll turns it into a pattern
 * string (then given to add_pattern); *ret is NULL for a line it drops. */
static int read_line(const char *s, size_t n, char **ret, size_t *ret_len)
{
	bool invert;
	char *c = NULL, *out;
	size_t clen = 0, off = 0;

	*ret = NULL;
	if (n > 0 && s[0] == '#')
		return 0;
	trim_space(&s, &n);
	if (n == 0)
		return 0;
	invert = s[0] == '!';
	if (invert) {
		s++, n--;
		trim_space(&s, &n);
	}
	if (n > 0) {
		c = path_clean(s, n, &clen);
		if (!c)
			return -ENOMEM;
		if (clen > 1 && c[0] == '/')
			off = 1;
	}
	out = malloc(clen - off + 2);
	if (!out) {
		free(c);
		return -ENOMEM;
	}
	if (invert)
		out[0] = '!';
	if (clen > off)
		memcpy(out + invert, c + off, clen - off);
	*ret_len = invert + clen - off;
	out[*ret_len] = '\0';
	free(c);
	*ret = out;
	return 0;
}

int df_ignore_parse(const char *text, size_t len, const char *filename, df_ignore **ret,
		    cairn_error **err)
{
	df_ignore *ig = calloc(1, sizeof(*ig));
	size_t pos = 0;
	unsigned line = 0;

	if (!filename)
		filename = ".dockerignore";
	if (!ig)
		return cairn_error_set(err, -ENOMEM, "%s: out of memory", filename);
	while (text && pos < len) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t) (nl - s) : len - pos;
		_cleanup_free_ char *pat = NULL;
		const char *why = NULL;
		size_t plen = 0;
		int r;

		pos += n + (nl ? 1 : 0);
		line++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (line == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3, n -= 3;
		r = read_line(s, n, &pat, &plen);
		if (r >= 0 && pat)
			r = add_pattern(ig, pat, plen, &why);
		if (r == CAIRN_E_FORMAT) {
			_cleanup_free_ char *q = NULL;

			trim_space(&s, &n);
			q = quote_name(s, n);
			df_ignore_free(ig);
			return cairn_error_set(err, r, "%s:%u: bad pattern \"%s\": %s", filename,
					       line, q ? q : "?", why);
		}
		if (r < 0) {
			df_ignore_free(ig);
			return cairn_error_set(err, r, "%s: out of memory", filename);
		}
	}
	*ret = ig;
	return 0;
}

int df_ignore_new(const char *const *patterns, size_t n, df_ignore **ret, cairn_error **err)
{
	df_ignore *ig = calloc(1, sizeof(*ig));

	if (!ig)
		return cairn_error_set(err, -ENOMEM, "exclude patterns: out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;
		size_t len;
		int r;

		if (!patterns[i])
			continue;
		len = strlen(patterns[i]);
		r = add_pattern(ig, patterns[i], len, &why);
		if (r == CAIRN_E_FORMAT) {
			_cleanup_free_ char *q = quote_name(patterns[i], len);

			df_ignore_free(ig);
			return cairn_error_set(err, r, "bad pattern \"%s\": %s", q ? q : "?", why);
		}
		if (r < 0) {
			df_ignore_free(ig);
			return cairn_error_set(err, r, "exclude patterns: out of memory");
		}
	}
	*ret = ig;
	return 0;
}

void df_ignore_free(df_ignore *ig)
{
	if (!ig)
		return;
	for (size_t i = 0; i < ig->n; i++)
		pattern_done(&ig->v[i]);
	free(ig->v);
	free(ig);
}

bool df_ignore_has_exceptions(const df_ignore *ig)
{
	return ig && ig->exceptions;
}

size_t df_ignore_count(const df_ignore *ig)
{
	return ig ? ig->n : 0;
}

/* ---- matching ------------------------------------------------------------ */

/* Whether byte k of s[0..n) ends the path or one of its parents. */
static inline bool at_boundary(const char *s, size_t n, size_t k)
{
	return k == n || s[k] == '/';
}

static inline bool bit(const uint64_t *set, size_t i)
{
	return set[i / 64] >> (i % 64) & 1;
}

static inline void set_bit(uint64_t *set, size_t i)
{
	set[i / 64] |= UINT64_C(1) << (i % 64);
}

static bool in_class(const pattern *pat, const tok *t, uint32_t c)
{
	bool in = false;

	for (size_t k = 0; k < t->n && !in; k++) {
		const uint32_t *r = &pat->ranges[2 * (t->first + k)];

		in = r[0] <= c && c <= r[1];
	}
	return in != t->negated;
}

/* The NFA has a state P(i) "before token i" (bit i, i <= ntoks) and D(i)
 * "inside the .* of the (.* /)? of token i" (bit ntoks + 1 + i).  Adds the
 * states reachable without consuming input at byte offset pos. */
static void closure(const pattern *pat, uint64_t *set, size_t pos)
{
	size_t nt = pat->ntoks;

	for (size_t i = 0; i < nt; i++) {
		if (!bit(set, i))
			continue;
		switch (pat->toks[i].kind) {
		case T_STAR:
		case T_DSTAR_END:
			set_bit(set, i + 1);
			break;
		case T_DSTAR:
			set_bit(set, i + 1);
			set_bit(set, nt + 1 + i);
			break;
		case T_BOL:
			if (pos == 0)
				set_bit(set, i + 1);
			break;
		default:
			break;
		}
	}
}

/* Consumes rune c: next := the states cur moves to. */
static void step(const pattern *pat, const uint64_t *cur, uint64_t *next, size_t words, uint32_t c)
{
	size_t nt = pat->ntoks;

	memset(next, 0, words * sizeof(*next));
	for (size_t i = 0; i < nt; i++) {
		const tok *t = &pat->toks[i];

		if (bit(cur, nt + 1 + i)) {
			if (c != '\n')
				set_bit(next, nt + 1 + i);
			if (c == '/')
				set_bit(next, i + 1);
		}
		if (!bit(cur, i))
			continue;
		switch (t->kind) {
		case T_LIT:
			if (c == t->cp)
				set_bit(next, i + 1);
			break;
		case T_ANY:
			if (c != '/')
				set_bit(next, i + 1);
			break;
		case T_CLASS:
			if (in_class(pat, t, c))
				set_bit(next, i + 1);
			break;
		case T_STAR:
			if (c != '/')
				set_bit(next, i);
			break;
		case T_DSTAR_END:
			if (c != '\n')
				set_bit(next, i);
			break;
		default:
			break;
		}
	}
}

static bool glob_run(const pattern *pat, const char *s, size_t n, uint64_t *a, uint64_t *b,
		     size_t words)
{
	size_t pos = 0;

	memset(a, 0, words * sizeof(*a));
	set_bit(a, 0);
	closure(pat, a, 0);
	while (pos < n) {
		uint64_t *t, any = 0;
		uint32_t c;

		pos += utf8_decode(s + pos, n - pos, &c);
		step(pat, a, b, words, c);
		closure(pat, b, pos);
		t = a, a = b, b = t;
		for (size_t w = 0; w < words; w++)
			any |= a[w];
		if (!any)
			return false;
		if (at_boundary(s, n, pos) && bit(a, pat->ntoks))
			return true;
	}
	return false;
}

/* Whether the glob matches s[0..n) or one of its parent directories. */
static bool glob_match(const pattern *pat, const char *s, size_t n)
{
	uint64_t stack[2 * STACK_WORDS];
	size_t words = (2 * pat->ntoks + 1) / 64 + 1;
	uint64_t *heap;
	bool r;

	if (words <= STACK_WORDS)
		return glob_run(pat, s, n, stack, stack + STACK_WORDS, words);
	heap = calloc(2 * words, sizeof(*heap));
	if (!heap)
		return !pat->exception; /* out of memory: err towards excluding */
	r = glob_run(pat, s, n, heap, heap + words, words);
	free(heap);
	return r;
}

static bool suffix_match(const pattern *pat, const char *s, size_t n)
{
	const char *suf = pat->text + 2;
	size_t slen = pat->len - 2;

	for (size_t k = 1; k <= n; k++) {
		if (!at_boundary(s, n, k))
			continue;
		if (k >= slen && memcmp(s + k - slen, suf, slen) == 0)
			return true;
		if (slen > 0 && suf[0] == '/' && k == slen - 1 && memcmp(s, suf + 1, k) == 0)
			return true;
	}
	return false;
}

/* Whether pat matches s[0..n) or one of its parents (n > 0). */
static bool pattern_match(const pattern *pat, const char *s, size_t n)
{
	switch (pat->mode) {
	case M_EXACT:
		return n >= pat->len && memcmp(s, pat->text, pat->len) == 0 &&
		       at_boundary(s, n, pat->len) && pat->len > 0;
	case M_PREFIX:
		return n >= pat->len - 2 && memcmp(s, pat->text, pat->len - 2) == 0;
	case M_SUFFIX:
		return suffix_match(pat, s, n);
	case M_GLOB:
		return glob_match(pat, s, n);
	}
	return false;
}

/* Drops a leading "/" or "./" and trailing "/"; false for the root. */
static bool norm_path(const char *path, const char **ret, size_t *ret_n)
{
	size_t n;

	if (!path)
		return false;
	for (;;) {
		if (path[0] == '/')
			path++;
		else if (path[0] == '.' && path[1] == '/')
			path += 2;
		else
			break;
	}
	n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	if (n == 0 || (n == 1 && path[0] == '.'))
		return false;
	*ret = path;
	*ret_n = n;
	return true;
}

bool df_ignore_excluded(const df_ignore *ig, const char *path)
{
	const char *s;
	size_t n;

	if (!ig || !norm_path(path, &s, &n))
		return false;
	/* the last pattern that matches decides */
	for (size_t i = ig->n; i-- > 0;)
		if (pattern_match(&ig->v[i], s, n))
			return !ig->v[i].exception;
	return false;
}

bool df_ignore_may_include_below(const df_ignore *ig, const char *dir)
{
	const char *s;
	size_t n;

	if (!ig || !ig->exceptions)
		return false;
	if (ig->wild_exceptions || !norm_path(dir, &s, &n))
		return true;
	/* some exception's stem + "/" starts with dir + "/" */
	for (size_t i = 0; i < ig->n; i++) {
		const pattern *pat = &ig->v[i];

		if (pat->exception && pat->stem_len >= n && memcmp(pat->text, s, n) == 0 &&
		    (pat->stem_len == n || pat->text[n] == '/'))
			return true;
	}
	return false;
}
