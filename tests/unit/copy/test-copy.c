/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of builder/copy: COPY's rules as BuildKit has them, one case
 * directory (src/, dst/) per rule, built in a tmpdir.  The expectations
 * come from BuildKit's own integration tests where they exist
 * (testCopyWildcards, testExcludedFilesOnCopy, testFileOpCopyChmodText)
 * and from fsutil's copy tests.
 */
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <xxhash.h>

#include "copy-test.h"

static void test_file_rules(void)
{
	const char *b = new_case("file-rules");
	put(pth("%s/src", b), "a.txt", "A", 0644);
	put(pth("%s/src", b), "b.txt", "B", 0644);
	mkd(pth("%s/dst", b), "d", 0755);
	const char *dst = keep(pth("%s/dst", b));

	ok(COPY1(b, "a.txt", "/f.txt", NULL) == 0 && is_content(dst, "f.txt", "A"),
	   "a file to a file path");
	ok(COPY1(b, "/a.txt", "/d", NULL) == 0 && is_content(dst, "d/a.txt", "A"),
	   "a file into an existing directory (no trailing slash)");
	ok(COPY1(b, "a.txt", "/new/sub/", NULL) == 0 && is_content(dst, "new/sub/a.txt", "A"),
	   "a file into dest/ whose parents are missing");
	is_int(mode_at(dst, "new"), 0755, "created parents are 0755");
	ok(COPY1(b, "b.txt", "/f.txt", NULL) == 0 && is_content(dst, "f.txt", "B"),
	   "an existing file is replaced");
	ok(COPY1(b, "../../a.txt", "/up.txt", NULL) == 0 && is_content(dst, "up.txt", "A"),
	   "'..' stops at the source root");
	ok(COPY1(b, "a.txt", "/x/./", NULL) == 0 && is_content(dst, "x/a.txt", "A"),
	   "dest ending in /. is a directory");
	ok(COPY1(b, "a.txt", "/", NULL) == 0 && is_content(dst, "a.txt", "A"), "a file into /");

	char *msg = NULL;
	int r = run_copy(b, (const char *const[]){"missing.txt"}, 1, "/m", NULL, &msg);
	is_int(r, -ENOENT, "a missing source fails");
	is_str(msg, "COPY failed: \"/missing.txt\": not found", "BuildKit's words");
	free(msg);

	copy_options add = {.add = true};
	r = run_copy(b, (const char *const[]){"missing.txt"}, 1, "/m", &add, &msg);
	is_str(msg, "ADD failed: \"/missing.txt\": not found", "ADD says ADD");
	free(msg);
}

static void test_several_sources(void)
{
	const char *b = new_case("several");
	put(pth("%s/src", b), "a.txt", "A", 0644);
	put(pth("%s/src", b), "b.txt", "B", 0644);
	const char *dst = keep(pth("%s/dst", b));
	const char *const two[] = {"a.txt", "b.txt"};

	ok(run_copy(b, two, 2, "/both/", NULL, NULL) == 0 && is_content(dst, "both/a.txt", "A") &&
	       is_content(dst, "both/b.txt", "B"),
	   "two sources into dest/");
	ok(run_copy(b, two, 2, "/one", NULL, NULL) == 0 && is_content(dst, "one", "B"),
	   "two sources to a non-directory dest: no error, the last wins (moby/buildkit#1853)");

	copy_options classic = {.classic_checks = true};
	char *msg = NULL;
	int r = run_copy(b, two, 2, "/two", &classic, &msg);
	ok(r < 0, "classic_checks: two sources need a trailing slash");
	is_str(msg,
	       "When using COPY with more than one source file, the destination must be a "
	       "directory and end with a /",
	       "the legacy builder's message");
	free(msg);
	ok(COPY1(b, "a*", "/single", &classic) == 0 && is_content(dst, "single", "A"),
	   "classic_checks: a wildcard with one match may name a file");
	r = run_copy(b, (const char *const[]){"*.none"}, 1, "/z/", &classic, &msg);
	is_str(msg, "COPY failed: no source files were specified", "classic: nothing selected");
	free(msg);
}

