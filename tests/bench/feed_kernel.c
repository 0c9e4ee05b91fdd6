/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * feed_kernel: the kernel-socket ends of the multicast feed benchmark
 * (tests/bench/feed_latency.sh, issue 11). No DPDK. Three modes:
 *
 *   send    an exchange: a MoldUDP64 feed on two multicast lines A and B (the
 *           same packets on both, B optionally a few microseconds later), at a
 *           fixed rate on a fixed timeline (busy-wait on CLOCK_MONOTONIC,
 *           sendmmsg bursts of whatever is due), K messages a packet; every
 *           message carries its send time (CLOCK_REALTIME ns, 8 bytes
 *           big-endian) and its upstream sequence number (8 bytes), then
 *           filler. Loss is decided in the sender (a packet "lost" on a line
 *           is not sent on it; independent per line, deterministic PRNG):
 *           for the receiver that is the same as a drop on the wire. nftables
 *           in the sender's output path would also do (TESTBED.md), but makes
 *           sendto() fail with EPERM for every dropped packet.
 *   kernel  the baseline a user would write instead of memshard: two UDP
 *           sockets joined to A and B, busy-polling both with non-blocking
 *           recvmmsg, first copy of each upstream sequence number wins,
 *           delivered in upstream order (messages past a gap are held until
 *           the other line fills it or gap_timeout gives it up, memshard's
 *           contract); one-way latency per message = receive time - stamp.
 *   sub     a memshard subscriber (SUBSCRIBE, TOKEN_REQUIRED, SUBSCRIBE with
 *           the token: PROTOCOL.md) that busy-polls the shard's unicast
 *           MoldUDP64 feed and measures the same latency from the stamp.
 *
 * The receivers print one JSON object: messages delivered (distinct upstream
 * sequence numbers 1..count), lost, duplicates, gaps, p50/p99/p99.9/max one-way
 * latency in us, delivered msgs/s. Sender and receivers must share a clock
 * (one host: the namespaces share CLOCK_REALTIME). Timings never fail; the
 * exit status is 1 only when a mode cannot run (sockets, arguments).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "hist.h"
#include "wire.h"

#define STAMP_LEN 16 /* send time (8), upstream seq (8) */
#define RX_BURST 64
#define RX_BUFLEN 2048
#define PKT_RING 8192u       /* sender: packets built, awaiting their B copy */
#define HOLD_RING (1u << 20) /* kernel: messages held past a gap */
#define SOCKBUF (32 << 20)

static const char usage_text[] =
        "Usage: feed_kernel send   [OPTIONS] GROUP_A:PORT GROUP_B:PORT\n"
        "       feed_kernel kernel [OPTIONS] GROUP_A:PORT GROUP_B:PORT\n"
        "       feed_kernel sub    [OPTIONS] ADDR[:PORT] SHARD\n"
        "\n"
        "send: a MoldUDP64 A/B multicast feed at a fixed rate.\n"
        "  --src-ip IP          local address: IP_MULTICAST_IF and source (required)\n"
        "  --rate N             messages/s (k, m suffixes; required)\n"
        "  --count N            messages to send (default 1m)\n"
        "  --per-packet K       messages a packet (default 10)\n"
        "  --size S             bytes a message, >= 16 (default 32)\n"
        "  --b-delay-us D       line B sends each packet D us after A's schedule (default 0)\n"
        "  --no-b               line A only\n"
        "  --loss-a P, --loss-b P  percent of packets not sent on that line (default 0)\n"
        "  --no-double-loss     never drop a packet on both lines (the one kept is random)\n"
        "  --seed N             PRNG seed of the loss (default 1)\n"
        "  --session NAME       MoldUDP64 session (default FEEDBENCH)\n"
        "  --burst N            most packets a sendmmsg (default 64)\n"
        "  --window-us W        send what is due within W us in one burst and sleep\n"
        "                       until the next is (default 0: busy-wait, send on time)\n"
        "  --ttl N              multicast TTL (default 1)\n"
        "  Packet 1 is never dropped (an arbiter starts at the first packet it sees);\n"
        "  three heartbeats (next seq) follow the last packet on both lines.\n"
        "\n"
        "kernel: join both groups, first copy wins, in order, busy-polling.\n"
        "  --if-ip IP           address of the interface to join on (required)\n"
        "  --count N            messages expected, upstream seq 1..N (required)\n"
        "  --measure-from SEQ   latency of messages from SEQ on only (default 1)\n"
        "  --gap-timeout-us T   give a gap up after T us (default 5000, memshard's default)\n"
        "  --timeout S          stop S seconds after the last message (default 3)\n"
        "  --max-wait S         stop if nothing comes for S seconds at first (default 30)\n"
        "\n"
        "sub: subscribe to SHARD at ADDR (port 9000), busy-polling.\n"
        "  --count N, --measure-from SEQ, --timeout S, --max-wait S as above\n"
        "\n"
        "Every mode prints one JSON object on stdout.\n";

/* ---- time ---------------------------------------------------------------- */

static inline uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * MSH_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * MSH_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- options ------------------------------------------------------------- */

enum mode { M_SEND, M_KERNEL, M_SUB };

