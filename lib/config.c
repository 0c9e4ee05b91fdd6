/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The configuration declared in config.h: value parsers and formatters, one key
 * table per section (name, setter, formatter, default, doc) that drives the
 * defaults, msh_conf_set_*, the file loader and msh_conf_dump alike, and the
 * whole-file checks. Files go through libinih's ini_parse_stream() with a line
 * reader of our own, which counts lines (so every error names its line), opens
 * sections itself (so an empty [shard NAME] still declares a shard and a repeated
 * section of any kind is caught), strips indentation (which would turn on inih's
 * multi-line continuation and set a key twice) and refuses lines inih would
 * silently cut.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/un.h>

#include <ini.h>

#include "config.h"
#include "repl.h"
#include "segment.h"
#include "wire.h"

/* The longest line the loader takes, without its newline: inih reads a line into
 * an INI_MAX_LINE buffer and cuts a longer one without a word. String setters keep
 * "key = value" within it, so whatever msh_conf_dump() writes loads back. */
#define LINE_MAX_CHARS (INI_MAX_LINE - 2)

/* Segments are slots of the arena aligned to MSH_SLOT_ALIGN (shard.h); requiring a
 * multiple keeps max_bytes / segment_bytes the number of slots the shard gets. */
#define SEGMENT_ALIGN 4096u
#define SEGMENT_MIN (64ull << 10)
#define SEGMENT_MAX ((4ull << 30) - SEGMENT_ALIGN)
#define SEGMENT_MIN_MESSAGES 16u
#define SEGMENT_MSG_COST (MSH_BLOCK_HDR_LEN + MSH_IDX_ENTRY_LEN)

/* Bytes in front of a message in one PUBLISH datagram: IPv4, UDP, PUBLISH header,
 * block length (PROTOCOL.md, "Sizes"). */
#define DATAGRAM_OVERHEAD (20u + 8u + MSH_PUBLISH_HDR_LEN + MSH_BLOCK_HDR_LEN)

/* The highest CPU an lcore may be placed on (LCORE@CPU): EAL's --lcores takes
 * CPU ids below CPU_SETSIZE. The lcore ids themselves stop below MSH_CONF_MAX_LCORE. */
#define MAX_CPU_ID 1023u
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define MAX_SECTION_KEYS 24
/* IPv4 20 + UDP 8 bytes of a datagram on a port of a given mtu. */
#define DATAGRAM_IP_UDP 28u

#define NS_PER_US 1000ull
#define NS_PER_MS (1000ull * NS_PER_US)
#define NS_PER_S (1000ull * NS_PER_MS)

/* String checks (conf_key.flags of a string key). */
#define STR_NOSPACE 0x1u  /* no space inside */
#define STR_ABSPATH 0x2u  /* an absolute path */
#define STR_IDENT 0x4u    /* letters, digits, '_' and '-' */
#define STR_CORELIST 0x8u /* an EAL core list: 0-3,8 */
/* Number checks. */
#define NUM_SEGMENT 0x10u /* a multiple of SEGMENT_ALIGN */

struct conf_word {
	const char *word;
	unsigned int value;
};

struct conf_key;
typedef int (*conf_set_fn)(const struct conf_key *k, void *obj, const char *val, char *err,
			   size_t errlen);
typedef void (*conf_fmt_fn)(const struct conf_key *k, const void *obj, char *buf, size_t len);

/* One key of a section. The setter checks and stores a value, the formatter writes
 * it back in a form the setter takes, def is the value of an empty file. */
struct conf_key {
	const char *name;
	conf_set_fn set;
	conf_fmt_fn fmt;
	const char *def;
	const char *doc;
	size_t off; /* the field in the section's struct */
	size_t size;
	uint64_t lo, hi; /* range of a number; length of a string (hi 0: the field's) */
	const struct conf_word *words; /* enum words; for a string, the words it may be */
	unsigned int flags;
};

struct conf_section {
	const char *type; /* the first word of the header */
	const struct conf_key *keys;
	size_t n_keys;
};

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- numbers, sizes and durations ---- */

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* A letter, a digit or one of extra. */
static bool
name_char(char c, const char *extra)
{
	char l = ascii_lower(c);

	return is_digit(c) || (l >= 'a' && l <= 'z') || (c != '\0' && strchr(extra, c) != NULL);
}

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!is_digit(*s))
			return false;
	return true;
}

/* One run of decimal digits, nothing before it (no sign, no space); on success
 * *sp points past it. strtoull would take " +5" and wrap "-1" around. */
static int
parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!is_digit(*s))
		return -EINVAL;
	for (; is_digit(*s); s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return 0;
}