static void test_wildcards(void)
{
	const char *b = new_case("wildcards");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(src, "foo.go", "foo", 0644);
	put(src, "bar.go", "bar", 0644);
	put(src, "baz.txt", "baz", 0644);
	put(src, "sub/dir1/dir2/foo", "deep", 0644);
	put(src, "a1", "a1", 0644);
	put(src, "b1", "b1", 0644);
	put(src, "d1", "d1", 0644);
	put(src, "a*1", "star", 0644);

	ok(COPY1(b, "*.go", "/gofiles/", NULL) == 0 && is_content(dst, "gofiles/foo.go", "foo") &&
	       is_content(dst, "gofiles/bar.go", "bar") && !present_at(dst, "gofiles/baz.txt"),
	   "*.go into a directory");
	ok(COPY1(b, "f*.go", "/foo2.go", NULL) == 0 && is_content(dst, "foo2.go", "foo"),
	   "a wildcard with one match to a file name (testCopyWildcards)");
	ok(COPY1(b, "sub/*", "/subdest/", NULL) == 0 && is_content(dst, "subdest/dir2/foo", "deep"),
	   "sub/* copies the contents of the matched directory");
	ok(COPY1(b, "sub/*/dir2/foo", "/subdest2/", NULL) == 0 &&
	       is_content(dst, "subdest2/foo", "deep"),
	   "a wildcard in a middle component");
	ok(COPY1(b, "sub/*/dir2/foo", "/subdest3/bar", NULL) == 0 &&
	       is_content(dst, "subdest3/bar", "deep"),
	   "... to a file name");
	ok(COPY1(b, "[a-c]1", "/range/", NULL) == 0 && is_content(dst, "range/a1", "a1") &&
	       is_content(dst, "range/b1", "b1") && !present_at(dst, "range/d1") &&
	       !present_at(dst, "range/a*1"),
	   "a class [a-c]");
	ok(COPY1(b, "a\\*[0-9]", "/esc/", NULL) == 0 && is_content(dst, "esc/a*1", "star") &&
	       !present_at(dst, "esc/a1"),
	   "an escaped star matches only a star");
	ok(COPY1(b, "*.nomatch", "/empty/", NULL) == 0 && !present_at(dst, "empty"),
	   "no match: nothing copied, no error, dest not created (AllowEmptyWildcard)");

	char *msg = NULL;
	int r = run_copy(b, (const char *const[]){"nodir/*.txt"}, 1, "/n/", NULL, &msg);
	is_int(r, -ENOENT, "a wildcard below a missing directory fails");
	is_str(msg, "COPY failed: lstat /nodir: no such file or directory",
	       "with BuildKit's lstat message");
	free(msg);
}

static void test_directories(void)
{
	const char *b = new_case("dirs");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(src, "dir/x", "x", 0644);
	put(src, "dir/sub/y", "y", 0600);
	put(src, "dir/sub/deeper/z", "z", 0644);
	chmod(pth("%s/dir/sub", src), 0750);
	put(dst, "out/old", "old", 0644);
	mkd(dst, "out/sub", 0700);
	put(dst, "out/sub/keep", "keep", 0644);

	ok(COPY1(b, "dir", "/out", NULL) == 0, "a directory into an existing one");
	ok(is_content(dst, "out/x", "x") && is_content(dst, "out/sub/y", "y") &&
	       is_content(dst, "out/sub/deeper/z", "z"),
	   "its contents, not itself, nested dirs included");
	ok(is_content(dst, "out/old", "old") && is_content(dst, "out/sub/keep", "keep"),
	   "merged: what was there stays");
	is_int(mode_at(dst, "out/sub"), 0750, "a merged subdirectory takes the source's mode");
	is_int(mode_at(dst, "out/sub/y"), 0600, "file modes kept");

	ok(COPY1(b, "dir/", "/fresh", NULL) == 0 && is_content(dst, "fresh/sub/y", "y"),
	   "a directory to a missing dest creates it (trailing slash on the source ignored)");
	ok(COPY1(b, "dir/.", "/fresh5", NULL) == 0 && is_content(dst, "fresh5/x", "x"),
	   "dir/. is the directory");
	ok(COPY1(b, ".", "/all/", NULL) == 0 && is_content(dst, "all/dir/sub/deeper/z", "z"),
	   "the whole context");
	ok(COPY1(b, "dir", "/", NULL) == 0 && is_content(dst, "sub/y", "y"), "a directory into /");

	put(dst, "file", "f", 0644);
	char *msg = NULL;
	run_copy(b, (const char *const[]){"dir"}, 1, "/file", NULL, &msg);
	is_str(msg, "COPY failed: cannot copy to non-directory: /file", "a directory over a file");
	free(msg);
	mkd(dst, "hasdir/x", 0755);
	run_copy(b, (const char *const[]){"dir/x"}, 1, "/hasdir/", NULL, &msg);
	is_str(msg, "COPY failed: cannot replace to directory /hasdir/x with file",
	       "a file over a directory");
	free(msg);
	mkd(dst, "tree/sub", 0755);
	put(dst, "tree/sub/deeper", "file in the way", 0644);
	run_copy(b, (const char *const[]){"dir"}, 1, "/tree", NULL, &msg);
	is_str(msg, "COPY failed: cannot copy to non-directory: /tree/sub/deeper",
	       "inside the tree too");
	free(msg);
}

static void test_parents(void)
{
	const char *b = new_case("parents");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(src, "a/b/c.txt", "c", 0644);
	put(src, "a/b/d.txt", "d", 0644);
	put(src, "x/y.txt", "y", 0644);
	put(src, "x/z.md", "z", 0644);
	chmod(pth("%s/a", src), 0750);
	copy_options o = {.parents = true};
	const char *const two[] = {"a/b/c.txt", "x/y.txt"};

	ok(run_copy(b, two, 2, "/p/", &o, NULL) == 0 && is_content(dst, "p/a/b/c.txt", "c") &&
	       is_content(dst, "p/x/y.txt", "y") && !present_at(dst, "p/a/b/d.txt") &&
	       !present_at(dst, "p/c.txt"),
	   "--parents keeps the path below the root");
	is_int(mode_at(dst, "p/a"), 0750, "the parents come with their source modes");
	ok(COPY1(b, "a/./b/c.txt", "/piv/", &o) == 0 && is_content(dst, "piv/b/c.txt", "c") &&
	       !present_at(dst, "piv/a"),
	   "a /./ pivot");
	ok(COPY1(b, "*/*.txt", "/w/", &o) == 0 && is_content(dst, "w/x/y.txt", "y") &&
	       !present_at(dst, "w/x/z.md") && !present_at(dst, "w/a/b"),
	   "--parents with wildcards");
	ok(COPY1(b, "a", "/whole/", &o) == 0 && is_content(dst, "whole/a/b/d.txt", "d"),
	   "--parents of a directory");
	char *msg = NULL;
	run_copy(b, (const char *const[]){"a/nope.txt"}, 1, "/p2/", &o, &msg);
	is_str(msg, "COPY failed: \"/a/nope.txt\": not found",
	       "--parents without wildcards requires the path");
	free(msg);
}

