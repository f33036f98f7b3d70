/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Build progress in BuildKit's words.
 *
 *   plain    "#N TITLE", the command's output as "#N 0.123 line",
 *            "#N CACHED" or "#N DONE 0.3s" / "#N ERROR: ..." (buildx's
 *            --progress=plain)
 *   tty      one line per step, "=> TITLE", redrawn with its time when
 *            it ends; while a command runs, its latest output line shows
 *            under it
 *   rawjson  one JSON object per event: {"vertex":N,"name":...,
 *            "started":T} / {"vertex":N,"log":"..."} /
 *            {"vertex":N,"completed":T,"cached":B,"error":"..."} and a
 *            final {"summary":{...}}
 *   quiet    nothing but the summary line
 *
 * Every mode ends with the summary line (steps, cached, hit rate, time,
 * bytes new vs reused).  The command's output arrives from another thread
 * (step-run-exec.c): one mutex orders everything.
 */
#include <pthread.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "solve.h"

#define TAIL_BYTES 4096

struct vtx {
	char *title;
	double start;
	char tail[TAIL_BYTES]; /* ring of the last output bytes */
	size_t tail_len, tail_pos;
	char partial[512];     /* plain: an unfinished output line */
	size_t partial_len;
};

struct progress {
	cairn_progress_mode mode;
	FILE *f;
	pthread_mutex_t lock;
	struct vtx *v;
	size_t n;
	double t0;
	bool live_line; /* tty: an output line is shown under the current step */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int progress_new(const struct cairn_build_options *o, struct progress **ret)
{
	struct progress *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->f = o->progress_file ? o->progress_file : stderr;
	p->mode = o->progress;
	if (p->mode == CAIRN_PROGRESS_AUTO)
		p->mode = isatty(fileno(p->f)) ? CAIRN_PROGRESS_TTY : CAIRN_PROGRESS_PLAIN;
	pthread_mutex_init(&p->lock, NULL);
	p->t0 = now();
	*ret = p;
	return 0;
}

void progress_free(struct progress *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].title);
	free(p->v);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void json_event(struct progress *p, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	if (s)
		fprintf(p->f, "%s\n", s);
	free(s);
	json_decref(j);
	fflush(p->f);
}

static void tty_clear_live(struct progress *p)
{
	if (p->live_line) {
		fputs("\r\033[2K\033[1A", p->f); /* erase it and go back to the title line */
		p->live_line = false;
	}
}

unsigned progress_start(struct progress *p, const char *title)
{
	pthread_mutex_lock(&p->lock);
	struct vtx *v = realloc(p->v, (p->n + 1) * sizeof(*v));
	unsigned id = 0;
	if (v) {
		p->v = v;
		v[p->n] = (struct vtx){.title = strdup(title), .start = now()};
		id = (unsigned) ++p->n;
	}
	switch (p->mode) {
	case CAIRN_PROGRESS_PLAIN:
		fprintf(p->f, "#%u %s\n", id, title);
		break;
	case CAIRN_PROGRESS_TTY:
		fprintf(p->f, "=> %s\n", title);
		break;
	case CAIRN_PROGRESS_RAWJSON:
		json_event(p, json_pack("{s:i, s:s, s:f}", "vertex", id, "name", title, "started",
					now() - p->t0));
		break;
	default:
		break;
	}
	fflush(p->f);
	pthread_mutex_unlock(&p->lock);
	return id;
}

static struct vtx *vtx(struct progress *p, unsigned id)
{
	return id >= 1 && id <= p->n ? &p->v[id - 1] : NULL;
}

static void tail_add(struct vtx *v, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		v->tail[v->tail_pos] = data[i];
		v->tail_pos = (v->tail_pos + 1) % TAIL_BYTES;
		if (v->tail_len < TAIL_BYTES)
			v->tail_len++;
	}
}

static void plain_lines(struct progress *p, unsigned id, struct vtx *v, const char *data,
			size_t len)
{
	double t = now() - v->start;
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		bool flush = c == '\n' || v->partial_len == sizeof(v->partial) - 1;
		if (c != '\n')
			v->partial[v->partial_len++] = c;
		if (flush) {
			fprintf(p->f, "#%u %.3f %.*s\n", id, t, (int) v->partial_len, v->partial);
			v->partial_len = 0;
		}
	}
}

static void tty_live(struct progress *p, struct vtx *v)
{
	/* the last complete-or-not line of the tail */
	char line[120];
	size_t n = 0;
	for (size_t i = 0; i < v->tail_len && n < sizeof(line) - 1; i++) {
		size_t at = (v->tail_pos + TAIL_BYTES - 1 - i) % TAIL_BYTES;
		char c = v->tail[at];
		if (c == '\n') {
			if (n)
				break;
			continue;
		}
		line[n++] = c >= 0x20 || c < 0 ? c : ' ';
	}
	for (size_t i = 0; i < n / 2; i++) {
		char t = line[i];
		line[i] = line[n - 1 - i];
		line[n - 1 - i] = t;
	}
	line[n] = 0;
	tty_clear_live(p);
	fprintf(p->f, "\n\033[2m   %s\033[0m", line);
	p->live_line = true;
}

