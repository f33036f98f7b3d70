/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shell-word expansion for Dockerfile instructions, with the semantics of
 * BuildKit's shell lexer (frontend/dockerfile/shell, Lex.ProcessWord and
 * Lex.ProcessWords).  Not a shell: no command substitution, no field
 * splitting other than ProcessWords' white space, no globbing of words.
 *
 *   word     := ( literal | ESC char | '...' | "..." | $name | ${...} )*
 *   '...'    literal up to the next ', no escapes
 *   "..."    $ expands; ESC escapes only $ " and ESC, otherwise stays
 *   name     digits | one of @*#?-$! | [letters digits _]+
 *   ${name}  ${name:-w} ${name-w} ${name:+w} ${name+w} ${name:?m} ${name?m}
 *            ${name#p} ${name##p} ${name%p} ${name%%p} ${name/p/r} ${name//p/r}
 *
 * A '$' not followed by a name stays literal.  An escape at the very end
 * of the input is dropped.  Patterns are globs (* ? [...], ESC quotes the
 * next character); # and % take the shortest match, ## and %% the
 * longest, / and // replace the leftmost-longest match(es).
 *
 * The input is treated as UTF-8: ? and [...] match one character, non-
 * ASCII letters may be part of a name, Unicode white space splits words.
 * No global state: everything lives in a struct lexer on the stack.
 */
#include "gotext.h"
#include "shell.h"

#include "util.h"

/* Nesting of ${...} inside ${...}: bounded so that hostile input cannot
 * exhaust the stack. */
#define MAX_DEPTH 64
#define NO_STOP (-1)

typedef struct words {
	char **v; /* finished words, each malloc'd */
	size_t n, cap;
	bytebuf cur; /* the word being built */
	bool in_word;
} words;

typedef struct lexer {
	const char *p; /* next unread byte; the input is NUL-terminated */
	char esc;
	char *const *env;
	unsigned depth;
	cairn_error **err;
} lexer;

/* ---- UTF-8 helpers ------------------------------------------------------- */

/* Decodes one character at s (at most n bytes); returns its length (an
 * invalid sequence is U+FFFD of length 1, as in Go; n == 0 is the end). */
static size_t utf8_decode(const char *s, size_t n, uint32_t *ret_cp)
{
	size_t w;
	if (n == 0) { /* at the input's NUL: the scanners stop on code 0 */
		*ret_cp = 0;
		return 1;
	}
	*ret_cp = df_utf8_decode(s, n, &w, NULL);
	return w;
}

static size_t char_len(const char *s)
{
	uint32_t cp;
	return utf8_decode(s, strnlen(s, 4), &cp);
}

/* White space as Go's unicode.IsSpace. */
static bool is_space_cp(uint32_t cp)
{
	return df_go_isspace(cp);
}

/* Letters for names: ASCII letters, and non-ASCII characters outside the
 * common punctuation, symbol and space blocks (an approximation of Go's
 * unicode.IsLetter that avoids a locale). */
static bool is_letter_cp(uint32_t cp)
{
	if (cp < 0x80)
		return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
	if (cp <= 0xbf || cp == 0xd7 || cp == 0xf7)
		return false;
	if ((cp >= 0x2000 && cp <= 0x2bff) || (cp >= 0x3000 && cp <= 0x303f) ||
	    (cp >= 0xff00 && cp <= 0xff0f) || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfeff)
		return false;
	return !is_space_cp(cp);
}

/* ---- buffers and word lists ---------------------------------------------- */

static int buf_putc(bytebuf *b, char c)
{
	return buf_append(b, &c, 1);
}

static int buf_puts(bytebuf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/* NUL-terminates b and hands its data on (an empty string if b is empty). */
static int buf_steal_str(bytebuf *b, char **ret)
{
	int r = buf_putc(b, '\0');
	if (r < 0)
		return r;
	*ret = (char *) b->data;
	*b = (bytebuf){0};
	return 0;
}

static void words_clear(words *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i]);
	free(w->v);
	buf_clear(&w->cur);
	*w = (words){0};
}

