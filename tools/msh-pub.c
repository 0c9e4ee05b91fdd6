/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * msh-pub: publish messages to one shard of a memshard appliance from a
 * kernel UDP socket. Owns the message sources (lines of a file or of standard
 * input, or the deterministic generator that msh-sub --verify checks), the
 * batching of messages into PUBLISH datagrams, fixed-timeline pacing, and the
 * sliding window of un-acked datagrams with timed resends of the very same
 * bytes (the appliance dedupes by publisher_seq). Prints one summary line, or
 * one JSON object with --json.
 */
#include <getopt.h>
#include <fcntl.h>
#include <jansson.h>

#include "client.h"

static const char usage_text[] =
        "NAME\n"
        "    msh-pub - publish messages to a memshard shard over UDP\n"
        "\n"
        "SYNOPSIS\n"
        "    msh-pub [OPTIONS] ADDR[:PORT] NAME             (messages from standard input)\n"
        "    msh-pub [OPTIONS] --file FILE ADDR[:PORT] NAME\n"
        "    msh-pub [OPTIONS] --gen [--rate N] [--size BYTES] [--count N] ADDR[:PORT] NAME\n"
        "\n"
        "DESCRIPTION\n"
        "    Sends PUBLISH datagrams (shared/PROTOCOL.md) to the ingest port of the appliance\n"
        "    at ADDR (an IPv4 address or a name; PORT defaults to 9000) for shard NAME (1 to\n"
        "    10 printable ASCII characters, no spaces).\n"
        "\n"
        "    Messages are the lines of FILE or of standard input (the newline is not part of\n"
        "    the message; an empty line is an empty message; a line longer than the largest\n"
        "    message, MTU - 62 bytes, is an error), or come from the generator. A datagram\n"
        "    carries up to --batch messages, as many as fit the MTU, with consecutive\n"
        "    publisher_seq numbers starting at --start-seq. With standard input or a pipe,\n"
        "    a datagram holds the lines already available, so an interactive line goes out\n"
        "    at once.\n"
        "\n"
        "    Generated messages are --size bytes: the message index (its publisher_seq) as\n"
        "    8 bytes big-endian, the CLOCK_MONOTONIC time of sending in ns as 8 bytes\n"
        "    big-endian, then filler where byte j (j = 0 right after those 16 bytes) of the\n"
        "    message of index i is (uint8_t)(i * 131 + j * 7). msh-sub --verify checks it.\n"
        "\n"
        "    With acks (the default), at most --window datagrams are sent and not yet\n"
        "    acked (each is kept for resending), and at most 4W + 65536 lie between the\n"
        "    oldest un-acked one and the newest. A datagram not acked within --timeout-ms\n"
        "    is sent again unchanged, with the same publisher_seq so that the appliance\n"
        "    appends it once, up to --retries times; then it has failed.\n"
        "    An ACK with status OK or DUPLICATE acks its datagram; any other status fails\n"
        "    it (SHARD_FULL only without --allow-full) and, without --keep-going, stops\n"
        "    the run after the datagrams in flight are answered.\n"
        "\n"
        "    --rate paces messages on a fixed timeline (message k is due at start + k/N s);\n"
        "    a late sender catches up in a burst rather than drifting.\n"
        "\n"
        "    At the end one summary line goes to standard output: datagrams and messages\n"
        "    sent and acked, ACK statuses by name, resends, the first and last shard_seq\n"
        "    acked. A first SIGINT or SIGTERM stops reading and waits for the acks in\n"
        "    flight; a second one stops at once.\n"
        "\n"
        "OPTIONS\n"
        "    -f, --file FILE       messages are the lines of FILE ('-' is standard input)\n"
        "    -g, --gen             generate messages (see DESCRIPTION)\n"
        "    -r, --rate N          messages per second, 0 = unpaced (default 0)\n"
        "    -s, --size BYTES      size of generated messages, 16..MTU-62 (default 64)\n"
        "    -n, --count N         stop after N messages, 0 = all input / no end (default 0)\n"
        "    -b, --batch K         at most K messages per datagram (default 1)\n"
        "        --mtu BYTES       IP MTU towards the appliance, 100..65535 (default 1500):\n"
        "                          a datagram holds MTU - 60 bytes of message blocks\n"
        "    -p, --publisher-id ID publisher_id, 0..4294967295 (default: the process id)\n"
        "        --start-seq SEQ   publisher_seq of the first message (default 1)\n"
        "        --ack, --no-ack   ask for an ACK per datagram (default --ack); with --no-ack\n"
        "                          datagrams are sent once, unpaced or paced, and forgotten\n"
        "        --timeout-ms MS   resend a datagram not acked after MS ms (default 200)\n"
        "        --retries N       resends before a datagram fails (default 10)\n"
        "    -w, --window W        datagrams in flight un-acked, 1..65536 (default 64)\n"
        "        --allow-full      an ACK with status SHARD_FULL acks its datagram\n"
        "        --keep-going      go on sending after a refused datagram\n"
        "        --json            print the summary as one JSON object\n"
        "    -q, --quiet           no warnings about refused datagrams\n"
        "    -h, --help            this text\n"
        "    Numbers take a k, m or g suffix (x1000, x1000000, x1000000000).\n"
        "\n"
        "EXIT STATUS\n"
        "    0  every message was acked OK or DUPLICATE (with --no-ack: every datagram sent)\n"
        "    1  a message was refused or never acked, the run was interrupted with datagrams\n"
        "       still un-acked, or a network error\n"
        "    2  usage error, unreadable input, or a line longer than the largest message\n"
        "\n"
        "EXAMPLES\n"
        "    echo hello | msh-pub 10.77.0.1 ticks\n"
        "    msh-pub --file orders.txt --batch 16 10.77.0.1:9000 orders\n"
        "    msh-pub --gen --rate 50k --size 128 --count 1m --batch 8 --json 10.77.0.1 ticks\n"
        "    msh-pub --gen --count 100 --no-ack 127.0.0.1:9100 test\n";

