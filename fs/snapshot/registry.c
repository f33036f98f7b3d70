/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The registry of running workspaces (ROOT/run/mounts) and the clean-up
 * after daemons that died: a FUSE mount whose server is gone answers
 * ENOTCONN; it is detached (umount2 MNT_DETACH) and, should something
 * still hold its device open, its connection is aborted through fusectl
 * (/sys/fs/fuse/connections/N/abort).
 */
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <cairn/fs.h>
#include <cairn/stream.h>

#include "snapshot-internal.h"

static char *abs_dir(const char *dir)
{
	char *r = realpath(dir, NULL);
	if (r)
		return r;
	/* unreachable (a stale mount): resolve the parent */
	_cleanup_free_ char *a = strdup(dir), *b = strdup(dir);
	if (!a || !b)
		return NULL;
	_cleanup_free_ char *parent = realpath(dirname(a), NULL);
	const char *base = basename(b);
	if (!parent)
		return NULL;
	char *out;
	if (asprintf(&out, "%s/%s", strcmp(parent, "/") ? parent : "", base) < 0)
		return NULL;
	return out;
}

int ws_paths_get(const char *root, const char *dir, struct ws_paths *ret)
{
	struct ws_paths p = {0};
	if (!(p.dir = abs_dir(dir)))
		return errno ? -errno : -ENOMEM;
	cairn_digest d;
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_sha256(p.dir, strlen(p.dir), &d);
	cairn_digest_hex(&d, hex);
	hex[32] = 0;
	if (!(p.key = strdup(hex)) || asprintf(&p.json, "%s/run/mounts/%s.json", root, hex) < 0 ||
	    asprintf(&p.sock, "%s/run/mounts/%s.sock", root, hex) < 0 ||
	    asprintf(&p.log, "%s/run/mounts/%s.log", root, hex) < 0) {
		ws_paths_clear(&p);
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

void ws_paths_clear(struct ws_paths *p)
{
	free(p->dir);
	free(p->key);
	free(p->json);
	free(p->sock);
	free(p->log);
	*p = (struct ws_paths){0};
}

int ws_record_read(const struct ws_paths *p, json_t **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = read_file(p->json, 1 << 20, &buf, &len);
	if (r < 0)
		return r;
	json_t *j = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return CAIRN_E_CORRUPT;
	}
	*ret = j;
	return 0;
}

/* Field 3 (state) and 22 (start time) of /proc/PID/stat. */
static bool proc_stat(pid_t pid, char *ret_state, unsigned long long *ret_start)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	_cleanup_free_ char *stat = NULL;
	size_t len;
	if (read_file(path, 4096, &stat, &len) < 0)
		return false;
	const char *p = strrchr(stat, ')');
	if (!p || p[1] != ' ')
		return false;
	*ret_state = p[2];
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	*ret_start = p ? strtoull(p + 1, NULL, 10) : 0;
	return true;
}

bool pid_running(pid_t pid)
{
	char state;
	unsigned long long start;
	/* a zombie nobody reaped (pid 1 of a container may not) is gone too */
	return proc_stat(pid, &state, &start) && state != 'Z' && state != 'X';
}

bool ws_record_alive(json_t *rec)
{
	json_int_t pid = json_integer_value(json_object_get(rec, "pid"));
	char state;
	unsigned long long start;
	if (pid <= 0 || !proc_stat((pid_t) pid, &state, &start) || state == 'Z' || state == 'X')
		return false;
	/* the pid may have been reused: the daemon's start time must match */
	json_int_t want = json_integer_value(json_object_get(rec, "start"));
	return want == 0 || (unsigned long long) want == start;
}

/* The connection number of the FUSE mount on dir (its device minor), from
 * mountinfo: stat() cannot reach a dead mount. */
static int fuse_conn_of(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	char line[4096];
	int conn = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char mp[4096];
		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &min, mp) != 3)
			continue;
		if (strcmp(mp, dir) == 0 && strstr(line, " - fuse.cairn "))
			conn = (int) min;
	}
	fclose(f);
	return conn;
}

static void fuse_abort(int conn)
{
	char path[96];
	snprintf(path, sizeof(path), "/sys/fs/fuse/connections/%d/abort", conn);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && geteuid() == 0) {
		mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, NULL);
		fd = open(path, O_WRONLY | O_CLOEXEC);
	}
	if (fd >= 0) {
		(void) !write(fd, "1", 1);
		close(fd);
	}
}

void ws_detach_if_stale(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) == 0 || errno != ENOTCONN)
		return;
	int conn = fuse_conn_of(dir);
	if (conn >= 0)
		fuse_abort(conn);
	if (umount2(dir, MNT_DETACH) < 0 && geteuid() != 0) {
		pid_t pid = fork();
		if (pid == 0) {
			execlp("fusermount3", "fusermount3", "-u", "-z", dir, (char *) NULL);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
}

void ws_cleanup_stale(const struct ws_paths *p, json_t *rec)
{
	const char *upper = rec ? json_string_value(json_object_get(rec, "upper")) : NULL;
	if (upper)
		cairn_fs_remove_upper(upper);
	int conn = fuse_conn_of(p->dir);
	if (conn >= 0) {
		fuse_abort(conn);
		umount2(p->dir, MNT_DETACH);
	}
	ws_detach_if_stale(p->dir);
	unlink(p->sock);
	unlink(p->json);
}
