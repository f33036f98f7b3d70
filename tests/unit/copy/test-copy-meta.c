/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of builder/copy's small parsers: Go's filepath.Match (the
 * vectors of Go's match_test.go), --chmod (BuildKit's
 * testFileOpCopyChmodText cases and dockerfile2llb's errors), path
 * cleaning and resolution, and /etc/passwd + /etc/group lookups (runc's
 * GetExecUser cases and BuildKit's --chown rules).
 */
#include "copy-internal.h"
#include "copy-test.h"
#include "passwd.h"

static const struct {
	const char *pattern, *name;
	bool match;
} match_cases[] = {
    {"abc", "abc", true},
    {"*", "abc", true},
    {"*c", "abc", true},
    {"a*", "a", true},
    {"a*", "abc", true},
    {"a*", "ab/c", false},
    {"a*/b", "abc/b", true},
    {"a*/b", "a/c/b", false},
    {"a*b*c*d*e*/f", "axbxcxdxe/f", true},
    {"a*b*c*d*e*/f", "axbxcxdxexxx/f", true},
    {"a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false},
    {"a*b*c*d*e*/f", "axbxcxdxexxx/fff", false},
    {"a*b?c*x", "abxbbxdbxebxczzx", true},
    {"a*b?c*x", "abxbbxdbxebxczzy", false},
    {"ab[c]", "abc", true},
    {"ab[b-d]", "abc", true},
    {"ab[e-g]", "abc", false},
    {"ab[^c]", "abc", false},
    {"ab[^b-d]", "abc", false},
    {"ab[^e-g]", "abc", true},
    {"a\\*b", "a*b", true},
    {"a\\*b", "ab", false},
    {"a?b",
     "a\xe2\x98\xba"
     "b",
     true},
    {"a[^a]b",
     "a\xe2\x98\xba"
     "b",
     true},
    {"a???b",
     "a\xe2\x98\xba"
     "b",
     false},
    {"a[^a][^a][^a]b",
     "a\xe2\x98\xba"
     "b",
     false},
    {"[a-\xce\xb6]*", "\xce\xb1", true},
    {"*[a-\xce\xb6]", "A", false},
    {"a?b", "a/b", false},
    {"a*b", "a/b", false},
    {"[\\]a]", "]", true},
    {"[\\-]", "-", true},
    {"[x\\-]", "x", true},
    {"[x\\-]", "-", true},
    {"[x\\-]", "z", false},
    {"[\\-x]", "x", true},
    {"[\\-x]", "-", true},
    {"[\\-x]", "a", false},
    {"[]a]", "]", false}, /* bad patterns match nothing */
    {"[-]", "-", false},
    {"[x-]", "x", false},
    {"[-x]", "x", false},
    {"\\", "a", false},
    {"[a-b-c]", "a", false},
    {"[", "a", false},
    {"[^", "a", false},
    {"[^bc", "a", false},
    {"a[", "a", false},
    {"a[", "ab", false},
    {"*x", "xxx", true},
    {"*.go", "main.go", true},
    {"*.go", "sub/main.go", false},
    {"*/dir2/foo", "dir1/dir2/foo", true},
};

static void test_match(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(match_cases); i++)
		is_int(go_match(match_cases[i].pattern, match_cases[i].name), match_cases[i].match,
		       "Match(%s, %s)", match_cases[i].pattern, match_cases[i].name);
	ok(has_wildcards("a*") && has_wildcards("[x]") && has_wildcards("?") &&
	       !has_wildcards("a\\*b") && !has_wildcards("plain/path"),
	   "containsWildcards, with \\ escapes");
}

static const struct {
	const char *chmod;
	mode_t from, want;
} chmod_cases[] = {
    /* testFileOpCopyChmodText: a file 0644, a directory 0500 */
    {"go-w", S_IFREG | 0644, 0644},
    {"o-rwx,g+x", S_IFREG | 0644, 0650},
    {"u=rwx,g=,o=", S_IFREG | 0644, 0700},
    {"u+rw,g+r,o-x,o+w", S_IFREG | 0644, 0646},
    {"a+X", S_IFDIR | 0500, 0511},
    {"g+rw,o+rw", S_IFDIR | 0500, 0566},
    {"u=rwX,go=rX", S_IFDIR | 0500, 0755},
    /* more */
    {"u=rwX,go=rX", S_IFREG | 0600, 0644},
    {"u=rwX,go=rX", S_IFREG | 0700, 0755},
    {"a+x", S_IFREG | 0644, 0755},
    {"+x", S_IFREG | 0644, 0755},
    {"+w", S_IFREG | 0444, 0644}, /* without a class the umask (022) masks */
    {"g=u", S_IFREG | 0640, 0660},
    {"g=u-w", S_IFREG | 0750, 0750},
    {"go=", S_IFREG | 0777, 0700},
    {"u+s", S_IFREG | 0755, 04755},
    {"g+s", S_IFDIR | 0755, 02755},
    {"+t", S_IFDIR | 0777, 01777},
    {"o+t", S_IFDIR | 0777, 0777},
    {"u-x,+X", S_IFREG | 0744, 0755},
    {"0755", S_IFREG | 0600, 0755},
    {"755", S_IFDIR | 0700, 0755},
    {"4755", S_IFREG | 0600, 04755},
    {"0", S_IFREG | 0644, 0},
    {"7777", S_IFREG | 0, 07777},
};

static void test_chmod(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(chmod_cases); i++) {
		copy_chmod c;
		cairn_error *err = NULL;
		int r = copy_chmod_parse(chmod_cases[i].chmod, &c, &err);
		ok(r == 0, "parse %s", chmod_cases[i].chmod);
		if (r == 0)
			is_int(copy_chmod_apply(&c, chmod_cases[i].from), chmod_cases[i].want,
			       "%s on %o", chmod_cases[i].chmod, chmod_cases[i].from);
		cairn_error_free(err);
	}
	static const struct {
		const char *s, *msg;
	} bad[] = {
	    {"u+q", "invalid chmod parameter: 'u+q': invalid syntax"},
	    {"8",
	     "invalid chmod parameter: '8'. it should be octal string and between 0 and 07777"},
	    {"10000",
	     "invalid chmod parameter: '10000'. it should be octal string and between 0 and 07777"},
	    {"7a",
	     "invalid chmod parameter: '7a'. it should be octal string and between 0 and 07777"},
	    {"u", "invalid chmod parameter: 'u': invalid syntax"},
	    {"u+x,", "invalid chmod parameter: 'u+x,': invalid syntax"},
	    {"", "invalid chmod parameter: '': invalid syntax"},
	    {"x+u", "invalid chmod parameter: 'x+u': invalid syntax"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		copy_chmod c;
		cairn_error *err = NULL;
		ok(copy_chmod_parse(bad[i].s, &c, &err) == CAIRN_E_FORMAT, "refuses '%s'",
		   bad[i].s);
		is_str(err ? err->msg : NULL, bad[i].msg, "its message");
		cairn_error_free(err);
	}
}

static void test_paths(void)
{
	static const struct {
		const char *in, *out;
	} clean[] = {{"", ""},		 {"/", ""},	  {".", ""},	      {"a", "a"},
		     {"/a/b/", "a/b"},	 {"a//b", "a/b"}, {"../a", "a"},      {"a/../../b", "b"},
		     {"a/./b/.", "a/b"}, {"/../..", ""},  {"a/b/../c", "a/c"}};
	for (size_t i = 0; i < ARRAY_SIZE(clean); i++) {
		_cleanup_free_ char *c = path_clean_rel(clean[i].in);
		is_str(c, clean[i].out, "clean(%s)", clean[i].in);
	}
	const char *b = new_case("resolve");
	const char *root = keep(pth("%s/src", b));
	mkd(root, "a/b", 0755);
	sym(root, "a/up", "../../../..");
	sym(root, "a/abs", "/a/b");
	sym(root, "a/rel", "b/../b");
	sym(root, "loop", "loop");
	sym(root, "dang", "/no/such");
	_cleanup_close_ int fd = open_dir(root);
	static const struct {
		const char *in;
		bool follow;
		const char *out;
		int r;
	} res[] = {
	    {"a/up/a/b", true, "a/b", 0},     {"a/abs/x", true, "a/b/x", 0},
	    {"a/rel", true, "a/b", 0},	      {"a/rel", false, "a/rel", 0},
	    {"dang/x", true, "no/such/x", 0}, {"dang", true, "no/such", 0},
	    {"loop", true, NULL, -ELOOP},     {"nope/x/y", true, "nope/x/y", 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(res); i++) {
		_cleanup_free_ char *out = NULL;
		int r = root_resolve(fd, res[i].in, res[i].follow, NULL, &out);
		is_int(r, res[i].r, "resolve(%s) status", res[i].in);
		if (res[i].out)
			is_str(out, res[i].out, "resolve(%s%s)", res[i].in,
			       res[i].follow ? "" : ", nofollow");
	}
}

static void test_passwd(void)
{
	const char *b = new_case("passwd");
	const char *root = keep(pth("%s/dst", b));
	put(root, "etc/passwd",
	    "root:x:0:0:root:/root:/bin/sh\n"
	    "  app:x:1001:1002::/home/app:/bin/sh  \n"
	    "\n"
	    "dup:x:2000:2000::/:/bin/sh\n"
	    "dup:x:2001:2001::/:/bin/sh\n"
	    "weird:x:notanumber:7::/:/bin/sh\n"
	    "short:x:3000\n",
	    0644);
	put(root, "etc/group",
	    "root:x:0:\n"
	    "app:x:1002:\n"
	    "staff:x:50:app,other\n"
	    "audio:x:29:other,app\n"
	    "video:x:44:other\n",
	    0644);
	_cleanup_close_ int fd = open_dir(root);
	uid_t u;
	gid_t g;
	cairn_error *err = NULL;

	ok(copy_lookup_user(fd, "app", &u, &g, &err) == 0 && u == 1001 && g == 1002,
	   "a user, white space trimmed");
	ok(copy_lookup_user(fd, "dup", &u, &g, &err) == 0 && u == 2000, "the first match wins");
	ok(copy_lookup_user(fd, "weird", &u, &g, &err) == 0 && u == 0 && g == 7,
	   "a bad number reads as 0");
	ok(copy_lookup_user(fd, "short", &u, &g, &err) == 0 && u == 3000 && g == 0,
	   "missing fields read as 0");
	ok(copy_lookup_user(fd, "ghost", &u, &g, &err) == -ENOENT, "an unknown user");
	is_str(err ? err->msg : NULL,
	       "unable to find user ghost: no matching entries in passwd file", "its message");
	cairn_error_free(err);
	err = NULL;
	ok(copy_lookup_group(fd, "staff", &g, &err) == 0 && g == 50, "a group");
	ok(copy_lookup_group(fd, "ghosts", &g, &err) == -ENOENT, "an unknown group");
	is_str(err ? err->msg : NULL,
	       "unable to find group ghosts: no matching entries in group file", "its message");
	cairn_error_free(err);
	err = NULL;

	static const struct {
		const char *spec;
		uid_t uid;
		gid_t gid;
		bool strict;
		int r;
	} chown[] = {
	    {"1000", 1000, 1000, false, 0}, {"1000:2000", 1000, 2000, false, 0},
	    {"app", 1001, 1002, false, 0},  {"app:staff", 1001, 50, false, 0},
	    {":staff", 0, 50, false, 0},    {"app:", 1001, 1002, false, 0},
	    {"root", 0, 0, false, 0},	    {"app:7", 1001, 7, false, 0},
	    {"ghost", 0, 0, false, 0},	    {"app:ghosts", 1001, 1002, false, 0},
	    {"ghost", 0, 0, true, -ENOENT}, {"app:ghosts", 0, 0, true, -ENOENT},
	    {"-1", 0, 0, false, 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(chown); i++) {
		int r = copy_resolve_chown(fd, chown[i].spec, chown[i].strict, &u, &g, &err);
		is_int(r, chown[i].r, "--chown=%s%s", chown[i].spec,
		       chown[i].strict ? " (strict)" : "");
		if (r == 0)
			ok(u == chown[i].uid && g == chown[i].gid,
			   "--chown=%s is %u:%u (got %u:%u)", chown[i].spec, chown[i].uid,
			   chown[i].gid, u, g);
		cairn_error_free(err);
		err = NULL;
	}

	static const struct {
		const char *spec;
		uid_t uid;
		gid_t gid;
		const char *groups; /* comma-separated */
		const char *msg;
	} users[] = {
	    {"", 0, 0, "", NULL},
	    {"0:0", 0, 0, "", NULL},
	    {"5000:6000", 5000, 6000, "", NULL},
	    {"root:root", 0, 0, "", NULL},
	    {"app", 1001, 1002, "50,29", NULL},
	    {"app:audio", 1001, 29, "", NULL},
	    {"app:44", 1001, 44, "", NULL},
	    {"app:4444", 1001, 4444, "", NULL},
	    {"1001", 1001, 1002, "50,29", NULL},
	    {"4242", 4242, 0, "", NULL},
	    {"4242:video", 4242, 44, "", NULL},
	    {"ghost", 0, 0, NULL, "unable to find user ghost: no matching entries in passwd file"},
	    {"app:ghosts", 0, 0, NULL,
	     "unable to find group ghosts: no matching entries in group file"},
	    {"-5", 0, 0, NULL, "uids and gids must be in range 0-2147483647"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
		gid_t *groups = NULL;
		size_t n = 0;
		int r = copy_lookup_user_groups(fd, users[i].spec, &u, &g, &groups, &n, &err);
		if (users[i].msg) {
			ok(r < 0, "USER %s fails", users[i].spec);
			is_str(err ? err->msg : NULL, users[i].msg, "USER %s: message",
			       users[i].spec);
		} else {
			char got[128] = "";
			for (size_t k = 0; k < n; k++)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u",
					 k ? "," : "", groups[k]);
			ok(r == 0 && u == users[i].uid && g == users[i].gid &&
			       !strcmp(got, users[i].groups),
			   "USER %s is %u:%u [%s] (got %u:%u [%s])", users[i].spec, users[i].uid,
			   users[i].gid, users[i].groups, u, g, got);
		}
		free(groups);
		cairn_error_free(err);
		err = NULL;
	}

	const char *b2 = new_case("passwd-none");
	_cleanup_close_ int none = open_dir(pth("%s/dst", b2));
	ok(copy_resolve_chown(none, "app:staff", false, &u, &g, &err) == 0 && u == 0 && g == 0,
	   "no /etc/passwd: names are 0 (BuildKit #2249)");
	ok(copy_lookup_user_groups(none, "1234", &u, &g, &(gid_t *){NULL}, &(size_t){0}, &err) ==
		   0 &&
	       u == 1234 && g == 0,
	   "no /etc/passwd: a numeric USER is fine");
	ok(copy_lookup_user_groups(none, "app", &u, &g, &(gid_t *){NULL}, &(size_t){0}, &err) < 0,
	   "no /etc/passwd: a named USER is not");
	cairn_error_free(err);
	err = NULL;

	sym(pth("%s/dst", b2), "etc", pth("%s/dst/etc", b));
	ok(copy_lookup_user(none, "app", &u, &g, &err) == -ENOENT,
	   "/etc as a host-absolute symlink resolves inside the root, not on the host");
	cairn_error_free(err);
}

int main(void)
{
	test_match();
	test_chmod();
	test_paths();
	test_passwd();
	return tap_done();
}
