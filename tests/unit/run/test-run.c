/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of builder/run: runs busybox commands in sandboxes on small
 * rootfs directories (and on a cairn FUSE mount served by this process)
 * and checks what the command sees and what the run leaves behind.
 *
 * Needs root, namespaces and a static busybox (busybox-static); skips
 * otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cairn/error.h>
#include <cairn/fs.h>
#include <cairn/store.h>

#include "run.h"
#include "tap.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *busybox;
static const char *tmp;

static const char *const applets[] = {
	"sh",	"ls",	"cat",	"echo", "id",	"hostname", "grep", "stat",  "touch", "mkdir",
	"sleep", "wc",	"test", "true", "env",	"pwd",	    "head", "ln",    "rm",    "find",
	"mknod", "sort", "tr",	"sed",	"printf", "readlink", "cut", "mount", "chmod",
};

/* ---- helpers ------------------------------------------------------------- */

static void die(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(1);
}

static char *path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		die("asprintf");
	return p;
}

static void copy_file(const char *src, const char *dst, mode_t mode)
{
	char buf[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ssize_t n;

	if (in < 0 || out < 0)
		die(dst);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t) n) != n)
			die("write");
	close(in);
	if (fchmod(out, mode) < 0 || close(out) < 0)
		die("close");
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		die(path);
}

/* A rootfs with only /bin (busybox and its applets) under tmp/name. */
static char *make_rootfs(const char *name)
{
	char *root = path_join(tmp, name);
	char *bin = path_join(root, "bin");
	char *bb = path_join(bin, "busybox");

	if (mkdir(root, 0755) < 0 || mkdir(bin, 0755) < 0)
		die(root);
	copy_file(busybox, bb, 0755);
	for (size_t i = 0; i < ARRAY_LEN(applets); i++) {
		char *l = path_join(bin, applets[i]);
		if (symlink("busybox", l) < 0)
			die(l);
		free(l);
	}
	free(bin);
	free(bb);
	return root;
}

/* Sorted names in dir, space separated ("" when empty or missing). */
static char *list_dir(const char *dir)
{
	struct dirent **v;
	int n = scandir(dir, &v, NULL, alphasort);
	char *s = calloc(1, 4096);

	for (int i = 0; i < n; i++) {
		if (strcmp(v[i]->d_name, ".") && strcmp(v[i]->d_name, "..")) {
			if (*s)
				strcat(s, " ");
			strncat(s, v[i]->d_name, 4000 - strlen(s));
		}
		free(v[i]);
	}
	if (n >= 0)
		free(v);
	return s;
}

static int count_fds(void)
{
	char *s = list_dir("/proc/self/fd");
	int n = *s ? 1 : 0;

	for (char *p = s; *p; p++)
		n += *p == ' ';
	free(s);
	return n;
}

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "re");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static bool same_time(const char *path, const struct timespec *want)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return false;
	if (st.st_mtim.tv_sec == want[1].tv_sec && st.st_mtim.tv_nsec == want[1].tv_nsec &&
	    st.st_atim.tv_sec == want[0].tv_sec && st.st_atim.tv_nsec == want[0].tv_nsec)
		return true;
	printf("#   %s: mtime %lld.%09ld atime %lld.%09ld\n", path, (long long) st.st_mtim.tv_sec,
	       st.st_mtim.tv_nsec, (long long) st.st_atim.tv_sec, st.st_atim.tv_nsec);
	return false;
}

static const struct timespec old_times[2] = {{1000000000, 111}, {1000000000, 222}};

static void set_old_times(const char *path)
{
	if (utimensat(AT_FDCWD, path, old_times, AT_SYMLINK_NOFOLLOW) < 0)
		die(path);
}

static bool no_children(void)
{
	return waitpid(-1, NULL, WNOHANG | __WALL) < 0 && errno == ECHILD;
}

/* ---- one command ------------------------------------------------------- */

struct cmd {
	struct cairn_run_spec spec;
	char *argv[8];
	char *envp[8];
	int r, status;
	char out[16384];
	char err[1024];
};

static void cmd_init(struct cmd *c, const char *root, const char *script)
{
	memset(c, 0, sizeof(*c));
	c->argv[0] = "/bin/sh";
	c->argv[1] = "-c";
	c->argv[2] = (char *) script;
	c->envp[0] = "PATH=/bin";
	c->spec.rootfs = root;
	c->spec.argv = c->argv;
	c->spec.envp = c->envp;
}

