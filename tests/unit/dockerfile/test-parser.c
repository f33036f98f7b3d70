/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Dockerfile parser against BuildKit's own vectors
 * ($CAIRN_BUILDKIT_VECTORS/parser): testfiles/NAME must dump exactly as
 * NAME/result, testfiles-negative/NAME must be rejected, testfile-line must
 * give BuildKit's line numbers.  Then a few cases the vectors lack
 * (directives, heredocs, errors).
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "parser.h"
#include "tap.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (len + 1 < cap)
			break;
		char *b = realloc(buf, cap * 2);
		if (!b) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = b;
		cap *= 2;
	}
	fclose(f);
	if (buf) {
		buf[len] = 0;
		*ret_len = len;
	}
	return buf;
}

/* Prints the first line where want and got differ. */
static void show_diff(const char *want, const char *got)
{
	int line = 1;
	for (;;) {
		const char *we = strchr(want, '\n'), *ge = strchr(got, '\n');
		size_t wl = we ? (size_t) (we - want) : strlen(want);
		size_t gl = ge ? (size_t) (ge - got) : strlen(got);
		if (wl != gl || memcmp(want, got, wl) != 0 || !we != !ge) {
			tap_diag("line %d:", line);
			tap_diag("  want: %.*s%s", (int) wl, want, we ? "" : " (no newline / end)");
			tap_diag("  got:  %.*s%s", (int) gl, got, ge ? "" : " (no newline / end)");
			return;
		}
		if (!we)
			return;
		want = we + 1;
		got = ge + 1;
		line++;
	}
}

static int parse_text(const char *text, size_t len, struct df_ast **ast, char **msg)
{
	cairn_error *err = NULL;
	int r = df_parse(text, len, "Dockerfile", ast, &err);
	*msg = NULL;
	if (err) {
		*msg = strdup(err->msg ? err->msg : "");
		cairn_error_free(err);
	}
	return r;
}

static int names(const char *dir, struct dirent ***ret)
{
	return scandir(dir, ret, NULL, alphasort);
}