struct pub_cfg {
	struct sockaddr_in dst;
	struct msh_name shard;
	const char *file; /**< NULL: standard input */
	bool gen;
	uint64_t rate;
	uint32_t size;
	uint64_t count;
	uint32_t batch;
	uint32_t mtu;
	uint32_t payload; /**< UDP payload bytes per datagram */
	uint32_t max_msg; /**< largest message that fits one datagram */
	uint32_t publisher_id;
	uint64_t start_seq;
	bool ack;
	uint64_t timeout_ns;
	uint32_t retries;
	uint32_t window;
	bool allow_full;
	bool keep_going;
	bool json;
	bool quiet;
};

/* Lines of a file or of standard input, read without ever blocking. */
struct line_src {
	int fd;
	const char *name;
	char *buf;
	size_t cap, start, end;
	size_t peeked; /**< bytes the peeked line takes, with its newline */
	bool eof;
	uint64_t lineno;
	uint32_t max_len;
};

enum { SRC_LINE = 1, SRC_NONE_NOW = 0, SRC_END = -1, SRC_ERROR = -2 };

enum slot_state { SLOT_PENDING = 1, SLOT_DONE = 2 };

/* One datagram of the window, kept byte for byte for resending. */
struct slot {
	uint64_t seq; /**< publisher_seq of its first message */
	uint64_t sent_ns;
	uint32_t tries; /**< transmissions so far */
	uint32_t len;
	uint16_t count;
	uint8_t state;
	uint8_t *buf;
};

struct pub {
	struct pub_cfg c;
	int fd;
	struct line_src src;
	struct msh_cli_rx rx;
	/* window: ordinals [tail, head) are in flight or done-but-not-passed,
	 * at most ring of them; at most window are un-acked, each holding one
	 * of the window's datagram buffers */
	struct slot *slots;
	uint32_t ring;
	uint64_t unacked;
	uint8_t *buf_mem;
	uint8_t **free_bufs;
	uint32_t nfree;
	uint64_t head, tail;
	uint8_t *scratch; /**< datagram under construction with --no-ack */
	uint8_t *msg;     /**< generated message before it is put in a block */
	uint64_t next_seq;
	uint64_t msgs_built;
	uint64_t t0;
	uint64_t next_check_ns;
	bool producing;
	bool src_blocked;
	bool window_full; /**< the last produce_one stopped at the window */
	bool input_error;
	bool net_error;
	/* counters */
	uint64_t dgrams_sent, msgs_sent, resends;
	uint64_t dgrams_acked, msgs_acked, msgs_appended;
	uint64_t status[MSH_S_COUNT + 1]; /**< last entry: unknown codes */
	uint64_t failed_dgrams, failed_msgs, timed_out;
	uint64_t stray_acks, bad_packets;
	uint64_t first_shard_seq, last_shard_seq;
	uint32_t epoch;
	bool have_epoch;
	bool warned[MSH_S_COUNT + 1];
};

