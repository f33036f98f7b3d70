/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Snapshot records (CAIRN_T_SNAPSHOTS): key -> JSON
 *   {"kind": "committed"|"active"|"view", "parent": KEY|null,
 *    "image": ID|null, "layers": [HEX...], "checkpoint": HEX|null,
 *    "created": T, "updated": T}
 * A committed snapshot's layers are its whole chain (bottom first); an
 * active or view snapshot's are its parent's, and its changes so far are
 * the checkpoint layer.
 */
#include <stdio.h>
#include <time.h>

#include <cairn/stream.h>

#include "snapshot-internal.h"

static const char *const kinds[] = {
    [CAIRN_SNAPSHOT_VIEW] = "view",
    [CAIRN_SNAPSHOT_ACTIVE] = "active",
    [CAIRN_SNAPSHOT_COMMITTED] = "committed",
};

const char *cairn_snapshot_kind_name(cairn_snapshot_kind k)
{
	static const char *const names[] = {
	    [CAIRN_SNAPSHOT_VIEW] = "View",
	    [CAIRN_SNAPSHOT_ACTIVE] = "Active",
	    [CAIRN_SNAPSHOT_COMMITTED] = "Committed",
	};
	return k >= CAIRN_SNAPSHOT_VIEW && k <= CAIRN_SNAPSHOT_COMMITTED ? names[k] : "Unknown";
}

json_t *layers_json(const cairn_id *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		char hex[2 * CAIRN_ID_LEN + 1];
		cairn_id_hex(&v[i], hex);
		json_array_append_new(a, json_string(hex));
	}
	return a;
}