int
msh_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "kmgt";
	unsigned int shift = 0;
	const char *u;
	uint64_t v;

	if (s == NULL || parse_digits(&s, &v) != 0)
		return -EINVAL;
	if (*s != '\0' && (u = strchr(units, ascii_lower(*s))) != NULL) {
		shift = 10 * (unsigned int)(u - units + 1);
		s++;
		if (strcasecmp(s, "ib") == 0)
			s += 2;
	}
	if (strcasecmp(s, "b") == 0)
		s++;
	if (*s != '\0')
		return -EINVAL;
	if (shift != 0 && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* Largest unit first: the formatter takes the first that divides exactly. */
static const struct {
	const char *unit;
	uint64_t ns;
} dur_units[] = {
	{ "h", 3600 * NS_PER_S }, { "m", 60 * NS_PER_S }, { "s", NS_PER_S },
	{ "ms", NS_PER_MS },      { "us", NS_PER_US },    { "ns", 1 },
};

int
msh_parse_duration(const char *s, uint64_t *ns)
{
	uint64_t v;

	if (s == NULL || parse_digits(&s, &v) != 0)
		return -EINVAL;
	if (*s == '\0') {
		/* Only zero means the same in every unit. */
		if (v != 0)
			return -EINVAL;
		*ns = 0;
		return 0;
	}
	for (size_t i = 0; i < MSH_ARRAY_SIZE(dur_units); i++) {
		if (strcmp(s, dur_units[i].unit) != 0)
			continue;
		if (v > UINT64_MAX / dur_units[i].ns)
			return -EINVAL;
		*ns = v * dur_units[i].ns;
		return 0;
	}
	return -EINVAL;
}

char *
msh_fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "TGMK";

	for (unsigned int i = 0; v != 0 && i < 4; i++) {
		unsigned int shift = 10 * (4 - i);

		if ((v & ((1ull << shift) - 1)) == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", v >> shift, units[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

char *
msh_fmt_duration(uint64_t ns, char *buf, size_t len)
{
	if (ns == 0) {
		snprintf(buf, len, "0");
		return buf;
	}
	for (size_t i = 0; i < MSH_ARRAY_SIZE(dur_units); i++) {
		if (ns % dur_units[i].ns == 0) {
			snprintf(buf, len, "%" PRIu64 "%s", ns / dur_units[i].ns,
				 dur_units[i].unit);
			break;
		}
	}
	return buf;
}

static char *
fmt_count(uint64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

/* An EAL core list ("0-3,8"): numbers and ranges separated by commas, each
 * a lone lcore optionally placed on one CPU ("0@0,1@1,2@1", EAL's --lcores
 * form), so that a small test host can run more lcores than it has CPUs.
 * Counts the lcores. Returns -ERANGE, with the lcore id in *beyond, for an
 * lcore id of MSH_CONF_MAX_LCORE or more (EAL refuses those too, and the
 * appliance's per-lcore arrays end there); -EINVAL for anything else wrong. */
static int
corelist_count(const char *s, unsigned int *count, uint64_t *beyond)
{
	uint64_t seen[(MSH_CONF_MAX_LCORE + 63) / 64] = { 0 };
	unsigned int n = 0;

	for (;;) {
		uint64_t lo, hi, cpu;

		if (parse_digits(&s, &lo) != 0)
			return -EINVAL;
		hi = lo;
		if (*s == '-') {
			s++;
			if (parse_digits(&s, &hi) != 0)
				return -EINVAL;
		}
		if (lo > hi)
			return -EINVAL;
		if (*s == '@') {
			/* EAL takes a lone lcore there (a range needs its group form). */
			if (lo != hi)
				return -EINVAL;
			s++;
			if (parse_digits(&s, &cpu) != 0 || cpu > MAX_CPU_ID)
				return -EINVAL;
		}
		if (*s != '\0' && *s != ',')
			return -EINVAL;
		if (hi >= MSH_CONF_MAX_LCORE) {
			/* The number as written: 0-200 names 200, not 128. */
			*beyond = lo >= MSH_CONF_MAX_LCORE ? lo : hi;
			return -ERANGE;
		}
		for (uint64_t v = lo; v <= hi; v++) {
			if ((seen[v / 64] >> (v % 64)) & 1)
				continue;
			seen[v / 64] |= 1ull << (v % 64);
			n++;
		}
		if (*s++ == '\0')
			break;
	}
	*count = n;
	return 0;
}

/* ---- fields ---- */

static uint64_t
field_get(const struct conf_key *k, const void *obj)
{
	const uint8_t *p = (const uint8_t *)obj + k->off;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	switch (k->size) {
	case 1:
		memcpy(&v8, p, 1);
		return v8;
	case 2:
		memcpy(&v16, p, 2);
		return v16;
	case 4:
		memcpy(&v32, p, 4);
		return v32;
	default:
		memcpy(&v64, p, 8);
		return v64;
	}
}

/* The caller has checked that v fits (the key's range lies within its field). */
static void
field_put(const struct conf_key *k, void *obj, uint64_t v)
{
	uint8_t *p = (uint8_t *)obj + k->off;
	uint8_t v8 = (uint8_t)v;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;

	switch (k->size) {
	case 1:
		memcpy(p, &v8, 1);
		break;
	case 2:
		memcpy(p, &v16, 2);
		break;
	case 4:
		memcpy(p, &v32, 4);
		break;
	default:
		memcpy(p, &v, 8);
		break;
	}
}

/* "64K to 4194300K", or "at least 2M" for an open range. */
static char *
range_text(uint64_t lo, uint64_t hi, char *(*fmt)(uint64_t, char *, size_t), char *buf,
	   size_t len)
{
	char a[32], b[32];

	if (hi == UINT64_MAX)
		snprintf(buf, len, "at least %s", fmt(lo, a, sizeof(a)));
	else
		snprintf(buf, len, "%s to %s", fmt(lo, a, sizeof(a)), fmt(hi, b, sizeof(b)));
	return buf;
}

static int
range_err(const struct conf_key *k, const char *val, char *(*fmt)(uint64_t, char *, size_t),
	  char *err, size_t errlen)
{
	char r[80];

	set_err(err, errlen, "%s: '%s' is out of range (%s)", k->name, val,
		range_text(k->lo, k->hi, fmt, r, sizeof(r)));
	return -EINVAL;
}

/* "one of a, b, c" for an enum error. */
static char *
word_list(const struct conf_word *w, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (; w->word != NULL && n < len; w++) {
		int r = snprintf(buf + n, len - n, "%s%s", n ? ", " : "", w->word);

		if (r < 0)
			break;
		n += (size_t)r;
	}
	return buf;
}

static int
words_err(const struct conf_key *k, const char *val, char *err, size_t errlen)
{
	char list[128];

	set_err(err, errlen, "%s: '%s' is not one of %s", k->name, val,
		word_list(k->words, list, sizeof(list)));
	return -EINVAL;
}

static const struct conf_word *
word_find(const struct conf_word *w, const char *val)
{
	for (; w->word != NULL; w++)
		if (strcmp(w->word, val) == 0)
			return w;
	return NULL;
}

/* A [port NAME] or [feed NAME] name: 1 to 31 letters, digits, '_', '-' or '.'. */
static bool
port_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= MSH_CONF_PORT_NAME_LEN)
		return false;
	for (; *s != '\0'; s++)
		if (!name_char(*s, "_-."))
			return false;
	return true;
}

/* The same for a name field of a struct filled in code, which may lack its NUL. */
static bool
name_field_ok(const char *s, size_t size)
{
	return strnlen(s, size) < size && port_name_ok(s);
}

/* ---- setters and formatters, one pair per kind of value ---- */

static int
set_size(const struct conf_key *k, void *obj, const char *val, char *err, size_t errlen)
{
	uint64_t v;

	if (msh_parse_size(val, &v) != 0) {
		set_err(err, errlen,
			"%s: '%s' is not a size (use a number with an optional K, M, G or T "
			"suffix, e.g. 64M)",
			k->name, val);
		return -EINVAL;
	}
	if (v < k->lo || v > k->hi)
		return range_err(k, val, msh_fmt_size, err, errlen);
	if ((k->flags & NUM_SEGMENT) && v % SEGMENT_ALIGN != 0) {
		set_err(err, errlen, "%s: '%s' is not a multiple of 4K (segments are page-aligned)",
			k->name, val);
		return -EINVAL;
	}
	field_put(k, obj, v);
	return 0;
}

static void
fmt_size(const struct conf_key *k, const void *obj, char *buf, size_t len)
{
	msh_fmt_size(field_get(k, obj), buf, len);
}

static int
set_duration(const struct conf_key *k, void *obj, const char *val, char *err, size_t errlen)
{
	uint64_t v;

	if (msh_parse_duration(val, &v) != 0) {
		if (all_digits(val))
			set_err(err, errlen,
				"%s: '%s' has no unit (add one of ns, us, ms, s, m or h, e.g. %ss)",
				k->name, val, val);
		else
			set_err(err, errlen,
				"%s: '%s' is not a duration (use a whole number and a unit ns, us, "
				"ms, s, m or h, e.g. 500ms)",
				k->name, val);
		return -EINVAL;
	}
	if (v < k->lo || v > k->hi)
		return range_err(k, val, msh_fmt_duration, err, errlen);
	field_put(k, obj, v);
	return 0;
}

static void
fmt_duration(const struct conf_key *k, const void *obj, char *buf, size_t len)
{
	msh_fmt_duration(field_get(k, obj), buf, len);
}

static int
set_count(const struct conf_key *k, void *obj, const char *val, char *err, size_t errlen)
{
	const char *p = val;
	uint64_t v;

	if (parse_digits(&p, &v) != 0 || *p != '\0') {
		/* Digits only, yet no number: too many of them. */
		if (all_digits(val))
			return range_err(k, val, fmt_count, err, errlen);
		set_err(err, errlen, "%s: '%s' is not a number (use a whole number from %" PRIu64
			" to %" PRIu64 ")", k->name, val, k->lo, k->hi);
		return -EINVAL;
	}
	if (v < k->lo || v > k->hi)
		return range_err(k, val, fmt_count, err, errlen);
	field_put(k, obj, v);
	return 0;
}

static void
fmt_count_key(const struct conf_key *k, const void *obj, char *buf, size_t len)
{
	fmt_count(field_get(k, obj), buf, len);
}

static int
set_enum(const struct conf_key *k, void *obj, const char *val, char *err, size_t errlen)
{
	const struct conf_word *w = word_find(k->words, val);

	if (w == NULL)
		return words_err(k, val, err, errlen);
	field_put(k, obj, w->value);
	return 0;
}

static void
fmt_enum(const struct conf_key *k, const void *obj, char *buf, size_t len)
{
	uint64_t v = field_get(k, obj);

	for (const struct conf_word *w = k->words; w->word != NULL; w++) {
		if (w->value == v) {
			snprintf(buf, len, "%s", w->word);
			return;
		}
	}
	/* Not a value of the enum: written so that loading it back fails. */
	snprintf(buf, len, "?%" PRIu64, v);
}

/* [shard] worker: a worker index, or auto. */
static int
set_worker(const struct conf_key *k, void *obj, const char *val, char *err, size_t errlen)
{
	const char *p = val;
	uint64_t v;

	if (strcmp(val, "auto") == 0) {
		field_put(k, obj, MSH_WORKER_AUTO);
		return 0;
	}
	if (parse_digits(&p, &v) != 0 || *p != '\0' || v >= 128) {
		set_err(err, errlen, "%s: '%s' is not auto or a worker index 0 to 127", k->name,
			val);
		return -EINVAL;
	}
	field_put(k, obj, v);
	return 0;
}

static void
fmt_worker(const struct conf_key *k, const void *obj, char *buf, size_t len)
{
	uint64_t v = field_get(k, obj);

	if (v == MSH_WORKER_AUTO)
		snprintf(buf, len, "auto");
	else
		snprintf(buf, len, "%" PRIu64, v);
}

static int
set_hex(const struct conf_key *k, void *obj, const char *val, char *err, size_t errlen)
{
	const char *p = val;
	uint64_t v = 0;
	size_t n = 0;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	for (; *p != '\0'; p++, n++) {
		char c = ascii_lower(*p);
		unsigned int d;

		if (is_digit(c))
			d = (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned int)(c - 'a' + 10);
		else
			break;
		if (n == 16)
			break;
		v = v << 4 | d;
	}
	if (*p != '\0' || n == 0) {
		set_err(err, errlen,
			"%s: '%s' is not a 64-bit hex number (use 1 to 16 hex digits with an "
			"optional 0x, e.g. 0x5eed5eed5eed5eed; 0 picks one at random)",
			k->name, val);
		return -EINVAL;
	}
	field_put(k, obj, v);
	return 0;
}

static void
fmt_hex(const struct conf_key *k, const void *obj, char *buf, size_t len)
{
	uint64_t v = field_get(k, obj);

	if (v == 0)
		snprintf(buf, len, "0");
	else
		snprintf(buf, len, "0x%016" PRIx64, v);
}

/* Longest string a key takes: its field, its own limit and the file's line. */
static size_t
string_max(const struct conf_key *k)
{
	size_t max = k->size - 1;
	size_t line = LINE_MAX_CHARS - strlen(k->name) - strlen(" = ");

	if (k->hi != 0 && k->hi < max)
		max = (size_t)k->hi;
	return MSH_MIN(max, line);
}

static int
set_string(const struct conf_key *k, void *obj, const char *val, char *err, size_t errlen)
{
	size_t len = strlen(val), max = string_max(k);
	char *dst = (char *)obj + k->off;
	unsigned int cores;

	if (k->words != NULL && word_find(k->words, val) == NULL)
		return words_err(k, val, err, errlen);
	if (len < k->lo) {
		set_err(err, errlen, "%s: must not be empty", k->name);
		return -EINVAL;
	}
	if (len > max) {
		set_err(err, errlen, "%s: too long (%zu characters, at most %zu)", k->name, len,
			max);
		return -EINVAL;
	}
	for (const char *p = val; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f) {
			set_err(err, errlen, "%s: contains a control character", k->name);
			return -EINVAL;
		}
		if (c == ';') {
			set_err(err, errlen,
				"%s: '%s' contains ';', which starts a comment in the "
				"configuration file", k->name, val);
			return -EINVAL;
		}
		if (c == ' ' && (k->flags & STR_NOSPACE)) {
			set_err(err, errlen, "%s: '%s' must not contain spaces", k->name, val);
			return -EINVAL;
		}
		if ((k->flags & STR_IDENT) && !name_char((char)c, "_-")) {
			set_err(err, errlen, "%s: '%s' may hold only letters, digits, '_' and '-'",
				k->name, val);
			return -EINVAL;
		}
	}
	/* The file trims values, so such a value would not read back the same. */
	if (len > 0 && (val[0] == ' ' || val[len - 1] == ' ')) {
		set_err(err, errlen, "%s: '%s' has leading or trailing spaces", k->name, val);
		return -EINVAL;
	}
	if ((k->flags & STR_ABSPATH) && val[0] != '/') {
		set_err(err, errlen, "%s: '%s' is not an absolute path (start it with /)", k->name,
			val);
		return -EINVAL;
	}
	if (k->flags & STR_CORELIST) {
		uint64_t beyond;
		int rc = corelist_count(val, &cores, &beyond);

		if (rc == -ERANGE) {
			set_err(err, errlen,
				"%s: lcore %" PRIu64 " is beyond the %u lcores this build supports "
				"(0 to %u)", k->name, beyond, MSH_CONF_MAX_LCORE,
				MSH_CONF_MAX_LCORE - 1);
			return -EINVAL;
		}
		if (rc != 0) {
			set_err(err, errlen,
				"%s: '%s' is not a core list (use numbers and ranges, e.g. 0-1 or "
				"0,2-5, or LCORE@CPU with a CPU up to %u: 0@0,1@1,2@1)", k->name,
				val, MAX_CPU_ID);
			return -EINVAL;
		}
	}
	/* Clear the whole field, so that equal settings are equal bytes. */
	memset(dst, 0, k->size);
	memcpy(dst, val, len);
	return 0;
}

static void
fmt_string(const struct conf_key *k, const void *obj, char *buf, size_t len)
{
	const char *src = (const char *)obj + k->off;

	snprintf(buf, len, "%.*s", (int)strnlen(src, k->size), src);
}

/* address = a.b.c.d/len, stored in two fields of the port; empty means not set. */
static int
set_address(const struct conf_key *k, void *obj, const char *val, char *err, size_t errlen)
{
	struct msh_port_conf *p = obj;
	const char *slash = strchr(val, '/'), *q;
	char ip[INET_ADDRSTRLEN];
	struct in_addr a;
	uint64_t len;
	uint32_t host;

	if (*val == '\0') {
		p->ipv4 = 0;
		p->prefix_len = 0;
		return 0;
	}
	if (slash == NULL) {
		set_err(err, errlen,
			"%s: '%s' has no prefix length (use a.b.c.d/len, e.g. 10.77.0.1/24)",
			k->name, val);
		return -EINVAL;
	}
	if ((size_t)(slash - val) >= sizeof(ip))
		goto bad_ip;
	memcpy(ip, val, (size_t)(slash - val));
	ip[slash - val] = '\0';
	if (inet_pton(AF_INET, ip, &a) != 1)
		goto bad_ip;
	q = slash + 1;
	if (parse_digits(&q, &len) != 0 || *q != '\0' || len < 1 || len > 32) {
		set_err(err, errlen,
			"%s: '%s' has a bad prefix length (use 1 to 32 after the /, e.g. "
			"10.77.0.1/24)", k->name, val);
		return -EINVAL;
	}
	host = ntohl(a.s_addr);
	if (host == 0 || host == UINT32_MAX || (host >> 28) == 0xe) {
		set_err(err, errlen,
			"%s: '%s' is not a unicast address (give the port's own address)", k->name,
			val);
		return -EINVAL;
	}
	p->ipv4 = host;
	p->prefix_len = (uint8_t)len;
	return 0;
bad_ip:
	set_err(err, errlen, "%s: '%s' is not an IPv4 address (use a.b.c.d/len, e.g. 10.77.0.1/24)",
		k->name, val);
	return -EINVAL;
}

/* A plain unicast IPv4 address (no prefix), or empty for none. */
static int
set_ipv4(const struct conf_key *k, void *obj, const char *val, char *err, size_t errlen)
{
	struct in_addr a;
	uint32_t host;

	if (*val == '\0') {
		field_put(k, obj, 0);
		return 0;
	}
	if (inet_pton(AF_INET, val, &a) != 1) {
		set_err(err, errlen, "%s: '%s' is not an IPv4 address (a.b.c.d, e.g. 10.78.0.2)",
			k->name, val);
		return -EINVAL;
	}
	host = ntohl(a.s_addr);
	if (host == 0 || host == UINT32_MAX || (host >> 28) == 0xe) {
		set_err(err, errlen, "%s: '%s' is not a unicast address", k->name, val);
		return -EINVAL;
	}
	field_put(k, obj, host);
	return 0;
}

static void
fmt_ipv4(const struct conf_key *k, const void *obj, char *buf, size_t len)
{
	struct in_addr a = { .s_addr = htonl((uint32_t)field_get(k, obj)) };
	char ip[INET_ADDRSTRLEN];

	if (a.s_addr == 0)
		snprintf(buf, len, "%s", "");
	else
		snprintf(buf, len, "%s", inet_ntop(AF_INET, &a, ip, sizeof(ip)));
}

static void
fmt_address(const struct conf_key *k, const void *obj, char *buf, size_t len)
{
	const struct msh_port_conf *p = obj;
	struct in_addr a = { .s_addr = htonl(p->ipv4) };
	char ip[INET_ADDRSTRLEN];

	if (p->ipv4 == 0)
		snprintf(buf, len, "%s", "");
	else
		snprintf(buf, len, "%s/%u", inet_ntop(AF_INET, &a, ip, sizeof(ip)), p->prefix_len);
}

/* A unicast IPv4 address (host order): not 0, not broadcast, not multicast. */
static bool
ipv4_unicast(uint32_t host)
{
	return host != 0 && host != UINT32_MAX && (host >> 28) != 0xe;
}

/* "1.2.3.4" of a host-order address. */
static char *
fmt_ip(uint32_t host, char *buf, size_t len)
{
	struct in_addr a = { .s_addr = htonl(host) };
	char ip[INET_ADDRSTRLEN];

	snprintf(buf, len, "%s", inet_ntop(AF_INET, &a, ip, sizeof(ip)));
	return buf;
}

/* The address of "a.b.c.d:..." (whatever precedes the first ':' or '@'), or -EINVAL. */
static int
parse_ip_prefix(const char *s, uint32_t *host, const char **rest)
{
	size_t n = strcspn(s, ":@");
	char ip[INET_ADDRSTRLEN];
	struct in_addr a;

	if (n >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, &a) != 1)
		return -EINVAL;
	*host = ntohl(a.s_addr);
	*rest = s + n;
	return 0;
}

