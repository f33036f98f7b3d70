/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of builder/dockerfile/shell.c: BuildKit's own shell-lexer
 * vectors (shell/envVarTest for df_shell_word, shell/wordsTest for
 * df_shell_words) read from $CAIRN_BUILDKIT_VECTORS, one TAP assertion per
 * vector, followed by cases for what the vectors do not cover (the pattern
 * modifiers, the backtick escape).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cairn/error.h>

#include "shell.h"
#include "tap.h"

static char *const env_var_test_env[] = {"PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL=", NULL};

static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static FILE *open_vector(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/shell/%s", dir, name);
	f = fopen(path, "re");
	if (!f) {
		printf("# cannot open %s: %s\n", path, strerror(errno));
		ok(0, "open %s", path);
	}
	return f;
}

/* One df_shell_word check: expected NULL means it must fail. */
static void check_word(const char *what, const char *in, char esc, char *const *env,
		       const char *want)
{
	cairn_error *err = NULL;
	char *got = NULL;
	int r = df_shell_word(in, esc, env, &got, &err);

	if (!want) {
		/* one assertion: it fails, and says why */
		bool msg = r < 0 && err && err->msg && *err->msg && err->code == r;

		if (!ok(r < 0 && msg, "%s: [%s] fails with a message", what, in)) {
			printf("#   input [%s]\n#   expected an error\n", in);
			if (r < 0)
				printf("#   got error %d without a proper message\n", r);
			else
				printf("#   got [%s]\n", got);
		}
	} else if (!ok(r == 0 && strcmp(got, want) == 0, "%s: [%s] -> [%s]", what, in, want)) {
		printf("#   input    [%s]\n#   expected [%s]\n", in, want);
		if (r < 0)
			printf("#   got error %d: %s\n", r, err && err->msg ? err->msg : "(none)");
		else
			printf("#   got      [%s]\n", got);
	}
	free(got);
	cairn_error_free(err);
}

static void run_env_var_test(const char *dir)
{
	FILE *f = open_vector(dir, "envVarTest");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) >= 0) {
		char *first, *last, *plat, *in, *want;

		lineno++;
		chomp(line);
		if (*trim(line) == '\0' || line[0] == '#')
			continue;
		first = strchr(line, '|');
		last = strrchr(line, '|');
		if (!first || first == last) {
			ok(0, "envVarTest:%d: malformed line [%s]", lineno, line);
			continue;
		}
		*first = *last = '\0';
		plat = trim(line);
		in = trim(first + 1);
		want = trim(last + 1);
		if (strcmp(plat, "A") != 0 && strcmp(plat, "U") != 0)
			continue;

		char what[64];
		snprintf(what, sizeof(what), "envVarTest:%d", lineno);
		check_word(what, in, '\\', env_var_test_env,
			   strcmp(want, "error") == 0 ? NULL : want);
	}
	free(line);
	fclose(f);
}

/* Joins words with ',' as the vectors write them. */
static char *join_words(char **w)
{
	size_t n = 1;
	char *s;

	for (size_t i = 0; w[i]; i++)
		n += strlen(w[i]) + 1;
	s = calloc(1, n);
	if (!s)
		return NULL;
	for (size_t i = 0; w[i]; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, w[i]);
	}
	return s;
}

static void check_words(const char *what, const char *in, char *const *env, const char *want)
{
	cairn_error *err = NULL;
	char **got = NULL, *joined = NULL;
	size_t n = 0;
	int r = df_shell_words(in, '\\', env, &got, &n, &err);

	if (r == 0) {
		joined = join_words(got);
		if (!joined) {
			ok(0, "%s: out of memory", what);
			goto out;
		}
	}
	if (!want) {
		if (!ok(r < 0, "%s: [%s] fails", what, in))
			printf("#   input [%s]\n#   expected an error\n#   got [%s]\n", in, joined);
	} else if (!ok(r == 0 && strcmp(joined, want) == 0 && (got[n] == NULL), "%s: [%s] -> [%s]",
		       what, in, want)) {
		printf("#   input    [%s]\n#   expected [%s]\n", in, want);
		if (r < 0)
			printf("#   got error %d: %s\n", r, err && err->msg ? err->msg : "(none)");
		else
			printf("#   got      [%s] (%zu words)\n", joined, n);
	}
out:
	free(joined);
	df_shell_words_free(got);
	cairn_error_free(err);
}

static void run_words_test(const char *dir)
{
	FILE *f = open_vector(dir, "wordsTest");
	char *line = NULL, **env = NULL;
	size_t cap = 0, nenv = 0;
	int lineno = 0;

	if (!f)
		return;
	env = calloc(1, sizeof(char *));
	if (!env) {
		ok(0, "out of memory");
		goto out;
	}
	while (getline(&line, &cap, f) >= 0) {
		char *bar, *in, *want, what[64];

		lineno++;
		chomp(line);
		if (line[0] == '#' || *line == '\0')
			continue;
		if (strncmp(line, "ENV ", 4) == 0) {
			/* the value keeps its spaces, trailing ones included */
			char **e = realloc(env, (nenv + 2) * sizeof(char *));
			if (!e) {
				ok(0, "out of memory");
				goto out;
			}
			env = e;
			env[nenv] = strdup(line + 4);
			if (!env[nenv]) {
				ok(0, "out of memory");
				goto out;
			}
			env[++nenv] = NULL;
			continue;
		}
		bar = strchr(line, '|');
		if (!bar) {
			ok(0, "wordsTest:%d: malformed line [%s]", lineno, line);
			continue;
		}
		*bar = '\0';
		in = trim(line);
		want = bar + 1;
		while (*want == ' ' || *want == '\t')
			want++;
		snprintf(what, sizeof(what), "wordsTest:%d", lineno);
		check_words(what, in, env, strcmp(want, "error") == 0 ? NULL : want);
	}
out:
	for (size_t i = 0; env && i < nenv; i++)
		free(env[i]);
	free(env);
	free(line);
	fclose(f);
}