static void test_dockerignore(void)
{
	const char *b = new_case("dockerignore");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(src, "app.c", "app", 0644);
	put(src, "secret.txt", "secret", 0600);
	put(src, "build/keep.txt", "keep", 0644);
	put(src, "build/other.o", "o", 0644);
	put(src, "logs/a.log", "log", 0644);
	sym(src, "tosecret", "secret.txt");
	const char *text = "secret.txt\nbuild\n!build/keep.txt\nlogs\n";
	df_ignore *ig = NULL;
	cairn_error *err = NULL;
	ok(df_ignore_parse(text, strlen(text), NULL, &ig, &err) == 0, "a .dockerignore");
	copy_options o = {.ignore = ig};

	ok(COPY1(b, ".", "/ctx/", &o) == 0, "COPY . with a .dockerignore");
	ok(is_content(dst, "ctx/app.c", "app") && !present_at(dst, "ctx/secret.txt"),
	   "an ignored file is absent");
	ok(is_content(dst, "ctx/build/keep.txt", "keep") && !present_at(dst, "ctx/build/other.o"),
	   "an ignored directory comes back for its ! exception, with only that");
	ok(!present_at(dst, "ctx/logs"), "an ignored directory without exceptions is absent");
	char *msg = NULL;
	run_copy(b, (const char *const[]){"secret.txt"}, 1, "/s", &o, &msg);
	is_str(msg, "COPY failed: \"/secret.txt\": not found", "naming an ignored file");
	free(msg);
	run_copy(b, (const char *const[]){"logs"}, 1, "/l/", &o, &msg);
	is_str(msg, "COPY failed: \"/logs\": not found", "naming an ignored directory");
	free(msg);
	ok(COPY1(b, "s*", "/w/", &o) == 0 && !present_at(dst, "w"),
	   "wildcards do not match ignored files");
	run_copy(b, (const char *const[]){"tosecret"}, 1, "/t", &o, &msg);
	is_str(msg, "COPY failed: \"/tosecret\": not found",
	       "a symlink to an ignored file dangles in the context");
	free(msg);
	ok(COPY1(b, "build", "/bk/", &o) == 0 && is_content(dst, "bk/keep.txt", "keep") &&
	       !present_at(dst, "bk/other.o"),
	   "naming the re-included directory");
	df_ignore_free(ig);
}

static void test_exclude(void)
{
	const char *b = new_case("exclude");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(src, "dir1/file-101.png", "2", 0600);
	put(src, "dir1/file-102.txt", "3", 0600);
	put(src, "dir2/file-201.pdf", "6", 0600);
	put(src, "dir3/file-301.mp3", "9", 0600);
	put(src, "dir3/file-302.mpeg", "10", 0600);
	put(src, "top.txt", "top", 0600);
	put(src, "keep/logs/x.log", "x", 0600);
	put(src, "keep/logs/important.log", "imp", 0600);
	const char *ex1[] = {"*/*.png", "*/*.pdf"};
	copy_options o = {.excludes = ex1, .n_excludes = 2};

	ok(COPY1(b, ".", "/1/", &o) == 0 && !present_at(dst, "1/dir1/file-101.png") &&
	       is_content(dst, "1/dir1/file-102.txt", "3") &&
	       !present_at(dst, "1/dir2/file-201.pdf") && present_at(dst, "1/dir2"),
	   "--exclude relative to the source");
	const char *ex2[] = {"*.mp3", "*.txt", "*.png", "*.pdf"};
	copy_options o2 = {.excludes = ex2, .n_excludes = 4};
	ok(COPY1(b, "dir*", "/4/", &o2) == 0 && is_content(dst, "4/file-302.mpeg", "10") &&
	       !present_at(dst, "4/file-301.mp3") && !present_at(dst, "4/file-102.txt"),
	   "--exclude relative to each wildcard match (testExcludedFilesOnCopy)");
	ok(COPY1(b, "top.txt", "/5/", &o2) == 0 && is_content(dst, "5/top.txt", "top"),
	   "a named source is never excluded itself");
	const char *ex3[] = {"logs", "!logs/important.log"};
	copy_options o3 = {.excludes = ex3, .n_excludes = 2};
	ok(COPY1(b, "keep", "/6/", &o3) == 0 && is_content(dst, "6/logs/important.log", "imp") &&
	       !present_at(dst, "6/logs/x.log"),
	   "an exception re-includes below an excluded directory");
	const char *bad[] = {"[z-a"};
	copy_options o4 = {.excludes = bad, .n_excludes = 1};
	char *msg = NULL;
	ok(run_copy(b, (const char *const[]){"."}, 1, "/7/", &o4, &msg) < 0 && msg,
	   "a bad --exclude pattern fails: %s", msg ? msg : "");
	free(msg);
}