void progress_log(struct progress *p, unsigned id, const char *data, size_t len)
{
	pthread_mutex_lock(&p->lock);
	struct vtx *v = vtx(p, id);
	if (v) {
		tail_add(v, data, len);
		switch (p->mode) {
		case CAIRN_PROGRESS_PLAIN:
			plain_lines(p, id, v, data, len);
			break;
		case CAIRN_PROGRESS_TTY:
			tty_live(p, v);
			break;
		case CAIRN_PROGRESS_RAWJSON:
			json_event(p, json_pack("{s:i, s:s%}", "vertex", id, "log", data, len));
			break;
		default:
			break;
		}
		fflush(p->f);
	}
	pthread_mutex_unlock(&p->lock);
}

static void finish(struct progress *p, unsigned id, bool cached, int error)
{
	pthread_mutex_lock(&p->lock);
	struct vtx *v = vtx(p, id);
	if (!v) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	double t = now() - v->start;
	switch (p->mode) {
	case CAIRN_PROGRESS_PLAIN:
		if (v->partial_len)
			plain_lines(p, id, v, "\n", 1);
		if (cached)
			fprintf(p->f, "#%u CACHED\n\n", id);
		else if (error)
			fprintf(p->f, "#%u ERROR: %s\n\n", id, cairn_strerror(error));
		else
			fprintf(p->f, "#%u DONE %.1fs\n\n", id, t);
		break;
	case CAIRN_PROGRESS_TTY:
		tty_clear_live(p);
		fprintf(p->f, "\033[1A\r\033[2K=> %s%s", cached ? "CACHED " : error ? "ERROR " : "",
			v->title);
		if (!cached)
			fprintf(p->f, "  %.1fs", t);
		fputc('\n', p->f);
		break;
	case CAIRN_PROGRESS_RAWJSON: {
		json_t *j = json_pack("{s:i, s:f, s:b}", "vertex", id, "completed", now() - p->t0,
				      "cached", cached);
		if (j && error)
			json_object_set_new(j, "error", json_string(cairn_strerror(error)));
		json_event(p, j);
		break;
	}
	default:
		break;
	}
	fflush(p->f);
	pthread_mutex_unlock(&p->lock);
}

void progress_cached(struct progress *p, unsigned id)
{
	finish(p, id, true, 0);
	/* a cached vertex is finished; a later progress_done is a no-op */
	pthread_mutex_lock(&p->lock);
	struct vtx *v = vtx(p, id);
	if (v)
		v->start = -1;
	pthread_mutex_unlock(&p->lock);
}

void progress_done(struct progress *p, unsigned id, int error)
{
	pthread_mutex_lock(&p->lock);
	struct vtx *v = vtx(p, id);
	bool ended = !v || v->start < 0;
	pthread_mutex_unlock(&p->lock);
	if (!ended)
		finish(p, id, false, error);
}

void progress_note(struct progress *p, const char *fmt, ...)
{
	if (p->mode == CAIRN_PROGRESS_QUIET || p->mode == CAIRN_PROGRESS_RAWJSON)
		return;
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&p->lock);
	vfprintf(p->f, fmt, ap);
	fputc('\n', p->f);
	fflush(p->f);
	pthread_mutex_unlock(&p->lock);
	va_end(ap);
}

char *progress_tail(struct progress *p, unsigned id, unsigned lines)
{
	pthread_mutex_lock(&p->lock);
	struct vtx *v = vtx(p, id);
	char *out = NULL;
	if (v && (out = malloc(v->tail_len + 1))) {
		size_t start = (v->tail_pos + TAIL_BYTES - v->tail_len) % TAIL_BYTES;
		for (size_t i = 0; i < v->tail_len; i++)
			out[i] = v->tail[(start + i) % TAIL_BYTES];
		out[v->tail_len] = 0;
		/* keep the last `lines` lines */
		size_t len = v->tail_len;
		while (len && out[len - 1] == '\n')
			out[--len] = 0;
		size_t cut = len;
		for (unsigned k = 0; cut > 0 && k < lines; k++) {
			while (cut > 0 && out[cut - 1] != '\n')
				cut--;
			if (k + 1 < lines && cut > 0)
				cut--;
		}
		memmove(out, out + cut, len - cut + 1);
	}
	pthread_mutex_unlock(&p->lock);
	return out;
}

static void human(uint64_t b, char out[32])
{
	static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double) b;
	size_t i = 0;
	while (v >= 1024 && i + 1 < ARRAY_SIZE(u)) {
		v /= 1024;
		i++;
	}
	snprintf(out, 32, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

void progress_summary(struct progress *p, const struct bstats *st, double seconds)
{
	char nb[32], rb[32];
	human(st->new_bytes, nb);
	human(st->reused_bytes, rb);
	double rate = st->steps ? 100.0 * st->cached / st->steps : 0;
	pthread_mutex_lock(&p->lock);
	if (p->mode == CAIRN_PROGRESS_RAWJSON) {
		json_event(p, json_pack("{s:{s:i, s:i, s:f, s:f, s:I, s:I}}", "summary", "steps",
					st->steps, "cached", st->cached, "hit_rate", rate / 100,
					"seconds", seconds, "new_bytes", (json_int_t) st->new_bytes,
					"reused_bytes", (json_int_t) st->reused_bytes));
	} else {
		fprintf(p->f, "cairn build: %u steps, %u cached (%.0f%% hit rate), %.2fs, %s new, %s reused\n",
			st->steps, st->cached, rate, seconds, nb, rb);
		fflush(p->f);
	}
	pthread_mutex_unlock(&p->lock);
}