/* What the vectors leave out: bash's answers for the pattern modifiers,
 * the backtick escape, and the edge cases of the API. */
static void run_extra(void)
{
	char *const env[] = {
	    "P=/usr/local/lib/libfoo.so.1", "S=a b  c", "E=", "X=1", "X=2", "K=안녕하세요", NULL};
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"${P#*/}", "usr/local/lib/libfoo.so.1"},
	    {"${P##*/}", "libfoo.so.1"},
	    {"${P%.*}", "/usr/local/lib/libfoo.so"},
	    {"${P%%.*}", "/usr/local/lib/libfoo"},
	    {"${P#/usr}", "/local/lib/libfoo.so.1"},
	    {"${P#nomatch}", "/usr/local/lib/libfoo.so.1"},
	    {"${P%%*}", ""},
	    {"${P##*}", ""},
	    {"${P#*}", "/usr/local/lib/libfoo.so.1"},
	    {"${P##/[a-u]?r}", "/local/lib/libfoo.so.1"},
	    {"${P##/[!u]sr}", "/usr/local/lib/libfoo.so.1"},
	    {"${P%\\.1}", "/usr/local/lib/libfoo.so"},
	    {"${P%\\*}", "/usr/local/lib/libfoo.so.1"},
	    {"${P/lib/LIB}", "/usr/local/LIB/libfoo.so.1"},
	    {"${P//lib/LIB}", "/usr/local/LIB/LIBfoo.so.1"},
	    {"${P//[.\\/]/_}", "_usr_local_lib_libfoo_so_1"},
	    {"${P/l*b/X}", "/usr/Xfoo.so.1"},
	    {"${P//o/}", "/usr/lcal/lib/libf.s.1"},
	    {"${UNSET#x}", ""},
	    {"${UNSET/x/y}", ""},
	    {"${K#?}", "녕하세요"},
	    {"${K%??}", "안녕하"},
	    {"${K/녕하/-}", "안-세요"},
	    {"${X}", "2"},
	    {"${E-unset}", ""},
	    {"${E:-empty}", "empty"},
	    {"${UNSET-unset}", "unset"},
	    {"${E+set}", "set"},
	    {"${E:+set}", ""},
	    {"${UNSET+set}", ""},
	    {"${E?}", ""},
	    {"${X?}", "2"},
	    {"${X:?}", "2"},
	    {"", ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_word("extra", cases[i].in, '\\', env, cases[i].want);

	check_word("extra", "${E:?must be set}", '\\', env, NULL);
	check_word("extra", "${UNSET?must be set}", '\\', env, NULL);
	check_word("extra", "${P/x}", '\\', env, NULL);
	check_word("extra", "${P#x", '\\', env, NULL);
	check_word("extra", "${P:x}", '\\', env, NULL);
	check_word("extra", "${}", '\\', env, NULL);

	/* the backtick escape: '\\' is then an ordinary character */
	check_word("backtick", "C:\\dir\\$X", '`', env, "C:\\dir\\2");
	check_word("backtick", "`$X", '`', env, "$X");
	check_word("backtick", "\"`$X `\" \\\"", '`', env, "$X \" \\");
	check_word("backtick", "${UNSET:-`}}", '`', env, "}");

	/* deep nesting is refused, not a stack overflow */
	{
		size_t depth = 10000;
		char *deep = malloc(depth * 6 + 1);
		if (ok(deep != NULL, "alloc")) {
			char *p = deep;
			for (size_t i = 0; i < depth; i++)
				p += sprintf(p, "${a:-");
			*p = '\0';
			check_word("nesting", deep, '\\', env, NULL);
			free(deep);
		}
	}

	check_words("words", "", env, "");
	check_words("words", "   ", env, "");
	check_words("words", "$S", env, "a,b,c");
	check_words("words", "\"$S\"", env, "a b  c");
	check_words("words", "x${E}y ${E}", env, "xy");
	check_words("words", "'a b' c\\ d", env, "a b,c d");
	{
		char **w = NULL;
		size_t n = 99;
		int r = df_shell_words("", '\\', env, &w, &n, NULL);
		ok(r == 0 && w && !w[0] && n == 0, "words: empty input gives an empty list");
		df_shell_words_free(w);
	}
	{
		char *got = NULL;
		int r = df_shell_word("\"x", '\\', env, &got, NULL);
		is_int(r, CAIRN_E_FORMAT, "err may be NULL; CAIRN_E_FORMAT for bad input");
		ok(got == NULL, "ret untouched on failure");
	}
}

int main(void)
{
	const char *dir = getenv("CAIRN_BUILDKIT_VECTORS");
	struct stat st;

	if (!dir || !*dir)
		tap_skip_all("CAIRN_BUILDKIT_VECTORS is not set");
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		tap_skip_all("BuildKit vectors directory is missing");

	run_env_var_test(dir);
	run_words_test(dir);
	run_extra();
	return tap_done();
}
