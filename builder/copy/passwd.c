/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /etc/passwd and /etc/group of a root filesystem, read the way runc's
 * libcontainer/user (now moby/sys/user) parses them, with BuildKit's two
 * callers: the file op's readUser for --chown (names only; an unknown
 * name is 0) and the executor's GetUser for USER (GetExecUser: numeric
 * ids, supplementary groups, errors for unknown names).
 */
#include <fcntl.h>

#include "copy-internal.h"
#include "passwd.h"

#define MAX_ID 2147483647L

/* strconv.Atoi: an optional sign then decimal digits, within int64. */
static bool go_atoi(const char *s, long long *ret)
{
	const char *p = s;
	bool neg = false;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!*p)
		return false;
	unsigned long long v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		unsigned d = (unsigned) (*p - '0');
		if (v > (9223372036854775807ull + neg - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = neg ? -(long long) v : (long long) v;
	return true;
}

/* llb's parseUID: "root" or strconv.ParseUint(s, 10, 32). */
static bool parse_id(const char *s, uint32_t *ret)
{
	if (!strcmp(s, "root")) {
		*ret = 0;
		return true;
	}
	if (!*s)
		return false;
	unsigned long long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned) (*p - '0');
		if (v > 0xffffffffull)
			return false;
	}
	*ret = (uint32_t) v;
	return true;
}

static long long field_int(char **f, size_t n, size_t i)
{
	long long v = 0;
	if (i < n && go_atoi(f[i], &v))
		return v;
	return 0;
}

/* Calls fn for each entry of root/path (fields split at ':') until it
 * returns non-zero.  A missing or non-regular file has no entries. */
static int scan_db(int root_fd, const char *path, int (*fn)(void *ud, char **f, size_t n), void *ud)
{
	int fd = open_in_root(root_fd, path, O_RDONLY | O_NONBLOCK, false);
	if (fd == -ENOENT || fd == -ENOTDIR)
		return 0;
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	_cleanup_fclose_ FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	_cleanup_free_ char *line = NULL;
	_cleanup_free_ char **fields = NULL;
	size_t cap = 0, fcap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *s = line, *e = line + len;
		while (s < e && strchr(" \t\n\v\f\r", *s))
			s++;
		while (e > s && strchr(" \t\n\v\f\r", e[-1]))
			e--;
		if (s == e)
			continue;
		*e = 0;
		size_t n = 0;
		for (char *p = s;; p++) {
			if (ARRAY_RESERVE(fields, fcap, n + 1, 8) < 0)
				return -ENOMEM;
			fields[n++] = p;
			p = strchr(p, ':');
			if (!p)
				break;
			*p = 0;
		}
		int r = fn(ud, fields, n);
		if (r)
			return r < 0 ? r : 0;
	}
	return ferror(f) ? -EIO : 0;
}

typedef struct user_q {
	const char *name; /* by name; NULL: by uid */
	long long uid;
	bool found;
	char *matched;
	long long out_uid, out_gid;
} user_q;

static int user_fn(void *ud, char **f, size_t n)
{
	user_q *q = ud;
	long long uid = field_int(f, n, 2);
	if (q->name ? strcmp(f[0], q->name) != 0 : uid != q->uid)
		return 0;
	q->found = true;
	q->out_uid = uid;
	q->out_gid = field_int(f, n, 3);
	q->matched = strdup(f[0]);
	return q->matched ? 1 : -ENOMEM;
}

typedef struct group_q {
	const char *name; /* by name */
	bool by_gid;	  /* by gid */
	long long gid;
	const char *member; /* every group listing this user */
	gid_t *gids;
	size_t n, cap;
} group_q;

static int group_fn(void *ud, char **f, size_t n)
{
	group_q *q = ud;
	long long gid = field_int(f, n, 2);
	bool match = false;
	if (q->member) {
		if (n > 3 && *f[3]) {
			_cleanup_free_ char *list = strdup(f[3]);
			if (!list)
				return -ENOMEM;
			char *save = NULL;
			for (char *m = strtok_r(list, ",", &save); m && !match;
			     m = strtok_r(NULL, ",", &save))
				match = !strcmp(m, q->member);
		}
	} else if (q->by_gid) {
		match = gid == q->gid;
	} else {
		match = !strcmp(f[0], q->name);
	}
	if (!match)
		return 0;
	if (ARRAY_RESERVE(q->gids, q->cap, q->n + 1, 4) < 0)
		return -ENOMEM;
	q->gids[q->n++] = (gid_t) gid;
	return q->member ? 0 : 1; /* all memberships, else the first match */
}

static int no_user(cairn_error **err, const char *name)
{
	_cleanup_free_ char *q = quote_name(name, strlen(name));
	return cairn_error_set(
	    err, -ENOENT, "unable to find user %s: no matching entries in passwd file", q ? q : "");
}

static int no_group(cairn_error **err, const char *name)
{
	_cleanup_free_ char *q = quote_name(name, strlen(name));
	return cairn_error_set(
	    err, -ENOENT, "unable to find group %s: no matching entries in group file", q ? q : "");
}