#define MCAST_FORM "GROUP:PORT[@PORTNAME], e.g. 239.1.1.1:30001"

/* The reason names the value and the form, not the key: the setter puts the key
 * in front of it ("line_a: '239.1.1.1' needs a UDP port (...)"). */
int
msh_parse_mcast_addr(const char *s, struct msh_mcast_addr *out, char *err, size_t errlen)
{
	struct msh_mcast_addr a;
	const char *p;
	uint64_t port;
	uint32_t group;

	if (s == NULL || out == NULL) {
		set_err(err, errlen, "missing value (" MCAST_FORM ")");
		return -EINVAL;
	}
	memset(&a, 0, sizeof(a));
	if (*s == '\0') {
		memcpy(out, &a, sizeof(a));
		return 0;
	}
	if (parse_ip_prefix(s, &group, &p) != 0) {
		set_err(err, errlen, "'%s' does not start with a multicast group (" MCAST_FORM ")",
			s);
		return -EINVAL;
	}
	if ((group >> 28) != 0xe) {
		set_err(err, errlen,
			"'%s' is not a multicast group (use one in 224.0.0.0/4, e.g. "
			"239.1.1.1:30001)", s);
		return -EINVAL;
	}
	if ((group >> 8) == 0xe00000) {
		set_err(err, errlen,
			"'%s' is in 224.0.0.0/24, the link-local control block (IGMP, OSPF, ...); "
			"use another group, e.g. 239.1.1.1:30001", s);
		return -EINVAL;
	}
	if (*p != ':') {
		set_err(err, errlen, "'%s' needs a UDP port (" MCAST_FORM ")", s);
		return -EINVAL;
	}
	p++;
	if (parse_digits(&p, &port) != 0 || port < 1 || port > 65535) {
		set_err(err, errlen,
			"'%s' has a bad UDP port (use 1 to 65535 after the ':', e.g. "
			"239.1.1.1:30001)", s);
		return -EINVAL;
	}
	if (*p != '\0' && *p != '@') {
		set_err(err, errlen, "'%s' has text after the UDP port (" MCAST_FORM "@feed0)", s);
		return -EINVAL;
	}
	if (*p == '@') {
		p++;
		if (!port_name_ok(p)) {
			set_err(err, errlen,
				"'%s' has a bad port name after '@' (the NAME of a [port NAME]: 1 "
				"to %d letters, digits, '_', '-' or '.')", s,
				MSH_CONF_PORT_NAME_LEN - 1);
			return -EINVAL;
		}
		memcpy(a.port_name, p, strlen(p));
	}
	a.group = group;
	a.port = (uint16_t)port;
	memcpy(out, &a, sizeof(a));
	return 0;
}

/* What is not "not set" is written even when wrong (group 0 with a port, a port
 * 0, a name without its NUL), so that parsing it back refuses it. */
char *
msh_fmt_mcast_addr(const struct msh_mcast_addr *a, char *buf, size_t len)
{
	size_t nlen = strnlen(a->port_name, sizeof(a->port_name));
	char ip[INET_ADDRSTRLEN];

	if (a->group == 0 && a->port == 0 && nlen == 0)
		snprintf(buf, len, "%s", "");
	else
		snprintf(buf, len, "%s:%u%s%.*s", fmt_ip(a->group, ip, sizeof(ip)), a->port,
			 nlen != 0 ? "@" : "", (int)nlen, a->port_name);
	return buf;
}

static int
set_mcast(const struct conf_key *k, void *obj, const char *val, char *err, size_t errlen)
{
	char msg[MSH_CONF_ERR_LEN];
	struct msh_mcast_addr a;

	if (msh_parse_mcast_addr(val, &a, msg, sizeof(msg)) != 0) {
		set_err(err, errlen, "%s: %s", k->name, msg);
		return -EINVAL;
	}
	memcpy((uint8_t *)obj + k->off, &a, sizeof(a));
	return 0;
}

static void
fmt_mcast(const struct conf_key *k, const void *obj, char *buf, size_t len)
{
	struct msh_mcast_addr a;

	memcpy(&a, (const uint8_t *)obj + k->off, sizeof(a));
	msh_fmt_mcast_addr(&a, buf, len);
}

/* [feed] rerequest = ADDR:PORT, stored in two fields of the feed; empty means none. */
static int
set_rerequest(const struct conf_key *k, void *obj, const char *val, char *err, size_t errlen)
{
	struct msh_feed_conf *f = obj;
	const char *p;
	uint64_t port;
	uint32_t host;

	if (*val == '\0') {
		f->rerequest_ip = 0;
		f->rerequest_port = 0;
		return 0;
	}
	if (parse_ip_prefix(val, &host, &p) != 0 || *p == '@') {
		set_err(err, errlen,
			"%s: '%s' is not an IPv4 address and UDP port (use ADDR:PORT, e.g. "
			"10.80.0.1:30010)", k->name, val);
		return -EINVAL;
	}
	if (!ipv4_unicast(host)) {
		set_err(err, errlen,
			"%s: '%s' is not a unicast address (the re-request server's ADDR:PORT, "
			"e.g. 10.80.0.1:30010)", k->name, val);
		return -EINVAL;
	}
	if (*p != ':') {
		set_err(err, errlen, "%s: '%s' needs a UDP port (ADDR:PORT, e.g. 10.80.0.1:30010)",
			k->name, val);
		return -EINVAL;
	}
	p++;
	if (parse_digits(&p, &port) != 0 || *p != '\0' || port < 1 || port > 65535) {
		set_err(err, errlen,
			"%s: '%s' has a bad UDP port (use 1 to 65535 after the ':', e.g. "
			"10.80.0.1:30010)", k->name, val);
		return -EINVAL;
	}
	f->rerequest_ip = host;
	f->rerequest_port = (uint16_t)port;
	return 0;
}

/* As msh_fmt_mcast_addr(): half a setting (an address without its port or the
 * other way round) is written so that it is refused when read back. */
static void
fmt_rerequest(const struct conf_key *k, const void *obj, char *buf, size_t len)
{
	const struct msh_feed_conf *f = obj;
	char ip[INET_ADDRSTRLEN];

	if (f->rerequest_ip == 0 && f->rerequest_port == 0)
		snprintf(buf, len, "%s", "");
	else
		snprintf(buf, len, "%s:%u", fmt_ip(f->rerequest_ip, ip, sizeof(ip)),
			 f->rerequest_port);
}

/* [feed] shard = NAME: a shard name; empty clears it (msh_feed_conf_check says it is
 * missing). */
static int
set_shard_name(const struct conf_key *k, void *obj, const char *val, char *err, size_t errlen)
{
	struct msh_name n;

	if (*val == '\0') {
		memset((uint8_t *)obj + k->off, 0, sizeof(n));
		return 0;
	}
	if (msh_name_from_str(&n, val) != 0) {
		set_err(err, errlen,
			"%s: '%s' is not a shard name (1 to %d printable ASCII characters, no "
			"spaces)", k->name, val, MSH_NAME_LEN);
		return -EINVAL;
	}
	/* After "key = " a ';' starts a comment: the file would read it as empty. */
	if (val[0] == ';') {
		set_err(err, errlen,
			"%s: '%s' starts with ';', which starts a comment in the configuration "
			"file", k->name, val);
		return -EINVAL;
	}
	memcpy((uint8_t *)obj + k->off, &n, sizeof(n));
	return 0;
}

static void
fmt_shard_name(const struct conf_key *k, const void *obj, char *buf, size_t len)
{
	struct msh_name n;
	char s[MSH_NAME_LEN + 1];

	memcpy(&n, (const uint8_t *)obj + k->off, sizeof(n));
	snprintf(buf, len, "%s", msh_name_valid(&n) ? msh_name_to_str(&n, s) : "");
}