static void test_symlinks(void)
{
	const char *b = new_case("symlinks");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(pth("%s", b), "outside.txt", "OUTSIDE", 0644);
	put(src, "real.txt", "real", 0644);
	sym(src, "link", "real.txt");
	sym(src, "abslink", "/real.txt");
	sym(src, "esc", "../outside.txt");
	sym(src, "escabs", "/../../../../outside.txt");
	sym(src, "dangling", "nowhere");
	mkd(src, "dir", 0755);
	sym(src, "dir/in", "../../outside.txt");
	put(src, "realdir/f", "f", 0644);
	sym(src, "dirlink", "realdir");

	ok(COPY1(b, "link", "/l.txt", NULL) == 0, "a symlink source");
	struct stat st;
	ok(lst(dst, "l.txt", &st) && S_ISREG(st.st_mode) && is_content(dst, "l.txt", "real"),
	   "is followed: its target is copied");
	ok(COPY1(b, "link", "/ld/", NULL) == 0 && is_content(dst, "ld/link", "real"),
	   "under the link's own name");
	ok(COPY1(b, "abslink", "/abs.txt", NULL) == 0 && is_content(dst, "abs.txt", "real"),
	   "an absolute target counts from the source root");
	ok(COPY1(b, "dirlink", "/dl/", NULL) == 0 && is_content(dst, "dl/f", "f"),
	   "a link to a directory copies the directory's contents");
	char *msg = NULL;
	run_copy(b, (const char *const[]){"esc"}, 1, "/e", NULL, &msg);
	is_str(msg, "COPY failed: \"/esc\": not found", "../ out of the root is not followed out");
	free(msg);
	run_copy(b, (const char *const[]){"escabs"}, 1, "/e", NULL, &msg);
	is_str(msg, "COPY failed: \"/escabs\": not found", "nor an absolute target with ..");
	free(msg);
	run_copy(b, (const char *const[]){"dangling"}, 1, "/e", NULL, &msg);
	is_str(msg, "COPY failed: \"/dangling\": not found", "a dangling link is not found");
	free(msg);
	ok(!present_at(dst, "e"), "and nothing was written");

	ok(COPY1(b, "dir", "/in/", NULL) == 0, "a directory holding a symlink");
	char t[256] = {0};
	ok(lst(dst, "in/in", &st) && S_ISLNK(st.st_mode) &&
	       readlink(pth("%s/in/in", dst), t, sizeof(t) - 1) > 0 &&
	       !strcmp(t, "../../outside.txt"),
	   "inside the tree the link is copied as a link, target unchanged");
	copy_options nofollow = {.nofollow = true};
	ok(COPY1(b, "link", "/nf", &nofollow) == 0 && lst(dst, "nf", &st) && S_ISLNK(st.st_mode),
	   "nofollow copies the link itself");
	ok(COPY1(b, "l*", "/wl/", NULL) == 0 && is_content(dst, "wl/link", "real"),
	   "a wildcard match that is a link is followed too");
}

static void test_dest_escape(void)
{
	const char *b = new_case("dest-escape");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(src, "a.txt", "A", 0644);
	put(src, "tree/sub/file", "T", 0644);
	put(src, "tree2/f", "F", 0644);
	mkd(b, "victim", 0755);
	put(b, "victim/f", "VICTIM", 0644);
	sym(dst, "usr", "/../../outside-dst");
	sym(dst, "host", pth("%s/victim", b));
	mkd(dst, "out", 0755);
	sym(dst, "out/sub", pth("%s/victim", b));
	mkd(dst, "out2", 0755);
	sym(dst, "out2/f", pth("%s/victim/f", b));

	ok(COPY1(b, "a.txt", "/usr/lib/", NULL) == 0 &&
	       is_content(dst, "outside-dst/lib/a.txt", "A"),
	   "a dest through an absolute symlink with .. lands inside the root");
	ok(!present_at(pth("%s/..", b), "outside-dst"), "and not outside");
	ok(COPY1(b, "a.txt", "/host/", NULL) == 0 &&
	       is_content(dst, pth("%s/victim/a.txt", b + 1), "A") &&
	       !present_at(b, "victim/a.txt"),
	   "a host-absolute symlink is resolved inside the root");
	char *msg = NULL;
	run_copy(b, (const char *const[]){"tree"}, 1, "/out/", NULL, &msg);
	is_str(msg, "COPY failed: cannot copy to non-directory: /out/sub",
	       "a symlink inside the tree is not followed (BuildKit fails)");
	free(msg);
	ok(!present_at(b, "victim/file"), "nothing written through it");
	ok(COPY1(b, "tree2", "/out2/", NULL) == 0 && is_content(dst, "out2/f", "F") &&
	       is_content(b, "victim/f", "VICTIM"),
	   "a file over a symlink replaces the link, not its target");
	struct stat st;
	ok(lst(dst, "out2/f", &st) && S_ISREG(st.st_mode), "now a regular file");
	sym(dst, "final", "/etc-final/file.txt");
	ok(COPY1(b, "a.txt", "/final", NULL) == 0 && is_content(dst, "etc-final/file.txt", "A"),
	   "a dest that is a dangling link is written at its target, inside the root");
}

