/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Code shared by the kernel-socket clients msh-pub, msh-sub and msh-bench:
 * ADDR[:PORT] and number parsing, shard-name checking, the UDP socket with
 * enlarged buffers, CLOCK_MONOTONIC time, SIGINT/SIGTERM handling, a bounded
 * wait on several descriptors, batched receive with recvmmsg, and the
 * deterministic message content of msh-pub's generator that msh-sub --verify
 * and msh-bench check. Header-only because the Makefile builds every
 * tools/X.c as its own program; every function is static inline so that a
 * tool which does not use one gets no warning. Not thread-safe (the signal
 * flag and the warning flags are per process).
 */
#ifndef MSH_CLIENT_H
#define MSH_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

#define MSH_CLI_INGEST_PORT 9000
#define MSH_CLI_RETRANS_PORT 9001
/** Socket buffer size asked for (SO_RCVBUF and SO_SNDBUF). */
#define MSH_CLI_SOCKBUF (8 << 20)
/** Largest UDP payload over IPv4. */
#define MSH_CLI_UDP_MAX 65507u
/** IPv4 + UDP header bytes, taken off an MTU to get the UDP payload. */
#define MSH_CLI_IP_UDP_HDR 28u

#define MSH_CLI_EXIT_OK 0
#define MSH_CLI_EXIT_FAIL 1
#define MSH_CLI_EXIT_USAGE 2

#define MSH_NS_PER_US UINT64_C(1000)
#define MSH_NS_PER_MS UINT64_C(1000000)
#define MSH_NS_PER_S UINT64_C(1000000000)

/* Generated message layout (msh-pub --gen, msh-bench): 8-byte big-endian index,
 * 8-byte big-endian CLOCK_MONOTONIC send time in ns, then filler. */
#define MSH_GEN_OFF_INDEX 0
#define MSH_GEN_OFF_TS 8
#define MSH_GEN_HDR_LEN 16

/** Program name for messages; each tool sets it first thing in main. */
static const char *msh_cli_prog __attribute__((unused)) = "msh";
/** Number of SIGINT/SIGTERM received. */
static volatile sig_atomic_t msh_cli_stop __attribute__((unused));

static inline uint64_t
msh_cli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * MSH_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/** "prog: message" on stderr. */
static inline void __attribute__((format(printf, 1, 2))) msh_cli_msg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", msh_cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/** Usage error: message, pointer to --help, exit 2. */
static inline void __attribute__((format(printf, 1, 2), noreturn))
msh_cli_usage_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", msh_cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", msh_cli_prog);
	exit(MSH_CLI_EXIT_USAGE);
}

/**
 * Parse a whole unsigned number, optionally followed by k, m or g (x1000,
 * x1000000, x1000000000). @return 0, or -1 when @p s is not such a number or
 * the value overflows.
 */
static inline int
msh_cli_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		mult = 1000ull;
		end++;
		break;
	case 'm':
	case 'M':
		mult = 1000000ull;
		end++;
		break;
	case 'g':
	case 'G':
		mult = 1000000000ull;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0' || v > UINT64_MAX / mult)
		return -1;
	*out = (uint64_t)v * mult;
	return 0;
}

/** Number of option @p opt in [lo, hi], or a usage error naming the option. */
static inline uint64_t
msh_cli_opt_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
	uint64_t v;

	if (msh_cli_parse_u64(s, &v) != 0)
		msh_cli_usage_err("%s: '%s' is not a whole number", opt, s);
	if (v < lo || v > hi)
		msh_cli_usage_err("%s: %" PRIu64 " is out of range %" PRIu64 "..%" PRIu64, opt, v,
		                  lo, hi);
	return v;
}

