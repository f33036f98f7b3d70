/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tests/fs/posix-conform.c: cairn's own POSIX filesystem conformance suite,
 * in the spirit of pjdfstest (Linux parts), with TAP output.
 *
 *   posix-conform [--lower] [--only WORD] DIR
 *   posix-conform --make-fixture DIR
 *
 * Runs, as root, hundreds of checks inside DIR: every syscall's result and
 * errno, the resulting type/mode/owner/link count/size, and which of
 * atime/mtime/ctime changed.  Checks as other users fork and switch to uids
 * 65534/65533 (setgroups + setresgid + setresuid) for the one operation.
 *
 * Every group of checks works in a directory of its own, dNNNN, that holds
 * the same small set of objects (see populate()): f, e, sub/g, s -> f, p,
 * c, b, h1 = h2.  Without --lower the suite creates these itself (DIR must
 * be empty).  --make-fixture writes the whole pool of such directories into
 * DIR; a tarball of it imported as an image and mounted by cairn gives a
 * tree where the checks with --lower operate on lower-layer objects that
 * get copied up (data, or metadata only) by the operation under test.  The
 * same fixture extracted into a plain directory validates the expectations.
 *
 * The expectations are what Linux >= 6.4 does on ext4 and tmpfs (e.g.
 * O_CREAT|O_DIRECTORY is EINVAL); they are not weakened to match a
 * filesystem under test.  Atime is checked only where it is set explicitly
 * (reads and path walks may or may not update it: relatime, noatime).  Exit status: 0 when every
 * check passed, 1 otherwise, 2 on a usage or setup error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

#define PRINTF(a, b) __attribute__((format(printf, a, b)))

/* The users of the non-root checks (as pjdfstest). */
#define U1 65534
#define G1 65534
#define U2 65533
#define G2 65533
#define G3 65532
#define NOGRP ((gid_t) -1)

/* Directories in the fixture pool. */
#define POOL 64

static int n_tests, n_failed;
static char group[80];
static bool lower;
static const char *only;
static int rootfd = -1;
static int pool_next;
static long tick_ns;
static char self_exe[PATH_MAX];

/* ---- TAP --------------------------------------------------------------- */

static bool vreport(bool pass, int line, const char *detail, const char *fmt, va_list ap)
{
	n_tests++;
	if (!pass)
		n_failed++;
	printf("%s %d - %s: ", pass ? "ok" : "not ok", n_tests, group);
	vprintf(fmt, ap);
	putchar('\n');
	if (!pass)
		printf("#   line %d: %s\n", line, detail);
	fflush(stdout);
	return pass;
}

static bool PRINTF(4, 5) report(bool pass, int line, const char *detail, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bool r = vreport(pass, line, detail, fmt, ap);
	va_end(ap);
	return r;
}

static void PRINTF(1, 2) diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
}

static void PRINTF(1, 2) bail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("Bail out! ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
	exit(2);
}

static const char *ename(int e)
{
	static char buf[4][32];
	static int k;
	if (e == 0)
		return "success";
	if (e == 253)
		return "(setting the credentials failed)";
	if (e == 252)
		return "(the child was killed)";
	const char *n = strerrorname_np(e);
	if (n)
		return n;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "errno %d", e);
	return buf[k];
}

/* A path as it appears in a description: long ones are abbreviated. */
static const char *dn(const char *p)
{
	static char buf[4][64];
	static int k;
	size_t n = strlen(p);
	if (n <= 40)
		return p;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "<%zu-byte path>", n);
	return buf[k];
}

/* errno of an expression that returns -1 on error (0: success). */
#define TRY(expr)                                                                                  \
	({                                                                                         \
		errno = 0;                                                                         \
		long try_r_ = (long) (expr);                                                       \
		try_r_ < 0 ? (errno ? errno : 999) : 0;                                            \
	})

static bool PRINTF(4, 5) expect_err(int line, int got, int want, const char *fmt, ...)
{
	char d[160];
	snprintf(d, sizeof d, "got %s, want %s", ename(got), ename(want));
	va_list ap;
	va_start(ap, fmt);
	bool r = vreport(got == want, line, d, fmt, ap);
	va_end(ap);
	return r;
}
#define EXPECT(got, want, ...) expect_err(__LINE__, (got), (want), __VA_ARGS__)
#define CHK(expr, want, ...) EXPECT(TRY(expr), (want), __VA_ARGS__)
#define OK(expr, ...) CHK(expr, 0, __VA_ARGS__)

static bool PRINTF(4, 5) expect_ll(int line, long long got, long long want, const char *fmt, ...)
{
	char d[160];
	snprintf(d, sizeof d, "got %lld, want %lld", got, want);
	va_list ap;
	va_start(ap, fmt);
	bool r = vreport(got == want, line, d, fmt, ap);
	va_end(ap);
	return r;
}
#define EQ(got, want, ...) expect_ll(__LINE__, (long long) (got), (long long) (want), __VA_ARGS__)

static bool PRINTF(3, 4) expect_true(int line, bool cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bool r = vreport(cond, line, "false", fmt, ap);
	va_end(ap);
	return r;
}
#define TRUE(cond, ...) expect_true(__LINE__, (cond), __VA_ARGS__)

/* A setup step: reported (as a failure) only when it fails. */
static int setup_chk(int line, int e, const char *what)
{
	if (e) {
		char d[400];
		snprintf(d, sizeof d, "%.300s: %s", what, ename(e));
		report(false, line, d, "setup step failed");
	}
	return e;
}
#define SETUP(expr) setup_chk(__LINE__, TRY(expr), #expr)

/* ---- other users ------------------------------------------------------- */

/* Forks; the child runs as u/g (supplementary groups: g and g2). */
static pid_t as_fork(uid_t u, gid_t g, gid_t g2)
{
	fflush(stdout);
	fflush(stderr);
	pid_t p = fork();
	if (p < 0)
		bail("fork: %s", strerror(errno));
	if (p == 0) {
		gid_t gs[2] = { g, g2 };
		if (setgroups(g2 == NOGRP ? 1 : 2, gs) || setresgid(g, g, g) || setresuid(u, u, u))
			_exit(253);
	}
	return p;
}

static int as_wait(pid_t p)
{
	int st;
	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR)
			return 252;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 252;
}

