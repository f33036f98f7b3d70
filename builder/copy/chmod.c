/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --chmod: dockerfile2llb accepts an octal number up to 07777
 * (strconv.ParseUint(s, 8, 32)), else a symbolic mode parsed by
 * tonistiigi/dchapes-mode, BSD setmode(3) in Go: clauses separated by ','
 * of [ugoa]* then one or more of an operator [+-=] and permissions
 * [rwxXst] or a class to copy [ugo].  Without a class the umask masks
 * '+' and '-' (buildkitd's 022 is assumed); 's' does nothing for 'o'
 * alone, neither does 't'.  'X' is execute for directories and for files
 * that have some execute bit (fsutil's "linux X": with '=' as well as
 * '+').  The mode is applied to every copied file and directory, never to
 * symlinks.
 */
#include "copy-internal.h"

#define UMASK 022
#define ALL 07777

static mode_t who_mask(char c)
{
	switch (c) {
	case 'u':
		return S_ISUID | S_IRWXU;
	case 'g':
		return S_ISGID | S_IRWXG;
	case 'o':
		return S_IRWXO;
	default: /* 'a' */
		return S_ISUID | S_ISGID | S_IRWXU | S_IRWXG | S_IRWXO;
	}
}

static int bad(cairn_error **err, const char *s, bool numeric)
{
	_cleanup_free_ char *q = quote_name(s, strlen(s));
	if (numeric)
		return cairn_error_set(err, CAIRN_E_FORMAT,
				       "invalid chmod parameter: '%s'. it should be octal string "
				       "and between 0 and 07777",
				       q ? q : "");
	return cairn_error_set(err, CAIRN_E_FORMAT, "invalid chmod parameter: '%s': invalid syntax",
			       q ? q : "");
}

static int add_action(copy_chmod *c, char op, char copy, mode_t who, mode_t perm, bool x_cond)
{
	if (c->n >= COPY_CHMOD_MAX_ACTIONS)
		return -E2BIG;
	c->actions[c->n++] = (struct copy_chmod_action){
	    .op = op, .copy = copy, .who = who, .perm = perm, .x_cond = x_cond};
	return 0;
}

/* One clause's operators and permissions, from p; returns where it ends. */
static int parse_ops(copy_chmod *c, mode_t who, const char **pp)
{
	const char *p = *pp;
	for (;;) {
		char op = *p;
		if (op != '+' && op != '-' && op != '=')
			return -EINVAL;
		p++;
		mode_t perm = 0;
		bool x_cond = false, emitted = false;
		for (;; p++) {
			char ch = *p;
			if (ch == 'r') {
				perm |= S_IRUSR | S_IRGRP | S_IROTH;
			} else if (ch == 'w') {
				perm |= S_IWUSR | S_IWGRP | S_IWOTH;
			} else if (ch == 'x') {
				perm |= S_IXUSR | S_IXGRP | S_IXOTH;
			} else if (ch == 'X') {
				x_cond = true;
			} else if (ch == 's') {
				if (who == 0 || (who & ~(mode_t) S_IRWXO))
					perm |= S_ISUID | S_ISGID;
			} else if (ch == 't') {
				if (who == 0 || (who & ~(mode_t) S_IRWXO))
					perm |= S_ISVTX;
			} else if (ch == 'u' || ch == 'g' || ch == 'o') {
				if ((perm || x_cond) && add_action(c, op, 0, who, perm, x_cond) < 0)
					return -E2BIG;
				if (add_action(c, op, ch, who, 0, false) < 0)
					return -E2BIG;
				perm = 0;
				x_cond = false;
				emitted = true;
			} else {
				break;
			}
		}
		if ((perm || x_cond || (op == '=' && !emitted)) &&
		    add_action(c, op, 0, who, perm, x_cond) < 0)
			return -E2BIG;
		if (*p == 0 || *p == ',') {
			*pp = p;
			return 0;
		}
	}
}

static int parse_symbolic(copy_chmod *c, const char *s)
{
	const char *p = s;
	for (;;) {
		mode_t who = 0;
		while (*p == 'u' || *p == 'g' || *p == 'o' || *p == 'a')
			who |= who_mask(*p++);
		int r = parse_ops(c, who, &p);
		if (r < 0)
			return r;
		if (*p == 0)
			return 0;
		p++; /* ',' */
		if (*p == 0)
			return -EINVAL;
	}
}

int copy_chmod_parse(const char *s, copy_chmod *ret, cairn_error **err)
{
	copy_chmod c = {0};
	if (!s || !*s)
		return bad(err, "", false);
	size_t n = strspn(s, "01234567");
	if (n == strlen(s)) {
		unsigned long long v = 0;
		bool overflow = false;
		for (size_t i = 0; i < n; i++) {
			v = v * 8 + (unsigned) (s[i] - '0');
			if (v > 0xffffffffull)
				overflow = true;
		}
		if (overflow || v > ALL)
			return bad(err, s, true);
		c.octal = true;
		c.mode = (mode_t) v;
		*ret = c;
		return 0;
	}
	if (s[0] >= '0' && s[0] <= '9')
		return bad(err, s, true); /* looks numeric: the octal message */
	if (parse_symbolic(&c, s) < 0)
		return bad(err, s, false);
	*ret = c;
	return 0;
}

mode_t copy_chmod_apply(const copy_chmod *c, mode_t st_mode)
{
	if (c->octal)
		return c->mode;
	mode_t omode = st_mode & ALL, m = omode;
	bool x_ok = S_ISDIR(st_mode) || (omode & (S_IXUSR | S_IXGRP | S_IXOTH));
	for (uint8_t i = 0; i < c->n; i++) {
		const struct copy_chmod_action *a = &c->actions[i];
		mode_t who = a->who, bits = a->perm;
		if (who && (who & ~(mode_t) S_IRWXO))
			who |= S_ISVTX; /* sticky goes with anything but 'o' alone */
		mode_t mask = who ? who : (mode_t) (ALL & ~UMASK);
		if (a->x_cond && x_ok)
			bits |= S_IXUSR | S_IXGRP | S_IXOTH;
		mode_t clear = who ? (who & ~(mode_t) S_ISVTX) | (a->perm & S_ISVTX)
				   : (mode_t) (ALL & ~S_ISVTX);
		if (a->copy) {
			int shift = a->copy == 'u' ? 6 : a->copy == 'g' ? 3 : 0;
			mode_t b = (m >> shift) & 7;
			bits = b | b << 3 | b << 6;
			mask &= S_IRWXU | S_IRWXG | S_IRWXO;
			clear = (who ? who : (mode_t) ALL) & (S_IRWXU | S_IRWXG | S_IRWXO);
		}
		switch (a->op) {
		case '+':
			m |= bits & mask;
			break;
		case '-':
			m &= ~(bits & mask);
			break;
		default: /* '=' */
			m &= ~clear;
			m |= bits & mask;
			break;
		}
	}
	return m;
}
