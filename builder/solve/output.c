/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --output and --secret values (docker buildx's CSV forms), and the
 * extraction of a root filesystem tar into a directory for type=local
 * (libarchive's disk writer with its safety checks: no "..", no absolute
 * paths, nothing through symlinks).
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>

#include "solve.h"

void cairn_build_output_clear(struct cairn_build_output *o)
{
	free(o->dest);
	if (o->names)
		for (char **p = o->names; *p; p++)
			free(*p);
	free(o->names);
	*o = (struct cairn_build_output){0};
}

static int push_name(struct cairn_build_output *o, const char *v)
{
	size_t n = 0;
	while (o->names && o->names[n])
		n++;
	char **nv = realloc(o->names, (n + 2) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	o->names = nv;
	if (!(nv[n] = strdup(v)))
		return -ENOMEM;
	nv[n + 1] = NULL;
	return 0;
}

static int output_kv(struct cairn_build_output *o, const char *k, const char *v,
		     cairn_error **err)
{
	if (!strcmp(k, "type")) {
		static const struct {
			const char *name;
			cairn_output_type t;
		} types[] = {{"image", CAIRN_OUTPUT_IMAGE}, {"oci", CAIRN_OUTPUT_OCI},
			     {"docker", CAIRN_OUTPUT_DOCKER}, {"local", CAIRN_OUTPUT_LOCAL},
			     {"tar", CAIRN_OUTPUT_TAR}};
		for (size_t i = 0; i < ARRAY_SIZE(types); i++)
			if (!strcmp(v, types[i].name)) {
				o->type = types[i].t;
				return 0;
			}
		if (!strcmp(v, "registry")) { /* buildx: type=image,push=true */
			o->type = CAIRN_OUTPUT_IMAGE;
			o->push = true;
			return 0;
		}
		return cairn_error_set(err, -EINVAL, "--output: unknown type \"%s\"", v);
	}
	if (!strcmp(k, "dest"))
		return (free(o->dest), o->dest = strdup(v)) ? 0 : -ENOMEM;
	if (!strcmp(k, "tar")) {
		o->tar = strcasecmp(v, "false") != 0 && strcmp(v, "0") != 0;
		return 0;
	}
	if (!strcmp(k, "compression")) {
		cairn_compression c;
		if (!strcmp(v, "uncompressed"))
			v = "none";
		if (cairn_compression_parse(v, &c) < 0)
			return cairn_error_set(err, -EINVAL, "--output: unknown compression \"%s\"", v);
		o->compression = (int) c;
		return 0;
	}
	if (!strcmp(k, "name")) {
		_cleanup_free_ char *s = strdup(v);
		char *save = NULL;
		if (!s)
			return -ENOMEM;
		for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (push_name(o, t) < 0)
				return -ENOMEM;
		return 0;
	}
	if (!strcmp(k, "push")) {
		o->push = strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
		return 0;
	}
	/* options of other builders that change nothing here */
	static const char *const ignored[] = {"push-by-digest", "compression-level", "force-compression",
					      "oci-mediatypes", "annotation", "unpack", "store"};
	for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
		if (!strncmp(k, ignored[i], strlen(ignored[i])))
			return 0;
	return cairn_error_set(err, -EINVAL, "--output: unknown option \"%s\"", k);
}

int cairn_build_output_parse(const char *spec, struct cairn_build_output *ret, cairn_error **err)
{
	struct cairn_build_output o = {.type = CAIRN_OUTPUT_IMAGE, .tar = true, .compression = -1};
	int r = 0;
	if (!strchr(spec, '=')) { /* a bare path: type=local (buildx -o DIR), "-": tar to stdout */
		o.type = strcmp(spec, "-") == 0 ? CAIRN_OUTPUT_TAR : CAIRN_OUTPUT_LOCAL;
		if (!(o.dest = strdup(spec)))
			return -ENOMEM;
		*ret = o;
		return 0;
	}
	/* name="a,b" quoting as buildx accepts it */
	_cleanup_free_ char *s = strdup(spec);
	if (!s)
		return -ENOMEM;
	for (char *p = s; r >= 0 && *p;) {
		char *kv = p;
		bool q = false;
		for (; *p && (q || *p != ','); p++)
			if (*p == '"')
				q = !q;
		if (*p)
			*p++ = 0;
		char *eq = strchr(kv, '=');
		if (!eq) {
			r = cairn_error_set(err, -EINVAL, "--output: \"%s\" is not KEY=VALUE", kv);
			break;
		}
		*eq = 0;
		char *v = eq + 1;
		size_t vl = strlen(v);
		if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v[vl - 1] = 0;
			v++;
		}
		r = output_kv(&o, kv, v, err);
	}
	if (r >= 0 && o.type != CAIRN_OUTPUT_IMAGE && !o.dest)
		r = cairn_error_set(err, -EINVAL, "--output %s: dest= is required", spec);
	if (r < 0) {
		cairn_build_output_clear(&o);
		return r;
	}
	*ret = o;
	return 0;
}

void cairn_build_secret_clear(struct cairn_build_secret *s)
{
	free(s->id);
	free(s->src);
	free(s->env);
	*s = (struct cairn_build_secret){0};
}

int cairn_build_secret_parse(const char *spec, struct cairn_build_secret *ret, cairn_error **err)
{
	struct cairn_build_secret s = {0};
	_cleanup_free_ char *c = strdup(spec);
	char *save = NULL;
	int r = c ? 0 : -ENOMEM;
	for (char *kv = c ? strtok_r(c, ",", &save) : NULL; r >= 0 && kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		char **dst = NULL;
		if (eq) {
			*eq = 0;
			if (!strcmp(kv, "id"))
				dst = &s.id;
			else if (!strcmp(kv, "src") || !strcmp(kv, "source"))
				dst = &s.src;
			else if (!strcmp(kv, "env"))
				dst = &s.env;
			else if (!strcmp(kv, "type"))
				continue;
		}
		if (!dst)
			r = cairn_error_set(err, -EINVAL, "--secret %s: unknown option \"%s\"", spec, kv);
		else if ((free(*dst), !(*dst = strdup(eq + 1))))
			r = -ENOMEM;
	}
	if (r >= 0 && !s.id)
		r = cairn_error_set(err, -EINVAL, "--secret %s: id= is required", spec);
	if (r >= 0 && !s.src && !s.env) {
		/* buildx: without src or env, an environment variable named like the id, else a file */
		if (getenv(s.id))
			s.env = strdup(s.id);
		else
			r = cairn_error_set(err, -EINVAL, "--secret %s: src= or env= is required",
					    spec);
	}
	if (r < 0) {
		cairn_build_secret_clear(&s);
		return r;
	}
	*ret = s;
	return 0;
}

int output_extract(int tar_fd, const char *dir, cairn_error **err)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return cairn_error_set(err, -errno, "%s: %m", dir);
	if (chdir(dir) < 0)
		return cairn_error_set(err, -errno, "%s: %m", dir);
	struct archive *in = archive_read_new(), *out = archive_write_disk_new();
	if (!in || !out)
		return -ENOMEM;
	archive_read_support_format_tar(in);
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
						ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR |
						ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_FFLAGS |
						ARCHIVE_EXTRACT_SECURE_NODOTDOT |
						ARCHIVE_EXTRACT_SECURE_SYMLINKS |
						ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
						ARCHIVE_EXTRACT_UNLINK);
	int r = 0;
	if (archive_read_open_fd(in, tar_fd, 1 << 16) != ARCHIVE_OK)
		r = cairn_error_set(err, -EIO, "%s", archive_error_string(in));
	struct archive_entry *e;
	while (r >= 0) {
		int k = archive_read_next_header(in, &e);
		if (k == ARCHIVE_EOF)
			break;
		if (k < ARCHIVE_WARN || archive_write_header(out, e) < ARCHIVE_WARN) {
			r = cairn_error_set(err, -EIO, "%s: %s", dir,
					    archive_error_string(k < ARCHIVE_WARN ? in : out));
			break;
		}
		const void *buf;
		size_t len;
		int64_t off;
		while ((k = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK)
			if (archive_write_data_block(out, buf, len, off) < ARCHIVE_WARN) {
				k = ARCHIVE_FATAL;
				break;
			}
		if (k != ARCHIVE_EOF || archive_write_finish_entry(out) < ARCHIVE_WARN)
			r = cairn_error_set(err, -EIO, "%s: %s", dir, archive_error_string(out));
	}
	archive_read_free(in);
	if (archive_write_close(out) < ARCHIVE_WARN && r >= 0)
		r = cairn_error_set(err, -EIO, "%s: %s", dir, archive_error_string(out));
	archive_write_free(out);
	return r;
}