/* Line source ---------------------------------------------------------------- */

static int
src_open(struct line_src *s, const char *file, uint32_t max_len)
{
	memset(s, 0, sizeof(*s));
	s->max_len = max_len;
	if (file == NULL || strcmp(file, "-") == 0) {
		s->fd = STDIN_FILENO;
		s->name = "standard input";
	} else {
		s->fd = open(file, O_RDONLY | O_CLOEXEC);
		s->name = file;
		if (s->fd < 0) {
			msh_cli_msg("%s: %s", file, strerror(errno));
			return -1;
		}
	}
	/* Room for the longest line, its newline and a good read. */
	s->cap = (size_t)max_len + 2 + 65536;
	s->buf = malloc(s->cap);
	if (s->buf == NULL) {
		msh_cli_msg("out of memory");
		return -1;
	}
	return 0;
}

/* Next line without consuming it: SRC_LINE, SRC_NONE_NOW (input would block),
 * SRC_END, or SRC_ERROR (printed). */
static int
src_peek(struct line_src *s, const uint8_t **line, uint32_t *len)
{
	for (;;) {
		size_t pending = s->end - s->start;
		char *nl = memchr(s->buf + s->start, '\n', pending);
		size_t l = nl != NULL ? (size_t)(nl - (s->buf + s->start)) : pending;
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		ssize_t r;

		if (l > s->max_len) {
			msh_cli_msg("%s:%" PRIu64 ": line longer than %u bytes, the largest "
			            "message that fits the MTU",
			            s->name, s->lineno + 1, s->max_len);
			return SRC_ERROR;
		}
		if (nl != NULL || (s->eof && pending > 0)) {
			*line = (const uint8_t *)s->buf + s->start;
			*len = (uint32_t)l;
			s->peeked = l + (nl != NULL ? 1 : 0);
			return SRC_LINE;
		}
		if (s->eof)
			return SRC_END;
		if (s->start > 0) {
			memmove(s->buf, s->buf + s->start, pending);
			s->start = 0;
			s->end = pending;
		}
		/* A regular file is always readable; a pipe or terminal may not be. */
		if (poll(&p, 1, 0) <= 0)
			return SRC_NONE_NOW;
		r = read(s->fd, s->buf + s->end, s->cap - s->end);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				return SRC_NONE_NOW;
			msh_cli_msg("%s: %s", s->name, strerror(errno));
			return SRC_ERROR;
		}
		if (r == 0)
			s->eof = true;
		s->end += (size_t)r;
	}
}

static void
src_consume(struct line_src *s)
{
	s->start += s->peeked;
	s->peeked = 0;
	s->lineno++;
}

/* Building datagrams --------------------------------------------------------- */

static uint64_t
msgs_left(const struct pub *p)
{
	return p->c.count == 0 ? UINT64_MAX : p->c.count - p->msgs_built;
}

/* Fill one datagram in @p buf with lines or generated messages.
 * @return its message count (0: nothing to send now), its length in *len. */
static uint16_t
build_datagram(struct pub *p, uint8_t *buf, uint32_t *len)
{
	uint64_t limit = MSH_MIN((uint64_t)p->c.batch, msgs_left(p));
	int off = MSH_PUBLISH_HDR_LEN;
	uint16_t n = 0;

	if (p->c.gen) {
		uint64_t now = msh_cli_now_ns();

		for (; n < limit; n++) {
			int next;

			msh_gen_fill(p->msg, p->c.size, p->next_seq + n, now);
			next = msh_block_put(buf, p->c.payload, (size_t)off, p->msg,
			                     (uint16_t)p->c.size);
			if (next < 0)
				break;
			off = next;
		}
	} else {
		while (n < limit) {
			const uint8_t *line;
			uint32_t l;
			int rc = src_peek(&p->src, &line, &l), next;

			if (rc == SRC_NONE_NOW) {
				p->src_blocked = true;
				break;
			}
			if (rc == SRC_END || rc == SRC_ERROR) {
				p->producing = false;
				p->input_error |= rc == SRC_ERROR;
				break;
			}
			next = msh_block_put(buf, p->c.payload, (size_t)off, line, (uint16_t)l);
			if (next < 0)
				break; /* the next datagram takes it */
			src_consume(&p->src);
			off = next;
			n++;
		}
	}
	if (n == 0)
		return 0;
	msh_publish_hdr_build(buf, p->c.payload, &p->c.shard, p->c.ack ? MSH_PUB_F_ACK : 0, n,
	                      p->c.publisher_id, p->next_seq);
	*len = (uint32_t)off;
	return n;
}

