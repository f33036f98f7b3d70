/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_DF_SHELL_H
#define CAIRN_DF_SHELL_H

/*
 * Shell-word expansion as BuildKit's Dockerfile frontend does it (its
 * shell.Lex: ProcessWord and ProcessWords): $v, ${v}, the ${v...}
 * modifiers (:- - :+ + :? ? # ## % %% / //), single and double quotes and
 * the Dockerfile escape character ('\\' or '`').
 *
 * env is a NULL-terminated array of "NAME=value" strings (NULL means
 * empty); when a name occurs more than once the later entry wins.  A
 * variable that is absent is unset, "NAME=" is set but empty.
 *
 * Both functions return 0 or a negative code: CAIRN_E_FORMAT for bad
 * input (unterminated quote or brace, bad substitution, ${v:?msg}) or
 * -ENOMEM, with a one-line message in *err.
 */

#include <stddef.h>

#include <cairn/error.h>

/* ProcessWord: expands in into one word with the quotes removed. */
int df_shell_word(const char *in, char escape, char *const *env, char **ret, cairn_error **err);

/* ProcessWords: expands in and splits it into words at unquoted white
 * space (including white space that comes from unquoted expansions).
 * *ret is a NULL-terminated array of *ret_n words; free it with
 * df_shell_words_free().  ret_n may be NULL. */
int df_shell_words(const char *in, char escape, char *const *env, char ***ret, size_t *ret_n,
		   cairn_error **err);

/* Frees an array returned by df_shell_words (NULL is fine). */
void df_shell_words_free(char **words);

#endif