struct opts {
	enum mode mode;
	struct in_addr src_ip, if_ip;
	bool have_src, have_if;
	uint64_t rate, count, measure_from, seed;
	uint32_t per_packet, size, burst, ttl;
	uint64_t b_delay_ns, window_ns, gap_timeout_ns, timeout_ns, max_wait_ns;
	double loss[2];
	bool no_b, no_double_loss;
	struct msh_name session;
	struct sockaddr_in line[2]; /* send, kernel */
	struct sockaddr_in app;     /* sub */
	struct msh_name shard;      /* sub */
};

static double
opt_percent(const char *opt, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0 && v <= 100))
		msh_cli_usage_err("%s: '%s' is not a percentage 0..100", opt, s);
	return v;
}

static struct in_addr
opt_ip(const char *opt, const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		msh_cli_usage_err("%s: '%s' is not an IPv4 address", opt, s);
	return a;
}

static void
opt_group(const char *s, struct sockaddr_in *sa)
{
	if (msh_cli_parse_addr(s, 0, sa) != 0)
		exit(MSH_CLI_EXIT_USAGE);
	if (sa->sin_port == 0 || (ntohl(sa->sin_addr.s_addr) >> 28) != 0xE)
		msh_cli_usage_err("'%s': expected GROUP:PORT with a multicast group (224.0.0.0/4)",
		                  s);
}

enum {
	O_SRC = 256,
	O_IF,
	O_RATE,
	O_COUNT,
	O_K,
	O_SIZE,
	O_BDELAY,
	O_NOB,
	O_LA,
	O_LB,
	O_NODBL,
	O_SEED,
	O_SESSION,
	O_BURST,
	O_WINDOW,
	O_TTL,
	O_MFROM,
	O_GAP,
	O_TIMEOUT,
	O_MAXWAIT,
};

static void
parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	        {"src-ip", required_argument, NULL, O_SRC},
	        {"if-ip", required_argument, NULL, O_IF},
	        {"rate", required_argument, NULL, O_RATE},
	        {"count", required_argument, NULL, O_COUNT},
	        {"per-packet", required_argument, NULL, O_K},
	        {"size", required_argument, NULL, O_SIZE},
	        {"b-delay-us", required_argument, NULL, O_BDELAY},
	        {"no-b", no_argument, NULL, O_NOB},
	        {"loss-a", required_argument, NULL, O_LA},
	        {"loss-b", required_argument, NULL, O_LB},
	        {"no-double-loss", no_argument, NULL, O_NODBL},
	        {"seed", required_argument, NULL, O_SEED},
	        {"session", required_argument, NULL, O_SESSION},
	        {"burst", required_argument, NULL, O_BURST},
	        {"window-us", required_argument, NULL, O_WINDOW},
	        {"ttl", required_argument, NULL, O_TTL},
	        {"measure-from", required_argument, NULL, O_MFROM},
	        {"gap-timeout-us", required_argument, NULL, O_GAP},
	        {"timeout", required_argument, NULL, O_TIMEOUT},
	        {"max-wait", required_argument, NULL, O_MAXWAIT},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool have_count = false;
	int c;

	if (argc < 2)
		msh_cli_usage_err("a mode is needed: send, kernel or sub");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage_text, stdout);
		exit(MSH_CLI_EXIT_OK);
	}
	if (strcmp(argv[1], "send") == 0)
		o->mode = M_SEND;
	else if (strcmp(argv[1], "kernel") == 0)
		o->mode = M_KERNEL;
	else if (strcmp(argv[1], "sub") == 0)
		o->mode = M_SUB;
	else
		msh_cli_usage_err("unknown mode '%s' (send, kernel or sub)", argv[1]);
	o->count = 1000000;
	o->measure_from = 1;
	o->seed = 1;
	o->per_packet = 10;
	o->size = 32;
	o->burst = 64;
	o->ttl = 1;
	o->gap_timeout_ns = 5 * MSH_NS_PER_MS;
	o->timeout_ns = 3 * MSH_NS_PER_S;
	o->max_wait_ns = 30 * MSH_NS_PER_S;
	msh_name_from_str(&o->session, "FEEDBENCH");
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_SRC:
			o->src_ip = opt_ip("--src-ip", optarg);
			o->have_src = true;
			break;
		case O_IF:
			o->if_ip = opt_ip("--if-ip", optarg);
			o->have_if = true;
			break;
		case O_RATE:
			o->rate = msh_cli_opt_u64("--rate", optarg, 1, 100000000);
			break;
		case O_COUNT:
			o->count = msh_cli_opt_u64("--count", optarg, 1, 1ull << 32);
			have_count = true;
			break;
		case O_K:
			o->per_packet = (uint32_t)msh_cli_opt_u64("--per-packet", optarg, 1, 700);
			break;
		case O_SIZE:
			o->size = (uint32_t)msh_cli_opt_u64("--size", optarg, STAMP_LEN, 1400);
			break;
		case O_BDELAY:
			o->b_delay_ns =
			        msh_cli_opt_u64("--b-delay-us", optarg, 0, 1000000) * MSH_NS_PER_US;
			break;
		case O_NOB:
			o->no_b = true;
			break;
		case O_LA:
			o->loss[0] = opt_percent("--loss-a", optarg);
			break;
		case O_LB:
			o->loss[1] = opt_percent("--loss-b", optarg);
			break;
		case O_NODBL:
			o->no_double_loss = true;
			break;
		case O_SEED:
			o->seed = msh_cli_opt_u64("--seed", optarg, 0, UINT64_MAX);
			break;
		case O_SESSION:
			if (msh_name_from_str(&o->session, optarg) != 0)
				msh_cli_usage_err("--session: 1 to 10 printable characters");
			break;
		case O_BURST:
			o->burst = (uint32_t)msh_cli_opt_u64("--burst", optarg, 1, 1024);
			break;
		case O_WINDOW:
			o->window_ns =
			        msh_cli_opt_u64("--window-us", optarg, 0, 1000000) * MSH_NS_PER_US;
			break;
		case O_TTL:
			o->ttl = (uint32_t)msh_cli_opt_u64("--ttl", optarg, 1, 255);
			break;
		case O_MFROM:
			o->measure_from = msh_cli_opt_u64("--measure-from", optarg, 1, UINT64_MAX);
			break;
		case O_GAP:
			o->gap_timeout_ns =
			        msh_cli_opt_u64("--gap-timeout-us", optarg, 1, 10000000) *
			        MSH_NS_PER_US;
			break;
		case O_TIMEOUT:
			o->timeout_ns = msh_cli_opt_seconds("--timeout", optarg, 0.01, 3600);
			break;
		case O_MAXWAIT:
			o->max_wait_ns = msh_cli_opt_seconds("--max-wait", optarg, 0.01, 3600);
			break;
		default:
			msh_cli_opt_help_or_fail(c, usage_text);
		}
	}
	if (argc - optind != 2)
		msh_cli_usage_err("expected two operands, got %d", argc - optind);
	if (o->mode == M_SUB) {
		if (msh_cli_parse_addr(argv[optind], MSH_CLI_INGEST_PORT, &o->app) != 0)
			exit(MSH_CLI_EXIT_USAGE);
		msh_cli_opt_shard(argv[optind + 1], &o->shard);
	} else {
		opt_group(argv[optind], &o->line[0]);
		opt_group(argv[optind + 1], &o->line[1]);
	}
	if (o->mode == M_SEND) {
		if (!o->have_src || o->rate == 0)
			msh_cli_usage_err("send needs --src-ip and --rate");
		if ((uint64_t)o->per_packet * (MSH_BLOCK_HDR_LEN + o->size) + MSH_MOLD_HDR_LEN >
		    RX_BUFLEN - 64)
			msh_cli_usage_err(
			        "--per-packet x (--size + 2) + 20 must stay under %d bytes",
			        RX_BUFLEN - 64);
		/* B's lag must stay within the packet ring. */
		if ((double)o->b_delay_ns * (double)o->rate / (double)o->per_packet / 1e9 >
		    PKT_RING / 2)
			msh_cli_usage_err("--b-delay-us: B would lag more than %u packets",
			                  PKT_RING / 2);
	} else if (!have_count) {
		msh_cli_usage_err("%s needs --count", argv[1]);
	}
	if (o->mode == M_KERNEL && !o->have_if)
		msh_cli_usage_err("kernel needs --if-ip");
}

