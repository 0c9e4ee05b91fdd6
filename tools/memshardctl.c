/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * memshardctl: the operator's CLI. Sends one command line to the appliance's
 * control socket and prints the one-line JSON reply: as human tables by
 * default (arrays of objects as columns, objects as key/value lines), or as
 * JSON with --json. The formatting is generic, so every command the daemon
 * registers prints without a change here.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/memshard/memshard.sock"
#define REPLY_MAX (16u << 20)

static const char usage_text[] =
	"NAME\n"
	"    memshardctl - control a running memshard appliance\n"
	"\n"
	"SYNOPSIS\n"
	"    memshardctl [--socket PATH] [--json] [--timeout MS] COMMAND [ARGS...]\n"
	"\n"
	"DESCRIPTION\n"
	"    Sends COMMAND to the appliance's control socket and prints the reply.\n"
	"    'memshardctl help' lists the commands the running appliance knows:\n"
	"      help, version, stats, stats reset, shard list, shard show NAME,\n"
	"      shard create NAME [KEY=VALUE...], shard set NAME KEY=VALUE...,\n"
	"      shard seal NAME, shard delete NAME, feed list, feed show NAME,\n"
	"      feed create NAME shard=SHARD line_a=GROUP:PORT[@PORT] [KEY=VALUE...],\n"
	"      feed delete NAME, igmp status, sub list [SHARD],\n"
	"      sub kick ADDR[:PORT], config dump, repl status, repl promote,\n"
	"      repl demote, shutdown\n"
	"\n"
	"OPTIONS\n"
	"    -s, --socket PATH   control socket (default " DEFAULT_SOCKET ",\n"
	"                        or $MEMSHARD_SOCKET; [appliance] control_socket)\n"
	"    -j, --json          print the reply's result as JSON\n"
	"    -t, --timeout MS    wait at most MS ms for the reply (default 5000)\n"
	"    -h, --help          this text\n"
	"\n"
	"EXIT STATUS\n"
	"    0 the command succeeded; 1 the appliance refused it (the reason is printed\n"
	"    on one line); 2 usage error or no appliance at the socket.\n"
	"\n"
	"EXAMPLES\n"
	"    memshardctl stats\n"
	"    memshardctl --json shard show ticks\n"
	"    memshardctl shard create orders segment_bytes=16M max_bytes=256M on_full=evict\n"
	"    memshardctl feed create itch shard=itch line_a=233.54.12.1:26477 \\\n"
	"        line_b=233.49.196.1:26477@mdB gap_timeout=5ms\n"
	"    memshardctl --socket /tmp/m.sock sub list ticks\n"
	"    memshardctl shard set orders storage=persistent\n"
	"    memshardctl --json repl status\n";

static void
print_scalar(const json_t *v, int width)
{
	char *s;

	if (json_is_string(v))
		printf("%-*s", width, json_string_value(v));
	else if (json_is_integer(v))
		printf("%*lld", width, (long long)json_integer_value(v));
	else {
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("%-*s", width, s ? s : "?");
		free(s);
	}
}

static int
scalar_width(const json_t *v)
{
	char buf[64];

	if (json_is_string(v))
		return (int)strlen(json_string_value(v));
	if (json_is_integer(v))
		return snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
	return 8;
}

static void print_value(const json_t *v, int indent);

/* An array of objects: one column per key of the first object. */
static void
print_table(const json_t *a)
{
	const json_t *first = json_array_get(a, 0), *row;
	const char *key;
	json_t *val;
	size_t i;
	int widths[64], ncol = 0, c;

	json_object_foreach((json_t *)first, key, val) {
		if (ncol == 64)
			break;
		widths[ncol] = (int)strlen(key);
		json_array_foreach(a, i, row) {
			int w = scalar_width(json_object_get(row, key));

			if (w > widths[ncol])
				widths[ncol] = w;
		}
		ncol++;
	}
	c = 0;
	json_object_foreach((json_t *)first, key, val) {
		if (c == ncol)
			break;
		printf("%s%-*s", c ? "  " : "", widths[c], key);
		c++;
	}
	printf("\n");
	json_array_foreach(a, i, row) {
		c = 0;
		json_object_foreach((json_t *)first, key, val) {
			if (c == ncol)
				break;
			printf("%s", c ? "  " : "");
			print_scalar(json_object_get(row, key), widths[c]);
			c++;
		}
		printf("\n");
	}
}