/* One more datagram, if the source, the window and the timeline allow.
 * @return 1 sent one, 0 nothing now (*wake_ns: when to look again), -1 fatal. */
static int
produce_one(struct pub *p, uint64_t now, uint64_t *wake_ns)
{
	struct slot *s = NULL;
	uint8_t *buf = p->scratch;
	uint32_t len = 0;
	uint16_t n;
	int rc;

	if (!p->producing || p->src_blocked)
		return 0;
	if (msgs_left(p) == 0) {
		p->producing = false;
		return 0;
	}
	if (p->c.ack && (p->unacked >= p->c.window || p->head - p->tail >= p->ring)) {
		p->window_full = true;
		return 0;
	}
	if (p->c.rate != 0) {
		/* Fixed timeline: message k is due at t0 + k / rate. */
		uint64_t due = p->t0 + (uint64_t)((double)p->msgs_built * (double)MSH_NS_PER_S /
		                                  (double)p->c.rate);

		if (due > now) {
			*wake_ns = MSH_MIN(*wake_ns, due);
			return 0;
		}
	}
	if (p->c.ack) {
		s = &p->slots[p->head % p->ring];
		buf = p->free_bufs[--p->nfree];
	}
	n = build_datagram(p, buf, &len);
	if (n == 0) {
		if (s != NULL)
			p->free_bufs[p->nfree++] = buf;
		return 0;
	}
	rc = msh_cli_send(p->fd, buf, len, &p->c.dst);
	if (rc < 0) {
		p->net_error = true;
		return -1;
	}
	if (s != NULL) {
		s->buf = buf;
		s->seq = p->next_seq;
		s->count = n;
		s->len = len;
		s->tries = 1;
		s->sent_ns = now;
		s->state = SLOT_PENDING;
		p->head++;
		p->unacked++;
		p->next_check_ns = MSH_MIN(p->next_check_ns, now + p->c.timeout_ns);
	}
	p->next_seq += n;
	p->msgs_built += n;
	p->dgrams_sent++;
	p->msgs_sent += n;
	return 1;
}

/* Acks ------------------------------------------------------------------------- */

/* An answered or failed datagram gives its buffer back. */
static void
slot_done(struct pub *p, struct slot *s)
{
	s->state = SLOT_DONE;
	p->unacked--;
	p->free_bufs[p->nfree++] = s->buf;
	s->buf = NULL;
}

static void
slot_fail(struct pub *p, struct slot *s)
{
	slot_done(p, s);
	p->failed_dgrams++;
	p->failed_msgs += s->count;
	if (!p->c.keep_going)
		p->producing = false;
}