/* ---- the key tables ---- */

#define FIELD(type, f) .off = offsetof(type, f), .size = sizeof(((type *)0)->f)
#define KEY_SIZE(type, key, f, min, max, fl, dv, text)                                        \
	{ .name = key, .set = set_size, .fmt = fmt_size, .def = dv, .doc = text, FIELD(type, f),  \
	  .lo = min, .hi = max, .flags = fl }
#define KEY_DURATION(type, key, f, min, max, dv, text)                                        \
	{ .name = key, .set = set_duration, .fmt = fmt_duration, .def = dv, .doc = text,          \
	  FIELD(type, f), .lo = min, .hi = max }
#define KEY_COUNT(type, key, f, min, max, dv, text)                                           \
	{ .name = key, .set = set_count, .fmt = fmt_count_key, .def = dv, .doc = text,            \
	  FIELD(type, f), .lo = min, .hi = max }
#define KEY_ENUM(type, key, f, w, dv, text)                                                   \
	{ .name = key, .set = set_enum, .fmt = fmt_enum, .def = dv, .doc = text, FIELD(type, f), \
	  .words = w }
#define KEY_STRING(type, key, f, min, max, fl, w, dv, text)                                   \
	{ .name = key, .set = set_string, .fmt = fmt_string, .def = dv, .doc = text,              \
	  FIELD(type, f), .lo = min, .hi = max, .words = w, .flags = fl }

static const struct conf_word hugepages_words[] = {
	{ "auto", MSH_HUGE_AUTO }, { "require", MSH_HUGE_REQUIRE }, { "off", MSH_HUGE_OFF },
	{ NULL, 0 },
};
static const struct conf_word idle_words[] = {
	{ "spin", MSH_IDLE_SPIN }, { "backoff", MSH_IDLE_BACKOFF }, { NULL, 0 },
};
static const struct conf_word log_level_words[] = {
	{ "error", 0 }, { "warning", 0 }, { "notice", 0 }, { "info", 0 }, { "debug", 0 },
	{ NULL, 0 },
};
static const struct conf_word start_role_words[] = {
	{ "secondary", MSH_START_SECONDARY }, { "primary", MSH_START_PRIMARY }, { NULL, 0 },
};
static const struct conf_word failover_words[] = {
	{ "auto", MSH_FAILOVER_AUTO }, { "manual", MSH_FAILOVER_MANUAL }, { NULL, 0 },
};
static const struct conf_word role_words[] = {
	{ "ingest", MSH_PORT_INGEST }, { "replication", MSH_PORT_REPLICATION },
	{ "feed", MSH_PORT_FEED },     { NULL, 0 },
};
static const struct conf_word storage_words[] = {
	{ "memory", MSH_STORAGE_MEMORY }, { "persistent", MSH_STORAGE_PERSISTENT }, { NULL, 0 },
};
static const struct conf_word acks_words[] = {
	{ "1", MSH_ACKS_ONE }, { "all", MSH_ACKS_ALL }, { NULL, 0 },
};
static const struct conf_word on_full_words[] = {
	{ "reject", MSH_ON_FULL_REJECT }, { "evict", MSH_ON_FULL_EVICT }, { NULL, 0 },
};
static const struct conf_word release_words[] = {
	{ "eager", MSH_RELEASE_EAGER }, { "lazy", MSH_RELEASE_LAZY }, { NULL, 0 },
};
static const struct conf_word spill_words[] = {
	{ "off", MSH_SPILL_OFF }, { "disk", MSH_SPILL_DISK }, { NULL, 0 },
};
static const struct conf_word format_words[] = {
	{ "moldudp64", MSH_FEED_MOLDUDP64 }, { "raw", MSH_FEED_RAW }, { NULL, 0 },
};
static const struct conf_word on_off_words[] = {
	{ "off", 0 }, { "on", 1 }, { NULL, 0 },
};

#define A struct msh_appliance_conf
static const struct conf_key appliance_keys[] = {
	KEY_STRING(A, "lcores", lcores, 1, 0, STR_CORELIST, NULL, "0-1",
		   "EAL lcore list: the main lcore plus one per worker (0-3, or 0@0,1@1,2@1)"),
	KEY_COUNT(A, "workers", workers, 1, 128, "1",
		  "worker lcores that poll the ports and own the shards (1 to 128)"),
	KEY_SIZE(A, "arena_bytes", arena_bytes, 2ull << 20, UINT64_MAX, 0, "512M",
		 "memory per NUMA node that shards are carved from (size, at least 2M)"),
	KEY_ENUM(A, "hugepages", hugepages, hugepages_words, "auto",
		 "auto: use hugepages if there are some; require: or refuse to start; off: never"),
	KEY_STRING(A, "file_prefix", file_prefix, 1, 0, STR_IDENT, NULL, "memshard",
		   "EAL --file-prefix, distinct per appliance on one host"),
	KEY_STRING(A, "eal_args", eal_args, 0, 0, 0, NULL, "",
		   "extra EAL arguments, separated by spaces"),
	KEY_ENUM(A, "idle", idle, idle_words, "spin",
		 "spin: poll without pause; backoff: spin, pause, then sleep (test hosts)"),
	KEY_STRING(A, "control_socket", control_socket, 1, SOCKET_PATH_MAX, STR_ABSPATH, NULL,
		   "/run/memshard/memshard.sock", "Unix socket of memshardctl (absolute path)"),
	KEY_DURATION(A, "lease_default", lease_default_ns, 100 * NS_PER_MS, 24 * 3600 * NS_PER_S,
		     "10s", "lease of a subscription that asks for 0 (100ms to 24h)"),
	KEY_DURATION(A, "lease_max", lease_max_ns, 100 * NS_PER_MS, 24 * 3600 * NS_PER_S, "5m",
		     "longest lease a subscriber may ask for (100ms to 24h, >= lease_default)"),
	KEY_DURATION(A, "heartbeat", heartbeat_ns, NS_PER_MS, NS_PER_S, "1s",
		     "heartbeat interval to idle subscribers (1ms to 1s)"),
	KEY_COUNT(A, "retrans_rate", retrans_rate, 1, 100000000, "100000",
		  "retransmitted messages per second per requester (1 to 100000000)"),
	{ .name = "token_secret", .set = set_hex, .fmt = fmt_hex, .def = "0",
	  .doc = "key of the SUBSCRIBE token (1 to 16 hex digits; 0: random at each start)",
	  FIELD(A, token_secret) },
	KEY_STRING(A, "log_level", log_level, 1, 0, 0, log_level_words, "notice",
		   "error, warning, notice, info or debug"),
};
#undef A

#define P struct msh_port_conf
static const struct conf_key port_keys[] = {
	KEY_ENUM(P, "role", role, role_words, "ingest",
		 "ingest: publishers and subscribers; replication: the link to the peer; "
		 "feed: multicast feed lines in ([feed NAME] line_a/line_b = ...@PORTNAME)"),
	KEY_STRING(P, "device", device, 0, 0, STR_NOSPACE, NULL, "",
		   "DPDK device: a PCI address or vdev devargs (required)"),
	{ .name = "address", .set = set_address, .fmt = fmt_address, .def = "",
	  .doc = "the port's IPv4 address and prefix, a.b.c.d/len (required)" },
	KEY_COUNT(P, "udp_port", udp_port, 1, 65535, "9000",
		  "UDP port of PUBLISH and SUBSCRIBE (1 to 65535)"),
	KEY_COUNT(P, "retrans_port", retrans_port, 1, 65535, "9001",
		  "UDP port of MoldUDP64 retransmission requests (1 to 65535)"),
	KEY_COUNT(P, "mtu", mtu, 576, 9216, "1500", "MTU in bytes (576 to 9216)"),
	KEY_COUNT(P, "rx_queues", rx_queues, 1, 128, "1",
		  "receive queues, each polled by one worker (1 to 128, at most workers)"),
	{ .name = "peer", .set = set_ipv4, .fmt = fmt_ipv4, .def = "",
	  .doc = "replication: the other appliance's replication address, a.b.c.d",
	  FIELD(P, peer_ip) },
	{ .name = "peer_ingest", .set = set_ipv4, .fmt = fmt_ipv4, .def = "",
	  .doc = "replication: the other appliance's ingest address (empty: unknown)",
	  FIELD(P, peer_ingest_ip) },
	KEY_COUNT(P, "node_id", node_id, 1, UINT32_MAX, "1",
		  "replication: this appliance's id in the pair (1 to 4294967295)"),
	KEY_COUNT(P, "peer_node_id", peer_node_id, 1, UINT32_MAX, "2",
		  "replication: the other appliance's id (1 to 4294967295, not node_id)"),
	KEY_ENUM(P, "start_role", start_role, start_role_words, "secondary",
		 "replication: primary (unless a primary answers) or secondary at start"),
	KEY_ENUM(P, "failover", failover, failover_words, "auto",
		 "replication: auto (promote after failover_silence) or manual"),
	KEY_DURATION(P, "failover_silence", failover_silence_ns, 10 * NS_PER_MS, 600 * NS_PER_S,
		     "1s", "replication: peer silence that starts failover (10ms to 10m)"),
	KEY_DURATION(P, "hello_interval", hello_interval_ns, NS_PER_MS, 10 * NS_PER_S, "100ms",
		     "replication: HELLO period, below failover_silence (1ms to 10s)"),
};
#undef P

#define S struct msh_shard_conf
static const struct conf_key shard_keys[] = {
	KEY_ENUM(S, "storage", storage, storage_words, "memory",
		 "memory: ack in memory; persistent: ack once on disk (needs spill = disk)"),
	KEY_COUNT(S, "replicas", replicas, 1, 2, "1",
		  "copies on the pair: 1, or 2 (needs a replication port)"),
	KEY_ENUM(S, "acks", acks, acks_words, "1",
		 "1: ack after the local append; all: once the peer has it (needs replicas = 2)"),
	KEY_SIZE(S, "segment_bytes", segment_bytes, SEGMENT_MIN, SEGMENT_MAX, NUM_SEGMENT, "16M",
		 "segment size, sealed when full (64K to 4G-4K, a multiple of 4K)"),
	KEY_DURATION(S, "segment_age", segment_age_ns, 0, UINT64_MAX, "0",
		     "seal the active segment after this long (0: only when full)"),
	KEY_SIZE(S, "max_bytes", max_bytes, 2 * SEGMENT_MIN, UINT64_MAX, 0, "128M",
		 "memory reserved for the shard (two segments or more, within arena_bytes)"),
	KEY_ENUM(S, "on_full", on_full, on_full_words, "reject",
		 "at max_bytes, reject: refuse the publish; evict: drop the oldest segment"),
	KEY_ENUM(S, "spill", spill, spill_words, "off",
		 "off: memory only; disk: write sealed segments to spill_dir"),
	KEY_STRING(S, "spill_dir", spill_dir, 1, 0, STR_ABSPATH, NULL, "/var/lib/memshard",
		   "directory of spill files (absolute path)"),
	KEY_ENUM(S, "spill_release", spill_release, release_words, "eager",
		 "eager: free a segment's memory once it is on disk; lazy: only when needed"),
	KEY_SIZE(S, "max_message", max_message, 1, 65535, 0, "1438",
		 "largest message in bytes (1 to 65535; 1438 fits an MTU of 1500)"),
	KEY_COUNT(S, "max_publishers", max_publishers, 1, 1u << 20, "1024",
		  "publishers tracked for deduplication (1 to 1048576)"),
	KEY_COUNT(S, "max_subscribers", max_subscribers, 1, 65536, "64",
		  "live subscriptions (1 to 65536)"),
	{ .name = "worker", .set = set_worker, .fmt = fmt_worker, .def = "auto",
	  .doc = "worker lcore that owns the shard: 0 to workers-1, or auto (fewest shards)",
	  FIELD(S, worker) },
	{ .name = "egress", .set = set_mcast, .fmt = fmt_mcast, .def = "",
	  .doc = "also send the shard as a MoldUDP64 feed to GROUP:PORT[@PORTNAME], out of the "
		 "ingest port (empty: none)",
	  FIELD(S, egress) },
	KEY_COUNT(S, "egress_ttl", egress_ttl, 1, 255, "1",
		  "IP TTL of the egress packets (1 to 255; 1 stays on the local network)"),
};
#undef S

