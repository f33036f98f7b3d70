/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sources for `load`: an OCI layout directory, or a tar archive (plain or
 * compressed; "-" spools stdin to ROOT/tmp first) read in two passes with
 * libarchive.  Pass 1 lists every entry (names normalized: leading "./"
 * dropped; symlinks and hardlinks resolved lexically inside the archive)
 * and keeps documents of at most 4 MiB that start like JSON, so manifests
 * and configs can be validated before any layer is read.  A member named
 * with a ".." component or an absolute path (or a hardlink to such a
 * name) makes the whole archive hostile: refused in pass 1.  Pass
 * 2 streams the layer blobs in archive order.  Nothing is extracted.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "oci-internal.h"

/* Cap on the JSON kept in memory in pass 1 (hostile archives). */
#define SRC_JSON_TOTAL (256u << 20)
#define SRC_LINK_HOPS 16

struct src_entry {
	char *name;
	uint64_t size;
	char *link; /* symlink or hardlink target, normalized; NULL for files */
	char *data; /* kept JSON */
	size_t len;
};

struct load_src {
	char *label;
	bool is_dir;
	int fd; /* directory or archive */
	size_t n;
	struct src_entry *e; /* sorted by name */
	size_t json_bytes;
};

const char *src_label(const load_src *src)
{
	return src->label;
}

bool src_is_dir(const load_src *src)
{
	return src->is_dir;
}

void src_free(load_src *src)
{
	if (!src)
		return;
	for (size_t i = 0; i < src->n; i++) {
		free(src->e[i].name);
		free(src->e[i].link);
		free(src->e[i].data);
	}
	free(src->e);
	free(src->label);
	if (src->fd >= 0)
		close(src->fd);
	free(src);
}
DEFINE_CLEANUP_FUNC(load_src, src_free)

/* Lexical normalization: drops "", "." and resolves ".."; NULL if it escapes. */
static char *path_normalize(const char *base_dir, const char *p)
{
	_cleanup_free_ char *joined = NULL;
	if (asprintf(&joined, "%s%s%s", p[0] == '/' || !base_dir ? "" : base_dir,
		     p[0] == '/' || !base_dir || !*base_dir ? "" : "/", p) < 0)
		return NULL;
	char *out = calloc(1, strlen(joined) + 1);
	if (!out)
		return NULL;
	size_t len = 0;
	for (char *save = NULL, *tok = strtok_r(joined, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			if (len == 0) {
				free(out);
				return NULL;
			}
			while (len > 0 && out[len - 1] != '/')
				len--;
			len = len > 0 ? len - 1 : 0;
			out[len] = 0;
			continue;
		}
		len += (size_t) sprintf(out + len, "%s%s", len ? "/" : "", tok);
	}
	return out;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct src_entry *) a)->name, ((const struct src_entry *) b)->name);
}

static struct src_entry *src_find(load_src *src, const char *name)
{
	struct src_entry key = {.name = (char *) name};
	if (!src->n)
		return NULL;
	return bsearch(&key, src->e, src->n, sizeof(*src->e), entry_cmp);
}

const char *src_resolve(load_src *src, const char *path)
{
	if (src->is_dir) {
		struct stat st;
		return fstatat(src->fd, path, &st, 0) == 0 && S_ISREG(st.st_mode) ? path : NULL;
	}
	struct src_entry *e = src_find(src, path);
	for (int hops = 0; e && e->link && hops < SRC_LINK_HOPS; hops++)
		e = src_find(src, e->link);
	return e && !e->link ? e->name : NULL;
}

bool src_has(load_src *src, const char *path)
{
	return src_resolve(src, path) != NULL;
}