static int as_result(int e)
{
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

/* EXPR (-1 and errno on failure) evaluated as user u, groups g and g2, in
 * a child: 0, or -1 with the child's errno. */
#define ASG(u, g, g2, expr)                                                                        \
	({                                                                                         \
		pid_t as_p_ = as_fork((u), (g), (g2));                                             \
		if (as_p_ == 0) {                                                                  \
			errno = 0;                                                                 \
			long child_r_ = (long) (expr);                                             \
			_exit(child_r_ < 0 ? (errno ? errno : 231) & 0xff : 0);                    \
		}                                                                                  \
		as_result(as_wait(as_p_));                                                         \
	})
#define AS(u, g, expr) ASG(u, g, NOGRP, expr)

/* ---- small wrappers: 0 or -1 with errno -------------------------------- */

static int xopen(const char *p, int fl, mode_t m)
{
	int fd = open(p, fl, m);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int xcreat(const char *p, mode_t m)
{
	return xopen(p, O_CREAT | O_EXCL | O_WRONLY, m);
}

static int xstat(const char *p)
{
	struct stat st;
	return lstat(p, &st);
}

static int xstatf(const char *p)
{
	struct stat st;
	return stat(p, &st);
}

/* Writes DATA at OFF (no O_TRUNC). */
static int xpwrite(const char *p, const char *data, off_t off)
{
	int fd = open(p, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = pwrite(fd, data, strlen(data), off);
	int e = errno;
	close(fd);
	if (n != (ssize_t) strlen(data)) {
		errno = n < 0 ? e : EIO;
		return -1;
	}
	return 0;
}

/* Creates P with DATA and mode M (exactly, whatever the umask). */
static int xfile(const char *p, const char *data, mode_t m)
{
	int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, m);
	if (fd < 0)
		return -1;
	size_t n = strlen(data);
	if ((n && write(fd, data, n) != (ssize_t) n) || fchmod(fd, m)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

static int xftruncate(const char *p, off_t len)
{
	int fd = open(p, O_WRONLY);
	if (fd < 0)
		return -1;
	int r = ftruncate(fd, len);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

static int xfallocate(const char *p, int mode, off_t off, off_t len)
{
	int fd = open(p, O_WRONLY);
	if (fd < 0)
		return -1;
	int r = fallocate(fd, mode, off, len);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

/* posix_fallocate returns the error. */
static int xposix_fallocate(int fd, off_t off, off_t len)
{
	int r = posix_fallocate(fd, off, len);
	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

static int xsock(const char *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(p) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, p);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0)
		return -1;
	int r = bind(s, (struct sockaddr *) &sa, sizeof sa);
	int e = errno;
	close(s);
	errno = e;
	return r;
}

static int xreadlink(const char *p)
{
	char b[64];
	return readlink(p, b, sizeof b) < 0 ? -1 : 0;
}

static int xutimes(const char *p, long long as, long an, long long ms, long mn, int fl)
{
	struct timespec ts[2] = { { .tv_sec = as, .tv_nsec = an }, { .tv_sec = ms, .tv_nsec = mn } };
	return utimensat(AT_FDCWD, p, ts, fl);
}

static int xopendir(const char *p)
{
	DIR *d = opendir(p);
	if (!d)
		return -1;
	closedir(d);
	return 0;
}

static int xsetx(const char *p, const char *name, const char *v, int fl)
{
	return setxattr(p, name, v, strlen(v), fl);
}

static int xgetx(const char *p, const char *name)
{
	char b[256];
	return getxattr(p, name, b, sizeof b) < 0 ? -1 : 0;
}

static int xlgetx(const char *p, const char *name)
{
	char b[256];
	return lgetxattr(p, name, b, sizeof b) < 0 ? -1 : 0;
}

/* Objects by one-letter type, as pjdfstest's: regular, dir, fifo, char,
 * block, socket, symlink. */
static const char TYPES[] = "fdpcbsl";

static const char *tname(char t)
{
	switch (t) {
	case 'f': return "regular file";
	case 'd': return "directory";
	case 'p': return "fifo";
	case 'c': return "char device";
	case 'b': return "block device";
	case 's': return "socket";
	case 'l': return "symlink";
	}
	return "?";
}

static mode_t tmode(char t)
{
	switch (t) {
	case 'f': return S_IFREG;
	case 'd': return S_IFDIR;
	case 'p': return S_IFIFO;
	case 'c': return S_IFCHR;
	case 'b': return S_IFBLK;
	case 's': return S_IFSOCK;
	case 'l': return S_IFLNK;
	}
	return 0;
}

/* Creates an object of type T at P (mode 0644, dirs 0755, as the umask allows). */
static int mkobj(char t, const char *p)
{
	switch (t) {
	case 'f': return xcreat(p, 0644);
	case 'd': return mkdir(p, 0755);
	case 'p': return mkfifo(p, 0644);
	case 'c': return mknod(p, S_IFCHR | 0644, makedev(1, 2));
	case 'b': return mknod(p, S_IFBLK | 0644, makedev(7, 9));
	case 's': return xsock(p);
	case 'l': return symlink("test", p);
	}
	errno = EINVAL;
	return -1;
}

/* The pre-made object of type T in a test directory (a socket is made). */
static const char *pre(char t)
{
	switch (t) {
	case 'f': return "f";
	case 'd': return "sub";
	case 'p': return "p";
	case 'c': return "c";
	case 'b': return "b";
	case 'l': return "s";
	case 's':
		if (xstat("sock"))
			SETUP(xsock("sock"));
		return "sock";
	}
	return "?";
}

/* ---- stat expectations ------------------------------------------------- */

static struct stat st_of(const char *p)
{
	struct stat st;
	if (lstat(p, &st)) {
		memset(&st, 0, sizeof st);
		st.st_nlink = (nlink_t) -1;
		st.st_ino = (ino_t) -1;
	}
	return st;
}

static ino_t ino_of(const char *p)
{
	return st_of(p).st_ino;
}

static nlink_t nlink_of(const char *p)
{
	return st_of(p).st_nlink;
}

static bool expect_mode(int line, const char *p, unsigned want)
{
	struct stat st;
	char d[160];
	if (lstat(p, &st)) {
		snprintf(d, sizeof d, "lstat: %s", ename(errno));
		return report(false, line, d, "%s has mode 0%o", dn(p), want);
	}
	snprintf(d, sizeof d, "mode 0%o, want 0%o", st.st_mode, want);
	return report(st.st_mode == want, line, d, "%s has mode 0%o", dn(p), want);
}
#define MODE(p, want) expect_mode(__LINE__, (p), (want))

static bool expect_owner(int line, const char *p, uid_t u, gid_t g)
{
	struct stat st;
	char d[160];
	if (lstat(p, &st)) {
		snprintf(d, sizeof d, "lstat: %s", ename(errno));
		return report(false, line, d, "%s is owned by %u:%u", dn(p), u, g);
	}
	snprintf(d, sizeof d, "owner %u:%u, want %u:%u", st.st_uid, st.st_gid, u, g);
	return report(st.st_uid == u && st.st_gid == g, line, d, "%s is owned by %u:%u", dn(p), u, g);
}
#define OWNER(p, u, g) expect_owner(__LINE__, (p), (u), (g))

static bool expect_nlink(int line, const char *p, long want)
{
	struct stat st;
	char d[160];
	if (lstat(p, &st)) {
		snprintf(d, sizeof d, "lstat: %s", ename(errno));
		return report(false, line, d, "%s has %ld links", dn(p), want);
	}
	snprintf(d, sizeof d, "st_nlink %ld, want %ld", (long) st.st_nlink, want);
	return report((long) st.st_nlink == want, line, d, "%s has %ld links", dn(p), want);
}
#define NLINK(p, want) expect_nlink(__LINE__, (p), (want))

static bool expect_size(int line, const char *p, long long want)
{
	struct stat st;
	char d[160];
	if (lstat(p, &st)) {
		snprintf(d, sizeof d, "lstat: %s", ename(errno));
		return report(false, line, d, "%s has size %lld", dn(p), want);
	}
	snprintf(d, sizeof d, "st_size %lld, want %lld", (long long) st.st_size, want);
	return report(st.st_size == want, line, d, "%s has size %lld", dn(p), want);
}
#define SIZE(p, want) expect_size(__LINE__, (p), (want))

#define GONE(p) EXPECT(TRY(xstat(p)), ENOENT, "%s is gone", dn(p))
#define EXISTS(p) EXPECT(TRY(xstat(p)), 0, "%s exists", dn(p))

/* The bytes of a file (at most n). */
static ssize_t slurp(const char *p, char *buf, size_t n)
{
	int fd = open(p, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t) r;
	}
	close(fd);
	return (ssize_t) got;
}

static bool expect_content(int line, const char *p, const char *want, size_t wn)
{
	char buf[256];
	char d[400];
	ssize_t n = slurp(p, buf, sizeof buf);
	if (n < 0) {
		snprintf(d, sizeof d, "read: %s", ename(errno));
		return report(false, line, d, "content of %s", dn(p));
	}
	bool pass = (size_t) n == wn && memcmp(buf, want, wn) == 0;
	snprintf(d, sizeof d, "%zd bytes \"%.*s\", want %zu bytes \"%.*s\"", n, (int) (n > 60 ? 60 : n), buf,
		 wn, (int) (wn > 60 ? 60 : wn), want);
	return report(pass, line, d, "content of %s", dn(p));
}
#define CONTENT(p, s) expect_content(__LINE__, (p), (s), strlen(s))

/* ---- times ------------------------------------------------------------- */

struct tm3 {
	struct timespec a, m, c;
};

/* Which times must be later (TA, TM, TC); the others must be unchanged,
 * except atime, which is checked only with TA or TKA: reads and path walks
 * may update it (relatime), or not (noatime). */
enum { TA = 1, TM = 2, TC = 4, TKA = 8 /* atime unchanged */ };

static struct tm3 times_of(const char *p)
{
	struct stat st;
	struct tm3 t = { { 0, 0 }, { 0, 0 }, { 0, 0 } };
	if (lstat(p, &st) == 0) {
		t.a = st.st_atim;
		t.m = st.st_mtim;
		t.c = st.st_ctim;
	}
	return t;
}

static struct tm3 ftimes_of(int fd)
{
	struct stat st;
	struct tm3 t = { { 0, 0 }, { 0, 0 }, { 0, 0 } };
	if (fstat(fd, &st) == 0) {
		t.a = st.st_atim;
		t.m = st.st_mtim;
		t.c = st.st_ctim;
	}
	return t;
}

static int tscmp(struct timespec x, struct timespec y)
{
	if (x.tv_sec != y.tv_sec)
		return x.tv_sec < y.tv_sec ? -1 : 1;
	if (x.tv_nsec != y.tv_nsec)
		return x.tv_nsec < y.tv_nsec ? -1 : 1;
	return 0;
}

static bool times_ok(const struct tm3 *b, const struct tm3 *a, int changed, char *d, size_t dn_)
{
	const struct timespec *bs[3] = { &b->a, &b->m, &b->c };
	const struct timespec *as[3] = { &a->a, &a->m, &a->c };
	const char names[3] = { 'a', 'm', 'c' };
	bool pass = true;
	size_t off = 0;
	d[0] = 0;
	for (int i = 0; i < 3; i++) {
		if (i == 0 && !(changed & (TA | TKA)))
			continue;
		bool want_change = changed & (1 << i);
		int c = tscmp(*as[i], *bs[i]);
		bool good = want_change ? c > 0 : c == 0;
		if (!good) {
			pass = false;
			off += (size_t) snprintf(d + off, off < dn_ ? dn_ - off : 0,
						 "%ctime %lld.%09ld -> %lld.%09ld (want %s); ", names[i],
						 (long long) bs[i]->tv_sec, bs[i]->tv_nsec,
						 (long long) as[i]->tv_sec, as[i]->tv_nsec,
						 want_change ? "later" : "unchanged");
		}
	}
	return pass;
}

static const char *tmask(int changed)
{
	static char buf[4][16];
	static int k;
	k = (k + 1) % 4;
	char *p = buf[k];
	if (changed & TA)
		*p++ = 'a';
	if (changed & TM)
		*p++ = 'm';
	if (changed & TC)
		*p++ = 'c';
	if (p == buf[k])
		*p++ = '-';
	*p = 0;
	return buf[k];
}

static bool PRINTF(5, 6) expect_times(int line, const char *p, const struct tm3 *before, int changed,
				      const char *fmt, ...)
{
	struct tm3 after = times_of(p);
	char d[600], what[200];
	bool pass = times_ok(before, &after, changed, d, sizeof d);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return report(pass, line, d, "%s: times of %s (changed: %s%s)", what, dn(p), tmask(changed),
		      changed & (TA | TKA) ? "" : ", atime not checked");
}
#define TIMES(p, before, changed, ...) expect_times(__LINE__, (p), (before), (changed), __VA_ARGS__)

static bool PRINTF(5, 6) expect_ftimes(int line, int fd, const struct tm3 *before, int changed,
				       const char *fmt, ...)
{
	struct tm3 after = ftimes_of(fd);
	char d[600], what[200];
	bool pass = times_ok(before, &after, changed, d, sizeof d);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return report(pass, line, d, "%s: times of the fd (changed: %s)", what, tmask(changed));
}
#define FTIMES(fd, before, changed, ...) expect_ftimes(__LINE__, (fd), (before), (changed), __VA_ARGS__)

/* A new object: atime == mtime == ctime, later than REF's ctime. */
static bool expect_new_times(int line, const char *p, const struct tm3 *ref)
{
	struct tm3 t = times_of(p);
	char d[300];
	bool pass = tscmp(t.a, t.m) == 0 && tscmp(t.m, t.c) == 0 && tscmp(t.c, ref->c) > 0;
	snprintf(d, sizeof d, "a %lld.%09ld m %lld.%09ld c %lld.%09ld, before %lld.%09ld",
		 (long long) t.a.tv_sec, t.a.tv_nsec, (long long) t.m.tv_sec, t.m.tv_nsec,
		 (long long) t.c.tv_sec, t.c.tv_nsec, (long long) ref->c.tv_sec, ref->c.tv_nsec);
	return report(pass, line, d, "new %s: atime == mtime == ctime, later than before", dn(p));
}
#define NEWTIMES(p, ref) expect_new_times(__LINE__, (p), (ref))

/* Sleeps long enough that the next timestamp (even a coarse one) is later. */
static void tick(void)
{
	struct timespec ts = { 0, tick_ns };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- the pool of test directories -------------------------------------- */

#define F_DATA "0123456789"
#define G_DATA "g-data\n"
#define H_DATA "hl\n"
#define SPARSE_SIZE (2 << 20)
#define SPARSE_OFF2 (1 << 20)
#define SPARSE_LEN (64 << 10)

static int fill_sparse(const char *p)
{
	static char buf[SPARSE_LEN];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char) ('A' + i % 26);
	int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (fd < 0)
		return -1;
	if (pwrite(fd, buf, sizeof buf, 0) != (ssize_t) sizeof buf ||
	    pwrite(fd, buf, sizeof buf, SPARSE_OFF2) != (ssize_t) sizeof buf ||
	    ftruncate(fd, SPARSE_SIZE) || fchmod(fd, 0644)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* The objects of a test directory (all root-owned):
 *   f     regular 0644, "0123456789", xattr user.lower = "fixture"
 *   e     regular 0644, empty
 *   sub   directory 0755 holding g (regular 0644, "g-data\n")
 *   s     symlink -> f
 *   p     fifo 0644
 *   c     char device 1:3, 0644
 *   b     block device 7:0, 0640
 *   h1 h2 one regular file 0644, "hl\n", two names */
static void populate(const char *d)
{
	char p[64];
#define MK(expr)                                                                                   \
	do {                                                                                       \
		if ((expr) < 0)                                                                    \
			bail("populating %s: %s: %s", d, #expr, strerror(errno));                  \
	} while (0)
#define P(n) (snprintf(p, sizeof p, "%s/%s", d, n), p)
	MK(mkdir(d, 0755));
	MK(chmod(d, 0755));
	MK(xfile(P("f"), F_DATA, 0644));
	MK(setxattr(P("f"), "user.lower", "fixture", 7, 0));
	MK(xfile(P("e"), "", 0644));
	MK(mkdir(P("sub"), 0755));
	MK(chmod(P("sub"), 0755));
	MK(xfile(P("sub/g"), G_DATA, 0644));
	MK(symlink("f", P("s")));
	MK(mkfifo(P("p"), 0644));
	MK(chmod(P("p"), 0644));
	MK(mknod(P("c"), S_IFCHR | 0644, makedev(1, 3)));
	MK(chmod(P("c"), 0644));
	MK(mknod(P("b"), S_IFBLK | 0640, makedev(7, 0)));
	MK(chmod(P("b"), 0640));
	MK(xfile(P("h1"), H_DATA, 0644));
	char p2[64];
	snprintf(p2, sizeof p2, "%s/h2", d);
	MK(link(P("h1"), p2));
#undef P
#undef MK
}

/* Starts a group of checks in the next directory of the pool (made now
 * unless --lower).  False when --only leaves the group out. */
static bool begin(const char *name)
{
	snprintf(group, sizeof group, "%s", name);
	if (only && !strstr(name, only))
		return false;
	umask(022);
	if (fchdir(rootfd))
		bail("fchdir: %s", strerror(errno));
	char d[32];
	if (pool_next >= POOL)
		bail("the pool of %d test directories is used up", POOL);
	snprintf(d, sizeof d, "d%04d", pool_next++);
	if (lower) {
		char f[48];
		snprintf(f, sizeof f, "%s/f", d);
		struct stat st;
		if (lstat(f, &st) || st.st_size != 10)
			bail("%s is not a fixture directory (run --make-fixture)", d);
	} else {
		populate(d);
	}
	if (chdir(d))
		bail("chdir %s: %s", d, strerror(errno));
	return true;
}

/* The top-level sparse file of the fixture (made now unless --lower). */
static const char *top_sparse(void)
{
	if (!lower && xstat("../sparse") && fill_sparse("../sparse"))
		bail("making the sparse file: %s", strerror(errno));
	return "../sparse";
}

static void make_fixture(const char *dir)
{
	if (chdir(dir))
		bail("chdir %s: %s", dir, strerror(errno));
	umask(022);
	for (int i = 0; i < POOL; i++) {
		char d[32];
		snprintf(d, sizeof d, "d%04d", i);
		populate(d);
	}
	if (fill_sparse("sparse"))
		bail("sparse: %s", strerror(errno));
}

/* ---- open -------------------------------------------------------------- */

static void t_open_create(void)
{
	if (!begin("open O_CREAT"))
		return;
	struct tm3 d0 = times_of(".");
	tick();
	OK(xopen("n0", O_CREAT | O_WRONLY, 0777), "O_CREAT makes n0 (0777, umask 022)");
	MODE("n0", S_IFREG | 0755);
	OWNER("n0", 0, 0);
	NLINK("n0", 1);
	SIZE("n0", 0);
	TIMES(".", &d0, TM | TC, "create");
	NEWTIMES("n0", &d0);
	umask(0);
	static const mode_t modes[] = { 0, 0644, 0777, 04755, 02755, 01755, 07777 };
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		char n[16];
		snprintf(n, sizeof n, "m%o", modes[i]);
		OK(xopen(n, O_CREAT | O_EXCL | O_WRONLY, modes[i]), "O_CREAT mode 0%o (umask 0)", modes[i]);
		MODE(n, S_IFREG | modes[i]);
	}
	umask(077);
	OK(xopen("m077", O_CREAT | O_WRONLY, 0777), "O_CREAT 0777 with umask 077");
	MODE("m077", S_IFREG | 0700);
	umask(022);

	/* O_CREAT on an existing file changes nothing */
	struct tm3 f0 = times_of("f");
	d0 = times_of(".");
	tick();
	OK(xopen("f", O_CREAT | O_RDONLY, 0600), "O_CREAT on an existing file");
	MODE("f", S_IFREG | 0644);
	SIZE("f", 10);
	TIMES("f", &f0, 0, "O_CREAT of an existing file");
	TIMES(".", &d0, 0, "O_CREAT of an existing file");
	CONTENT("f", F_DATA);

	/* O_EXCL on every type of existing object, even a dangling symlink */
	for (const char *t = TYPES; *t; t++)
		CHK(xopen(pre(*t), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_CREAT|O_EXCL on a %s",
		    tname(*t));
	SETUP(symlink("nowhere", "dl"));
	CHK(xopen("dl", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_CREAT|O_EXCL on a dangling symlink");
	GONE("nowhere");
	OK(xopen("dl", O_CREAT | O_WRONLY, 0640), "O_CREAT through a dangling symlink");
	MODE("nowhere", S_IFREG | 0640);
	MODE("dl", S_IFLNK | 0777);

	/* owners: the caller's fsuid and fsgid */
	SETUP(chown(".", U1, G1));
	OK(AS(U1, G1, xopen("u1", O_CREAT | O_WRONLY, 0666)), "O_CREAT as %d:%d", U1, G1);
	OWNER("u1", U1, G1);
	MODE("u1", S_IFREG | 0644);
	OK(ASG(U1, G2, G1, xopen("u2", O_CREAT | O_WRONLY, 0644)), "O_CREAT as %d with egid %d", U1, G2);
	OWNER("u2", U1, G2);
	CHK(AS(U2, G2, xopen("u3", O_CREAT | O_WRONLY, 0644)), EACCES, "O_CREAT by a non-owner in a 0755 dir");
	GONE("u3");

	/* a setgid directory gives its group */
	SETUP(mkdir("sg", 0777));
	SETUP(chown("sg", 0, G2));
	SETUP(chmod("sg", 02777));
	OK(AS(U1, G1, xopen("sg/a", O_CREAT | O_WRONLY, 0644)), "O_CREAT in a setgid dir");
	OWNER("sg/a", U1, G2);
	MODE("sg/a", S_IFREG | 0644);
	OK(AS(U1, G1, mkdir("sg/d", 0755)), "mkdir in a setgid dir");
	OWNER("sg/d", U1, G2);
	MODE("sg/d", S_IFDIR | 02755);
	OK(AS(U1, G1, mkfifo("sg/p", 0644)), "mkfifo in a setgid dir");
	OWNER("sg/p", U1, G2);
	OK(AS(U1, G1, symlink("x", "sg/l")), "symlink in a setgid dir");
	OWNER("sg/l", U1, G2);
	OK(AS(U1, G1, xopen("sg/x", O_CREAT | O_WRONLY, 02755)), "O_CREAT 02755 in a setgid dir by a non-member");
	MODE("sg/x", S_IFREG | 0755);
	OK(ASG(U1, G1, G2, xopen("sg/y", O_CREAT | O_WRONLY, 02755)), "O_CREAT 02755 in a setgid dir by a member");
	MODE("sg/y", S_IFREG | 02755);
	OK(xopen("sg/r", O_CREAT | O_WRONLY, 02755), "O_CREAT 02755 in a setgid dir by root");
	MODE("sg/r", S_IFREG | 02755);
	OWNER("sg/r", 0, G2);
	OK(mkdir("sg/d/dd", 0700), "mkdir in a setgid subdir");
	MODE("sg/d/dd", S_IFDIR | 02700);
	OWNER("sg/d/dd", 0, G2);
}

static void t_open_trunc(void)
{
	if (!begin("open O_TRUNC"))
		return;
	struct tm3 t0 = times_of("f");
	tick();
	OK(xopen("f", O_WRONLY | O_TRUNC, 0), "O_WRONLY|O_TRUNC");
	SIZE("f", 0);
	TIMES("f", &t0, TM | TC, "O_TRUNC of a 10-byte file");
	CHK(xgetx("f", "user.lower"), 0, "O_TRUNC keeps xattrs");
	t0 = times_of("e");
	tick();
	OK(xopen("e", O_RDWR | O_TRUNC, 0), "O_RDWR|O_TRUNC of an empty file");
	SIZE("e", 0);
	TIMES("e", &t0, TM | TC, "O_TRUNC of an empty file");
	t0 = times_of("h2");
	tick();
	OK(xopen("h1", O_RDONLY | O_TRUNC, 0), "O_RDONLY|O_TRUNC (Linux truncates)");
	SIZE("h1", 0);
	SIZE("h2", 0);
	TIMES("h2", &t0, TM | TC, "O_TRUNC through the other name");
	t0 = times_of("f");
	tick();
	OK(xopen("s", O_WRONLY | O_TRUNC, 0), "O_TRUNC through a symlink");
	TIMES("f", &t0, TM | TC, "O_TRUNC through a symlink");
	MODE("s", S_IFLNK | 0777);
	/* FIFOs: O_TRUNC is ignored */
	OK(xopen("p", O_RDWR | O_TRUNC, 0), "O_RDWR|O_TRUNC on a fifo");
	MODE("p", S_IFIFO | 0644);
	OK(xopen("p", O_RDONLY | O_NONBLOCK | O_TRUNC, 0), "O_RDONLY|O_NONBLOCK|O_TRUNC on a fifo");
	CHK(xopen("p", O_WRONLY | O_NONBLOCK | O_TRUNC, 0), ENXIO, "O_WRONLY|O_NONBLOCK on a fifo without readers");
	CHK(xopen("p", O_WRONLY | O_NONBLOCK, 0), ENXIO, "O_WRONLY|O_NONBLOCK on a fifo without readers");
	OK(xopen("p", O_RDONLY | O_NONBLOCK, 0), "O_RDONLY|O_NONBLOCK on a fifo");
	/* permissions */
	SETUP(chown("sub/g", U1, G1));
	CHK(AS(U2, G2, xopen("sub/g", O_WRONLY | O_TRUNC, 0)), EACCES, "O_TRUNC by a non-owner of a 0644 file");
	CHK(AS(U2, G2, xopen("sub/g", O_RDONLY | O_TRUNC, 0)), EACCES, "O_RDONLY|O_TRUNC needs write permission");
	SIZE("sub/g", 7);
	CONTENT("sub/g", G_DATA);
	SETUP(chmod("sub/g", 0666));
	t0 = times_of("sub/g");
	tick();
	OK(AS(U2, G2, xopen("sub/g", O_WRONLY | O_TRUNC, 0)), "O_TRUNC by a non-owner of a 0666 file");
	SIZE("sub/g", 0);
	TIMES("sub/g", &t0, TM | TC, "O_TRUNC by a non-owner");
	OWNER("sub/g", U1, G1);
	MODE("sub/g", S_IFREG | 0666);
}

static void t_open_errors(void)
{
	if (!begin("open errors"))
		return;
	CHK(xopen("sub", O_WRONLY, 0), EISDIR, "O_WRONLY on a directory");
	CHK(xopen("sub", O_RDWR, 0), EISDIR, "O_RDWR on a directory");
	CHK(xopen("sub", O_RDONLY | O_TRUNC, 0), EISDIR, "O_RDONLY|O_TRUNC on a directory");
	CHK(xopen("sub", O_RDONLY | O_CREAT, 0644), EISDIR, "O_RDONLY|O_CREAT on a directory");
	CHK(xopen("sub", O_WRONLY | O_CREAT, 0644), EISDIR, "O_WRONLY|O_CREAT on a directory");
	CHK(xopen("n0/", O_WRONLY | O_CREAT, 0644), EISDIR, "O_CREAT of a name with a trailing slash");
	GONE("n0");
	OK(xopen("sub", O_RDONLY, 0), "O_RDONLY on a directory");
	OK(xopen("sub", O_RDONLY | O_DIRECTORY, 0), "O_DIRECTORY on a directory");
	SETUP(symlink("sub", "sl"));
	OK(xopen("sl", O_RDONLY | O_DIRECTORY, 0), "O_DIRECTORY on a symlink to a directory");
	CHK(xopen("f", O_RDONLY | O_DIRECTORY, 0), ENOTDIR, "O_DIRECTORY on a regular file");
	CHK(xopen("p", O_RDONLY | O_DIRECTORY | O_NONBLOCK, 0), ENOTDIR, "O_DIRECTORY on a fifo");
	CHK(xopen("s", O_RDONLY | O_DIRECTORY, 0), ENOTDIR, "O_DIRECTORY on a symlink to a file");
	CHK(xopen("nd", O_RDONLY | O_CREAT | O_DIRECTORY, 0755), EINVAL, "O_CREAT|O_DIRECTORY of a new name");
	GONE("nd");
	CHK(xopen("sub", O_RDONLY | O_CREAT | O_DIRECTORY, 0755), EINVAL, "O_CREAT|O_DIRECTORY on a directory");
	CHK(xopen("s", O_RDONLY | O_NOFOLLOW, 0), ELOOP, "O_NOFOLLOW on a symlink");
	CHK(xopen("sl", O_RDONLY | O_NOFOLLOW, 0), ELOOP, "O_NOFOLLOW on a symlink to a directory");
	CHK(xopen("s", O_WRONLY | O_CREAT | O_NOFOLLOW, 0644), ELOOP, "O_CREAT|O_NOFOLLOW on a symlink");
	OK(xopen("f", O_RDONLY | O_NOFOLLOW, 0), "O_NOFOLLOW on a regular file");
	OK(xopen("sl/g", O_RDONLY | O_NOFOLLOW, 0), "O_NOFOLLOW follows symlinks before the last component");
	OK(xopen("s", O_PATH | O_NOFOLLOW, 0), "O_PATH|O_NOFOLLOW on a symlink");
	CHK(xopen("f/x", O_RDONLY, 0), ENOTDIR, "a regular file as a directory");
	CHK(xopen("f/x", O_RDONLY | O_CREAT, 0644), ENOTDIR, "O_CREAT under a regular file");
	CHK(xopen("f/", O_RDONLY, 0), ENOTDIR, "a regular file with a trailing slash");
	CHK(xopen("s/", O_RDONLY, 0), ENOTDIR, "a symlink to a file with a trailing slash");
	CHK(xopen("nx", O_RDONLY, 0), ENOENT, "a missing name");
	CHK(xopen("nx/y", O_RDONLY | O_CREAT, 0644), ENOENT, "O_CREAT under a missing directory");
	CHK(xopen("", O_RDONLY, 0), ENOENT, "the empty path");
	SETUP(symlink("nowhere", "dl"));
	CHK(xopen("dl", O_RDONLY, 0), ENOENT, "a dangling symlink");
	/* search and write permission on the directory */
	SETUP(chown("sub", U1, G1));
	SETUP(chmod("sub", 0644));
	CHK(AS(U1, G1, xopen("sub/g", O_RDONLY, 0)), EACCES, "no search permission on the directory");
	CHK(AS(U1, G1, xopen("sub/n", O_RDONLY | O_CREAT, 0644)), EACCES, "O_CREAT without search permission");
	SETUP(chmod("sub", 0555));
	OK(AS(U1, G1, xopen("sub/g", O_RDONLY, 0)), "O_RDONLY in a 0555 directory");
	CHK(AS(U1, G1, xopen("sub/n", O_RDONLY | O_CREAT, 0644)), EACCES, "O_CREAT without write permission");
	OK(AS(U1, G1, xopen("sub/g", O_RDONLY | O_CREAT, 0644)), "O_CREAT of an existing file in a 0555 directory");
	CHK(AS(U1, G1, xopen("sub/g", O_WRONLY, 0)), EACCES, "O_WRONLY on a 0644 file of another user");
	GONE("sub/n");
	SETUP(chmod("sub", 0755));
}

/* Owner / group / other bits, each class with the complement in the other classes. */
static void t_open_perm(void)
{
	if (!begin("open permissions"))
		return;
	SETUP(chown("f", U1, G1));
	static const char *cls[3] = { "owner", "group member", "other" };
	for (int who = 0; who < 3; who++) {
		for (unsigned bits = 0; bits < 8; bits++) {
			unsigned rest = 7 - bits;
			mode_t m = who == 0 ? (bits << 6 | rest << 3 | rest)
				 : who == 1 ? (rest << 6 | bits << 3 | rest)
					    : (rest << 6 | rest << 3 | bits);
			SETUP(chmod("f", m));
			uid_t u = who == 0 ? U1 : U2;
			gid_t g = who == 0 ? G1 : G2;
			gid_t g2 = who == 1 ? G1 : NOGRP;
			CHK(ASG(u, g, g2, xopen("f", O_RDONLY, 0)), bits & 4 ? 0 : EACCES,
			       "%s, mode 0%03o: O_RDONLY", cls[who], m);
			CHK(ASG(u, g, g2, xopen("f", O_WRONLY, 0)), bits & 2 ? 0 : EACCES,
			       "%s, mode 0%03o: O_WRONLY", cls[who], m);
			CHK(ASG(u, g, g2, xopen("f", O_RDWR, 0)), (bits & 6) == 6 ? 0 : EACCES,
			       "%s, mode 0%03o: O_RDWR", cls[who], m);
			CHK(ASG(u, g, g2, faccessat(AT_FDCWD, "f", X_OK, AT_EACCESS)), bits & 1 ? 0 : EACCES,
			       "%s, mode 0%03o: access X_OK", cls[who], m);
		}
	}
	CONTENT("f", F_DATA);
	/* root */
	SETUP(chmod("f", 0));
	OK(xopen("f", O_RDWR, 0), "root opens a mode 0 file O_RDWR");
	CHK(faccessat(AT_FDCWD, "f", X_OK, AT_EACCESS), EACCES, "root: X_OK on a file without execute bits");
	OK(faccessat(AT_FDCWD, "f", R_OK | W_OK, AT_EACCESS), "root: R_OK|W_OK on a mode 0 file");
	SETUP(chmod("f", 0001));
	OK(faccessat(AT_FDCWD, "f", X_OK, AT_EACCESS), "root: X_OK on a mode 0001 file");
	SETUP(chmod("f", 0644));
	CHK(AS(U2, G2, faccessat(AT_FDCWD, "f", W_OK, AT_EACCESS)), EACCES, "other: W_OK on 0644");
	OK(AS(U2, G2, faccessat(AT_FDCWD, "f", R_OK, AT_EACCESS)), "other: R_OK on 0644");
	CHK(AS(U2, G2, access("nx", F_OK)), ENOENT, "access F_OK of a missing name");
}

/* Directory bits: search (lookup), read (readdir), write+search (create). */
static void t_dir_perm(void)
{
	if (!begin("directory permissions"))
		return;
	SETUP(chown("sub", U1, G1));
	static const char *cls[3] = { "owner", "group member", "other" };
	int k = 0;
	for (int who = 0; who < 3; who++) {
		for (unsigned bits = 0; bits < 8; bits++) {
			unsigned rest = 7 - bits;
			mode_t m = who == 0 ? (bits << 6 | rest << 3 | rest)
				 : who == 1 ? (rest << 6 | bits << 3 | rest)
					    : (rest << 6 | rest << 3 | bits);
			SETUP(chmod("sub", m));
			uid_t u = who == 0 ? U1 : U2;
			gid_t g = who == 0 ? G1 : G2;
			gid_t g2 = who == 1 ? G1 : NOGRP;
			char n[32];
			snprintf(n, sizeof n, "sub/n%d", k++);
			CHK(ASG(u, g, g2, xstat("sub/g")), bits & 1 ? 0 : EACCES, "%s, dir mode 0%03o: lookup",
			       cls[who], m);
			CHK(ASG(u, g, g2, xopendir("sub")), bits & 4 ? 0 : EACCES, "%s, dir mode 0%03o: opendir",
			       cls[who], m);
			CHK(ASG(u, g, g2, xcreat(n, 0644)), (bits & 3) == 3 ? 0 : EACCES,
			       "%s, dir mode 0%03o: create", cls[who], m);
			CHK(ASG(u, g, g2, chdir("sub")), bits & 1 ? 0 : EACCES, "%s, dir mode 0%03o: chdir",
			       cls[who], m);
			if ((bits & 3) == 3)
				SETUP(unlink(n));
		}
	}
	SETUP(chmod("sub", 0));
	OK(xstat("sub/g"), "root: lookup in a mode 0 directory");
	OK(xopendir("sub"), "root: opendir of a mode 0 directory");
	OK(xcreat("sub/r", 0644), "root: create in a mode 0 directory");
	OK(chdir("sub"), "root: chdir into a mode 0 directory");
	SETUP(chdir(".."));
	SETUP(chmod("sub", 0755));
}

/* ---- chmod ------------------------------------------------------------- */

static long fchmodat2_nofollow(const char *p, mode_t m)
{
	return syscall(SYS_fchmodat2, AT_FDCWD, p, m, AT_SYMLINK_NOFOLLOW);
}

static void t_chmod(void)
{
	if (!begin("chmod"))
		return;
	for (const char *t = "fdpcbs"; *t; t++) {
		const char *n = pre(*t);
		struct tm3 t0 = times_of(n);
		tick();
		OK(chmod(n, 0111), "chmod a %s to 0111", tname(*t));
		MODE(n, tmode(*t) | 0111);
		TIMES(n, &t0, TC, "chmod of a %s", tname(*t));
		SETUP(chmod(n, 0644));
	}
	struct tm3 t0 = times_of("f");
	tick();
	OK(chmod("f", 0644), "chmod to the same mode");
	TIMES("f", &t0, TC, "chmod to the same mode");
	int fd = open("f", O_RDONLY);
	t0 = times_of("f");
	tick();
	OK(fchmod(fd, 0600), "fchmod");
	MODE("f", S_IFREG | 0600);
	TIMES("f", &t0, TC, "fchmod");
	close(fd);
	t0 = times_of("s");
	tick();
	OK(chmod("s", 0640), "chmod through a symlink");
	MODE("f", S_IFREG | 0640);
	MODE("s", S_IFLNK | 0777);
	TIMES("s", &t0, 0, "chmod through a symlink");
	errno = 0;
	long r = fchmodat2_nofollow("s", 0600);
	if (r < 0 && errno == ENOSYS) {
		diag("fchmodat2 is not available: skipping its check");
	} else {
		EXPECT(r < 0 ? errno : 0, EOPNOTSUPP, "fchmodat2(AT_SYMLINK_NOFOLLOW) on a symlink");
		MODE("s", S_IFLNK | 0777);
		OK(fchmodat2_nofollow("f", 0604), "fchmodat2(AT_SYMLINK_NOFOLLOW) on a regular file");
		MODE("f", S_IFREG | 0604);
	}
	OK(chmod("f", 07777), "root chmod 07777 of a file");
	MODE("f", S_IFREG | 07777);
	OK(chmod("sub", 07777), "root chmod 07777 of a directory");
	MODE("sub", S_IFDIR | 07777);
	SETUP(chmod("sub", 0755));
	/* owner and others */
	SETUP(chown("f", U1, G1));
	SETUP(chmod("f", 0644));
	CHK(AS(U2, G2, chmod("f", 0777)), EPERM, "chmod by a non-owner");
	MODE("f", S_IFREG | 0644);
	t0 = times_of("f");
	tick();
	OK(AS(U1, G1, chmod("f", 0700)), "chmod by the owner");
	MODE("f", S_IFREG | 0700);
	TIMES("f", &t0, TC, "chmod by the owner");
	OK(AS(U1, G1, chmod("f", 04755)), "the owner sets setuid");
	MODE("f", S_IFREG | 04755);
	OK(AS(U1, G1, chmod("f", 01644)), "the owner sets the sticky bit on a file");
	MODE("f", S_IFREG | 01644);
	OK(AS(U1, G1, chmod("f", 02755)), "the owner sets setgid (member of the group)");
	MODE("f", S_IFREG | 02755);
	SETUP(chown("f", U1, G2));
	OK(AS(U1, G1, chmod("f", 02755)), "setgid by an owner outside the file's group");
	MODE("f", S_IFREG | 0755);
	OK(ASG(U1, G1, G2, chmod("f", 02755)), "setgid by an owner in the group (supplementary)");
	MODE("f", S_IFREG | 02755);
	SETUP(chown("sub", U1, G2));
	OK(AS(U1, G1, chmod("sub", 02755)), "setgid on a directory by an owner outside its group");
	MODE("sub", S_IFDIR | 0755);
	OK(ASG(U1, G1, G2, chmod("sub", 02755)), "setgid on a directory by an owner in its group");
	MODE("sub", S_IFDIR | 02755);
	OK(chmod("f", 0600), "root chmod of another user's file");
	OWNER("f", U1, G2);
	MODE("f", S_IFREG | 0600);
	/* errors */
	CHK(chmod("f/x", 0644), ENOTDIR, "chmod under a regular file");
	CHK(chmod("nx", 0644), ENOENT, "chmod of a missing name");
	CHK(chmod("nx/x", 0644), ENOENT, "chmod under a missing directory");
	SETUP(chmod("sub", 0644));
	SETUP(chown("sub/g", U1, G1));
	CHK(AS(U1, G1, chmod("sub/g", 0600)), EACCES, "chmod without search permission");
	SETUP(chmod("sub", 0755));
	OK(AS(U1, G1, chmod("sub/g", 0600)), "chmod with search permission");
	MODE("sub/g", S_IFREG | 0600);
}

/* ---- chown ------------------------------------------------------------- */

static void t_chown(void)
{
	if (!begin("chown"))
		return;
	for (const char *t = "fdpcbs"; *t; t++) {
		const char *n = pre(*t);
		struct tm3 t0 = times_of(n);
		tick();
		OK(chown(n, U1, G2), "chown a %s", tname(*t));
		OWNER(n, U1, G2);
		TIMES(n, &t0, TC, "chown of a %s", tname(*t));
		MODE(n, tmode(*t) | (*t == 'd' ? 0755 : *t == 'b' ? 0640 : *t == 's' ? 0755 : 0644));
	}
	struct tm3 ts = times_of("s"), tf = times_of("f");
	tick();
	OK(lchown("s", U2, G2), "lchown of a symlink");
	OWNER("s", U2, G2);
	OWNER("f", U1, G2);
	TIMES("s", &ts, TC, "lchown");
	TIMES("f", &tf, 0, "lchown of the symlink");
	tf = times_of("f");
	tick();
	OK(chown("s", U1, G1), "chown through a symlink");
	OWNER("f", U1, G1);
	OWNER("s", U2, G2);
	TIMES("f", &tf, TC, "chown through a symlink");
	tf = times_of("f");
	tick();
	OK(chown("f", (uid_t) -1, G2), "chown -1 gid");
	OWNER("f", U1, G2);
	TIMES("f", &tf, TC, "chown -1 gid");
	OK(chown("f", U2, (gid_t) -1), "chown uid -1");
	OWNER("f", U2, G2);
	tf = times_of("f");
	tick();
	OK(chown("f", (uid_t) -1, (gid_t) -1), "chown -1 -1");
	OWNER("f", U2, G2);
	TIMES("f", &tf, TC, "chown -1 -1");
	int fd = open("f", O_RDONLY);
	tf = times_of("f");
	tick();
	OK(fchown(fd, 0, 0), "fchown");
	OWNER("f", 0, 0);
	TIMES("f", &tf, TC, "fchown");
	close(fd);
	OK(fchownat(AT_FDCWD, "s", 0, 0, AT_SYMLINK_NOFOLLOW), "fchownat AT_SYMLINK_NOFOLLOW");
	OWNER("s", 0, 0);
	/* root's chown clears setuid, and setgid when group-executable */
	static const struct {
		mode_t before, after;
	} rt[] = { { 04777, 0777 }, { 02777, 0777 }, { 06777, 0777 }, { 02767, 02767 }, { 06555, 0555 },
		   { 01777, 01777 } };
	for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++) {
		SETUP(chmod("e", rt[i].before));
		OK(chown("e", U1, G1), "root chown of a 0%o file", rt[i].before);
		MODE("e", S_IFREG | rt[i].after);
	}
	SETUP(chmod("e", 06777));
	OK(chown("e", (uid_t) -1, (gid_t) -1), "root chown -1 -1 of a 06777 file");
	MODE("e", S_IFREG | 0777);
	SETUP(chmod("sub", 06777));
	OK(chown("sub", U1, G1), "root chown of a 06777 directory");
	MODE("sub", S_IFDIR | 06777);
	SETUP(chmod("sub", 0755));
	/* non-root */
	SETUP(chown("h1", U1, G1));
	CHK(AS(U1, G1, chown("h1", U2, (gid_t) -1)), EPERM, "the owner gives a file away");
	CHK(AS(U1, G1, chown("h1", (uid_t) -1, G2)), EPERM, "the owner sets a group it is not in");
	CHK(AS(U1, G1, chown("h1", U1, G2)), EPERM, "the owner sets its uid and a group it is not in");
	CHK(AS(U2, G2, chown("h1", U2, G2)), EPERM, "a non-owner takes a file");
	CHK(AS(U2, G2, chown("h1", (uid_t) -1, G2)), EPERM, "a non-owner sets the group");
	OWNER("h1", U1, G1);
	tf = times_of("h1");
	tick();
	OK(ASG(U1, G1, G2, chown("h1", (uid_t) -1, G2)), "the owner sets a supplementary group");
	OWNER("h2", U1, G2);
	TIMES("h2", &tf, TC, "chown by the owner");
	OK(AS(U1, G1, chown("h1", U1, G1)), "the owner sets its own uid and primary group");
	OWNER("h1", U1, G1);
	tf = times_of("h1");
	tick();
	OK(AS(U1, G1, chown("h1", (uid_t) -1, (gid_t) -1)), "the owner: chown -1 -1");
	TIMES("h1", &tf, TC, "chown -1 -1 by the owner");
	OK(AS(U2, G2, chown("h1", (uid_t) -1, (gid_t) -1)), "a non-owner: chown -1 -1");
	OWNER("h1", U1, G1);
	/* non-root chown clears setuid/setgid */
	static const struct {
		mode_t before, after;
		gid_t g;
	} nr[] = { { 06555, 0555, G1 }, { 04555, 0555, G1 }, { 02555, 0555, G1 },
		   { 02545, 02545, G1 }, { 02545, 0545, G3 }, { 01755, 01755, G1 } };
	for (size_t i = 0; i < sizeof nr / sizeof nr[0]; i++) {
		SETUP(chown("h1", U1, nr[i].g));
		SETUP(chmod("h1", nr[i].before));
		OK(ASG(U1, G1, G2, chown("h1", (uid_t) -1, G2)), "the owner (group %u) chowns a 0%o file to a group",
		   nr[i].g, nr[i].before);
		MODE("h1", S_IFREG | nr[i].after);
	}
	SETUP(chown("h1", U1, G1));
	SETUP(chmod("h1", 04755));
	OK(AS(U1, G1, chown("h1", (uid_t) -1, (gid_t) -1)), "the owner: chown -1 -1 of a setuid file");
	MODE("h1", S_IFREG | 0755);
	/* chown -1 -1 drops setgid too, where a write would: a mode change,
	 * which only the owner may make */
	static const struct {
		mode_t before;
		uid_t u;
		gid_t g, g2;
		int err;
		mode_t after;
		const char *who;
	} sg[] = { { 02666, U2, G2, NOGRP, EPERM, 02666, "a non-owner outside the group" },
		   { 02676, U2, G2, NOGRP, EPERM, 02676, "a non-owner outside the group (group-exec)" },
		   { 02666, U2, G2, G3, 0, 02666, "a non-owner in the group" },
		   { 02666, U1, G1, NOGRP, 0, 0666, "the owner outside the group" },
		   { 02666, U1, G1, G3, 0, 02666, "the owner in the group" } };
	for (size_t i = 0; i < sizeof sg / sizeof sg[0]; i++) {
		SETUP(chown("h1", U1, G3));
		SETUP(chmod("h1", sg[i].before));
		if (sg[i].err)
			CHK(ASG(sg[i].u, sg[i].g, sg[i].g2, chown("h1", (uid_t) -1, (gid_t) -1)), sg[i].err,
			    "chown -1 -1 of a 0%o file by %s", sg[i].before, sg[i].who);
		else
			OK(ASG(sg[i].u, sg[i].g, sg[i].g2, chown("h1", (uid_t) -1, (gid_t) -1)),
			   "chown -1 -1 of a 0%o file by %s", sg[i].before, sg[i].who);
		MODE("h1", S_IFREG | sg[i].after);
	}
	SETUP(chown("h1", U1, G1));
	SETUP(chown("sub", U1, G1));
	SETUP(chmod("sub", 06755));
	OK(ASG(U1, G1, G2, chown("sub", (uid_t) -1, G2)), "the owner chowns a 06755 directory");
	MODE("sub", S_IFDIR | 06755);
	OWNER("sub", U1, G2);
	SETUP(chmod("sub", 0755));
	/* errors */
	CHK(chown("f/x", 0, 0), ENOTDIR, "chown under a regular file");
	CHK(chown("nx", 0, 0), ENOENT, "chown of a missing name");
	SETUP(symlink("nowhere", "dl"));
	CHK(chown("dl", 0, 0), ENOENT, "chown through a dangling symlink");
	OK(lchown("dl", U1, G1), "lchown of a dangling symlink");
	OWNER("dl", U1, G1);
	SETUP(chmod("sub", 0644));
	SETUP(chown("sub/g", U1, G1));
	CHK(AS(U1, G1, chown("sub/g", U1, G1)), EACCES, "chown without search permission");
	SETUP(chmod("sub", 0755));
}

/* ---- link -------------------------------------------------------------- */

static int read_sysctl(const char *p)
{
	FILE *f = fopen(p, "r");
	int v = -1;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void t_link(void)
{
	if (!begin("link"))
		return;
	ino_t ino = ino_of("f");
	struct tm3 f0 = times_of("f"), d0 = times_of(".");
	tick();
	OK(link("f", "n0"), "link a regular file");
	NLINK("f", 2);
	NLINK("n0", 2);
	EQ(ino_of("n0"), ino, "both names have one inode");
	MODE("n0", S_IFREG | 0644);
	CONTENT("n0", F_DATA);
	TIMES("f", &f0, TC, "link");
	TIMES(".", &d0, TM | TC, "link");
	CHK(xgetx("n0", "user.lower"), 0, "the new name has the xattrs");
	for (const char *t = "pcbsl"; *t; t++) {
		char n[16];
		snprintf(n, sizeof n, "L%c", *t);
		const char *o = pre(*t);
		struct tm3 t0 = times_of(o);
		tick();
		OK(link(o, n), "link a %s", tname(*t));
		NLINK(o, 2);
		NLINK(n, 2);
		MODE(n, st_of(o).st_mode);
		EQ(ino_of(n), ino_of(o), "the %s's names have one inode", tname(*t));
		TIMES(o, &t0, TC, "link of a %s", tname(*t));
	}
	NLINK("f", 2);
	OK(linkat(AT_FDCWD, "s", AT_FDCWD, "Lf", AT_SYMLINK_FOLLOW), "linkat AT_SYMLINK_FOLLOW");
	NLINK("f", 3);
	EQ(ino_of("Lf"), ino, "AT_SYMLINK_FOLLOW links the target");
	/* a hardlink group */
	OK(link("h2", "h3"), "a third name");
	NLINK("h1", 3);
	NLINK("h2", 3);
	NLINK("h3", 3);
	EQ(ino_of("h3"), ino_of("h1"), "the third name has the inode");
	CONTENT("h3", H_DATA);
	SETUP(xpwrite("h3", "HL", 0));
	CONTENT("h1", "HL\n");
	/* into another directory */
	d0 = times_of("sub");
	tick();
	OK(link("f", "sub/fl"), "link into a subdirectory");
	NLINK("f", 4);
	TIMES("sub", &d0, TM | TC, "link into it");
	/* unlink of one name */
	f0 = times_of("f");
	tick();
	OK(unlink("n0"), "unlink one name");
	NLINK("f", 3);
	TIMES("f", &f0, TC, "unlink of another name");
	CONTENT("f", F_DATA);
	/* errors */
	CHK(link("sub", "dl"), EPERM, "link a directory");
	GONE("dl");
	CHK(link("f", "h1"), EEXIST, "link onto a regular file");
	CHK(link("f", "sub"), EEXIST, "link onto a directory");
	CHK(link("f", "s"), EEXIST, "link onto a symlink");
	CHK(link("f", "p"), EEXIST, "link onto a fifo");
	SETUP(symlink("nowhere", "dangling"));
	CHK(link("f", "dangling"), EEXIST, "link onto a dangling symlink");
	CHK(link("f", "f"), EEXIST, "link onto itself");
	CHK(link("nx", "n5"), ENOENT, "link a missing name");
	CHK(link("f", "nx/n5"), ENOENT, "link into a missing directory");
	CHK(link("f/x", "n5"), ENOTDIR, "link a name under a regular file");
	CHK(link("f", "f/x"), ENOTDIR, "link into a regular file");
	CHK(link("dangling", "n5"), 0, "link a dangling symlink itself");
	CHK(linkat(AT_FDCWD, "dangling", AT_FDCWD, "n6", AT_SYMLINK_FOLLOW), ENOENT,
	    "AT_SYMLINK_FOLLOW of a dangling symlink");
	CHK(link("f", ""), ENOENT, "link to the empty path");
	/* permissions */
	SETUP(mkdir("w", 0755));
	SETUP(chown("w", U1, G1));
	SETUP(AS(U1, G1, xcreat("w/a", 0644)));
	OK(AS(U1, G1, link("w/a", "w/b")), "link in an own directory");
	NLINK("w/a", 2);
	SETUP(chmod("w", 0555));
	CHK(AS(U1, G1, link("w/a", "w/c")), EACCES, "link into a directory without write permission");
	SETUP(chmod("w", 0644));
	CHK(AS(U1, G1, link("w/a", "n7")), EACCES, "link from a directory without search permission");
	SETUP(chmod("w", 0755));
	CHK(AS(U1, G1, link("w/a", "n7")), EACCES, "link into another user's 0755 directory");
	if (read_sysctl("/proc/sys/fs/protected_hardlinks") == 1) {
		CHK(AS(U1, G1, link("e", "w/e")), EPERM, "protected_hardlinks: link to another user's 0644 file");
		SETUP(chmod("e", 0666));
		OK(AS(U1, G1, link("e", "w/e")), "protected_hardlinks: link to a 0666 file");
		SETUP(chmod("e", 04666));
		CHK(AS(U1, G1, link("e", "w/e2")), EPERM, "protected_hardlinks: link to a setuid file");
		SETUP(chmod("e", 0644));
	} else {
		diag("fs.protected_hardlinks is not 1: its checks are skipped");
	}
}

/* ---- mkdir ------------------------------------------------------------- */

static void t_mkdir(void)
{
	if (!begin("mkdir"))
		return;
	struct tm3 d0 = times_of(".");
	long nl = (long) nlink_of(".");
	EQ(nl, 3, "a directory with one subdirectory has 3 links");
	tick();
	OK(mkdir("n0", 0777), "mkdir 0777 (umask 022)");
	MODE("n0", S_IFDIR | 0755);
	OWNER("n0", 0, 0);
	NLINK("n0", 2);
	NLINK(".", nl + 1);
	TIMES(".", &d0, TM | TC, "mkdir");
	NEWTIMES("n0", &d0);
	struct tm3 t0 = times_of("n0");
	tick();
	OK(mkdir("n0/x", 0755), "mkdir in the new directory");
	NLINK("n0", 3);
	TIMES("n0", &t0, TM | TC, "mkdir in it");
	umask(0);
	static const struct {
		mode_t m, want;
	} modes[] = { { 0, 0 }, { 0777, 0777 }, { 0700, 0700 }, { 01777, 01777 }, { 02777, 0777 },
		      { 04777, 0777 }, { 07777, 01777 } };
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		char n[16];
		snprintf(n, sizeof n, "m%o", modes[i].m);
		OK(mkdir(n, modes[i].m), "mkdir mode 0%o (umask 0)", modes[i].m);
		MODE(n, S_IFDIR | modes[i].want);
	}
	umask(077);
	OK(mkdir("m077", 0777), "mkdir 0777 with umask 077");
	MODE("m077", S_IFDIR | 0700);
	umask(022);
	NLINK(".", nl + 1 + 8);
	/* owner */
	SETUP(chown(".", U1, G1));
	OK(AS(U1, G1, mkdir("u1", 0755)), "mkdir as %d", U1);
	OWNER("u1", U1, G1);
	OK(ASG(U1, G2, G1, mkdir("u2", 0755)), "mkdir with egid %d", G2);
	OWNER("u2", U1, G2);
	SETUP(chown(".", 0, G3));
	SETUP(chmod(".", 02755));
	OK(mkdir("sgd", 0755), "mkdir in a setgid directory");
	MODE("sgd", S_IFDIR | 02755);
	OWNER("sgd", 0, G3);
	SETUP(chmod(".", 0755));
	/* EEXIST */
	for (const char *t = TYPES; *t; t++)
		CHK(mkdir(pre(*t), 0755), EEXIST, "mkdir over a %s", tname(*t));
	SETUP(symlink("nowhere", "dl"));
	CHK(mkdir("dl", 0755), EEXIST, "mkdir over a dangling symlink");
	GONE("nowhere");
	CHK(mkdir(".", 0755), EEXIST, "mkdir .");
	CHK(mkdir("..", 0755), EEXIST, "mkdir ..");
	CHK(mkdir("sub/", 0755), EEXIST, "mkdir of an existing directory with a trailing slash");
	/* other errors */
	CHK(mkdir("f/n", 0755), ENOTDIR, "mkdir under a regular file");
	CHK(mkdir("nx/n", 0755), ENOENT, "mkdir under a missing directory");
	CHK(mkdir("", 0755), ENOENT, "mkdir of the empty path");
	OK(mkdir("n1/", 0755), "mkdir with a trailing slash");
	MODE("n1", S_IFDIR | 0755);
	SETUP(mkdir("w", 0755));
	SETUP(chown("w", U1, G1));
	SETUP(chmod("w", 0555));
	CHK(AS(U1, G1, mkdir("w/n", 0755)), EACCES, "mkdir without write permission");
	SETUP(chmod("w", 0644));
	CHK(AS(U1, G1, mkdir("w/n", 0755)), EACCES, "mkdir without search permission");
	SETUP(chmod("w", 0300));
	OK(AS(U1, G1, mkdir("w/n", 0755)), "mkdir with write+search permission only");
	SETUP(chmod("w", 0755));
	/* link counts go back */
	nl = (long) nlink_of(".");
	OK(rmdir("n0/x"), "rmdir");
	NLINK("n0", 2);
	OK(rmdir("n0"), "rmdir");
	NLINK(".", nl - 1);
}

/* ---- mkfifo / mknod ---------------------------------------------------- */

static void t_mknod(void)
{
	if (!begin("mkfifo mknod"))
		return;
	struct tm3 d0 = times_of(".");
	tick();
	OK(mkfifo("n0", 0644), "mkfifo");
	MODE("n0", S_IFIFO | 0644);
	OWNER("n0", 0, 0);
	NLINK("n0", 1);
	SIZE("n0", 0);
	TIMES(".", &d0, TM | TC, "mkfifo");
	NEWTIMES("n0", &d0);
	umask(0);
	OK(mkfifo("m0", 0), "mkfifo mode 0");
	MODE("m0", S_IFIFO);
	OK(mkfifo("m777", 0777), "mkfifo mode 0777");
	MODE("m777", S_IFIFO | 0777);
	OK(mkfifo("m1777", 01777), "mkfifo mode 01777");
	MODE("m1777", S_IFIFO | 01777);
	umask(022);
	OK(mkfifo("m2", 0777), "mkfifo mode 0777 with umask 022");
	MODE("m2", S_IFIFO | 0755);
	d0 = times_of(".");
	tick();
	OK(mknod("n1", S_IFCHR | 0644, makedev(1, 2)), "mknod a char device");
	MODE("n1", S_IFCHR | 0644);
	EQ(st_of("n1").st_rdev, makedev(1, 2), "st_rdev of the char device");
	TIMES(".", &d0, TM | TC, "mknod");
	NEWTIMES("n1", &d0);
	OK(mknod("n2", S_IFBLK | 0600, makedev(300, 70000)), "mknod a block device 300:70000");
	MODE("n2", S_IFBLK | 0600);
	EQ(major(st_of("n2").st_rdev), 300, "major of the block device");
	EQ(minor(st_of("n2").st_rdev), 70000, "minor of the block device");
	EQ(st_of("c").st_rdev, makedev(1, 3), "st_rdev of the pre-made char device");
	EQ(st_of("b").st_rdev, makedev(7, 0), "st_rdev of the pre-made block device");
	OK(mknod("n3", S_IFIFO | 0644, 0), "mknod a fifo");
	MODE("n3", S_IFIFO | 0644);
	OK(mknod("n4", S_IFREG | 0644, 0), "mknod a regular file");
	MODE("n4", S_IFREG | 0644);
	SIZE("n4", 0);
	OK(mknod("n5", 0644, 0), "mknod with no type makes a regular file");
	MODE("n5", S_IFREG | 0644);
	OK(mknod("n6", S_IFSOCK | 0644, 0), "mknod a socket");
	MODE("n6", S_IFSOCK | 0644);
	CHK(mknod("n7", S_IFDIR | 0755, 0), EPERM, "mknod a directory");
	CHK(mknod("n7", 0170000 | 0644, 0), EINVAL, "mknod with an invalid type");
	GONE("n7");
	/* non-root */
	SETUP(chown(".", U1, G1));
	CHK(AS(U1, G1, mknod("u0", S_IFCHR | 0644, makedev(1, 2))), EPERM, "a non-root char device");
	CHK(AS(U1, G1, mknod("u0", S_IFBLK | 0644, makedev(7, 9))), EPERM, "a non-root block device");
	OK(AS(U1, G1, mknod("u1", S_IFIFO | 0644, 0)), "a non-root fifo by mknod");
	OWNER("u1", U1, G1);
	OK(AS(U1, G1, mkfifo("u2", 0644)), "a non-root mkfifo");
	OWNER("u2", U1, G1);
	OK(AS(U1, G1, mknod("u3", S_IFREG | 0600, 0)), "a non-root regular file by mknod");
	MODE("u3", S_IFREG | 0600);
	OK(AS(U1, G1, xsock("u4")), "a non-root socket (bind)");
	MODE("u4", S_IFSOCK | 0755);
	OWNER("u4", U1, G1);
	for (const char *t = "fdpsl"; *t; t++) {
		char n[16];
		snprintf(n, sizeof n, "o%c", *t);
		OK(ASG(U1, G2, G1, mkobj(*t, n)), "a %s made by %d with egid %d", tname(*t), U1, G2);
		OWNER(n, U1, G2);
		EQ(st_of(n).st_mode & S_IFMT, tmode(*t), "its type");
	}
	/* EEXIST and friends */
	for (const char *t = TYPES; *t; t++) {
		CHK(mkfifo(pre(*t), 0644), EEXIST, "mkfifo over a %s", tname(*t));
		CHK(mknod(pre(*t), S_IFCHR | 0644, makedev(1, 2)), EEXIST, "mknod over a %s", tname(*t));
	}
	CHK(mkfifo("f/x", 0644), ENOTDIR, "mkfifo under a regular file");
	CHK(mknod("f/x", S_IFIFO | 0644, 0), ENOTDIR, "mknod under a regular file");
	CHK(mkfifo("nx/x", 0644), ENOENT, "mkfifo under a missing directory");
	CHK(mknod("nx/x", S_IFCHR | 0644, 0), ENOENT, "mknod under a missing directory");
	SETUP(chown("sub", U1, G1));
	SETUP(chmod("sub", 0555));
	CHK(AS(U1, G1, mkfifo("sub/x", 0644)), EACCES, "mkfifo without write permission");
	SETUP(chmod("sub", 0644));
	CHK(AS(U1, G1, mkfifo("sub/x", 0644)), EACCES, "mkfifo without search permission");
	SETUP(chmod("sub", 0755));
	/* a fifo works: data goes through */
	int r = open("n0", O_RDONLY | O_NONBLOCK);
	int w = open("n0", O_WRONLY | O_NONBLOCK);
	char b[8] = { 0 };
	TRUE(r >= 0 && w >= 0 && write(w, "fifo", 4) == 4 && read(r, b, sizeof b) == 4 && !memcmp(b, "fifo", 4),
	     "data through the new fifo");
	if (r >= 0)
		close(r);
	if (w >= 0)
		close(w);
	r = open("p", O_RDWR);
	TRUE(r >= 0 && write(r, "pre", 3) == 3 && read(r, b, sizeof b) == 3 && !memcmp(b, "pre", 3),
	     "data through the pre-made fifo");
	if (r >= 0)
		close(r);
	SIZE("p", 0);
}

/* ---- rename ------------------------------------------------------------ */

static void t_rename(void)
{
	if (!begin("rename"))
		return;
	/* every type keeps its inode, type and mode; the renamed inode's ctime changes */
	for (const char *t = "fpcbsl"; *t; t++) {
		const char *o = pre(*t);
		char n[16];
		snprintf(n, sizeof n, "R%c", *t);
		struct stat st = st_of(o);
		struct tm3 t0 = times_of(o), d0 = times_of(".");
		tick();
		OK(rename(o, n), "rename a %s", tname(*t));
		GONE(o);
		EQ(ino_of(n), st.st_ino, "the renamed %s keeps its inode", tname(*t));
		MODE(n, st.st_mode);
		NLINK(n, 1);
		TIMES(n, &t0, TC, "rename of a %s", tname(*t));
		TIMES(".", &d0, TM | TC, "rename of a %s in it", tname(*t));
	}
	CONTENT("Rf", F_DATA);
	CHK(xgetx("Rf", "user.lower"), 0, "the renamed file keeps its xattrs");
	char buf[64] = { 0 };
	EQ(readlink("Rl", buf, sizeof buf), 1, "the renamed symlink's target length");
	TRUE(!strcmp(buf, "f"), "the renamed symlink's target");
	EQ(st_of("Rc").st_rdev, makedev(1, 3), "the renamed device keeps st_rdev");
	/* a directory */
	ino_t ino = ino_of("sub");
	long nl = (long) nlink_of(".");
	struct tm3 t0 = times_of("sub");
	tick();
	OK(rename("sub", "Rd"), "rename a directory");
	EQ(ino_of("Rd"), ino, "the renamed directory keeps its inode");
	NLINK(".", nl);
	CONTENT("Rd/g", G_DATA);
	TIMES("Rd", &t0, TC, "rename of a directory");
	/* across directories */
	SETUP(mkdir("A", 0755));
	SETUP(mkdir("B", 0755));
	struct tm3 a0 = times_of("A"), b0 = times_of("B");
	t0 = times_of("Rf");
	tick();
	OK(rename("Rf", "A/x"), "rename into a subdirectory");
	TIMES("A", &a0, TM | TC, "rename into it");
	TIMES("A/x", &t0, TC, "rename across directories");
	a0 = times_of("A");
	tick();
	OK(rename("A/x", "B/y"), "rename between subdirectories");
	TIMES("A", &a0, TM | TC, "rename out of it");
	TIMES("B", &b0, TM | TC, "rename into it");
	CONTENT("B/y", F_DATA);
	NLINK("A", 2);
	NLINK("B", 2);
	ino = ino_of("Rd");
	a0 = times_of("A");
	t0 = times_of("Rd");
	tick();
	OK(rename("Rd", "A/dd"), "move a directory into another");
	NLINK(".", nl + 1);
	NLINK("A", 3);
	EQ(ino_of("A/dd/.."), ino_of("A"), "the moved directory's .. is its new parent");
	TIMES("A", &a0, TM | TC, "a directory moved into it");
	TIMES("A/dd", &t0, TC, "a moved directory");
	OK(rename("A/dd", "B/dd"), "move a directory between directories");
	NLINK("A", 2);
	NLINK("B", 3);
	EQ(ino_of("B/dd/.."), ino_of("B"), "the moved directory's .. is its new parent");
	EQ(ino_of("B/dd"), ino, "the moved directory keeps its inode");
	CONTENT("B/dd/g", G_DATA);
	/* over an existing file */
	SETUP(xfile("old", "old", 0600));
	SETUP(link("old", "old2"));
	ino = ino_of("e");
	t0 = times_of("old2");
	tick();
	OK(rename("e", "old"), "rename over a file with another link");
	GONE("e");
	EQ(ino_of("old"), ino, "the name is the renamed inode");
	NLINK("old", 1);
	NLINK("old2", 1);
	CONTENT("old2", "old");
	SIZE("old", 0);
	TIMES("old2", &t0, TC, "the replaced inode (it has another name)");
	OK(rename("old2", "Rl"), "rename a file over a symlink");
	MODE("Rl", S_IFREG | 0600);
	OK(rename("Rp", "Rs"), "rename a fifo over a socket");
	MODE("Rs", S_IFIFO | 0644);
	SETUP(symlink("B", "sl"));
	OK(rename("sl", "old"), "rename a symlink over a file");
	MODE("old", S_IFLNK | 0777);
	NLINK("B", 3);
	/* one name of a hardlinked file */
	ino = ino_of("h1");
	t0 = times_of("h1");
	tick();
	OK(rename("h1", "hx"), "rename one name of two");
	EQ(ino_of("hx"), ino, "the renamed name keeps the inode");
	NLINK("hx", 2);
	NLINK("h2", 2);
	TIMES("hx", &t0, TC, "rename of one name of two");
	EQ(ino_of("h2"), ino, "the other name is untouched");
	OK(rename("hx", "h1"), "rename it back");
	/* two names of one inode: nothing happens */
	t0 = times_of("h1");
	struct tm3 d0 = times_of(".");
	tick();
	OK(rename("h1", "h2"), "rename a name onto another name of the same inode");
	EXISTS("h1");
	EXISTS("h2");
	NLINK("h1", 2);
	TIMES("h1", &t0, 0, "rename onto the same inode");
	TIMES(".", &d0, 0, "rename onto the same inode");
	OK(rename("Rb", "Rb"), "rename onto itself");
	EXISTS("Rb");
	OK(rename("B", "B"), "rename a directory onto itself");
	/* a directory over an empty directory */
	SETUP(mkdir("E1", 0755));
	SETUP(xcreat("E1/x", 0644));
	SETUP(mkdir("E2", 0755));
	nl = (long) nlink_of(".");
	ino = ino_of("E1");
	OK(rename("E1", "E2"), "rename a directory over an empty directory");
	GONE("E1");
	EQ(ino_of("E2"), ino, "the name is the renamed directory");
	EXISTS("E2/x");
	NLINK(".", nl - 1);
	SETUP(mkdir("E3", 0755));
	OK(rename("E3", "A"), "rename a directory over another empty directory");
	/* errors */
	SETUP(mkdir("E4", 0755));
	CHK(rename("E4", "B"), ENOTEMPTY, "rename over a non-empty directory");
	EXISTS("B/dd/g");
	CHK(rename("E4", "Rb"), ENOTDIR, "rename a directory over a block device");
	CHK(rename("E4", "h1"), ENOTDIR, "rename a directory over a file");
	CHK(rename("h1", "E4"), EISDIR, "rename a file over an empty directory");
	CHK(rename("h1", "B"), EISDIR, "rename a file over a non-empty directory");
	CHK(rename("Rc", "E4"), EISDIR, "rename a device over a directory");
	CHK(rename("B", "B/dd/z"), EINVAL, "rename a directory into its own subdirectory");
	CHK(rename("B", "B/z"), EINVAL, "rename a directory into itself");
	CHK(rename("B/dd", "B/dd/z"), EINVAL, "rename a subdirectory into itself");
	EXISTS("B/dd/g");
	CHK(rename(".", "z"), EBUSY, "rename .");
	CHK(rename("..", "z"), EBUSY, "rename ..");
	CHK(rename("B/.", "z"), EBUSY, "rename dir/.");
	CHK(rename("E4", "."), EBUSY, "rename onto .");
	CHK(rename("nx", "z"), ENOENT, "rename a missing name");
	CHK(rename("h1", "nx/z"), ENOENT, "rename into a missing directory");
	CHK(rename("", "z"), ENOENT, "rename the empty path");
	CHK(rename("h1/x", "z"), ENOTDIR, "rename a name under a file");
	CHK(rename("Rb", "h1/x"), ENOTDIR, "rename into a file");
	CHK(rename("h1/", "z"), ENOTDIR, "rename a file with a trailing slash");
	CHK(rename("h1", "z/"), ENOTDIR, "rename a file to a name with a trailing slash");
	GONE("z");
	OK(rename("E4/", "E5/"), "rename a directory with trailing slashes");
	EXISTS("E5");
}

static void t_rename_perm(void)
{
	if (!begin("rename permissions"))
		return;
	SETUP(mkdir("A", 0755));
	SETUP(mkdir("B", 0755));
	SETUP(chown("A", U1, G1));
	SETUP(chown("B", U1, G1));
	SETUP(AS(U1, G1, xcreat("A/a", 0644)));
	OK(AS(U1, G1, rename("A/a", "A/b")), "rename in an own directory");
	OK(AS(U1, G1, rename("A/b", "B/b")), "rename between own directories");
	SETUP(chmod("A", 0555));
	CHK(AS(U1, G1, rename("B/b", "A/b")), EACCES, "rename into a directory without write permission");
	SETUP(chmod("A", 0755));
	SETUP(chmod("B", 0555));
	CHK(AS(U1, G1, rename("B/b", "A/b")), EACCES, "rename out of a directory without write permission");
	SETUP(chmod("B", 0644));
	CHK(AS(U1, G1, rename("B/b", "A/b")), EACCES, "rename out of a directory without search permission");
	SETUP(chmod("B", 0755));
	CHK(AS(U1, G1, rename("B/b", "b")), EACCES, "rename into another user's 0755 directory");
	CHK(AS(U1, G1, rename("f", "A/f")), EACCES, "rename out of another user's 0755 directory");
	/* a directory moved to another parent needs write permission on itself (for ..) */
	SETUP(mkdir("A/dd", 0755));
	SETUP(chown("A/dd", U2, G2));
	CHK(AS(U1, G1, rename("A/dd", "B/dd")), EACCES, "move another user's 0755 directory to another parent");
	OK(AS(U1, G1, rename("A/dd", "A/ee")), "rename another user's directory within its parent");
	SETUP(chmod("A/ee", 0777));
	OK(AS(U1, G1, rename("A/ee", "B/ee")), "move another user's 0777 directory to another parent");
	EQ(ino_of("B/ee/.."), ino_of("B"), "its .. is the new parent");
	/* the target */
	SETUP(AS(U2, G2, xcreat("B/ee/t", 0644)));
	SETUP(AS(U1, G1, xcreat("B/s", 0644)));
	OK(AS(U1, G1, rename("B/s", "B/ee/t")), "rename over another user's file (non-sticky 0777 dir)");
	OWNER("B/ee/t", U1, G1);
}

static int xrenameat2(const char *a, const char *b, unsigned fl)
{
	return renameat2(AT_FDCWD, a, AT_FDCWD, b, fl);
}

static void t_renameat2(void)
{
	if (!begin("renameat2"))
		return;
	CHK(xrenameat2("f", "e", RENAME_NOREPLACE), EEXIST, "RENAME_NOREPLACE onto a file");
	CHK(xrenameat2("f", "sub", RENAME_NOREPLACE), EEXIST, "RENAME_NOREPLACE onto a directory");
	CHK(xrenameat2("f", "s", RENAME_NOREPLACE), EEXIST, "RENAME_NOREPLACE onto a symlink");
	CONTENT("f", F_DATA);
	SIZE("e", 0);
	ino_t fi = ino_of("f"), ei = ino_of("e");
	OK(xrenameat2("f", "n0", RENAME_NOREPLACE), "RENAME_NOREPLACE to a new name");
	GONE("f");
	EQ(ino_of("n0"), fi, "RENAME_NOREPLACE keeps the inode");
	/* exchange two files */
	struct tm3 t0 = times_of("n0"), t1 = times_of("e"), d0 = times_of(".");
	tick();
	OK(xrenameat2("n0", "e", RENAME_EXCHANGE), "RENAME_EXCHANGE of two files");
	EQ(ino_of("e"), fi, "exchanged: the first name");
	EQ(ino_of("n0"), ei, "exchanged: the second name");
	CONTENT("e", F_DATA);
	SIZE("n0", 0);
	TIMES("e", &t0, TC, "RENAME_EXCHANGE");
	TIMES("n0", &t1, TC, "RENAME_EXCHANGE");
	TIMES(".", &d0, TM | TC, "RENAME_EXCHANGE in it");
	/* a file and a directory, across directories */
	SETUP(mkdir("A", 0755));
	SETUP(xfile("A/x", "ax", 0600));
	long nl = (long) nlink_of(".");
	ino_t di = ino_of("sub");
	OK(xrenameat2("sub", "A/x", RENAME_EXCHANGE), "RENAME_EXCHANGE of a directory and a file");
	MODE("sub", S_IFREG | 0600);
	CONTENT("sub", "ax");
	MODE("A/x", S_IFDIR | 0755);
	EQ(ino_of("A/x"), di, "the exchanged directory");
	CONTENT("A/x/g", G_DATA);
	NLINK(".", nl - 1);
	NLINK("A", 3);
	EQ(ino_of("A/x/.."), ino_of("A"), "the exchanged directory's ..");
	/* two directories */
	SETUP(mkdir("D", 0755));
	SETUP(mkdir("D/y", 0755));
	OK(xrenameat2("A", "D", RENAME_EXCHANGE), "RENAME_EXCHANGE of two directories");
	EXISTS("D/x/g");
	EXISTS("A/y");
	OK(xrenameat2("D/x", "A/y", RENAME_EXCHANGE), "RENAME_EXCHANGE of directories across parents");
	EXISTS("A/y/g");
	EXISTS("D/x");
	EQ(ino_of("A/y/.."), ino_of("A"), "the exchanged directory's ..");
	EQ(ino_of("D/x/.."), ino_of("D"), "the other exchanged directory's ..");
	/* symlinks and special files */
	OK(xrenameat2("s", "p", RENAME_EXCHANGE), "RENAME_EXCHANGE of a symlink and a fifo");
	MODE("s", S_IFIFO | 0644);
	MODE("p", S_IFLNK | 0777);
	/* errors */
	CHK(xrenameat2("e", "nx", RENAME_EXCHANGE), ENOENT, "RENAME_EXCHANGE with a missing name");
	CHK(xrenameat2("nx", "e", RENAME_EXCHANGE), ENOENT, "RENAME_EXCHANGE of a missing name");
	CHK(xrenameat2("e", "n1", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL, "RENAME_EXCHANGE|RENAME_NOREPLACE");
	CHK(xrenameat2("A", "A/y", RENAME_EXCHANGE), EINVAL, "RENAME_EXCHANGE with its own subdirectory");
	CHK(xrenameat2("A/y", "A", RENAME_EXCHANGE), EINVAL, "RENAME_EXCHANGE with its own parent");
	CHK(xrenameat2("e", "n1", 1u << 20), EINVAL, "renameat2 with unknown flags");
	OK(xrenameat2("h1", "h2", RENAME_EXCHANGE), "RENAME_EXCHANGE of two names of one inode");
	NLINK("h1", 2);
	CONTENT("h2", H_DATA);
	OK(xrenameat2("e", "e", RENAME_EXCHANGE), "RENAME_EXCHANGE of a name with itself");
	CONTENT("e", F_DATA);
}

/* Sticky directories: only the owner of the entry, of the directory, or root. */
static void t_sticky(void)
{
	if (!begin("sticky directories"))
		return;
	SETUP(chmod(".", 01777));
	SETUP(AS(U1, G1, xcreat("a", 0644)));
	SETUP(AS(U1, G1, mkdir("ad", 0755)));
	SETUP(AS(U1, G1, symlink("a", "al")));
	SETUP(AS(U1, G1, mkfifo("ap", 0644)));
	SETUP(AS(U2, G2, xcreat("bb", 0644)));
	CHK(AS(U2, G2, unlink("a")), EPERM, "unlink another user's file");
	CHK(AS(U2, G2, unlink("al")), EPERM, "unlink another user's symlink");
	CHK(AS(U2, G2, unlink("ap")), EPERM, "unlink another user's fifo");
	CHK(AS(U2, G2, rmdir("ad")), EPERM, "rmdir another user's directory");
	CHK(AS(U2, G2, rename("a", "a2")), EPERM, "rename another user's file");
	CHK(AS(U2, G2, rename("ad", "ad2")), EPERM, "rename another user's directory");
	CHK(AS(U2, G2, rename("bb", "a")), EPERM, "rename onto another user's file");
	CHK(AS(U2, G2, rename("bb", "al")), EPERM, "rename onto another user's symlink");
	CHK(AS(U2, G2, xrenameat2("bb", "a", RENAME_EXCHANGE)), EPERM, "exchange with another user's file");
	EXISTS("a");
	EXISTS("bb");
	OK(AS(U1, G1, rename("a", "a2")), "rename an own file");
	CHK(AS(U1, G1, rename("a2", "bb")), EPERM, "rename an own file onto another user's file");
	OWNER("bb", U2, G2);
	OK(AS(U1, G1, unlink("a2")), "unlink an own file");
	OK(AS(U1, G1, rmdir("ad")), "rmdir an own directory");
	OK(AS(U1, G1, unlink("al")), "unlink an own symlink");
	OK(unlink("ap"), "root unlinks another user's fifo");
	SETUP(AS(U1, G1, xcreat("cc", 0644)));
	SETUP(chown(".", U2, G2));
	OK(AS(U2, G2, unlink("cc")), "the directory's owner unlinks another user's file");
	SETUP(AS(U1, G1, xcreat("cc", 0644)));
	OK(AS(U2, G2, rename("cc", "cc2")), "the directory's owner renames another user's file");
	/* without the sticky bit anyone with write permission may */
	SETUP(chown(".", 0, 0));
	SETUP(chmod(".", 0777));
	SETUP(AS(U1, G1, xcreat("dd", 0644)));
	OK(AS(U2, G2, rename("dd", "dd2")), "rename another user's file in a 0777 directory");
	OK(AS(U2, G2, unlink("dd2")), "unlink another user's file in a 0777 directory");
	/* a sticky target directory */
	SETUP(mkdir("T", 01777));
	SETUP(chmod("T", 01777));
	SETUP(AS(U1, G1, xcreat("T/t", 0644)));
	SETUP(AS(U2, G2, xcreat("x", 0644)));
	CHK(AS(U2, G2, rename("x", "T/t")), EPERM, "rename onto another user's file in a sticky directory");
	OK(AS(U2, G2, rename("x", "T/x")), "rename an own file into a sticky directory");
	CHK(AS(U1, G1, rename("T/x", "y")), EPERM, "rename another user's file out of a sticky directory");
	OK(AS(U2, G2, rename("T/x", "y")), "rename an own file out of a sticky directory");
	/* user xattrs on a sticky directory: owner only */
	CHK(AS(U1, G1, xsetx("T", "user.x", "1", 0)), EPERM, "user xattr on another user's sticky directory");
	OK(xsetx("T", "user.x", "1", 0), "root sets a user xattr on a sticky directory");
}

/* ---- rmdir ------------------------------------------------------------- */

static int getdents_count(int fd)
{
	char buf[4096];
	long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
	return n < 0 ? -1 : 0;
}

static int count_entries(const char *p)
{
	DIR *d = opendir(p);
	if (!d)
		return -1;
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void t_rmdir(void)
{
	if (!begin("rmdir"))
		return;
	SETUP(mkdir("n0", 0755));
	long nl = (long) nlink_of(".");
	struct tm3 d0 = times_of(".");
	tick();
	OK(rmdir("n0"), "rmdir an empty directory");
	GONE("n0");
	NLINK(".", nl - 1);
	TIMES(".", &d0, TM | TC, "rmdir");
	CHK(rmdir("sub"), ENOTEMPTY, "rmdir a non-empty directory");
	EXISTS("sub/g");
	SETUP(unlink("sub/g"));
	d0 = times_of(".");
	tick();
	OK(rmdir("sub"), "rmdir a directory that was emptied");
	GONE("sub");
	GONE("sub/g");
	NLINK(".", 2);
	TIMES(".", &d0, TM | TC, "rmdir");
	OK(mkdir("sub", 0700), "mkdir of the removed name");
	EQ(count_entries("sub"), 2, "the new directory is empty");
	GONE("sub/g");
	MODE("sub", S_IFDIR | 0700);
	NLINK("sub", 2);
	CHK(rmdir("f"), ENOTDIR, "rmdir a regular file");
	CHK(rmdir("s"), ENOTDIR, "rmdir a symlink to a file");
	SETUP(symlink("sub", "sl"));
	CHK(rmdir("sl"), ENOTDIR, "rmdir a symlink to a directory");
	CHK(rmdir("p"), ENOTDIR, "rmdir a fifo");
	CHK(rmdir("f/x"), ENOTDIR, "rmdir under a regular file");
	CHK(rmdir("."), EINVAL, "rmdir .");
	CHK(rmdir("sub/."), EINVAL, "rmdir dir/.");
	CHK(rmdir(".."), ENOTEMPTY, "rmdir ..");
	CHK(rmdir("sub/.."), ENOTEMPTY, "rmdir dir/..");
	CHK(rmdir("nx"), ENOENT, "rmdir a missing name");
	CHK(rmdir("nx/y"), ENOENT, "rmdir under a missing directory");
	CHK(rmdir(""), ENOENT, "rmdir the empty path");
	OK(rmdir("sub/"), "rmdir with a trailing slash");
	/* permissions */
	SETUP(mkdir("w", 0755));
	SETUP(chown("w", U1, G1));
	SETUP(mkdir("w/d", 0755));
	SETUP(chmod("w", 0555));
	CHK(AS(U1, G1, rmdir("w/d")), EACCES, "rmdir without write permission");
	SETUP(chmod("w", 0644));
	CHK(AS(U1, G1, rmdir("w/d")), EACCES, "rmdir without search permission");
	SETUP(chmod("w", 0755));
	OK(AS(U1, G1, rmdir("w/d")), "rmdir another user's directory in an own directory");
	/* a removed directory that is still open */
	SETUP(mkdir("n1", 0755));
	int fd = open("n1", O_RDONLY | O_DIRECTORY);
	OK(rmdir("n1"), "rmdir an open directory");
	struct stat st;
	TRUE(fstat(fd, &st) == 0 && st.st_nlink == 0, "fstat of the removed directory: st_nlink 0 (got %ld)",
	     (long) st.st_nlink);
	CHK(openat(fd, "x", O_CREAT | O_WRONLY, 0644), ENOENT, "create in a removed directory");
	CHK(mkdirat(fd, "x", 0755), ENOENT, "mkdir in a removed directory");
	CHK(getdents_count(fd), ENOENT, "getdents of a removed directory");
	close(fd);
}

/* A directory emptied by unlink (of lower-layer entries, on an overlay) is
 * empty for rename, rmdir and readdir. */
static void t_emptied(void)
{
	if (!begin("emptied directories"))
		return;
	SETUP(mkdir("E", 0755));
	SETUP(xcreat("E/new", 0644));
	CHK(rename("E", "sub"), ENOTEMPTY, "rename over a directory with an entry");
	SETUP(unlink("sub/g"));
	EQ(count_entries("sub"), 2, "the emptied directory lists . and ..");
	NLINK("sub", 2);
	ino_t ino = ino_of("E");
	OK(rename("E", "sub"), "rename over the emptied directory");
	EQ(ino_of("sub"), ino, "the name is the renamed directory");
	EXISTS("sub/new");
	GONE("sub/g");
	GONE("E");
	EQ(count_entries("sub"), 3, "it lists . .. new");
	SETUP(unlink("sub/new"));
	SETUP(mkdir("E2", 0755));
	OK(xrenameat2("E2", "sub", RENAME_EXCHANGE), "exchange with the emptied directory");
	EQ(count_entries("E2"), 2, "the exchanged directory is empty");
	OK(rmdir("E2"), "rmdir it");
	OK(rmdir("sub"), "rmdir the other");
	NLINK(".", 2);
	OK(mkdir("sub", 0755), "mkdir the name again");
	EQ(count_entries("sub"), 2, "the new directory is empty");
	OK(rename("h1", "sub/g"), "rename a file into it under an old name");
	CONTENT("sub/g", H_DATA);
	NLINK("sub/g", 2);
}

/* ---- symlink ----------------------------------------------------------- */

static void t_symlink(void)
{
	if (!begin("symlink"))
		return;
	struct tm3 d0 = times_of(".");
	tick();
	OK(symlink("target", "n0"), "symlink");
	MODE("n0", S_IFLNK | 0777);
	OWNER("n0", 0, 0);
	SIZE("n0", 6);
	NLINK("n0", 1);
	char buf[PATH_MAX + 2];
	TIMES(".", &d0, TM | TC, "symlink");
	NEWTIMES("n0", &d0);
	ssize_t n = readlink("n0", buf, sizeof buf);
	TRUE(n == 6 && !memcmp(buf, "target", 6), "readlink gives the target");
	CHK(xstatf("n0"), ENOENT, "stat follows the dangling symlink");
	EQ(readlink("n0", buf, 3), 3, "readlink truncates to the buffer");
	TRUE(!memcmp(buf, "tar", 3), "the truncated target");
	CHK(xreadlink("f"), EINVAL, "readlink of a regular file");
	CHK(xreadlink("sub"), EINVAL, "readlink of a directory");
	CHK(xreadlink("nx"), ENOENT, "readlink of a missing name");
	CHK(xreadlink("f/x"), ENOTDIR, "readlink under a regular file");
	CHK(symlink("", "n1"), ENOENT, "symlink with an empty target");
	GONE("n1");
	/* targets up to PATH_MAX - 1 bytes */
	static char t4095[PATH_MAX + 1];
	memset(t4095, 'x', PATH_MAX - 1);
	t4095[PATH_MAX - 1] = 0;
	OK(symlink(t4095, "n2"), "symlink with a %d-byte target", PATH_MAX - 1);
	SIZE("n2", PATH_MAX - 1);
	n = readlink("n2", buf, sizeof buf);
	TRUE(n == PATH_MAX - 1 && !memcmp(buf, t4095, PATH_MAX - 1), "readlink of the %d-byte target (got %zd)",
	     PATH_MAX - 1, n);
	t4095[PATH_MAX - 1] = 'x';
	t4095[PATH_MAX] = 0;
	CHK(symlink(t4095, "n3"), ENAMETOOLONG, "symlink with a %d-byte target", PATH_MAX);
	GONE("n3");
	static const char slash_t[] = "/some/absolute/../path with spaces/\t\n";
	OK(symlink(slash_t, "n4"), "symlink with an absolute target and odd bytes");
	n = readlink("n4", buf, sizeof buf);
	TRUE(n == (ssize_t) strlen(slash_t) && !memcmp(buf, slash_t, (size_t) n), "readlink gives it back");
	/* owner */
	SETUP(chown(".", U1, G1));
	OK(AS(U1, G1, symlink("t", "u0")), "symlink as %d", U1);
	OWNER("u0", U1, G1);
	MODE("u0", S_IFLNK | 0777);
	/* EEXIST and other errors */
	for (const char *t = TYPES; *t; t++)
		CHK(symlink("x", pre(*t)), EEXIST, "symlink over a %s", tname(*t));
	CHK(symlink("x", "n0"), EEXIST, "symlink over a dangling symlink");
	CHK(symlink("x", "f/x"), ENOTDIR, "symlink under a regular file");
	CHK(symlink("x", "nx/x"), ENOENT, "symlink under a missing directory");
	CHK(symlink("x", ""), ENOENT, "symlink at the empty path");
	SETUP(chown("sub", U1, G1));
	SETUP(chmod("sub", 0555));
	CHK(AS(U1, G1, symlink("x", "sub/x")), EACCES, "symlink without write permission");
	SETUP(chmod("sub", 0644));
	CHK(AS(U1, G1, symlink("x", "sub/x")), EACCES, "symlink without search permission");
	SETUP(chmod("sub", 0755));
	/* following */
	CONTENT("s", F_DATA);
	SETUP(symlink("sub", "sl"));
	CONTENT("sl/g", G_DATA);
	SETUP(symlink("../f", "sub/up"));
	CONTENT("sub/up", F_DATA);
	SETUP(symlink("sl/g", "chain"));
	CONTENT("chain", G_DATA);
}

/* ---- truncate / ftruncate ---------------------------------------------- */

static bool expect_zeros(int line, const char *p, off_t off, size_t n)
{
	char buf[8192];
	if (n > sizeof buf)
		n = sizeof buf;
	int fd = open(p, O_RDONLY);
	ssize_t r = fd < 0 ? -1 : pread(fd, buf, n, off);
	if (fd >= 0)
		close(fd);
	bool pass = r == (ssize_t) n;
	for (ssize_t i = 0; pass && i < r; i++)
		pass = buf[i] == 0;
	return report(pass, line, "not zeros", "%zu bytes at %lld of %s are zeros", n, (long long) off, dn(p));
}
#define ZEROS(p, off, n) expect_zeros(__LINE__, (p), (off), (n))

static void t_truncate(void)
{
	if (!begin("truncate"))
		return;
	struct tm3 t0 = times_of("f");
	tick();
	OK(truncate("f", 1234), "truncate to grow");
	SIZE("f", 1234);
	TIMES("f", &t0, TM | TC, "truncate to grow");
	ZEROS("f", 10, 1224);
	t0 = times_of("f");
	tick();
	OK(truncate("f", 5), "truncate to shrink");
	SIZE("f", 5);
	CONTENT("f", "01234");
	TIMES("f", &t0, TM | TC, "truncate to shrink");
	OK(truncate("f", 5), "truncate to the same size");
	SIZE("f", 5);
	OK(truncate("f", 12), "truncate to grow again");
	char want[12] = { '0', '1', '2', '3', '4' };
	char buf[32];
	TRUE(slurp("f", buf, sizeof buf) == 12 && !memcmp(buf, want, 12), "grown again: old bytes are zeros");
	CHK(xgetx("f", "user.lower"), 0, "truncate keeps xattrs");
	t0 = times_of("f");
	tick();
	OK(truncate("s", 0), "truncate through a symlink");
	SIZE("f", 0);
	MODE("s", S_IFLNK | 0777);
	TIMES("f", &t0, TM | TC, "truncate through a symlink");
	OK(truncate("h1", 1), "truncate one name of two");
	SIZE("h2", 1);
	CONTENT("h2", "h");
	OK(truncate("e", (off_t) 1 << 33), "truncate an empty file to 8 GiB");
	SIZE("e", (off_t) 1 << 33);
	TRUE(st_of("e").st_blocks < 64, "the 8 GiB file is sparse (%lld blocks)", (long long) st_of("e").st_blocks);
	ZEROS("e", ((off_t) 1 << 32) + 5, 4096);
	OK(truncate("e", 0), "truncate back to 0");
	/* errors */
	CHK(truncate("sub", 0), EISDIR, "truncate a directory");
	CHK(truncate("p", 0), EINVAL, "truncate a fifo");
	CHK(truncate("f", -1), EINVAL, "truncate to a negative length");
	errno = 0;
	int r = truncate("e", 999999999999999999LL);
	int e = errno;
	TRUE((r < 0 && e == EFBIG) || (r == 0 && st_of("e").st_size == 999999999999999999LL),
	     "truncate beyond the maximum file size: EFBIG (or done: %s)", ename(r < 0 ? e : 0));
	SETUP(truncate("e", 0));
	CHK(truncate("nx", 0), ENOENT, "truncate a missing name");
	CHK(truncate("f/x", 0), ENOTDIR, "truncate under a regular file");
	SETUP(symlink("nowhere", "dl"));
	CHK(truncate("dl", 0), ENOENT, "truncate a dangling symlink");
	/* permissions */
	SETUP(chown("e", U1, G1));
	CHK(AS(U2, G2, truncate("e", 10)), EACCES, "truncate by a non-owner of a 0644 file");
	SIZE("e", 0);
	SETUP(chmod("e", 0666));
	OK(AS(U2, G2, truncate("e", 10)), "truncate by a non-owner of a 0666 file");
	SIZE("e", 10);
	OWNER("e", U1, G1);
	SETUP(chmod("e", 0444));
	CHK(AS(U1, G1, truncate("e", 3)), EACCES, "truncate by the owner of a 0444 file");
	SETUP(chmod("e", 0644));
	OK(AS(U1, G1, truncate("e", 3)), "truncate by the owner of a 0644 file");
	SIZE("e", 3);
	SETUP(chmod("sub", 0700));
	SETUP(chmod("sub/g", 0666));
	CHK(AS(U1, G1, truncate("sub/g", 0)), EACCES, "truncate without search permission");
	SETUP(chmod("sub", 0755));
	OK(AS(U1, G1, truncate("sub/g", 0)), "truncate of a 0666 file");
	SIZE("sub/g", 0);
}

static void t_ftruncate(void)
{
	if (!begin("ftruncate"))
		return;
	int fd = open("f", O_RDWR);
	struct tm3 t0 = times_of("f");
	tick();
	OK(ftruncate(fd, 100), "ftruncate to grow");
	struct stat st;
	TRUE(fstat(fd, &st) == 0 && st.st_size == 100, "fstat after ftruncate: size 100");
	SIZE("f", 100);
	FTIMES(fd, &t0, TM | TC, "ftruncate");
	char buf[128];
	TRUE(pread(fd, buf, sizeof buf, 0) == 100 && !memcmp(buf, F_DATA, 10) && !buf[10] && !buf[99],
	     "the grown file: data then zeros");
	OK(ftruncate(fd, 100), "ftruncate to the same size");
	OK(ftruncate(fd, 0), "ftruncate to 0");
	SIZE("f", 0);
	CHK(ftruncate(fd, -1), EINVAL, "ftruncate to a negative length");
	close(fd);
	fd = open("e", O_RDONLY);
	CHK(ftruncate(fd, 10), EINVAL, "ftruncate of an O_RDONLY descriptor");
	close(fd);
	SIZE("e", 0);
	fd = open("e", O_WRONLY);
	OK(ftruncate(fd, 10), "ftruncate of an O_WRONLY descriptor");
	close(fd);
	fd = open("e", O_WRONLY | O_APPEND);
	OK(ftruncate(fd, 5), "ftruncate of an O_APPEND descriptor");
	close(fd);
	SIZE("e", 5);
	fd = open("e", O_PATH);
	CHK(ftruncate(fd, 1), EBADF, "ftruncate of an O_PATH descriptor");
	close(fd);
	CHK(ftruncate(fd, 1), EBADF, "ftruncate of a closed descriptor");
	CHK(ftruncate(-1, 1), EBADF, "ftruncate of descriptor -1");
	fd = open("sub", O_RDONLY | O_DIRECTORY);
	CHK(ftruncate(fd, 1), EINVAL, "ftruncate of a directory descriptor");
	close(fd);
	fd = open("p", O_RDWR);
	CHK(ftruncate(fd, 1), EINVAL, "ftruncate of a fifo descriptor");
	close(fd);
	/* permission is checked at open, not at ftruncate */
	SETUP(chown(".", U1, G1));
	OK(AS(U1, G1, ({
		   int f_ = open("u0", O_CREAT | O_EXCL | O_RDWR, 0);
		   f_ < 0 ? -1 : ftruncate(f_, 23);
	   })),
	   "ftruncate of a descriptor of a new mode 0 file");
	SIZE("u0", 23);
	MODE("u0", S_IFREG);
	OWNER("u0", U1, G1);
	CHK(AS(U1, G1, xopen("u0", O_RDWR, 0)), EACCES, "the mode 0 file cannot be opened again");
	SETUP(chown("h1", U1, G1));
	OK(AS(U1, G1, ({
		   int f_ = open("h1", O_WRONLY);
		   int r_ = f_ < 0 ? -1 : 0;
		   if (!r_ && fchmod(f_, 0))
			   r_ = -1;
		   if (!r_)
			   r_ = ftruncate(f_, 1);
		   r_;
	   })),
	   "ftruncate after the mode went to 0");
	SIZE("h2", 1);
	MODE("h2", S_IFREG);
}

/* ---- unlink ------------------------------------------------------------ */

static void t_unlink(void)
{
	if (!begin("unlink"))
		return;
	struct tm3 d0 = times_of(".");
	tick();
	OK(unlink("e"), "unlink a regular file");
	GONE("e");
	TIMES(".", &d0, TM | TC, "unlink");
	for (const char *t = "pcbsl"; *t; t++) {
		const char *o = pre(*t);
		d0 = times_of(".");
		tick();
		OK(unlink(o), "unlink a %s", tname(*t));
		GONE(o);
		TIMES(".", &d0, TM | TC, "unlink of a %s", tname(*t));
	}
	EXISTS("f");
	/* files made after others were removed start empty (cairn reuses the
	 * upper files of removed ones) */
	static const char big[] = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	for (int i = 0; i < 8; i++) {
		char nm[16];
		snprintf(nm, sizeof nm, "sp%d", i);
		SETUP(xcreat(nm, 0644));
		SETUP(xpwrite(nm, big, 0));
	}
	for (int i = 0; i < 8; i++) {
		char nm[16];
		snprintf(nm, sizeof nm, "sp%d", i);
		SETUP(unlink(nm));
	}
	for (int i = 0; i < 8; i++) {
		char nm[16];
		snprintf(nm, sizeof nm, "sq%d", i);
		OK(xcreat(nm, 0644), "create %s after removing others", nm);
		SIZE(nm, 0);
		SETUP(xpwrite(nm, "xyz", 0));
		CONTENT(nm, "xyz");
		SETUP(unlink(nm));
	}
	struct tm3 t0 = times_of("h2");
	tick();
	OK(unlink("h1"), "unlink one of two names");
	NLINK("h2", 1);
	CONTENT("h2", H_DATA);
	TIMES("h2", &t0, TC, "unlink of the other name");
	d0 = times_of("sub");
	tick();
	OK(unlink("sub/g"), "unlink in a subdirectory");
	TIMES("sub", &d0, TM | TC, "unlink in it");
	NLINK("sub", 2);
	EQ(count_entries("sub"), 2, "the subdirectory is empty");
	CHK(unlink("sub"), EISDIR, "unlink a directory");
	CHK(unlink("sub/"), EISDIR, "unlink a directory with a trailing slash");
	CHK(unlink("f/"), ENOTDIR, "unlink a file with a trailing slash");
	CHK(unlink("f/x"), ENOTDIR, "unlink under a regular file");
	CHK(unlink("nx"), ENOENT, "unlink a missing name");
	CHK(unlink("nx/y"), ENOENT, "unlink under a missing directory");
	CHK(unlink(""), ENOENT, "unlink the empty path");
	CHK(unlink("."), EISDIR, "unlink .");
	EXISTS("f");
	/* the name is free again: a new file has nothing of the old one */
	OK(unlink("f"), "unlink the file with xattrs");
	OK(xcreat("f", 0600), "create the name again");
	SIZE("f", 0);
	MODE("f", S_IFREG | 0600);
	CHK(xgetx("f", "user.lower"), ENODATA, "the new file has no xattrs of the old one");
	NLINK("f", 1);
	/* a directory with an entry removed and made again */
	SETUP(xfile("sub/g", "new g", 0644));
	CONTENT("sub/g", "new g");
	/* permissions */
	SETUP(mkdir("w", 0755));
	SETUP(chown("w", U1, G1));
	SETUP(xcreat("w/a", 0644));
	SETUP(chmod("w", 0555));
	CHK(AS(U1, G1, unlink("w/a")), EACCES, "unlink without write permission");
	SETUP(chmod("w", 0644));
	CHK(AS(U1, G1, unlink("w/a")), EACCES, "unlink without search permission");
	SETUP(chmod("w", 0755));
	OK(AS(U1, G1, unlink("w/a")), "unlink another user's file in an own directory");
	SETUP(xcreat("x", 0644));
	SETUP(chown("x", U1, G1));
	CHK(AS(U1, G1, unlink("x")), EACCES, "unlink an own file in another user's 0755 directory");
}

static void t_unlink_open(void)
{
	if (!begin("unlink of open files"))
		return;
	int fd = open("f", O_RDONLY);
	OK(unlink("f"), "unlink a file open for reading");
	GONE("f");
	char buf[64] = { 0 };
	TRUE(pread(fd, buf, sizeof buf, 0) == 10 && !memcmp(buf, F_DATA, 10), "the descriptor still reads the data");
	struct stat st;
	TRUE(fstat(fd, &st) == 0 && st.st_nlink == 0 && st.st_size == 10, "fstat: nlink 0, size 10 (got %ld, %lld)",
	     (long) st.st_nlink, (long long) st.st_size);
	char v[16];
	TRUE(fgetxattr(fd, "user.lower", v, sizeof v) == 7, "fgetxattr of the unlinked file");
	close(fd);
	fd = open("h1", O_RDWR);
	OK(unlink("h1"), "unlink one name of an open file");
	TRUE(fstat(fd, &st) == 0 && st.st_nlink == 1, "fstat: nlink 1 (got %ld)", (long) st.st_nlink);
	OK(unlink("h2"), "unlink its last name");
	TRUE(fstat(fd, &st) == 0 && st.st_nlink == 0, "fstat: nlink 0 (got %ld)", (long) st.st_nlink);
	EQ(pwrite(fd, "new data", 8, 0), 8, "write to the unlinked file");
	memset(buf, 0, sizeof buf);
	TRUE(pread(fd, buf, sizeof buf, 0) == 8 && !memcmp(buf, "new data", 8), "read back from the unlinked file");
	TRUE(fstat(fd, &st) == 0 && st.st_size == 8, "fstat: size 8");
	OK(ftruncate(fd, 100), "ftruncate the unlinked file");
	TRUE(fstat(fd, &st) == 0 && st.st_size == 100, "fstat: size 100");
	OK(fchmod(fd, 0600), "fchmod the unlinked file");
	TRUE(fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0600, "fstat: mode 0600");
	OK(fchown(fd, U1, G1), "fchown the unlinked file");
	TRUE(fstat(fd, &st) == 0 && st.st_uid == U1 && st.st_gid == G1, "fstat: owner");
	OK(fsetxattr(fd, "user.u", "1", 1, 0), "fsetxattr on the unlinked file");
	close(fd);
	GONE("h1");
	EQ(count_entries("."), 2 + 6, "the directory lists neither name");
	/* a file replaced by rename while open */
	fd = open("sub/g", O_RDONLY);
	SETUP(xfile("ng", "other", 0644));
	OK(rename("ng", "sub/g"), "rename over an open file");
	memset(buf, 0, sizeof buf);
	TRUE(pread(fd, buf, sizeof buf, 0) == 7 && !memcmp(buf, G_DATA, 7), "the descriptor still reads the old data");
	TRUE(fstat(fd, &st) == 0 && st.st_nlink == 0, "fstat of the replaced file: nlink 0");
	CONTENT("sub/g", "other");
	close(fd);
	/* an empty lower file written after unlink */
	fd = open("e", O_RDWR);
	OK(unlink("e"), "unlink an open empty file");
	EQ(write(fd, "xyz", 3), 3, "write to it");
	memset(buf, 0, sizeof buf);
	TRUE(pread(fd, buf, 3, 0) == 3 && !memcmp(buf, "xyz", 3), "read it back");
	close(fd);
}

/* ---- utimensat --------------------------------------------------------- */

static bool expect_ts(int line, struct timespec got, long long s, long ns, const char *what)
{
	char d[160];
	snprintf(d, sizeof d, "got %lld.%09ld, want %lld.%09ld", (long long) got.tv_sec, got.tv_nsec, s, ns);
	return report(got.tv_sec == s && got.tv_nsec == ns, line, d, "%s is %lld.%09ld", what, s, ns);
}
#define TS(got, s, ns, what) expect_ts(__LINE__, (got), (s), (ns), (what))

static void t_utimensat(void)
{
	if (!begin("utimensat"))
		return;
	struct tm3 t0 = times_of("f");
	tick();
	OK(xutimes("f", 1000000000, 123456789, 1100000000, 987654321, 0), "set atime and mtime");
	struct tm3 t1 = times_of("f");
	TS(t1.a, 1000000000, 123456789, "atime");
	TS(t1.m, 1100000000, 987654321, "mtime");
	TRUE(tscmp(t1.c, t0.c) > 0, "ctime changed");
	t0 = t1;
	tick();
	OK(xutimes("f", 0, UTIME_OMIT, 1200000000, 5, 0), "UTIME_OMIT for atime");
	t1 = times_of("f");
	TS(t1.a, 1000000000, 123456789, "atime (omitted)");
	TS(t1.m, 1200000000, 5, "mtime");
	TRUE(tscmp(t1.c, t0.c) > 0, "ctime changed");
	t0 = t1;
	tick();
	OK(xutimes("f", 1300000000, 0, 0, UTIME_OMIT, 0), "UTIME_OMIT for mtime");
	t1 = times_of("f");
	TS(t1.a, 1300000000, 0, "atime");
	TS(t1.m, 1200000000, 5, "mtime (omitted)");
	TRUE(tscmp(t1.c, t0.c) > 0, "ctime changed");
	t0 = t1;
	tick();
	OK(xutimes("f", 0, UTIME_OMIT, 0, UTIME_OMIT, 0), "UTIME_OMIT for both");
	TIMES("f", &t0, TKA, "UTIME_OMIT for both");
	t0 = times_of("f");
	tick();
	OK(xutimes("f", 0, UTIME_NOW, 0, UTIME_NOW, 0), "UTIME_NOW for both");
	t1 = times_of("f");
	TIMES("f", &t0, TA | TM | TC, "UTIME_NOW");
	TRUE(tscmp(t1.a, t1.m) == 0, "UTIME_NOW: atime == mtime");
	TRUE(tscmp(t1.c, t1.m) >= 0, "UTIME_NOW: ctime >= mtime");
	t0 = t1;
	tick();
	OK(xutimes("f", 0, UTIME_NOW, 0, UTIME_OMIT, 0), "UTIME_NOW for atime, UTIME_OMIT for mtime");
	TIMES("f", &t0, TA | TC, "UTIME_NOW/UTIME_OMIT");
	t0 = times_of("f");
	tick();
	OK(utimensat(AT_FDCWD, "f", NULL, 0), "times NULL");
	TIMES("f", &t0, TA | TM | TC, "times NULL");
	/* through and of symlinks */
	t0 = times_of("s");
	OK(xutimes("s", 1000, 1, 2000, 2, 0), "utimensat through a symlink");
	t1 = times_of("f");
	TS(t1.a, 1000, 1, "the target's atime");
	TS(t1.m, 2000, 2, "the target's mtime");
	TIMES("s", &t0, 0, "utimensat through it");
	struct tm3 tf = times_of("f");
	tick();
	OK(xutimes("s", 3000, 3, 4000, 4, AT_SYMLINK_NOFOLLOW), "utimensat AT_SYMLINK_NOFOLLOW");
	t1 = times_of("s");
	TS(t1.a, 3000, 3, "the symlink's atime");
	TS(t1.m, 4000, 4, "the symlink's mtime");
	TIMES("f", &tf, 0, "AT_SYMLINK_NOFOLLOW on the symlink");
	/* a descriptor, a directory, special files */
	int fd = open("e", O_RDONLY);
	struct timespec ts[2] = { { 5000, 5 }, { 6000, 6 } };
	OK(futimens(fd, ts), "futimens");
	close(fd);
	t1 = times_of("e");
	TS(t1.a, 5000, 5, "atime after futimens");
	TS(t1.m, 6000, 6, "mtime after futimens");
	OK(xutimes("sub", 7000, 7, 8000, 8, 0), "utimensat on a directory");
	TS(times_of("sub").m, 8000, 8, "the directory's mtime");
	OK(xutimes("p", 9000, 9, 9100, 91, 0), "utimensat on a fifo");
	TS(times_of("p").m, 9100, 91, "the fifo's mtime");
	OK(xutimes("c", 9000, 9, 9200, 92, 0), "utimensat on a device");
	TS(times_of("c").m, 9200, 92, "the device's mtime");
	/* ranges */
	static const long long secs[] = { 0, -1, -1000000000LL, 2147483647LL, 2147483648LL, 4294967296LL,
					  8589934592LL, 15032385534LL };
	for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++) {
		OK(xutimes("h1", secs[i], 999999999, secs[i], 1, 0), "mtime %lld", secs[i]);
		t1 = times_of("h2");
		TS(t1.m, secs[i], 1, "mtime");
		TS(t1.a, secs[i], 999999999, "atime");
	}
	/* errors */
	CHK(xutimes("f", 0, 1000000000, 0, 0, 0), EINVAL, "tv_nsec 1000000000");
	CHK(xutimes("f", 0, 0, 0, -1, 0), EINVAL, "tv_nsec -1");
	CHK(xutimes("f", 0, 0, 0, 0, 0x4000), EINVAL, "unknown flags");
	CHK(xutimes("nx", 0, 0, 0, 0, 0), ENOENT, "a missing name");
	CHK(xutimes("f/x", 0, 0, 0, 0, 0), ENOTDIR, "under a regular file");
	SETUP(symlink("nowhere", "dl"));
	CHK(xutimes("dl", 0, 0, 0, 0, 0), ENOENT, "a dangling symlink");
	OK(xutimes("dl", 0, 0, 0, 0, AT_SYMLINK_NOFOLLOW), "a dangling symlink, AT_SYMLINK_NOFOLLOW");
}

static void t_utimensat_perm(void)
{
	if (!begin("utimensat permissions"))
		return;
	SETUP(chown("f", U1, G1));
	SETUP(chmod("f", 0666));
	/* write permission allows "now" */
	struct tm3 t0 = times_of("f");
	tick();
	OK(AS(U2, G2, utimensat(AT_FDCWD, "f", NULL, 0)), "a non-owner with write permission: times NULL");
	TIMES("f", &t0, TA | TM | TC, "times NULL by a non-owner");
	OK(AS(U2, G2, xutimes("f", 0, UTIME_NOW, 0, UTIME_NOW, 0)), "a non-owner with write permission: UTIME_NOW");
	CHK(AS(U2, G2, xutimes("f", 1, 0, 1, 0, 0)), EPERM, "a non-owner with write permission: explicit times");
	CHK(AS(U2, G2, xutimes("f", 0, UTIME_NOW, 1, 0, 0)), EPERM, "a non-owner: UTIME_NOW and an explicit time");
	CHK(AS(U2, G2, xutimes("f", 0, UTIME_OMIT, 1, 0, 0)), EPERM, "a non-owner: UTIME_OMIT and an explicit time");
	OK(AS(U2, G2, xutimes("f", 0, UTIME_OMIT, 0, UTIME_OMIT, 0)), "a non-owner: UTIME_OMIT for both");
	int fd = open("f", O_RDONLY);
	OK(AS(U2, G2, futimens(fd, NULL)), "a non-owner with write permission: futimens NULL (O_RDONLY descriptor)");
	close(fd);
	/* without write permission */
	SETUP(chmod("f", 0644));
	CHK(AS(U2, G2, utimensat(AT_FDCWD, "f", NULL, 0)), EACCES, "a non-owner without write permission: NULL");
	CHK(AS(U2, G2, xutimes("f", 0, UTIME_NOW, 0, UTIME_NOW, 0)), EACCES,
	    "a non-owner without write permission: UTIME_NOW");
	CHK(AS(U2, G2, xutimes("f", 1, 0, 1, 0, 0)), EPERM, "a non-owner without write permission: explicit times");
	OK(AS(U2, G2, xutimes("f", 0, UTIME_OMIT, 0, UTIME_OMIT, 0)), "a non-owner without write permission: OMIT");
	/* the owner, even without write permission */
	SETUP(chmod("f", 0444));
	OK(AS(U1, G1, xutimes("f", 11, 1, 12, 2, 0)), "the owner of a 0444 file: explicit times");
	TS(times_of("f").m, 12, 2, "mtime set by the owner");
	OK(AS(U1, G1, utimensat(AT_FDCWD, "f", NULL, 0)), "the owner of a 0444 file: NULL");
	OK(xutimes("f", 21, 1, 22, 2, 0), "root: explicit times on another user's file");
	TS(times_of("f").m, 22, 2, "mtime set by root");
	/* group write permission */
	SETUP(chmod("f", 0464));
	OK(ASG(U2, G2, G1, utimensat(AT_FDCWD, "f", NULL, 0)), "a group member with group write: NULL");
	CHK(AS(U2, G2, utimensat(AT_FDCWD, "f", NULL, 0)), EACCES, "other without write: NULL");
}

/* ---- setuid / setgid clearing ------------------------------------------ */

enum { OP_WRITE, OP_TRUNCATE, OP_FTRUNCATE, OP_OTRUNC, OP_FALLOCATE, OP_PFALLOCATE, OP_COPY, OP_N };
static const char *op_name[OP_N] = { "write", "truncate", "ftruncate", "open O_TRUNC", "fallocate",
				     "posix_fallocate", "copy_file_range" };

static int do_op(int op, const char *p)
{
	switch (op) {
	case OP_WRITE: return xpwrite(p, "w", 0);
	case OP_TRUNCATE: return truncate(p, 3);
	case OP_FTRUNCATE: return xftruncate(p, 2);
	case OP_OTRUNC: return xopen(p, O_WRONLY | O_TRUNC, 0);
	case OP_FALLOCATE: return xfallocate(p, 0, 0, 8192);
	case OP_PFALLOCATE: {
		int fd = open(p, O_WRONLY);
		if (fd < 0)
			return -1;
		int r = xposix_fallocate(fd, 0, 4096);
		close(fd);
		return r;
	}
	case OP_COPY: {
		int in = open("src.cfr", O_RDONLY);
		int out = open(p, O_WRONLY);
		ssize_t n = in < 0 || out < 0 ? -1 : copy_file_range(in, NULL, out, NULL, 3, 0);
		int e = errno;
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
		errno = e;
		return n == 3 ? 0 : -1;
	}
	}
	errno = EINVAL;
	return -1;
}

static void t_suid(void)
{
	if (!begin("setuid/setgid clearing"))
		return;
	static const struct {
		mode_t mode;
		gid_t og; /* the file's group (owner U1) */
		uid_t u;
		gid_t g, g2;
		mode_t want;
		const char *who;
	} cs[] = {
		{ 06777, G1, U2, G2, NOGRP, 0777, "another user" },
		{ 04777, G1, U2, G2, NOGRP, 0777, "another user" },
		{ 02777, G1, U2, G2, NOGRP, 0777, "another user" },
		{ 02666, G1, U2, G2, NOGRP, 0666, "another user outside the group" },
		{ 02666, G1, U2, G2, G1, 02666, "another user in the group" },
		{ 04755, G1, U1, G1, NOGRP, 0755, "the owner" },
		{ 02644, G3, U1, G1, NOGRP, 0644, "the owner outside the group" },
		{ 06777, G1, 0, 0, NOGRP, 06777, "root" },
	};
	static const char *files[OP_N] = { "f", "e", "h1", "sub/g", "fa", "pfa", "cfr" };
	SETUP(xfile("fa", "", 0644));
	SETUP(xfile("pfa", "", 0644));
	SETUP(xfile("cfr", "", 0644));
	SETUP(xfile("src.cfr", "abc", 0644));
	for (int op = 0; op < OP_N; op++) {
		const char *p = files[op];
		for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
			SETUP(chown(p, U1, cs[i].og));
			SETUP(chmod(p, cs[i].mode));
			OK(ASG(cs[i].u, cs[i].g, cs[i].g2, do_op(op, p)), "%s of a 0%o file by %s", op_name[op],
			   cs[i].mode, cs[i].who);
			MODE(p, S_IFREG | cs[i].want);
		}
	}
	/* security.capability goes on a write */
	static const unsigned char cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00 };
	for (int op = 0; op < 3; op++) {
		static const char *cf[3] = { "f", "e", "h1" };
		SETUP(chown(cf[op], U1, G1));
		SETUP(chmod(cf[op], 0666));
		OK(setxattr(cf[op], "security.capability", cap, sizeof cap, 0), "set security.capability");
		char v[32];
		EQ(getxattr(cf[op], "security.capability", v, sizeof v), 20, "get security.capability");
		OK(AS(U2, G2, do_op(op, cf[op])), "%s by another user", op_name[op]);
		CHK(getxattr(cf[op], "security.capability", v, sizeof v), ENODATA,
		    "security.capability is removed by %s", op_name[op]);
	}
	OK(setxattr("f", "security.capability", cap, sizeof cap, 0), "set security.capability again");
	OK(chown("f", U2, G2), "root chown");
	char v[32];
	CHK(getxattr("f", "security.capability", v, sizeof v), ENODATA, "security.capability is removed by chown");
	/* a directory's setgid bit is not touched by creating files in it */
	SETUP(chmod("sub", 02777));
	SETUP(AS(U2, G2, xcreat("sub/new", 0644)));
	SETUP(AS(U2, G2, xpwrite("sub/new", "x", 0)));
	MODE("sub", S_IFDIR | 02777);
}

/* ---- fallocate --------------------------------------------------------- */

static void t_fallocate(void)
{
	if (!begin("fallocate"))
		return;
	int fd = open("f", O_RDWR);
	OK(xposix_fallocate(fd, 0, 65536), "posix_fallocate 64 KiB over a 10-byte file");
	struct stat st;
	TRUE(fstat(fd, &st) == 0 && st.st_size == 65536, "size 65536 (got %lld)", (long long) st.st_size);
	TRUE(st.st_blocks >= 128, "st_blocks >= 128 (got %lld)", (long long) st.st_blocks);
	close(fd);
	char buf[16] = { 0 };
	TRUE(slurp("f", buf, 10) == 10 && !memcmp(buf, F_DATA, 10), "the data is kept");
	ZEROS("f", 10, 8192);
	ZEROS("f", 65536 - 8192, 8192);
	fd = open("f", O_RDWR);
	OK(xposix_fallocate(fd, 100000, 1000), "posix_fallocate beyond the end");
	close(fd);
	SIZE("f", 101000);
	fd = open("f", O_RDWR);
	OK(xposix_fallocate(fd, 0, 100), "posix_fallocate inside the file");
	close(fd);
	SIZE("f", 101000);
	TRUE(slurp("f", buf, 10) == 10 && !memcmp(buf, F_DATA, 10), "the data is still kept");
	fd = open("e", O_RDWR);
	OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20), "fallocate FALLOC_FL_KEEP_SIZE");
	TRUE(fstat(fd, &st) == 0 && st.st_size == 0, "the size stays 0");
	TRUE(st.st_blocks >= 2048, "st_blocks >= 2048 (got %lld)", (long long) st.st_blocks);
	close(fd);
	/* punching a hole */
	SETUP(xfile("ph", "", 0644));
	fd = open("ph", O_RDWR);
	static char big[65536];
	memset(big, 'x', sizeof big);
	EQ(pwrite(fd, big, sizeof big, 0), (long long) sizeof big, "write 64 KiB");
	OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192, 16384), "punch a hole");
	TRUE(fstat(fd, &st) == 0 && st.st_size == 65536, "the size stays");
	close(fd);
	ZEROS("ph", 8192, 16384);
	fd = open("ph", O_RDONLY);
	char c1 = 0, c2 = 0;
	TRUE(pread(fd, &c1, 1, 8191) == 1 && c1 == 'x' && pread(fd, &c2, 1, 24576) == 1 && c2 == 'x',
	     "the bytes around the hole are kept");
	close(fd);
	/* errors */
	fd = open("h1", O_RDONLY);
	CHK(xposix_fallocate(fd, 0, 10), EBADF, "posix_fallocate on an O_RDONLY descriptor");
	close(fd);
	SIZE("h1", 3);
	fd = open("h1", O_RDWR);
	CHK(xposix_fallocate(fd, 0, 0), EINVAL, "posix_fallocate of length 0");
	CHK(xposix_fallocate(fd, -1, 10), EINVAL, "posix_fallocate at a negative offset");
	close(fd);
	fd = open("p", O_RDWR);
	CHK(fallocate(fd, 0, 0, 10), ESPIPE, "fallocate on a fifo");
	close(fd);
	/* the lower file through its other name */
	fd = open("h1", O_RDWR);
	OK(xposix_fallocate(fd, 0, 8192), "posix_fallocate one name of two");
	close(fd);
	SIZE("h2", 8192);
	TRUE(slurp("h2", buf, 3) == 3 && !memcmp(buf, H_DATA, 3), "the data through the other name");
	/* times */
	struct tm3 t0 = times_of("h2");
	tick();
	fd = open("h1", O_RDWR);
	OK(xposix_fallocate(fd, 0, 16384), "posix_fallocate to grow");
	close(fd);
	TIMES("h2", &t0, TM | TC, "posix_fallocate that grows the file");
}

/* ---- SEEK_DATA / SEEK_HOLE --------------------------------------------- */

static long long seek(int fd, off_t off, int whence)
{
	off_t r = lseek(fd, off, whence);
	return r < 0 ? -errno : (long long) r;
}

static void check_sparse(int fd, const char *what)
{
	EQ(seek(fd, 0, SEEK_DATA), 0, "%s: SEEK_DATA from 0", what);
	EQ(seek(fd, 0, SEEK_HOLE), SPARSE_LEN, "%s: SEEK_HOLE from 0", what);
	EQ(seek(fd, SPARSE_LEN, SEEK_DATA), SPARSE_OFF2, "%s: SEEK_DATA from the first hole", what);
	EQ(seek(fd, SPARSE_OFF2, SEEK_HOLE), SPARSE_OFF2 + SPARSE_LEN, "%s: SEEK_HOLE from the second extent", what);
	EQ(seek(fd, SPARSE_OFF2 + SPARSE_LEN, SEEK_DATA), -ENXIO, "%s: SEEK_DATA after the last extent", what);
	EQ(seek(fd, SPARSE_OFF2 + SPARSE_LEN + 4096, SEEK_HOLE), SPARSE_OFF2 + SPARSE_LEN + 4096,
	   "%s: SEEK_HOLE in the trailing hole", what);
	EQ(seek(fd, SPARSE_SIZE, SEEK_HOLE), -ENXIO, "%s: SEEK_HOLE at the end", what);
	EQ(seek(fd, SPARSE_SIZE, SEEK_DATA), -ENXIO, "%s: SEEK_DATA at the end", what);
	EQ(seek(fd, 100, SEEK_DATA), 100, "%s: SEEK_DATA inside data", what);
}

static void t_seek(void)
{
	if (!begin("SEEK_DATA SEEK_HOLE"))
		return;
	const char *sp = top_sparse();
	SIZE(sp, SPARSE_SIZE);
	TRUE(st_of(sp).st_blocks * 512 < SPARSE_SIZE / 2, "the sparse file is sparse (%lld blocks)",
	     (long long) st_of(sp).st_blocks);
	int fd = open(sp, O_RDONLY);
	check_sparse(fd, "the fixture's sparse file");
	char buf[16];
	TRUE(pread(fd, buf, 4, SPARSE_OFF2) == 4 && !memcmp(buf, "ABCD", 4), "its second extent's data");
	close(fd);
	ZEROS(sp, SPARSE_LEN, 8192);
	ZEROS(sp, SPARSE_OFF2 + SPARSE_LEN, 8192);
	/* a new sparse file, data still in the page cache */
	SETUP(fill_sparse("sp"));
	fd = open("sp", O_RDONLY);
	check_sparse(fd, "a new sparse file");
	close(fd);
	fd = open("sp", O_RDWR);
	EQ(pwrite(fd, "Z", 1, SPARSE_OFF2 / 2), 1, "write into the hole");
	EQ(seek(fd, SPARSE_LEN, SEEK_DATA), SPARSE_OFF2 / 2, "SEEK_DATA finds the new data");
	EQ(seek(fd, SPARSE_OFF2 / 2, SEEK_HOLE), SPARSE_OFF2 / 2 + 4096, "SEEK_HOLE after the new data");
	OK(fsync(fd), "fsync");
	EQ(seek(fd, SPARSE_LEN, SEEK_DATA), SPARSE_OFF2 / 2, "after fsync: SEEK_DATA finds the new data");
	close(fd);
	/* copied up: the lower file's holes stay holes */
	SETUP(link(sp, "spl"));
	fd = open("spl", O_RDWR);
	EQ(pwrite(fd, "Y", 1, SPARSE_SIZE - 4096), 1, "write near the end of the fixture's sparse file");
	EQ(seek(fd, SPARSE_LEN, SEEK_DATA), SPARSE_OFF2, "copied up: SEEK_DATA from the first hole");
	EQ(seek(fd, SPARSE_OFF2 + SPARSE_LEN, SEEK_DATA), SPARSE_SIZE - 4096, "copied up: SEEK_DATA finds the new data");
	EQ(seek(fd, 0, SEEK_HOLE), SPARSE_LEN, "copied up: SEEK_HOLE from 0");
	close(fd);
	TRUE(st_of("spl").st_blocks * 512 < SPARSE_SIZE / 2, "copied up, the file stays sparse (%lld blocks)",
	     (long long) st_of("spl").st_blocks);
	fd = open("f", O_RDONLY);
	EQ(seek(fd, 0, SEEK_DATA), 0, "SEEK_DATA in a small file");
	EQ(seek(fd, 0, SEEK_HOLE), 10, "SEEK_HOLE in a small file is its end");
	EQ(seek(fd, 10, SEEK_DATA), -ENXIO, "SEEK_DATA at the end of a small file");
	close(fd);
	fd = open("e", O_RDONLY);
	EQ(seek(fd, 0, SEEK_DATA), -ENXIO, "SEEK_DATA in an empty file");
	EQ(seek(fd, 0, SEEK_HOLE), -ENXIO, "SEEK_HOLE in an empty file");
	close(fd);
}

/* ---- xattrs ------------------------------------------------------------ */

/* Whether a listxattr list holds NAME. */
static bool list_has(const char *list, ssize_t n, const char *name)
{
	for (ssize_t i = 0; i < n; i += (ssize_t) strlen(list + i) + 1)
		if (!strcmp(list + i, name))
			return true;
	return false;
}

static bool has_xattr(const char *p, const char *name)
{
	char list[4096];
	ssize_t n = llistxattr(p, list, sizeof list);
	return n > 0 && list_has(list, n, name);
}

static void t_xattr(void)
{
	if (!begin("xattrs"))
		return;
	char v[8192];
	EQ(getxattr("f", "user.lower", v, sizeof v), 7, "the pre-made xattr's size");
	TRUE(!memcmp(v, "fixture", 7), "the pre-made xattr's value");
	TRUE(has_xattr("f", "user.lower"), "listxattr has the pre-made xattr");
	struct tm3 t0 = times_of("f");
	tick();
	OK(xsetx("f", "user.a", "v1", 0), "setxattr user.a");
	TIMES("f", &t0, TC, "setxattr");
	EQ(getxattr("f", "user.a", v, sizeof v), 2, "getxattr user.a");
	TRUE(!memcmp(v, "v1", 2), "its value");
	EQ(getxattr("f", "user.a", NULL, 0), 2, "getxattr with size 0 gives the size");
	CHK(getxattr("f", "user.a", v, 1), ERANGE, "getxattr with a short buffer");
	ssize_t ln = listxattr("f", NULL, 0);
	EQ(ln, (long long) (strlen("user.lower") + 1 + strlen("user.a") + 1), "listxattr with size 0 gives the size");
	char list[4096];
	ssize_t n = listxattr("f", list, sizeof list);
	TRUE(n == ln && list_has(list, n, "user.a") && list_has(list, n, "user.lower"), "listxattr has both names");
	CHK(listxattr("f", list, 3), ERANGE, "listxattr with a short buffer");
	CHK(xsetx("f", "user.a", "v2", XATTR_CREATE), EEXIST, "XATTR_CREATE of an existing name");
	CHK(xsetx("f", "user.nx", "v2", XATTR_REPLACE), ENODATA, "XATTR_REPLACE of a missing name");
	OK(xsetx("f", "user.a", "value two", XATTR_REPLACE), "XATTR_REPLACE of an existing name");
	EQ(getxattr("f", "user.a", v, sizeof v), 9, "the replaced value's size");
	OK(xsetx("f", "user.b", "b", XATTR_CREATE), "XATTR_CREATE of a new name");
	CHK(xgetx("f", "user.nx"), ENODATA, "getxattr of a missing name");
	CHK(removexattr("f", "user.nx"), ENODATA, "removexattr of a missing name");
	OK(setxattr("f", "user.empty", "", 0, 0), "an empty value");
	EQ(getxattr("f", "user.empty", v, sizeof v), 0, "the empty value's size");
	static const char bin[] = { 0, 1, 2, 0, (char) 0xff };
	OK(setxattr("f", "user.bin", bin, sizeof bin, 0), "a binary value");
	TRUE(getxattr("f", "user.bin", v, sizeof v) == 5 && !memcmp(v, bin, 5), "the binary value");
	static char large[4000];
	memset(large, 'L', sizeof large);
	OK(setxattr("e", "user.large", large, sizeof large, 0), "a 4000-byte value");
	TRUE(getxattr("e", "user.large", v, sizeof v) == 4000 && !memcmp(v, large, 4000), "the 4000-byte value");
	char name[300];
	snprintf(name, sizeof name, "user.%0250d", 0);
	OK(xsetx("h1", name, "x", 0), "a 255-byte name");
	EQ(getxattr("h1", name, v, sizeof v), 1, "the 255-byte name");
	snprintf(name, sizeof name, "user.%0251d", 0);
	CHK(xsetx("h1", name, "x", 0), ERANGE, "a 256-byte name");
	CHK(xgetx("h1", name), ERANGE, "getxattr of a 256-byte name");
	static char huge[65537];
	CHK(setxattr("h1", "user.huge", huge, sizeof huge, 0), E2BIG, "a value over 64 KiB");
	t0 = times_of("f");
	tick();
	OK(removexattr("f", "user.a"), "removexattr");
	TIMES("f", &t0, TC, "removexattr");
	CHK(xgetx("f", "user.a"), ENODATA, "the removed xattr is gone");
	TRUE(!has_xattr("f", "user.a"), "listxattr no longer has it");
	OK(removexattr("f", "user.lower"), "removexattr of the pre-made xattr");
	CHK(xgetx("f", "user.lower"), ENODATA, "the pre-made xattr is gone");
	TRUE(!has_xattr("f", "user.lower") && has_xattr("f", "user.b"), "listxattr after removing it");
	CHK(setxattr("f", "foo.bar", "x", 1, 0), EOPNOTSUPP, "an unknown namespace");
	CHK(xgetx("f", "foo.bar"), EOPNOTSUPP, "getxattr of an unknown namespace");
	CHK(setxattr("f", "user.", "x", 1, 0), EINVAL, "an empty name in user.");
	/* directories, symlinks, special files */
	OK(xsetx("sub", "user.d", "dir", 0), "setxattr on a directory");
	EQ(getxattr("sub", "user.d", v, sizeof v), 3, "getxattr on a directory");
	TRUE(has_xattr("sub", "user.d"), "listxattr of a directory");
	CHK(lsetxattr("s", "user.x", "1", 1, 0), EPERM, "user xattr on a symlink");
	CHK(xlgetx("s", "user.x"), ENODATA, "lgetxattr user.* of a symlink");
	OK(xsetx("s", "user.via", "link", 0), "setxattr through a symlink");
	EQ(getxattr("f", "user.via", v, sizeof v), 4, "the target got it");
	CHK(setxattr("p", "user.x", "1", 1, 0), EPERM, "user xattr on a fifo");
	CHK(setxattr("c", "user.x", "1", 1, 0), EPERM, "user xattr on a device");
	OK(lsetxattr("s", "trusted.t", "1", 1, 0), "trusted xattr on a symlink");
	EQ(lgetxattr("s", "trusted.t", v, sizeof v), 1, "the symlink's trusted xattr");
	OK(setxattr("p", "trusted.t", "1", 1, 0), "trusted xattr on a fifo");
	OK(xsetx("f", "trusted.t", "tv", 0), "trusted xattr as root");
	EQ(getxattr("f", "trusted.t", v, sizeof v), 2, "getxattr trusted.t as root");
	TRUE(has_xattr("f", "trusted.t"), "root's listxattr has trusted.t");
	/* descriptors and hardlinks */
	int fd = open("h1", O_RDONLY);
	OK(fsetxattr(fd, "user.fd", "fd", 2, 0), "fsetxattr");
	EQ(fgetxattr(fd, "user.fd", v, sizeof v), 2, "fgetxattr");
	OK(fremovexattr(fd, "user.fd"), "fremovexattr");
	CHK(fgetxattr(fd, "user.fd", v, sizeof v), ENODATA, "fgetxattr after fremovexattr");
	close(fd);
	OK(xsetx("h1", "user.hl", "shared", 0), "setxattr on one name");
	EQ(getxattr("h2", "user.hl", v, sizeof v), 6, "the other name has it");
	/* kept by rename, write, truncate, chmod */
	OK(rename("f", "f2"), "rename");
	EQ(getxattr("f2", "user.b", v, sizeof v), 1, "rename keeps xattrs");
	SETUP(xpwrite("f2", "written", 0));
	EQ(getxattr("f2", "user.b", v, sizeof v), 1, "a write keeps xattrs");
	SETUP(truncate("f2", 1));
	SETUP(chmod("f2", 0600));
	EQ(getxattr("f2", "user.b", v, sizeof v), 1, "truncate and chmod keep xattrs");
	/* permissions */
	SETUP(chown("sub/g", U1, G1));
	SETUP(xsetx("sub/g", "user.r", "r", 0));
	SETUP(xsetx("sub/g", "trusted.t", "t", 0));
	OK(AS(U2, G2, xgetx("sub/g", "user.r")), "getxattr with read permission");
	CHK(AS(U2, G2, xsetx("sub/g", "user.x", "1", 0)), EACCES, "setxattr without write permission");
	CHK(AS(U2, G2, removexattr("sub/g", "user.r")), EACCES, "removexattr without write permission");
	OK(AS(U1, G1, xsetx("sub/g", "user.x", "1", 0)), "setxattr by the owner");
	OK(AS(U1, G1, removexattr("sub/g", "user.x")), "removexattr by the owner");
	SETUP(chmod("sub/g", 0640));
	CHK(AS(U2, G2, xgetx("sub/g", "user.r")), EACCES, "getxattr without read permission");
	SETUP(chmod("sub/g", 0666));
	OK(AS(U2, G2, xsetx("sub/g", "user.x", "2", 0)), "setxattr by another user with write permission");
	CHK(AS(U1, G1, xgetx("sub/g", "trusted.t")), ENODATA, "trusted.* is invisible to other users");
	CHK(AS(U1, G1, xsetx("sub/g", "trusted.u", "1", 0)), EPERM, "trusted.* cannot be set by other users");
	OK(AS(U1, G1, ({
		   char l_[1024];
		   ssize_t n_ = listxattr("sub/g", l_, sizeof l_);
		   n_ < 0 ? -1 : list_has(l_, n_, "trusted.t") ? (errno = EEXIST, -1) : list_has(l_, n_, "user.r") ? 0 : (errno = ENOENT, -1);
	   })),
	   "a user's listxattr has user.* but no trusted.*");
	SETUP(chmod("sub", 0700));
	CHK(AS(U1, G1, xgetx("sub/g", "user.r")), EACCES, "getxattr without search permission");
	SETUP(chmod("sub", 0755));
	CHK(xgetx("nx", "user.r"), ENOENT, "getxattr of a missing name");
	CHK(xgetx("f2/x", "user.r"), ENOTDIR, "getxattr under a regular file");
}

/* ---- POSIX ACLs (the raw system.posix_acl_* xattrs) -------------------- */

#define ACL_USER_OBJ 0x01
#define ACL_USER 0x02
#define ACL_GROUP_OBJ 0x04
#define ACL_GROUP 0x08
#define ACL_MASK 0x10
#define ACL_OTHER 0x20
#define ACL_NOID 0xffffffffu

struct acl_e {
	uint16_t tag, perm;
	uint32_t id;
};

static size_t acl_build(unsigned char *buf, const struct acl_e *e, size_t n)
{
	uint32_t ver = 2;
	memcpy(buf, &ver, 4);
	for (size_t i = 0; i < n; i++)
		memcpy(buf + 4 + 8 * i, &e[i], 8);
	return 4 + 8 * n;
}

static int acl_set(const char *p, const char *name, const struct acl_e *e, size_t n)
{
	unsigned char buf[4 + 8 * 16];
	size_t len = acl_build(buf, e, n);
	return setxattr(p, name, buf, len, 0);
}
#define ACLSET(p, name, ...)                                                                       \
	({                                                                                         \
		const struct acl_e acl_e_[] = { __VA_ARGS__ };                                     \
		acl_set((p), (name), acl_e_, sizeof acl_e_ / sizeof acl_e_[0]);                    \
	})
#define ACCESS "system.posix_acl_access"
#define DEFAULT "system.posix_acl_default"

/* The perm of the entry TAG (and ID) in P's ACL NAME, -errno if none. */
static int acl_perm(const char *p, const char *name, uint16_t tag, uint32_t id)
{
	unsigned char buf[4 + 8 * 32];
	ssize_t n = getxattr(p, name, buf, sizeof buf);
	if (n < 0)
		return -errno;
	for (ssize_t off = 4; off + 8 <= n; off += 8) {
		struct acl_e e;
		memcpy(&e, buf + off, 8);
		if (e.tag == tag && (id == ACL_NOID || e.id == id))
			return e.perm;
	}
	return -ENOENT;
}

static void t_acl(void)
{
	if (!begin("POSIX ACLs"))
		return;
	SETUP(chmod("f", 0600));
	struct tm3 t0 = times_of("f");
	tick();
	OK(ACLSET("f", ACCESS, { ACL_USER_OBJ, 6, ACL_NOID }, { ACL_USER, 4, U1 }, { ACL_GROUP_OBJ, 0, ACL_NOID },
		  { ACL_MASK, 4, ACL_NOID }, { ACL_OTHER, 0, ACL_NOID }),
	   "set an access ACL (u:%d:r--)", U1);
	MODE("f", S_IFREG | 0640);
	TIMES("f", &t0, TC, "setting an ACL");
	OK(AS(U1, G1, xopen("f", O_RDONLY, 0)), "the named user reads");
	CHK(AS(U1, G1, xopen("f", O_WRONLY, 0)), EACCES, "the named user may not write");
	CHK(AS(U2, G2, xopen("f", O_RDONLY, 0)), EACCES, "another user may not read");
	EQ(acl_perm("f", ACCESS, ACL_USER, U1), 4, "getxattr gives the named user entry back");
	EQ(acl_perm("f", ACCESS, ACL_MASK, ACL_NOID), 4, "getxattr gives the mask back");
	/* the mask limits named entries */
	OK(ACLSET("f", ACCESS, { ACL_USER_OBJ, 6, ACL_NOID }, { ACL_USER, 6, U1 }, { ACL_GROUP_OBJ, 0, ACL_NOID },
		  { ACL_MASK, 4, ACL_NOID }, { ACL_OTHER, 0, ACL_NOID }),
	   "u:%d:rw- with mask r--", U1);
	CHK(AS(U1, G1, xopen("f", O_WRONLY, 0)), EACCES, "the mask denies write");
	OK(AS(U1, G1, xopen("f", O_RDONLY, 0)), "the mask allows read");
	/* named groups */
	OK(ACLSET("f", ACCESS, { ACL_USER_OBJ, 6, ACL_NOID }, { ACL_GROUP_OBJ, 0, ACL_NOID },
		  { ACL_GROUP, 6, G2 }, { ACL_MASK, 6, ACL_NOID }, { ACL_OTHER, 0, ACL_NOID }),
	   "g:%d:rw-", G2);
	MODE("f", S_IFREG | 0660);
	OK(AS(U2, G2, xopen("f", O_RDWR, 0)), "a member of the named group reads and writes");
	OK(ASG(U1, G1, G2, xopen("f", O_RDWR, 0)), "a supplementary member of the named group");
	CHK(AS(U1, G1, xopen("f", O_RDONLY, 0)), EACCES, "a non-member may not read");
	/* chmod changes the mask */
	OK(chmod("f", 0600), "chmod 0600 with an ACL");
	EQ(acl_perm("f", ACCESS, ACL_MASK, ACL_NOID), 0, "chmod set the mask to ---");
	EQ(acl_perm("f", ACCESS, ACL_GROUP, G2), 6, "chmod kept the named group's entry");
	CHK(AS(U2, G2, xopen("f", O_RDONLY, 0)), EACCES, "the named group is masked out");
	OK(chmod("f", 0640), "chmod 0640 with an ACL");
	EQ(acl_perm("f", ACCESS, ACL_MASK, ACL_NOID), 4, "the mask is r--");
	OK(AS(U2, G2, xopen("f", O_RDONLY, 0)), "the named group reads again");
	CHK(AS(U2, G2, xopen("f", O_WRONLY, 0)), EACCES, "but may not write");
	/* removing the ACL */
	OK(removexattr("f", ACCESS), "remove the access ACL");
	MODE("f", S_IFREG | 0640);
	CHK(AS(U2, G2, xopen("f", O_RDONLY, 0)), EACCES, "without the ACL the group entry is gone");
	CHK(xgetx("f", ACCESS), ENODATA, "the ACL is gone");
	/* an ACL equivalent to the mode is not kept */
	OK(ACLSET("e", ACCESS, { ACL_USER_OBJ, 6, ACL_NOID }, { ACL_GROUP_OBJ, 4, ACL_NOID },
		  { ACL_OTHER, 0, ACL_NOID }),
	   "set a minimal ACL");
	MODE("e", S_IFREG | 0640);
	CHK(xgetx("e", ACCESS), ENODATA, "a minimal ACL is the mode, nothing is stored");
	/* setting an access ACL drops setgid for an owner outside the group */
	SETUP(chown("e", U1, G3));
	SETUP(chmod("e", 02750));
	OK(AS(U1, G1, ACLSET("e", ACCESS, { ACL_USER_OBJ, 6, ACL_NOID }, { ACL_GROUP_OBJ, 4, ACL_NOID },
			 { ACL_OTHER, 0, ACL_NOID })),
	   "the owner outside the group sets an ACL on a setgid file");
	MODE("e", S_IFREG | 0640);
	SETUP(chmod("e", 02750));
	OK(ASG(U1, G1, G3, ACLSET("e", ACCESS, { ACL_USER_OBJ, 6, ACL_NOID }, { ACL_GROUP_OBJ, 4, ACL_NOID },
			      { ACL_OTHER, 0, ACL_NOID })),
	   "the owner in the group sets an ACL on a setgid file");
	MODE("e", S_IFREG | 02640);
	SETUP(chown("e", 0, 0));
	SETUP(chmod("e", 0640));
	/* errors */
	CHK(ACLSET("e", ACCESS, { ACL_USER_OBJ, 6, ACL_NOID }, { ACL_USER, 4, U1 }, { ACL_GROUP_OBJ, 4, ACL_NOID },
		   { ACL_OTHER, 0, ACL_NOID }),
	    EINVAL, "a named entry without a mask");
	CHK(ACLSET("e", ACCESS, { ACL_USER_OBJ, 6, ACL_NOID }, { ACL_OTHER, 0, ACL_NOID }), EINVAL,
	    "an ACL without a group entry");
	CHK(setxattr("e", ACCESS, "\x01\x00\x00\x00", 4, 0), EOPNOTSUPP, "an ACL of an unknown version");
	CHK(ACLSET("e", DEFAULT, { ACL_USER_OBJ, 7, ACL_NOID }, { ACL_GROUP_OBJ, 5, ACL_NOID },
		   { ACL_OTHER, 5, ACL_NOID }),
	    EACCES, "a default ACL on a file");
	CHK(AS(U1, G1, ACLSET("e", ACCESS, { ACL_USER_OBJ, 6, ACL_NOID }, { ACL_USER, 6, U1 },
			      { ACL_GROUP_OBJ, 4, ACL_NOID }, { ACL_MASK, 6, ACL_NOID }, { ACL_OTHER, 0, ACL_NOID })),
	    EPERM, "a non-owner sets an ACL");
	SETUP(chown("e", U1, G1));
	OK(AS(U1, G1, ACLSET("e", ACCESS, { ACL_USER_OBJ, 6, ACL_NOID }, { ACL_USER, 6, U2 },
			     { ACL_GROUP_OBJ, 4, ACL_NOID }, { ACL_MASK, 6, ACL_NOID }, { ACL_OTHER, 0, ACL_NOID })),
	   "the owner sets an ACL");
	OK(AS(U2, G2, xopen("e", O_RDWR, 0)), "the named user of the owner's ACL");
	/* an ACL through one name of a hardlinked file */
	OK(ACLSET("h1", ACCESS, { ACL_USER_OBJ, 6, ACL_NOID }, { ACL_USER, 6, U1 }, { ACL_GROUP_OBJ, 4, ACL_NOID },
		  { ACL_MASK, 6, ACL_NOID }, { ACL_OTHER, 0, ACL_NOID }),
	   "an ACL on one name");
	OK(AS(U1, G1, xopen("h2", O_RDWR, 0)), "it applies through the other name");
	/* search permission through an ACL */
	SETUP(mkdir("ad", 0700));
	SETUP(xcreat("ad/x", 0644));
	OK(ACLSET("ad", ACCESS, { ACL_USER_OBJ, 7, ACL_NOID }, { ACL_USER, 1, U1 }, { ACL_GROUP_OBJ, 0, ACL_NOID },
		  { ACL_MASK, 1, ACL_NOID }, { ACL_OTHER, 0, ACL_NOID }),
	   "u:%d:--x on a directory", U1);
	MODE("ad", S_IFDIR | 0710);
	OK(AS(U1, G1, xstat("ad/x")), "the named user searches the directory");
	CHK(AS(U1, G1, xopendir("ad")), EACCES, "but may not list it");
	CHK(AS(U2, G2, xstat("ad/x")), EACCES, "another user may not search it");
	/* default ACLs are inherited */
	SETUP(mkdir("da", 0755));
	OK(ACLSET("da", DEFAULT, { ACL_USER_OBJ, 7, ACL_NOID }, { ACL_USER, 7, U2 }, { ACL_GROUP_OBJ, 5, ACL_NOID },
		  { ACL_MASK, 7, ACL_NOID }, { ACL_OTHER, 0, ACL_NOID }),
	   "set a default ACL");
	MODE("da", S_IFDIR | 0755);
	EQ(acl_perm("da", DEFAULT, ACL_USER, U2), 7, "the default ACL reads back");
	OK(xopen("da/f", O_CREAT | O_WRONLY, 0666), "create a file under a default ACL (umask 022)");
	MODE("da/f", S_IFREG | 0660);
	EQ(acl_perm("da/f", ACCESS, ACL_USER, U2), 7, "the new file's ACL has the named user");
	EQ(acl_perm("da/f", ACCESS, ACL_MASK, ACL_NOID), 6, "the new file's mask is masked by the mode");
	CHK(xgetx("da/f", DEFAULT), ENODATA, "a file gets no default ACL");
	OK(AS(U2, G2, xopen("da/f", O_RDWR, 0)), "the named user opens the new file");
	OK(mkdir("da/sd", 0777), "mkdir under a default ACL");
	MODE("da/sd", S_IFDIR | 0770);
	EQ(acl_perm("da/sd", DEFAULT, ACL_USER, U2), 7, "the new directory inherits the default ACL");
	EQ(acl_perm("da/sd", ACCESS, ACL_USER, U2), 7, "the new directory's access ACL");
	OK(mkfifo("da/p", 0644), "mkfifo under a default ACL");
	MODE("da/p", S_IFIFO | 0640);
	OK(xopen("da/sd/g", O_CREAT | O_WRONLY, 0640), "create two levels down");
	MODE("da/sd/g", S_IFREG | 0640);
	EQ(acl_perm("da/sd/g", ACCESS, ACL_MASK, ACL_NOID), 4, "its mask");
	SETUP(mkdir("dm", 0755));
	OK(ACLSET("dm", DEFAULT, { ACL_USER_OBJ, 7, ACL_NOID }, { ACL_GROUP_OBJ, 5, ACL_NOID },
		  { ACL_OTHER, 0, ACL_NOID }),
	   "a minimal default ACL");
	umask(077);
	OK(xopen("dm/f", O_CREAT | O_WRONLY, 0666), "create under a minimal default ACL (umask 077)");
	MODE("dm/f", S_IFREG | 0640);
	CHK(xgetx("dm/f", ACCESS), ENODATA, "no access ACL from a minimal default ACL");
	OK(removexattr("dm", DEFAULT), "remove the default ACL");
	OK(xopen("dm/g", O_CREAT | O_WRONLY, 0666), "create without a default ACL (umask 077)");
	MODE("dm/g", S_IFREG | 0600);
	umask(022);
}

/* ---- readdir ----------------------------------------------------------- */

static unsigned char dtype_of(mode_t m)
{
	return (unsigned char) IFTODT(m);
}

static void t_readdir(void)
{
	if (!begin("readdir"))
		return;
	static const char *want[] = { ".", "..", "f", "e", "sub", "s", "p", "c", "b", "h1", "h2" };
	enum { NW = sizeof want / sizeof want[0] };
	int seen[NW] = { 0 };
	int other = 0;
	bool types = true, inos = true;
	char bad[256] = "";
	DIR *d = opendir(".");
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t i;
		for (i = 0; i < NW && strcmp(de->d_name, want[i]); i++)
			;
		if (i == NW) {
			other++;
			continue;
		}
		seen[i]++;
		struct stat st = st_of(de->d_name);
		if (de->d_type != dtype_of(st.st_mode)) {
			types = false;
			snprintf(bad, sizeof bad, "%.100s: d_type %d, want %d", de->d_name, de->d_type,
				 dtype_of(st.st_mode));
		}
		if (de->d_ino != st.st_ino) {
			inos = false;
			snprintf(bad, sizeof bad, "%.100s: d_ino %llu, st_ino %llu", de->d_name,
				 (unsigned long long) de->d_ino, (unsigned long long) st.st_ino);
		}
	}
	closedir(d);
	bool once = true;
	for (size_t i = 0; i < NW; i++)
		once = once && seen[i] == 1;
	TRUE(once && other == 0, "readdir lists every entry once and nothing else");
	report(types, __LINE__, bad, "d_type of every entry matches lstat");
	report(inos, __LINE__, bad, "d_ino of every entry (. and .. too) matches lstat");
	/* entries removed and added while reading */
	SETUP(mkdir("many", 0755));
	char n[64];
	for (int i = 0; i < 300; i++) {
		snprintf(n, sizeof n, "many/m%03d", i);
		SETUP(xcreat(n, 0644));
	}
	int cnt[300] = { 0 };
	int dots = 0, junk = 0;
	d = opendir("many");
	int k = 0;
	while ((de = readdir(d))) {
		int i;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			dots++;
		else if (sscanf(de->d_name, "m%d", &i) == 1 && i >= 0 && i < 300)
			cnt[i]++;
		else if (de->d_name[0] != 'x')
			junk++;
		if (++k == 60) {
			/* remove half of the rest and of what was seen, add some */
			for (int j = 100; j < 300; j += 2) {
				snprintf(n, sizeof n, "many/m%03d", j);
				SETUP(unlink(n));
			}
			for (int j = 0; j < 20; j++) {
				snprintf(n, sizeof n, "many/x%02d", j);
				SETUP(xcreat(n, 0644));
			}
		}
	}
	bool dup = false, missing = false;
	for (int i = 0; i < 300; i++) {
		if (cnt[i] > 1)
			dup = true;
		if (cnt[i] == 0 && (i < 100 || i % 2))
			missing = true;
	}
	TRUE(!dup && junk == 0, "no entry is returned twice while the directory changes");
	TRUE(!missing, "every entry that stayed is returned while the directory changes");
	EQ(dots, 2, ". and .. once each");
	/* rewinddir sees the current state */
	rewinddir(d);
	int total = 0;
	while ((de = readdir(d)))
		total++;
	EQ(total, 2 + 200 + 20, "after rewinddir: the current entries");
	/* telldir / seekdir */
	rewinddir(d);
	for (int i = 0; i < 10; i++)
		(void) readdir(d);
	long pos = telldir(d);
	de = readdir(d);
	char name[256];
	snprintf(name, sizeof name, "%.200s", de ? de->d_name : "");
	for (int i = 0; i < 5; i++)
		(void) readdir(d);
	seekdir(d, pos);
	de = readdir(d);
	TRUE(de && !strcmp(de->d_name, name), "seekdir back to a telldir position gives the same entry");
	closedir(d);
	/* positions survive the compaction of a directory whose entries are
	 * mostly removed while it is read */
	SETUP(mkdir("cmp", 0755));
	for (int i = 0; i < 300; i++) {
		snprintf(n, sizeof n, "cmp/c%03d", i);
		SETUP(xcreat(n, 0644));
	}
	int cseen[300] = { 0 };
	d = opendir("cmp");
	for (k = 0; k < 52 && (de = readdir(d));) {
		int i;
		if (sscanf(de->d_name, "c%d", &i) == 1 && i >= 0 && i < 300 && ++k < 52)
			cseen[i]++;
	}
	pos = telldir(d);
	de = readdir(d);
	int at = -1;
	if (de && sscanf(de->d_name, "c%d", &at) != 1)
		at = -1;
	for (int i = 0; i < 300; i++) {
		if (i % 10 && i != at) {
			snprintf(n, sizeof n, "cmp/c%03d", i);
			SETUP(unlink(n));
		}
	}
	seekdir(d, pos);
	de = readdir(d);
	int again = -2;
	if (de && sscanf(de->d_name, "c%d", &again) != 1)
		again = -2;
	EQ(again, at, "seekdir to a position taken before most entries were removed");
	for (; de; de = readdir(d)) {
		int i;
		if (sscanf(de->d_name, "c%d", &i) == 1 && i >= 0 && i < 300)
			cseen[i]++;
	}
	closedir(d);
	bool twice = false, lost = false;
	for (int i = 0; i < 300; i++) {
		twice |= cseen[i] > 1;
		lost |= cseen[i] == 0 && (i % 10 == 0 || i == at);
	}
	TRUE(!twice && !lost, "each remaining entry once across the compaction");
	for (int i = 0; i < 300; i++) {
		snprintf(n, sizeof n, "cmp/c%03d", i);
		(void) unlink(n);
	}
	SETUP(rmdir("cmp"));
	/* everything removed */
	d = opendir("many");
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(n, sizeof n, "many/%.50s", de->d_name);
		SETUP(unlink(n));
	}
	rewinddir(d);
	total = 0;
	while ((de = readdir(d)))
		total++;
	EQ(total, 2, "after removing everything: . and ..");
	closedir(d);
	/* the pre-made directory changed */
	SETUP(unlink("f"));
	SETUP(xcreat("f", 0644));
	SETUP(mkdir("n", 0755));
	SETUP(unlink("sub/g"));
	SETUP(xcreat("sub/g2", 0644));
	EQ(count_entries("."), 13, "after unlink and create of the same name: each name once");
	d = opendir("sub");
	int g2 = 0;
	total = 0;
	while ((de = readdir(d))) {
		total++;
		if (!strcmp(de->d_name, "g2"))
			g2++;
	}
	closedir(d);
	TRUE(total == 3 && g2 == 1, "the subdirectory lists . .. g2 (%d entries)", total);
	/* an unreadable directory */
	SETUP(chmod("sub", 0311));
	CHK(AS(U1, G1, xopendir("sub")), EACCES, "opendir without read permission");
	OK(AS(U1, G1, xstat("sub/g2")), "lookup with search permission");
	SETUP(chmod("sub", 0755));
	CHK(xopendir("f"), ENOTDIR, "opendir of a regular file");
	CHK(xopendir("nx"), ENOENT, "opendir of a missing name");
}

/* ---- statfs ------------------------------------------------------------ */

static void t_statfs(void)
{
	if (!begin("statfs"))
		return;
	struct statfs sf, sf2;
	OK(statfs(".", &sf), "statfs");
	EQ(sf.f_namelen, 255, "f_namelen");
	TRUE(sf.f_bsize > 0, "f_bsize > 0 (%ld)", (long) sf.f_bsize);
	TRUE(sf.f_blocks > 0, "f_blocks > 0");
	TRUE(sf.f_bfree <= sf.f_blocks, "f_bfree <= f_blocks");
	TRUE(sf.f_bavail <= sf.f_bfree, "f_bavail <= f_bfree");
	TRUE(sf.f_files == 0 || sf.f_ffree <= sf.f_files, "f_ffree <= f_files");
	int fd = open("f", O_RDONLY);
	OK(fstatfs(fd, &sf2), "fstatfs");
	close(fd);
	TRUE(sf2.f_type == sf.f_type && sf2.f_bsize == sf.f_bsize && sf2.f_blocks == sf.f_blocks &&
		     !memcmp(&sf2.f_fsid, &sf.f_fsid, sizeof sf.f_fsid),
	     "fstatfs of a file matches statfs of its directory");
	struct statvfs sv;
	OK(statvfs("sub", &sv), "statvfs");
	EQ(sv.f_namemax, 255, "f_namemax");
	TRUE(sv.f_frsize > 0 && sv.f_blocks > 0, "statvfs sizes");
	TRUE(!(sv.f_flag & ST_RDONLY), "not read-only");
	CHK(statfs("nx", &sf2), ENOENT, "statfs of a missing name");
	CHK(statfs("f/x", &sf2), ENOTDIR, "statfs under a regular file");
	struct stat st = st_of("f");
	TRUE(st.st_blksize > 0, "st_blksize > 0 (%ld)", (long) st.st_blksize);
	TRUE(st_of("sub").st_dev == st.st_dev, "st_dev is the same for the whole tree");
}

/* ---- name and path length ---------------------------------------------- */

static void t_names(void)
{
	if (!begin("NAME_MAX"))
		return;
	char n255[256], n256[257], p[300];
	memset(n255, 'n', 255);
	n255[255] = 0;
	memset(n256, 'o', 256);
	n256[256] = 0;
	OK(xcreat(n255, 0644), "create a 255-byte name");
	CHK(xcreat(n256, 0644), ENAMETOOLONG, "create a 256-byte name");
	OK(xstat(n255), "stat a 255-byte name");
	CHK(xstat(n256), ENAMETOOLONG, "stat a 256-byte name");
	OK(chmod(n255, 0600), "chmod a 255-byte name");
	CHK(chmod(n256, 0600), ENAMETOOLONG, "chmod a 256-byte name");
	OK(chown(n255, U1, G1), "chown a 255-byte name");
	CHK(chown(n256, U1, G1), ENAMETOOLONG, "chown a 256-byte name");
	OK(lchown(n255, 0, 0), "lchown a 255-byte name");
	CHK(lchown(n256, 0, 0), ENAMETOOLONG, "lchown a 256-byte name");
	OK(truncate(n255, 5), "truncate a 255-byte name");
	CHK(truncate(n256, 5), ENAMETOOLONG, "truncate a 256-byte name");
	OK(xutimes(n255, 1, 0, 1, 0, 0), "utimensat a 255-byte name");
	CHK(xutimes(n256, 1, 0, 1, 0, 0), ENAMETOOLONG, "utimensat a 256-byte name");
	OK(access(n255, F_OK), "access a 255-byte name");
	CHK(access(n256, F_OK), ENAMETOOLONG, "access a 256-byte name");
	OK(xsetx(n255, "user.x", "1", 0), "setxattr a 255-byte name");
	CHK(xsetx(n256, "user.x", "1", 0), ENAMETOOLONG, "setxattr a 256-byte name");
	CHK(xreadlink(n256), ENAMETOOLONG, "readlink a 256-byte name");
	CHK(xopen(n256, O_RDONLY, 0), ENAMETOOLONG, "open a 256-byte name");
	OK(link(n255, "l"), "link from a 255-byte name");
	OK(unlink(n255), "unlink a 255-byte name");
	CHK(unlink(n256), ENAMETOOLONG, "unlink a 256-byte name");
	OK(link("l", n255), "link to a 255-byte name");
	CHK(link("l", n256), ENAMETOOLONG, "link to a 256-byte name");
	CHK(link(n256, "l2"), ENAMETOOLONG, "link from a 256-byte name");
	OK(rename(n255, "r"), "rename from a 255-byte name");
	OK(rename("r", n255), "rename to a 255-byte name");
	CHK(rename(n255, n256), ENAMETOOLONG, "rename to a 256-byte name");
	CHK(rename(n256, "r"), ENAMETOOLONG, "rename from a 256-byte name");
	SETUP(unlink(n255));
	OK(mkdir(n255, 0755), "mkdir a 255-byte name");
	CHK(mkdir(n256, 0755), ENAMETOOLONG, "mkdir a 256-byte name");
	snprintf(p, sizeof p, "%s/x", n255);
	OK(xcreat(p, 0644), "create in a 255-byte directory");
	SETUP(unlink(p));
	OK(rmdir(n255), "rmdir a 255-byte name");
	CHK(rmdir(n256), ENAMETOOLONG, "rmdir a 256-byte name");
	OK(mkfifo(n255, 0644), "mkfifo a 255-byte name");
	CHK(mkfifo(n256, 0644), ENAMETOOLONG, "mkfifo a 256-byte name");
	SETUP(unlink(n255));
	OK(mknod(n255, S_IFCHR | 0644, makedev(1, 2)), "mknod a 255-byte name");
	CHK(mknod(n256, S_IFCHR | 0644, makedev(1, 2)), ENAMETOOLONG, "mknod a 256-byte name");
	SETUP(unlink(n255));
	OK(symlink("t", n255), "symlink at a 255-byte name");
	CHK(symlink("t", n256), ENAMETOOLONG, "symlink at a 256-byte name");
	OK(xreadlink(n255), "readlink a 255-byte name");
	SETUP(unlink(n255));
	OK(symlink(n256, "sl"), "symlink to a 256-byte name (the target is only data)");
	CHK(xstatf("sl"), ENAMETOOLONG, "following it gives ENAMETOOLONG");
	/* every byte but / and NUL */
	char all[256];
	int k = 0;
	for (int c = 1; c < 256; c++)
		if (c != '/')
			all[k++] = (char) c;
	all[k] = 0;
	OK(xcreat(all, 0644), "create a name of every byte but / and NUL (%d bytes)", k);
	OK(xstat(all), "stat it");
	DIR *d = opendir(".");
	struct dirent *de;
	int found = 0;
	while ((de = readdir(d)))
		if (!strcmp(de->d_name, all))
			found++;
	closedir(d);
	EQ(found, 1, "readdir gives the name back");
	OK(rename(all, "plain"), "rename it");
	static const char utf8[] = "\xc3\xbcnic\xc3\xb8\x64\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac";
	OK(xcreat(utf8, 0644), "create a UTF-8 name");
	OK(xstat(utf8), "stat the UTF-8 name");
	CHK(xstat("\xc3\x9cnic\xc3\xb8\x64\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac"), ENOENT, "names are case-sensitive");
	OK(xcreat("F", 0644), "F and f are two names");
	CONTENT("f", F_DATA);
	SIZE("F", 0);
}

static void t_pathmax(void)
{
	if (!begin("PATH_MAX"))
		return;
	/* base: 15 nested 255-byte directories ("c.../" * 15 = 3840 bytes) */
	static char base[PATH_MAX + 16], max[PATH_MAX + 16], over[PATH_MAX + 16], tmp[PATH_MAX + 16];
	char comp[256];
	memset(comp, 'c', 255);
	comp[255] = 0;
	base[0] = 0;
	for (int i = 0; i < 15; i++) {
		strcat(base, comp);
		if (SETUP(mkdir(base, 0755)))
			return;
		strcat(base, "/");
	}
	char last[256];
	memset(last, 'z', 255);
	last[255] = 0;
	strcpy(max, base);
	strcat(max, last);
	last[254] = 0;
	strcpy(over, "./");
	strcat(over, base);
	strcat(over, last);
	EQ(strlen(max), PATH_MAX - 1, "the long path's length");
	EQ(strlen(over), PATH_MAX, "the too long path's length");
	OK(xcreat(max, 0644), "create at a %d-byte path", PATH_MAX - 1);
	CHK(xcreat(over, 0644), ENAMETOOLONG, "create at a %d-byte path", PATH_MAX);
	strcpy(tmp, "./");
	strcat(tmp, base);
	strcat(tmp, "z");
	OK(xcreat(tmp, 0644), "a short name under the long base");
	OK(xstat(max), "stat a %d-byte path", PATH_MAX - 1);
	CHK(xstat(over), ENAMETOOLONG, "stat a %d-byte path", PATH_MAX);
	OK(chmod(max, 0600), "chmod a %d-byte path", PATH_MAX - 1);
	CHK(chmod(over, 0600), ENAMETOOLONG, "chmod a %d-byte path", PATH_MAX);
	OK(chown(max, U1, G1), "chown a %d-byte path", PATH_MAX - 1);
	CHK(chown(over, U1, G1), ENAMETOOLONG, "chown a %d-byte path", PATH_MAX);
	OK(truncate(max, 7), "truncate a %d-byte path", PATH_MAX - 1);
	CHK(truncate(over, 7), ENAMETOOLONG, "truncate a %d-byte path", PATH_MAX);
	OK(xutimes(max, 1, 0, 1, 0, 0), "utimensat a %d-byte path", PATH_MAX - 1);
	CHK(xutimes(over, 1, 0, 1, 0, 0), ENAMETOOLONG, "utimensat a %d-byte path", PATH_MAX);
	OK(access(max, R_OK), "access a %d-byte path", PATH_MAX - 1);
	CHK(access(over, R_OK), ENAMETOOLONG, "access a %d-byte path", PATH_MAX);
	OK(xsetx(max, "user.x", "1", 0), "setxattr a %d-byte path", PATH_MAX - 1);
	CHK(xsetx(over, "user.x", "1", 0), ENAMETOOLONG, "setxattr a %d-byte path", PATH_MAX);
	CHK(xopen(over, O_RDONLY, 0), ENAMETOOLONG, "open a %d-byte path", PATH_MAX);
	OK(link(max, "l"), "link from a %d-byte path", PATH_MAX - 1);
	CHK(link(over, "l2"), ENAMETOOLONG, "link from a %d-byte path", PATH_MAX);
	CHK(link("l", over), ENAMETOOLONG, "link to a %d-byte path", PATH_MAX);
	OK(unlink(max), "unlink a %d-byte path", PATH_MAX - 1);
	CHK(unlink(over), ENAMETOOLONG, "unlink a %d-byte path", PATH_MAX);
	OK(rename("l", max), "rename to a %d-byte path", PATH_MAX - 1);
	CHK(rename(max, over), ENAMETOOLONG, "rename to a %d-byte path", PATH_MAX);
	CHK(rename(over, "r"), ENAMETOOLONG, "rename from a %d-byte path", PATH_MAX);
	SETUP(unlink(max));
	OK(mkdir(max, 0755), "mkdir a %d-byte path", PATH_MAX - 1);
	CHK(mkdir(over, 0755), ENAMETOOLONG, "mkdir a %d-byte path", PATH_MAX);
	OK(rmdir(max), "rmdir a %d-byte path", PATH_MAX - 1);
	CHK(rmdir(over), ENAMETOOLONG, "rmdir a %d-byte path", PATH_MAX);
	OK(mkfifo(max, 0644), "mkfifo a %d-byte path", PATH_MAX - 1);
	CHK(mkfifo(over, 0644), ENAMETOOLONG, "mkfifo a %d-byte path", PATH_MAX);
	SETUP(unlink(max));
	OK(mknod(max, S_IFCHR | 0644, makedev(1, 2)), "mknod a %d-byte path", PATH_MAX - 1);
	CHK(mknod(over, S_IFCHR | 0644, makedev(1, 2)), ENAMETOOLONG, "mknod a %d-byte path", PATH_MAX);
	SETUP(unlink(max));
	OK(symlink("t", max), "symlink at a %d-byte path", PATH_MAX - 1);
	OK(xreadlink(max), "readlink a %d-byte path", PATH_MAX - 1);
	CHK(symlink("t", over), ENAMETOOLONG, "symlink at a %d-byte path", PATH_MAX);
	CHK(xreadlink(over), ENAMETOOLONG, "readlink a %d-byte path", PATH_MAX);
	SETUP(unlink(max));
	/* relative to a deep directory, the length counts from there */
	int fd = open(base, O_RDONLY | O_DIRECTORY);
	OK(fd < 0 ? -1 : faccessat(fd, "z", F_OK, 0), "faccessat relative to the deep directory");
	if (fd >= 0)
		close(fd);
	OK(chdir(base), "chdir into the deep directory");
	char cwd[PATH_MAX + 16];
	TRUE(getcwd(cwd, sizeof cwd) != NULL || errno == ENAMETOOLONG || errno == ERANGE,
	     "getcwd gives the path or ENAMETOOLONG");
	OK(xstat("z"), "stat relative to the deep directory");
}

/* ---- ELOOP ------------------------------------------------------------- */

static void t_eloop(void)
{
	if (!begin("ELOOP"))
		return;
	SETUP(symlink("l2", "l1"));
	SETUP(symlink("l1", "l2"));
	SETUP(symlink("self", "self"));
	CHK(xopen("l1", O_RDONLY, 0), ELOOP, "open a symlink loop");
	CHK(xopen("self", O_RDONLY, 0), ELOOP, "open a symlink to itself");
	CHK(xopen("l1", O_CREAT | O_WRONLY, 0644), ELOOP, "O_CREAT through a loop");
	CHK(xstatf("l1"), ELOOP, "stat a loop");
	OK(xstat("l1"), "lstat a loop");
	CHK(chmod("l1", 0644), ELOOP, "chmod a loop");
	CHK(chown("l1", 0, 0), ELOOP, "chown a loop");
	OK(lchown("l1", 0, 0), "lchown a loop");
	CHK(truncate("l1", 0), ELOOP, "truncate a loop");
	CHK(access("l1", F_OK), ELOOP, "access a loop");
	CHK(xutimes("l1", 1, 0, 1, 0, 0), ELOOP, "utimensat a loop");
	OK(xutimes("l1", 1, 0, 1, 0, AT_SYMLINK_NOFOLLOW), "utimensat AT_SYMLINK_NOFOLLOW of a loop");
	CHK(xopendir("l1"), ELOOP, "opendir a loop");
	CHK(xsetx("l1", "user.x", "1", 0), ELOOP, "setxattr a loop");
	CHK(xgetx("l1", "user.x"), ELOOP, "getxattr a loop");
	CHK(linkat(AT_FDCWD, "l1", AT_FDCWD, "n", AT_SYMLINK_FOLLOW), ELOOP, "linkat AT_SYMLINK_FOLLOW of a loop");
	CHK(chdir("l1"), ELOOP, "chdir a loop");
	/* a loop as a directory component */
	CHK(xopen("l1/x", O_RDONLY, 0), ELOOP, "open under a loop");
	CHK(xopen("l1/x", O_CREAT | O_WRONLY, 0644), ELOOP, "O_CREAT under a loop");
	CHK(xstat("l1/x"), ELOOP, "lstat under a loop");
	CHK(mkdir("l1/x", 0755), ELOOP, "mkdir under a loop");
	CHK(rmdir("l1/x"), ELOOP, "rmdir under a loop");
	CHK(unlink("l1/x"), ELOOP, "unlink under a loop");
	CHK(mkfifo("l1/x", 0644), ELOOP, "mkfifo under a loop");
	CHK(mknod("l1/x", S_IFCHR | 0644, 0), ELOOP, "mknod under a loop");
	CHK(symlink("t", "l1/x"), ELOOP, "symlink under a loop");
	CHK(link("f", "l1/x"), ELOOP, "link into a loop");
	CHK(link("l1/x", "n"), ELOOP, "link from under a loop");
	CHK(rename("f", "l1/x"), ELOOP, "rename into a loop");
	CHK(rename("l1/x", "n"), ELOOP, "rename from under a loop");
	CHK(chmod("l1/x", 0644), ELOOP, "chmod under a loop");
	CHK(chown("l1/x", 0, 0), ELOOP, "chown under a loop");
	CHK(truncate("l1/x", 0), ELOOP, "truncate under a loop");
	CHK(xreadlink("l1/x"), ELOOP, "readlink under a loop");
	/* a chain: 40 links are followed, 41 are too many */
	char a[16], b[16];
	SETUP(symlink("f", "c0"));
	for (int i = 1; i <= 40; i++) {
		snprintf(a, sizeof a, "c%d", i - 1);
		snprintf(b, sizeof b, "c%d", i);
		SETUP(symlink(a, b));
	}
	CONTENT("c39", F_DATA);
	CHK(xopen("c40", O_RDONLY, 0), ELOOP, "a chain of 41 symlinks");
	OK(xopen("c39", O_RDONLY, 0), "a chain of 40 symlinks");
}

/* ---- data -------------------------------------------------------------- */

static void t_data(void)
{
	if (!begin("data"))
		return;
	CONTENT("f", F_DATA);
	CONTENT("sub/g", G_DATA);
	CONTENT("h2", H_DATA);
	struct tm3 t0 = times_of("f");
	tick();
	int fd = open("f", O_WRONLY);
	EQ(pwrite(fd, "AB", 2, 5), 2, "pwrite in the middle");
	close(fd);
	CONTENT("f", "01234AB789");
	SIZE("f", 10);
	TIMES("f", &t0, TM | TC, "a write");
	MODE("f", S_IFREG | 0644);
	OWNER("f", 0, 0);
	NLINK("f", 1);
	CHK(xgetx("f", "user.lower"), 0, "a written file keeps its xattrs");
	SETUP(chown("sub/g", U1, G3));
	SETUP(chmod("sub/g", 0406));
	OK(AS(U2, G2, xpwrite("sub/g", "G", 0)), "another user writes a 0406 file");
	OWNER("sub/g", U1, G3);
	MODE("sub/g", S_IFREG | 0406);
	CONTENT("sub/g", "G-data\n");
	CHK(AS(U1, G1, xpwrite("sub/g", "x", 0)), EACCES, "the owner may not write a 0406 file");
	SETUP(chmod("sub/g", 0644));
	t0 = times_of("f");
	tick();
	char buf[64];
	TRUE(slurp("f", buf, sizeof buf) == 10, "read");
	TIMES("f", &t0, 0, "a read");
	/* hardlinks share data */
	int r = open("h2", O_RDONLY);
	t0 = times_of("h2");
	tick();
	SETUP(xpwrite("h1", "HL", 0));
	CONTENT("h2", "HL\n");
	memset(buf, 0, sizeof buf);
	TRUE(pread(r, buf, sizeof buf, 0) == 3 && !memcmp(buf, "HL\n", 3), "a descriptor opened before the write sees it");
	close(r);
	TIMES("h2", &t0, TM | TC, "a write through the other name");
	/* O_APPEND */
	fd = open("f", O_WRONLY | O_APPEND);
	lseek(fd, 0, SEEK_SET);
	EQ(write(fd, "xyz", 3), 3, "write with O_APPEND");
	close(fd);
	CONTENT("f", "01234AB789xyz");
	/* beyond the end: a hole of zeros */
	fd = open("f", O_WRONLY);
	EQ(pwrite(fd, "end", 3, 1 << 20), 3, "pwrite at 1 MiB");
	close(fd);
	SIZE("f", (1 << 20) + 3);
	ZEROS("f", 13, 8192);
	ZEROS("f", 500000, 8192);
	/* a large write reads back */
	static char big[1 << 20], back[1 << 20];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char) (i * 7 + i / 4096);
	fd = open("e", O_RDWR);
	EQ(write(fd, big, sizeof big), (long long) sizeof big, "write 1 MiB");
	OK(fsync(fd), "fsync");
	OK(fdatasync(fd), "fdatasync");
	TRUE(pread(fd, back, sizeof back, 0) == (ssize_t) sizeof back && !memcmp(big, back, sizeof big),
	     "read back 1 MiB");
	struct stat st;
	TRUE(fstat(fd, &st) == 0 && st.st_blocks >= 2048, "st_blocks after fsync (%lld)", (long long) st.st_blocks);
	close(fd);
	/* mmap */
	SETUP(xfile("mm", "", 0644));
	fd = open("mm", O_RDWR);
	SETUP(ftruncate(fd, 8192));
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TRUE(m != MAP_FAILED, "mmap MAP_SHARED");
	if (m != MAP_FAILED) {
		memcpy(m + 4096, "mapped", 6);
		OK(msync(m, 8192, MS_SYNC), "msync");
		munmap(m, 8192);
	}
	memset(buf, 0, sizeof buf);
	TRUE(pread(fd, buf, 6, 4096) == 6 && !memcmp(buf, "mapped", 6), "read sees the mmap write");
	close(fd);
	fd = open("sub/g", O_RDONLY);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	TRUE(m != MAP_FAILED && !memcmp(m, "G-data\n", 7), "mmap of the pre-made file reads its data");
	if (m != MAP_FAILED)
		munmap(m, 4096);
	close(fd);
	/* copy_file_range */
	SETUP(xfile("cp", "", 0644));
	int in = open("e", O_RDONLY), out = open("cp", O_WRONLY);
	ssize_t n = copy_file_range(in, NULL, out, NULL, sizeof big, 0);
	TRUE(n > 0, "copy_file_range (%zd)", n);
	while (n > 0 && n < (ssize_t) sizeof big) {
		ssize_t k = copy_file_range(in, NULL, out, NULL, sizeof big - (size_t) n, 0);
		if (k <= 0)
			break;
		n += k;
	}
	close(in);
	close(out);
	TRUE(slurp("cp", back, sizeof back) == (ssize_t) sizeof big && !memcmp(big, back, sizeof big),
	     "the copy has the same bytes");
	/* sendfile-free reads of a renamed lower file */
	OK(rename("sub/g", "moved"), "rename a file");
	CONTENT("moved", "G-data\n");
	/* two descriptors, one file */
	int a = open("h1", O_RDWR), b = open("h2", O_RDWR);
	EQ(pwrite(a, "1234567", 7, 0), 7, "write through one descriptor");
	memset(buf, 0, sizeof buf);
	TRUE(pread(b, buf, sizeof buf, 0) == 7 && !memcmp(buf, "1234567", 7), "read through the other");
	OK(ftruncate(b, 2), "ftruncate through the other");
	TRUE(fstat(a, &st) == 0 && st.st_size == 2, "fstat through the first: size 2");
	close(a);
	close(b);
	/* through the symlink */
	TRUE(slurp("s", buf, 13) == 13 && !memcmp(buf, "01234AB789xyz", 13), "read through the symlink");
}