#define F struct msh_feed_conf
static const struct conf_key feed_keys[] = {
	{ .name = "shard", .set = set_shard_name, .fmt = fmt_shard_name, .def = "",
	  .doc = "the [shard NAME] the feed's messages are appended to (required)",
	  FIELD(F, shard) },
	{ .name = "line_a", .set = set_mcast, .fmt = fmt_mcast, .def = "",
	  .doc = "line A, GROUP:PORT[@PORTNAME] on a port with role = feed or ingest (no "
		 "@PORTNAME: the ingest port); required",
	  FIELD(F, line[0]) },
	{ .name = "line_b", .set = set_mcast, .fmt = fmt_mcast, .def = "",
	  .doc = "line B, GROUP:PORT[@PORTNAME], not line A's (empty: line A only)",
	  FIELD(F, line[1]) },
	{ .name = "source", .set = set_ipv4, .fmt = fmt_ipv4, .def = "",
	  .doc = "SSM: take the lines only from this sender, a unicast a.b.c.d (empty: any "
		 "source)",
	  FIELD(F, source) },
	KEY_ENUM(F, "format", format, format_words, "moldudp64",
		 "moldudp64: sequenced packets, lines A and B arbitrated; raw: each datagram as "
		 "it comes"),
	KEY_DURATION(F, "gap_timeout", gap_timeout_ns, 10 * NS_PER_US, 10 * NS_PER_S, "5ms",
		     "how long a gap waits for the other line before it is given up (10us to 10s)"),
	KEY_COUNT(F, "hold_packets", hold_packets, 1, 65535, "4096",
		  "packets held past a gap while it waits (1 to 65535)"),
	KEY_COUNT(F, "max_jump", max_jump, 1, 1ull << 32, "1000000",
		  "a sequence number further ahead than this is bad input (1 to 4294967296)"),
	{ .name = "rerequest", .set = set_rerequest, .fmt = fmt_rerequest, .def = "",
	  .doc = "the upstream re-request server, ADDR:PORT, asked for gaps (empty: none)" },
	KEY_DURATION(F, "rerequest_timeout", rerequest_timeout_ns, NS_PER_MS, 10 * NS_PER_S,
		     "50ms", "how long an asked gap waits for the answer (1ms to 10s)"),
	KEY_COUNT(F, "rerequest_rate", rerequest_rate, 1, 100000, "100",
		  "re-requests per second at most (1 to 100000)"),
	KEY_ENUM(F, "capture_header", capture_header, on_off_words, "off",
		 "on: keep each datagram's header with its payload (only with format = raw)"),
};
#undef F

static const struct conf_section sec_appliance = {
	"appliance", appliance_keys, MSH_ARRAY_SIZE(appliance_keys),
};
static const struct conf_section sec_port = { "port", port_keys, MSH_ARRAY_SIZE(port_keys) };
static const struct conf_section sec_shard = { "shard", shard_keys, MSH_ARRAY_SIZE(shard_keys) };
static const struct conf_section sec_feed = { "feed", feed_keys, MSH_ARRAY_SIZE(feed_keys) };

_Static_assert(MSH_ARRAY_SIZE(appliance_keys) <= MAX_SECTION_KEYS, "key_line too small");
_Static_assert(MSH_ARRAY_SIZE(port_keys) <= MAX_SECTION_KEYS, "key_line too small");
_Static_assert(MSH_ARRAY_SIZE(shard_keys) <= MAX_SECTION_KEYS, "key_line too small");
_Static_assert(MSH_ARRAY_SIZE(feed_keys) <= MAX_SECTION_KEYS, "key_line too small");

static const struct conf_key *
key_find(const struct conf_section *sec, const char *name)
{
	for (size_t i = 0; i < sec->n_keys; i++)
		if (strcmp(sec->keys[i].name, name) == 0)
			return &sec->keys[i];
	return NULL;
}

static void
unknown_key_err(const struct conf_section *sec, const char *name, char *err, size_t errlen)
{
	char list[200];
	size_t n = 0;

	list[0] = '\0';
	for (size_t i = 0; i < sec->n_keys && n < sizeof(list); i++) {
		int r = snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
				 sec->keys[i].name);

		if (r < 0)
			break;
		n += (size_t)r;
	}
	set_err(err, errlen, "%s: unknown key (one of %s)", name, list);
}

static int
conf_set(const struct conf_section *sec, void *obj, const char *key, const char *val, char *err,
	 size_t errlen)
{
	const struct conf_key *k;

	if (obj == NULL || key == NULL || val == NULL) {
		set_err(err, errlen, "missing key or value");
		return -EINVAL;
	}
	k = key_find(sec, key);
	if (k == NULL) {
		unknown_key_err(sec, key, err, errlen);
		return -ENOENT;
	}
	return k->set(k, obj, val, err, errlen);
}

/* Defaults go through the setters, so a default is held to its own key's rules. */
static void
section_defaults(const struct conf_section *sec, void *obj, size_t size)
{
	memset(obj, 0, size);
	for (size_t i = 0; i < sec->n_keys; i++) {
		const struct conf_key *k = &sec->keys[i];

		(void)k->set(k, obj, k->def, NULL, 0);
	}
}

void
msh_conf_defaults(struct msh_conf *c)
{
	memset(c, 0, sizeof(*c));
	section_defaults(&sec_appliance, &c->app, sizeof(c->app));
}

void
msh_shard_conf_defaults(struct msh_shard_conf *s)
{
	section_defaults(&sec_shard, s, sizeof(*s));
}

void
msh_port_conf_defaults(struct msh_port_conf *p)
{
	section_defaults(&sec_port, p, sizeof(*p));
}

void
msh_feed_conf_defaults(struct msh_feed_conf *f)
{
	section_defaults(&sec_feed, f, sizeof(*f));
}

int
msh_conf_set_shard(struct msh_shard_conf *s, const char *key, const char *val, char *err,
		   size_t errlen)
{
	return conf_set(&sec_shard, s, key, val, err, errlen);
}

int
msh_conf_set_port(struct msh_port_conf *p, const char *key, const char *val, char *err,
		  size_t errlen)
{
	return conf_set(&sec_port, p, key, val, err, errlen);
}

int
msh_conf_set_feed(struct msh_feed_conf *f, const char *key, const char *val, char *err,
		  size_t errlen)
{
	return conf_set(&sec_feed, f, key, val, err, errlen);
}

int
msh_conf_set_appliance(struct msh_appliance_conf *a, const char *key, const char *val, char *err,
		       size_t errlen)
{
	return conf_set(&sec_appliance, a, key, val, err, errlen);
}

/* ---- checks across keys ---- */

int
msh_shard_conf_check(const struct msh_shard_conf *s, char *err, size_t errlen)
{
	char val[MSH_CONF_PATH_LEN + 8], b1[32], b2[32];
	struct msh_shard_conf tmp;
	uint64_t need;

	if (!msh_name_valid(&s->name)) {
		set_err(err, errlen,
			"name: not a shard name (1 to 10 printable ASCII characters, no spaces)");
		return -EINVAL;
	}
	/* Each key's own rules, run again on the formatted value, so that a struct
	 * filled in code is held to the rules a file is. */
	for (size_t i = 0; i < MSH_ARRAY_SIZE(shard_keys); i++) {
		const struct conf_key *k = &shard_keys[i];

		memcpy(&tmp, s, sizeof(tmp));
		k->fmt(k, s, val, sizeof(val));
		if (k->set(k, &tmp, val, err, errlen) != 0)
			return -EINVAL;
	}
	if (s->max_bytes / s->segment_bytes < 2) {
		set_err(err, errlen,
			"segment_bytes: %s is more than half of max_bytes %s (a shard keeps at "
			"least two segments)",
			msh_fmt_size(s->segment_bytes, b1, sizeof(b1)),
			msh_fmt_size(s->max_bytes, b2, sizeof(b2)));
		return -EINVAL;
	}
	if (s->max_bytes / s->segment_bytes > UINT32_MAX) {
		set_err(err, errlen, "max_bytes: %s is more than %" PRIu32 " segments of %s",
			msh_fmt_size(s->max_bytes, b1, sizeof(b1)), UINT32_MAX,
			msh_fmt_size(s->segment_bytes, b2, sizeof(b2)));
		return -EINVAL;
	}
	need = MSH_SEGMENT_HDR_LEN + SEGMENT_MIN_MESSAGES * ((uint64_t)s->max_message +
							     SEGMENT_MSG_COST);
	if (s->segment_bytes < need) {
		set_err(err, errlen,
			"segment_bytes: %s holds fewer than %u messages of max_message %" PRIu32
			" (make it at least %s)",
			msh_fmt_size(s->segment_bytes, b1, sizeof(b1)), SEGMENT_MIN_MESSAGES,
			s->max_message,
			msh_fmt_size(MSH_ALIGN_UP(need, (uint64_t)SEGMENT_ALIGN), b2, sizeof(b2)));
		return -EINVAL;
	}
	if (s->acks == MSH_ACKS_ALL && s->replicas < 2) {
		set_err(err, errlen, "acks: acks=all needs replicas=2");
		return -EINVAL;
	}
	if (s->storage == MSH_STORAGE_PERSISTENT && s->spill != MSH_SPILL_DISK) {
		set_err(err, errlen, "storage: storage=persistent needs spill=disk");
		return -EINVAL;
	}
	return 0;
}

static const char *const line_key[MSH_CONF_FEED_LINES] = { "line_a", "line_b" };

static bool
mcast_same(const struct msh_mcast_addr *a, const struct msh_mcast_addr *b)
{
	return a->group == b->group && a->port == b->port &&
	       strncmp(a->port_name, b->port_name, sizeof(a->port_name)) == 0;
}