static void test_hardlinks_special(void)
{
	const char *b = new_case("links");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(src, "d/h1", "same", 0640);
	if (link(pth("%s/d/h1", src), pth("%s/d/h2", src)) < 0 ||
	    link(pth("%s/d/h1", src), pth("%s/d/sub-h3", src)) < 0)
		perror("link");
	put(src, "d/single", "one", 0644);
	if (mkfifo(pth("%s/d/fifo", src), 0620) < 0 || chmod(pth("%s/d/fifo", src), 0620) < 0)
		perror("mkfifo");
	bool dev = mknod(pth("%s/d/null", src), S_IFCHR | 0666, makedev(1, 3)) == 0;

	ok(COPY1(b, "d", "/o/", NULL) == 0, "a tree with hardlinks and special files");
	struct stat s1, s2, s3;
	ok(lst(dst, "o/h1", &s1) && lst(dst, "o/h2", &s2) && lst(dst, "o/sub-h3", &s3) &&
	       s1.st_ino == s2.st_ino && s1.st_ino == s3.st_ino && s1.st_nlink == 3,
	   "the hardlink group is one inode again");
	is_int(s1.st_mode & 07777, 0640, "with its mode");
	struct stat sf;
	ok(lst(dst, "o/fifo", &sf) && S_ISFIFO(sf.st_mode) && (sf.st_mode & 07777) == 0620,
	   "a fifo is recreated as a fifo");
	if (dev) {
		struct stat sd;
		ok(lst(dst, "o/null", &sd) && S_ISCHR(sd.st_mode) && sd.st_rdev == makedev(1, 3),
		   "a character device keeps its number");
	}
	const char *const both[] = {"d/h1", "d/h2"};
	ok(run_copy(b, both, 2, "/sep/", NULL, NULL) == 0 && lst(dst, "sep/h1", &s1) &&
	       lst(dst, "sep/h2", &s2) && s1.st_ino != s2.st_ino,
	   "links across two sources are separate copies (a copier per source)");
}

static void test_chmod(void)
{
	const char *b = new_case("chmod");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(src, "d/file", "f", 0644);
	put(src, "d/exe", "x", 0755);
	mkd(src, "d/sub", 0500);
	sym(src, "d/ln", "file");

	copy_options oct = {.chmod = "0640"};
	ok(COPY1(b, "d", "/oct/", &oct) == 0, "--chmod=0640");
	ok(mode_at(dst, "oct/file") == 0640 && mode_at(dst, "oct/exe") == 0640 &&
	       mode_at(dst, "oct/sub") == 0640,
	   "octal applies to files and directories alike");
	is_int(mode_at(dst, "oct"), 0640,
	       "and to the directories MkdirAll creates (BuildKit >= 0.21)");
	copy_options oct2 = {.chmod = "755"};
	ok(COPY1(b, "d/file", "/p2/q/f", &oct2) == 0 && mode_at(dst, "p2/q/f") == 0755 &&
	       mode_at(dst, "p2") == 0755,
	   "--chmod=755 without the leading 0");
	copy_options sym1 = {.chmod = "u=rwX,go=rX"};
	ok(COPY1(b, "d", "/sym/", &sym1) == 0 && mode_at(dst, "sym/file") == 0644 &&
	       mode_at(dst, "sym/exe") == 0755 && mode_at(dst, "sym/sub") == 0755,
	   "u=rwX,go=rX: 644 files, 755 executables and directories");
	copy_options sym2 = {.chmod = "a+X"};
	ok(COPY1(b, "d/sub", "/ax", &sym2) == 0, "a+X on a directory");
	copy_options sym3 = {.chmod = "g+rw,o+rw"};
	ok(COPY1(b, "d/file", "/grw", &sym3) == 0 && mode_at(dst, "grw") == 0666, "g+rw,o+rw");
	struct stat st;
	ok(lst(dst, "sym/ln", &st) && S_ISLNK(st.st_mode), "symlinks are left alone");
	copy_options badc = {.chmod = "u+q"};
	char *msg = NULL;
	ok(run_copy(b, (const char *const[]){"d/file"}, 1, "/bad", &badc, &msg) < 0 &&
	       !present_at(dst, "bad"),
	   "a bad --chmod fails before writing");
	is_str(msg, "invalid chmod parameter: 'u+q': invalid syntax", "with its message");
	free(msg);
}