static void cmd_run(struct cmd *c)
{
	cairn_error *err = NULL;
	int fd = memfd_create("run-out", MFD_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		die("memfd_create");
	c->spec.out_fd = fd;
	c->status = -1;
	c->r = cairn_run(&c->spec, &c->status, &err);
	n = pread(fd, c->out, sizeof(c->out) - 1, 0);
	c->out[n > 0 ? n : 0] = '\0';
	snprintf(c->err, sizeof(c->err), "%s", err && err->msg ? err->msg : "");
	if (c->r < 0)
		printf("#   cairn_run: %d %s\n", c->r, c->err);
	cairn_error_free(err);
	close(fd);
}

/* Runs script, true if it ran and exited 0. */
static bool sh_ok(struct cmd *c, const char *root, const char *script)
{
	cmd_init(c, root, script);
	cmd_run(c);
	if (c->r == 0 && WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0)
		return true;
	printf("#   script: %s\n#   status %#x, output: %s\n", script, c->status, c->out);
	return false;
}

/* ---- the tests --------------------------------------------------------- */

/* Our child (the sandbox) once it runs "sleep": its pid, or 0. */
static pid_t find_sleeping_child(void)
{
	struct dirent **v;
	int n = scandir("/proc", &v, NULL, NULL);
	pid_t found = 0;
	char want[64];

	snprintf(want, sizeof(want), "\nPPid:\t%d\n", (int) getpid());
	for (int i = 0; i < n; i++) {
		char path[300], buf[4096];
		snprintf(path, sizeof(path), "/proc/%s/status", v[i]->d_name);
		FILE *f = fopen(path, "re");
		size_t len = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		buf[len] = '\0';
		if (f)
			fclose(f);
		if (strncmp(buf, "Name:\tsleep\n", 12) == 0 && strstr(buf, want))
			found = atoi(v[i]->d_name);
		free(v[i]);
	}
	if (n >= 0)
		free(v);
	return found;
}

static void *killer_main(void *arg)
{
	for (int tries = 0; tries < 1000; tries++) {
		pid_t pid = find_sleeping_child();
		if (pid > 0) {
			kill(pid, SIGKILL);
			break;
		}
		usleep(10000);
	}
	return arg;
}

static void test_basics(const char *root)
{
	struct cmd c;

	cmd_init(&c, root, "exit 3");
	cmd_run(&c);
	ok(c.r == 0 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 3, "exit status 3 propagates");

	/* PID 1 ignores SIGKILL from inside its namespace: kill it from here */
	pthread_t t;
	cmd_init(&c, root, "exec sleep 30");
	pthread_create(&t, NULL, killer_main, NULL);
	cmd_run(&c);
	pthread_join(t, NULL);
	ok(c.r == 0 && WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGKILL,
	   "death by a signal is a wait status");

	sh_ok(&c, root, "echo to-stdout; echo to-stderr >&2");
	is_str(c.out, "to-stdout\nto-stderr\n", "stdout and stderr both go to out_fd");

	sh_ok(&c, root, "cat; echo rc=$?");
	is_str(c.out, "rc=0\n", "stdin is /dev/null");

	cmd_init(&c, root, "echo \"$FOO|$PATH\"; env | sort");
	c.envp[1] = "FOO=bar baz";
	cmd_run(&c);
	is_str(c.out, "bar baz|/bin\nFOO=bar baz\nPATH=/bin\nPWD=/\nSHLVL=1\n",
	       "the environment is exactly envp");

	cmd_init(&c, root, "echo $$; echo $PPID");
	cmd_run(&c);
	is_str(c.out, "1\n0\n", "the command is PID 1 of its own PID namespace");

	sh_ok(&c, root, "hostname");
	is_str(c.out, "buildkitsandbox\n", "default hostname");
	cmd_init(&c, root, "hostname");
	c.spec.hostname = "myhost";
	cmd_run(&c);
	is_str(c.out, "myhost\n", "hostname from the spec");
}

static void test_cwd_user(const char *root)
{
	struct cmd c;
	struct stat st;
	char *wd = path_join(root, "work/dir");
	const gid_t groups[] = {10, 20, 30};

	cmd_init(&c, root, "pwd; touch f && echo made");
	c.spec.cwd = "/work/dir";
	c.spec.uid = 1000;
	c.spec.gid = 1001;
	cmd_run(&c);
	is_str(c.out, "/work/dir\nmade\n", "cwd applied, created when missing");
	ok(stat(wd, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755 &&
	       st.st_uid == 1000 && st.st_gid == 1001,
	   "the created cwd is kept, 0755, owned by uid:gid");
	free(wd);

	cmd_init(&c, root, "id -u; id -g; id -G; grep -E '^(CapEff|CapPrm)' /proc/self/status");
	c.spec.uid = 1000;
	c.spec.gid = 1001;
	c.spec.groups = groups;
	c.spec.n_groups = ARRAY_LEN(groups);
	cmd_run(&c);
	is_str(c.out, "1000\n1001\n1001 10 20 30\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n",
	       "uid, gid and groups applied; a non-root user has no capabilities");

	cmd_init(&c, root, "id -G");
	cmd_run(&c);
	is_str(c.out, "0\n", "root without groups: no supplementary groups of the builder");

	cmd_init(&c, root, "pwd");
	c.spec.cwd = "relative";
	cmd_run(&c);
	ok(c.r == -EINVAL && strstr(c.err, "not absolute"), "a relative cwd is refused");
}

/* Docker's masked and read-only paths, as far as this kernel has them. */
static void test_protections(const char *root)
{
	static const char *const files[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list"};
	static const char *const dirs[] = {"/proc/acpi", "/proc/scsi", "/sys/firmware"};
	static const char *const ro[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq"};
	char script[4096] = "", want[4096] = "", part[512];
	struct cmd c;

	for (size_t i = 0; i < ARRAY_LEN(files); i++)
		if (access(files[i], F_OK) == 0) {
			snprintf(part, sizeof(part), "wc -c < %s; ", files[i]);
			strcat(script, part);
			strcat(want, "0\n");
		}
	for (size_t i = 0; i < ARRAY_LEN(dirs); i++)
		if (access(dirs[i], F_OK) == 0) {
			snprintf(part, sizeof(part), "ls %s | wc -l; ", dirs[i]);
			strcat(script, part);
			strcat(want, "0\n");
		}
	for (size_t i = 0; i < ARRAY_LEN(ro); i++)
		if (access(ro[i], F_OK) == 0) {
			snprintf(part, sizeof(part),
				 "grep ' %s ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1; ", ro[i]);
			strcat(script, part);
			strcat(want, "ro\n");
		}
	strcat(script, "echo x 2>/dev/null > /proc/sys/kernel/hostname || echo refused");
	strcat(want, "refused\n");
	sh_ok(&c, root, script);
	is_str(c.out, want, "masked and read-only paths of /proc and /sys");
}

static void test_proc_dev_sys(const char *root)
{
	struct cmd c;

	sh_ok(&c, root, "ls /proc | grep -c '^[0-9]'");
	ok(atoi(c.out) >= 1 && atoi(c.out) <= 3, "/proc shows only the sandbox's processes (%d)",
	   atoi(c.out));
	sh_ok(&c, root, "cat /proc/1/cmdline | tr '\\0' ' '");
	is_str(c.out, "/bin/sh -c cat /proc/1/cmdline | tr '\\0' ' ' ", "/proc/1 is the command");
	sh_ok(&c, root, "grep -E ' /(proc|sys|dev|dev/pts|dev/shm|dev/mqueue) ' /proc/self/mounts "
			"| cut -d' ' -f2-4 | cut -d, -f1");
	is_str(c.out,
	       "/proc proc rw\n/dev tmpfs rw\n/dev/pts devpts rw\n/dev/shm tmpfs rw\n"
	       "/dev/mqueue mqueue rw\n/sys sysfs ro\n",
	       "proc, dev, devpts, shm, mqueue and a read-only sysfs are mounted");

	sh_ok(&c, root, "ls -a /dev | tr '\\n' ' '");
	is_str(c.out,
	       ". .. core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom "
	       "zero ",
	       "/dev holds runc's entries and no host device");
	sh_ok(&c, root, "echo x > /dev/null && wc -c < /dev/null && head -c 4 /dev/zero | wc -c && "
			"head -c 8 /dev/urandom | wc -c && readlink /dev/ptmx && readlink /dev/fd && "
			"readlink /dev/core");
	is_str(c.out, "0\n4\n8\npts/ptmx\n/proc/self/fd\n/proc/kcore\n",
	       "/dev/null, zero and urandom work; ptmx, fd, core links");
	sh_ok(&c, root, "stat -c '%a %A' /dev/shm /dev/pts/ptmx /dev/null");
	is_str(c.out, "1777 drwxrwxrwt\n666 crw-rw-rw-\n666 crw-rw-rw-\n", "modes of /dev entries");

	test_protections(root);

	/* no devices cgroup: device nodes the command makes must be useless */
	sh_ok(&c, root, "mkdir -p /tmp && mknod /tmp/n c 1 3 && (cat /tmp/n && echo opened || echo "
			"denied); rm -f /tmp/n");
	ok(strstr(c.out, "denied") != NULL, "a device node made by the command can't be opened");
}

static char *net_names(const char *text)
{
	char *out = calloc(1, 4096);
	const char *p = text;

	while ((p = strchr(p, ':'))) {
		const char *s = p;
		while (s > text && s[-1] != '\n' && s[-1] != ' ')
			s--;
		if (s != p && strlen(out) + (size_t) (p - s) + 2 < 4096) {
			strncat(out, s, (size_t) (p - s));
			strcat(out, " ");
		}
		p = strchr(p, '\n');
		if (!p)
			break;
	}
	return out;
}

static void test_network(const char *root)
{
	struct cmd c;
	char host[16384] = "";
	FILE *f = fopen("/proc/net/dev", "re");

	if (f) {
		size_t n = fread(host, 1, sizeof(host) - 1, f);
		host[n] = '\0';
		fclose(f);
	}
	cmd_init(&c, root, "cat /proc/net/dev; cat /sys/class/net/lo/flags");
	c.spec.network = CAIRN_RUN_NET_NONE;
	cmd_run(&c);
	char *names = net_names(c.out);
	is_str(names, "lo ", "NET_NONE: only lo");
	ok(strstr(c.out, "0x9\n") != NULL, "NET_NONE: lo is up");
	free(names);

	cmd_init(&c, root, "cat /proc/net/dev");
	cmd_run(&c);
	names = net_names(c.out);
	char *want = net_names(host);
	is_str(names, want, "NET_HOST: the host's interfaces");
	free(names);
	free(want);
}

static void test_etc_files(const char *root)
{
	struct cmd c;
	char host_resolv[8192] = "";
	FILE *f = fopen("/etc/resolv.conf", "re");

	if (f) {
		size_t n = fread(host_resolv, 1, sizeof(host_resolv) - 1, f);
		host_resolv[n] = '\0';
		fclose(f);
	}
	sh_ok(&c, root, "cat /etc/hosts");
	is_str(c.out, "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
	       "/etc/hosts");
	cmd_init(&c, root, "cat /etc/resolv.conf");
	c.spec.network = CAIRN_RUN_NET_NONE;
	cmd_run(&c);
	is_str(c.out, host_resolv, "/etc/resolv.conf is the host's (NET_NONE too)");
	sh_ok(&c, root, "echo x 2>/dev/null >> /etc/hosts || echo refused");
	is_str(c.out, "refused\n", "/etc/hosts is read-only");
	cmd_init(&c, root, "grep myname /etc/hosts");
	c.spec.hostname = "myname";
	cmd_run(&c);
	is_str(c.out, "127.0.0.1\tlocalhost myname\n", "/etc/hosts names the hostname");
}

/* A scratch-like rootfs: no /proc /dev /sys /etc.  Nothing may remain. */
static void test_stubs_scratch(void)
{
	char *root = make_rootfs("scratch");
	char *bin = path_join(root, "bin");
	struct cmd c;

	set_old_times(root);
	set_old_times(bin);
	ok(sh_ok(&c, root, "ls -d /proc/1 /dev/null /sys/class /etc/hosts /etc/resolv.conf"),
	   "scratch rootfs: the mount points exist during the run");
	/* times first: reading a directory updates its atime */
	ok(same_time(root, old_times), "scratch rootfs: times of / unchanged");
	ok(same_time(bin, old_times), "scratch rootfs: times of /bin unchanged");
	char *ls = list_dir(root);
	is_str(ls, "bin", "scratch rootfs: no stub left");
	free(ls);

	/* a rootfs with an (old) /etc: stub files in it vanish, its times stay */
	char *etc = path_join(root, "etc");
	if (mkdir(etc, 0755) < 0)
		die(etc);
	set_old_times(etc);
	set_old_times(root);
	sh_ok(&c, root, "true");
	ok(same_time(etc, old_times), "existing /etc: times unchanged");
	ok(same_time(root, old_times), "existing /etc: times of / unchanged");
	ls = list_dir(etc);
	is_str(ls, "", "existing /etc: no stub left in it");
	free(ls);

	/* the command changes / itself: / keeps the command's mtime */
	struct stat st;
	time_t start = time(NULL);
	sh_ok(&c, root, "touch /newfile");
	ok(stat(root, &st) == 0 && st.st_mtim.tv_sec >= start,
	   "a directory the command changed keeps the command's mtime");
	char *nf = path_join(root, "newfile");
	unlink(nf);
	free(nf);

	/* the command writes into a stub directory: it stays, the stub file goes */
	if (rmdir(etc) < 0)
		die(etc);
	sh_ok(&c, root, "echo hello > /etc/motd");
	ls = list_dir(etc);
	is_str(ls, "motd", "a stub directory the command wrote into stays, without the stub files");
	free(ls);
	free(etc);
	free(bin);
	free(root);
}

/* A rootfs that has /proc, /dev, /sys, /etc/hosts: all are kept as they were. */
static void test_stubs_existing(void)
{
	char *root = make_rootfs("full");
	const char *dirs[] = {"proc", "dev", "sys", "etc"};
	struct cmd c;

	for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
		char *d = path_join(root, dirs[i]);
		if (mkdir(d, 0755) < 0)
			die(d);
		free(d);
	}
	char *hosts = path_join(root, "etc/hosts");
	write_text(hosts, "image hosts\n");
	sh_ok(&c, root, "cat /etc/hosts | head -c 9");
	is_str(c.out, "127.0.0.1", "the image's /etc/hosts is covered during the run");
	char *ls = list_dir(root);
	is_str(ls, "bin dev etc proc sys", "existing mount points are kept");
	free(ls);
	ls = list_dir(root);
	char buf[64] = "";
	FILE *f = fopen(hosts, "re");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	is_str(buf, "image hosts\n", "the image's /etc/hosts is untouched");
	free(ls);
	free(hosts);
	free(root);
}

static void test_mounts(const char *root)
{
	char *rw = path_join(tmp, "bind-rw"), *ro = path_join(tmp, "bind-ro");
	char *file = path_join(tmp, "bind-file");
	struct cmd c;

	if (mkdir(rw, 0755) < 0 || mkdir(ro, 0755) < 0)
		die("mkdir");
	write_text(file, "file content\n");
	char *rof = path_join(ro, "f");
	write_text(rof, "ro content\n");
	free(rof);
	struct cairn_run_mount m[] = {
		{.type = CAIRN_RUN_BIND, .source = rw, .target = "/mnt/rw"},
		{.type = CAIRN_RUN_BIND, .source = ro, .target = "/mnt/ro", .readonly = true},
		{.type = CAIRN_RUN_BIND, .source = file, .target = "/etc/app/conf"},
		{.type = CAIRN_RUN_TMPFS, .target = "/cache", .size = 1 << 20},
		{.type = CAIRN_RUN_BIND, .source = ro, .target = "/cache/sub/ro", .readonly = true},
		{.type = CAIRN_RUN_TMPFS, .target = "/dev/custom", .mode = 0700},
	};
	cmd_init(&c, root,
		 "echo new > /mnt/rw/new && cat /mnt/ro/f && (echo x 2>/dev/null > /mnt/ro/g || echo ro-refused) "
		 "&& cat /etc/app/conf && echo t > /cache/t && cat /cache/t /cache/sub/ro/f && "
		 "stat -c %a /cache /dev/custom && grep ' /cache ' /proc/self/mounts | grep -c size=1024k");
	c.spec.mounts = m;
	c.spec.n_mounts = ARRAY_LEN(m);
	cmd_run(&c);
	is_str(c.out,
	       "ro content\nro-refused\nfile content\nt\nro content\n1777\n700\n1\n",
	       "rw and ro binds, a file bind, tmpfs mounts (nested, sized, under /dev)");
	char *made = path_join(rw, "new");
	ok(access(made, F_OK) == 0, "a write to the rw bind reaches the host");
	free(made);
	char *ls = list_dir(root);
	is_str(ls, "bin tmp work", "mount stubs of the caller's mounts vanish");
	free(ls);
	free(rw);
	free(ro);
	free(file);
}

static void test_escapes(void)
{
	char *root = make_rootfs("escape");
	char *hostdir = path_join(tmp, "host-etc");
	char *secret = path_join(tmp, "secret-4d1a7c");
	char *etc = path_join(root, "etc");
	char script[8192];
	struct cmd c;

	write_text(secret, "secret\n");
	if (mkdir(hostdir, 0755) < 0 || symlink(hostdir, etc) < 0)
		die(hostdir);
	snprintf(script, sizeof(script),
		 "find / -path /proc -prune -o -path /sys -prune -o -name secret-4d1a7c -print; "
		 "cat %s 2>/dev/null; cat /proc/1/root%s 2>/dev/null; head -c 9 /etc/hosts",
		 secret, secret);
	sh_ok(&c, root, script);
	is_str(c.out, "127.0.0.1", "the host's root is not reachable; /etc/hosts via the link works");
	char *ls = list_dir(hostdir);
	is_str(ls, "", "an absolute /etc link to a host directory: nothing created there");
	free(ls);
	ls = list_dir(root);
	is_str(ls, "bin etc", "... nor left in the rootfs");
	free(ls);

	/* a relative link climbing out of the rootfs */
	if (unlink(etc) < 0 || symlink("../../../../../../../../../../../../host-etc2", etc) < 0)
		die(etc);
	char *hostdir2 = path_join(tmp, "host-etc2");
	if (mkdir(hostdir2, 0755) < 0)
		die(hostdir2);
	sh_ok(&c, root, "head -c 9 /etc/hosts");
	ls = list_dir(hostdir2);
	is_str(ls, "", "a relative ../../.. link: nothing created outside the rootfs");
	free(ls);
	ls = list_dir(root);
	is_str(ls, "bin etc", "... nor left in the rootfs");
	free(ls);

	/* systemd's resolv.conf link into a missing directory */
	if (unlink(etc) < 0 || mkdir(etc, 0755) < 0)
		die(etc);
	char *rc = path_join(etc, "resolv.conf");
	if (symlink("../run/systemd/resolve/stub-resolv.conf", rc) < 0)
		die(rc);
	sh_ok(&c, root, "cat /etc/resolv.conf | wc -l; ls /run/systemd/resolve");
	struct stat st;
	ok(lstat(rc, &st) == 0 && S_ISLNK(st.st_mode), "resolv.conf link: the link stays");
	ls = list_dir(root);
	is_str(ls, "bin etc", "resolv.conf link: the stub at its target vanishes");
	free(ls);
	is_str(strstr(c.out, "\n") ? strstr(c.out, "\n") + 1 : "", "stub-resolv.conf\n",
	       "resolv.conf link: the mount sits on the link's target");
	free(rc);
	free(hostdir2);
	free(etc);
	free(secret);
	free(hostdir);
	free(root);
}

static void test_exec_errors(const char *root)
{
	struct cmd c;

	cmd_init(&c, root, NULL);
	c.argv[0] = "no-such-command";
	c.argv[1] = NULL;
	cmd_run(&c);
	ok(c.r == 0 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 127,
	   "command not found: status 127");
	ok(strstr(c.out, "\"no-such-command\": executable file not found in $PATH") != NULL,
	   "command not found: a message on out_fd");
	if (!strstr(c.out, "not found"))
		printf("#   %s", c.out);

	cmd_init(&c, root, NULL);
	c.argv[0] = "/bin/nope";
	c.argv[1] = NULL;
	cmd_run(&c);
	ok(c.r == 0 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 127 &&
	       strstr(c.out, "No such file or directory"),
	   "missing absolute path: status 127");

	cmd_init(&c, root, NULL);
	c.argv[0] = "/etc/hosts";
	c.argv[1] = NULL;
	cmd_run(&c);
	ok(c.r == 0 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 126,
	   "not executable: status 126");

	cmd_init(&c, root, NULL);
	c.argv[0] = "echo";
	c.argv[1] = "looked up";
	c.argv[2] = NULL;
	c.envp[0] = NULL;
	cmd_run(&c);
	is_str(c.out, "looked up\n", "without PATH in envp the default PATH is searched");
}

static void test_caps_signals(const char *root)
{
	struct cmd c;

	sh_ok(&c, root, "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status");
	is_str(c.out,
	       "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n"
	       "CapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n",
	       "root gets Docker's default capability set");

	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigaction(SIGPIPE, &ign, &old);
	cmd_init(&c, root, NULL);
	c.argv[0] = "grep";
	c.argv[1] = "-E";
	c.argv[2] = "^Sig(Blk|Ign)";
	c.argv[3] = "/proc/self/status";
	cmd_run(&c);
	sigaction(SIGPIPE, &old, NULL);
	is_str(c.out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
	       "no signal ignored or blocked although the builder ignores SIGPIPE");
}

static void test_lifecycle(const char *root)
{
	struct cmd c;
	struct timespec t0, t1;
	int fds = count_fds(), mounts = count_lines("/proc/self/mountinfo");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	sh_ok(&c, root, "sleep 60 & sleep 60 & echo started");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ok(t1.tv_sec - t0.tv_sec < 20, "processes left behind die with the command");
	ok(no_children(), "no child and no zombie remains");

	bool all = true;
	for (int i = 0; i < 50; i++)
		all &= sh_ok(&c, root, "echo $$");
	ok(all, "50 runs in a row");
	is_int(count_fds(), fds, "no descriptor leaked");
	is_int(count_lines("/proc/self/mountinfo"), mounts, "no mount left on the host");
	ok(no_children(), "still no child");

	sh_ok(&c, root, "ls /proc/self/fd | tr '\\n' ' '");
	is_str(c.out, "0 1 2 3 ", "the command gets only 0, 1, 2 (3 is ls's own directory)");
}

static void test_setup_errors(const char *root)
{
	struct cmd c;
	char *target = path_join(root, "afile");
	struct cairn_run_mount missing = {.type = CAIRN_RUN_BIND, .source = "/nonexistent/src",
					  .target = "/x"};
	struct cairn_run_mount mismatch = {.type = CAIRN_RUN_BIND, .source = tmp, .target = "/afile/"};

	cmd_init(&c, root, "true");
	c.spec.mounts = &missing;
	c.spec.n_mounts = 1;
	cmd_run(&c);
	ok(c.r == -ENOENT && strstr(c.err, "/nonexistent/src"), "a missing bind source: an error");

	write_text(target, "a file\n");
	cmd_init(&c, root, "true");
	c.spec.mounts = &mismatch;
	c.spec.n_mounts = 1;
	cmd_run(&c);
	ok(c.r == -ENOTDIR && strstr(c.err, "/afile is not a directory"),
	   "a directory bound on a file: an error that says so");
	unlink(target);
	char *ls = list_dir(root);
	is_str(ls, "bin tmp work", "a failed setup leaves no stub");
	free(ls);
	free(target);
}

/* The command moved a stub away and made its own in its place: both are
 * the command's now. */
static void test_replaced_stub(const char *root)
{
	struct cairn_run_mount m = {.type = CAIRN_RUN_TMPFS, .target = "/m/t"};
	struct cmd c;

	cmd_init(&c, root, "mv /m /m2 && mkdir /m && echo hi > /m/file");
	c.spec.mounts = &m;
	c.spec.n_mounts = 1;
	cmd_run(&c);
	ok(c.r == 0 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
	   "a stub moved away by the command: the run succeeds");
	char *m_dir = path_join(root, "m"), *m2 = path_join(root, "m2");
	char *ls1 = list_dir(m_dir), *ls2 = list_dir(m2);
	is_str(ls1, "file", "the command's replacement stays");
	is_str(ls2, "t", "the moved stub stays where the command put it");
	free(ls1);
	free(ls2);
	char *cmdline;
	if (asprintf(&cmdline, "rm -rf '%s' '%s'", m_dir, m2) < 0 || system(cmdline) != 0)
		die("rm");
	free(cmdline);
	free(m_dir);
	free(m2);
}

struct worker {
	char *root;
	int done;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct cmd *c = malloc(sizeof(*c));

	for (int i = 0; i < 10; i++) {
		cmd_init(c, w->root, "echo $$ > /dev/null && cat /etc/hosts > /dev/null && echo ok");
		cmd_run(c);
		if (c->r == 0 && WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0 &&
		    strcmp(c->out, "ok\n") == 0)
			w->done++;
	}
	free(c);
	return NULL;
}

/* Several threads running at once, each on its own rootfs (each clone
 * happens while the other threads hold locks of their own). */
static void test_concurrency(void)
{
	struct worker w[6];
	pthread_t t[6];
	int fds = count_fds(), done = 0;
	bool clean = true;

	for (size_t i = 0; i < ARRAY_LEN(w); i++) {
		char name[32];
		snprintf(name, sizeof(name), "conc-%zu", i);
		w[i] = (struct worker){.root = make_rootfs(name)};
	}
	for (size_t i = 0; i < ARRAY_LEN(w); i++)
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	for (size_t i = 0; i < ARRAY_LEN(w); i++) {
		pthread_join(t[i], NULL);
		done += w[i].done;
		char *ls = list_dir(w[i].root);
		clean &= strcmp(ls, "bin") == 0;
		free(ls);
		free(w[i].root);
	}
	is_int(done, 60, "6 threads x 10 concurrent runs");
	ok(clean, "concurrent runs: no stub left");
	is_int(count_fds(), fds, "concurrent runs: no descriptor leaked");
	ok(no_children(), "concurrent runs: no child left");
}

/* The production case: the rootfs is a cairn FUSE mount served by threads
 * of this very process. */
static void test_fuse(void)
{
	char *store_dir = path_join(tmp, "store"), *mnt = path_join(tmp, "fuse-root");
	cairn_store *s = NULL;
	cairn_fs *fs = NULL;
	cairn_error *err = NULL;
	struct cmd c;

	if (access("/dev/fuse", R_OK | W_OK) < 0 || mkdir(mnt, 0755) < 0 ||
	    cairn_store_open(store_dir, NULL, &s, &err) < 0 ||
	    cairn_fs_new(s, NULL, 0, NULL, &fs, &err) < 0 || cairn_fs_mount(fs, mnt, &err) < 0) {
		printf("# FUSE rootfs not available: %s\n", err && err->msg ? err->msg : "");
		ok(1, "# SKIP FUSE rootfs");
		goto out;
	}
	char *bin = path_join(mnt, "bin"), *bb = path_join(mnt, "bin/busybox"),
	     *sh = path_join(mnt, "bin/sh");
	if (mkdir(bin, 0755) < 0 || symlink("busybox", sh) < 0)
		die(bin);
	copy_file(busybox, bb, 0755);
	cmd_init(&c, mnt, "echo $$; /bin/busybox id -u; ls -d /proc/1 /dev/null");
	c.spec.uid = 1000;
	c.spec.gid = 1000;
	cmd_run(&c);
	ok(c.r == 0 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0 && strcmp(c.out, "1\n1000\n/dev/null\n/proc/1\n") == 0,
	   "FUSE rootfs served by this process: the command runs as a user");
	cmd_init(&c, mnt, "echo data > /written && echo ok");
	cmd_run(&c);
	is_str(c.out, "ok\n", "FUSE rootfs: root writes");
	char *ls = list_dir(mnt);
	is_str(ls, "bin written", "FUSE rootfs: no stub left");
	free(ls);
	free(bin);
	free(bb);
	free(sh);
	ok(cairn_fs_unmount(fs, 0) == 0, "FUSE rootfs: not busy after the run");
out:
	cairn_error_free(err);
	if (fs)
		cairn_fs_free(fs);
	if (s)
		cairn_store_free(s);
	free(store_dir);
	free(mnt);
}

static const char *find_busybox(void)
{
	static const char *const cands[] = {"/bin/busybox", "/usr/bin/busybox", "/usr/sbin/busybox"};

	for (size_t i = 0; i < ARRAY_LEN(cands); i++)
		if (access(cands[i], X_OK) == 0)
			return cands[i];
	return NULL;
}

int main(void)
{
	struct cmd c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0)
		tap_skip_all("needs root");
	busybox = find_busybox();
	if (!busybox)
		tap_skip_all("no busybox (apt-get install busybox-static)");
	tmp = tap_tmpdir();
	char *root = make_rootfs("root");

	cmd_init(&c, root, "true");
	cmd_run(&c);
	if (c.r == -EPERM || c.r == -ENOSYS)
		tap_skip_all("namespaces or the mount API not available");
	if (c.r < 0 || !WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		tap_skip_all("busybox does not run in an empty rootfs (not static?)");

	test_basics(root);
	test_cwd_user(root);
	test_proc_dev_sys(root);
	test_network(root);
	test_etc_files(root);
	test_stubs_scratch();
	test_stubs_existing();
	test_mounts(root);
	test_escapes();
	test_exec_errors(root);
	test_caps_signals(root);
	test_lifecycle(root);
	test_setup_errors(root);
	test_replaced_stub(root);
	test_concurrency();
	test_fuse();
	free(root);
	return tap_done();
}