static int words_finish_word(words *w)
{
	int r;

	if (!w->in_word)
		return 0;
	/* one slot more for the final NULL */
	r = ARRAY_RESERVE(w->v, w->cap, w->n + 2, 8);
	if (r < 0)
		return r;
	r = buf_steal_str(&w->cur, &w->v[w->n]);
	if (r < 0)
		return r;
	w->n++;
	w->in_word = false;
	return 0;
}

/* Adds s[0..n) to the current word.  Unless raw, white space ends the
 * word instead (and is dropped), like BuildKit's addChar/addRawChar. */
static int words_add(words *w, const char *s, size_t n, bool raw)
{
	int r;

	if (!w)
		return 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_decode(s + i, n - i, &cp);

		if (!raw && is_space_cp(cp)) {
			r = words_finish_word(w);
		} else {
			r = buf_append(&w->cur, s + i, k);
			w->in_word = true;
		}
		if (r < 0)
			return r;
		i += k;
	}
	return 0;
}

/* ---- environment ----------------------------------------------------------- */

/* The value of name[0..len), NULL when unset; the last entry wins. */
static const char *env_get(char *const *env, const char *name, size_t len)
{
	const char *found = NULL;

	if (!env || len == 0)
		return NULL;
	for (; *env; env++)
		if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
			found = *env + len + 1;
	return found;
}

/* ---- glob patterns --------------------------------------------------------- */

/* Matches one bracket expression at pat (just after '[') against cp.
 * Returns the length consumed through the closing ']' (0: no closing
 * bracket, then '[' is literal) and sets *ret_match. */
static size_t glob_bracket(const char *pat, size_t plen, char esc, uint32_t cp, bool *ret_match)
{
	size_t i = 0;
	bool neg = false, match = false, first = true;

	if (i < plen && (pat[i] == '!' || pat[i] == '^')) {
		neg = true;
		i++;
	}
	while (i < plen) {
		uint32_t lo, hi;

		if (pat[i] == ']' && !first) {
			*ret_match = match != neg;
			return i + 1;
		}
		first = false;
		if (pat[i] == esc && i + 1 < plen)
			i++;
		i += utf8_decode(pat + i, plen - i, &lo);
		hi = lo;
		if (i + 1 < plen && pat[i] == '-' && pat[i + 1] != ']') {
			i++;
			if (pat[i] == esc && i + 1 < plen)
				i++;
			i += utf8_decode(pat + i, plen - i, &hi);
		}
		if (cp >= lo && cp <= hi)
			match = true;
	}
	return 0;
}

/* Does the whole of s[0..slen) match the glob pat[0..plen)?  Backtracks
 * only to the last '*', which is enough for globs. */
static bool glob_match(const char *pat, size_t plen, const char *s, size_t slen, char esc)
{
	size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;

	while (si < slen) {
		if (pi < plen && pat[pi] == '*') {
			star_p = ++pi;
			star_s = si;
			continue;
		}
		if (pi < plen) {
			uint32_t cp;
			size_t k = utf8_decode(s + si, slen - si, &cp);

			if (pat[pi] == '?') {
				pi++;
				si += k;
				continue;
			}
			if (pat[pi] == '[') {
				bool m = false;
				size_t n = glob_bracket(pat + pi + 1, plen - pi - 1, esc, cp, &m);

				if (n > 0) {
					if (m) {
						pi += 1 + n;
						si += k;
						continue;
					}
					goto backtrack;
				}
			}
			size_t lit = pi;
			if (pat[lit] == esc && lit + 1 < plen)
				lit++;
			if (pat[lit] == s[si]) {
				pi = lit + 1;
				si++;
				continue;
			}
		}
	backtrack:
		if (star_p == SIZE_MAX)
			return false;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < plen && pat[pi] == '*')
		pi++;
	return pi == plen;
}