/* ---- locks ------------------------------------------------------------- */

static void t_locks(void)
{
	if (!begin("locks"))
		return;
	int ready[2], done[2];
	if (pipe(ready) || pipe(done))
		bail("pipe: %s", strerror(errno));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(done[1]);
		int fd = open("f", O_RDWR);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 5 };
		char c = fcntl(fd, F_SETLK, &fl) == 0 ? 'y' : 'n';
		int fd2 = open("e", O_RDONLY);
		if (flock(fd2, LOCK_EX))
			c = 'n';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		(void) read(done[0], &c, 1);
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	char c = 0;
	TRUE(read(ready[0], &c, 1) == 1 && c == 'y', "another process takes a POSIX lock and a flock");
	int fd = open("f", O_RDWR);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	CHK(fcntl(fd, F_SETLK, &fl), EAGAIN, "F_SETLK on a locked range");
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 5 };
	OK(fcntl(fd, F_SETLK, &fl), "F_SETLK on an unlocked range");
	fl = (struct flock){ .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	OK(fcntl(fd, F_GETLK, &fl), "F_GETLK");
	TRUE(fl.l_type == F_WRLCK && fl.l_pid == pid, "F_GETLK names the other process's lock");
	int fd2 = open("e", O_RDONLY);
	CHK(flock(fd2, LOCK_EX | LOCK_NB), EWOULDBLOCK, "flock of a locked file");
	OK(flock(fd2, LOCK_SH | LOCK_NB) == 0 ? -1 : 0, "a shared flock is refused too");
	close(done[1]);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	OK(fcntl(fd, F_SETLK, &fl), "F_SETLK after the other process exited");
	OK(flock(fd2, LOCK_EX | LOCK_NB), "flock after the other process exited");
	close(fd);
	close(fd2);
}

