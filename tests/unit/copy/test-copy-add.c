/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of ADD's archive extraction (builder/copy/archive.c): real
 * archives made by tar(1) in every compression BuildKit recognizes, and
 * hostile ones written with libarchive (names with .., absolute names,
 * links out of the extraction root).
 */
#include <archive.h>
#include <archive_entry.h>

#include "copy-test.h"

static copy_options add_opts = {.add = true};

static void sh(const char *cmd)
{
	if (system(cmd) != 0) {
		tap_diag("command failed: %s", cmd);
		exit(99);
	}
}

static void make_stage(const char *stage)
{
	put(stage, "top.txt", "top", 0640);
	put(stage, "dir/inner.txt", "inner", 0644);
	put(stage, "dir/suid", "su", 04755);
	chmod(pth("%s/dir", stage), 0750);
	sym(stage, "dir/ln", "inner.txt");
	if (link(pth("%s/dir/inner.txt", stage), pth("%s/dir/hard.txt", stage)) < 0 ||
	    mkfifo(pth("%s/fifo", stage), 0600) < 0 ||
	    lchown(pth("%s/top.txt", stage), 1234, 5678) < 0)
		perror("stage");
	set_mtime(stage, "dir/inner.txt", 1000000000, 0);
	set_mtime(stage, "dir", 900000000, 0);
}

static void check_tree(const char *dst, const char *at, const char *what)
{
	struct stat st, s2;
	ok(is_content(dst, pth("%s/top.txt", at), "top") &&
	       is_content(dst, pth("%s/dir/inner.txt", at), "inner"),
	   "%s: extracted", what);
	ok(lst(dst, pth("%s/top.txt", at), &st) && st.st_uid == 1234 && st.st_gid == 5678 &&
	       (st.st_mode & 07777) == 0640,
	   "%s: owner and mode from the archive", what);
	ok(lst(dst, pth("%s/dir", at), &st) && (st.st_mode & 07777) == 0750 &&
	       st.st_mtim.tv_sec == 900000000,
	   "%s: a directory's mode and mtime", what);
	ok(lst(dst, pth("%s/dir/inner.txt", at), &st) && st.st_mtim.tv_sec == 1000000000,
	   "%s: a file's mtime", what);
	ok(mode_at(dst, pth("%s/dir/suid", at)) == 04755, "%s: set-uid kept", what);
	char t[64] = {0};
	ok(lst(dst, pth("%s/dir/ln", at), &st) && S_ISLNK(st.st_mode) &&
	       readlink(pth("%s/%s/dir/ln", dst, at), t, sizeof(t) - 1) > 0 &&
	       !strcmp(t, "inner.txt"),
	   "%s: a symlink", what);
	ok(lst(dst, pth("%s/dir/inner.txt", at), &st) &&
	       lst(dst, pth("%s/dir/hard.txt", at), &s2) && st.st_ino == s2.st_ino,
	   "%s: a hardlink", what);
	ok(lst(dst, pth("%s/fifo", at), &st) && S_ISFIFO(st.st_mode), "%s: a fifo", what);
}

static void test_formats(void)
{
	const char *b = new_case("add-formats");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	const char *stage = keep(pth("%s/stage", b));
	mkd(b, "stage", 0755);
	make_stage(stage);
	static const struct {
		const char *file, *flag;
	} fmts[] = {{"a.tar", ""},	{"a.tar.gz", "-z"},  {"a.tar.zst", "--zstd"},
		    {"a.tar.xz", "-J"}, {"a.tar.bz2", "-j"}, {"noext", "-z"}};
	for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
		sh(pth("tar -C '%s' --numeric-owner %s -cf '%s/%s' .", stage, fmts[i].flag, src,
		       fmts[i].file));
		char *at = pth("x%zu", i);
		ok(COPY1(b, fmts[i].file, pth("/%s/", at), &add_opts) == 0, "ADD %s", fmts[i].file);
		check_tree(dst, keep(at), fmts[i].file);
	}
	ok(COPY1(b, "a.tar", "/nodir", &add_opts) == 0 && is_content(dst, "nodir/top.txt", "top"),
	   "an archive is extracted into dest even without a trailing slash");
	copy_options chown = {.add = true, .chown = "7:8", .chmod = "0600"};
	struct stat st;
	ok(COPY1(b, "a.tar.gz", "/owned/", &chown) == 0 && lst(dst, "owned/top.txt", &st) &&
	       st.st_uid == 7 && st.st_gid == 8 && (st.st_mode & 07777) == 0640,
	   "--chown overrides the archive's owners, --chmod does not apply");
	ok(lst(dst, "owned/dir/ln", &st) && st.st_uid == 7, "links too");
	ok(lst(dst, "owned", &st) && st.st_uid == 7, "dest is created with the --chown owner");
	ok(COPY1(b, "a.tar", "/copied/", NULL) == 0 && present_at(dst, "copied/a.tar"),
	   "COPY does not extract");
	mkd(src, "holder", 0755);
	sh(pth("cp '%s/a.tar' '%s/holder/'", src, src));
	ok(COPY1(b, "holder", "/held/", &add_opts) == 0 && present_at(dst, "held/a.tar") &&
	       !present_at(dst, "held/top.txt"),
	   "an archive inside a directory source is copied, not extracted");
	ok(COPY1(b, "a.tar*", "/many/", &add_opts) == 0 && is_content(dst, "many/top.txt", "top"),
	   "ADD with a wildcard extracts every match");
}

