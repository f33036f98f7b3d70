/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_DF_GOTEXT_H
#define CAIRN_DF_GOTEXT_H

/*
 * Text as Go sees it, for the parts of the Dockerfile language whose
 * reference (BuildKit, moby) is Go code: utf8.DecodeRune and
 * unicode.IsSpace.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* utf8.DecodeRune: the rune at s (n bytes available) and its width.  An
 * invalid, overlong, surrogate or truncated sequence, or n == 0, is
 * U+FFFD of width 1 (1 even when n == 0, so that a scan always moves),
 * with *invalid set (invalid may be NULL). */
uint32_t df_utf8_decode(const char *s, size_t n, size_t *width, bool *invalid);

/* unicode.IsSpace */
bool df_go_isspace(uint32_t r);

#endif
