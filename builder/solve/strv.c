/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NULL-terminated string vectors, used for environments ("K=V") and argv. */
#include <stdarg.h>

#include "solve.h"

int strv_push(struct strv *s, const char *str)
{
	char *c = strdup(str);
	if (!c)
		return -ENOMEM;
	if (s->n + 2 > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			free(c);
			return -ENOMEM;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = c;
	s->v[s->n] = NULL;
	return 0;
}

int strv_pushf(struct strv *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *str = NULL;
	int r = vasprintf(&str, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return strv_push(s, str);
}

bool strv_contains(const struct strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], str) == 0)
			return true;
	return false;
}

static ssize_t env_index(const struct strv *s, const char *key)
{
	size_t klen = strlen(key);
	for (size_t i = 0; i < s->n; i++)
		if (strncmp(s->v[i], key, klen) == 0 && (s->v[i][klen] == '=' || !s->v[i][klen]))
			return (ssize_t) i;
	return -1;
}

int strv_set_env(struct strv *s, const char *key, const char *value)
{
	ssize_t i = env_index(s, key);
	if (i < 0)
		return strv_pushf(s, "%s=%s", key, value);
	char *kv;
	if (asprintf(&kv, "%s=%s", key, value) < 0)
		return -ENOMEM;
	free(s->v[i]);
	s->v[i] = kv;
	return 0;
}

const char *strv_get_env(const struct strv *s, const char *key)
{
	ssize_t i = env_index(s, key);
	if (i < 0)
		return NULL;
	const char *eq = strchr(s->v[i], '=');
	return eq ? eq + 1 : "";
}

int strv_copy(struct strv *dst, const struct strv *src)
{
	*dst = (struct strv){0};
	for (size_t i = 0; i < src->n; i++) {
		int r = strv_push(dst, src->v[i]);
		if (r < 0) {
			strv_clear(dst);
			return r;
		}
	}
	return 0;
}

void strv_clear(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	*s = (struct strv){0};
}