/* ---- reports --------------------------------------------------------------- */

static void
print_lat(const struct hist *h)
{
	printf("\"measured\": %" PRIu64 ", \"p50_us\": %.3f, \"p99_us\": %.3f, "
	       "\"p99_9_us\": %.3f, \"max_us\": %.3f",
	       h->n, (double)hist_pct(h, 50) / 1e3, (double)hist_pct(h, 99) / 1e3,
	       (double)hist_pct(h, 99.9) / 1e3, (double)h->max / 1e3);
}

/* ---- send ------------------------------------------------------------------ */

static uint64_t
splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* True with probability @p pct percent. */
static bool
chance(uint64_t *s, double pct)
{
	return pct > 0 && (double)(splitmix(s) >> 11) * 0x1p-53 * 100.0 < pct;
}

static int
send_socket(const struct opts *o)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsigned char ttl = (unsigned char)o->ttl, loop = 0;
	struct sockaddr_in src;

	if (fd < 0) {
		msh_cli_msg("socket: %s", strerror(errno));
		return -1;
	}
	msh_cli_sockbuf(fd, SO_SNDBUF, SO_SNDBUFFORCE, "SO_SNDBUF", "net.core.wmem_max", SOCKBUF);
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr = o->src_ip;
	if (bind(fd, (const struct sockaddr *)&src, sizeof(src)) != 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &o->src_ip, sizeof(o->src_ip)) != 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) != 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) != 0) {
		msh_cli_msg("multicast socket on %s: %s", inet_ntoa(o->src_ip), strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct sender {
	const struct opts *o;
	int fd;
	uint8_t *pkts; /* PKT_RING packets of pkt_cap bytes */
	uint32_t *len; /* their lengths */
	uint8_t *drop; /* bit 0: not sent on A, bit 1: not on B */
	uint32_t pkt_cap;
	uint64_t n_pkts, prng;
	struct mmsghdr *mv;
	struct iovec *iov;
	uint64_t sent[2], dropped[2], spared, double_lost, bursts, syscalls, errors, enobufs;
	struct hist late;
};

/* Build packet @p p (0-based) stamped @p ts, and decide its loss. */
static void
build_packet(struct sender *s, uint64_t p, uint64_t ts)
{
	const struct opts *o = s->o;
	uint8_t *b = s->pkts + (size_t)(p % PKT_RING) * s->pkt_cap;
	uint64_t first = 1 + p * o->per_packet;
	uint32_t k = (uint32_t)MSH_MIN((uint64_t)o->per_packet, o->count - first + 1), off;
	uint8_t d = 0;

	msh_mold_hdr_build(b, MSH_MOLD_HDR_LEN, &o->session, first, (uint16_t)k);
	off = MSH_MOLD_HDR_LEN;
	for (uint32_t i = 0; i < k; i++) {
		uint8_t *m = b + off + MSH_BLOCK_HDR_LEN;

		msh_store_be16(b + off, (uint16_t)o->size);
		msh_store_be64(m, ts);
		msh_store_be64(m + 8, first + i);
		for (uint32_t j = STAMP_LEN; j < o->size; j++)
			m[j] = (uint8_t)((first + i) * 131u + j * 7u);
		off += MSH_BLOCK_HDR_LEN + o->size;
	}
	s->len[p % PKT_RING] = off;
	if (p > 0) { /* packet 1 always goes out: arbiters start at the first seen */
		bool la = chance(&s->prng, o->loss[0]);
		bool lb = !o->no_b && chance(&s->prng, o->loss[1]);

		if (la && lb && o->no_double_loss) {
			s->spared++;
			if (splitmix(&s->prng) & 1)
				la = false;
			else
				lb = false;
		}
		if (la && (lb || o->no_b))
			s->double_lost++;
		d = (uint8_t)(la | (lb << 1));
	}
	s->drop[p % PKT_RING] = d;
}

/* Send @p n queued datagrams, retrying what the kernel refuses for now. */
static void
send_vec(struct sender *s, unsigned int n)
{
	unsigned int done = 0;

	while (done < n) {
		int r = sendmmsg(s->fd, s->mv + done, n - done, 0);

		s->syscalls++;
		if (r > 0) {
			done += (unsigned int)r;
			continue;
		}
		if (r < 0 && (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)) {
			s->enobufs++;
			continue;
		}
		/* Anything else (EPERM from a firewall...): skip that datagram. */
		s->errors++;
		done++;
	}
}

static void
queue(struct sender *s, unsigned int *n, uint64_t p, unsigned int line)
{
	struct mmsghdr *h = &s->mv[*n];

	s->iov[*n].iov_base = s->pkts + (size_t)(p % PKT_RING) * s->pkt_cap;
	s->iov[*n].iov_len = s->len[p % PKT_RING];
	memset(&h->msg_hdr, 0, sizeof(h->msg_hdr));
	h->msg_hdr.msg_iov = &s->iov[*n];
	h->msg_hdr.msg_iovlen = 1;
	h->msg_hdr.msg_name = (void *)&s->o->line[line];
	h->msg_hdr.msg_namelen = sizeof(s->o->line[line]);
	(*n)++;
}

static int
run_send(const struct opts *o)
{
	struct sender s;
	uint64_t a = 0, b = 0, t0, t_end, first_real = 0;
	double interval;

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.prng = o->seed;
	s.fd = send_socket(o);
	if (s.fd < 0)
		return MSH_CLI_EXIT_FAIL;
	s.pkt_cap =
	        MSH_ALIGN_UP(MSH_MOLD_HDR_LEN + o->per_packet * (MSH_BLOCK_HDR_LEN + o->size), 64u);
	s.n_pkts = (o->count + o->per_packet - 1) / o->per_packet;
	s.pkts = malloc((size_t)PKT_RING * s.pkt_cap);
	s.len = calloc(PKT_RING, sizeof(*s.len));
	s.drop = calloc(PKT_RING, 1);
	s.mv = calloc(o->burst, sizeof(*s.mv));
	s.iov = calloc(o->burst, sizeof(*s.iov));
	if (s.pkts == NULL || s.len == NULL || s.drop == NULL || s.mv == NULL || s.iov == NULL) {
		msh_cli_msg("out of memory");
		return MSH_CLI_EXIT_FAIL;
	}
	interval = (double)o->per_packet * 1e9 / (double)o->rate;
	/* Sleeps (--window-us) end on time, not up to 50 us late. */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	msh_cli_signals();
	t0 = mono_ns() + MSH_NS_PER_MS;
	while ((a < s.n_pkts || (!o->no_b && b < s.n_pkts)) && !msh_cli_stop) {
		uint64_t now = mono_ns(), ts = real_ns(), next = UINT64_MAX;
		uint64_t horizon = now + o->window_ns;
		unsigned int n = 0;

		while (n < o->burst) {
			uint64_t da =
			        a < s.n_pkts ? t0 + (uint64_t)((double)a * interval) : UINT64_MAX;
			uint64_t db = !o->no_b && b < a ? t0 + (uint64_t)((double)b * interval) +
			                                          o->b_delay_ns
			                                : UINT64_MAX;

			if (da <= db && da <= horizon) {
				build_packet(&s, a, ts);
				if (a == 0)
					first_real = ts;
				hist_add(&s.late, now > da ? now - da : 0);
				if (s.drop[a % PKT_RING] & 1) {
					s.dropped[0]++;
				} else {
					queue(&s, &n, a, 0);
					s.sent[0]++;
				}
				a++;
			} else if (db < da && db <= horizon) {
				if (s.drop[b % PKT_RING] & 2) {
					s.dropped[1]++;
				} else {
					queue(&s, &n, b, 1);
					s.sent[1]++;
				}
				b++;
			} else {
				next = MSH_MIN(da, db);
				break;
			}
		}
		if (n > 0) {
			send_vec(&s, n);
			s.bursts++;
		} else if (o->window_ns != 0 && next != UINT64_MAX && next > horizon) {
			uint64_t w = next - o->window_ns;
			struct timespec until = {.tv_sec = (time_t)(w / MSH_NS_PER_S),
			                         .tv_nsec = (long)(w % MSH_NS_PER_S)};

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
		}
	}
	t_end = mono_ns();
	/* Heartbeats with the next sequence number: a receiver learns of a gap
	 * at the tail (and memshard's arbiter gives it up in time). */
	for (int i = 0; i < 3 && !msh_cli_stop; i++) {
		uint8_t hb[MSH_MOLD_HDR_LEN];
		unsigned int n = 0;

		msh_mold_hdr_build(hb, sizeof(hb), &o->session, o->count + 1, MSH_MOLD_HEARTBEAT);
		for (unsigned int l = 0; l < (o->no_b ? 1u : 2u); l++) {
			s.iov[n].iov_base = hb;
			s.iov[n].iov_len = sizeof(hb);
			memset(&s.mv[n].msg_hdr, 0, sizeof(s.mv[n].msg_hdr));
			s.mv[n].msg_hdr.msg_iov = &s.iov[n];
			s.mv[n].msg_hdr.msg_iovlen = 1;
			s.mv[n].msg_hdr.msg_name = (void *)&o->line[l];
			s.mv[n].msg_hdr.msg_namelen = sizeof(o->line[l]);
			n++;
		}
		send_vec(&s, n);
		usleep(1000);
	}
	{
		double secs = (double)(t_end - t0) / 1e9;

		printf("{\"mode\": \"send\", \"messages\": %" PRIu64 ", \"packets\": %" PRIu64
		       ", \"per_packet\": %u, \"size\": %u, \"rate\": %" PRIu64
		       ", \"seconds\": %.3f, \"msgs_per_s\": %.0f, \"b_delay_us\": %" PRIu64
		       ", \"first_stamp_ns\": %" PRIu64 ", "
		       "\"line_a\": {\"sent\": %" PRIu64 ", \"dropped\": %" PRIu64 "}, "
		       "\"line_b\": {\"sent\": %" PRIu64 ", \"dropped\": %" PRIu64 "}, "
		       "\"double_loss_spared\": %" PRIu64 ", \"double_lost\": %" PRIu64
		       ", \"bursts\": %" PRIu64 ", \"syscalls\": %" PRIu64 ", \"retries\": %" PRIu64
		       ", \"send_errors\": %" PRIu64
		       ", \"late_p50_us\": %.3f, \"late_p99_us\": %.3f"
		       ", \"late_max_us\": %.3f, \"stopped\": %s}\n",
		       o->count, s.n_pkts, o->per_packet, o->size, o->rate, secs,
		       secs > 0 ? (double)o->count / secs : 0.0, o->b_delay_ns / MSH_NS_PER_US,
		       first_real, s.sent[0], s.dropped[0], s.sent[1], s.dropped[1], s.spared,
		       s.double_lost, s.bursts, s.syscalls, s.enobufs, s.errors,
		       (double)hist_pct(&s.late, 50) / 1e3, (double)hist_pct(&s.late, 99) / 1e3,
		       (double)s.late.max / 1e3, msh_cli_stop ? "true" : "false");
	}
	close(s.fd);
	free(s.pkts);
	free(s.len);
	free(s.drop);
	free(s.mv);
	free(s.iov);
	return MSH_CLI_EXIT_OK;
}

/* ---- receiving: shared ------------------------------------------------------ */

struct rxbuf {
	struct mmsghdr msg[RX_BURST];
	struct iovec iov[RX_BURST];
	uint8_t buf[RX_BURST][RX_BUFLEN];
};

static int
rx_burst(struct rxbuf *r, int fd)
{
	for (int i = 0; i < RX_BURST; i++) {
		r->iov[i].iov_base = r->buf[i];
		r->iov[i].iov_len = RX_BUFLEN;
		memset(&r->msg[i].msg_hdr, 0, sizeof(r->msg[i].msg_hdr));
		r->msg[i].msg_hdr.msg_iov = &r->iov[i];
		r->msg[i].msg_hdr.msg_iovlen = 1;
	}
	int n = recvmmsg(fd, r->msg, RX_BURST, MSG_DONTWAIT, NULL);
	return n < 0 ? 0 : n;
}

/* What both receivers count. */
struct tally {
	const struct opts *o;
	uint64_t delivered, dups, foreign, gaps, gap_msgs, heartbeats, stamp_mismatch;
	uint64_t first_rx, last_rx; /* realtime of the first and last delivery */
	uint64_t last_pkt_mono;     /* mono ns of the last packet (any) */
	uint64_t last_data_mono;    /* ... of the last one with messages (no heartbeat) */
	struct hist h;
};

static void
deliver(struct tally *t, uint64_t seq, uint64_t ts, uint64_t now)
{
	t->delivered++;
	if (t->first_rx == 0)
		t->first_rx = now;
	t->last_rx = now;
	if (seq >= t->o->measure_from)
		hist_add(&t->h, now > ts ? now - ts : 0);
}

static void
print_tally(const char *mode, const struct tally *t, const char *extra)
{
	double secs = (double)(t->last_rx - t->first_rx) / 1e9;

	printf("{\"mode\": \"%s\", \"expected\": %" PRIu64 ", \"messages\": %" PRIu64
	       ", \"lost\": %" PRIu64 ", \"duplicates\": %" PRIu64 ", \"foreign\": %" PRIu64
	       ", \"gaps\": %" PRIu64 ", \"gap_msgs\": %" PRIu64 ", \"heartbeats\": %" PRIu64
	       ", \"stamp_mismatch\": %" PRIu64 ", \"seconds\": %.3f, \"msgs_per_s\": %.0f, ",
	       mode, t->o->count, t->delivered,
	       t->o->count > t->delivered ? t->o->count - t->delivered : 0, t->dups, t->foreign,
	       t->gaps, t->gap_msgs, t->heartbeats, t->stamp_mismatch, secs,
	       secs > 0 ? (double)t->delivered / secs : 0.0);
	print_lat(&t->h);
	printf("%s}\n", extra);
}

/* ---- kernel: the baseline ---------------------------------------------------- */

struct kline {
	uint64_t pkts, msgs, won, dup, malformed, far;
};

struct karb {
	struct tally t;
	struct kline line[2];
	uint64_t next;  /* next upstream seq to deliver */
	uint64_t *held; /* HOLD_RING stamps by seq, 0 = empty */
	uint64_t n_held;
	uint64_t gap_since; /* mono ns the current gap started holding; 0 = none */
	uint64_t gaps_given_up;
	struct msh_name session;
	bool have_session;
};

static void
k_drain(struct karb *k, uint64_t now)
{
	while (k->n_held > 0 && k->held[k->next % HOLD_RING] != 0) {
		deliver(&k->t, k->next, k->held[k->next % HOLD_RING], now);
		k->held[k->next % HOLD_RING] = 0;
		k->n_held--;
		k->next++;
	}
}

static void
k_packet(struct karb *k, unsigned int l, const uint8_t *d, size_t len, uint64_t now, uint64_t mono)
{
	struct kline *kl = &k->line[l];
	struct msh_mold m;
	const uint8_t *p;

	kl->pkts++;
	if (msh_mold_parse(d, len, &m) != 0) {
		kl->malformed++;
		return;
	}
	if (!k->have_session) {
		k->session = m.session;
		k->have_session = true;
	} else if (!msh_name_eq(&m.session, &k->session)) {
		k->t.foreign++;
		return;
	}
	if (m.count == MSH_MOLD_HEARTBEAT || m.count == MSH_MOLD_END_OF_SESSION) {
		k->t.heartbeats++;
		return;
	}
	kl->msgs += m.count;
	k->t.last_data_mono = mono;
	p = m.blocks;
	for (uint32_t i = 0; i < m.count; i++) {
		uint32_t bl = msh_load_be16(p);
		const uint8_t *msg = p + MSH_BLOCK_HDR_LEN;
		uint64_t s = m.seq + i, ts;

		p += MSH_BLOCK_HDR_LEN + bl;
		if (s < k->next) {
			kl->dup++;
			continue;
		}
		if (s - k->next >= HOLD_RING) {
			kl->far++;
			continue;
		}
		if (bl < STAMP_LEN) {
			k->t.foreign++;
			continue;
		}
		ts = msh_load_be64(msg);
		if (msh_load_be64(msg + 8) != s)
			k->t.stamp_mismatch++;
		if (s == k->next) {
			kl->won++;
			deliver(&k->t, s, ts, now);
			k->next++;
			continue;
		}
		if (k->held[s % HOLD_RING] != 0) {
			kl->dup++;
			continue;
		}
		kl->won++;
		k->held[s % HOLD_RING] = ts ? ts : 1;
		if (k->n_held++ == 0)
			k->gap_since = mono;
	}
	k_drain(k, now);
	if (k->n_held == 0)
		k->gap_since = 0;
}

/* A gap held past gap_timeout: skip to the first held message. */
static void
k_tick(struct karb *k, uint64_t mono)
{
	if (k->n_held == 0 || mono - k->gap_since < k->t.o->gap_timeout_ns)
		return;
	k->gaps_given_up++;
	k->t.gaps++;
	while (k->held[k->next % HOLD_RING] == 0) {
		k->next++;
		k->t.gap_msgs++;
	}
	k_drain(k, real_ns());
	k->gap_since = k->n_held > 0 ? mono : 0;
}

static int
join_socket(const struct opts *o, const struct sockaddr_in *g)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1, zero = 0;
	struct ip_mreq mr = {.imr_multiaddr = g->sin_addr, .imr_interface = o->if_ip};
	char a[32];

	if (fd < 0) {
		msh_cli_msg("socket: %s", strerror(errno));
		return -1;
	}
	msh_cli_sockbuf(fd, SO_RCVBUF, SO_RCVBUFFORCE, "SO_RCVBUF", "net.core.rmem_max", SOCKBUF);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)g, sizeof(*g)) != 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero)) != 0) {
		msh_cli_msg("join %s on %s: %s", msh_cli_addr_str(g, a, sizeof(a)),
		            inet_ntoa(o->if_ip), strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
run_kernel(const struct opts *o)
{
	static struct rxbuf rx;
	struct karb *k = calloc(1, sizeof(*k));
	int fd[2];
	uint64_t start = mono_ns();
	char extra[768];

	if (k == NULL || (k->held = calloc(HOLD_RING, sizeof(uint64_t))) == NULL) {
		msh_cli_msg("out of memory");
		return MSH_CLI_EXIT_FAIL;
	}
	k->t.o = o;
	k->next = 1;
	for (int l = 0; l < 2; l++)
		if ((fd[l] = join_socket(o, &o->line[l])) < 0)
			return MSH_CLI_EXIT_FAIL;
	msh_cli_signals();
	/* Ready: the script starts the sender after this line. */
	fprintf(stderr, "feed_kernel: joined\n");
	while (!msh_cli_stop && k->next <= o->count) {
		int got = 0;

		for (unsigned int l = 0; l < 2; l++) {
			int n = rx_burst(&rx, fd[l]);

			if (n <= 0)
				continue;
			uint64_t now = real_ns(), mono = mono_ns();

			k->t.last_pkt_mono = mono;
			for (int i = 0; i < n; i++)
				k_packet(k, l, rx.buf[i], rx.msg[i].msg_len, now, mono);
			got += n;
		}
		if (got == 0) {
			uint64_t mono = mono_ns();

			k_tick(k, mono);
			if (k->t.last_data_mono == 0 ? mono - start > o->max_wait_ns
			                             : mono - k->t.last_data_mono > o->timeout_ns)
				break;
		}
	}
	snprintf(extra, sizeof(extra),
	         ", \"gaps_given_up\": %" PRIu64 ", \"held_at_end\": %" PRIu64
	         ", \"line_a\": {\"pkts\": %" PRIu64 ", \"msgs\": %" PRIu64
	         ", \"won_msgs\": %" PRIu64 ", \"dup_msgs\": %" PRIu64 ", \"malformed\": %" PRIu64
	         "}"
	         ", \"line_b\": {\"pkts\": %" PRIu64 ", \"msgs\": %" PRIu64
	         ", \"won_msgs\": %" PRIu64 ", \"dup_msgs\": %" PRIu64 ", \"malformed\": %" PRIu64
	         "}",
	         k->gaps_given_up, k->n_held, k->line[0].pkts, k->line[0].msgs, k->line[0].won,
	         k->line[0].dup, k->line[0].malformed, k->line[1].pkts, k->line[1].msgs,
	         k->line[1].won, k->line[1].dup, k->line[1].malformed);
	k->t.dups = k->line[0].dup + k->line[1].dup;
	print_tally("kernel", &k->t, extra);
	close(fd[0]);
	close(fd[1]);
	free(k->held);
	free(k);
	return MSH_CLI_EXIT_OK;
}

/* ---- sub: memshard's feed ---------------------------------------------------- */

struct subr {
	struct tally t;
	const struct opts *o;
	int fd;
	uint64_t token, feed_next, shard_dups, renewals;
	bool subscribed, have_feed, eos;
	uint8_t *seen; /* bitmap of upstream seqs 1..count */
};

static void
sub_send(struct subr *s, uint8_t flags, uint64_t start)
{
	struct msh_subscribe m;
	uint8_t buf[MSH_SUBSCRIBE_LEN];
	int len;

	memset(&m, 0, sizeof(m));
	m.hdr.shard = s->o->shard;
	m.hdr.flags = flags;
	m.start_seq = start;
	m.token = s->token;
	len = msh_subscribe_build(buf, sizeof(buf), &m);
	(void)msh_cli_send(s->fd, buf, (size_t)len, &s->o->app);
}

static void
sub_reply(struct subr *s, const uint8_t *d, size_t len)
{
	struct msh_sub_reply r;

	if (msh_sub_reply_parse(d, len, &r) != 0 || !msh_name_eq(&r.hdr.shard, &s->o->shard))
		return;
	if (r.hdr.flags == MSH_S_TOKEN_REQUIRED) {
		s->token = r.token;
		sub_send(s, s->subscribed ? 0 : MSH_SUB_F_RESTART,
		         s->have_feed ? s->feed_next : MSH_START_NEW);
		return;
	}
	if (r.hdr.flags != MSH_S_OK) {
		msh_cli_msg("SUBSCRIBE refused: %s", msh_status_str(r.hdr.flags));
		return;
	}
	if (r.token != 0)
		s->token = r.token;
	if (!s->subscribed) {
		s->subscribed = true;
		s->feed_next = r.next_seq;
		s->have_feed = r.next_seq != 0;
	}
}

static void
sub_mold(struct subr *s, const uint8_t *d, size_t len, uint64_t now)
{
	struct msh_mold m;
	const uint8_t *p;

	if (msh_mold_parse(d, len, &m) != 0 || !msh_name_eq(&m.session, &s->o->shard))
		return;
	if (m.count == MSH_MOLD_END_OF_SESSION) {
		s->eos = true;
		return;
	}
	if (!s->have_feed) {
		s->feed_next = m.seq;
		s->have_feed = true;
	}
	if (m.seq > s->feed_next) {
		s->t.gaps++;
		s->t.gap_msgs += m.seq - s->feed_next;
		s->feed_next = m.seq;
	}
	if (m.count == MSH_MOLD_HEARTBEAT) {
		s->t.heartbeats++;
		return;
	}
	s->t.last_data_mono = s->t.last_pkt_mono;
	p = m.blocks;
	for (uint32_t i = 0; i < m.count; i++) {
		uint32_t bl = msh_load_be16(p);
		const uint8_t *msg = p + MSH_BLOCK_HDR_LEN;
		uint64_t seq = m.seq + i, up;

		p += MSH_BLOCK_HDR_LEN + bl;
		if (seq < s->feed_next) {
			s->shard_dups++;
			continue;
		}
		s->feed_next = seq + 1;
		if (bl < STAMP_LEN) {
			s->t.foreign++;
			continue;
		}
		up = msh_load_be64(msg + 8);
		if (up == 0 || up > s->o->count) {
			s->t.foreign++;
			continue;
		}
		if (s->seen[(up - 1) >> 3] & (1u << ((up - 1) & 7))) {
			s->t.dups++;
			continue;
		}
		s->seen[(up - 1) >> 3] |= (uint8_t)(1u << ((up - 1) & 7));
		deliver(&s->t, up, msh_load_be64(msg), now);
	}
}

static void
sub_rx(struct subr *s, struct rxbuf *rx)
{
	int n = rx_burst(rx, s->fd);

	if (n <= 0)
		return;
	uint64_t now = real_ns();

	s->t.last_pkt_mono = mono_ns();
	for (int i = 0; i < n; i++) {
		const uint8_t *d = rx->buf[i];
		size_t len = rx->msg[i].msg_len;

		if (!msh_cli_is_native(d, len))
			sub_mold(s, d, len, now);
		else if (d[3] == MSH_T_SUB_REPLY)
			sub_reply(s, d, len);
	}
}

static int
run_sub(const struct opts *o)
{
	static struct rxbuf rx;
	struct subr s;
	uint64_t t0, last = 0, renew;
	char extra[256];

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.t.o = o;
	s.seen = calloc((size_t)(o->count + 7) / 8, 1);
	if (s.seen == NULL) {
		msh_cli_msg("out of memory");
		return MSH_CLI_EXIT_FAIL;
	}
	s.fd = msh_cli_udp_socket(true);
	if (s.fd < 0)
		return MSH_CLI_EXIT_FAIL;
	msh_cli_sockbuf(s.fd, SO_RCVBUF, SO_RCVBUFFORCE, "SO_RCVBUF", "net.core.rmem_max", SOCKBUF);
	msh_cli_signals();
	t0 = mono_ns();
	while (!s.subscribed && !msh_cli_stop) {
		uint64_t now = mono_ns();

		if (now - t0 > 5 * MSH_NS_PER_S) {
			msh_cli_msg("no SUB_REPLY OK within 5 s");
			return MSH_CLI_EXIT_FAIL;
		}
		if (now - last >= 250 * MSH_NS_PER_MS) {
			sub_send(&s, s.token != 0 ? MSH_SUB_F_RESTART : 0, MSH_START_NEW);
			last = now;
		}
		sub_rx(&s, &rx);
	}
	fprintf(stderr, "feed_kernel: subscribed\n");
	t0 = mono_ns();
	renew = t0 + MSH_NS_PER_S;
	while (!msh_cli_stop && !s.eos && s.t.delivered < o->count) {
		uint64_t before = s.t.last_pkt_mono, now;

		sub_rx(&s, &rx);
		if (s.t.last_pkt_mono != before)
			continue;
		now = mono_ns();
		if (now >= renew) {
			sub_send(&s, 0, s.feed_next);
			s.renewals++;
			renew = now + MSH_NS_PER_S;
		}
		/* Heartbeats keep coming: only data counts as activity. */
		if (s.t.last_data_mono == 0 ? now - t0 > o->max_wait_ns
		                            : now - s.t.last_data_mono > o->timeout_ns)
			break;
	}
	{
		uint8_t buf[MSH_UNSUBSCRIBE_LEN];
		int len = msh_unsubscribe_build(buf, sizeof(buf), &o->shard);

		(void)msh_cli_send(s.fd, buf, (size_t)len, &o->app);
	}
	snprintf(extra, sizeof(extra),
	         ", \"shard_dups\": %" PRIu64 ", \"renewals\": %" PRIu64 ", \"end_of_session\": %s",
	         s.shard_dups, s.renewals, s.eos ? "true" : "false");
	print_tally("sub", &s.t, extra);
	close(s.fd);
	free(s.seen);
	return MSH_CLI_EXIT_OK;
}

int
main(int argc, char **argv)
{
	static struct opts o;

	msh_cli_prog = "feed_kernel";
	parse(argc, argv, &o);
	setvbuf(stdout, NULL, _IOLBF, 0);
	switch (o.mode) {
	case M_SEND:
		return run_send(&o);
	case M_KERNEL:
		return run_kernel(&o);
	default:
		return run_sub(&o);
	}
}
