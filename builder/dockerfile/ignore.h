/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_DF_IGNORE_H
#define CAIRN_DF_IGNORE_H

/*
 * The .dockerignore matcher, with the semantics of moby/patternmatcher as
 * BuildKit's fsutil uses it for the build context (and for COPY --exclude).
 *
 * A pattern is Go filepath.Match syntax (* ? [...] and \ escapes) plus **,
 * which matches any number of path components.  A pattern that matches a
 * directory also matches everything below it; the last matching pattern
 * wins, and a pattern starting with '!' is an exception that re-includes.
 *
 * Paths are relative to the context, slash-separated and clean ("a/b/c");
 * a leading "/" or "./" and trailing "/" are tolerated.  The context root
 * ("" or ".") is never excluded.
 *
 * A df_ignore is immutable once built: the query functions may be called
 * from several threads at once.
 */

#include <stdbool.h>
#include <stddef.h>

#include <cairn/error.h>

typedef struct df_ignore df_ignore;

/* Reads a .dockerignore: one pattern a line, '#' at the very start of a
 * line starts a comment, white space around a pattern is trimmed, blank
 * lines are skipped, a UTF-8 BOM on line 1 is dropped, patterns are
 * cleaned (filepath.Clean) and a leading "/" dropped.  filename (NULL:
 * ".dockerignore") only names the file in messages.  A malformed pattern
 * fails with CAIRN_E_FORMAT: "FILE:LINE: bad pattern "...": why". */
int df_ignore_parse(const char *text, size_t len, const char *filename, df_ignore **ret,
		    cairn_error **err);

/* Builds a matcher from a list of patterns (COPY --exclude), as
 * patternmatcher.New does: each is trimmed and cleaned, empty ones are
 * skipped, no comments, a leading "/" is kept.  Errors as above, without
 * FILE:LINE (the message names the pattern). */
int df_ignore_new(const char *const *patterns, size_t n, df_ignore **ret, cairn_error **err);

/* Whether path is excluded: the last pattern that matches the path or one
 * of its parent directories decides (patternmatcher's
 * MatchesOrParentMatches).  NULL ig excludes nothing. */
bool df_ignore_excluded(const df_ignore *ig, const char *path);

/* For an excluded directory: whether an exception could re-include
 * something below it, so that the walk must still descend into dir (the
 * rule of fsutil's walker).  false means the whole directory may be
 * skipped.  It is true when some exception has wildcards (other than a
 * last component that is just * or **), or names a path inside dir or dir
 * itself. */
bool df_ignore_may_include_below(const df_ignore *ig, const char *dir);

/* Whether any pattern is an exception ('!'). */
bool df_ignore_has_exceptions(const df_ignore *ig);

/* Number of patterns kept (comments and blank lines are not patterns). */
size_t df_ignore_count(const df_ignore *ig);

void df_ignore_free(df_ignore *ig);

#endif