/* ---- directory link counts --------------------------------------------- */

static void t_nlink(void)
{
	if (!begin("directory link counts"))
		return;
	NLINK(".", 3);
	NLINK("sub", 2);
	SETUP(xcreat("sub/x", 0644));
	NLINK("sub", 2);
	OK(mkdir("sub/y", 0755), "mkdir in the pre-made subdirectory");
	NLINK("sub", 3);
	for (const char *n = "ABC"; *n; n++) {
		char p[2] = { *n, 0 };
		SETUP(mkdir(p, 0755));
	}
	NLINK(".", 6);
	SETUP(mkdir("A/x", 0755));
	SETUP(mkdir("A/y", 0755));
	NLINK("A", 4);
	OK(rename("A/x", "B/x"), "move a subdirectory");
	NLINK("A", 3);
	NLINK("B", 3);
	OK(rename("B/x", "C"), "move a directory over an empty one");
	NLINK(".", 6);
	NLINK("B", 2);
	OK(rename("f", "B/f"), "move a file");
	NLINK("B", 2);
	NLINK(".", 6);
	OK(rmdir("A/y"), "rmdir");
	NLINK("A", 2);
	struct stat st;
	OK(stat("sub/.", &st), "stat dir/.");
	EQ(st.st_nlink, nlink_of("sub"), "dir/. has the directory's link count");
	OK(stat("sub/y/..", &st), "stat dir/sub/..");
	EQ(st.st_ino, ino_of("sub"), "dir/sub/.. is dir");
	OK(rmdir("sub/y"), "rmdir in the pre-made subdirectory");
	NLINK("sub", 2);
	OK(xrenameat2("sub", "C", RENAME_EXCHANGE), "exchange two directories");
	NLINK(".", 6);
	NLINK("sub", 2);
	NLINK("C", 2);
	EXISTS("C/x");
	OK(rmdir("sub"), "rmdir the exchanged directory");
	NLINK(".", 5);
	CHK(rmdir("C"), ENOTEMPTY, "rmdir the pre-made subdirectory, which has a file");
}

