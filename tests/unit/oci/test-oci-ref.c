/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image references: Docker's grammar and normalization (cases from
 * distribution/reference's normalize and reference tests). */
#include <cairn/image.h>

#include "tap.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct {
	const char *in, *full, *familiar, *repo;
} valid[] = {
    {"busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io/library/busybox"},
    {"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", NULL},
    {"library/busybox", "docker.io/library/busybox:latest", "busybox:latest", NULL},
    {"docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest", NULL},
    {"index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest", NULL},
    {"docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest",
     NULL},
    {"user/repo", "docker.io/user/repo:latest", "user/repo:latest", "docker.io/user/repo"},
    {"user/repo/sub:tag", "docker.io/user/repo/sub:tag", "user/repo/sub:tag", NULL},
    {"docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest", NULL},
    {"localhost/foo", "localhost/foo:latest", "localhost/foo:latest", "localhost/foo"},
    {"localhost:5000/foo/bar:v1", "localhost:5000/foo/bar:v1", "localhost:5000/foo/bar:v1",
     "localhost:5000/foo/bar"},
    {"localhost:5000", "docker.io/library/localhost:5000", "localhost:5000", NULL},
    {"example.com/a/b", "example.com/a/b:latest", "example.com/a/b:latest", NULL},
    {"127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest", NULL},
    {"[::1]:5000/foo", "[::1]:5000/foo:latest", "[::1]:5000/foo:latest", NULL},
    {"[2001:db8::1]/foo:t", "[2001:db8::1]/foo:t", "[2001:db8::1]/foo:t", NULL},
    {"Foo/bar", "Foo/bar:latest", "Foo/bar:latest", "Foo/bar"},
    {"my-registry.example.com:443/ns/img@sha256:" HEX64,
     "my-registry.example.com:443/ns/img@sha256:" HEX64,
     "my-registry.example.com:443/ns/img@sha256:" HEX64, NULL},
    {"busybox@sha256:" HEX64, "docker.io/library/busybox@sha256:" HEX64, "busybox@sha256:" HEX64,
     NULL},
    {"busybox:1@sha256:" HEX64, "docker.io/library/busybox:1@sha256:" HEX64,
     "busybox:1@sha256:" HEX64, NULL},
    {"foo_bar.baz", "docker.io/library/foo_bar.baz:latest", "foo_bar.baz:latest", NULL},
    {"foo__bar", "docker.io/library/foo__bar:latest", "foo__bar:latest", NULL},
    {"foo-----bar", "docker.io/library/foo-----bar:latest", "foo-----bar:latest", NULL},
    {"a/b:TAG_1.2-x", "docker.io/a/b:TAG_1.2-x", "a/b:TAG_1.2-x", NULL},
    {"x:_t", "docker.io/library/x:_t", "x:_t", NULL},
    {"1.0", "docker.io/library/1.0:latest", "1.0:latest", NULL},
    {"v1", "docker.io/library/v1:latest", "v1:latest", NULL},
    {"sub.example.com/a-b/c_d", "sub.example.com/a-b/c_d:latest", "sub.example.com/a-b/c_d:latest",
     NULL},
};

static const char *const invalid[] = {
    "",
    "UPPER",
    "docker.io/library/UPPER",
    "user/Repo",
    "busybox:",
    ":tag",
    "@sha256:" HEX64,
    "busybox@sha256:abc",
    "busybox@md5:" HEX64,
    "busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
    "busybox@",
    "-foo",
    "foo-",
    "foo..bar",
    "foo___bar",
    "foo/",
    "/foo",
    "foo//bar",
    "busybox:tag:tag2",
    "example.com:port/foo",
    "example.com:/foo",
    "-example.com/foo",
    "exa_mple.com/foo",
    "[::1/foo",
    "[]/foo",
    "busybox:.bad",
    "busybox:-bad",
    "bus box",
    "busybox:tag with space",
    HEX64,
    "a/b c",
    "foo/../bar",
};

static void test_valid(void)
{
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		cairn_ref r;
		cairn_error *err = NULL;
		int k = cairn_ref_parse(valid[i].in, &r, &err);
		if (!ok(k == 0, "parse \"%s\"", valid[i].in)) {
			tap_diag("%s", err && err->msg ? err->msg : "?");
			cairn_error_free(err);
			continue;
		}
		char *full = cairn_ref_string(&r), *fam = cairn_ref_familiar(&r);
		char *repo = cairn_ref_repository(&r);
		is_str(full, valid[i].full, "normalized \"%s\"", valid[i].in);
		is_str(fam, valid[i].familiar, "familiar \"%s\"", valid[i].in);
		if (valid[i].repo)
			is_str(repo, valid[i].repo, "repository \"%s\"", valid[i].in);
		/* normalizing is idempotent */
		cairn_ref r2;
		if (ok(cairn_ref_parse(full, &r2, NULL) == 0, "reparse \"%s\"", full)) {
			char *again = cairn_ref_string(&r2);
			is_str(again, full, "idempotent \"%s\"", full);
			free(again);
			cairn_ref_clear(&r2);
		}
		free(full);
		free(fam);
		free(repo);
		cairn_ref_clear(&r);
	}
}

static void test_invalid(void)
{
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		cairn_ref r = {0};
		cairn_error *err = NULL;
		int k = cairn_ref_parse(invalid[i], &r, &err);
		ok(k == CAIRN_E_FORMAT, "refuse \"%s\"", invalid[i]);
		ok(err && err->msg && strstr(err->msg, "invalid reference format"),
		   "message for \"%s\": %s", invalid[i], err && err->msg ? err->msg : "(none)");
		if (k == 0)
			cairn_ref_clear(&r);
		cairn_error_free(err);
	}
}

static void test_lengths(void)
{
	char name[300], tag[200];
	cairn_ref r;
	/* 255 characters of name (with docker.io/library/) is the limit */
	memset(name, 'a', sizeof(name));
	name[255 - strlen("docker.io/library/")] = 0;
	ok(cairn_ref_parse(name, &r, NULL) == 0, "name of 255 characters");
	cairn_ref_clear(&r);
	name[255 - strlen("docker.io/library/")] = 'a';
	name[256 - strlen("docker.io/library/")] = 0;
	ok(cairn_ref_parse(name, &r, NULL) == CAIRN_E_FORMAT, "name of 256 characters refused");

	memset(tag, 't', sizeof(tag));
	memcpy(tag, "x:", 2);
	tag[2 + 128] = 0;
	ok(cairn_ref_parse(tag, &r, NULL) == 0, "tag of 128 characters");
	cairn_ref_clear(&r);
	tag[2 + 128] = 't';
	tag[2 + 129] = 0;
	ok(strlen(tag) == 2 + 129, "tag length");
	ok(cairn_ref_parse(tag, &r, NULL) == CAIRN_E_FORMAT, "tag of 129 characters refused");
}

static void test_fields(void)
{
	cairn_ref r;
	ok(cairn_ref_parse("localhost:5000/a/b@sha256:" HEX64, &r, NULL) == 0, "digest only");
	is_str(r.domain, "localhost:5000", "domain");
	is_str(r.path, "a/b", "path");
	ok(r.tag == NULL, "no tag with a digest");
	is_str(r.digest, "sha256:" HEX64, "digest");
	cairn_ref_clear(&r);
	ok(r.domain == NULL && r.path == NULL, "clear resets");
}

int main(void)
{
	test_valid();
	test_invalid();
	test_lengths();
	test_fields();
	return tap_done();
}