static void test_not_archives(void)
{
	const char *b = new_case("add-plain");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(src, "notes.tar", "just some text, no tar header here", 0644);
	put(src, "plain.txt", "hello", 0644);
	put(src, "empty.tar", "", 0644);
	sh(pth("gzip -c '%s/plain.txt' > '%s/text.gz'", src, src));
	ok(COPY1(b, "notes.tar", "/z/", &add_opts) == 0 &&
	       is_content(dst, "z/notes.tar", "just some text, no tar header here"),
	   "a file named .tar that is not an archive is copied");
	ok(COPY1(b, "plain.txt", "/p.txt", &add_opts) == 0 && is_content(dst, "p.txt", "hello"),
	   "a plain file is copied like COPY, to a file name");
	ok(COPY1(b, "empty.tar", "/e/", &add_opts) == 0 && is_content(dst, "e/empty.tar", ""),
	   "an empty file is not an archive");
	struct stat s1, s2;
	ok(COPY1(b, "text.gz", "/g/", &add_opts) == 0 && lst(src, "text.gz", &s1) &&
	       lst(dst, "g/text.gz", &s2) && s1.st_size == s2.st_size,
	   "a compressed non-tar is copied as is, still compressed");
}

/* ---- hostile archives ------------------------------------------------------ */

typedef struct tent {
	const char *name;
	char type;	  /* f d l h */
	const char *data; /* content, or link target */
} tent;

static void write_tar(const char *path, const tent *e, size_t n)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		exit(99);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ent = archive_entry_new();
		archive_entry_set_pathname(ent, e[i].name);
		archive_entry_set_mtime(ent, 1500000000, 0);
		switch (e[i].type) {
		case 'd':
			archive_entry_set_filetype(ent, AE_IFDIR);
			archive_entry_set_perm(ent, 0755);
			break;
		case 'l':
			archive_entry_set_filetype(ent, AE_IFLNK);
			archive_entry_set_perm(ent, 0777);
			archive_entry_set_symlink(ent, e[i].data);
			break;
		case 'h':
			archive_entry_set_filetype(ent, AE_IFREG);
			archive_entry_set_perm(ent, 0644);
			archive_entry_set_hardlink(ent, e[i].data);
			break;
		default:
			archive_entry_set_filetype(ent, AE_IFREG);
			archive_entry_set_perm(ent, 0644);
			archive_entry_set_size(ent, (la_int64_t) strlen(e[i].data));
		}
		archive_write_header(a, ent);
		if (e[i].type == 'f')
			archive_write_data(a, e[i].data, strlen(e[i].data));
		archive_entry_free(ent);
	}
	archive_write_close(a);
	archive_write_free(a);
}

#define TAR(base, file, ...)                                                                       \
	do {                                                                                       \
		const tent t_[] = {__VA_ARGS__};                                                   \
		write_tar(pth("%s/src/%s", base, file), t_, ARRAY_SIZE(t_));                       \
	} while (0)