static int dir_read_json(load_src *src, const char *path, char **ret, size_t *ret_len,
			 cairn_error **err)
{
	_cleanup_close_ int fd = openat(src->fd, path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return cairn_error_set(err, errno == ENOENT ? CAIRN_E_NOTFOUND : -errno,
				       "%s: %s: %s", src->label, path,
				       errno == ENOENT ? "missing" : strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return cairn_error_set(err, CAIRN_E_FORMAT, "%s: %s: not a regular file",
				       src->label, path);
	if ((uint64_t) st.st_size > OCI_JSON_MAX)
		return cairn_error_set(err, CAIRN_E_FORMAT, "%s: %s: larger than %u MiB",
				       src->label, path, OCI_JSON_MAX >> 20);
	_cleanup_free_ char *b = malloc((size_t) st.st_size + 1);
	if (!b)
		return -ENOMEM;
	ssize_t n = read_full(fd, b, (size_t) st.st_size);
	if (n < 0)
		return cairn_error_set(err, (int) n, "%s: %s: %s", src->label, path,
				       strerror((int) -n));
	b[n] = 0;
	*ret_len = (size_t) n;
	*ret = steal_pointer(&b);
	return 0;
}

int src_read_json(load_src *src, const char *path, char **ret, size_t *ret_len, cairn_error **err)
{
	if (src->is_dir)
		return dir_read_json(src, path, ret, ret_len, err);
	const char *real = src_resolve(src, path);
	if (!real)
		return cairn_error_set(err, CAIRN_E_NOTFOUND, "%s: %s: missing", src->label, path);
	struct src_entry *e = src_find(src, real);
	if (!e->data)
		return cairn_error_set(err, CAIRN_E_FORMAT,
				       "%s: %s: not a JSON document (or larger than %u MiB)",
				       src->label, path, OCI_JSON_MAX >> 20);
	char *copy = malloc(e->len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, e->data, e->len + 1);
	*ret = copy;
	*ret_len = e->len;
	return 0;
}

/* ---- archives ---------------------------------------------------------------------- */

static int arc_open(load_src *src, struct archive **ret, cairn_error **err)
{
	if (lseek(src->fd, 0, SEEK_SET) < 0)
		return cairn_error_set(err, -errno, "%s: cannot seek: %s", src->label,
				       strerror(errno));
	struct archive *a = archive_read_new();
	if (!a)
		return -ENOMEM;
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, src->fd, 128 << 10) != ARCHIVE_OK) {
		int r = cairn_error_set(err, CAIRN_E_FORMAT, "%s: not a tar archive: %s",
					src->label, archive_error_string(a));
		archive_read_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

static bool looks_json(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')
			continue;
		return p[i] == '{' || p[i] == '[';
	}
	return false;
}

static int entry_keep_json(load_src *src, struct archive *a, struct src_entry *e, cairn_error **err)
{
	if (e->size > OCI_JSON_MAX)
		return 0;
	if (src->json_bytes + e->size > SRC_JSON_TOTAL)
		return cairn_error_set(err, CAIRN_E_FORMAT,
				       "%s: more than %u MiB of small JSON documents", src->label,
				       SRC_JSON_TOTAL >> 20);
	_cleanup_free_ char *b = malloc(e->size + 1);
	if (!b)
		return -ENOMEM;
	size_t got = 0;
	while (got < e->size) {
		la_ssize_t n = archive_read_data(a, b + got, e->size - got);
		if (n < 0)
			return cairn_error_set(err, CAIRN_E_FORMAT, "%s: %s: %s", src->label,
					       e->name, archive_error_string(a));
		if (n == 0)
			return cairn_error_set(err, CAIRN_E_FORMAT, "%s: %s: truncated", src->label,
					       e->name);
		got += (size_t) n;
	}
	b[got] = 0;
	if (!looks_json(b, got))
		return 0;
	src->json_bytes += got;
	e->len = got;
	e->data = steal_pointer(&b);
	return 0;
}

static char *entry_name(const char *raw)
{
	while (raw[0] == '.' && raw[1] == '/')
		raw += 2;
	while (raw[0] == '/')
		raw++;
	size_t len = strlen(raw);
	while (len > 0 && raw[len - 1] == '/')
		len--;
	return strndup(raw, len);
}

/* The directory part of name ("a/b" -> "a", "b" -> ""). */
static char *dir_of(const char *name)
{
	const char *slash = strrchr(name, '/');
	return strndup(name, slash ? (size_t) (slash - name) : 0);
}

/* ---- unsafe member names ------------------------------------------------------------- */

/* The name with control bytes, '"' and '\\' as \xNN, cut after 200 bytes
 * (any byte string may be a member name; messages are one line). */
/* Why a member name (or hardlink target, also a member name) is unsafe,
 * or NULL.  Nothing is extracted, but an archive naming a path outside
 * itself is hostile: it is refused whether or not index.json or
 * manifest.json reach that member.  Names made of "/" and "." only are
 * the archive's root directory, as in layer tars. */
static const char *member_unsafe(const char *name)
{
	bool root = true;
	for (const char *p = name; *p;) {
		const char *e = strchrnul(p, '/');
		size_t l = (size_t) (e - p);
		if (l == 2 && p[0] == '.' && p[1] == '.')
			return "path contains a \"..\" component";
		root = root && (l == 0 || (l == 1 && p[0] == '.'));
		p = *e ? e + 1 : e;
	}
	return name[0] == '/' && !root ? "absolute path" : NULL;
}

static int member_check(load_src *src, struct archive_entry *ae, cairn_error **err)
{
	const char *name = archive_entry_pathname(ae) ?: "";
	const char *hl = archive_entry_hardlink(ae);
	const char *why = member_unsafe(name), *hwhy = hl ? member_unsafe(hl) : NULL;
	if (!why && !hwhy)
		return 0;
	_cleanup_free_ char *q = quote_name(name, strnlen(name, 201));
	_cleanup_free_ char *hq = hwhy ? quote_name(hl, strnlen(hl, 201)) : NULL;
	if (!q || (hwhy && !hq))
		return -ENOMEM;
	if (why)
		return cairn_error_set(err, CAIRN_E_UNSAFE, "%s: member \"%s\": %s", src->label, q,
				       why);
	return cairn_error_set(err, CAIRN_E_UNSAFE, "%s: member \"%s\": hardlink target \"%s\": %s",
			       src->label, q, hq, hwhy);
}

static int entry_add(load_src *src, struct archive *a, struct archive_entry *ae, cairn_error **err)
{
	const char *hl = archive_entry_hardlink(ae);
	mode_t type = archive_entry_filetype(ae);
	int r = member_check(src, ae, err);
	if (r < 0 || (!hl && type != AE_IFREG && type != AE_IFLNK))
		return r;
	struct src_entry e = {.name = entry_name(archive_entry_pathname(ae) ?: "")};
	if (!e.name)
		return -ENOMEM;
	if (!*e.name) {
		free(e.name);
		return 0;
	}
	bool is_link = hl || type == AE_IFLNK;
	_cleanup_free_ char *dir = dir_of(e.name);
	if (hl)
		e.link = path_normalize(NULL, hl);
	else if (type == AE_IFLNK)
		e.link = path_normalize(dir, archive_entry_symlink(ae) ?: "");
	if (is_link && !e.link) /* escapes the archive: a link to nothing */
		e.link = strdup("\x01unresolvable");
	if (!dir || (is_link && !e.link)) {
		free(e.name);
		free(e.link);
		return -ENOMEM;
	}
	e.size = is_link ? 0 : (uint64_t) archive_entry_size(ae);
	if (!is_link)
		r = entry_keep_json(src, a, &e, err);
	struct src_entry *n = r < 0 ? NULL : realloc(src->e, (src->n + 1) * sizeof(*n));
	if (!n) {
		free(e.name);
		free(e.link);
		free(e.data);
		return r < 0 ? r : -ENOMEM;
	}
	src->e = n;
	n[src->n++] = e;
	return 0;
}

static int arc_pass1(load_src *src, cairn_error **err)
{
	struct archive *a;
	int r = arc_open(src, &a, err);
	if (r < 0)
		return r;
	struct archive_entry *ae;
	int ar;
	while (r >= 0 && (ar = archive_read_next_header(a, &ae)) != ARCHIVE_EOF) {
		if (ar < ARCHIVE_WARN)
			r = cairn_error_set(err, CAIRN_E_FORMAT, "%s: %s archive: %s", src->label,
					    src->n ? "truncated or corrupt" : "not a tar",
					    archive_error_string(a));
		else
			r = entry_add(src, a, ae, err);
	}
	archive_read_free(a);
	if (r < 0)
		return r;
	if (src->n)
		qsort(src->e, src->n, sizeof(*src->e), entry_cmp);
	for (size_t i = 1; i < src->n; i++)
		if (strcmp(src->e[i - 1].name, src->e[i].name) == 0)
			return cairn_error_set(err, CAIRN_E_FORMAT, "%s: duplicate entry \"%s\"",
					       src->label, src->e[i].name);
	return 0;
}

struct arc_reader {
	struct archive *a;
	bool failed;
};

static ssize_t arc_read(void *userdata, void *data, size_t len)
{
	struct arc_reader *ar = userdata;
	la_ssize_t n = archive_read_data(ar->a, data, len);
	if (n < 0) {
		ar->failed = true;
		return CAIRN_E_FORMAT;
	}
	return n;
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static int arc_stream(load_src *src, char *const *paths, size_t n, src_stream_fn fn, void *userdata,
		      cairn_error **err)
{
	struct archive *a;
	int r = arc_open(src, &a, err);
	if (r < 0)
		return r;
	struct archive_entry *ae;
	int ar;
	while (r >= 0 && (ar = archive_read_next_header(a, &ae)) != ARCHIVE_EOF) {
		if (ar < ARCHIVE_WARN) {
			r = cairn_error_set(err, CAIRN_E_FORMAT,
					    "%s: truncated or corrupt archive: %s", src->label,
					    archive_error_string(a));
			break;
		}
		if (archive_entry_hardlink(ae) || archive_entry_filetype(ae) != AE_IFREG)
			continue;
		_cleanup_free_ char *name = entry_name(archive_entry_pathname(ae) ?: "");
		if (!name) {
			r = -ENOMEM;
			break;
		}
		if (!n || !bsearch(&name, paths, n, sizeof(*paths), path_cmp))
			continue;
		struct arc_reader rd = {.a = a};
		r = fn(name, arc_read, &rd, userdata, err);
		if (r < 0 && rd.failed)
			cairn_error_prefix(err, "%s: %s: %s", src->label, name,
					   archive_error_string(a) ?: "read error");
	}
	archive_read_free(a);
	return r;
}

int src_stream(load_src *src, char *const *paths, size_t n, src_stream_fn fn, void *userdata,
	       cairn_error **err)
{
	if (!src->is_dir)
		return arc_stream(src, paths, n, fn, userdata, err);
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int fd = openat(src->fd, paths[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return cairn_error_set(err, -errno, "%s: %s: %s", src->label, paths[i],
					       strerror(errno));
		int r = fn(paths[i], cairn_read_fd, (void *) (intptr_t) fd, userdata, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- opening ------------------------------------------------------------------------- */

static int spool_stdin(cairn_store *s, int *ret_fd, cairn_error **err)
{
	_cleanup_close_ int fd = -1;
	int r = oci_tmpfile(s, &fd);
	if (r < 0)
		return cairn_error_from(err, r, "creating a temporary file in %s/tmp",
					cairn_store_root(s));
	_cleanup_free_ char *b = malloc(128 << 10);
	if (!b)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(STDIN_FILENO, b, 128 << 10);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cairn_error_set(err, -errno, "stdin: %s", strerror(errno));
		if (n == 0)
			break;
		r = write_all(fd, b, (size_t) n);
		if (r < 0)
			return cairn_error_from(err, r, "spooling stdin to %s/tmp",
						cairn_store_root(s));
	}
	*ret_fd = steal_fd(&fd);
	return 0;
}

int src_open(cairn_store *s, const char *path, load_src **ret, cairn_error **err)
{
	_cleanup_(src_freep) load_src *src = calloc(1, sizeof(*src));
	if (!src)
		return -ENOMEM;
	src->fd = -1;
	bool std_in = strcmp(path, "-") == 0;
	if (!(src->label = strdup(std_in ? "stdin" : path)))
		return -ENOMEM;
	int r = 0;
	if (std_in) {
		r = spool_stdin(s, &src->fd, err);
	} else {
		src->fd = open(path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (src->fd < 0 || fstat(src->fd, &st) < 0)
			return cairn_error_set(err, -errno, "%s: %s", path, strerror(errno));
		src->is_dir = S_ISDIR(st.st_mode);
	}
	if (r >= 0 && !src->is_dir)
		r = arc_pass1(src, err);
	if (r < 0)
		return r;
	*ret = steal_pointer(&src);
	return 0;
}
