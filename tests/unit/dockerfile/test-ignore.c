/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of builder/dockerfile/ignore.c: tables of (.dockerignore text,
 * path, excluded?) drawn from Docker's documentation, moby/patternmatcher's
 * own tests (TestMatches, the filepath.Match vectors of TestMatch), Go
 * filepath.Clean and the ignorefile reader, then the errors for malformed
 * patterns and the rule for walking into excluded directories.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairn/error.h>

#include "ignore.h"
#include "tap.h"

typedef struct match_case {
	const char *text; /* .dockerignore contents */
	const char *path;
	bool excluded;
} match_case;

static const match_case match_cases[] = {
    /* Docker's documentation */
    {"*/temp*", "somedir/temporary.txt", true},
    {"*/temp*", "somedir/temp", true},
    {"*/temp*", "somedir/temp/inner/file", true},
    {"*/temp*", "temp", false},
    {"*/temp*", "temporary.txt", false},
    {"*/temp*", "a/b/temp", false},
    {"*/*/temp*", "somedir/subdir/temporary.txt", true},
    {"*/*/temp*", "somedir/temporary.txt", false},
    {"*/*/temp*", "a/b/c/temp", false},
    {"temp?", "tempa", true},
    {"temp?", "tempb/file", true},
    {"temp?", "temp", false},
    {"temp?", "tempab", false},
    {"temp?", "dir/tempa", false},
    {"**/*.go", "main.go", true},
    {"**/*.go", "a/b/c.go", true},
    {"**/*.go", "a/b/c.gox", false},
    {"*.md\n!README*.md", "README.md", false},
    {"*.md\n!README*.md", "README-secret.md", false},
    {"*.md\n!README*.md", "CHANGES.md", true},
    {"*.md\n!README*.md", "docs/CHANGES.md", false},
    {"*.md\n!README*.md\nREADME-secret.md", "README-secret.md", true},
    {"*.md\n!README*.md\nREADME-secret.md", "README-public.md", false},
    {"*.md\n!README*.md\nREADME-secret.md", "CHANGES.md", true},
    {"*.md\nREADME-secret.md\n!README*.md", "README-secret.md", false},
    {"*.md\nREADME-secret.md\n!README*.md", "CHANGES.md", true},

    /* a directory pattern covers everything below; exceptions re-include */
    {"a", "a/b/c", true},
    {"a", "ab", false},
    {"a", "b/a", false},
    {"docs\n!docs/README.md", "docs/README.md", false},
    {"docs\n!docs/README.md", "docs/other.md", true},
    {"docs\n!docs/README.md", "docs", true},
    {"docs/\n!docs/README.md", "docs/README.md", false},
    {"docs/\n!docs/README.md", "docs/x", true},
    {"docs/*\n!docs/README.md", "docs/README.md", false},
    {"docs/*\n!docs/README.md", "docs/a", true},
    {"docs/*\n!docs/README.md", "docs", false},
    {"build\n!build/keep/me.txt", "build/keep/me.txt", false},
    {"build\n!build/keep/me.txt", "build/keep/other", true},
    {"build\n!build/keep/me.txt", "build/keep", true},
    {"**\n!src", "src/a/b.c", false},
    {"**\n!src", "src", false},
    {"**\n!src", "other", true},
    {"**\n!src\nsrc/tmp", "src/tmp/x", true},
    {"**\n!src\nsrc/tmp", "src/tmpx", false},
    {"**\n!util/docker/web", "util/docker/web/foo", false},
    {"**\n!util/docker/web\nutil/docker/web/foo", "util/docker/web/foo", true},
    {"**\n!dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false},
    {"!fileutils.go\n*.go", "fileutils.go", true},
    {"*.go\n!fileutils.go", "fileutils.go", false},
    {"*.go\n!fileutils.go", "other.go", true},
    {"!a", "a", false},
    {"", "a", false},

    /* ** (patternmatcher's TestMatches) */
    {"**", "file", true},
    {"**/", "file", true},
    {"**", "dir/file", true},
    {"**/**", "dir/file", true},
    {"dir/**", "dir/file", true},
    {"dir/**", "dir/dir2/file", true},
    {"dir/**", "dir", false},
    {"**/dir", "dir", true},
    {"**/dir", "dir/file", true},
    {"**/dir", "x/dir/file", true},
    {"**/dir", "xdir", false},
    {"**/dir2/*", "dir/dir2/file", true},
    {"**/dir2/*", "dir2/file", true},
    {"**/dir2/**", "dir/dir2/dir3/file", true},
    {"**file", "file", true},
    {"**file", "dir/file", true},
    {"**file", "dir/dir/file", true},
    {"**file", "dir/xfile", true}, /* suffix match: ** then literal text */
    {"**/file", "dir/dir/file", true},
    {"**/file*", "dir/dir/file.txt", true},
    {"**/file*txt", "dir/dir/file.txt", true},
    {"**/file*.txt*", "dir/dir/file.txt", true},
    {"**/**/*.txt", "dir/dir/file.txt", true},
    {"**/**/*.txt2", "dir/dir/file.txt", false},
    {"**/*.txt", "file.txt", true},
    {"**/**/*.txt", "file.txt", true},
    {"a**/*.txt", "a/file.txt", true},
    {"a**/*.txt", "a/dir/file.txt", true},
    {"a**/*.txt", "a/dir/dir/file.txt", true},
    {"a**b", "ab", true},
    {"a**b", "a/x/b", true},
    {"a**b", "axb", false}, /* (.* /)? only ever ends at a '/' */
    {"a/*.txt", "a/dir/file.txt", false},
    {"a/*.txt", "a/file.txt", true},
    {"a/*.txt**", "a/file.txt", true},
    {"**/foo/bar", "foo/bar", true},
    {"**/foo/bar", "dir/foo/bar", true},
    {"**/foo/bar", "dir/dir2/foo/bar", true},
    {"abc/**", "abc", false},
    {"abc/**", "abc/def", true},
    {"abc/**", "abc/def/ghi", true},
    {"abc**", "abcdef/x", true},
    {"**/.foo", ".foo", true},
    {"**/.foo", "bar.foo", false},
    {"a/**/b", "a/b", true},
    {"a/**/b", "a/x/y/b", true},
    {"a/**/b", "a/x\ny/b", false}, /* regexp '.' does not match a newline */
    {"a/**/b", "ab", false},

    /* regexp metacharacters are literal */
    {".*", ".foo", true},
    {".*", "foo", false},
    {"abc.def", "abcdef", false},
    {"abc.def", "abc.def", true},
    {"abc.def", "abcZdef", false},
    {"abc?def", "abcZdef", true},
    {"abc?def", "abcdef", false},
    {"a(b)c/def", "a(b)c/def", true},
    {"a(b)c/def", "a(b)c/xyz", false},
    {"a.|)$(}+{bc", "a.|)$(}+{bc", true},
    {"a+*", "a+b", true},
    {"a+*", "aab", false},
    {"dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true},

    /* filepath.Match vectors (patternmatcher's TestMatch) */
    {"abc", "abc", true},
    {"*", "abc", true},
    {"*c", "abc", true},
    {"a*", "a", true},
    {"a*", "abc", true},
    {"a*", "ab/c", true},
    {"a*/b", "abc/b", true},
    {"a*/b", "a/c/b", false},
    {"a*b*c*d*e*/f", "axbxcxdxe/f", true},
    {"a*b*c*d*e*/f", "axbxcxdxexxx/f", true},
    {"a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false},
    {"a*b*c*d*e*/f", "axbxcxdxexxx/fff", false},
    {"a*b?c*x", "abxbbxdbxebxczzx", true},
    {"a*b?c*x", "abxbbxdbxebxczzy", false},
    {"ab[c]", "abc", true},
    {"ab[b-d]", "abc", true},
    {"ab[e-g]", "abc", false},
    {"ab[^c]", "abc", false},
    {"ab[^b-d]", "abc", false},
    {"ab[^e-g]", "abc", true},
    {"a\\*b", "a*b", true},
    {"a\\*b", "ab", false},
    {"a\\*b", "axb", false},
    {"a?b",
     "a\xe2\x98\xba"
     "b",
     true},
    {"a[^a]b",
     "a\xe2\x98\xba"
     "b",
     true},
    {"a???b",
     "a\xe2\x98\xba"
     "b",
     false},
    {"a[^a][^a][^a]b",
     "a\xe2\x98\xba"
     "b",
     false},
    {"[a-\xce\xb6]*", "\xce\xb1", true},
    {"*[a-\xce\xb6]", "A", false},
    {"a?b", "a/b", false},
    {"a*b", "a/b", false},
    {"[\\]a]", "]", true},
    {"[\\-]", "-", true},
    {"[x\\-]", "x", true},
    {"[x\\-]", "-", true},
    {"[x\\-]", "z", false},
    {"[\\-x]", "x", true},
    {"[\\-x]", "-", true},
    {"[\\-x]", "a", false},
    {"*x", "xxx", true},

    /* more classes and escapes */
    {"[abc]", "b", true},
    {"[abc]", "d", false},
    {"[a-cx-z]", "y", true},
    {"[a-cx-z]", "m", false},
    {"[^a-c]", "d", true},
    {"[!a]", "!", true}, /* Go: only ^ negates; ! is a member */
    {"[!a]", "b", false},
    {"a[/]b", "a/b", true}, /* a class may match the separator */
    {"a[^x]b", "a/b", true},
    {"[[]", "[", true},
    {"a]", "a]", true},
    {"\\[x\\]", "[x]", true},
    {"\\[x\\]", "x", false},
    {"a\\?", "a?", true},
    {"a\\?", "ab", false},
    {"a\\\\", "a\\", true},
    {"\\a\\b", "ab", true}, /* cairn: \c is c; Docker hands \a \b to its regexp */
    {"*", "a\nb", true},    /* [^/] matches a newline */
    {"?", "\xff", true},    /* an invalid byte is one rune */
    {"a?", "a\xce\xb1", true},
    {"a??", "a\xce\xb1", false},

    /* ^ is an anchor of the regular expression once there is a wildcard */
    {"a^b", "a^b", true},
    {"a^b*", "a^bc", false},
    {"^a*", "abc", true},
    {"**/^b", "x/^b", true}, /* a suffix match: literal text */

    /* cleaning (filepath.Clean, then a leading / dropped) */
    {"./x", "x", true},
    {"x/", "x", true},
    {"x/", "x/y", true},
    {"/x", "x", true},
    {"//x//y//", "x/y", true},
    {"a/../b", "b", true},
    {"a/../b", "a", false},
    {"a/./b", "a/b", true},
    {"/../a", "a", true},
    {"../a", "a", false},
    {"!/x\n!./y", "x", false},
    {"x\n!/x", "x", false},
    {"x\n!./x/", "x", false},

    /* the file format: comments, blank lines, white space, CRLF, BOM */
    {"# comment\n\n   \nfoo", "foo", true},
    {"#foo", "#foo", false},
    {" #foo", "#foo", true}, /* only a '#' in the first column starts a comment */
    {"  foo \t", "foo", true},
    {"foo\n! foo", "foo", false},
    {"foo\r\nbar\r\n", "bar", true},
    {"foo\r\nbar\r\n", "foo", true},
    {"\xef\xbb\xbf"
     "foo",
     "foo", true},
    {"\xc2\xa0"
     "foo\xe3\x80\x80",
     "foo", true}, /* Unicode white space */
    {"foo\n\n\nbar", "bar", true},
    {"foo", "bar", false},

    /* paths given with a leading / or ./ or a trailing /; the root */
    {"foo", "/foo", true},
    {"foo", "./foo", true},
    {"foo", "foo/", true},
    {"*", "", false},
    {"*", ".", false},
    {"**", "/", false},
};

static const char *show(const char *s, char *buf, size_t size)
{
	size_t w = 0;

	for (; *s && w + 5 < size; s++) {
		if (*s == '\n')
			w += (size_t) snprintf(buf + w, size - w, "\\n");
		else if ((unsigned char) *s < 0x20)
			w += (size_t) snprintf(buf + w, size - w, "\\x%02x", (unsigned char) *s);
		else
			buf[w++] = *s;
	}
	buf[w] = '\0';
	return buf;
}

static void run_match_cases(void)
{
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const match_case *c = &match_cases[i];
		cairn_error *err = NULL;
		df_ignore *ig = NULL;
		char a[256], b[256];
		int r = df_ignore_parse(c->text, strlen(c->text), NULL, &ig, &err);

		if (r < 0) {
			ok(0, "[%s] parses: %s", show(c->text, a, sizeof(a)),
			   err ? err->msg : "(no message)");
			cairn_error_free(err);
			continue;
		}
		ok(df_ignore_excluded(ig, c->path) == c->excluded, "[%s] %s [%s]",
		   show(c->text, a, sizeof(a)), c->excluded ? "excludes" : "keeps",
		   show(c->path, b, sizeof(b)));
		df_ignore_free(ig);
	}
}

/* ---- errors ---------------------------------------------------------------- */

static const char *const bad_patterns[] = {
    "[",   "[^",  "[^bc",  "a[", "a[b", "[]a]", "[-]", "[x-]", "[-x]",	 "[a-b-c]", "[z-a]", "\\",
    "a\\", "[\\", "[a\\]", "!",	 "! ",	"!/",	"[^]", "[]",   "x/[y/z", "[\xff]",  "**/[",
};

static void run_error_cases(void)
{
	for (size_t i = 0; i < sizeof(bad_patterns) / sizeof(bad_patterns[0]); i++) {
		cairn_error *err = NULL;
		df_ignore *ig = NULL;
		char text[64], a[128];
		int r;

		snprintf(text, sizeof(text), "ok\n# c\n%s\n", bad_patterns[i]);
		r = df_ignore_parse(text, strlen(text), "ctx/.dockerignore", &ig, &err);
		ok(r == CAIRN_E_FORMAT && err && err->code == r &&
		       strncmp(err->msg, "ctx/.dockerignore:3: bad pattern \"", 34) == 0 &&
		       !strchr(err->msg, '\n') && !ig,
		   "[%s] is a bad pattern on line 3 (%s)", show(bad_patterns[i], a, sizeof(a)),
		   err ? err->msg : "no error");
		cairn_error_free(err);
		df_ignore_free(ig);
	}

	/* the exact message */
	{
		const char *text = "a\n\n  a[  \n";
		cairn_error *err = NULL;
		df_ignore *ig = NULL;
		int r = df_ignore_parse(text, strlen(text), "Dockerfile.dockerignore", &ig, &err);

		is_int(r, CAIRN_E_FORMAT, "unterminated class fails");
		is_str(
		    err ? err->msg : NULL,
		    "Dockerfile.dockerignore:3: bad pattern \"a[\": unterminated character class",
		    "message names file, line and pattern");
		cairn_error_free(err);
	}

	/* patterns that look odd but are fine */
	{
		static const char *const good[] = {"[\\]a]", "a]",    "[[]",   "\\[",	   "[!]",
						   "]",	     "a\\\\", "[a-a]", "**/**/**", "!!x"};

		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			cairn_error *err = NULL;
			df_ignore *ig = NULL;
			int r = df_ignore_parse(good[i], strlen(good[i]), NULL, &ig, &err);

			ok(r == 0 && ig, "[%s] is a valid pattern", good[i]);
			cairn_error_free(err);
			df_ignore_free(ig);
		}
	}

	/* a NUL byte inside the text does not end it */
	{
		static const char text[] = "a\0b\nc";
		df_ignore *ig = NULL;
		int r = df_ignore_parse(text, sizeof(text) - 1, NULL, &ig, NULL);

		ok(r == 0 && df_ignore_count(ig) == 2 && df_ignore_excluded(ig, "c") &&
		       !df_ignore_excluded(ig, "a"),
		   "a NUL byte stays inside its pattern");
		df_ignore_free(ig);
	}
}

/* ---- df_ignore_new --------------------------------------------------------- */

static void run_list_cases(void)
{
	static const char *const l1[] = {"docs", "  !docs/README.md  "};
	static const char *const l2[] = {"/a", "#b", "", "   ", NULL, "c/"};
	static const char *const l3[] = {"ok", "[x"};
	static const char *const l4[] = {"!"};
	cairn_error *err = NULL;
	df_ignore *ig = NULL;
	int r;

	r = df_ignore_new(l1, 2, &ig, &err);
	ok(r == 0 && df_ignore_has_exceptions(ig), "list with an exception");
	ok(!df_ignore_excluded(ig, "docs/README.md"), "list: exception re-includes");
	ok(df_ignore_excluded(ig, "docs/x"), "list: directory excluded");
	df_ignore_free(ig);
	ig = NULL;

	r = df_ignore_new(l2, 6, &ig, &err);
	is_int(r, 0, "list with blank entries");
	is_int(df_ignore_count(ig), 3, "blank entries are skipped");
	ok(!df_ignore_excluded(ig, "a"), "list: a leading / is kept (as patternmatcher.New)");
	ok(df_ignore_excluded(ig, "#b"), "list: no comments");
	ok(df_ignore_excluded(ig, "c/d"), "list: entries are cleaned");
	ok(!df_ignore_has_exceptions(ig), "list without exceptions");
	df_ignore_free(ig);
	ig = NULL;

	r = df_ignore_new(l3, 2, &ig, &err);
	ok(r == CAIRN_E_FORMAT && err &&
	       strcmp(err->msg, "bad pattern \"[x\": unterminated character class") == 0 && !ig,
	   "list: bad pattern (%s)", err ? err->msg : "no error");
	cairn_error_free(err);
	err = NULL;

	r = df_ignore_new(l4, 1, &ig, &err);
	ok(r == CAIRN_E_FORMAT && err && !ig, "list: a lone ! is an error");
	cairn_error_free(err);
	err = NULL;

	r = df_ignore_new(NULL, 0, &ig, &err);
	ok(r == 0 && df_ignore_count(ig) == 0 && !df_ignore_excluded(ig, "x"), "empty list");
	df_ignore_free(ig);

	ok(!df_ignore_excluded(NULL, "x") && !df_ignore_may_include_below(NULL, "x") &&
	       df_ignore_count(NULL) == 0,
	   "NULL matcher excludes nothing");
}

/* ---- walking into excluded directories ------------------------------------- */

typedef struct walk_case {
	const char *text;
	const char *dir;
	bool walk;
} walk_case;

static const walk_case walk_cases[] = {
    {"build", "build", false},
    {"build\n!build/keep/me.txt", "build", true},
    {"build\n!build/keep/me.txt", "build/keep", true},
    {"build\n!build/keep/me.txt", "build/other", false},
    {"build\n!build/keep/me.txt", "buildx", false},
    {"build\n!build/keep/me.txt", "build/keep/me.txt", true},
    {"build\n!build/keep/**", "build/keep", true},
    {"build\n!build/keep/*", "build/keep", true},
    {"build\n!build/keep/*", "build/x", false},
    {"build\n!build/*.txt", "other", true}, /* a wildcard: anything may match */
    {"build\n!**/keep", "build", true},
    {"build\n!build/[ab]", "build/c", true},
    {"**\n!src", "src", true},
    {"**\n!src", "lib", false},
    {"**\n!src/a", "src", true},
    {"**\n!src/a", "src/b", false},
    {"**\n!src/a", "/src/", true},
};

static void run_walk_cases(void)
{
	for (size_t i = 0; i < sizeof(walk_cases) / sizeof(walk_cases[0]); i++) {
		const walk_case *c = &walk_cases[i];
		df_ignore *ig = NULL;
		char a[128];
		int r = df_ignore_parse(c->text, strlen(c->text), NULL, &ig, NULL);

		ok(r == 0 && df_ignore_may_include_below(ig, c->dir) == c->walk, "[%s] %s into %s",
		   show(c->text, a, sizeof(a)), c->walk ? "walks" : "skips", c->dir);
		df_ignore_free(ig);
	}
}

/* ---- big and hostile patterns ---------------------------------------------- */

static void run_stress_cases(void)
{
	size_t n = 4000;
	char *pat = malloc(2 * n + 2), *path = malloc(n + 2);
	df_ignore *ig = NULL;
	int r;

	if (!pat || !path) {
		ok(0, "allocation");
		free(pat);
		free(path);
		return;
	}
	/* *a*a*a...*b against aaaa...: linear, not exponential */
	for (size_t i = 0; i < 40; i++)
		memcpy(pat + 2 * i, "*a", 2);
	strcpy(pat + 80, "*b");
	memset(path, 'a', n);
	path[n] = '\0';
	r = df_ignore_parse(pat, strlen(pat), NULL, &ig, NULL);
	ok(r == 0 && !df_ignore_excluded(ig, path), "*a*a...*b does not match a...a");
	path[n - 1] = 'b';
	ok(df_ignore_excluded(ig, path), "*a*a...*b matches a...ab");
	df_ignore_free(ig);

	/* more tokens than the stack bit set holds */
	for (size_t i = 0; i < n; i++)
		memcpy(pat + 2 * i, "a?", 2);
	pat[2 * n] = '\0';
	memset(path, 'a', n);
	memset(path + n, 0, 2);
	r = df_ignore_parse(pat, 2 * n, NULL, &ig, NULL);
	ok(r == 0 && !df_ignore_excluded(ig, path), "long pattern, short path");
	path = realloc(path, 2 * n + 1);
	if (path) {
		memset(path, 'a', 2 * n);
		path[2 * n] = '\0';
		ok(df_ignore_excluded(ig, path), "long pattern matches");
	}
	df_ignore_free(ig);
	free(pat);
	free(path);
}

int main(void)
{
	run_match_cases();
	run_error_cases();
	run_list_cases();
	run_walk_cases();
	run_stress_cases();
	return tap_done();
}