/* Does a character start at s[i] (or is i the end)? */
static bool is_boundary(const char *s, size_t i)
{
	return ((unsigned char) s[i] & 0xc0) != 0x80;
}

/* ${v#p} ${v##p}: value without its shortest (longest if greedy) matching
 * prefix; ${v%p} ${v%%p} likewise for suffixes. */
static int trim_match(bytebuf *out, const char *val, const char *pat, size_t plen, char esc,
		      bool suffix, bool greedy)
{
	size_t n = strlen(val);

	for (size_t j = 0; j <= n; j++) {
		size_t i = greedy ? n - j : j; /* candidate length of the prefix/suffix */

		if (!is_boundary(val, suffix ? n - i : i))
			continue;
		if (suffix ? glob_match(pat, plen, val + n - i, i, esc)
			   : glob_match(pat, plen, val, i, esc))
			return suffix ? buf_append(out, val, n - i) : buf_puts(out, val + i);
	}
	return buf_puts(out, val);
}

/* ${v/p/r} ${v//p/r}: replaces the leftmost-longest match (every
 * non-overlapping match when all; an empty match right after a match does
 * not count). */
static int replace_match(bytebuf *out, const char *val, const char *pat, size_t plen,
			 const char *rep, char esc, bool all)
{
	size_t n = strlen(val), s = 0;
	bool replaced = false, after_match = false;
	int r;

	while (s <= n) {
		size_t e = n + 1;

		if (!(replaced && !all)) {
			for (size_t k = n + 1; k-- > s;)
				if (is_boundary(val, k) &&
				    glob_match(pat, plen, val + s, k - s, esc)) {
					e = k;
					break;
				}
			if (e == s && after_match)
				e = n + 1;
		}
		if (e <= n) {
			r = buf_puts(out, rep);
			if (r < 0)
				return r;
			replaced = true;
			after_match = e > s;
			if (e > s) {
				s = e;
				continue;
			}
		}
		after_match = false;
		if (s == n)
			break;
		size_t k = char_len(val + s);
		r = buf_append(out, val + s, k);
		if (r < 0)
			return r;
		s += k;
	}
	return 0;
}

/* ---- the lexer --------------------------------------------------------------- */

static int process_stop_on(lexer *lx, int stop, bool raw_esc, bytebuf *out, words *w);

static int syntax_error(lexer *lx, const char *what)
{
	return cairn_error_set(lx->err, CAIRN_E_FORMAT, "%s", what);
}

/* A name after '$': digits, one special parameter, or letters, digits and
 * '_'.  Returns its length (0: no name) and advances. */
static size_t process_name(lexer *lx)
{
	const char *start = lx->p;

	if (*lx->p >= '0' && *lx->p <= '9') {
		while (*lx->p >= '0' && *lx->p <= '9')
			lx->p++;
		return (size_t) (lx->p - start);
	}
	if (*lx->p && strchr("@*#?-$!", *lx->p)) {
		lx->p++;
		return 1;
	}
	for (;;) {
		uint32_t cp;
		size_t k = utf8_decode(lx->p, strnlen(lx->p, 4), &cp);

		if (cp == 0 || !(is_letter_cp(cp) || (cp >= '0' && cp <= '9') || cp == '_'))
			break;
		lx->p += k;
	}
	return (size_t) (lx->p - start);
}

/* The word of a ${name<op>word} up to stop, in a buffer of its own. */
static int sub_word(lexer *lx, int stop, bool raw_esc, char **ret)
{
	_cleanup_(buf_clear) bytebuf b = {0};
	int r = process_stop_on(lx, stop, raw_esc, &b, NULL);
	if (r < 0)
		return r;
	return buf_steal_str(&b, ret);
}