static void test_owners(void)
{
	const char *b = new_case("owners");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(src, "d/f", "f", 0644);
	mkd(src, "d/sub", 0755);
	if (lchown(pth("%s/d/f", src), 1234, 4321) < 0 || lchown(pth("%s/d/sub", src), 77, 88) < 0)
		perror("chown");
	put(dst, "etc/passwd",
	    "root:x:0:0:root:/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n", 0644);
	put(dst, "etc/group", "root:x:0:\napp:x:1002:\nstaff:x:50:app\n", 0644);
	struct stat st;

	ok(COPY1(b, "d", "/def/", NULL) == 0 && lst(dst, "def/f", &st) && st.st_uid == 0 &&
	       st.st_gid == 0,
	   "files from the context are 0:0");
	copy_options keep = {.preserve_owner = true};
	ok(COPY1(b, "d", "/keep/", &keep) == 0 && lst(dst, "keep/f", &st) && st.st_uid == 1234 &&
	       st.st_gid == 4321 && lst(dst, "keep/sub", &st) && st.st_uid == 77,
	   "preserve_owner (COPY --from) keeps them");
	copy_options num = {.chown = "1234:5678"};
	ok(COPY1(b, "d", "/num/a/", &num) == 0 && lst(dst, "num/a/f", &st) && st.st_uid == 1234 &&
	       st.st_gid == 5678,
	   "--chown=1234:5678");
	ok(lst(dst, "num", &st) && st.st_uid == 1234 && st.st_gid == 5678,
	   "the directories MkdirAll creates get the --chown owner");
	copy_options one = {.chown = "1000"};
	ok(COPY1(b, "d/f", "/one", &one) == 0 && lst(dst, "one", &st) && st.st_uid == 1000 &&
	       st.st_gid == 1000,
	   "--chown=1000 is 1000:1000");
	copy_options name = {.chown = "app"};
	ok(COPY1(b, "d/f", "/byname", &name) == 0 && lst(dst, "byname", &st) && st.st_uid == 1001 &&
	       st.st_gid == 1002,
	   "--chown=app from the destination's /etc/passwd");
	copy_options ug = {.chown = "app:staff"};
	ok(COPY1(b, "d/f", "/ug", &ug) == 0 && lst(dst, "ug", &st) && st.st_uid == 1001 &&
	       st.st_gid == 50,
	   "--chown=app:staff");
	copy_options g = {.chown = ":staff"};
	ok(COPY1(b, "d/f", "/g", &g) == 0 && lst(dst, "g", &st) && st.st_uid == 0 &&
	       st.st_gid == 50,
	   "--chown=:staff is 0:staff");
	copy_options unk = {.chown = "nobody-here"};
	ok(COPY1(b, "d/f", "/unk", &unk) == 0 && lst(dst, "unk", &st) && st.st_uid == 0,
	   "an unknown name is 0 as in BuildKit");
	copy_options strict = {.chown = "nobody-here", .chown_strict = true};
	char *msg = NULL;
	ok(run_copy(b, (const char *const[]){"d/f"}, 1, "/strict", &strict, &msg) < 0,
	   "chown_strict refuses it");
	is_str(msg, "unable to find user nobody-here: no matching entries in passwd file",
	       "with runc's words");
	free(msg);
}

static void test_times(void)
{
	const char *b = new_case("times");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(src, "d/f", "f", 0644);
	put(src, "d/sub/g", "g", 0644);
	sym(src, "d/ln", "f");
	set_mtime(src, "d/f", 1000000000, 500);
	set_mtime(src, "d/sub/g", 1100000000, 0);
	set_mtime(src, "d/ln", 1200000000, 0);
	set_mtime(src, "d/sub", 900000000, 0);
	time_t before = time(NULL);
	struct stat st;

	ok(COPY1(b, "d", "/t/", NULL) == 0, "copy with old mtimes");
	ok(lst(dst, "t/f", &st) && st.st_mtim.tv_sec == 1000000000 && st.st_mtim.tv_nsec == 500,
	   "a file keeps its mtime, to the nanosecond");
	ok(lst(dst, "t/sub", &st) && st.st_mtim.tv_sec == 900000000,
	   "a copied directory keeps its mtime (set after its children)");
	ok(lst(dst, "t/ln", &st) && st.st_mtim.tv_sec == 1200000000, "a symlink keeps its mtime");
	ok(lst(dst, "t", &st) && st.st_mtim.tv_sec >= before - 5,
	   "the directory the copy created has the current time");
	struct timespec epoch = {1600000000, 0};
	copy_options e = {.epoch = &epoch};
	ok(COPY1(b, "d", "/ep/", &e) == 0 && lst(dst, "ep/f", &st) &&
	       st.st_mtim.tv_sec == 1600000000 && lst(dst, "ep/sub", &st) &&
	       st.st_mtim.tv_sec == 1600000000 && lst(dst, "ep/ln", &st) &&
	       st.st_mtim.tv_sec == 1600000000,
	   "epoch (SOURCE_DATE_EPOCH) sets every time the copy sets");
}

static void test_xattrs(void)
{
	const char *b = new_case("xattrs");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	put(src, "f", "f", 0644);
	if (setxattr(pth("%s/f", src), "user.test", "v1", 2, 0) < 0 ||
	    setxattr(pth("%s/f", src), "trusted.t", "v2", 2, 0) < 0) {
		tap_diag("xattrs unsupported here: %s", strerror(errno));
		return;
	}
	ok(COPY1(b, "f", "/x", NULL) == 0, "a file with xattrs");
	char v[16] = {0};
	ok(getxattr(pth("%s/x", dst), "user.test", v, sizeof(v)) == 2 && !memcmp(v, "v1", 2),
	   "user.* copied");
	ok(getxattr(pth("%s/x", dst), "trusted.t", v, sizeof(v)) == 2 && !memcmp(v, "v2", 2),
	   "trusted.* copied");
}

