/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * msh-sub: subscribe to one shard of a memshard appliance (or of a pair) from
 * a kernel UDP socket and deliver its MoldUDP64 feed strictly in sequence
 * order. Owns the token handshake and lease renewal, failover between the
 * appliances given after a silence, gap detection with MoldUDP64
 * re-requests to the retransmission port, the bounded reorder buffer that
 * holds messages past a gap, UNAVAILABLE (lost) ranges, and the consumers of
 * delivered messages: --print, --out, --verify (msh-pub's generator) and
 * --count. Prints one summary line on standard error, or JSON with --json.
 */
#include <getopt.h>
#include <jansson.h>

#include "client.h"

static const char usage_text[] =
        "NAME\n"
        "    msh-sub - subscribe to a memshard shard and deliver its feed in order\n"
        "\n"
        "SYNOPSIS\n"
        "    msh-sub [OPTIONS] -s ADDR[:PORT] [-s ADDR[:PORT]]... NAME\n"
        "\n"
        "DESCRIPTION\n"
        "    Subscribes to shard NAME (1 to 10 printable ASCII characters, no spaces) at the\n"
        "    appliance given by the first --server (an IPv4 address or a name; PORT defaults\n"
        "    to 9000), following shared/PROTOCOL.md: SUBSCRIBE with token 0, SUB_REPLY\n"
        "    TOKEN_REQUIRED with a token, SUBSCRIBE with that token (restart flag set, start\n"
        "    at the next expected sequence number), SUB_REPLY OK; then MoldUDP64 packets\n"
        "    arrive. The lease is renewed every lease/3 with SUBSCRIBE (token, flags 0,\n"
        "    start_seq = next expected sequence number: the position the subscriber reports).\n"
        "    A token that has aged out is replaced from the TOKEN_REQUIRED answer.\n"
        "\n"
        "    Messages are delivered strictly in sequence order. A packet past the next\n"
        "    expected sequence number reveals a gap: the missing range is asked for with\n"
        "    MoldUDP64 request packets (at most 65535 messages each) sent to --retrans-port\n"
        "    on the same host, and asked again every --rerequest-ms until filled (the interval\n"
        "    doubles with each try of a range, up to 8 times). Messages past a gap wait in a\n"
        "    reorder buffer of at most --reorder-msgs messages and --reorder-mib MiB; beyond\n"
        "    that they are dropped and asked for again when the buffer has room. An\n"
        "    UNAVAILABLE answer (or a SUB_REPLY whose first retained sequence number is past\n"
        "    the next expected one) ends a gap: the range is reported on standard error,\n"
        "    counted as lost, and delivery goes on from the first retained message.\n"
        "    Duplicates are ignored and counted; a heartbeat past the last sequence number\n"
        "    seen is a gap at the tail; an end-of-session packet ends the run.\n"
        "\n"
        "    When nothing has come from the current appliance for --silence-ms (heartbeats\n"
        "    come at least once a second), msh-sub sends it UNSUBSCRIBE and subscribes at\n"
        "    the next --server in order (after the last, the first again), resuming at the\n"
        "    next expected sequence number. With one server it subscribes again there.\n"
        "\n"
        "    UNSUBSCRIBE is sent on exit, including on SIGINT and SIGTERM. The summary line\n"
        "    goes to standard error (standard output carries --print); --json prints it to\n"
        "    standard output as one JSON object instead.\n"
        "\n"
        "OPTIONS\n"
        "    -s, --server ADDR[:PORT]  appliance to subscribe at; repeat for failover, in\n"
        "                          order of preference (at most 8)\n"
        "        --start-seq SEQ   first sequence number wanted: a number, 0 or 'oldest' (the\n"
        "                          oldest retained, default) or 'new' (only new messages)\n"
        "        --lease-ms MS     lease asked for, 0 = the appliance's default, renewed then\n"
        "                          every second (default 10000)\n"
        "        --retrans-port P  MoldUDP64 retransmission port (default 9001)\n"
        "        --silence-ms MS   fail over after MS ms without a packet (default 3000)\n"
        "        --rerequest-ms MS ask again for a gap not filled after MS ms (default 50)\n"
        "        --reorder-msgs N  messages held past a gap, rounded up to a power of two\n"
        "                          (default 1048576)\n"
        "        --reorder-mib M   MiB of messages held past a gap (default 256)\n"
        "    -p, --print[=MODE]    print each message with its sequence number, one per line:\n"
        "                          MODE text (non-printable bytes as \\xNN), hex, or auto\n"
        "                          (text when printable, else hex; the default MODE)\n"
        "    -n, --count N         exit after N messages delivered in order\n"
        "    -t, --timeout SECONDS stop after SECONDS (decimal) in all\n"
        "        --verify          check msh-pub --gen content: 16-byte header and filler\n"
        "                          (byte j after the header of index i is (uint8_t)(i*131 + "
        "j*7));\n"
        "                          report mismatches; also counts index jumps (an index not\n"
        "                          one more than the one before: loss or several publishers)\n"
        "    -o, --out FILE        write each delivered message as a 2-byte big-endian length\n"
        "                          and its bytes, in order ('-' = standard output)\n"
        "        --json            summary as one JSON object on standard output\n"
        "    -v, --verbose         report every gap, subscription and renewal on standard error\n"
        "    -q, --quiet           no warnings (lost ranges, failovers)\n"
        "    -h, --help            this text\n"
        "    Numbers take a k, m or g suffix (x1000, x1000000, x1000000000).\n"
        "\n"
        "EXIT STATUS\n"
        "    0  end of session, --count reached, or stopped by a signal (without --count)\n"
        "    1  --count not reached (timeout, end of session or signal first), a --verify\n"
        "       mismatch, every appliance refused the subscription, or an output error\n"
        "    2  usage error\n"
        "\n"
        "EXAMPLES\n"
        "    msh-sub -s 10.77.0.1 --print ticks\n"
        "    msh-sub -s 10.77.0.1 -s 10.77.0.2 --start-seq new --count 1m --timeout 60 ticks\n"
        "    msh-sub -s 127.0.0.1:9100 --verify --count 100000 --out /tmp/feed.bin --json test\n";

#define MAX_SERVERS 8
#define MAX_GAPS 4096
#define HS_RETRY_NS (250 * MSH_NS_PER_MS)
#define REQ_BUDGET 256 /* request packets per pass over the gaps */

enum print_mode { PRINT_OFF, PRINT_AUTO, PRINT_TEXT, PRINT_HEX };
enum conn_state { ST_HANDSHAKE, ST_SUBSCRIBED };
enum end_reason { END_NONE, END_COUNT, END_EOS, END_TIMEOUT, END_SIGNAL, END_REFUSED, END_ERROR };
static const char *const end_names[] = {"none",   "count reached", "end of session", "timeout",
                                        "signal", "refused",       "error"};

struct sub_cfg {
	struct sockaddr_in server[MAX_SERVERS];
	unsigned int nservers;
	struct msh_name shard;
	uint64_t start_seq;
	uint32_t lease_ms;
	uint16_t retrans_port;
	uint64_t silence_ns, rerequest_ns, timeout_ns;
	enum print_mode print;
	uint64_t count;
	bool verify, json, verbose, quiet;
	const char *out;
	uint32_t rob_msgs;
	uint64_t rob_bytes;
};

struct rob_slot {
	uint64_t seq;
	uint8_t *data; /**< NULL: empty */
	uint32_t len;
};

struct gap {
	uint64_t lo, hi;   /**< suspected missing [lo, hi) */
	uint64_t asked_hi; /**< [lo, asked_hi) was asked for at least once */
	uint64_t last_req; /**< last request of [lo, asked_hi) */
	uint32_t tries;    /**< requests of [lo, asked_hi) */
};

struct sub {
	struct sub_cfg c;
	int fd;
	struct msh_cli_rx rx;
	FILE *out;
	/* connection */
	unsigned int cur;
	enum conn_state state;
	uint64_t token;
	uint64_t hs_start, hs_sent, renew_due, last_rx;
	unsigned int token_in_row, refused_in_row;
	uint32_t epoch;
	bool have_epoch;
	/* sequence */
	bool expected_known;
	uint64_t expected; /**< next to deliver */
	uint64_t high;     /**< one past the highest sequence number seen */
	struct rob_slot *rob;
	uint64_t rob_mask, rob_n, rob_bytes;
	struct gap gaps[MAX_GAPS];
	unsigned int ngaps;
	/* results */
	enum end_reason end;
	uint64_t delivered, bytes, first_delivered, last_delivered;
	uint64_t gaps_seen, gap_msgs, requests, rerequests, lost, lost_ranges, dups, rob_drops;
	uint64_t heartbeats, failovers, subscribes, bad_packets, foreign, stale_unavail;
	uint64_t verify_errors, index_jumps, last_index;
	bool have_index, out_error;
};

/* Output ------------------------------------------------------------------------- */

static bool
printable(const uint8_t *d, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (d[i] < 0x20 || d[i] > 0x7e)
			return false;
	return true;
}

static void
print_msg(struct sub *s, uint64_t seq, const uint8_t *d, uint32_t len)
{
	enum print_mode m = s->c.print;

	if (m == PRINT_AUTO)
		m = printable(d, len) ? PRINT_TEXT : PRINT_HEX;
	printf("%" PRIu64 "\t", seq);
	for (uint32_t i = 0; i < len; i++) {
		if (m == PRINT_HEX)
			printf("%02x", d[i]);
		else if (d[i] >= 0x20 && d[i] <= 0x7e && d[i] != '\\')
			putchar(d[i]);
		else
			printf("\\x%02x", d[i]);
	}
	if (putchar('\n') == EOF && !s->out_error) {
		s->out_error = true;
		s->end = END_ERROR;
	}
}

static void
verify_msg(struct sub *s, uint64_t seq, const uint8_t *d, uint32_t len)
{
	uint64_t idx = 0;
	long bad = msh_gen_check(d, len, &idx);

	if (bad >= 0) {
		s->verify_errors++;
		if (s->verify_errors > 10)
			return;
		if (len < MSH_GEN_HDR_LEN)
			msh_cli_msg("verify: seq %" PRIu64 ": %u bytes, shorter than the 16-byte "
			            "generated header",
			            seq, len);
		else
			msh_cli_msg("verify: seq %" PRIu64 " (index %" PRIu64
			            "): byte %ld is 0x%02x, "
			            "expected 0x%02x",
			            seq, idx, bad, d[bad],
			            msh_gen_filler(idx, (uint64_t)bad - MSH_GEN_HDR_LEN));
		if (s->verify_errors == 10)
			msh_cli_msg("verify: further mismatches are only counted");
		return;
	}
	if (s->have_index && idx != s->last_index + 1) {
		s->index_jumps++;
		if (s->c.verbose)
			msh_cli_msg("verify: seq %" PRIu64 ": index %" PRIu64 " after %" PRIu64,
			            seq, idx, s->last_index);
	}
	s->last_index = idx;
	s->have_index = true;
}

/* Hand one message, in order, to the consumers. */
static void
deliver(struct sub *s, uint64_t seq, const uint8_t *d, uint32_t len)
{
	if (s->delivered == 0)
		s->first_delivered = seq;
	s->last_delivered = seq;
	s->delivered++;
	s->bytes += len;
	if (s->c.print != PRINT_OFF)
		print_msg(s, seq, d, len);
	if (s->out != NULL) {
		uint8_t l[2];

		msh_store_be16(l, (uint16_t)len);
		if ((fwrite(l, 1, 2, s->out) != 2 || fwrite(d, 1, len, s->out) != len) &&
		    !s->out_error) {
			msh_cli_msg("%s: %s", s->c.out, strerror(errno));
			s->out_error = true;
			s->end = END_ERROR;
		}
	}
	if (s->c.verify)
		verify_msg(s, seq, d, len);
	if (s->c.count != 0 && s->delivered >= s->c.count && s->end == END_NONE)
		s->end = END_COUNT;
}

/* Reorder buffer: slot seq & mask, valid for [expected, expected + size). ------- */

static bool
rob_has(const struct sub *s, uint64_t seq)
{
	const struct rob_slot *r;

	if (seq - s->expected > s->rob_mask)
		return false;
	r = &s->rob[seq & s->rob_mask];
	return r->data != NULL && r->seq == seq;
}

/* @return 1 stored, 0 already held, -1 no room. */
static int
rob_put(struct sub *s, uint64_t seq, const uint8_t *d, uint32_t len)
{
	struct rob_slot *r;

	if (seq - s->expected > s->rob_mask || s->rob_bytes + len > s->c.rob_bytes)
		return -1;
	r = &s->rob[seq & s->rob_mask];
	if (r->data != NULL)
		return r->seq == seq ? 0 : -1;
	r->data = malloc(len > 0 ? len : 1);
	if (r->data == NULL)
		return -1;
	memcpy(r->data, d, len);
	r->len = len;
	r->seq = seq;
	s->rob_n++;
	s->rob_bytes += len;
	return 1;
}

static void
rob_free(struct sub *s, struct rob_slot *r)
{
	s->rob_n--;
	s->rob_bytes -= r->len;
	free(r->data);
	r->data = NULL;
}

/* Deliver what the buffer holds from expected on. */
static void
rob_drain(struct sub *s)
{
	while (s->rob_n > 0 && s->end == END_NONE && rob_has(s, s->expected)) {
		struct rob_slot *r = &s->rob[s->expected & s->rob_mask];

		deliver(s, s->expected, r->data, r->len);
		rob_free(s, r);
		s->expected++;
	}
}

/* Gaps ---------------------------------------------------------------------------- */

static void
request_range(struct sub *s, uint64_t lo, uint64_t hi, bool again)
{
	struct sockaddr_in to = s->c.server[s->cur];
	uint8_t buf[MSH_MOLD_REQ_LEN];

	to.sin_port = htons(s->c.retrans_port);
	while (lo < hi) {
		struct msh_mold_req r = {.session = s->c.shard, .seq = lo};
		int len;

		r.count = (uint16_t)MSH_MIN(hi - lo, (uint64_t)UINT16_MAX);
		len = msh_mold_req_build(buf, sizeof(buf), &r);
		(void)msh_cli_send(s->fd, buf, (size_t)len, &to);
		s->requests++;
		s->rerequests += again;
		lo += r.count;
	}
}

/* One past the last sequence number the reorder buffer can take now. */
static uint64_t
window_end(const struct sub *s)
{
	return s->expected + s->rob_mask + 1;
}

/* Record [lo, hi) as missing; service_gaps asks for it. */
static void
gap_add(struct sub *s, uint64_t lo, uint64_t hi, uint64_t now)
{
	struct gap *g = s->ngaps > 0 ? &s->gaps[s->ngaps - 1] : NULL;

	/* New gaps lie past every recorded one (they start at or past high). */
	if (g != NULL && (g->hi >= lo || s->ngaps == MAX_GAPS)) {
		g->hi = MSH_MAX(g->hi, hi);
		return;
	}
	g = &s->gaps[s->ngaps++];
	g->lo = lo;
	g->hi = hi;
	g->asked_hi = lo;
	g->last_req = now;
	g->tries = 0;
}

/* A packet or heartbeat says sequence numbers up to @p seq exist. */
static void
saw_upto(struct sub *s, uint64_t seq, uint64_t now)
{
	if (seq <= s->high)
		return;
	s->gaps_seen++;
	s->gap_msgs += seq - s->high;
	if (s->c.verbose)
		msh_cli_msg("gap %" PRIu64 "..%" PRIu64 " (%" PRIu64 " messages)", s->high, seq - 1,
		            seq - s->high);
	gap_add(s, s->high, seq, now);
	s->high = seq;
}

/* Time between requests of a gap: doubles with each try, up to 8 times. */
static uint64_t
gap_interval(const struct sub *s, const struct gap *g)
{
	return s->c.rerequest_ns << MSH_MIN(g->tries > 0 ? g->tries - 1 : 0, 3u);
}

/* Ask for the runs of [a, hi) that the buffer does not hold, within @p budget
 * request packets. @return where it stopped (hi when done); *absent when it
 * found any missing. */
static uint64_t
request_missing(struct sub *s, uint64_t a, uint64_t hi, bool again, unsigned int *budget,
                bool *absent)
{
	while (a<hi && * budget> 0) {
		uint64_t b;

		if (rob_has(s, a)) {
			a++;
			continue;
		}
		for (b = a + 1; b < hi && !rob_has(s, b); b++)
			;
		request_range(s, a, b, again);
		*absent = true;
		(*budget)--;
		a = b;
	}
	return a;
}

/* Ask for the part of each gap that has come within the reorder buffer's
 * reach, ask again for what is still missing after its interval, drop filled
 * gaps. @return when to look again. */
static uint64_t
service_gaps(struct sub *s, uint64_t now)
{
	uint64_t next = UINT64_MAX, end = window_end(s);
	unsigned int budget = REQ_BUDGET, w = 0;

	for (unsigned int i = 0; i < s->ngaps; i++) {
		struct gap *g = &s->gaps[i];
		uint64_t fresh_hi;
		bool absent = false;

		if (g->hi <= s->expected)
			continue; /* filled or skipped: drop it */
		if (s->expected > g->lo) {
			/* Delivery moved into the gap: the appliance answers, so
			 * the back-off starts over. */
			g->lo = s->expected;
			g->tries = MSH_MIN(g->tries, 1u);
		}
		g->asked_hi = MSH_MAX(g->asked_hi, g->lo);
		fresh_hi = MSH_MIN(g->hi, end);
		if (g->asked_hi < fresh_hi && budget > 0) {
			g->asked_hi =
			        request_missing(s, g->asked_hi, fresh_hi, false, &budget, &absent);
			g->tries = MSH_MAX(g->tries, 1u);
			g->last_req = now;
		}
		if (g->tries > 0 && now - g->last_req >= gap_interval(s, g) && budget > 0) {
			uint64_t hi = MSH_MIN(g->asked_hi, end);

			absent = false;
			if (request_missing(s, g->lo, hi, true, &budget, &absent) >= hi &&
			    !absent) {
				/* What was asked for is all here. */
				if (g->asked_hi >= g->hi)
					continue;
				g->lo = g->asked_hi;
				g->tries = 0;
			} else {
				g->tries++;
			}
			g->last_req = now;
		}
		if (g->tries > 0)
			next = MSH_MIN(next, g->last_req + gap_interval(s, g));
		if (g->asked_hi < MSH_MIN(g->hi, end))
			next = now; /* out of budget: go on at once */
		s->gaps[w++] = *g;
	}
	s->ngaps = w;
	return next;
}

/* The appliance no longer has [expected, first): deliver what the buffer holds
 * of it, count the rest as lost, go on from @p first. */
static void
skip_to(struct sub *s, uint64_t first, const char *why)
{
	uint64_t lo = s->expected, lost = 0;

	while (s->expected < first && s->expected - lo <= s->rob_mask && s->end == END_NONE) {
		if (rob_has(s, s->expected)) {
			struct rob_slot *r = &s->rob[s->expected & s->rob_mask];

			deliver(s, s->expected, r->data, r->len);
			rob_free(s, r);
		} else {
			lost++;
		}
		s->expected++;
	}
	if (s->expected < first) {
		lost += first - s->expected;
		s->expected = first;
	}
	s->lost += lost;
	s->lost_ranges++;
	s->high = MSH_MAX(s->high, s->expected);
	if (!s->c.quiet)
		msh_cli_msg("lost %" PRIu64 " messages in %" PRIu64 "..%" PRIu64 ": %s (first "
		            "retained %" PRIu64 ")",
		            lost, lo, first - 1, why, first);
	rob_drain(s);
}

static void
set_expected(struct sub *s, uint64_t seq)
{
	s->expected_known = true;
	s->expected = seq;
	s->high = seq;
}

/* Packets --------------------------------------------------------------------------- */

static void
on_mold(struct sub *s, const struct msh_mold *m, uint64_t now)
{
	const uint8_t *b = m->blocks;
	uint64_t seq = m->seq;

	s->last_rx = now;
	if (m->count == MSH_MOLD_END_OF_SESSION) {
		if (s->end == END_NONE)
			s->end = END_EOS;
		if (s->c.verbose)
			msh_cli_msg("end of session at seq %" PRIu64, m->seq);
		return;
	}
	if (!s->expected_known)
		set_expected(s, seq);
	if (m->count == MSH_MOLD_HEARTBEAT) {
		s->heartbeats++;
		saw_upto(s, seq, now);
		return;
	}
	saw_upto(s, seq, now);
	for (uint16_t k = 0; k < m->count && s->end == END_NONE; k++, seq++) {
		uint32_t len = msh_load_be16(b);
		const uint8_t *d = b + MSH_BLOCK_HDR_LEN;
		int rc;

		b += MSH_BLOCK_HDR_LEN + len;
		if (seq < s->expected) {
			s->dups++;
			continue;
		}
		if (seq == s->expected) {
			deliver(s, seq, d, len);
			s->expected++;
			rob_drain(s);
			continue;
		}
		rc = rob_put(s, seq, d, len);
		if (rc == 0) {
			s->dups++;
		} else if (rc < 0) {
			s->rob_drops++;
			/* Below high it lies in a recorded gap already. */
			if (seq >= s->high)
				gap_add(s, seq, seq + 1, now);
		}
	}
	s->high = MSH_MAX(s->high, m->seq + m->count);
}

static void send_subscribe(struct sub *s, uint64_t now);

static void
start_handshake(struct sub *s, uint64_t now)
{
	s->state = ST_HANDSHAKE;
	s->token = 0;
	s->hs_start = now;
	s->hs_sent = 0;
	s->token_in_row = 0;
	send_subscribe(s, now);
}

static void
send_unsubscribe(struct sub *s)
{
	uint8_t buf[MSH_UNSUBSCRIBE_LEN];
	int len = msh_unsubscribe_build(buf, sizeof(buf), &s->c.shard);

	(void)msh_cli_send(s->fd, buf, (size_t)len, &s->c.server[s->cur]);
}

static void
switch_server(struct sub *s, uint64_t now, const char *why)
{
	char a[32], b[32];
	unsigned int old = s->cur;

	send_unsubscribe(s);
	s->cur = (s->cur + 1) % s->c.nservers;
	s->failovers++;
	if (!s->c.quiet) {
		char from[32];

		if (s->expected_known)
			snprintf(from, sizeof(from), "seq %" PRIu64, s->expected);
		else
			snprintf(from, sizeof(from), "the %s message",
			         s->c.start_seq == MSH_START_NEW ? "next new" : "oldest retained");
		msh_cli_msg("%s %s; subscribing at %s from %s", why,
		            msh_cli_addr_str(&s->c.server[old], a, sizeof(a)),
		            msh_cli_addr_str(&s->c.server[s->cur], b, sizeof(b)), from);
	}
	start_handshake(s, now);
}

static void
send_subscribe(struct sub *s, uint64_t now)
{
	struct msh_subscribe m;
	uint8_t buf[MSH_SUBSCRIBE_LEN];
	int len;

	memset(&m, 0, sizeof(m));
	m.hdr.shard = s->c.shard;
	/* Restart at our position when (re)subscribing with a token, so a
	 * subscription left over on this appliance resumes where we are. */
	m.hdr.flags = s->state == ST_HANDSHAKE && s->token != 0 ? MSH_SUB_F_RESTART : 0;
	m.lease_ms = s->c.lease_ms;
	m.start_seq = s->expected_known ? s->expected : s->c.start_seq;
	m.token = s->token;
	len = msh_subscribe_build(buf, sizeof(buf), &m);
	(void)msh_cli_send(s->fd, buf, (size_t)len, &s->c.server[s->cur]);
	s->subscribes++;
	if (s->state == ST_HANDSHAKE)
		s->hs_sent = now;
}

static uint64_t
renew_interval(const struct sub *s)
{
	return s->c.lease_ms == 0 ? MSH_NS_PER_S : (uint64_t)s->c.lease_ms * MSH_NS_PER_MS / 3;
}

static void
on_sub_reply(struct sub *s, const uint8_t *b, size_t len, uint64_t now)
{
	struct msh_sub_reply r;
	char a[32];

	if (msh_sub_reply_parse(b, len, &r) != 0 || !msh_name_eq(&r.hdr.shard, &s->c.shard)) {
		s->bad_packets++;
		return;
	}
	msh_cli_addr_str(&s->c.server[s->cur], a, sizeof(a));
	s->last_rx = now;
	if (r.hdr.flags == MSH_S_TOKEN_REQUIRED) {
		s->token = r.token;
		/* Answer at once, but not in a loop with an appliance that keeps
		 * refusing our token: then the retry timer paces us. */
		if (++s->token_in_row <= 3)
			send_subscribe(s, now);
		return;
	}
	s->token_in_row = 0;
	if (r.hdr.flags != MSH_S_OK) {
		if (!s->c.quiet)
			msh_cli_msg("SUBSCRIBE %s at %s refused: %s (status %u)",
			            msh_name_to_str(&s->c.shard, (char[MSH_NAME_LEN + 1]){0}), a,
			            msh_status_str(r.hdr.flags), r.hdr.flags);
		if (++s->refused_in_row >= s->c.nservers) {
			s->end = END_REFUSED;
			return;
		}
		switch_server(s, now, "refused by");
		return;
	}
	s->refused_in_row = 0;
	if (r.token != 0)
		s->token = r.token;
	if (s->have_epoch && r.epoch != s->epoch && !s->c.quiet)
		msh_cli_msg("epoch %u at %s (was %u)", r.epoch, a, s->epoch);
	s->epoch = r.epoch;
	s->have_epoch = true;
	if (s->state == ST_HANDSHAKE) {
		s->state = ST_SUBSCRIBED;
		if (s->c.verbose)
			msh_cli_msg("subscribed at %s: epoch %u, first retained %" PRIu64
			            ", next to be assigned %" PRIu64,
			            a, r.epoch, r.first_seq, r.next_seq);
	} else if (s->c.verbose) {
		msh_cli_msg("lease renewed at %s", a);
	}
	s->renew_due = now + renew_interval(s);
	if (!s->expected_known) {
		if (s->c.start_seq == MSH_START_NEW)
			set_expected(s, r.next_seq);
		else if (s->c.start_seq == MSH_START_OLDEST)
			set_expected(s, r.first_seq != 0 ? r.first_seq : r.next_seq);
		else
			set_expected(s, s->c.start_seq);
	}
	if (r.first_seq != 0 && s->expected_known && r.first_seq > s->expected)
		skip_to(s, r.first_seq, "not retained by the appliance");
}

static void
on_unavailable(struct sub *s, const uint8_t *b, size_t len)
{
	struct msh_unavailable u;

	if (msh_unavailable_parse(b, len, &u) != 0 || !msh_name_eq(&u.hdr.shard, &s->c.shard)) {
		s->bad_packets++;
		return;
	}
	if (!s->expected_known || u.first_seq <= s->expected) {
		s->stale_unavail++;
		return;
	}
	skip_to(s, u.first_seq, "UNAVAILABLE");
}

static void
on_packet(struct sub *s, const uint8_t *b, size_t len, const struct sockaddr_in *from, uint64_t now)
{
	const struct sockaddr_in *srv = &s->c.server[s->cur];
	struct msh_mold m;

	if (msh_cli_is_native(b, len)) {
		if (from->sin_addr.s_addr != srv->sin_addr.s_addr) {
			s->foreign++;
			return;
		}
		if (b[3] == MSH_T_SUB_REPLY && from->sin_port == srv->sin_port)
			on_sub_reply(s, b, len, now);
		else if (b[3] == MSH_T_UNAVAILABLE)
			on_unavailable(s, b, len);
		else
			s->foreign++;
		return;
	}
	if (msh_mold_parse(b, len, &m) != 0) {
		s->bad_packets++;
		return;
	}
	if (!msh_name_eq(&m.session, &s->c.shard)) {
		s->foreign++;
		return;
	}
	on_mold(s, &m, now);
}

/* Timers of the connection. @return when to look again. */
static uint64_t
service_conn(struct sub *s, uint64_t now)
{
	if (s->state == ST_HANDSHAKE) {
		if (now - s->hs_start >= s->c.silence_ns) {
			switch_server(s, now, "no subscription from");
			return now + HS_RETRY_NS;
		}
		if (now - s->hs_sent >= HS_RETRY_NS)
			send_subscribe(s, now);
		return MSH_MIN(s->hs_sent + HS_RETRY_NS, s->hs_start + s->c.silence_ns);
	}
	if (now - s->last_rx >= s->c.silence_ns) {
		switch_server(s, now, "silence from");
		return now + HS_RETRY_NS;
	}
	if (now >= s->renew_due) {
		send_subscribe(s, now);
		/* A lost renewal is sent again soon, well inside the lease. */
		s->renew_due = now + MSH_MIN(renew_interval(s), HS_RETRY_NS * 4);
	}
	return MSH_MIN(s->renew_due, s->last_rx + s->c.silence_ns);
}

/* Summary ----------------------------------------------------------------------------- */

static void
print_summary(const struct sub *s, double secs)
{
	char name[MSH_NAME_LEN + 1];

	msh_name_to_str(&s->c.shard, name);
	if (s->c.json) {
		json_t *o = json_object();
		char *txt;

#define J(k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))
		json_object_set_new(o, "shard", json_string(name));
		J("delivered", s->delivered);
		J("bytes", s->bytes);
		J("first_seq", s->first_delivered);
		J("last_seq", s->last_delivered);
		J("next_seq", s->expected);
		J("gaps", s->gaps_seen);
		J("gap_messages", s->gap_msgs);
		J("requests", s->requests);
		J("rerequests", s->rerequests);
		J("lost", s->lost);
		J("lost_ranges", s->lost_ranges);
		J("duplicates", s->dups);
		J("reorder_drops", s->rob_drops);
		J("heartbeats", s->heartbeats);
		J("failovers", s->failovers);
		J("subscribes", s->subscribes);
		J("bad_packets", s->bad_packets);
		J("foreign_packets", s->foreign);
		if (s->c.verify) {
			J("verify_errors", s->verify_errors);
			J("index_jumps", s->index_jumps);
		}
		if (s->have_epoch)
			J("epoch", s->epoch);
#undef J
		json_object_set_new(o, "end", json_string(end_names[s->end]));
		json_object_set_new(o, "elapsed_s", json_real(secs));
		txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (txt != NULL)
			printf("%s\n", txt);
		free(txt);
		json_decref(o);
		return;
	}
	fprintf(stderr, "%s: %s: delivered %" PRIu64 " messages (%" PRIu64 " bytes)", msh_cli_prog,
	        name, s->delivered, s->bytes);
	if (s->delivered != 0)
		fprintf(stderr, ", seq %" PRIu64 "..%" PRIu64, s->first_delivered,
		        s->last_delivered);
	fprintf(stderr,
	        "; gaps %" PRIu64 " (%" PRIu64 " messages), requests %" PRIu64 " (%" PRIu64
	        " re-requests), lost %" PRIu64 ", duplicates %" PRIu64 ", reorder drops %" PRIu64
	        ", heartbeats %" PRIu64 ", failovers %" PRIu64,
	        s->gaps_seen, s->gap_msgs, s->requests, s->rerequests, s->lost, s->dups,
	        s->rob_drops, s->heartbeats, s->failovers);
	if (s->c.verify)
		fprintf(stderr, ", verify errors %" PRIu64 ", index jumps %" PRIu64,
		        s->verify_errors, s->index_jumps);
	fprintf(stderr, "; %.3f s, %s\n", secs, end_names[s->end]);
}

/* Main ---------------------------------------------------------------------------------- */

enum {
	OPT_START_SEQ = 256,
	OPT_LEASE_MS,
	OPT_RETRANS_PORT,
	OPT_SILENCE_MS,
	OPT_REREQUEST_MS,
	OPT_REORDER_MSGS,
	OPT_REORDER_MIB,
	OPT_VERIFY,
	OPT_JSON,
};

static void
parse_args(int argc, char **argv, struct sub_cfg *c)
{
	static const struct option opts[] = {
	        {"server", required_argument, NULL, 's'},
	        {"start-seq", required_argument, NULL, OPT_START_SEQ},
	        {"lease-ms", required_argument, NULL, OPT_LEASE_MS},
	        {"retrans-port", required_argument, NULL, OPT_RETRANS_PORT},
	        {"silence-ms", required_argument, NULL, OPT_SILENCE_MS},
	        {"rerequest-ms", required_argument, NULL, OPT_REREQUEST_MS},
	        {"reorder-msgs", required_argument, NULL, OPT_REORDER_MSGS},
	        {"reorder-mib", required_argument, NULL, OPT_REORDER_MIB},
	        {"print", optional_argument, NULL, 'p'},
	        {"count", required_argument, NULL, 'n'},
	        {"timeout", required_argument, NULL, 't'},
	        {"verify", no_argument, NULL, OPT_VERIFY},
	        {"out", required_argument, NULL, 'o'},
	        {"json", no_argument, NULL, OPT_JSON},
	        {"verbose", no_argument, NULL, 'v'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	uint64_t v;
	int o;

	memset(c, 0, sizeof(*c));
	c->start_seq = MSH_START_OLDEST;
	c->lease_ms = 10000;
	c->retrans_port = MSH_CLI_RETRANS_PORT;
	c->silence_ns = 3000 * MSH_NS_PER_MS;
	c->rerequest_ns = 50 * MSH_NS_PER_MS;
	c->rob_msgs = 1u << 20;
	c->rob_bytes = 256ull << 20;
	while ((o = getopt_long(argc, argv, "s:p::n:t:o:vqh", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			if (c->nservers == MAX_SERVERS)
				msh_cli_usage_err("at most %d --server", MAX_SERVERS);
			if (msh_cli_parse_addr(optarg, MSH_CLI_INGEST_PORT,
			                       &c->server[c->nservers]) != 0)
				exit(MSH_CLI_EXIT_USAGE);
			c->nservers++;
			break;
		case OPT_START_SEQ:
			if (strcmp(optarg, "new") == 0)
				c->start_seq = MSH_START_NEW;
			else if (strcmp(optarg, "oldest") == 0)
				c->start_seq = MSH_START_OLDEST;
			else
				c->start_seq =
				        msh_cli_opt_u64("--start-seq", optarg, 0, UINT64_MAX - 1);
			break;
		case OPT_LEASE_MS:
			c->lease_ms = (uint32_t)msh_cli_opt_u64("--lease-ms", optarg, 0, 86400000);
			if (c->lease_ms != 0 && c->lease_ms < 100)
				msh_cli_usage_err(
				        "--lease-ms: at least 100 (or 0 for the default)");
			break;
		case OPT_RETRANS_PORT:
			c->retrans_port =
			        (uint16_t)msh_cli_opt_u64("--retrans-port", optarg, 1, 65535);
			break;
		case OPT_SILENCE_MS:
			c->silence_ns = msh_cli_opt_u64("--silence-ms", optarg, 10, 3600000) *
			                MSH_NS_PER_MS;
			break;
		case OPT_REREQUEST_MS:
			c->rerequest_ns =
			        msh_cli_opt_u64("--rerequest-ms", optarg, 1, 60000) * MSH_NS_PER_MS;
			break;
		case OPT_REORDER_MSGS:
			v = msh_cli_opt_u64("--reorder-msgs", optarg, 1, 1u << 24);
			c->rob_msgs = 1;
			while (c->rob_msgs < v)
				c->rob_msgs <<= 1;
			break;
		case OPT_REORDER_MIB:
			c->rob_bytes = msh_cli_opt_u64("--reorder-mib", optarg, 1, 65536) << 20;
			break;
		case 'p':
			if (optarg == NULL || strcmp(optarg, "auto") == 0)
				c->print = PRINT_AUTO;
			else if (strcmp(optarg, "text") == 0)
				c->print = PRINT_TEXT;
			else if (strcmp(optarg, "hex") == 0)
				c->print = PRINT_HEX;
			else
				msh_cli_usage_err("--print: '%s' is not text, hex or auto", optarg);
			break;
		case 'n':
			c->count = msh_cli_opt_u64("--count", optarg, 1, UINT64_MAX);
			break;
		case 't':
			c->timeout_ns = msh_cli_opt_seconds("--timeout", optarg, 0.001, 1e7);
			break;
		case OPT_VERIFY:
			c->verify = true;
			break;
		case 'o':
			c->out = optarg;
			break;
		case OPT_JSON:
			c->json = true;
			break;
		case 'v':
			c->verbose = true;
			break;
		case 'q':
			c->quiet = true;
			break;
		default: /* 'h' and what getopt refused */
			msh_cli_opt_help_or_fail(o, usage_text);
		}
	}
	if (argc - optind != 1)
		msh_cli_usage_err("expected one shard NAME, got %d operands", argc - optind);
	msh_cli_opt_shard(argv[optind], &c->shard);
	if (c->nservers == 0)
		msh_cli_usage_err("no appliance: give --server ADDR[:PORT]");
	if (c->out != NULL && strcmp(c->out, "-") == 0 && (c->print != PRINT_OFF || c->json))
		msh_cli_usage_err("--out - shares standard output with --print or --json");
}

int
main(int argc, char **argv)
{
	static struct sub s; /* large: the gap table */
	uint64_t t0, now;
	int rc = MSH_CLI_EXIT_OK;

	msh_cli_prog = "msh-sub";
	parse_args(argc, argv, &s.c);
	if (s.c.out != NULL) {
		s.out = strcmp(s.c.out, "-") == 0 ? stdout : fopen(s.c.out, "wb");
		if (s.out == NULL) {
			msh_cli_msg("%s: %s", s.c.out, strerror(errno));
			return MSH_CLI_EXIT_USAGE;
		}
		setvbuf(s.out, NULL, _IOFBF, 1 << 20);
	}
	s.rob = calloc(s.c.rob_msgs, sizeof(*s.rob));
	if (s.rob == NULL) {
		msh_cli_msg("out of memory for a %u-message reorder buffer", s.c.rob_msgs);
		return MSH_CLI_EXIT_FAIL;
	}
	s.rob_mask = s.c.rob_msgs - 1;
	s.fd = msh_cli_udp_socket(false);
	if (s.fd < 0 || msh_cli_rx_init(&s.rx) != 0)
		return MSH_CLI_EXIT_FAIL;
	msh_cli_signals();
	if (s.c.start_seq != MSH_START_NEW && s.c.start_seq != MSH_START_OLDEST)
		set_expected(&s, s.c.start_seq);

	t0 = now = msh_cli_now_ns();
	start_handshake(&s, now);
	while (s.end == END_NONE) {
		struct pollfd pfd = {.fd = s.fd, .events = POLLIN};
		uint64_t wake;

		if (msh_cli_stop) {
			s.end = END_SIGNAL;
			break;
		}
		now = msh_cli_now_ns();
		if (s.c.timeout_ns != 0 && now - t0 >= s.c.timeout_ns) {
			s.end = END_TIMEOUT;
			break;
		}
		wake = MSH_MIN(service_conn(&s, now), service_gaps(&s, now));
		wake = MSH_MIN(wake, now + 100 * MSH_NS_PER_MS);
		if (s.c.timeout_ns != 0)
			wake = MSH_MIN(wake, t0 + s.c.timeout_ns);
		if (s.end != END_NONE)
			break;
		msh_cli_wait(&pfd, 1, wake > now ? wake - now : 0);
		/* Bounded, so timers run even under a flood. */
		for (int burst = 0; burst < 16 && s.end == END_NONE; burst++) {
			int n = msh_cli_rx_burst(&s.rx, s.fd);

			now = msh_cli_now_ns();
			for (int i = 0; i < n && s.end == END_NONE; i++)
				on_packet(&s, msh_cli_rx_data(&s.rx, i), s.rx.msg[i].msg_len,
				          &s.rx.from[i], now);
			if (n < MSH_CLI_RX_BURST)
				break;
		}
	}
	send_unsubscribe(&s);
	now = msh_cli_now_ns();
	if (s.out != NULL && (fflush(s.out) != 0 || (s.out != stdout && fclose(s.out) != 0)) &&
	    !s.out_error) {
		msh_cli_msg("%s: %s", s.c.out, strerror(errno));
		s.out_error = true;
	}
	if (fflush(stdout) != 0)
		s.out_error = true;
	if (s.end == END_TIMEOUT && !s.c.quiet && s.c.count != 0)
		msh_cli_msg("timeout after %.3f s with %" PRIu64 " of %" PRIu64 " messages",
		            (double)(now - t0) / (double)MSH_NS_PER_S, s.delivered, s.c.count);
	print_summary(&s, (double)(now - t0) / (double)MSH_NS_PER_S);
	if (s.verify_errors != 0 || s.out_error || s.end == END_REFUSED ||
	    (s.c.count != 0 && s.delivered < s.c.count))
		rc = MSH_CLI_EXIT_FAIL;
	fflush(stdout);
	return rc;
}
