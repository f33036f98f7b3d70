/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ADD https://...: the download (libcurl, redirects followed, TLS
 * verified), named after the URL's last path component ("__unnamed__"
 * when it has none, as BuildKit), checked against --checksum
 * (sha256:<hex>) before anything uses it.  Remote files are never
 * extracted.  The file gets mode 0600 as BuildKit's HTTP source writes it
 * and the Last-Modified time when the server sends one.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <strings.h>
#include <sys/stat.h>

#include "solve.h"

struct dl {
	int fd;
	EVP_MD_CTX *md;
	int err;
};

static size_t dl_write(char *data, size_t size, size_t n, void *userdata)
{
	struct dl *d = userdata;
	size_t len = size * n;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(d->fd, data + off, len - off);
		if (w < 0) {
			d->err = -errno;
			return 0;
		}
		off += (size_t) w;
	}
	EVP_DigestUpdate(d->md, data, len);
	return len;
}

static char *url_name(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t end = strcspn(p, "?#");
	const char *path = memchr(p, '/', end);
	if (!path)
		return strdup("__unnamed__");
	size_t plen = end - (size_t) (path - p);
	while (plen > 1 && path[plen - 1] == '/')
		plen--;
	const char *base = path;
	for (size_t i = 0; i < plen; i++)
		if (path[i] == '/')
			base = path + i + 1;
	size_t blen = plen - (size_t) (base - path);
	if (blen == 0 || (blen == 1 && base[0] == '.'))
		return strdup("__unnamed__");
	return strndup(base, blen);
}

int fetch_url(struct build *b, const char *url, const char *dir, const char *checksum,
	      char **ret_name, uint8_t ret_sha[32], cairn_error **err)
{
	(void) b;
	_cleanup_free_ char *name = url_name(url);
	_cleanup_free_ char *path = NULL;
	if (!name || strchr(name, '/') || asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	struct dl d = {.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
		       .md = EVP_MD_CTX_new()};
	if (d.fd < 0 || !d.md) {
		int r = d.fd < 0 ? -errno : -ENOMEM;
		EVP_MD_CTX_free(d.md);
		return cairn_error_set(err, r, "%s: %s", path, strerror(-r));
	}
	EVP_DigestInit_ex(d.md, EVP_sha256(), NULL);
	CURL *h = curl_easy_init();
	char ebuf[CURL_ERROR_SIZE] = "";
	long code = 0, filetime = -1;
	CURLcode cr = CURLE_FAILED_INIT;
	if (h) {
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, dl_write);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
		curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
		curl_easy_setopt(h, CURLOPT_USERAGENT, "cairn/" "0.1");
		cr = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(h, CURLINFO_FILETIME, &filetime);
		curl_easy_cleanup(h);
	}
	unsigned len = 32;
	EVP_DigestFinal_ex(d.md, ret_sha, &len);
	EVP_MD_CTX_free(d.md);
	if (filetime >= 0) {
		struct timespec ts[2] = {{.tv_sec = filetime}, {.tv_sec = filetime}};
		futimens(d.fd, ts);
	}
	close(d.fd);
	int r = 0;
	if (cr != CURLE_OK)
		r = cairn_error_set(err, d.err ? d.err : -EIO, "ADD %s: %s", url,
				    *ebuf ? ebuf : curl_easy_strerror(cr));
	else if (code >= 400)
		r = cairn_error_set(err, -EIO, "ADD %s: invalid response status %ld", url, code);
	if (r >= 0 && checksum) {
		char hex[65];
		hex32(ret_sha, hex);
		const char *want = strncmp(checksum, "sha256:", 7) == 0 ? checksum + 7 : NULL;
		if (!want)
			r = cairn_error_set(err, CAIRN_E_FORMAT,
					    "--checksum %s: only sha256:<hex> is supported", checksum);
		else if (strcasecmp(want, hex) != 0)
			r = cairn_error_set(err, CAIRN_E_DIGEST,
					    "ADD %s: digest mismatch sha256:%s: expected %s", url, hex,
					    checksum);
	}
	if (r < 0) {
		unlink(path);
		return r;
	}
	*ret_name = steal_pointer(&name);
	return 0;
}