/* ---- ETXTBSY ----------------------------------------------------------- */

static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY);
	if (in < 0)
		return -1;
	int out = open(to, O_CREAT | O_EXCL | O_WRONLY, 0755);
	if (out < 0) {
		close(in);
		return -1;
	}
	char buf[65536];
	ssize_t n;
	int r = 0;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t) n) != n) {
			r = -1;
			break;
		}
	if (n < 0)
		r = -1;
	close(in);
	if (close(out))
		r = -1;
	return r;
}

static void t_txtbsy(void)
{
	if (!begin("ETXTBSY"))
		return;
	if (SETUP(copy_file(self_exe, "x")))
		return;
	int to[2], from[2];
	if (pipe(to) || pipe(from))
		bail("pipe: %s", strerror(errno));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[1]);
		close(from[0]);
		execl("./x", "x", "--wait-stdin", (char *) NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	char c = 0;
	TRUE(read(from[0], &c, 1) == 1 && c == 'r', "a program copied into the tree runs");
	CHK(xopen("x", O_WRONLY, 0), ETXTBSY, "open O_WRONLY of a running program");
	CHK(truncate("x", 0), ETXTBSY, "truncate of a running program");
	OK(xopen("x", O_RDONLY, 0), "open O_RDONLY of a running program");
	close(to[1]);
	close(from[0]);
	int st;
	waitpid(pid, &st, 0);
	TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the program exits");
	OK(xopen("x", O_WRONLY, 0), "open O_WRONLY after it exited");
}