static int process_braces_op(lexer *lx, const char *name, size_t nlen, char op, bytebuf *out)
{
	const char *val = env_get(lx->env, name, nlen);
	_cleanup_free_ char *word = NULL, *rep = NULL;
	bool twice = false;
	char mod = 0;
	int r;

	if (op == ':') {
		mod = *lx->p;
		if (!mod)
			return syntax_error(lx, "syntax error: missing '}'");
		if (!strchr("+-?", mod))
			return cairn_error_set(lx->err, CAIRN_E_FORMAT,
					       "unsupported modifier (%c) in substitution", mod);
		lx->p++;
	}
	if ((op == '#' || op == '%' || op == '/') && *lx->p == op) {
		twice = true;
		lx->p++;
	}
	r = sub_word(lx, op == '/' ? '/' : '}', op == '#' || op == '%' || op == '/', &word);
	if (r < 0)
		return r;

	switch (op) {
	case ':':
		if (mod == '+')
			return buf_puts(out, val && *val ? word : "");
		if (mod == '-')
			return buf_puts(out, val && *val ? val : word);
		if (!val || !*val)
			return cairn_error_set(lx->err, CAIRN_E_FORMAT, "%.*s: %s", (int) nlen,
					       name, *word ? word : "is not allowed to be empty");
		return buf_puts(out, val);
	case '+':
		return buf_puts(out, val ? word : "");
	case '-':
		return buf_puts(out, val ? val : word);
	case '?':
		if (!val)
			return cairn_error_set(lx->err, CAIRN_E_FORMAT, "%.*s: %s", (int) nlen,
					       name, *word ? word : "is not allowed to be unset");
		return buf_puts(out, val);
	case '#':
	case '%':
		return trim_match(out, val ? val : "", word, strlen(word), lx->esc, op == '%',
				  twice);
	case '/':
		r = sub_word(lx, '}', false, &rep);
		if (r < 0)
			return r;
		return replace_match(out, val ? val : "", word, strlen(word), rep, lx->esc, twice);
	default:
		return cairn_error_set(lx->err, CAIRN_E_FORMAT,
				       "unsupported modifier (%c) in substitution", op);
	}
}

/* After "${". */
static int process_braces(lexer *lx, bytebuf *out)
{
	const char *name;
	size_t nlen;
	char op;

	if (!*lx->p)
		return syntax_error(lx, "syntax error: missing '}'");
	if (*lx->p == '{' || *lx->p == '}' || *lx->p == ':')
		return syntax_error(lx, "syntax error: bad substitution");
	name = lx->p;
	nlen = process_name(lx);
	op = *lx->p;
	if (!op)
		return syntax_error(lx, "syntax error: missing '}'");
	lx->p++;
	if (op == '}') {
		const char *val = env_get(lx->env, name, nlen);
		return val ? buf_puts(out, val) : 0;
	}
	if (nlen == 0 || !strchr(":+-?#%/", op))
		return syntax_error(lx, "syntax error: bad substitution");
	return process_braces_op(lx, name, nlen, op, out);
}

/* At '$': appends the expansion to out. */
static int process_dollar(lexer *lx, bytebuf *out)
{
	int r;

	lx->p++;
	if (*lx->p != '{') {
		const char *name = lx->p;
		size_t nlen = process_name(lx);
		const char *val;

		if (nlen == 0)
			return buf_putc(out, '$');
		val = env_get(lx->env, name, nlen);
		return val ? buf_puts(out, val) : 0;
	}
	lx->p++;
	if (lx->depth >= MAX_DEPTH)
		return syntax_error(lx, "syntax error: ${...} nested too deeply");
	lx->depth++;
	r = process_braces(lx, out);
	lx->depth--;
	return r;
}

/* At '\'': everything up to the next '\'' is literal. */
static int process_single_quote(lexer *lx, bytebuf *out)
{
	const char *start = ++lx->p, *end = strchr(start, '\'');

	if (!end)
		return syntax_error(
		    lx, "unexpected end of statement while looking for matching single-quote");
	lx->p = end + 1;
	return buf_append(out, start, (size_t) (end - start));
}