/** Seconds (decimal, e.g. 2.5) of option @p opt in [lo, hi] as nanoseconds. */
static inline uint64_t
msh_cli_opt_seconds(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
		msh_cli_usage_err("%s: '%s' is not a number of seconds", opt, s);
	if (v < lo || v > hi)
		msh_cli_usage_err("%s: %s is out of range %g..%g seconds", opt, s, lo, hi);
	return (uint64_t)llround(v * (double)MSH_NS_PER_S);
}

/**
 * Parse HOST[:PORT] into an IPv4 address: HOST is a dotted quad or a name
 * that resolves to IPv4. @return 0, or -1 with the reason printed.
 */
static inline int
msh_cli_parse_addr(const char *s, uint16_t default_port, struct sockaddr_in *sa)
{
	char host[256];
	const char *colon = strrchr(s, ':');
	size_t hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
	uint64_t port = default_port;
	struct addrinfo hints, *res = NULL;
	int rc;

	if (hlen == 0 || hlen >= sizeof(host)) {
		msh_cli_msg("address '%s': expected HOST[:PORT] (IPv4)", s);
		return -1;
	}
	if (strchr(s, '[') != NULL || (colon != NULL && memchr(s, ':', hlen) != NULL)) {
		msh_cli_msg("address '%s': only IPv4 is supported", s);
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (colon != NULL &&
	    (msh_cli_parse_u64(colon + 1, &port) != 0 || port == 0 || port > 65535)) {
		msh_cli_msg("address '%s': port '%s' is not a number in 1..65535", s, colon + 1);
		return -1;
	}
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
		return 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_DGRAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 || res == NULL) {
		msh_cli_msg("address '%s': cannot resolve '%s' to IPv4: %s", s, host,
		            rc != 0 ? gai_strerror(rc) : "no address");
		return -1;
	}
	sa->sin_addr = ((const struct sockaddr_in *)(const void *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

/** "a.b.c.d:port" into @p buf (at least 24 bytes). */
static inline const char *
msh_cli_addr_str(const struct sockaddr_in *sa, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(sa->sin_port));
	return buf;
}

static inline bool
msh_cli_addr_eq(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/** Shard name from the command line, or a usage error that says the rule. */
static inline void
msh_cli_opt_shard(const char *s, struct msh_name *n)
{
	if (msh_name_from_str(n, s) != 0)
		msh_cli_usage_err("invalid shard name '%s': 1 to %d printable ASCII characters, "
		                  "no spaces",
		                  s, MSH_NAME_LEN);
}

/**
 * The end of every client's option switch: --help prints @p usage and exits
 * 0; anything getopt refused says where to look and exits with the usage
 * status.
 */
static inline void __attribute__((noreturn))
msh_cli_opt_help_or_fail(int opt, const char *usage)
{
	if (opt == 'h') {
		fputs(usage, stdout);
		exit(MSH_CLI_EXIT_OK);
	}
	fprintf(stderr, "Try '%s --help' for more information.\n", msh_cli_prog);
	exit(MSH_CLI_EXIT_USAGE);
}

/** The two operands ADDR[:PORT] NAME of msh-pub and msh-bench, or a usage error. */
static inline void
msh_cli_addr_shard(int argc, char **argv, int first, struct sockaddr_in *dst,
		   struct msh_name *shard)
{
	if (argc - first != 2)
		msh_cli_usage_err("expected ADDR[:PORT] and NAME, got %d operand%s", argc - first,
		                  argc - first == 1 ? "" : "s");
	if (msh_cli_parse_addr(argv[first], MSH_CLI_INGEST_PORT, dst) != 0)
		exit(MSH_CLI_EXIT_USAGE);
	msh_cli_opt_shard(argv[first + 1], shard);
}

/* Ask for @p want bytes of one socket buffer; root may pass the sysctl cap with
 * the FORCE option. Warn once when the kernel gives less. */
static inline void
msh_cli_sockbuf(int fd, int opt, int force_opt, const char *name, const char *sysctl, int want)
{
	int got = 0;
	socklen_t len = sizeof(got);

	if (setsockopt(fd, SOL_SOCKET, force_opt, &want, sizeof(want)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, opt, &want, sizeof(want));
	/* Linux reports twice the size asked for (bookkeeping overhead). */
	if (getsockopt(fd, SOL_SOCKET, opt, &got, &len) == 0 && got / 2 < want)
		msh_cli_msg("warning: %s is %d bytes, less than the %d asked for "
		            "(as root: sysctl -w %s=%d)",
		            name, got / 2, want, sysctl, want);
}

/**
 * New IPv4 UDP socket with 8 MiB send and receive buffers (warning when the
 * kernel caps them), non-blocking when @p nonblock.
 * @return the descriptor, or -1 with the reason printed.
 */
static inline int
msh_cli_udp_socket(bool nonblock)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	struct sockaddr_in any;

	if (fd < 0) {
		msh_cli_msg("socket: %s", strerror(errno));
		return -1;
	}
	msh_cli_sockbuf(fd, SO_RCVBUF, SO_RCVBUFFORCE, "SO_RCVBUF", "net.core.rmem_max",
	                MSH_CLI_SOCKBUF);
	msh_cli_sockbuf(fd, SO_SNDBUF, SO_SNDBUFFORCE, "SO_SNDBUF", "net.core.wmem_max",
	                MSH_CLI_SOCKBUF);
	/* Bind now so the local port is fixed before the first send: the
	 * appliance keys subscriptions by source port. */
	memset(&any, 0, sizeof(any));
	any.sin_family = AF_INET;
	if (bind(fd, (const struct sockaddr *)&any, sizeof(any)) != 0) {
		msh_cli_msg("bind: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/**
 * sendto() that tells a transient failure (buffer full, interrupted: the
 * caller's timers resend) from a fatal one (printed).
 * @return 1 sent, 0 transient failure, -1 fatal.
 */
static inline int
msh_cli_send(int fd, const void *buf, size_t len, const struct sockaddr_in *to)
{
	char a[32];

	if (sendto(fd, buf, len, 0, (const struct sockaddr *)to, sizeof(*to)) == (ssize_t)len)
		return 1;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR ||
	    errno == ECONNREFUSED)
		return 0;
	msh_cli_msg("send to %s: %s", msh_cli_addr_str(to, a, sizeof(a)), strerror(errno));
	return -1;
}

static inline void
msh_cli_on_signal(int sig)
{
	(void)sig;
	msh_cli_stop++;
}

/** SIGINT and SIGTERM set msh_cli_stop (no SA_RESTART: waits return EINTR); SIGPIPE ignored. */
static inline void
msh_cli_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = msh_cli_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/**
 * Wait until one of @p n descriptors is readable or @p timeout_ns passes
 * (0: just look). @return number of ready descriptors (revents set), 0 on
 * timeout or signal.
 */
static inline int
msh_cli_wait(struct pollfd *fds, unsigned int n, uint64_t timeout_ns)
{
	struct timespec ts = {
	        .tv_sec = (time_t)(timeout_ns / MSH_NS_PER_S),
	        .tv_nsec = (long)(timeout_ns % MSH_NS_PER_S),
	};
	int rc;

	for (unsigned int i = 0; i < n; i++)
		fds[i].revents = 0;
	rc = ppoll(fds, n, &ts, NULL);
	return rc < 0 ? 0 : rc;
}

/* Batched receive: one recvmmsg fills up to MSH_CLI_RX_BURST datagrams. */
#define MSH_CLI_RX_BURST 64
#define MSH_CLI_RX_BUFLEN 65536

struct msh_cli_rx {
	struct mmsghdr msg[MSH_CLI_RX_BURST];
	struct iovec iov[MSH_CLI_RX_BURST];
	struct sockaddr_in from[MSH_CLI_RX_BURST];
	uint8_t *buf; /**< MSH_CLI_RX_BURST x MSH_CLI_RX_BUFLEN */
};

/** @return 0, or -1 (out of memory, printed). */
static inline int
msh_cli_rx_init(struct msh_cli_rx *rx)
{
	rx->buf = malloc((size_t)MSH_CLI_RX_BURST * MSH_CLI_RX_BUFLEN);
	if (rx->buf == NULL) {
		msh_cli_msg("out of memory for the receive buffers");
		return -1;
	}
	return 0;
}

/**
 * Receive what is queued on @p fd without blocking.
 * @return datagrams received (their lengths in msg[i].msg_len, data at
 * buf + i * MSH_CLI_RX_BUFLEN, sender in from[i]), 0 when none.
 */
static inline int
msh_cli_rx_burst(struct msh_cli_rx *rx, int fd)
{
	int n;

	for (int i = 0; i < MSH_CLI_RX_BURST; i++) {
		rx->iov[i].iov_base = rx->buf + (size_t)i * MSH_CLI_RX_BUFLEN;
		rx->iov[i].iov_len = MSH_CLI_RX_BUFLEN;
		memset(&rx->msg[i].msg_hdr, 0, sizeof(rx->msg[i].msg_hdr));
		rx->msg[i].msg_hdr.msg_iov = &rx->iov[i];
		rx->msg[i].msg_hdr.msg_iovlen = 1;
		rx->msg[i].msg_hdr.msg_name = &rx->from[i];
		rx->msg[i].msg_hdr.msg_namelen = sizeof(rx->from[i]);
	}
	n = recvmmsg(fd, rx->msg, MSH_CLI_RX_BURST, MSG_DONTWAIT, NULL);
	return n < 0 ? 0 : n;
}

static inline const uint8_t *
msh_cli_rx_data(const struct msh_cli_rx *rx, int i)
{
	return rx->buf + (size_t)i * MSH_CLI_RX_BUFLEN;
}

/** True when a datagram starts with the native header's magic and version
 * (a MoldUDP64 session is printable, so its third byte is never 1). */
static inline bool
msh_cli_is_native(const uint8_t *b, size_t len)
{
	return len >= MSH_HDR_LEN && msh_load_be16(b) == MSH_MAGIC && b[2] == MSH_VERSION;
}

/* Generated content ------------------------------------------------------- */

/** Filler byte @p j (counted from the first byte after the 16-byte header) of message @p index. */
static inline uint8_t
msh_gen_filler(uint64_t index, uint64_t j)
{
	return (uint8_t)(index * 131u + j * 7u);
}

/** Write generated message @p index stamped @p ts into @p m (@p size >= 16 bytes). */
static inline void
msh_gen_fill(uint8_t *m, uint32_t size, uint64_t index, uint64_t ts)
{
	msh_store_be64(m + MSH_GEN_OFF_INDEX, index);
	msh_store_be64(m + MSH_GEN_OFF_TS, ts);
	for (uint32_t j = 0; j + MSH_GEN_HDR_LEN < size; j++)
		m[MSH_GEN_HDR_LEN + j] = msh_gen_filler(index, j);
}

/**
 * Check a generated message: at least 16 bytes and every filler byte right
 * for the index it carries. @return -1 when good, else the offset of the first
 * bad byte (the length when the message is shorter than 16 bytes).
 */
static inline long
msh_gen_check(const uint8_t *m, uint32_t len, uint64_t *index)
{
	uint64_t i;

	if (len < MSH_GEN_HDR_LEN)
		return (long)len;
	i = msh_load_be64(m + MSH_GEN_OFF_INDEX);
	*index = i;
	for (uint32_t j = 0; j + MSH_GEN_HDR_LEN < len; j++)
		if (m[MSH_GEN_HDR_LEN + j] != msh_gen_filler(i, j))
			return (long)(MSH_GEN_HDR_LEN + j);
	return -1;
}

#endif /* MSH_CLIENT_H */