static void test_checksum(void)
{
	const char *b = new_case("checksum");
	const char *src = keep(pth("%s/src", b));
	put(src, "d/a", "content", 0644);
	put(src, "d/b/c", "more", 0600);
	sym(src, "d/l", "a");
	const char *const d[] = {"d"};
	uint8_t s0[32], s1[32];
	copy_options none = {0};

	ok(sum_of(b, d, 1, &none, s0) == 0 && sum_of(b, d, 1, &none, s1) == 0 &&
	       !memcmp(s0, s1, 32),
	   "the same tree gives the same sum");
	set_mtime(src, "d/a", 12345, 0);
	ok(sum_of(b, d, 1, &none, s1) == 0 && !memcmp(s0, s1, 32), "an mtime does not change it");
	const char *b2 = new_case("checksum-twin");
	put(pth("%s/src", b2), "d/a", "content", 0644);
	put(pth("%s/src", b2), "d/b/c", "more", 0600);
	sym(pth("%s/src", b2), "d/l", "a");
	ok(sum_of(b2, d, 1, &none, s1) == 0 && !memcmp(s0, s1, 32),
	   "a twin tree elsewhere (other inodes) gives the same sum");

	put(src, "d/a", "Content", 0644);
	ok(sum_of(b, d, 1, &none, s1) == 0 && memcmp(s0, s1, 32), "content changes it");
	put(src, "d/a", "content", 0644);
	ok(sum_of(b, d, 1, &none, s1) == 0 && !memcmp(s0, s1, 32), "and back");
	chmod(pth("%s/d/a", src), 0755);
	ok(sum_of(b, d, 1, &none, s1) == 0 && memcmp(s0, s1, 32), "a mode changes it");
	chmod(pth("%s/d/a", src), 0644);
	copy_options ch = {.chown = "1:1"};
	ok(sum_of(b, d, 1, &ch, s1) == 0 && memcmp(s0, s1, 32), "--chown changes it");
	copy_options cm = {.chmod = "0644"};
	ok(sum_of(b, d, 1, &cm, s1) == 0 && memcmp(s0, s1, 32), "--chmod changes it");
	if (rename(pth("%s/d/b/c", src), pth("%s/d/b/c2", src)) < 0)
		perror("rename");
	ok(sum_of(b, d, 1, &none, s1) == 0 && memcmp(s0, s1, 32), "a name changes it");
	rename(pth("%s/d/b/c2", src), pth("%s/d/b/c", src));
	unlink(pth("%s/d/l", src));
	sym(src, "d/l", "b");
	ok(sum_of(b, d, 1, &none, s1) == 0 && memcmp(s0, s1, 32), "a symlink target changes it");
	unlink(pth("%s/d/l", src));
	sym(src, "d/l", "a");
	ok(sum_of(b, d, 1, &none, s1) == 0 && !memcmp(s0, s1, 32), "all back: the first sum");
	copy_options add = {.add = true};
	ok(sum_of(b, d, 1, &add, s1) == 0 && memcmp(s0, s1, 32), "ADD is not COPY");

	_cleanup_close_ int fd = open_dir(src);
	uint8_t h[16];
	struct stat st;
	ok(copy_hash_file_default(NULL, fd, "d/a", &st, h) == 0, "the default file hash");
	/* XXH3-128 of "content" */
	XXH128_hash_t want = XXH3_128bits("content", 7);
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, want);
	ok(!memcmp(h, c.digest, 16), "is XXH3-128, canonical");
}

/* ---- a hostile tree ------------------------------------------------------- */

static int compare_dirs(int da, int db, const char *name);

/* Compares a/name with b/name (dirfds, so that depth does not matter). */
static int compare_at(int a, int b, const char *name, bool top)
{
	struct stat sa, sb;
	if (fstatat(a, name, &sa, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fstatat(b, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		tap_diag("missing: %s", name);
		return -1;
	}
	if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT) ||
	    (!top && !S_ISLNK(sa.st_mode) && (sa.st_mode & 07777) != (sb.st_mode & 07777))) {
		tap_diag("type/mode differ: %s %o %o", name, sa.st_mode, sb.st_mode);
		return -1;
	}
	if (!top && sa.st_mtim.tv_sec != sb.st_mtim.tv_sec) {
		tap_diag("mtime differs: %s", name);
		return -1;
	}
	if (S_ISLNK(sa.st_mode)) {
		char ta[4096] = {0}, tb[4096] = {0};
		if (readlinkat(a, name, ta, sizeof(ta) - 1) < 0 ||
		    readlinkat(b, name, tb, sizeof(tb) - 1) < 0 || strcmp(ta, tb)) {
			tap_diag("link differs: %s", name);
			return -1;
		}
		return 0;
	}
	if (S_ISREG(sa.st_mode)) {
		char ca[4096], cb[4096];
		int fa = openat(a, name, O_RDONLY), fb = openat(b, name, O_RDONLY);
		ssize_t la = fa < 0 ? -1 : read(fa, ca, sizeof(ca));
		ssize_t lb = fb < 0 ? -1 : read(fb, cb, sizeof(cb));
		close(fa);
		close(fb);
		if (la < 0 || la != lb || memcmp(ca, cb, (size_t) la)) {
			tap_diag("content differs: %s", name);
			return -1;
		}
		return 0;
	}
	if (!S_ISDIR(sa.st_mode))
		return 0;
	int da = openat(a, name, O_RDONLY | O_DIRECTORY),
	    db = openat(b, name, O_RDONLY | O_DIRECTORY);
	return compare_dirs(da, db, name);
}