static void
print_value(const json_t *v, int indent)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json_is_array(v)) {
		if (json_array_size(v) == 0) {
			printf("%*s(none)\n", indent, "");
			return;
		}
		if (json_is_object(json_array_get(v, 0))) {
			print_table(v);
			return;
		}
		json_array_foreach(v, i, val) {
			printf("%*s", indent, "");
			print_scalar(val, 0);
			printf("\n");
		}
		return;
	}
	if (json_is_object(v)) {
		int w = 0;

		json_object_foreach((json_t *)v, key, val)
			if ((int)strlen(key) > w)
				w = (int)strlen(key);
		json_object_foreach((json_t *)v, key, val) {
			if (json_is_object(val) || json_is_array(val)) {
				printf("%*s%s:\n", indent, "", key);
				print_value(val, indent + 2);
			} else {
				printf("%*s%-*s  ", indent, "", w, key);
				print_scalar(val, 0);
				printf("\n");
			}
		}
		return;
	}
	if (json_is_string(v))
		fputs(json_string_value(v), stdout); /* config dump, messages */
	else
		print_scalar(v, 0);
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_value(v)[json_string_length(v) - 1] != '\n')
		printf("\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = getenv("MEMSHARD_SOCKET") ? getenv("MEMSHARD_SOCKET") : DEFAULT_SOCKET;
	int json_out = 0, timeout_ms = 5000, opt, fd;
	struct sockaddr_un sa;
	char line[4096];
	size_t len = 0, cap = 65536, got = 0;
	char *reply;
	json_t *root = NULL, *ok;
	int rc;
	json_error_t jerr;

	while ((opt = getopt_long(argc, argv, "+s:jt:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json_out = 1;
			break;
		case 't':
			timeout_ms = atoi(optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fprintf(stderr, "memshardctl: see 'memshardctl --help'\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "memshardctl: no command (try 'memshardctl help')\n");
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		size_t l = strlen(argv[i]);

		if (strchr(argv[i], '\n') != NULL || len + l + 2 > sizeof(line)) {
			fprintf(stderr, "memshardctl: command too long or with a newline\n");
			return 2;
		}
		if (len)
			line[len++] = ' ';
		memcpy(line + len, argv[i], l);
		len += l;
	}
	line[len++] = '\n';

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "memshardctl: socket path too long: %s\n", path);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "memshardctl: cannot connect to %s: %s (is memshard running? "
				"--socket sets the path)\n",
			path, strerror(errno));
		return 2;
	}
	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len) {
		fprintf(stderr, "memshardctl: %s: %s\n", path, strerror(errno));
		return 2;
	}
	reply = malloc(cap);
	rc = 2;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0) {
			fprintf(stderr, "memshardctl: no reply within %d ms\n", timeout_ms);
			goto out;
		}
		if (got + 1 >= cap) {
			char *bigger;

			if (cap >= REPLY_MAX) {
				fprintf(stderr, "memshardctl: reply larger than %u bytes\n", REPLY_MAX);
				goto out;
			}
			cap *= 2;
			bigger = realloc(reply, cap);
			if (bigger == NULL)
				goto out;
			reply = bigger;
		}
		n = recv(fd, reply + got, cap - got - 1, 0);
		if (n <= 0) {
			fprintf(stderr, "memshardctl: the appliance closed the connection\n");
			goto out;
		}
		got += (size_t)n;
		if (memchr(reply + got - (size_t)n, '\n', (size_t)n) != NULL)
			break;
	}
	reply[got] = '\0';
	root = json_loads(reply, 0, &jerr);
	if (root == NULL) {
		fprintf(stderr, "memshardctl: unreadable reply: %s\n", jerr.text);
		goto out;
	}
	ok = json_object_get(root, "ok");
	if (!json_is_true(ok)) {
		const json_t *e = json_object_get(root, "error");

		fprintf(stderr, "memshardctl: %s\n", json_is_string(e) ? json_string_value(e) : reply);
		rc = 1;
		goto out;
	}
	if (json_out) {
		char *s = json_dumps(json_object_get(root, "result"), JSON_INDENT(2) | JSON_ENCODE_ANY);

		printf("%s\n", s);
		free(s);
	} else {
		print_value(json_object_get(root, "result"), 0);
	}
	rc = 0;
out:
	json_decref(root);
	free(reply);
	close(fd);
	return rc;
}