/* Ordinal in [tail, head) whose datagram starts at @p seq, or UINT64_MAX. */
static uint64_t
window_find(const struct pub *p, uint64_t seq)
{
	uint64_t lo = p->tail, hi = p->head;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		uint64_t s = p->slots[mid % p->ring].seq;

		if (s == seq)
			return mid;
		if (s < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return UINT64_MAX;
}

static void
handle_ack(struct pub *p, const uint8_t *b, size_t len)
{
	struct msh_ack a;
	struct slot *s;
	uint64_t o;
	unsigned int st;

	if (msh_ack_parse(b, len, &a) != 0 || !msh_name_eq(&a.hdr.shard, &p->c.shard)) {
		p->bad_packets++;
		return;
	}
	if (a.publisher_id != p->c.publisher_id) {
		p->stray_acks++;
		return;
	}
	o = window_find(p, a.publisher_seq);
	if (o == UINT64_MAX || p->slots[o % p->ring].state != SLOT_PENDING) {
		p->stray_acks++; /* the ack of a resend already answered */
		return;
	}
	s = &p->slots[o % p->ring];
	st = a.hdr.flags;
	p->status[st < MSH_S_COUNT ? st : MSH_S_COUNT]++;
	p->epoch = a.epoch;
	p->have_epoch = true;
	if (st == MSH_S_OK || st == MSH_S_DUPLICATE ||
	    (st == MSH_S_SHARD_FULL && p->c.allow_full)) {
		slot_done(p, s);
		p->dgrams_acked++;
		p->msgs_acked += s->count;
		p->msgs_appended += a.hdr.count;
		if (a.hdr.count > 0 && a.shard_seq != 0) {
			uint64_t last = a.shard_seq + a.hdr.count - 1;

			if (p->first_shard_seq == 0 || a.shard_seq < p->first_shard_seq)
				p->first_shard_seq = a.shard_seq;
			if (last > p->last_shard_seq)
				p->last_shard_seq = last;
		}
		return;
	}
	if (!p->c.quiet && !p->warned[st < MSH_S_COUNT ? st : MSH_S_COUNT]) {
		p->warned[st < MSH_S_COUNT ? st : MSH_S_COUNT] = true;
		msh_cli_msg("datagram publisher_seq %" PRIu64 " refused: %s (status %u)%s",
		            a.publisher_seq, msh_status_str(st), st,
		            p->c.keep_going ? "" : "; stopping");
	}
	slot_fail(p, s);
}

static void
receive_acks(struct pub *p)
{
	/* Bounded: a flood of datagrams cannot keep us from sending. */
	for (int burst = 0; burst < 64; burst++) {
		int n = msh_cli_rx_burst(&p->rx, p->fd);

		for (int i = 0; i < n; i++) {
			const uint8_t *b = msh_cli_rx_data(&p->rx, i);

			if (!msh_cli_is_native(b, p->rx.msg[i].msg_len)) {
				p->bad_packets++;
				continue;
			}
			if (p->c.ack)
				handle_ack(p, b, p->rx.msg[i].msg_len);
		}
		if (n < MSH_CLI_RX_BURST)
			break;
	}
}

/* Resend what timed out, fail what ran out of retries, slide the window. */
static int
service_window(struct pub *p, uint64_t now)
{
	if (now >= p->next_check_ns) {
		uint64_t next = UINT64_MAX;

		for (uint64_t o = p->tail; o < p->head; o++) {
			struct slot *s = &p->slots[o % p->ring];

			if (s->state != SLOT_PENDING)
				continue;
			if (now - s->sent_ns >= p->c.timeout_ns) {
				if (s->tries > p->c.retries) {
					p->timed_out++;
					if (!p->c.quiet && p->timed_out == 1)
						msh_cli_msg("datagram publisher_seq %" PRIu64
						            " not acked after %u tries",
						            s->seq, s->tries);
					slot_fail(p, s);
					continue;
				}
				if (msh_cli_send(p->fd, s->buf, s->len, &p->c.dst) < 0) {
					p->net_error = true;
					return -1;
				}
				s->tries++;
				s->sent_ns = now;
				p->resends++;
			}
			next = MSH_MIN(next, s->sent_ns + p->c.timeout_ns);
		}
		p->next_check_ns = next;
	}
	while (p->tail < p->head && p->slots[p->tail % p->ring].state == SLOT_DONE)
		p->tail++;
	return 0;
}

/* Summary ---------------------------------------------------------------------- */

static void
print_summary(const struct pub *p, double secs)
{
	char name[MSH_NAME_LEN + 1];

	msh_name_to_str(&p->c.shard, name);
	if (p->c.json) {
		json_t *o = json_object(), *st = json_object();
		char *txt;

		for (unsigned int i = 0; i <= MSH_S_COUNT; i++)
			if (p->status[i] != 0)
				json_object_set_new(st,
				                    i < MSH_S_COUNT ? msh_status_str(i) : "other",
				                    json_integer((json_int_t)p->status[i]));
		json_object_set_new(o, "shard", json_string(name));
		json_object_set_new(o, "publisher_id", json_integer(p->c.publisher_id));
		json_object_set_new(o, "first_publisher_seq",
		                    json_integer((json_int_t)p->c.start_seq));
		json_object_set_new(o, "next_publisher_seq", json_integer((json_int_t)p->next_seq));
		json_object_set_new(o, "datagrams_sent", json_integer((json_int_t)p->dgrams_sent));
		json_object_set_new(o, "messages_sent", json_integer((json_int_t)p->msgs_sent));
		json_object_set_new(o, "acks_requested", json_boolean(p->c.ack));
		json_object_set_new(o, "datagrams_acked",
		                    json_integer((json_int_t)p->dgrams_acked));
		json_object_set_new(o, "messages_acked", json_integer((json_int_t)p->msgs_acked));
		json_object_set_new(o, "messages_appended",
		                    json_integer((json_int_t)p->msgs_appended));
		json_object_set_new(o, "statuses", st);
		json_object_set_new(o, "resends", json_integer((json_int_t)p->resends));
		json_object_set_new(o, "first_shard_seq",
		                    json_integer((json_int_t)p->first_shard_seq));
		json_object_set_new(o, "last_shard_seq",
		                    json_integer((json_int_t)p->last_shard_seq));
		json_object_set_new(o, "failed_datagrams",
		                    json_integer((json_int_t)p->failed_dgrams));
		json_object_set_new(o, "failed_messages", json_integer((json_int_t)p->failed_msgs));
		json_object_set_new(o, "timed_out_datagrams",
		                    json_integer((json_int_t)p->timed_out));
		json_object_set_new(o, "unacked_datagrams",
		                    json_integer((json_int_t)(p->c.ack ? p->unacked : 0)));
		json_object_set_new(o, "stray_acks", json_integer((json_int_t)p->stray_acks));
		json_object_set_new(o, "bad_packets", json_integer((json_int_t)p->bad_packets));
		if (p->have_epoch)
			json_object_set_new(o, "epoch", json_integer(p->epoch));
		json_object_set_new(o, "elapsed_s", json_real(secs));
		txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (txt != NULL)
			printf("%s\n", txt);
		free(txt);
		json_decref(o);
		return;
	}
	printf("%s: %s: sent %" PRIu64 " messages in %" PRIu64 " datagrams", msh_cli_prog, name,
	       p->msgs_sent, p->dgrams_sent);
	if (!p->c.ack) {
		printf(" (no acks asked); %.3f s\n", secs);
		return;
	}
	printf(", %" PRIu64 " resends; acked %" PRIu64 " messages in %" PRIu64 " datagrams (",
	       p->resends, p->msgs_acked, p->dgrams_acked);
	{
		const char *sep = "";

		for (unsigned int i = 0; i <= MSH_S_COUNT; i++)
			if (p->status[i] != 0) {
				printf("%s%s %" PRIu64, sep,
				       i < MSH_S_COUNT ? msh_status_str(i) : "other", p->status[i]);
				sep = ", ";
			}
		if (*sep == '\0')
			printf("no acks");
	}
	printf(")");
	if (p->first_shard_seq != 0)
		printf(", shard_seq %" PRIu64 "..%" PRIu64, p->first_shard_seq, p->last_shard_seq);
	printf("; failed %" PRIu64 " messages (%" PRIu64 " timed out datagrams)", p->failed_msgs,
	       p->timed_out);
	if (p->unacked != 0)
		printf(", %" PRIu64 " datagrams un-acked at exit", p->unacked);
	printf("; %.3f s\n", secs);
}

/* Main ---------------------------------------------------------------------------- */

enum {
	OPT_MTU = 256,
	OPT_START_SEQ,
	OPT_ACK,
	OPT_NO_ACK,
	OPT_TIMEOUT_MS,
	OPT_RETRIES,
	OPT_ALLOW_FULL,
	OPT_KEEP_GOING,
	OPT_JSON,
};

static void
parse_args(int argc, char **argv, struct pub_cfg *c)
{
	static const struct option opts[] = {
	        {"file", required_argument, NULL, 'f'},
	        {"gen", no_argument, NULL, 'g'},
	        {"rate", required_argument, NULL, 'r'},
	        {"size", required_argument, NULL, 's'},
	        {"count", required_argument, NULL, 'n'},
	        {"batch", required_argument, NULL, 'b'},
	        {"mtu", required_argument, NULL, OPT_MTU},
	        {"publisher-id", required_argument, NULL, 'p'},
	        {"start-seq", required_argument, NULL, OPT_START_SEQ},
	        {"ack", no_argument, NULL, OPT_ACK},
	        {"no-ack", no_argument, NULL, OPT_NO_ACK},
	        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS},
	        {"retries", required_argument, NULL, OPT_RETRIES},
	        {"window", required_argument, NULL, 'w'},
	        {"allow-full", no_argument, NULL, OPT_ALLOW_FULL},
	        {"keep-going", no_argument, NULL, OPT_KEEP_GOING},
	        {"json", no_argument, NULL, OPT_JSON},
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool size_set = false, batch_set = false;
	uint64_t fit;
	int o;

	memset(c, 0, sizeof(*c));
	c->size = 64;
	c->batch = 1;
	c->mtu = 1500;
	c->publisher_id = (uint32_t)getpid();
	c->start_seq = 1;
	c->ack = true;
	c->timeout_ns = 200 * MSH_NS_PER_MS;
	c->retries = 10;
	c->window = 64;
	while ((o = getopt_long(argc, argv, "f:gr:s:n:b:p:w:qh", opts, NULL)) != -1) {
		switch (o) {
		case 'f':
			c->file = optarg;
			break;
		case 'g':
			c->gen = true;
			break;
		case 'r':
			c->rate = msh_cli_opt_u64("--rate", optarg, 0, 1000000000);
			break;
		case 's':
			c->size = (uint32_t)msh_cli_opt_u64("--size", optarg, MSH_GEN_HDR_LEN,
			                                    MSH_MAX_MSG_ABS);
			size_set = true;
			break;
		case 'n':
			c->count = msh_cli_opt_u64("--count", optarg, 0, UINT64_MAX);
			break;
		case 'b':
			c->batch = (uint32_t)msh_cli_opt_u64("--batch", optarg, 1, 65535);
			batch_set = true;
			break;
		case OPT_MTU:
			c->mtu = (uint32_t)msh_cli_opt_u64("--mtu", optarg, 100, 65535);
			break;
		case 'p':
			c->publisher_id =
			        (uint32_t)msh_cli_opt_u64("--publisher-id", optarg, 0, UINT32_MAX);
			break;
		case OPT_START_SEQ:
			c->start_seq = msh_cli_opt_u64("--start-seq", optarg, 1, UINT64_MAX - 1);
			break;
		case OPT_ACK:
			c->ack = true;
			break;
		case OPT_NO_ACK:
			c->ack = false;
			break;
		case OPT_TIMEOUT_MS:
			c->timeout_ns =
			        msh_cli_opt_u64("--timeout-ms", optarg, 1, 3600000) * MSH_NS_PER_MS;
			break;
		case OPT_RETRIES:
			c->retries = (uint32_t)msh_cli_opt_u64("--retries", optarg, 0, 1000000);
			break;
		case 'w':
			c->window = (uint32_t)msh_cli_opt_u64("--window", optarg, 1, 65536);
			break;
		case OPT_ALLOW_FULL:
			c->allow_full = true;
			break;
		case OPT_KEEP_GOING:
			c->keep_going = true;
			break;
		case OPT_JSON:
			c->json = true;
			break;
		case 'q':
			c->quiet = true;
			break;
		default: /* 'h' and what getopt refused */
			msh_cli_opt_help_or_fail(o, usage_text);
		}
	}
	msh_cli_addr_shard(argc, argv, optind, &c->dst, &c->shard);
	if (c->gen && c->file != NULL)
		msh_cli_usage_err("--gen and --file are two sources; give one");
	if (size_set && !c->gen)
		msh_cli_usage_err("--size applies to generated messages (--gen)");
	c->payload = MSH_MIN(c->mtu - MSH_CLI_IP_UDP_HDR, MSH_CLI_UDP_MAX);
	c->max_msg = c->payload - MSH_PUBLISH_HDR_LEN - MSH_BLOCK_HDR_LEN;
	if (c->gen && c->size > c->max_msg)
		msh_cli_usage_err("--size %u: the largest message for --mtu %u is %u bytes",
		                  c->size, c->mtu, c->max_msg);
	if (c->count != 0 && c->start_seq + c->count - 1 > UINT64_MAX - 1)
		msh_cli_usage_err("--start-seq + --count runs past the last publisher_seq");
	if (c->gen) {
		fit = (c->payload - MSH_PUBLISH_HDR_LEN) / (c->size + MSH_BLOCK_HDR_LEN);
		if (c->batch > fit) {
			if (batch_set && !c->quiet)
				msh_cli_msg("note: --batch %u lowered to %" PRIu64
				            ", the number of "
				            "%u-byte messages that fit --mtu %u",
				            c->batch, fit, c->size, c->mtu);
			c->batch = (uint32_t)fit;
		}
	}
	if ((uint64_t)c->window * c->payload > (512ull << 20))
		msh_cli_usage_err("--window %u: the datagrams kept for resending (%u bytes each) "
		                  "would take more than 512 MiB",
		                  c->window, c->payload);
}

int
main(int argc, char **argv)
{
	static struct pub p; /* static: its buffers live until exit */
	uint64_t now;
	double secs;
	int rc = MSH_CLI_EXIT_OK;

	msh_cli_prog = "msh-pub";
	parse_args(argc, argv, &p.c);
	if (!p.c.gen && src_open(&p.src, p.c.file, p.c.max_msg) != 0)
		return MSH_CLI_EXIT_USAGE;
	p.fd = msh_cli_udp_socket(false);
	if (p.fd < 0 || msh_cli_rx_init(&p.rx) != 0)
		return MSH_CLI_EXIT_FAIL;
	p.scratch = malloc(p.c.payload);
	p.msg = malloc(MSH_MAX_MSG_ABS);
	if (p.c.ack) {
		p.ring = p.c.window * 4 + 65536;
		p.slots = calloc(p.ring, sizeof(*p.slots));
		p.buf_mem = malloc((size_t)p.c.window * p.c.payload);
		p.free_bufs = calloc(p.c.window, sizeof(*p.free_bufs));
		if (p.buf_mem != NULL && p.free_bufs != NULL)
			for (uint32_t i = 0; i < p.c.window; i++)
				p.free_bufs[p.nfree++] = p.buf_mem + (size_t)i * p.c.payload;
	}
	if (p.scratch == NULL || p.msg == NULL ||
	    (p.c.ack && (p.slots == NULL || p.buf_mem == NULL || p.free_bufs == NULL))) {
		msh_cli_msg("out of memory for the window");
		return MSH_CLI_EXIT_FAIL;
	}
	msh_cli_signals();
	p.next_seq = p.c.start_seq;
	p.producing = true;
	p.next_check_ns = UINT64_MAX;
	p.t0 = msh_cli_now_ns();

	for (;;) {
		struct pollfd fds[2];
		unsigned int nfds = 1;
		uint64_t wake = UINT64_MAX;
		int sent = 0;

		if (msh_cli_stop >= 2)
			break;
		if (msh_cli_stop == 1)
			p.producing = false;
		now = msh_cli_now_ns();
		p.window_full = false;
		/* Bounded burst, so acks and signals are looked at in between. */
		for (int i = 0; i < 256; i++) {
			int r = produce_one(&p, now, &wake);

			if (r < 0)
				goto out;
			if (r == 0)
				break;
			sent++;
		}
		receive_acks(&p);
		if (p.c.ack && service_window(&p, msh_cli_now_ns()) < 0)
			goto out;
		if (!p.producing && (!p.c.ack || p.tail == p.head))
			break;
		if (sent > 0 && wake == UINT64_MAX && !p.src_blocked && !p.window_full)
			continue; /* more may be ready at once */
		if (p.window_full && p.producing && p.unacked < p.c.window &&
		    p.head - p.tail < p.ring)
			continue; /* acks just opened the window */
		if (p.c.ack && p.tail < p.head)
			wake = MSH_MIN(wake, p.next_check_ns);
		fds[0] = (struct pollfd){.fd = p.fd, .events = POLLIN};
		if (p.src_blocked && p.producing) {
			fds[1] = (struct pollfd){.fd = p.src.fd, .events = POLLIN};
			nfds = 2;
		}
		now = msh_cli_now_ns();
		msh_cli_wait(fds, nfds, wake > now ? MSH_MIN(wake - now, 200 * MSH_NS_PER_MS) : 0);
		p.src_blocked = false;
	}
out:
	now = msh_cli_now_ns();
	secs = (double)(now - p.t0) / (double)MSH_NS_PER_S;
	print_summary(&p, secs);
	if (p.input_error)
		rc = MSH_CLI_EXIT_USAGE;
	else if (p.net_error || p.failed_msgs != 0 || (p.c.ack && p.unacked != 0))
		rc = MSH_CLI_EXIT_FAIL;
	fflush(stdout);
	return rc;
}
