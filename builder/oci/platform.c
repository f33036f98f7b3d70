/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Platforms ("linux/arm64/v8") with Go's architecture names, and RFC 3339
 * times as they appear in image configs.
 */
#include <sys/utsname.h>
#include <time.h>

#include "oci-internal.h"

/* uname -m and common aliases -> GOARCH (+ variant). */
static const struct {
	const char *alias, *arch, *variant;
} arch_table[] = {
    {"x86_64", "amd64", NULL},	{"x86-64", "amd64", NULL},	{"amd64", "amd64", NULL},
    {"aarch64", "arm64", NULL}, {"arm64", "arm64", NULL},	{"armv8l", "arm", "v8"},
    {"armv7l", "arm", "v7"},	{"armv7", "arm", "v7"},		{"armv6l", "arm", "v6"},
    {"armv5tel", "arm", "v5"},	{"i386", "386", NULL},		{"i486", "386", NULL},
    {"i586", "386", NULL},	{"i686", "386", NULL},		{"ppc64le", "ppc64le", NULL},
    {"ppc64", "ppc64", NULL},	{"s390x", "s390x", NULL},	{"riscv64", "riscv64", NULL},
    {"mips64", "mips64", NULL}, {"mips64el", "mips64le", NULL}, {"loongarch64", "loong64", NULL},
};

static int platform_set(oci_platform *p, const char *os, const char *arch, const char *variant)
{
	oci_platform out = {0};
	out.os = strdup(os);
	out.arch = strdup(arch);
	out.variant = variant && *variant ? strdup(variant) : NULL;
	if (!out.os || !out.arch || (variant && *variant && !out.variant)) {
		oci_platform_clear(&out);
		return -ENOMEM;
	}
	*p = out;
	return 0;
}

static int platform_normalized(const char *os, const char *arch, const char *variant,
			       oci_platform *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(arch_table); i++) {
		if (strcmp(arch_table[i].alias, arch) != 0)
			continue;
		return platform_set(ret, os, arch_table[i].arch,
				    variant ? variant : arch_table[i].variant);
	}
	return platform_set(ret, os, arch, variant);
}

int oci_platform_host(oci_platform *ret)
{
	struct utsname u;
	if (uname(&u) < 0)
		return -errno;
	return platform_normalized("linux", u.machine, NULL, ret);
}

int oci_platform_parse(const char *s, oci_platform *ret)
{
	_cleanup_free_ char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	char *arch = strchr(copy, '/');
	if (!arch || arch == copy || !arch[1])
		return -EINVAL;
	*arch++ = 0;
	char *variant = strchr(arch, '/');
	if (variant) {
		*variant++ = 0;
		if (!*variant || strchr(variant, '/'))
			return -EINVAL;
	}
	return platform_normalized(copy, arch, variant, ret);
}

int oci_platform_copy(const oci_platform *src, oci_platform *dst)
{
	return platform_set(dst, src->os ? src->os : "", src->arch ? src->arch : "", src->variant);
}

char *oci_platform_string(const oci_platform *p)
{
	char *s = NULL;
	if (asprintf(&s, "%s/%s%s%s", p->os ? p->os : "", p->arch ? p->arch : "",
		     p->variant ? "/" : "", p->variant ? p->variant : "") < 0)
		return NULL;
	return s;
}

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

bool oci_platform_equal(const oci_platform *a, const oci_platform *b)
{
	return str_eq(a->os, b->os) && str_eq(a->arch, b->arch) && str_eq(a->variant, b->variant);
}

/* ---- times ----------------------------------------------------------------- */

int oci_time_parse(const char *s, int64_t *ret)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm;
		char sign = *p;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || strlen(p) != 6)
			return -EINVAL;
		off = (hh * 3600L + mm * 60L) * (sign == '+' ? 1 : -1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	*ret = (int64_t) timegm(&tm) - off;
	return 0;
}

void oci_time_format(int64_t t, char out[32])
{
	time_t tt = (time_t) t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm)) {
		snprintf(out, 32, "1970-01-01T00:00:00Z");
		return;
	}
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
