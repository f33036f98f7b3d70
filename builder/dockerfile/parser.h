/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_DF_PARSER_H
#define CAIRN_DF_PARSER_H

/*
 * The raw Dockerfile parser, compatible with BuildKit's
 * frontend/dockerfile/parser: parser directives, comments, line
 * continuations, keywords, flags, JSON (exec) vs string (shell) form,
 * per-instruction argument splitting and heredocs.  Instruction arguments
 * are not validated here; that is the job of the instruction layer.
 *
 * Strings may contain NUL bytes (a JSON "\u0000"), so every string comes
 * with its length; data is always NUL-terminated as well.
 */

#include <stdbool.h>
#include <stddef.h>

#include <cairn/error.h>

struct df_str {
	char *data;
	size_t len;
};

struct df_heredoc {
	struct df_str name;    /* the terminator word, quotes removed */
	struct df_str content; /* the lines between, newlines included */
	unsigned long fd;      /* the N in N<<EOF (0 when absent) */
	bool expand;	       /* no quotes in the delimiter: expand variables */
	bool chomp;	       /* <<-EOF: leading tabs stripped */
};

struct df_node {
	struct df_str keyword;	/* lower-cased ("run"; "" for an empty line) */
	struct df_str original; /* the joined instruction line ("" below ONBUILD) */
	struct df_str *flags;	/* "--name=value" tokens, in order */
	size_t n_flags;
	struct df_str *args;
	size_t n_args;
	bool json;	      /* arguments came from the JSON (exec) form */
	struct df_node *next; /* ONBUILD: the instruction it holds */
	struct df_heredoc *heredocs;
	size_t n_heredocs;
	int start_line, end_line; /* 1-based, inclusive */
};

struct df_ast {
	char escape;  /* '\\' or '`' */
	char *syntax; /* "# syntax=" value, NULL if absent */
	char *check;  /* "# check=" value, NULL if absent */
	struct df_node *nodes;
	size_t n_nodes;
};

/* Parses text (len bytes, need not be NUL-terminated).  filename is used in
 * messages ("Dockerfile:7: ...", NULL means "Dockerfile").  Returns 0 and
 * *ret, or CAIRN_E_FORMAT / -ENOMEM with *err set. */
int df_parse(const char *text, size_t len, const char *filename, struct df_ast **ret,
	     cairn_error **err);
void df_ast_free(struct df_ast *ast);

/* BuildKit's AST dump: one "(keyword [flags] "arg" ...)" line per
 * instruction, each ending in a newline.  NULL on ENOMEM. */
char *df_ast_dump(const struct df_ast *ast);

#endif