int layers_from_json(json_t *a, cairn_id **ret, size_t *ret_n)
{
	if (!json_is_array(a))
		return CAIRN_E_CORRUPT;
	size_t n = json_array_size(a);
	cairn_id *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *hex = json_string_value(json_array_get(a, i));
		if (!hex || cairn_id_parse(hex, &v[i]) < 0) {
			free(v);
			return CAIRN_E_CORRUPT;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

void snap_rec_clear(struct snap_rec *r)
{
	free(r->key);
	free(r->parent);
	free(r->image);
	free(r->layers);
	*r = (struct snap_rec){0};
}

static int snap_decode(const char *key, const char *buf, size_t len, struct snap_rec *ret)
{
	_cleanup_json_ json_t *j = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(j))
		return CAIRN_E_CORRUPT;
	struct snap_rec r = {0};
	const char *kind = json_string_value(json_object_get(j, "kind"));
	for (int k = CAIRN_SNAPSHOT_VIEW; kind && k <= CAIRN_SNAPSHOT_COMMITTED; k++)
		if (strcmp(kind, kinds[k]) == 0)
			r.kind = (cairn_snapshot_kind) k;
	const char *parent = json_string_value(json_object_get(j, "parent"));
	const char *image = json_string_value(json_object_get(j, "image"));
	const char *cp = json_string_value(json_object_get(j, "checkpoint"));
	r.created = json_integer_value(json_object_get(j, "created"));
	r.updated = json_integer_value(json_object_get(j, "updated"));
	int rc = r.kind ? 0 : CAIRN_E_CORRUPT;
	if (rc >= 0)
		rc = layers_from_json(json_object_get(j, "layers"), &r.layers, &r.n_layers);
	if (rc >= 0 && cp) {
		r.has_checkpoint = true;
		rc = cairn_id_parse(cp, &r.checkpoint) < 0 ? CAIRN_E_CORRUPT : 0;
	}
	if (rc >= 0 && (!(r.key = strdup(key)) || (parent && !(r.parent = strdup(parent))) ||
			(image && !(r.image = strdup(image)))))
		rc = -ENOMEM;
	if (rc < 0) {
		snap_rec_clear(&r);
		return rc;
	}
	*ret = r;
	return 0;
}

int snap_get(cairn_store *s, const char *key, struct snap_rec *ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = cairn_store_get(s, CAIRN_T_SNAPSHOTS, key, strlen(key), (void **) &buf, &len);
	return r < 0 ? r : snap_decode(key, buf, len, ret);
}

int snap_put(cairn_batch *b, const struct snap_rec *r)
{
	char cp[2 * CAIRN_ID_LEN + 1];
	if (r->has_checkpoint)
		cairn_id_hex(&r->checkpoint, cp);
	_cleanup_json_ json_t *j = json_pack(
	    "{s:s, s:s?, s:s?, s:o, s:s?, s:I, s:I}", "kind", kinds[r->kind], "parent", r->parent,
	    "image", r->image, "layers", layers_json(r->layers, r->n_layers), "checkpoint",
	    r->has_checkpoint ? cp : NULL, "created", (json_int_t) r->created, "updated",
	    (json_int_t) r->updated);
	if (!j)
		return -ENOMEM;
	_cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	return cairn_batch_put(b, CAIRN_T_SNAPSHOTS, r->key, strlen(r->key), s, strlen(s));
}

int snap_del(cairn_batch *b, const char *key)
{
	return cairn_batch_del(b, CAIRN_T_SNAPSHOTS, key, strlen(key));
}

int snap_mountpoint(const char *root, const char *key, bool create, char **ret)
{
	cairn_digest d;
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_sha256(key, strlen(key), &d);
	cairn_digest_hex(&d, hex);
	hex[32] = 0;
	char *p;
	if (asprintf(&p, "%s/snapshots/%s/rootfs", root, hex) < 0)
		return -ENOMEM;
	int r = create ? mkdir_p(p, 0755) : 0;
	if (r < 0) {
		free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int snap_stage_commit(cairn_batch *b, const char *key, const char *name, const cairn_id *layer,
		      cairn_error **err)
{
	cairn_store *s = cairn_batch_store(b);
	struct snap_rec cur = {0}, other = {0};
	if (snap_get(s, name, &other) >= 0) {
		snap_rec_clear(&other);
		return cairn_error_set(err, CAIRN_E_EXISTS, "snapshot \"%s\": already exists", name);
	}
	int r = snap_get(s, key, &cur);
	if (r < 0)
		return cairn_error_set(err, r == -ENOENT ? CAIRN_E_NOTFOUND : r,
				       "snapshot \"%s\": %s", key,
				       r == -ENOENT ? "does not exist" : cairn_strerror(r));
	if (cur.kind != CAIRN_SNAPSHOT_ACTIVE) {
		snap_rec_clear(&cur);
		return cairn_error_set(err, -EINVAL, "snapshot \"%s\": only an active snapshot can "
						     "be committed", key);
	}
	struct snap_rec nr = {.key = (char *) name,
			      .kind = CAIRN_SNAPSHOT_COMMITTED,
			      .parent = cur.parent,
			      .image = cur.image,
			      .created = time(NULL)};
	nr.updated = nr.created;
	nr.layers = malloc((cur.n_layers + 1) * sizeof(*nr.layers));
	if (!nr.layers) {
		snap_rec_clear(&cur);
		return -ENOMEM;
	}
	memcpy(nr.layers, cur.layers, cur.n_layers * sizeof(*nr.layers));
	nr.layers[cur.n_layers] = *layer;
	nr.n_layers = cur.n_layers + 1;
	r = snap_put(b, &nr);
	if (r >= 0)
		r = snap_del(b, key);
	free(nr.layers);
	snap_rec_clear(&cur);
	return r;
}

int snap_stage_checkpoint(cairn_batch *b, const char *key, const cairn_id *layer)
{
	struct snap_rec rec;
	int r = snap_get(cairn_batch_store(b), key, &rec);
	if (r < 0)
		return r;
	rec.has_checkpoint = true;
	rec.checkpoint = *layer;
	rec.updated = time(NULL);
	r = snap_put(b, &rec);
	snap_rec_clear(&rec);
	return r;
}