int
msh_feed_conf_check(const struct msh_feed_conf *f, char *err, size_t errlen)
{
	static const struct msh_name unset;
	char val[MSH_CONF_PATH_LEN + 8];
	const struct msh_mcast_addr *a = &f->line[0], *b = &f->line[1];
	struct msh_feed_conf tmp;

	if (!name_field_ok(f->name, sizeof(f->name))) {
		set_err(err, errlen,
			"name: not a feed name (1 to %d letters, digits, '_', '-' or '.')",
			MSH_CONF_PORT_NAME_LEN - 1);
		return -EINVAL;
	}
	if (msh_name_eq(&f->shard, &unset)) {
		set_err(err, errlen, "shard: missing (the NAME of the [shard NAME] the feed "
			"appends to)");
		return -EINVAL;
	}
	if (!msh_name_valid(&f->shard)) {
		set_err(err, errlen, "shard: not a shard name (1 to %d printable ASCII "
			"characters, no spaces)", MSH_NAME_LEN);
		return -EINVAL;
	}
	/* Each key's own rules, on the formatted value, as msh_shard_conf_check(). */
	for (size_t i = 0; i < MSH_ARRAY_SIZE(feed_keys); i++) {
		const struct conf_key *k = &feed_keys[i];

		memcpy(&tmp, f, sizeof(tmp));
		k->fmt(k, f, val, sizeof(val));
		if (k->set(k, &tmp, val, err, errlen) != 0)
			return -EINVAL;
	}
	if (a->group == 0) {
		set_err(err, errlen, "line_a: missing (" MCAST_FORM ")");
		return -EINVAL;
	}
	if (b->group != 0 && mcast_same(a, b)) {
		set_err(err, errlen,
			"line_b: '%s' is line_a too (line B needs its own group, UDP port or "
			"port; leave it empty for one line)",
			msh_fmt_mcast_addr(b, val, sizeof(val)));
		return -EINVAL;
	}
	if (f->capture_header && f->format != MSH_FEED_RAW) {
		set_err(err, errlen, "capture_header: only with format = raw");
		return -EINVAL;
	}
	return 0;
}

/* The [port NAME] of that name, or NULL. */
static const struct msh_port_conf *
port_named(const struct msh_conf *c, const char *name)
{
	for (unsigned int i = 0; i < c->n_ports; i++)
		if (strncmp(c->ports[i].name, name, MSH_CONF_PORT_NAME_LEN) == 0)
			return &c->ports[i];
	return NULL;
}

static const char *
role_word(enum msh_port_role role)
{
	for (const struct conf_word *w = role_words; w->word != NULL; w++)
		if (w->value == (unsigned int)role)
			return w->word;
	return "?";
}

/* A feed line as the appliance binds it: GROUP:PORT on one port. */
struct binding {
	uint32_t group;
	uint16_t udp_port;
	const struct msh_port_conf *port;
	unsigned int feed, line;
};

/* The port line @p l of feed @p i arrives on; NULL, with the reason, if none may. */
static const struct msh_port_conf *
feed_line_port(const struct msh_conf *c, const struct msh_port_conf *ingest, unsigned int i,
	       unsigned int l, char *err, size_t errlen)
{
	const struct msh_feed_conf *f = &c->feeds[i];
	const struct msh_mcast_addr *m = &f->line[l];
	const struct msh_port_conf *p;

	if (m->port_name[0] == '\0') {
		if (ingest == NULL)
			set_err(err, errlen,
				"[feed %s] %s: no @PORTNAME, and no [port NAME] has role = ingest "
				"(name a port with role = feed: GROUP:PORT@PORTNAME)", f->name,
				line_key[l]);
		return ingest;
	}
	p = port_named(c, m->port_name);
	if (p == NULL) {
		set_err(err, errlen, "[feed %s] %s: no [port NAME] section declares '%s'", f->name,
			line_key[l], m->port_name);
		return NULL;
	}
	if (p->role != MSH_PORT_INGEST && p->role != MSH_PORT_FEED) {
		set_err(err, errlen,
			"[feed %s] %s: [port %s] has role = %s (a feed line needs a port with "
			"role = feed or ingest)", f->name, line_key[l], p->name,
			role_word(p->role));
		return NULL;
	}
	return p;
}

/* Line @p l of feed @p i binds what @p o has bound already. */
static int
binding_err(const struct msh_conf *c, const struct binding *o, unsigned int i, unsigned int l,
	    char *err, size_t errlen)
{
	const struct msh_feed_conf *f = &c->feeds[i];
	struct msh_mcast_addr bare = f->line[l];
	char addr[64];

	memset(bare.port_name, 0, sizeof(bare.port_name));
	msh_fmt_mcast_addr(&bare, addr, sizeof(addr));
	if (o->feed == i)
		set_err(err, errlen, "[feed %s] %s: %s on [port %s] is %s too", f->name,
			line_key[l], addr, o->port->name, line_key[o->line]);
	else
		set_err(err, errlen,
			"[feed %s] %s: %s on [port %s] is [feed %s]'s %s too (one feed per group "
			"and UDP port on a port)", f->name, line_key[l], addr, o->port->name,
			c->feeds[o->feed].name, line_key[o->line]);
	return -EINVAL;
}

/* The feeds against the ports and shards of the file; @p ingest may be NULL. */
static int
feeds_check(const struct msh_conf *c, const struct msh_port_conf *ingest, char *err,
	    size_t errlen)
{
	struct binding bound[MSH_CONF_MAX_FEEDS * MSH_CONF_FEED_LINES];
	char name[MSH_NAME_LEN + 1], msg[MSH_CONF_ERR_LEN];
	unsigned int n_bound = 0;

	for (unsigned int i = 0; i < c->n_feeds; i++) {
		const struct msh_feed_conf *f = &c->feeds[i];
		const struct msh_shard_conf *s = NULL;

		if (msh_feed_conf_check(f, msg, sizeof(msg)) != 0) {
			set_err(err, errlen, "[feed %.*s] %s",
				(int)strnlen(f->name, sizeof(f->name)), f->name, msg);
			return -EINVAL;
		}
		msh_name_to_str(&f->shard, name);
		for (unsigned int j = 0; j < c->n_shards && s == NULL; j++)
			if (msh_name_eq(&c->shards[j].name, &f->shard))
				s = &c->shards[j];
		if (s == NULL) {
			set_err(err, errlen,
				"[feed %s] shard: no [shard NAME] section declares '%s'", f->name,
				name);
			return -EINVAL;
		}
		for (unsigned int j = 0; j < i; j++) {
			if (msh_name_eq(&c->feeds[j].shard, &f->shard)) {
				set_err(err, errlen,
					"[feed %s] shard: '%s' is fed by [feed %s] too (one feed "
					"per shard)", f->name, name, c->feeds[j].name);
				return -EINVAL;
			}
		}
		if (s->replicas == 2) {
			set_err(err, errlen,
				"[feed %s] shard: [shard %s] has replicas = 2; a fed shard with "
				"replicas = 2 is not built yet", f->name, name);
			return -EINVAL;
		}
		for (unsigned int l = 0; l < MSH_CONF_FEED_LINES; l++) {
			const struct msh_mcast_addr *m = &f->line[l];
			const struct msh_port_conf *p;

			if (m->group == 0)
				continue;
			p = feed_line_port(c, ingest, i, l, err, errlen);
			if (p == NULL)
				return -EINVAL;
			for (unsigned int j = 0; j < n_bound; j++)
				if (bound[j].group == m->group && bound[j].udp_port == m->port &&
				    bound[j].port == p)
					return binding_err(c, &bound[j], i, l, err, errlen);
			bound[n_bound++] = (struct binding){
				.group = m->group, .udp_port = m->port, .port = p,
				.feed = i,         .line = l,
			};
		}
	}
	return 0;
}

/* A shard's egress: a port that can send it, and a group of its own. */
static int
egress_check(const struct msh_conf *c, unsigned int i, const struct msh_port_conf *ingest,
	     char *err, size_t errlen)
{
	const struct msh_shard_conf *s = &c->shards[i];
	const struct msh_mcast_addr *e = &s->egress;
	char name[MSH_NAME_LEN + 1], other[MSH_NAME_LEN + 1], ip[INET_ADDRSTRLEN];

	if (e->group == 0)
		return 0;
	msh_name_to_str(&s->name, name);
	if (e->port_name[0] != '\0') {
		const struct msh_port_conf *p = port_named(c, e->port_name);

		if (p == NULL) {
			set_err(err, errlen,
				"[shard %s] egress: no [port NAME] section declares '%s'", name,
				e->port_name);
			return -EINVAL;
		}
		if (p->role != MSH_PORT_INGEST) {
			set_err(err, errlen,
				"[shard %s] egress: [port %s] has role = %s; egress goes out of "
				"the ingest port in this version (name it, or leave @PORTNAME "
				"out)", name, p->name, role_word(p->role));
			return -EINVAL;
		}
	} else if (ingest == NULL) {
		set_err(err, errlen,
			"[shard %s] egress: needs a [port NAME] with role = ingest (egress goes "
			"out of the ingest port in this version)", name);
		return -EINVAL;
	}
	for (unsigned int j = 0; j < i; j++) {
		if (c->shards[j].egress.group == e->group) {
			set_err(err, errlen,
				"[shard %s] egress: group %s is [shard %s]'s egress group too "
				"(each shard needs a group of its own)", name,
				fmt_ip(e->group, ip, sizeof(ip)),
				msh_name_to_str(&c->shards[j].name, other));
			return -EINVAL;
		}
	}
	return 0;
}