static void test_hostile(void)
{
	const char *b = new_case("add-hostile");
	const char *dst = keep(pth("%s/dst", b));
	mkd(b, "victim", 0755);
	char *msg = NULL;

	TAR(b, "dotdot.tar", {"ok.txt", 'f', "ok"}, {"../evil", 'f', "evil"});
	ok(run_copy(b, (const char *const[]){"dotdot.tar"}, 1, "/x1/", &add_opts, &msg) < 0,
	   "an entry ../evil fails the ADD");
	is_str(msg, "ADD failed: archive path \"../evil\" is outside extraction root",
	       "with BuildKit's words");
	free(msg);
	ok(!present_at(dst, "evil") && !present_at(b, "evil") && !present_at(b, "dst/x1/../evil"),
	   "and nothing lands outside dest");

	TAR(b, "deep.tar", {"a/../../evil2", 'f', "evil"});
	ok(run_copy(b, (const char *const[]){"deep.tar"}, 1, "/x2/", &add_opts, &msg) < 0 &&
	       !present_at(dst, "evil2"),
	   "a/../../evil2 too");
	free(msg);

	TAR(b, "abs.tar", {"/abs/file", 'f', "abs"}, {"//etc/passwd-x", 'f', "pw"});
	ok(COPY1(b, "abs.tar", "/x3/", &add_opts) == 0 && is_content(dst, "x3/abs/file", "abs") &&
	       is_content(dst, "x3/etc/passwd-x", "pw") && !present_at("/etc", "passwd-x"),
	   "absolute names land inside dest");

	TAR(b, "esc.tar", {"esc", 'l', "../../../../victim"}, {"esc/pwned", 'f', "pwned"});
	ok(run_copy(b, (const char *const[]){"esc.tar"}, 1, "/x4/", &add_opts, &msg) < 0,
	   "an entry through a symlink that leaves dest fails");
	is_str(msg, "ADD failed: archive symlink \"esc\" points outside extraction root",
	       "with BuildKit's words");
	free(msg);
	ok(!present_at(b, "victim/pwned"), "and writes nothing through it");

	TAR(b, "abslink.tar", {"abs", 'l', "/etc"}, {"abs/pwned", 'f', "inside"});
	ok(COPY1(b, "abslink.tar", "/x5/", &add_opts) == 0 &&
	       is_content(dst, "x5/etc/pwned", "inside") && !present_at("/etc", "pwned") &&
	       !present_at(dst, "etc/pwned"),
	   "an absolute symlink target counts from dest");

	TAR(b, "hard.tar", {"h", 'h', "../../victim/x"});
	msg = NULL;
	int r = run_copy(b, (const char *const[]){"hard.tar"}, 1, "/x6/", &add_opts, &msg);
	ok(r < 0 && msg && strstr(msg, "outside extraction root"),
	   "a hardlink out of dest fails: %s", msg ? msg : "");
	free(msg);

	mkd(dst, "x7", 0755);
	sym(dst, "x7/pre", pth("%s/victim", b));
	TAR(b, "pre.tar", {"pre/file", 'f', "through"});
	ok(COPY1(b, "pre.tar", "/x7/", &add_opts) == 0 && !present_at(b, "victim/file") &&
	       is_content(dst, pth("x7/%s/victim/file", b + 1), "through"),
	   "a symlink already in dest is resolved inside dest");

	mkd(dst, "x8/thing", 0755);
	put(dst, "x8/thing/old", "old", 0644);
	put(dst, "x8/f", "old", 0644);
	TAR(b, "replace.tar", {"thing", 'f', "now a file"}, {"f", 'd', ""}, {"f/in", 'f', "in"});
	ok(COPY1(b, "replace.tar", "/x8/", &add_opts) == 0 &&
	       is_content(dst, "x8/thing", "now a file") && is_content(dst, "x8/f/in", "in"),
	   "what is in the way is replaced, directories included");

	TAR(b, "implied.tar", {"p/q/r.txt", 'f', "r"});
	struct stat st;
	ok(COPY1(b, "implied.tar", "/x9/", &add_opts) == 0 &&
	       is_content(dst, "x9/p/q/r.txt", "r") && lst(dst, "x9/p", &st) &&
	       (st.st_mode & 07777) == 0755 && st.st_uid == 0,
	   "missing parents are created 0755 root:root");
}

int main(void)
{
	need_root();
	test_formats();
	test_not_archives();
	test_hostile();
	return tap_done();
}