/* At '"': $ expands, the escape character quotes only $ " and itself. */
static int process_double_quote(lexer *lx, bytebuf *out)
{
	int r;

	lx->p++;
	for (;;) {
		char c = *lx->p;

		if (!c)
			return syntax_error(
			    lx,
			    "unexpected end of statement while looking for matching double-quote");
		if (c == '"') {
			lx->p++;
			return 0;
		}
		if (c == '$') {
			r = process_dollar(lx, out);
		} else {
			lx->p++;
			if (c == lx->esc && *lx->p &&
			    (*lx->p == '"' || *lx->p == '$' || *lx->p == lx->esc))
				c = *lx->p++;
			r = buf_putc(out, c);
		}
		if (r < 0)
			return r;
	}
}

/* Processes up to stop (NO_STOP: the end), appending to out and, if w, to
 * the word list.  raw_esc keeps escape characters (for patterns). */
static int process_stop_on(lexer *lx, int stop, bool raw_esc, bytebuf *out, words *w)
{
	int r;

	while (*lx->p) {
		char c = *lx->p;
		size_t mark = out->len;
		bool raw = true;

		if (stop != NO_STOP && c == stop) {
			lx->p++;
			return 0;
		}
		if (c == '\'') {
			r = process_single_quote(lx, out);
		} else if (c == '"') {
			r = process_double_quote(lx, out);
		} else if (c == '$') {
			r = process_dollar(lx, out);
			raw = false;
		} else if (c == lx->esc) {
			lx->p++;
			r = raw_esc ? buf_putc(out, c) : 0;
			if (r >= 0 && *lx->p) {
				size_t k = char_len(lx->p);
				r = buf_append(out, lx->p, k);
				lx->p += k;
			}
		} else {
			size_t k = char_len(lx->p);
			r = buf_append(out, lx->p, k);
			lx->p += k;
			raw = false;
		}
		if (r < 0)
			return r;
		r = words_add(w, (const char *) out->data + mark, out->len - mark, raw);
		if (r < 0)
			return r;
	}
	if (stop != NO_STOP)
		return stop == '}' ? syntax_error(lx, "syntax error: missing '}'")
				   : syntax_error(lx, "syntax error: missing '/' in ${}");
	return 0;
}

static int check_args(const char *in, char escape, cairn_error **err)
{
	if (!in)
		return cairn_error_set(err, -EINVAL, "shell expansion: no input");
	if (escape == '\0' || escape == '\'' || escape == '"' || escape == '$')
		return cairn_error_set(err, -EINVAL, "shell expansion: invalid escape character");
	return 0;
}

int df_shell_word(const char *in, char escape, char *const *env, char **ret, cairn_error **err)
{
	_cleanup_(buf_clear) bytebuf out = {0};
	lexer lx = {.p = in, .esc = escape, .env = env, .err = err};
	int r;

	r = check_args(in, escape, err);
	if (r < 0)
		return r;
	r = process_stop_on(&lx, NO_STOP, false, &out, NULL);
	if (r >= 0)
		r = buf_steal_str(&out, ret);
	if (r < 0)
		return cairn_error_from(err, r, "shell expansion");
	return 0;
}

int df_shell_words(const char *in, char escape, char *const *env, char ***ret, size_t *ret_n,
		   cairn_error **err)
{
	_cleanup_(buf_clear) bytebuf out = {0};
	_cleanup_(words_clear) words w = {0};
	lexer lx = {.p = in, .esc = escape, .env = env, .err = err};
	int r;

	r = check_args(in, escape, err);
	if (r < 0)
		return r;
	r = process_stop_on(&lx, NO_STOP, false, &out, &w);
	if (r >= 0)
		r = words_finish_word(&w);
	if (r >= 0 && !w.v) {
		w.v = calloc(1, sizeof(char *));
		if (!w.v)
			r = -ENOMEM;
	}
	if (r < 0)
		return cairn_error_from(err, r, "shell expansion");
	w.v[w.n] = NULL;
	if (ret_n)
		*ret_n = w.n;
	*ret = steal_pointer(&w.v);
	w.n = 0;
	return 0;
}

void df_shell_words_free(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}