static int
conf_check(const struct msh_conf *c, char *err, size_t errlen)
{
	const struct msh_appliance_conf *a = &c->app;
	const struct msh_port_conf *ingest = NULL, *repl = NULL;
	char b1[32], b2[32], name[MSH_NAME_LEN + 1], msg[MSH_CONF_ERR_LEN];
	unsigned int cores;
	uint64_t beyond;

	if (a->lease_default_ns > a->lease_max_ns) {
		set_err(err, errlen, "[appliance] lease_default: %s is longer than lease_max %s",
			msh_fmt_duration(a->lease_default_ns, b1, sizeof(b1)),
			msh_fmt_duration(a->lease_max_ns, b2, sizeof(b2)));
		return -EINVAL;
	}
	if (corelist_count(a->lcores, &cores, &beyond) == 0 && a->workers + 1 > cores) {
		set_err(err, errlen,
			"[appliance] workers: %" PRIu32 " workers need %" PRIu32
			" lcores (the main lcore and one per worker), lcores %s has %u",
			a->workers, a->workers + 1, a->lcores, cores);
		return -EINVAL;
	}

	for (unsigned int i = 0; i < c->n_ports; i++) {
		const struct msh_port_conf *p = &c->ports[i];

		if (p->device[0] == '\0') {
			set_err(err, errlen,
				"[port %s] device: missing (a PCI address such as 0000:03:00.0, or "
				"vdev devargs such as net_af_packet0,iface=eth0)", p->name);
			return -EINVAL;
		}
		if (p->ipv4 == 0) {
			set_err(err, errlen,
				"[port %s] address: missing (the port's own a.b.c.d/len, e.g. "
				"10.77.0.1/24)", p->name);
			return -EINVAL;
		}
		for (unsigned int j = 0; j < i; j++) {
			if (strcmp(c->ports[j].device, p->device) == 0) {
				set_err(err, errlen, "[port %s] device: '%s' is also [port %s]'s",
					p->name, p->device, c->ports[j].name);
				return -EINVAL;
			}
		}
		/* A feed port takes no PUBLISH and no re-requests: its UDP ports are unused. */
		if (p->role != MSH_PORT_FEED && p->udp_port == p->retrans_port) {
			set_err(err, errlen, "[port %s] retrans_port: %u is udp_port too", p->name,
				p->retrans_port);
			return -EINVAL;
		}
		if (p->rx_queues > a->workers) {
			set_err(err, errlen,
				"[port %s] rx_queues: %u is more than workers (%" PRIu32 "); each "
				"queue needs a worker", p->name, p->rx_queues, a->workers);
			return -EINVAL;
		}
		if (p->role == MSH_PORT_INGEST) {
			if (ingest != NULL) {
				set_err(err, errlen,
					"[port %s] role: a second ingest port ([port %s] is "
					"one); at most one", p->name, ingest->name);
				return -EINVAL;
			}
			ingest = p;
		} else if (p->role == MSH_PORT_REPLICATION) {
			if (p->peer_ip == 0) {
				set_err(err, errlen, "[port %s] peer: missing (the other appliance's "
					"replication address, a.b.c.d)", p->name);
				return -EINVAL;
			}
			if (p->peer_node_id == p->node_id) {
				set_err(err, errlen, "[port %s] peer_node_id: %" PRIu32 " is node_id "
					"too; the two appliances need different ids", p->name,
					p->node_id);
				return -EINVAL;
			}
			if (p->hello_interval_ns >= p->failover_silence_ns) {
				set_err(err, errlen, "[port %s] hello_interval: must be below "
					"failover_silence", p->name);
				return -EINVAL;
			}
			if (repl != NULL) {
				set_err(err, errlen,
					"[port %s] role: a second replication port ([port %s] "
					"is one); at most one", p->name, repl->name);
				return -EINVAL;
			}
			repl = p;
		}
	}

	if (repl != NULL && a->workers != 1) {
		set_err(err, errlen,
			"[appliance] workers: %" PRIu32 ", but an appliance with a replication "
			"port runs one worker in this version (set workers = 1)", a->workers);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < c->n_shards; i++) {
		const struct msh_shard_conf *s = &c->shards[i];

		msh_name_to_str(&s->name, name);
		if (msh_shard_conf_check(s, msg, sizeof(msg)) != 0) {
			set_err(err, errlen, "[shard %s] %s", name, msg);
			return -EINVAL;
		}
		if (s->max_bytes > a->arena_bytes) {
			set_err(err, errlen,
				"[shard %s] max_bytes: %s does not fit in arena_bytes %s (a shard "
				"reserves its max_bytes when created)", name,
				msh_fmt_size(s->max_bytes, b1, sizeof(b1)),
				msh_fmt_size(a->arena_bytes, b2, sizeof(b2)));
			return -EINVAL;
		}
		if (s->replicas == 2 && repl == NULL) {
			set_err(err, errlen,
				"[shard %s] replicas: 2 needs a [port NAME] with role = "
				"replication", name);
			return -EINVAL;
		}
		if (s->replicas == 2 &&
		    (s->spill == MSH_SPILL_DISK || s->storage == MSH_STORAGE_PERSISTENT)) {
			set_err(err, errlen,
				"[shard %s] replicas: 2 with spill = disk or storage = persistent "
				"is not built yet", name);
			return -EINVAL;
		}
		if (s->replicas == 2 &&
		    s->max_message + 2 + MSH_REPL_DATA_HDR_LEN + DATAGRAM_IP_UDP > repl->mtu) {
			set_err(err, errlen,
				"[shard %s] max_message: %" PRIu32 " does not fit a replication "
				"frame on [port %s] (mtu %u allows %u)", name, s->max_message,
				repl->name, repl->mtu,
				repl->mtu - 2 - MSH_REPL_DATA_HDR_LEN - DATAGRAM_IP_UDP);
			return -EINVAL;
		}
		if (s->worker != MSH_WORKER_AUTO && s->worker >= a->workers) {
			set_err(err, errlen,
				"[shard %s] worker: %" PRIu32 " but there are %" PRIu32 " workers "
				"(0 to %" PRIu32 ")", name, s->worker, a->workers, a->workers - 1);
			return -EINVAL;
		}
		if (ingest != NULL && s->max_message + DATAGRAM_OVERHEAD > ingest->mtu) {
			set_err(err, errlen,
				"[shard %s] max_message: %" PRIu32 " does not fit one datagram on "
				"[port %s] (mtu %u allows %u)", name, s->max_message, ingest->name,
				ingest->mtu, ingest->mtu - DATAGRAM_OVERHEAD);
			return -EINVAL;
		}
		if (egress_check(c, i, ingest, err, errlen) != 0)
			return -EINVAL;
	}
	return feeds_check(c, ingest, err, errlen);
}

/* ---- loading ---- */

struct load_ctx {
	struct msh_conf *c;
	const char *name; /* labels errors */
	FILE *fp;         /* the source: a file, */
	const char *text; /* or a string (next line) */
	char *buf;        /* getline() buffer */
	size_t cap;
	int read_errno;
	unsigned int lineno;
	const struct conf_section *sec; /* the open section, NULL before the first */
	void *obj;
	char label[MSH_CONF_PORT_NAME_LEN + 16]; /* "[shard ticks]" */
	unsigned int key_line[MAX_SECTION_KEYS];  /* where the open section set each key */
	unsigned int app_line;
	unsigned int port_line[MSH_CONF_MAX_PORTS];
	unsigned int shard_line[MSH_CONF_MAX_SHARDS];
	unsigned int feed_line[MSH_CONF_MAX_FEEDS];
	unsigned int err_line; /* of the first error, 0 for none */
	char err[MSH_CONF_ERR_LEN];
};

static void __attribute__((format(printf, 2, 3)))
load_err(struct load_ctx *x, const char *fmt, ...)
{
	va_list ap;

	if (x->err_line != 0)
		return;
	x->err_line = x->lineno;
	va_start(ap, fmt);
	vsnprintf(x->err, sizeof(x->err), fmt, ap);
	va_end(ap);
}

static void
section_enter(struct load_ctx *x, const struct conf_section *sec, void *obj)
{
	x->sec = sec;
	x->obj = obj;
	memset(x->key_line, 0, sizeof(x->key_line));
}

static bool
word_is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(s, word, len) == 0;
}

/* "[TYPE NAME]" in str (the line, trimmed; comments may follow the ']'): open the
 * section, with the defaults of its kind. */
static int
section_open(struct load_ctx *x, const char *str, size_t len)
{
	const char *end = memchr(str, ']', len), *p, *type, *nm;
	struct msh_conf *c = x->c;
	char name[64];
	size_t tlen, nlen;
	int hl = (int)MSH_MIN(len, 64u);

	x->sec = NULL;
	if (end == NULL) {
		load_err(x, "%.*s: unterminated section header (use [appliance], [port NAME], "
			 "[shard NAME] or [feed NAME])", hl, str);
		return -EINVAL;
	}
	for (p = end + 1; *p == ' ' || *p == '\t'; p++)
		;
	if (*p != '\n' && *p != '#' && *p != ';') {
		load_err(x, "%.*s: text after the section header", hl, str);
		return -EINVAL;
	}
	for (type = str + 1; type < end && is_blank(*type); type++)
		;
	for (p = type; p < end && !is_blank(*p); p++)
		;
	tlen = (size_t)(p - type);
	for (nm = p; nm < end && is_blank(*nm); nm++)
		;
	for (nlen = (size_t)(end - nm); nlen > 0 && is_blank(nm[nlen - 1]); nlen--)
		;
	/* Longer than any valid name: refused below as it is. */
	snprintf(name, sizeof(name), "%.*s", (int)nlen, nm);

	if (word_is(type, tlen, sec_appliance.type)) {
		if (nlen != 0) {
			load_err(x, "[appliance %s]: [appliance] takes no name", name);
			return -EINVAL;
		}
		if (x->app_line != 0) {
			load_err(x, "[appliance]: duplicate section (first at line %u)",
				 x->app_line);
			return -EINVAL;
		}
		x->app_line = x->lineno;
		snprintf(x->label, sizeof(x->label), "[appliance]");
		section_enter(x, &sec_appliance, &c->app);
		return 0;
	}
	if (word_is(type, tlen, sec_port.type)) {
		struct msh_port_conf *pc;

		if (nlen == 0) {
			load_err(x, "[port]: needs a name: [port NAME]");
			return -EINVAL;
		}
		if (nlen >= sizeof(name) || !port_name_ok(name)) {
			load_err(x, "[port %s]: not a port name (1 to %d letters, digits, '_', "
				 "'-' or '.')", name, MSH_CONF_PORT_NAME_LEN - 1);
			return -EINVAL;
		}
		for (unsigned int i = 0; i < c->n_ports; i++) {
			if (strcmp(c->ports[i].name, name) == 0) {
				load_err(x, "[port %s]: duplicate section (first at line %u)", name,
					 x->port_line[i]);
				return -EINVAL;
			}
		}
		if (c->n_ports == MSH_CONF_MAX_PORTS) {
			load_err(x, "[port %s]: too many ports (at most %d)", name,
				 MSH_CONF_MAX_PORTS);
			return -EINVAL;
		}
		x->port_line[c->n_ports] = x->lineno;
		pc = &c->ports[c->n_ports++];
		msh_port_conf_defaults(pc);
		memcpy(pc->name, name, nlen);
		snprintf(x->label, sizeof(x->label), "[port %s]", pc->name);
		section_enter(x, &sec_port, pc);
		return 0;
	}
	if (word_is(type, tlen, sec_shard.type)) {
		char label_name[MSH_NAME_LEN + 1];
		struct msh_shard_conf *sc;
		struct msh_name n;

		if (nlen == 0) {
			load_err(x, "[shard]: needs a name: [shard NAME]");
			return -EINVAL;
		}
		if (nlen >= sizeof(name) || msh_name_from_str(&n, name) != 0) {
			load_err(x, "[shard %s]: not a shard name (1 to %d printable ASCII "
				 "characters, no spaces)", name, MSH_NAME_LEN);
			return -EINVAL;
		}
		for (unsigned int i = 0; i < c->n_shards; i++) {
			if (msh_name_eq(&c->shards[i].name, &n)) {
				load_err(x, "[shard %s]: duplicate section (first at line %u)",
					 name, x->shard_line[i]);
				return -EINVAL;
			}
		}
		if (c->n_shards == MSH_CONF_MAX_SHARDS) {
			load_err(x, "[shard %s]: too many shards (at most %d)", name,
				 MSH_CONF_MAX_SHARDS);
			return -EINVAL;
		}
		x->shard_line[c->n_shards] = x->lineno;
		sc = &c->shards[c->n_shards++];
		msh_shard_conf_defaults(sc);
		sc->name = n;
		snprintf(x->label, sizeof(x->label), "[shard %s]",
			 msh_name_to_str(&n, label_name));
		section_enter(x, &sec_shard, sc);
		return 0;
	}
	if (word_is(type, tlen, sec_feed.type)) {
		struct msh_feed_conf *fc;

		if (nlen == 0) {
			load_err(x, "[feed]: needs a name: [feed NAME]");
			return -EINVAL;
		}
		if (nlen >= sizeof(name) || !port_name_ok(name)) {
			load_err(x, "[feed %s]: not a feed name (1 to %d letters, digits, '_', "
				 "'-' or '.')", name, MSH_CONF_PORT_NAME_LEN - 1);
			return -EINVAL;
		}
		for (unsigned int i = 0; i < c->n_feeds; i++) {
			if (strcmp(c->feeds[i].name, name) == 0) {
				load_err(x, "[feed %s]: duplicate section (first at line %u)", name,
					 x->feed_line[i]);
				return -EINVAL;
			}
		}
		if (c->n_feeds == MSH_CONF_MAX_FEEDS) {
			load_err(x, "[feed %s]: too many feeds (at most %d)", name,
				 MSH_CONF_MAX_FEEDS);
			return -EINVAL;
		}
		x->feed_line[c->n_feeds] = x->lineno;
		fc = &c->feeds[c->n_feeds++];
		msh_feed_conf_defaults(fc);
		memcpy(fc->name, name, nlen);
		snprintf(x->label, sizeof(x->label), "[feed %s]", fc->name);
		section_enter(x, &sec_feed, fc);
		return 0;
	}
	load_err(x, "%.*s: unknown section type '%.*s' (use [appliance], [port NAME], "
		 "[shard NAME] or [feed NAME])", (int)(end - str + 1), str,
		 (int)MSH_MIN(tlen, 64u), type);
	return -EINVAL;
}