int copy_lookup_user(int root_fd, const char *name, uid_t *ret_uid, gid_t *ret_gid,
		     cairn_error **err)
{
	user_q q = {.name = name};
	int r = scan_db(root_fd, "etc/passwd", user_fn, &q);
	free(q.matched);
	if (r < 0)
		return cairn_error_from(err, r, "reading /etc/passwd");
	if (!q.found)
		return no_user(err, name);
	*ret_uid = (uid_t) q.out_uid;
	*ret_gid = (gid_t) q.out_gid;
	return 0;
}

int copy_lookup_group(int root_fd, const char *name, gid_t *ret_gid, cairn_error **err)
{
	group_q q = {.name = name};
	int r = scan_db(root_fd, "etc/group", group_fn, &q);
	_cleanup_free_ gid_t *gids = q.gids;
	if (r < 0)
		return cairn_error_from(err, r, "reading /etc/group");
	if (!q.n)
		return no_group(err, name);
	*ret_gid = gids[0];
	return 0;
}

int copy_resolve_chown(int root_fd, const char *spec, bool strict, uid_t *ret_uid, gid_t *ret_gid,
		       cairn_error **err)
{
	_cleanup_free_ char *user = strdup(spec);
	if (!user)
		return -ENOMEM;
	char *group = strchr(user, ':');
	if (group)
		*group++ = 0;
	uid_t uid = 0;
	gid_t gid = 0;
	uint32_t id;
	if (*user) {
		if (parse_id(user, &id)) {
			uid = id;
			gid = id;
		} else {
			int r = copy_lookup_user(root_fd, user, &uid, &gid, strict ? err : NULL);
			if (r < 0 && (strict || r != -ENOENT))
				return cairn_error_from(err, r, "--chown");
			if (r < 0)
				uid = 0, gid = 0;
		}
	}
	if (group && *group) {
		if (parse_id(group, &id)) {
			gid = id;
		} else {
			gid_t g;
			int r = copy_lookup_group(root_fd, group, &g, strict ? err : NULL);
			if (r < 0 && (strict || r != -ENOENT))
				return cairn_error_from(err, r, "--chown");
			if (r >= 0)
				gid = g;
		}
	}
	*ret_uid = uid;
	*ret_gid = gid;
	return 0;
}

static int range_error(cairn_error **err)
{
	return cairn_error_set(err, -ERANGE, "uids and gids must be in range 0-%ld", MAX_ID);
}

int copy_lookup_user_groups(int root_fd, const char *user_spec, uid_t *ret_uid, gid_t *ret_gid,
			    gid_t **ret_groups, size_t *ret_n_groups, cairn_error **err)
{
	bool empty = !user_spec || !*user_spec;
	_cleanup_free_ char *spec = strdup(empty ? "" : user_spec);
	if (!spec)
		return -ENOMEM;
	char *group_arg = strchr(spec, ':');
	if (group_arg) {
		*group_arg++ = 0;
		char *more = strchr(group_arg, ':');
		if (more)
			*more = 0; /* parseLine: further fields are ignored */
	}
	const char *user_arg = spec;
	uint32_t fu, fg;
	if (empty || (group_arg && parse_id(user_arg, &fu) && parse_id(group_arg, &fg))) {
		*ret_uid = empty ? 0 : fu;
		*ret_gid = empty ? 0 : fg;
		*ret_groups = NULL;
		*ret_n_groups = 0;
		return 0;
	}
	if (!group_arg)
		group_arg = "";

	long long uid_arg = 0, gid_arg = 0;
	bool uid_num = go_atoi(user_arg, &uid_arg), gid_num = go_atoi(group_arg, &gid_arg);
	user_q uq = {.name = *user_arg && !uid_num ? user_arg : NULL, .uid = uid_num ? uid_arg : 0};
	int r = scan_db(root_fd, "etc/passwd", user_fn, &uq);
	_cleanup_free_ char *matched = uq.matched;
	if (r < 0)
		return cairn_error_from(err, r, "reading /etc/passwd");
	long long uid = 0, gid = 0;
	if (uq.found) {
		uid = uq.out_uid;
		gid = uq.out_gid;
	} else if (*user_arg) {
		if (!uid_num)
			return no_user(err, user_arg);
		if (uid_arg < 0 || uid_arg > MAX_ID)
			return range_error(err);
		uid = uid_arg;
	}

	_cleanup_free_ gid_t *sgids = NULL;
	size_t n_sgids = 0;
	if (*group_arg || matched) {
		group_q gq = {.name = group_arg, .by_gid = *group_arg && gid_num, .gid = gid_arg};
		if (!*group_arg)
			gq.member = matched;
		r = scan_db(root_fd, "etc/group", group_fn, &gq);
		sgids = gq.gids;
		if (r < 0)
			return cairn_error_from(err, r, "reading /etc/group");
		if (*group_arg) {
			if (gq.n) {
				gid = sgids[0];
			} else {
				if (!gid_num)
					return no_group(err, group_arg);
				if (gid_arg < 0 || gid_arg > MAX_ID)
					return range_error(err);
				gid = gid_arg;
			}
			free(steal_pointer(&sgids));
		} else {
			n_sgids = gq.n;
		}
	}
	*ret_uid = (uid_t) uid;
	*ret_gid = (gid_t) gid;
	*ret_groups = n_sgids ? steal_pointer(&sgids) : NULL;
	*ret_n_groups = n_sgids;
	return 0;
}