/* ---- ctime on every change of the pre-made objects ---------------------- */

static void t_ctime(void)
{
	if (!begin("ctime"))
		return;
	struct tm3 t0;
#define CT2(expr, before, path, changed, what)                                                     \
	do {                                                                                       \
		t0 = times_of(before);                                                             \
		tick();                                                                            \
		OK(expr, "%s", what);                                                              \
		TIMES(path, &t0, changed, "%s", what);                                             \
	} while (0)
#define CT(expr, path, changed, what) CT2(expr, path, path, changed, what)
	CT(chmod("f", 0640), "f", TC, "chmod");
	CT(chown("f", U1, G1), "f", TC, "chown");
	CT(link("f", "f2"), "f", TC, "link");
	CT(unlink("f2"), "f", TC, "unlink of another name");
	CT2(rename("f", "f3"), "f", "f3", TC, "rename");
	CT(xsetx("f3", "user.c", "1", 0), "f3", TC, "setxattr");
	CT(removexattr("f3", "user.c"), "f3", TC, "removexattr");
	CT(xpwrite("f3", "x", 0), "f3", TM | TC, "write");
	CT(truncate("f3", 3), "f3", TM | TC, "truncate");
	CT(xutimes("f3", 0, UTIME_OMIT, 0, UTIME_OMIT, 0), "f3", TKA, "utimensat UTIME_OMIT");
	CT(xopen("f3", O_WRONLY | O_TRUNC, 0), "f3", TM | TC, "O_TRUNC");
	CT(chmod("sub", 0700), "sub", TC, "chmod of a directory");
	CT(xcreat("sub/n", 0644), "sub", TM | TC, "create in a directory");
	CT(xsetx("sub", "user.c", "1", 0), "sub", TC, "setxattr on a directory");
	CT(rename("sub/g", "sub/g2"), "sub", TM | TC, "rename in a directory");
	CT(unlink("sub/g2"), "sub", TM | TC, "unlink in a directory");
	CT(lchown("s", U1, G1), "s", TC, "lchown of a symlink");
	CT2(rename("s", "s2"), "s", "s2", TC, "rename of a symlink");
	CT(chmod("p", 0600), "p", TC, "chmod of a fifo");
	CT(chown("c", U1, G1), "c", TC, "chown of a device");
	CT(link("b", "b2"), "b", TC, "link of a device");
	CT(xpwrite("h1", "x", 0), "h2", TM | TC, "write through another name");
	CT(ACLSET("e", ACCESS, { ACL_USER_OBJ, 6, ACL_NOID }, { ACL_USER, 6, U1 }, { ACL_GROUP_OBJ, 4, ACL_NOID },
		  { ACL_MASK, 6, ACL_NOID }, { ACL_OTHER, 4, ACL_NOID }),
	   "e", TC, "setting an ACL");
#undef CT
#undef CT2
}

