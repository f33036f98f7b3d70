/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: the Dockerfile parser (df_parse and its AST dump), the
 * shell-word expansion (one word and words, both escape characters) and
 * the .dockerignore matcher, all fed the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../builder/dockerfile/ignore.h"
#include "../../builder/dockerfile/parser.h"
#include "../../builder/dockerfile/shell.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cairn_error *err = NULL;
	struct df_ast *ast = NULL;
	if (df_parse((const char *) data, size, "Dockerfile", &ast, &err) == 0) {
		free(df_ast_dump(ast));
		df_ast_free(ast);
	}
	cairn_error_free(err);

	df_ignore *ig = NULL;
	err = NULL;
	if (df_ignore_parse((const char *) data, size, ".dockerignore", &ig, &err) == 0) {
		static const char *const paths[] = {"a", "a/b", "src/x.go", "README.md", "d/e/f/g"};
		volatile bool sink = false;
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
			sink ^= df_ignore_excluded(ig, paths[i]) ^ df_ignore_may_include_below(ig, paths[i]);
		(void) sink;
		df_ignore_free(ig);
	}
	cairn_error_free(err);

	/* the expansion takes a NUL-terminated word */
	char *word = malloc(size + 1);
	if (!word)
		return 0;
	memcpy(word, data, size);
	word[size] = '\0';
	char *const env[] = {"PWD=/home", "EMPTY=", "A=a b  c", NULL};
	for (int e = 0; e < 2; e++) {
		char esc = e ? '`' : '\\';
		char *out = NULL;
		err = NULL;
		if (df_shell_word(word, esc, env, &out, &err) == 0)
			free(out);
		cairn_error_free(err);
		char **v = NULL;
		size_t n = 0;
		err = NULL;
		if (df_shell_words(word, esc, env, &v, &n, &err) == 0)
			df_shell_words_free(v);
		cairn_error_free(err);
	}
	free(word);
	return 0;
}