/* "key = value" in str (the line, trimmed): only the shape; the handler does the rest. */
static int
key_line_check(struct load_ctx *x, const char *str, size_t len)
{
	const char *pfx = x->sec != NULL ? x->label : "", *sp = x->sec != NULL ? " " : "";
	size_t eq = strcspn(str, "=:"), klen = eq;

	/* inih splits at the first '=' or ':'; only '=' is our syntax. */
	if (str[eq] != '=') {
		load_err(x, "%s%s'%.*s': missing '=' (write key = value)", pfx, sp,
			 (int)MSH_MIN(len, 64u), str);
		return -EINVAL;
	}
	while (klen > 0 && is_blank(str[klen - 1]))
		klen--;
	if (klen == 0) {
		load_err(x, "%s%s'%.*s': missing key before '='", pfx, sp, (int)MSH_MIN(len, 64u),
			 str);
		return -EINVAL;
	}
	if (x->sec == NULL) {
		load_err(x, "%.*s: key outside a section (put it under [appliance], [port NAME], "
			 "[shard NAME] or [feed NAME])", (int)MSH_MIN(klen, 64u), str);
		return -EINVAL;
	}
	return 0;
}

static ssize_t
source_line(struct load_ctx *x, const char **line)
{
	const char *nl;
	ssize_t n;

	if (x->fp != NULL) {
		errno = 0;
		n = getline(&x->buf, &x->cap, x->fp);
		if (n < 0 && ferror(x->fp))
			x->read_errno = errno != 0 ? errno : EIO;
		*line = x->buf;
		return n;
	}
	if (*x->text == '\0')
		return -1;
	nl = strchr(x->text, '\n');
	n = nl != NULL ? nl - x->text + 1 : (ssize_t)strlen(x->text);
	*line = x->text;
	x->text += n;
	return n;
}

/* inih's line reader: hands inih one line at a time, trimmed, after the checks
 * that need the line number or the raw line. Returning NULL ends the parse. */
static char *
line_reader(char *str, int num, void *stream)
{
	struct load_ctx *x = stream;
	const char *line;
	ssize_t n;
	size_t len;

	if (x->err_line != 0 || (n = source_line(x, &line)) < 0)
		return NULL;
	x->lineno++;
	len = (size_t)n;
	if (memchr(line, '\0', len) != NULL) {
		load_err(x, "line holds a NUL byte (not a text file?)");
		return NULL;
	}
	if (x->lineno == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}
	while (len > 0 && is_blank(line[len - 1]))
		len--;
	while (len > 0 && is_blank(*line)) {
		line++;
		len--;
	}
	if (num < 2 || len > (size_t)num - 2) {
		load_err(x, "line too long (%zu characters, at most %d)", len, num - 2);
		return NULL;
	}
	memcpy(str, line, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	if (len == 0 || str[0] == '#' || str[0] == ';')
		return str;
	if (str[0] == '[')
		return section_open(x, str, len) == 0 ? str : NULL;
	return key_line_check(x, str, len) == 0 ? str : NULL;
}

static int
key_handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *x = user;
	char msg[MSH_CONF_ERR_LEN];
	const struct conf_key *k;
	size_t i;

	/* Builds with INI_CALL_HANDLER_ON_NEW_SECTION announce sections this way;
	 * the reader has opened it already. */
	if (name == NULL)
		return 1;
	if (x->err_line != 0 || x->sec == NULL)
		return 0;
	k = key_find(x->sec, name);
	if (k == NULL) {
		unknown_key_err(x->sec, name, msg, sizeof(msg));
		load_err(x, "%s %s", x->label, msg);
		return 0;
	}
	i = (size_t)(k - x->sec->keys);
	if (x->key_line[i] != 0) {
		load_err(x, "%s %s: set twice (first at line %u)", x->label, name, x->key_line[i]);
		return 0;
	}
	if (k->set(k, x->obj, value, msg, sizeof(msg)) != 0) {
		load_err(x, "%s %s", x->label, msg);
		return 0;
	}
	x->key_line[i] = x->lineno;
	return 1;
}

/* Parse x's source on top of the defaults, check, and copy to c only on success. */
static int
load(struct msh_conf *c, struct load_ctx *x, char *err, size_t errlen)
{
	char msg[MSH_CONF_ERR_LEN];
	struct msh_conf *tmp;
	int rc;

	if (strlen(x->name) >= MSH_CONF_PATH_LEN) {
		set_err(err, errlen, "%s: path too long (at most %d characters)", x->name,
			MSH_CONF_PATH_LEN - 1);
		return -ENAMETOOLONG;
	}
	tmp = calloc(1, sizeof(*tmp));
	if (tmp == NULL) {
		set_err(err, errlen, "%s: out of memory", x->name);
		return -ENOMEM;
	}
	msh_conf_defaults(tmp);
	memcpy(tmp->path, x->name, strlen(x->name));
	x->c = tmp;

	rc = ini_parse_stream(line_reader, x, key_handler, x);
	if (x->read_errno != 0) {
		set_err(err, errlen, "%s: cannot read: %s", x->name, strerror(x->read_errno));
		rc = -x->read_errno;
	} else if (rc > 0 && (x->err_line == 0 || (unsigned int)rc < x->err_line)) {
		/* An error inih found by itself, before any of ours. */
		set_err(err, errlen, "%s:%d: syntax error (expected [section], key = value or a "
			"# comment)", x->name, rc);
		rc = -EINVAL;
	} else if (x->err_line != 0) {
		set_err(err, errlen, "%s:%u: %s", x->name, x->err_line, x->err);
		rc = -EINVAL;
	} else if (rc < 0) {
		set_err(err, errlen, "%s: cannot parse (inih error %d)", x->name, rc);
		rc = -ENOMEM;
	} else if (conf_check(tmp, msg, sizeof(msg)) != 0) {
		set_err(err, errlen, "%s: %s", x->name, msg);
		rc = -EINVAL;
	} else {
		memcpy(c, tmp, sizeof(*c));
		rc = 0;
	}
	free(tmp);
	return rc;
}

int
msh_conf_load(struct msh_conf *c, const char *path, char *err, size_t errlen)
{
	struct load_ctx x = { .name = path };
	int rc;

	x.fp = fopen(path, "re");
	if (x.fp == NULL) {
		rc = -errno;
		set_err(err, errlen, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	rc = load(c, &x, err, errlen);
	free(x.buf);
	fclose(x.fp);
	return rc;
}

int
msh_conf_load_string(struct msh_conf *c, const char *text, const char *name, char *err,
		     size_t errlen)
{
	struct load_ctx x = { .name = name != NULL ? name : "(string)", .text = text };

	return load(c, &x, err, errlen);
}

/* ---- dumping ---- */

static void
dump_section(FILE *out, const struct conf_section *sec, const void *obj)
{
	char val[MSH_CONF_PATH_LEN + 8];

	for (size_t i = 0; i < sec->n_keys; i++) {
		const struct conf_key *k = &sec->keys[i];

		k->fmt(k, obj, val, sizeof(val));
		fprintf(out, "# %s; default %s\n%s =%s%s\n", k->doc, k->def[0] ? k->def : "none",
			k->name, val[0] ? " " : "", val);
	}
}

int
msh_conf_dump(const struct msh_conf *c, FILE *out)
{
	char name[MSH_NAME_LEN + 1];

	/* Names first, so that nothing is written for a configuration that cannot be
	 * read back; a ']' in a shard name would end its section header early. */
	if (c->n_ports > MSH_CONF_MAX_PORTS || c->n_shards > MSH_CONF_MAX_SHARDS ||
	    c->n_feeds > MSH_CONF_MAX_FEEDS)
		return -EINVAL;
	for (unsigned int i = 0; i < c->n_ports; i++)
		if (!name_field_ok(c->ports[i].name, sizeof(c->ports[i].name)))
			return -EINVAL;
	for (unsigned int i = 0; i < c->n_feeds; i++)
		if (!name_field_ok(c->feeds[i].name, sizeof(c->feeds[i].name)))
			return -EINVAL;
	for (unsigned int i = 0; i < c->n_shards; i++)
		if (!msh_name_valid(&c->shards[i].name) ||
		    strchr(msh_name_to_str(&c->shards[i].name, name), ']') != NULL)
			return -EINVAL;

	fprintf(out, "# memshard configuration: every key, each with what it does and its "
		"default\n\n[appliance]\n");
	dump_section(out, &sec_appliance, &c->app);
	for (unsigned int i = 0; i < c->n_ports; i++) {
		fprintf(out, "\n[port %s]\n", c->ports[i].name);
		dump_section(out, &sec_port, &c->ports[i]);
	}
	for (unsigned int i = 0; i < c->n_shards; i++) {
		fprintf(out, "\n[shard %s]\n", msh_name_to_str(&c->shards[i].name, name));
		dump_section(out, &sec_shard, &c->shards[i]);
	}
	for (unsigned int i = 0; i < c->n_feeds; i++) {
		fprintf(out, "\n[feed %s]\n", c->feeds[i].name);
		dump_section(out, &sec_feed, &c->feeds[i]);
	}
	return ferror(out) ? -EIO : 0;
}