/* ---- main -------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: posix-conform [--lower] [--only WORD] DIR\n"
			"       posix-conform --make-fixture DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	bool fixture = false;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--wait-stdin")) {
			/* the program run by the ETXTBSY check */
			char c;
			if (write(1, "r", 1) != 1)
				return 1;
			while (read(0, &c, 1) > 0)
				;
			return 0;
		} else if (!strcmp(argv[i], "--lower")) {
			lower = true;
		} else if (!strcmp(argv[i], "--make-fixture")) {
			fixture = true;
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			only = argv[++i];
		} else if (argv[i][0] == '-' || dir) {
			usage();
		} else {
			dir = argv[i];
		}
	}
	if (!dir)
		usage();
	if (geteuid() != 0)
		bail("needs root");
	if (fixture) {
		make_fixture(dir);
		return 0;
	}
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
	if (n < 0)
		bail("readlink /proc/self/exe: %s", strerror(errno));
	self_exe[n] = 0;
	rootfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (rootfd < 0)
		bail("%s: %s", dir, strerror(errno));
	if (!lower) {
		DIR *d = fdopendir(dup(rootfd));
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "lost+found"))
				bail("%s is not empty (without --lower the suite makes its own tree)", dir);
		if (d)
			closedir(d);
	}
	struct timespec res;
	clock_getres(CLOCK_REALTIME_COARSE, &res);
	tick_ns = 2 * res.tv_nsec + 1000000;
	if (tick_ns < 2000000)
		tick_ns = 2000000;
	if (tick_ns > 50000000)
		tick_ns = 50000000;
	struct statfs sf;
	if (fstatfs(rootfd, &sf) == 0)
		diag("%s: filesystem type 0x%lx, %s", dir, (unsigned long) sf.f_type,
		     lower ? "on the fixture (--lower)" : "fresh");
	signal(SIGPIPE, SIG_IGN);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	t_open_create();
	t_open_trunc();
	t_open_errors();
	t_open_perm();
	t_dir_perm();
	t_chmod();
	t_chown();
	t_link();
	t_mkdir();
	t_mknod();
	t_rename();
	t_rename_perm();
	t_renameat2();
	t_sticky();
	t_rmdir();
	t_emptied();
	t_symlink();
	t_truncate();
	t_ftruncate();
	t_unlink();
	t_unlink_open();
	t_utimensat();
	t_utimensat_perm();
	t_suid();
	t_fallocate();
	t_seek();
	t_xattr();
	t_acl();
	t_readdir();
	t_statfs();
	t_names();
	t_pathmax();
	t_eloop();
	t_data();
	t_locks();
	t_nlink();
	t_txtbsy();
	t_ctime();

	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("1..%d\n", n_tests);
	diag("%d checks, %d failed, %d test directories, %.1f s", n_tests, n_failed, pool_next,
	     (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return n_failed ? 1 : 0;
}