static void test_positive(const char *base)
{
	char dir[4096];
	struct dirent **ents;
	snprintf(dir, sizeof(dir), "%s/parser/testfiles", base);
	int n = names(dir, &ents);
	ok(n > 2, "found vectors in %s", dir);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char path[8192];
		size_t dlen, rlen;
		if (name[0] == '.') {
			free(ents[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s/Dockerfile", dir, name);
		char *df = slurp(path, &dlen);
		snprintf(path, sizeof(path), "%s/%s/result", dir, name);
		char *want = slurp(path, &rlen);
		struct df_ast *ast = NULL;
		char *msg = NULL;
		int r = df && want ? parse_text(df, dlen, &ast, &msg) : -1;
		char *got = r == 0 ? df_ast_dump(ast) : NULL;
		bool same = got && strlen(got) == rlen && memcmp(got, want, rlen) == 0;
		ok(same, "testfiles/%s", name);
		if (!same) {
			if (r < 0)
				tap_diag("parse failed: %s", msg ? msg : "(no message)");
			else if (got)
				show_diff(want, got);
		}
		free(got);
		free(msg);
		df_ast_free(ast);
		free(df);
		free(want);
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

static void test_negative(const char *base)
{
	char dir[4096];
	struct dirent **ents;
	snprintf(dir, sizeof(dir), "%s/parser/testfiles-negative", base);
	int n = names(dir, &ents);
	ok(n > 2, "found negative vectors in %s", dir);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char path[8192];
		size_t len;
		if (name[0] == '.') {
			free(ents[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s/Dockerfile", dir, name);
		char *df = slurp(path, &len);
		struct df_ast *ast = NULL;
		char *msg = NULL;
		int r = df ? parse_text(df, len, &ast, &msg) : 0;
		ok(df && r == CAIRN_E_FORMAT && msg && strncmp(msg, "Dockerfile:", 11) == 0,
		   "testfiles-negative/%s is rejected", name);
		if (msg)
			tap_diag("  %s", msg);
		free(msg);
		df_ast_free(ast);
		free(df);
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

static void test_lines(const char *base)
{
	static const int want[][2] = {{5, 5}, {11, 12}, {17, 31}};
	char path[4096];
	size_t len;
	snprintf(path, sizeof(path), "%s/parser/testfile-line/Dockerfile", base);
	char *df = slurp(path, &len);
	struct df_ast *ast = NULL;
	char *msg = NULL;
	int r = df ? parse_text(df, len, &ast, &msg) : -1;
	ok(r == 0 && ast && ast->n_nodes == N_ELEMS(want), "testfile-line parses to 3 nodes");
	bool lines_ok = r == 0 && ast && ast->n_nodes == N_ELEMS(want);
	for (size_t k = 0; lines_ok && k < ast->n_nodes; k++) {
		if (ast->nodes[k].start_line != want[k][0] ||
		    ast->nodes[k].end_line != want[k][1]) {
			tap_diag("node %zu: lines %d-%d, want %d-%d", k, ast->nodes[k].start_line,
				 ast->nodes[k].end_line, want[k][0], want[k][1]);
			lines_ok = false;
		}
	}
	ok(lines_ok, "testfile-line: start and end lines");
	free(msg);
	df_ast_free(ast);
	free(df);
}

/* ---- cases beyond the vectors --------------------------------------------- */

static void check_dump(const char *df, const char *want, const char *what)
{
	struct df_ast *ast = NULL;
	char *msg = NULL;
	int r = parse_text(df, strlen(df), &ast, &msg);
	char *got = r == 0 ? df_ast_dump(ast) : NULL;
	int same = got && strcmp(got, want) == 0;
	ok(same, "%s", what);
	if (!same) {
		if (got)
			show_diff(want, got);
		else
			tap_diag("parse failed: %s", msg ? msg : "?");
	}
	free(got);
	free(msg);
	df_ast_free(ast);
}

static void check_error(const char *df, const char *want_msg, const char *what)
{
	struct df_ast *ast = NULL;
	char *msg = NULL;
	int r = parse_text(df, strlen(df), &ast, &msg);
	int good = r == CAIRN_E_FORMAT && msg && strcmp(msg, want_msg) == 0;
	ok(good, "%s", what);
	if (!good)
		tap_diag("got %d \"%s\", want \"%s\"", r, msg ? msg : "(null)", want_msg);
	free(msg);
	df_ast_free(ast);
}

/* One instruction with heredocs: the first heredoc's fields, or n == 0. */
static const struct heredoc_case {
	const char *df;
	size_t n;
	const char *name, *content;
	bool expand, chomp;
	unsigned long fd;
} heredoc_cases[] = {
    {"RUN <<EMPTY\nEMPTY\n", 1, "EMPTY", "", true, false, 0},
    {"RUN 3<<E2\nE2\n", 1, "E2", "", true, false, 3},
    {"RUN \"<<NO\"\n", 0, NULL, NULL, false, false, 0},
    {"RUN '<<NO'\n", 0, NULL, NULL, false, false, 0},
    {"USER <<X\n", 0, NULL, NULL, false, false, 0},
    {"RUN <<-U\n\ta\n\tU\n", 1, "U", "\ta\n", true, true, 0},
    {"RUN <<-'N'\n\t$x\nN\n", 1, "N", "\t$x\n", false, true, 0},
    {"COPY <<F1 <<F2 /d\n1\nF1\n2\nF2\n", 2, "F1", "1\n", true, false, 0},
    {"COPY <<X <<Y /d\nY\nX\nX\nY\n", 2, "X", "Y\n", true, false, 0},
    {"RUN <<C\n# not a comment\n\nC\n", 1, "C", "# not a comment\n\n", true, false, 0},
    {"RUN <<eo'f'\nx\neof\n", 1, "eof", "x\n", false, false, 0},
    {"RUN <<eo\\'f\nx\neo'f\n", 1, "eo'f", "x\n", true, false, 0},
    {"RUN <<'e'o\\'f\nx\neo'f\n", 1, "eo'f", "x\n", false, false, 0},
    {"RUN <<'one two'\nx\none two\n", 1, "one two", "x\n", false, false, 0},
    {"RUN <<$EOF\n$EOF\n", 1, "$EOF", "", true, false, 0},
    {"RUN <<  EOF  > foo\nEOF\n", 1, "EOF", "", true, false, 0},
    {"RUN << -EOF\n-EOF\n", 1, "-EOF", "", true, false, 0},
    {"RUN --mount=type=cache,target=/x <<M\necho\nM\n", 1, "M", "echo\n", true, false, 0},
    {"RUN <<'EOF\n", 0, NULL, NULL, false, false, 0},
    {"RUN [\"<<EOF\"]\n", 0, NULL, NULL, false, false, 0},
    {"ONBUILD RUN <<A\nx\r\nA\r\n", 1, "A", "x\r\n", true, false, 0},
    {"ONBUILD FROM <<A\n", 0, NULL, NULL, false, false, 0},
};

static void test_heredoc_table(void)
{
	for (size_t k = 0; k < N_ELEMS(heredoc_cases); k++) {
		const struct heredoc_case *c = &heredoc_cases[k];
		struct df_ast *ast = NULL;
		char *msg = NULL;
		int r = parse_text(c->df, strlen(c->df), &ast, &msg);
		const struct df_node *n = r == 0 ? &ast->nodes[0] : NULL;
		bool good = n && n->n_heredocs == c->n;
		if (good && c->n) {
			const struct df_heredoc *h = &n->heredocs[0];
			good = strcmp(h->name.data, c->name) == 0 &&
			       strcmp(h->content.data, c->content) == 0 && h->expand == c->expand &&
			       h->chomp == c->chomp && h->fd == c->fd;
		}
		ok(good, "heredoc case %zu", k);
		if (!good) {
			tap_diag("  input: %s", c->df);
			if (!n)
				tap_diag("  parse failed: %s", msg ? msg : "?");
			else
				tap_diag("  %zu heredocs, first \"%s\" content \"%s\" expand %d "
					 "chomp %d fd %lu",
					 n->n_heredocs,
					 n->n_heredocs ? n->heredocs[0].name.data : "",
					 n->n_heredocs ? n->heredocs[0].content.data : "",
					 n->n_heredocs ? n->heredocs[0].expand : 0,
					 n->n_heredocs ? n->heredocs[0].chomp : 0,
					 n->n_heredocs ? n->heredocs[0].fd : 0);
		}
		free(msg);
		df_ast_free(ast);
	}
}

static void test_extra(void)
{
	struct df_ast *ast = NULL;
	char *msg = NULL;
	const char *df = "# syntax=docker/dockerfile:1\n#check=skip=all\n# ESCAPE = `\n"
			 "FROM a `\n  b\n";
	int r = parse_text(df, strlen(df), &ast, &msg);
	ok(r == 0 && ast->escape == '`' && ast->syntax &&
	       strcmp(ast->syntax, "docker/dockerfile:1") == 0 && ast->check &&
	       strcmp(ast->check, "skip=all") == 0,
	   "directives: syntax, check, escape");
	df_ast_free(ast);
	free(msg);

	check_error("# escape=\\\n# escape=`\nFROM a\n",
		    "Dockerfile:2: only one escape parser directive can be used",
		    "duplicate directive");
	check_error("# escape=x\nFROM a\n",
		    "Dockerfile:1: invalid escape token \"x\" does not match ` or \\",
		    "bad escape");
	check_dump("FROM a\n# escape=`\nRUN a \\\n b\n", "(from \"a\")\n(run \"a  b\")\n",
		   "directives end at the first instruction");
	check_error(
	    "FROM a\nENV a=b c\n",
	    "Dockerfile:2: Syntax error - can't find = in \"c\". Must be of the form: name=value",
	    "ENV without =");
	check_error(
	    "FROM a\nRUN [\"a\", 1]\n",
	    "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only",
	    "JSON array of non-strings");
	check_dump("RUN [\"a\"] trailing\nCMD [\"a\",]\nCMD [\"\\ud83d\\ude00\", \"\\ud800x\"]\n"
		   "CMD [\"a\", 1e999]\n",
		   "(run \"a\")\n(cmd \"[\\\"a\\\",]\")\n(cmd \"😀\" \"\uFFFDx\")\n"
		   "(cmd \"[\\\"a\\\", 1e999]\")\n",
		   "JSON: trailing text, invalid JSON, surrogates, overflow");
	check_dump("FOO bar\nONBUILD ONBUILD RUN x\nonbuild\n",
		   "(foo \"\")\n(onbuild (onbuild (run \"x\")))\n(onbuild)\n",
		   "unknown instructions, nested ONBUILD");

	df = "FROM a\nRUN <<EOF cat >f && <<-\"END\" x\nhello\n$x\nEOF\n\t\tbody\n\tEND\nCOPY <<A "
	     "b\nA\n"
	     "RUN [\"<<EOF\"]\n";
	r = parse_text(df, strlen(df), &ast, &msg);
	ok(r == 0 && ast->n_nodes == 4, "heredocs parse");
	if (r == 0 && ast->n_nodes == 4) {
		struct df_node *run = &ast->nodes[1], *copy = &ast->nodes[2];
		ok(run->n_heredocs == 2 && strcmp(run->heredocs[0].name.data, "EOF") == 0 &&
		       strcmp(run->heredocs[0].content.data, "hello\n$x\n") == 0 &&
		       run->heredocs[0].expand && !run->heredocs[0].chomp &&
		       strcmp(run->heredocs[1].name.data, "END") == 0 &&
		       strcmp(run->heredocs[1].content.data, "\t\tbody\n") == 0 &&
		       !run->heredocs[1].expand && run->heredocs[1].chomp,
		   "two heredocs on one RUN line");
		is_int(run->start_line, 2, "heredoc RUN starts at line 2");
		is_int(run->end_line, 7, "heredoc RUN ends at its last terminator");
		ok(copy->n_heredocs == 1 && copy->heredocs[0].content.len == 0, "empty heredoc");
		ok(ast->nodes[3].n_heredocs == 0, "no heredocs in the JSON form");
	}
	df_ast_free(ast);
	free(msg);
	check_error("RUN <<EOF\nabc\n", "Dockerfile:1: unterminated heredoc",
		    "unterminated heredoc");
	test_heredoc_table();
	static const char *const not_strings[] = {
	    "[\"a\",42,\"b\"]",
	    "[\"a\",-1.5e3,\"b\"]",
	    "[\"a\",{},\"b\"]",
	    "[\"a\",{\"c\": [\"d\"]},\"b\"]",
	    "[\"a\",[\"c\"],\"b\"]",
	    "[true]",
	    "[false]",
	    "[\"a\",null]",
	};
	for (size_t k = 0; k < N_ELEMS(not_strings); k++) {
		char line[128], want[256];
		snprintf(line, sizeof(line), "CMD %s\n", not_strings[k]);
		snprintf(want, sizeof(want),
			 "Dockerfile:1: when using JSON array syntax, arrays must be comprised of "
			 "strings only");
		check_error(line, want, not_strings[k]);
	}
	check_dump("ARG f\u00f6o b\u00e0r \"\u00e2bc x\u00ffz\" foo\\ bar 'a b'\n",
		   "(arg \"f\u00f6o\" \"b\u00e0r\" \"\\\"\u00e2bc x\u00ffz\\\"\" \"foo\\\\ bar\" "
		   "\"'a b'\")\n",
		   "ARG words keep quotes and escapes");
	check_dump("LABEL foo=\nENV a= b=\"\"\nEXPOSE 1\t2\v3\n",
		   "(label \"foo\" \"\" \"=\")\n(env \"a\" \"\" \"=\" \"b\" \"\\\"\\\"\" \"=\")\n"
		   "(expose \"1\" \"2\" \"3\")\n",
		   "empty values, whitespace lists");
	{
		size_t n = 70000;
		char *big = malloc(n + 32);
		if (big) {
			strcpy(big, "FROM a\nLABEL t=");
			size_t l = strlen(big);
			memset(big + l, 'a', n);
			strcpy(big + l + n, "\n");
			check_error(
			    big,
			    "Dockerfile:2: dockerfile line greater than max allowed size of 65535",
			    "lines longer than Go's scanner allows");
			free(big);
		}
	}
	check_dump("WOR\u212aDIR /x\n\u00c4BC x\nRUN\xff x\n",
		   "(workdir \"/x\")\n(\u00e4bc \"\")\n(run\xef\xbf\xbd \"\")\n",
		   "keywords are lower-cased like Go's strings.ToLower");

	/* hostile input: NUL bytes, invalid UTF-8, deep JSON, long ONBUILD chains */
	static const char nul[] = "RUN a\0b\nLABEL \xff=\xfe\n";
	r = parse_text(nul, sizeof(nul) - 1, &ast, &msg);
	char *got = r == 0 ? df_ast_dump(ast) : NULL;
	ok(got &&
	       strcmp(got,
		      "(run \"a\\x00b\")\n(label \"\xef\xbf\xbd\" \"\xef\xbf\xbd\" \"=\")\n") == 0,
	   "NUL bytes and invalid UTF-8");
	free(got);
	df_ast_free(ast);
	free(msg);

	size_t big = 200000;
	char *deep = malloc(big + 16);
	if (deep) {
		memcpy(deep, "RUN ", 4);
		for (size_t k = 4; k < big; k += 2)
			memcpy(deep + k, "\\\n", 2);
		memset(deep + 4, '[', 20000);
		strcpy(deep + big, "\n");
		r = parse_text(deep, strlen(deep), &ast, &msg);
		ok(r == 0, "deeply nested JSON-like input");
		df_ast_free(ast);
		free(msg);
		size_t pos = 0;
		for (int k = 0; k < 20000; k++, pos += 10)
			memcpy(deep + pos, "ONBUILD \\\n", 10);
		strcpy(deep + pos, "RUN x\n");
		r = parse_text(deep, strlen(deep), &ast, &msg);
		ok(r == 0 && ast->n_nodes == 1, "20000 nested ONBUILDs");
		df_ast_free(ast);
		free(msg);
		free(deep);
	}
	check_error("", "Dockerfile:1: file with no instructions", "empty input");
}

int main(void)
{
	const char *base = getenv("CAIRN_BUILDKIT_VECTORS");
	struct stat st;
	if (!base || !*base || stat(base, &st) < 0 || !S_ISDIR(st.st_mode))
		tap_skip_all("CAIRN_BUILDKIT_VECTORS not set or not a directory");
	test_positive(base);
	test_negative(base);
	test_lines(base);
	test_extra();
	return tap_done();
}