/* Compares two open directories entry by entry; closes both. */
static int compare_dirs(int da, int db, const char *name)
{
	DIR *d = da < 0 ? NULL : fdopendir(da);
	int n = 0, r = d && db >= 0 ? 0 : -1;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			r = compare_at(da, db, de->d_name, false);
			n++;
		}
	}
	if (d)
		closedir(d);
	DIR *e = db < 0 ? NULL : fdopendir(db);
	int m = 0;
	while (e && (de = readdir(e)))
		m += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	if (e)
		closedir(e);
	if (r == 0 && m != n) {
		tap_diag("%s: %d entries, want %d", name, m, n);
		r = -1;
	}
	return r;
}

static int compare_trees(const char *a, const char *b)
{
	return compare_dirs(open(a, O_RDONLY | O_DIRECTORY), open(b, O_RDONLY | O_DIRECTORY), b);
}

static void test_hostile_tree(void)
{
	const char *b = new_case("hostile");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	mkd(src, "t", 0755);
	/* deep: 120 levels of 40-byte names, well past PATH_MAX */
	{
		_cleanup_close_ int fd = open(pth("%s/t", src), O_RDONLY | O_DIRECTORY);
		for (int i = 0; i < 120; i++) {
			char name[64];
			snprintf(name, sizeof(name), "level-%03d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
				 i);
			if (mkdirat(fd, name, 0755) < 0)
				exit(99);
			int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY);
			close(fd);
			fd = nfd;
		}
		int f = openat(fd, "bottom.txt", O_WRONLY | O_CREAT, 0644);
		write_all(f, "bottom", 6);
		close(f);
		set_mtime(src, "t", 0, 0);
	}
	/* long and odd names */
	char longname[256];
	memset(longname, 'L', 255);
	longname[255] = 0;
	put(src, pth("t/%s", longname), "long", 0644);
	put(src, "t/new\nline", "nl", 0644);
	put(src, "t/\xff\xfe bytes", "bin", 0644);
	put(src, "t/back\\slash", "bs", 0644);
	put(src, "t/star*[q]?", "glob", 0644);
	put(src, "t/ space ", "sp", 0644);
	put(src, "t/-dash", "dash", 0644);
	put(src, "t/.hidden", "h", 0600);
	sym(src, "t/loop1", "loop2");
	sym(src, "t/loop2", "loop1");
	sym(src, "t/up", "../../../../../../../../../..");
	mkd(src, "t/empty", 0700);
	mkd(src, "t/noperm", 0000);
	put(src, "t/setuid", "su", 04755);

	ok(COPY1(b, "t", "/copy/", NULL) == 0, "a hostile tree is copied");
	ok(compare_trees(pth("%s/t", src), pth("%s/copy", dst)) == 0,
	   "and comes out the same (types, modes, contents, links, mtimes)");
	uint8_t s0[32], s1[32];
	ok(sum_of(b, (const char *const[]){"t"}, 1, NULL, s0) == 0 &&
	       sum_of(b, (const char *const[]){"t"}, 1, NULL, s1) == 0 && !memcmp(s0, s1, 32),
	   "its checksum is stable");
	char *msg = NULL;
	run_copy(b, (const char *const[]){"t/loop1"}, 1, "/l", NULL, &msg);
	ok(msg && strstr(msg, "loop1"), "a symlink loop as a source fails: %s", msg ? msg : "");
	free(msg);
	ok(COPY1(b, "t/up", "/up/", NULL) == 0 && is_content(dst, "up/t/.hidden", "h"),
	   "a link climbing far above the root stops at the root");
}

static void test_large_file(void)
{
	const char *b = new_case("large");
	const char *src = keep(pth("%s/src", b)), *dst = keep(pth("%s/dst", b));
	/* 256 MiB, sparse but for a tail: streamed, never read into memory */
	int fd = open(pth("%s/big", src), O_WRONLY | O_CREAT, 0644);
	off_t size = (off_t) 256 << 20;
	ok(fd >= 0 && ftruncate(fd, size - 5) == 0 && pwrite(fd, "tail!", 5, size - 5) == 5,
	   "a large file");
	close(fd);
	uint8_t s0[32], s1[32];
	struct stat st;
	ok(COPY1(b, "big", "/big", NULL) == 0 && lst(dst, "big", &st) && st.st_size == size,
	   "is copied whole");
	char tail[6] = {0};
	fd = open(pth("%s/big", dst), O_RDONLY);
	ok(fd >= 0 && pread(fd, tail, 5, size - 5) == 5 && !strcmp(tail, "tail!"), "to its end");
	close(fd);
	ok(sum_of(b, (const char *const[]){"big"}, 1, NULL, s0) == 0 &&
	       sum_of(b, (const char *const[]){"big"}, 1, NULL, s1) == 0 && !memcmp(s0, s1, 32),
	   "and hashed in a stream");
}

static void test_link_flag(void)
{
	const char *b = new_case("link-flag");
	put(pth("%s/src", b), "a", "A", 0644);
	copy_options o = {.link = true};
	ok(COPY1(b, "a", "/x/", &o) == 0 && is_content(pth("%s/dst", b), "x/a", "A"),
	   "--link is accepted and copies the same");
}

int main(void)
{
	need_root();
	test_file_rules();
	test_several_sources();
	test_wildcards();
	test_directories();
	test_parents();
	test_dockerignore();
	test_exclude();
	test_symlinks();
	test_dest_escape();
	test_hardlinks_special();
	test_chmod();
	test_owners();
	test_times();
	test_xattrs();
	test_checksum();
	test_hostile_tree();
	test_large_file();
	test_link_flag();
	return tap_done();
}
