/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client side of the control protocol (see snapshot-internal.h): one
 * JSON request line to the daemon of a mount directory, one reply line.
 */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "snapshot-internal.h"

#define REPLY_MAX (256u << 20)

int ws_read_line(int fd, size_t max, char **ret)
{
	bytebuf b = {0};
	for (;;) {
		if (buf_reserve(&b, 65536) < 0) {
			buf_clear(&b);
			return -ENOMEM;
		}
		ssize_t n = read(fd, b.data + b.len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			buf_clear(&b);
			return e;
		}
		void *nl = n > 0 ? memchr(b.data + b.len, '\n', (size_t) n) : NULL;
		b.len += (size_t) n;
		if (nl || n == 0 || b.len > max)
			break;
	}
	uint8_t *nl = memchr(b.data, '\n', b.len);
	if (!nl || b.len > max) {
		buf_clear(&b);
		return -EPROTO;
	}
	*nl = 0;
	*ret = (char *) b.data;
	return 0;
}

int ws_send_json(int fd, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	int r = write_all(fd, s, strlen(s));
	if (r >= 0)
		r = write_all(fd, "\n", 1);
	free(s);
	return r;
}

static int ws_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int ws_call(const char *root, const char *dir, json_t *req, json_t **ret_reply, cairn_error **err)
{
	struct ws_paths p;
	int r = ws_paths_get(root, dir, &p);
	if (r < 0)
		return cairn_error_set(err, r, "%s: %s", dir, cairn_strerror(r));
	_cleanup_json_ json_t *rec = NULL;
	if (ws_record_read(&p, &rec) < 0 || !ws_record_alive(rec)) {
		ws_paths_clear(&p);
		return cairn_error_set(err, -ENOENT, "%s: not a cairn workspace (see 'cairn mounts')",
				       dir);
	}
	_cleanup_close_ int fd = ws_connect(p.sock);
	ws_paths_clear(&p);
	if (fd < 0)
		return cairn_error_set(err, fd, "%s: cannot reach its daemon: %s", dir,
				       cairn_strerror(fd));
	_cleanup_free_ char *line = NULL;
	if ((r = ws_send_json(fd, req)) < 0 || (r = ws_read_line(fd, REPLY_MAX, &line)) < 0)
		return cairn_error_set(err, r, "%s: talking to its daemon: %s", dir,
				       r == -EPROTO ? "no reply (did it die?)" : cairn_strerror(r));
	json_t *reply = json_loads(line, 0, NULL);
	if (!json_is_object(reply)) {
		json_decref(reply);
		return cairn_error_set(err, -EPROTO, "%s: garbled reply from its daemon", dir);
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *msg = json_string_value(json_object_get(reply, "error"));
		json_int_t code = json_integer_value(json_object_get(reply, "code"));
		r = cairn_error_set(err, code < 0 ? (int) code : -EIO, "%s", msg ? msg : "failed");
		json_decref(reply);
		return r;
	}
	*ret_reply = reply;
	return 0;
}
