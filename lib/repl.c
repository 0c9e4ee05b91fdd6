/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Replication (see repl.h and docs/REPLICATION.md): the name tables generated
 * from the X-macro lists, the frame codecs (parsers check every bound and every
 * field before they fill anything the caller uses; builders check the capacity
 * before they write), each shard's epoch history, the primary's tracker
 * (go-back-N, lag, acks=all queue), the secondary's apply and catch-up, and the
 * node's role and epoch state machine. No DPDK, no allocation, no clock: time
 * comes in as now_ns.
 */
#include <errno.h>

#include "repl.h"
#include "wire.h"

static const char *const repl_err_names[MSH_REPL_E_COUNT] = {
	[MSH_REPL_OK] = "ok",
#define _(sym, str) [MSH_REPL_E_##sym] = str,
	foreach_msh_repl_err
#undef _
};

static const char *const repl_alarm_names[MSH_REPL_ALARM_COUNT] = {
#define _(sym, str) [MSH_REPL_ALARM_##sym] = str,
	foreach_msh_repl_alarm
#undef _
};

const char *
msh_repl_err_str(int err)
{
	return msh_reason_str(repl_err_names, MSH_ARRAY_SIZE(repl_err_names), err,
			      "unknown replication frame error");
}

const char *
msh_repl_alarm_str(enum msh_repl_alarm a)
{
	if ((unsigned int)a >= MSH_ARRAY_SIZE(repl_alarm_names))
		return "unknown alarm";
	return repl_alarm_names[a];
}

/* ---- codecs ------------------------------------------------------------ */

/* Offsets of repl.h, named once so parsers and builders agree. */
#define OFF_MAGIC 0
#define OFF_VERSION 2
#define OFF_TYPE 3
#define OFF_FLAGS 4
#define OFF_ROLE 5
#define OFF_COUNT 6
#define OFF_EPOCH 8
#define OFF_NODE 12
#define OFF_TS 16
#define OFF_SHARD 24
/* DATA */
#define OFF_D_FIRST 40
#define OFF_D_MSG_EPOCH 48
#define OFF_D_PUB_ID 52
#define OFF_D_PUB_SEQ 56
/* ACK */
#define OFF_A_NEXT 40
#define OFF_A_ECHO 48
#define OFF_A_APPLIED 56
/* NAK */
#define OFF_N_EXPECTED 40
#define OFF_N_SEEN 48
/* HELLO, SYNC_REQ */
#define OFF_S_TOTAL 24
#define OFF_S_RSVD 28
#define POS_SHARD 0
#define POS_NEXT 16
#define POS_FIRST 24
#define POS_EPOCH 32
#define POS_RSVD 36
/* SYNC_REPLY */
#define OFF_R_FIRST 40
#define OFF_R_NEXT 48
#define OFF_R_STATUS 56
#define OFF_R_RSVD 57
#define R_RSVD_LEN 7
#define HIST_EPOCH 0
#define HIST_START 4

#define E(sym) (-MSH_REPL_E_##sym)

static bool
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

int
msh_repl_hdr_parse(const void *buf, size_t len, struct msh_repl_hdr *h)
{
	const uint8_t *b = buf;
	uint8_t type, role;

	if (len < MSH_REPL_HDR_LEN)
		return E(TRUNCATED);
	if (msh_load_be16(b + OFF_MAGIC) != MSH_REPL_MAGIC)
		return E(BAD_MAGIC);
	if (b[OFF_VERSION] != MSH_REPL_VERSION)
		return E(BAD_VERSION);
	type = b[OFF_TYPE];
	if (type < MSH_REPL_T_DATA || type > MSH_REPL_T_SYNC_REPLY)
		return E(BAD_TYPE);
	role = b[OFF_ROLE];
	if (role != MSH_REPL_PRIMARY && role != MSH_REPL_SECONDARY)
		return E(BAD_ROLE);
	if (msh_load_be32(b + OFF_EPOCH) == 0)
		return E(BAD_EPOCH);
	if (msh_load_be32(b + OFF_NODE) == 0)
		return E(BAD_NODE);
	h->type = type;
	h->flags = b[OFF_FLAGS];
	h->role = role;
	h->count = msh_load_be16(b + OFF_COUNT);
	h->epoch = msh_load_be32(b + OFF_EPOCH);
	h->node_id = msh_load_be32(b + OFF_NODE);
	h->ts_ns = msh_load_be64(b + OFF_TS);
	return 0;
}

/* Header of a given type and the frame's minimum length. */
static int
hdr_expect(const uint8_t *b, size_t len, uint8_t type, size_t min, struct msh_repl_hdr *h)
{
	int rc = msh_repl_hdr_parse(b, len, h);

	if (rc != 0)
		return rc;
	if (h->type != type)
		return E(BAD_TYPE);
	if (len < min)
		return E(TRUNCATED);
	return 0;
}

static int
shard_parse(const uint8_t *p, struct msh_name *n)
{
	if (!msh_name_valid((const struct msh_name *)p) ||
	    !all_zero(p + MSH_NAME_LEN, MSH_REPL_SHARD_LEN - MSH_NAME_LEN))
		return E(BAD_SHARD);
	memcpy(n->b, p, MSH_NAME_LEN);
	return 0;
}

static void
shard_put(uint8_t *p, const struct msh_name *n)
{
	memcpy(p, n->b, MSH_NAME_LEN);
	memset(p + MSH_NAME_LEN, 0, MSH_REPL_SHARD_LEN - MSH_NAME_LEN);
}

static void
hdr_put(uint8_t *b, uint8_t type, const struct msh_repl_hdr *h, uint16_t count)
{
	msh_store_be16(b + OFF_MAGIC, MSH_REPL_MAGIC);
	b[OFF_VERSION] = MSH_REPL_VERSION;
	b[OFF_TYPE] = type;
	b[OFF_FLAGS] = h->flags;
	b[OFF_ROLE] = h->role;
	msh_store_be16(b + OFF_COUNT, count);
	msh_store_be32(b + OFF_EPOCH, h->epoch);
	msh_store_be32(b + OFF_NODE, h->node_id);
	msh_store_be64(b + OFF_TS, h->ts_ns);
}

/* Fixed-length frames without messages: exact length, no flags, count 0. */
static int
fixed_parse(const uint8_t *b, size_t len, uint8_t type, size_t fixed, struct msh_repl_hdr *h,
	    struct msh_name *shard)
{
	int rc = hdr_expect(b, len, type, fixed, h);

	if (rc != 0)
		return rc;
	if (len > fixed)
		return E(BAD_LENGTH);
	if (h->flags != 0)
		return E(BAD_FLAGS);
	if (h->count != 0)
		return E(BAD_COUNT);
	return shard_parse(b + OFF_SHARD, shard);
}

int
msh_repl_data_parse(const void *buf, size_t len, uint32_t max_msg, struct msh_repl_data *d)
{
	const uint8_t *b = buf;
	struct msh_repl_hdr h;
	uint64_t first, pseq;
	uint32_t pid, mepoch, longest = 0;
	bool pub, reset;
	int rc;

	rc = hdr_expect(b, len, MSH_REPL_T_DATA, MSH_REPL_DATA_HDR_LEN, &h);
	if (rc != 0)
		return rc;
	if (h.flags & ~(MSH_REPL_F_DATA_PUB | MSH_REPL_F_DATA_RESET))
		return E(BAD_FLAGS);
	pub = h.flags & MSH_REPL_F_DATA_PUB;
	reset = h.flags & MSH_REPL_F_DATA_RESET;
	if (pub && reset)
		return E(BAD_FLAGS);
	rc = shard_parse(b + OFF_SHARD, &d->shard);
	if (rc != 0)
		return rc;
	first = msh_load_be64(b + OFF_D_FIRST);
	if (first == 0 || first + h.count < first)
		return E(BAD_SEQ);
	mepoch = msh_load_be32(b + OFF_D_MSG_EPOCH);
	if (mepoch > h.epoch)
		return E(BAD_EPOCH);
	pid = msh_load_be32(b + OFF_D_PUB_ID);
	pseq = msh_load_be64(b + OFF_D_PUB_SEQ);
	if (!pub && (pid != 0 || pseq != 0))
		return E(BAD_RESERVED);
	if (pub && (pseq == 0 || pseq + h.count < pseq))
		return E(BAD_SEQ);
	if (reset) {
		if (h.count != 0)
			return E(BAD_COUNT);
		if (len != MSH_REPL_DATA_HDR_LEN)
			return E(BAD_LENGTH);
	} else {
		if (h.count == 0)
			return E(BAD_COUNT);
		rc = msh_blocks_check(b + MSH_REPL_DATA_HDR_LEN, len - MSH_REPL_DATA_HDR_LEN,
				      h.count, &longest);
		if (rc == -MSH_WIRE_E_BLOCK_OVERRUN)
			return E(BLOCK_OVERRUN);
		if (rc != 0)
			return E(BLOCK_UNDERRUN);
		if (longest > max_msg)
			return E(TOO_LARGE);
	}
	d->hdr = h;
	d->first_seq = first;
	d->msg_epoch = mepoch;
	d->publisher_id = pid;
	d->publisher_seq = pseq;
	d->blocks = b + MSH_REPL_DATA_HDR_LEN;
	d->blocks_len = (uint32_t)(len - MSH_REPL_DATA_HDR_LEN);
	d->max_msg_len = longest;
	return 0;
}

int
msh_repl_ack_parse(const void *buf, size_t len, struct msh_repl_ack *a)
{
	const uint8_t *b = buf;
	int rc = fixed_parse(b, len, MSH_REPL_T_ACK, MSH_REPL_ACK_LEN, &a->hdr, &a->shard);

	if (rc != 0)
		return rc;
	a->next_seq = msh_load_be64(b + OFF_A_NEXT);
	a->echo_ns = msh_load_be64(b + OFF_A_ECHO);
	a->applied_ns = msh_load_be64(b + OFF_A_APPLIED);
	if (a->next_seq == 0)
		return E(BAD_SEQ);
	return 0;
}

int
msh_repl_nak_parse(const void *buf, size_t len, struct msh_repl_nak *n)
{
	const uint8_t *b = buf;
	int rc = fixed_parse(b, len, MSH_REPL_T_NAK, MSH_REPL_NAK_LEN, &n->hdr, &n->shard);

	if (rc != 0)
		return rc;
	n->expected_seq = msh_load_be64(b + OFF_N_EXPECTED);
	n->seen_seq = msh_load_be64(b + OFF_N_SEEN);
	if (n->expected_seq == 0 || n->seen_seq <= n->expected_seq)
		return E(BAD_SEQ);
	return 0;
}

int
msh_repl_summary_parse(const void *buf, size_t len, struct msh_repl_summary *s)
{
	const uint8_t *b = buf;
	struct msh_repl_hdr h;
	size_t need;
	int rc;

	rc = msh_repl_hdr_parse(b, len, &h);
	if (rc != 0)
		return rc;
	if (h.type != MSH_REPL_T_HELLO && h.type != MSH_REPL_T_SYNC_REQ)
		return E(BAD_TYPE);
	if (len < MSH_REPL_SUMMARY_HDR_LEN)
		return E(TRUNCATED);
	if (h.flags & ~(MSH_REPL_F_INGEST_UP | MSH_REPL_F_SYNCING))
		return E(BAD_FLAGS);
	if (!all_zero(b + OFF_S_RSVD, 4))
		return E(BAD_RESERVED);
	need = MSH_REPL_SUMMARY_HDR_LEN + (size_t)h.count * MSH_REPL_POS_LEN;
	if (len < need)
		return E(TRUNCATED);
	if (len > need)
		return E(BAD_LENGTH);
	for (uint32_t i = 0; i < h.count; i++) {
		const uint8_t *e = b + MSH_REPL_SUMMARY_HDR_LEN + (size_t)i * MSH_REPL_POS_LEN;
		struct msh_name n;
		uint64_t next = msh_load_be64(e + POS_NEXT), first = msh_load_be64(e + POS_FIRST);

		rc = shard_parse(e + POS_SHARD, &n);
		if (rc != 0)
			return rc;
		if (next == 0 || first == 0 || first > next)
			return E(BAD_SEQ);
		if (msh_load_be32(e + POS_EPOCH) > h.epoch)
			return E(BAD_EPOCH);
		if (!all_zero(e + POS_RSVD, 4))
			return E(BAD_RESERVED);
	}
	s->hdr = h;
	s->shards_total = msh_load_be32(b + OFF_S_TOTAL);
	s->entries = b + MSH_REPL_SUMMARY_HDR_LEN;
	return 0;
}

void
msh_repl_pos_at(const struct msh_repl_summary *s, uint16_t i, struct msh_repl_pos *p)
{
	const uint8_t *e = s->entries + (size_t)i * MSH_REPL_POS_LEN;

	memcpy(p->shard.b, e + POS_SHARD, MSH_NAME_LEN);
	p->next_seq = msh_load_be64(e + POS_NEXT);
	p->first_seq = msh_load_be64(e + POS_FIRST);
	p->last_epoch = msh_load_be32(e + POS_EPOCH);
}

int
msh_repl_sync_reply_parse(const void *buf, size_t len, struct msh_repl_sync_reply *r)
{
	const uint8_t *b = buf;
	struct msh_repl_hdr h;
	size_t need;
	uint8_t status;
	int rc;

	rc = hdr_expect(b, len, MSH_REPL_T_SYNC_REPLY, MSH_REPL_SYNC_REPLY_HDR_LEN, &h);
	if (rc != 0)
		return rc;
	if (h.flags != 0)
		return E(BAD_FLAGS);
	status = b[OFF_R_STATUS];
	if (status > MSH_REPL_SYNC_UNKNOWN_SHARD)
		return E(BAD_STATUS);
	if (!all_zero(b + OFF_R_RSVD, R_RSVD_LEN))
		return E(BAD_RESERVED);
	if (h.count > MSH_REPL_HIST || (status == MSH_REPL_SYNC_UNKNOWN_SHARD && h.count != 0))
		return E(BAD_COUNT);
	need = MSH_REPL_SYNC_REPLY_HDR_LEN + (size_t)h.count * MSH_REPL_HIST_ENTRY_LEN;
	if (len < need)
		return E(TRUNCATED);
	if (len > need)
		return E(BAD_LENGTH);
	rc = shard_parse(b + OFF_SHARD, &r->shard);
	if (rc != 0)
		return rc;
	r->first_seq = msh_load_be64(b + OFF_R_FIRST);
	r->next_seq = msh_load_be64(b + OFF_R_NEXT);
	if (r->first_seq == 0 || r->first_seq > r->next_seq)
		return E(BAD_SEQ);
	for (uint32_t i = 0; i < h.count; i++) {
		const uint8_t *e = b + MSH_REPL_SYNC_REPLY_HDR_LEN +
				   (size_t)i * MSH_REPL_HIST_ENTRY_LEN;
		struct msh_repl_epoch *x = &r->hist[i];

		x->epoch = msh_load_be32(e + HIST_EPOCH);
		x->start_seq = msh_load_be64(e + HIST_START);
		if (x->epoch == 0 || x->epoch > h.epoch)
			return E(BAD_EPOCH);
		if (x->start_seq == 0)
			return E(BAD_SEQ);
		if (x->start_seq > r->next_seq ||
		    (i > 0 && (x->epoch <= r->hist[i - 1].epoch ||
			       x->start_seq <= r->hist[i - 1].start_seq)))
			return E(BAD_HISTORY);
	}
	r->hdr = h;
	r->status = status;
	return 0;
}

int
msh_repl_data_hdr_build(void *buf, size_t cap, const struct msh_repl_data *d)
{
	uint8_t *b = buf;

	if (cap < MSH_REPL_DATA_HDR_LEN)
		return -ENOSPC;
	hdr_put(b, MSH_REPL_T_DATA, &d->hdr, d->hdr.count);
	shard_put(b + OFF_SHARD, &d->shard);
	msh_store_be64(b + OFF_D_FIRST, d->first_seq);
	msh_store_be32(b + OFF_D_MSG_EPOCH, d->msg_epoch);
	msh_store_be32(b + OFF_D_PUB_ID, d->publisher_id);
	msh_store_be64(b + OFF_D_PUB_SEQ, d->publisher_seq);
	return MSH_REPL_DATA_HDR_LEN;
}

int
msh_repl_data_build(void *buf, size_t cap, const struct msh_repl_data *d)
{
	if (cap < MSH_REPL_DATA_HDR_LEN || cap - MSH_REPL_DATA_HDR_LEN < d->blocks_len)
		return -ENOSPC;
	msh_repl_data_hdr_build(buf, cap, d);
	if (d->blocks_len)
		memcpy((uint8_t *)buf + MSH_REPL_DATA_HDR_LEN, d->blocks, d->blocks_len);
	return (int)(MSH_REPL_DATA_HDR_LEN + d->blocks_len);
}

int
msh_repl_ack_build(void *buf, size_t cap, const struct msh_repl_ack *a)
{
	uint8_t *b = buf;

	if (cap < MSH_REPL_ACK_LEN)
		return -ENOSPC;
	hdr_put(b, MSH_REPL_T_ACK, &a->hdr, 0);
	shard_put(b + OFF_SHARD, &a->shard);
	msh_store_be64(b + OFF_A_NEXT, a->next_seq);
	msh_store_be64(b + OFF_A_ECHO, a->echo_ns);
	msh_store_be64(b + OFF_A_APPLIED, a->applied_ns);
	return MSH_REPL_ACK_LEN;
}

int
msh_repl_nak_build(void *buf, size_t cap, const struct msh_repl_nak *n)
{
	uint8_t *b = buf;

	if (cap < MSH_REPL_NAK_LEN)
		return -ENOSPC;
	hdr_put(b, MSH_REPL_T_NAK, &n->hdr, 0);
	shard_put(b + OFF_SHARD, &n->shard);
	msh_store_be64(b + OFF_N_EXPECTED, n->expected_seq);
	msh_store_be64(b + OFF_N_SEEN, n->seen_seq);
	return MSH_REPL_NAK_LEN;
}

int
msh_repl_summary_build(void *buf, size_t cap, const struct msh_repl_hdr *h, uint32_t shards_total,
		       const struct msh_repl_pos *pos, uint16_t n)
{
	uint8_t *b = buf;
	size_t len = MSH_REPL_SUMMARY_HDR_LEN + (size_t)n * MSH_REPL_POS_LEN;

	if (cap < len)
		return -ENOSPC;
	hdr_put(b, h->type, h, n);
	msh_store_be32(b + OFF_S_TOTAL, shards_total);
	memset(b + OFF_S_RSVD, 0, 4);
	for (uint16_t i = 0; i < n; i++) {
		uint8_t *e = b + MSH_REPL_SUMMARY_HDR_LEN + (size_t)i * MSH_REPL_POS_LEN;

		shard_put(e + POS_SHARD, &pos[i].shard);
		msh_store_be64(e + POS_NEXT, pos[i].next_seq);
		msh_store_be64(e + POS_FIRST, pos[i].first_seq);
		msh_store_be32(e + POS_EPOCH, pos[i].last_epoch);
		memset(e + POS_RSVD, 0, 4);
	}
	return (int)len;
}

int
msh_repl_sync_reply_build(void *buf, size_t cap, const struct msh_repl_sync_reply *r)
{
	uint8_t *b = buf;
	uint16_t n = MSH_MIN(r->hdr.count, (uint16_t)MSH_REPL_HIST);
	size_t len = MSH_REPL_SYNC_REPLY_HDR_LEN + (size_t)n * MSH_REPL_HIST_ENTRY_LEN;

	if (cap < len)
		return -ENOSPC;
	hdr_put(b, MSH_REPL_T_SYNC_REPLY, &r->hdr, n);
	shard_put(b + OFF_SHARD, &r->shard);
	msh_store_be64(b + OFF_R_FIRST, r->first_seq);
	msh_store_be64(b + OFF_R_NEXT, r->next_seq);
	b[OFF_R_STATUS] = r->status;
	memset(b + OFF_R_RSVD, 0, R_RSVD_LEN);
	for (uint16_t i = 0; i < n; i++) {
		uint8_t *e = b + MSH_REPL_SYNC_REPLY_HDR_LEN + (size_t)i * MSH_REPL_HIST_ENTRY_LEN;

		msh_store_be32(e + HIST_EPOCH, r->hist[i].epoch);
		msh_store_be64(e + HIST_START, r->hist[i].start_seq);
	}
	return (int)len;
}

/* ---- epoch history ----------------------------------------------------- */

int
msh_repl_hist_push(struct msh_repl_shard *rs, uint32_t epoch, uint64_t start_seq)
{
	if (epoch == 0 || start_seq == 0)
		return -EINVAL;
	if (rs->n_hist > 0) {
		const struct msh_repl_epoch *last = &rs->hist[rs->n_hist - 1];

		if (epoch < last->epoch)
			return -EINVAL;
		if (epoch == last->epoch)
			return 0;
	}
	/* Entries starting at or past start_seq hold no message (or only ones
	 * being replaced): the new epoch covers that range now. */
	while (rs->n_hist > 0 && rs->hist[rs->n_hist - 1].start_seq >= start_seq)
		rs->n_hist--;
	if (rs->n_hist == MSH_REPL_HIST) {
		memmove(&rs->hist[0], &rs->hist[1], (MSH_REPL_HIST - 1) * sizeof(rs->hist[0]));
		rs->n_hist--;
	}
	rs->hist[rs->n_hist].epoch = epoch;
	rs->hist[rs->n_hist].start_seq = start_seq;
	rs->n_hist++;
	return 0;
}

static uint32_t
hist_epoch_of(const struct msh_repl_epoch *h, uint32_t n, uint64_t seq)
{
	while (n-- > 0)
		if (h[n].start_seq <= seq)
			return h[n].epoch;
	return 0;
}

uint32_t
msh_repl_hist_epoch_of(const struct msh_repl_shard *rs, uint64_t seq)
{
	return hist_epoch_of(rs->hist, rs->n_hist, seq);
}

/* Drop entries that describe no message once the shard ends before @p end. */
static void
hist_trim(struct msh_repl_shard *rs, uint64_t end)
{
	while (rs->n_hist > 0 && rs->hist[rs->n_hist - 1].start_seq >= end)
		rs->n_hist--;
}

/* First entry starting after @p seq, or UINT64_MAX. */
static uint64_t
hist_next_start(const struct msh_repl_shard *rs, uint64_t seq)
{
	for (uint32_t i = 0; i < rs->n_hist; i++)
		if (rs->hist[i].start_seq > seq)
			return rs->hist[i].start_seq;
	return UINT64_MAX;
}

/* ---- per-shard state ---------------------------------------------------- */

size_t
msh_repl_shard_footprint(uint32_t pending_cap)
{
	return MSH_ALIGN_UP(sizeof(struct msh_repl_shard), (size_t)MSH_CACHE_LINE) +
	       (size_t)pending_cap * sizeof(struct msh_repl_pending);
}

struct msh_repl_shard *
msh_repl_shard_init(void *mem, size_t len, struct msh_shard *s,
		    const struct msh_repl_shard_conf *conf)
{
	struct msh_repl_shard *rs = mem;

	if (mem == NULL || s == NULL || conf == NULL || ((uintptr_t)mem & 7) != 0 ||
	    len < msh_repl_shard_footprint(conf->pending_cap)) {
		errno = EINVAL;
		return NULL;
	}
	memset(rs, 0, sizeof(*rs));
	rs->shard = s;
	rs->conf = *conf;
	rs->role = MSH_REPL_SECONDARY;
	rs->syncing = true;
	rs->held_from = 1;
	rs->pend = (struct msh_repl_pending *)((uint8_t *)mem +
					       MSH_ALIGN_UP(sizeof(*rs), (size_t)MSH_CACHE_LINE));
	return rs;
}

void
msh_repl_pos_get(const struct msh_repl_shard *rs, struct msh_repl_pos *p)
{
	const struct msh_shard *s = rs->shard;

	p->shard = s->conf.name;
	p->next_seq = s->next_seq;
	p->first_seq = msh_shard_first_seq(s);
	p->last_epoch = s->next_seq > 1 ? msh_repl_hist_epoch_of(rs, s->next_seq - 1) : 0;
}

/* ---- primary side ------------------------------------------------------- */

void
msh_repl_primary_start(struct msh_repl_shard *rs, uint32_t epoch, uint64_t now_ns)
{
	uint64_t next = rs->shard->next_seq;

	rs->role = MSH_REPL_PRIMARY;
	rs->epoch = epoch;
	rs->syncing = false;
	msh_repl_hist_push(rs, epoch, next);
	/* Where the secondary is, is unknown: send new messages optimistically
	 * from here; its first ACK or NAK moves sent_seq to where it really is.
	 * acked_seq stays 0 until then, so no queued publisher ack is released
	 * on a guess. */
	rs->peer_known = false;
	rs->start_seq = next;
	rs->sent_seq = next;
	rs->lo_seq = next;
	rs->high_seq = next;
	rs->run_lo = rs->run_hi = 0;
	rs->acked_seq = 0;
	rs->peer_ts = 0;
	rs->last_progress_ns = now_ns;
	rs->last_rewind_ns = 0;
	rs->last_rewind_seq = 0;
	rs->pub_head = rs->pub_n = 0;
	rs->pend_head = rs->pend_n = 0;
	rs->ack_due = false;
}

void
msh_repl_note_publish(struct msh_repl_shard *rs, uint64_t first_seq, uint32_t count,
		      uint32_t publisher_id, uint64_t publisher_seq)
{
	struct msh_repl_pub *p;

	if (count == 0)
		return;
	if (rs->pub_n == MSH_REPL_PUB_RING) {
		rs->pub_head = (rs->pub_head + 1) % MSH_REPL_PUB_RING;
		rs->pub_n--;
	}
	p = &rs->pub[(rs->pub_head + rs->pub_n) % MSH_REPL_PUB_RING];
	p->first_seq = first_seq;
	p->count = count;
	p->publisher_id = publisher_id;
	p->publisher_seq = publisher_seq;
	rs->pub_n++;
}

/* The remembered publish holding @p seq, or NULL; *next_first is set to the
 * first seq of the oldest remembered publish after seq (UINT64_MAX if none). */
static const struct msh_repl_pub *
pub_find(const struct msh_repl_shard *rs, uint64_t seq, uint64_t *next_first)
{
	*next_first = UINT64_MAX;
	for (uint32_t i = rs->pub_n; i-- > 0;) {
		const struct msh_repl_pub *p = &rs->pub[(rs->pub_head + i) % MSH_REPL_PUB_RING];

		if (p->first_seq <= seq) {
			if (seq < p->first_seq + p->count)
				return p;
			break;
		}
		*next_first = p->first_seq;
	}
	return NULL;
}

static uint64_t
overlap(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t lo = MSH_MAX(a, c), hi = MSH_MIN(b, d);

	return hi > lo ? hi - lo : 0;
}

/* Record that [s, e) was sent; returns how many of them were sent before.
 * What was sent is [lo_seq, high_seq) plus, while the primary catches a
 * secondary up from below lo_seq, the run [run_lo, run_hi) that grows
 * towards lo_seq and merges into it. */
static uint64_t
note_sent(struct msh_repl_shard *rs, uint64_t s, uint64_t e)
{
	uint64_t again = overlap(s, e, rs->lo_seq, rs->high_seq);

	if (rs->run_hi > rs->run_lo)
		again += overlap(s, e, rs->run_lo, rs->run_hi);
	rs->stats.retx_msgs += again;
	if (rs->run_hi > rs->run_lo && s <= rs->run_hi && e >= rs->run_lo) {
		rs->run_lo = MSH_MIN(rs->run_lo, s);
		rs->run_hi = MSH_MAX(rs->run_hi, e);
	} else if (e < rs->lo_seq) {
		/* A third range would be rare (a rewind below a catch-up run
		 * that never reached lo_seq); keeping the newest is enough for
		 * a counter. */
		rs->run_lo = s;
		rs->run_hi = e;
	} else {
		rs->lo_seq = MSH_MIN(rs->lo_seq, s);
		rs->high_seq = MSH_MAX(rs->high_seq, e);
	}
	if (rs->run_hi > rs->run_lo && rs->run_hi >= rs->lo_seq) {
		rs->lo_seq = MSH_MIN(rs->lo_seq, rs->run_lo);
		rs->high_seq = MSH_MAX(rs->high_seq, rs->run_hi);
		rs->run_lo = rs->run_hi = 0;
	}
	return again;
}

int
msh_repl_tx_next(struct msh_repl_shard *rs, uint64_t now_ns, uint32_t max_bytes,
		 struct msh_repl_tx *tx)
{
	const struct msh_shard *s = rs->shard;
	const struct msh_repl_pub *p;
	uint64_t seq = rs->sent_seq, first, limit, pub_next, base;
	uint32_t max_count = UINT16_MAX;
	int n;

	if (rs->role != MSH_REPL_PRIMARY || seq >= s->next_seq)
		return 0;
	base = rs->peer_known ? rs->acked_seq : rs->start_seq;
	if (rs->conf.window_msgs != 0) {
		if (seq >= base + rs->conf.window_msgs)
			return 0;
		max_count = (uint32_t)MSH_MIN((uint64_t)max_count,
					      base + rs->conf.window_msgs - seq);
	}
	memset(tx, 0, sizeof(*tx));
	/* Nothing in flight: the ack timeout counts from this frame. */
	if (seq <= base)
		rs->last_progress_ns = now_ns;
	first = msh_shard_first_seq(s);
	if (seq < first) {
		/* Memory no longer holds what the secondary needs (the app may
		 * serve it from spill files instead): it restarts at first. */
		tx->flags = MSH_REPL_F_DATA_RESET;
		tx->span.first_seq = first;
		tx->msg_epoch = msh_repl_hist_epoch_of(rs, first);
		rs->sent_seq = first;
		rs->last_tx_ns = now_ns;
		rs->stats.resets_tx++;
		rs->stats.data_tx_frames++;
		return 1;
	}
	/* A frame never spans an epoch boundary (the secondary's history must see
	 * each epoch start) nor, when known, a publish boundary. */
	limit = hist_next_start(rs, seq);
	p = pub_find(rs, seq, &pub_next);
	if (p != NULL)
		limit = MSH_MIN(limit, p->first_seq + p->count);
	else
		limit = MSH_MIN(limit, pub_next);
	if (limit - seq < max_count)
		max_count = (uint32_t)(limit - seq);
	n = msh_shard_read(s, seq, max_count, max_bytes, &tx->span);
	if (n == -EMSGSIZE) {
		rs->stats.tx_too_large++;
		return 0;
	}
	if (n <= 0)
		return 0;
	tx->msg_epoch = msh_repl_hist_epoch_of(rs, seq);
	if (p != NULL) {
		tx->flags = MSH_REPL_F_DATA_PUB;
		tx->publisher_id = p->publisher_id;
		tx->publisher_seq = p->publisher_seq + (seq - p->first_seq);
	}
	if (note_sent(rs, seq, seq + (uint64_t)n)) {
		tx->retx = true;
		rs->stats.retx_frames++;
	}
	rs->sent_seq = seq + (uint64_t)n;
	rs->last_tx_ns = now_ns;
	rs->stats.data_tx_frames++;
	rs->stats.data_tx_msgs += (uint64_t)n;
	rs->stats.data_tx_bytes += tx->span.len;
	return 1;
}

void
msh_repl_tx_data(const struct msh_repl_shard *rs, const struct msh_repl_tx *tx,
		 const struct msh_repl_hdr *h, struct msh_repl_data *d)
{
	memset(d, 0, sizeof(*d));
	d->hdr = *h;
	d->hdr.type = MSH_REPL_T_DATA;
	d->hdr.flags = tx->flags;
	d->hdr.count = (uint16_t)tx->span.count;
	d->shard = rs->shard->conf.name;
	d->first_seq = tx->span.first_seq;
	d->msg_epoch = tx->msg_epoch;
	d->publisher_id = tx->publisher_id;
	d->publisher_seq = tx->publisher_seq;
	d->blocks = tx->span.data;
	d->blocks_len = tx->span.len;
}

/* The secondary says it holds everything below @p seq and nothing more: send
 * from there (a rewind if sent_seq was past it). */
static void
peer_position(struct msh_repl_shard *rs, uint64_t seq, uint64_t now_ns)
{
	rs->peer_known = true;
	rs->acked_seq = seq;
	rs->sent_seq = seq;
	rs->last_progress_ns = now_ns;
	rs->last_rewind_seq = seq;
	rs->last_rewind_ns = now_ns;
}

/* Frames from the secondary are ordered by its clock (monotonic): an ACK or
 * NAK older than one already used is a reordered leftover and says nothing
 * new; a newer one that goes backwards means the secondary lost messages. */
static bool
peer_frame_stale(struct msh_repl_shard *rs, uint64_t ts_ns)
{
	if (ts_ns < rs->peer_ts) {
		rs->stats.stale_acks++;
		return true;
	}
	rs->peer_ts = ts_ns;
	return false;
}

static void
measure_ack(struct msh_repl_shard *rs, uint64_t next_seq, uint64_t echo_ns, uint64_t now_ns)
{
	uint64_t ts;

	if (echo_ns != 0 && echo_ns <= now_ns)
		rs->rtt_ns = now_ns - echo_ns;
	ts = next_seq > 1 ? msh_shard_ts(rs->shard, next_seq - 1) : 0;
	if (ts != 0 && ts <= now_ns) {
		rs->ack_lag_ns = now_ns - ts;
		rs->ack_lag_max_ns = MSH_MAX(rs->ack_lag_max_ns, rs->ack_lag_ns);
	}
}

void
msh_repl_on_ack(struct msh_repl_shard *rs, const struct msh_repl_ack *a, uint64_t now_ns)
{
	uint64_t next = a->next_seq;

	rs->stats.acks_rx++;
	if (rs->role != MSH_REPL_PRIMARY || peer_frame_stale(rs, a->hdr.ts_ns))
		return;
	if (next > rs->shard->next_seq) {
		rs->stats.bad_acks++;
		return;
	}
	if (!rs->peer_known || next < rs->acked_seq) {
		if (rs->peer_known)
			rs->stats.peer_regressed++;
		peer_position(rs, next, now_ns);
	} else if (next > rs->acked_seq) {
		rs->acked_seq = next;
		rs->last_progress_ns = now_ns;
		if (rs->sent_seq < next)
			rs->sent_seq = next;
	} else {
		return;
	}
	measure_ack(rs, next, a->echo_ns, now_ns);
}

void
msh_repl_on_nak(struct msh_repl_shard *rs, const struct msh_repl_nak *n, uint64_t now_ns)
{
	uint64_t exp = n->expected_seq;

	rs->stats.naks_rx++;
	if (rs->role != MSH_REPL_PRIMARY || peer_frame_stale(rs, n->hdr.ts_ns))
		return;
	if (exp > rs->shard->next_seq) {
		rs->stats.bad_acks++;
		return;
	}
	if (!rs->peer_known || exp < rs->acked_seq) {
		if (rs->peer_known)
			rs->stats.peer_regressed++;
		peer_position(rs, exp, now_ns);
		rs->stats.rewind_nak++;
		return;
	}
	if (exp > rs->acked_seq) {
		rs->acked_seq = exp;
		rs->last_progress_ns = now_ns;
	}
	if (exp >= rs->sent_seq)
		return;
	/* One loss makes every later frame in flight draw a NAK for the same
	 * seq: go back once per hold-off, not once per NAK. */
	if (rs->last_rewind_seq == exp && now_ns - rs->last_rewind_ns < rs->conf.retx_holdoff_ns) {
		rs->stats.nak_ignored++;
		return;
	}
	rs->sent_seq = exp;
	rs->last_rewind_seq = exp;
	rs->last_rewind_ns = now_ns;
	rs->last_progress_ns = now_ns;
	rs->stats.rewind_nak++;
}

void
msh_repl_on_peer_pos(struct msh_repl_shard *rs, const struct msh_repl_hdr *h,
		     const struct msh_repl_pos *p, uint64_t now_ns)
{
	if (rs->role != MSH_REPL_PRIMARY || rs->peer_known || (h->flags & MSH_REPL_F_SYNCING) ||
	    h->epoch != rs->epoch || p->next_seq > rs->shard->next_seq ||
	    peer_frame_stale(rs, h->ts_ns))
		return;
	peer_position(rs, p->next_seq, now_ns);
}

int
msh_repl_primary_tick(struct msh_repl_shard *rs, uint64_t now_ns)
{
	uint64_t back;

	if (rs->role != MSH_REPL_PRIMARY || now_ns - rs->last_progress_ns < rs->conf.ack_timeout_ns)
		return 0;
	back = rs->peer_known ? rs->acked_seq : rs->start_seq;
	if (back >= rs->sent_seq)
		return 0;
	rs->sent_seq = back;
	rs->last_progress_ns = now_ns;
	rs->stats.rewind_timeout++;
	return 1;
}

void
msh_repl_on_sync_req(struct msh_repl_shard *rs, const struct msh_repl_hdr *h,
		     const struct msh_repl_pos *p, uint64_t now_ns, struct msh_repl_sync_reply *r)
{
	const struct msh_shard *s = rs->shard;

	rs->stats.sync_req_rx++;
	memset(r, 0, sizeof(*r));
	r->shard = s->conf.name;
	r->first_seq = msh_shard_first_seq(s);
	r->next_seq = s->next_seq;
	r->status = MSH_REPL_SYNC_OK;
	r->hdr.count = (uint16_t)rs->n_hist;
	memcpy(r->hist, rs->hist, rs->n_hist * sizeof(rs->hist[0]));
	/* A repeated SYNC_REQ older than the ACK that ended the sync is a
	 * leftover: answer it, but keep the position. */
	if (rs->role != MSH_REPL_PRIMARY || peer_frame_stale(rs, h->ts_ns))
		return;
	/* The syncing node may truncate: its position is unknown until the ACK
	 * it sends once done. Anything it acked before stays acked (those
	 * messages match ours), unless it now holds fewer (it restarted). */
	rs->peer_known = false;
	rs->start_seq = MSH_MIN(p->next_seq, s->next_seq);
	rs->sent_seq = s->next_seq;
	rs->acked_seq = MSH_MIN(rs->acked_seq, p->next_seq);
	rs->last_progress_ns = now_ns;
}

void
msh_repl_lag_get(const struct msh_repl_shard *rs, uint64_t now_ns, struct msh_repl_lag *l)
{
	const struct msh_shard *s = rs->shard;
	uint64_t ts;

	memset(l, 0, sizeof(*l));
	l->peer_known = rs->peer_known;
	l->ack_lag_ns = rs->ack_lag_ns;
	l->ack_lag_max_ns = rs->ack_lag_max_ns;
	l->rtt_ns = rs->rtt_ns;
	if (rs->role != MSH_REPL_PRIMARY || !rs->peer_known || rs->acked_seq >= s->next_seq)
		return;
	l->msgs = s->next_seq - rs->acked_seq;
	ts = msh_shard_ts(s, rs->acked_seq);
	if (ts != 0 && ts <= now_ns)
		l->ns = now_ns - ts;
}

int
msh_repl_pending_push(struct msh_repl_shard *rs, const struct msh_repl_pending *p)
{
	uint32_t cap = rs->conf.pending_cap;

	if (rs->pend_n > 0) {
		uint32_t last = (rs->pend_head + rs->pend_n - 1) % cap;

		if (p->end_seq < rs->pend[last].end_seq)
			return -EINVAL;
	}
	if (rs->pend_n == cap) {
		rs->stats.pending_full++;
		return -ENOSPC;
	}
	rs->pend[(rs->pend_head + rs->pend_n) % cap] = *p;
	rs->pend_n++;
	rs->stats.pending_queued++;
	return 0;
}

static void
pending_take(struct msh_repl_shard *rs, struct msh_repl_pending *out)
{
	*out = rs->pend[rs->pend_head];
	rs->pend_head = rs->pend_head + 1 == rs->conf.pending_cap ? 0 : rs->pend_head + 1;
	rs->pend_n--;
}

int
msh_repl_pending_pop(struct msh_repl_shard *rs, struct msh_repl_pending *out)
{
	if (rs->pend_n == 0 || rs->pend[rs->pend_head].end_seq > rs->acked_seq)
		return 0;
	pending_take(rs, out);
	rs->stats.pending_released++;
	return 1;
}

int
msh_repl_pending_drain(struct msh_repl_shard *rs, struct msh_repl_pending *out)
{
	if (rs->pend_n == 0)
		return 0;
	pending_take(rs, out);
	rs->stats.pending_dropped++;
	return 1;
}

/* ---- secondary side ----------------------------------------------------- */

void
msh_repl_secondary_start(struct msh_repl_shard *rs, uint32_t epoch, bool syncing)
{
	rs->stats.pending_dropped += rs->pend_n;
	rs->pend_head = rs->pend_n = 0;
	rs->role = MSH_REPL_SECONDARY;
	rs->epoch = epoch;
	rs->syncing = syncing;
	rs->peer_known = false;
	rs->ack_due = false;
	rs->last_nak_ns = 0;
	rs->last_nak_seq = 0;
}

static enum msh_repl_verdict
apply_reset(struct msh_repl_shard *rs, const struct msh_repl_data *d, struct msh_repl_reply *out)
{
	struct msh_shard *s = rs->shard;
	uint64_t next = s->next_seq;

	if (d->first_seq > next) {
		if (msh_shard_reset(s, d->first_seq) != 0)
			return MSH_REPL_FULL; /* a segment is being spilled: retried */
		rs->stats.resets_rx++;
		rs->stats.reset_lost_msgs += d->first_seq - next;
		/* Nothing below first_seq is held here any more: catch-up
		 * compares histories from there on. */
		rs->held_from = d->first_seq;
		rs->n_hist = 0;
		if (d->msg_epoch != 0)
			msh_repl_hist_push(rs, d->msg_epoch, d->first_seq);
	}
	rs->ack_due = true;
	out->ack = true;
	return MSH_REPL_RESET;
}

enum msh_repl_verdict
msh_repl_apply(struct msh_repl_shard *rs, const struct msh_repl_data *d, uint64_t now_ns,
	       struct msh_repl_reply *out)
{
	struct msh_shard *s = rs->shard;
	uint64_t next = s->next_seq, first = d->first_seq, end = first + d->hdr.count;
	uint32_t skip, off, last;

	memset(out, 0, sizeof(*out));
	if (d->hdr.epoch < rs->epoch) {
		rs->stats.stale_epoch++;
		return MSH_REPL_STALE_EPOCH;
	}
	if (rs->role != MSH_REPL_SECONDARY) {
		rs->stats.not_secondary++;
		return MSH_REPL_NOT_SECONDARY;
	}
	if (d->hdr.epoch > rs->epoch) {
		rs->epoch = d->hdr.epoch;
		rs->stats.epoch_adopted++;
	}
	if (rs->syncing) {
		rs->stats.sync_drops++;
		return MSH_REPL_SYNCING;
	}
	if (d->hdr.flags & MSH_REPL_F_DATA_RESET)
		return apply_reset(rs, d, out);
	if (d->max_msg_len > s->max_message) {
		rs->stats.apply_too_large++;
		return MSH_REPL_TOO_LARGE;
	}
	if (end <= next) {
		rs->stats.dup_frames++;
		rs->stats.dup_msgs += d->hdr.count;
		rs->ack_due = true;
		out->ack = true;
		return MSH_REPL_DUPLICATE;
	}
	if (first > next) {
		rs->stats.gap_frames++;
		if (rs->last_nak_seq == next &&
		    now_ns - rs->last_nak_ns < rs->conf.nak_holdoff_ns) {
			rs->stats.naks_suppressed++;
			return MSH_REPL_GAP;
		}
		rs->last_nak_seq = next;
		rs->last_nak_ns = now_ns;
		rs->stats.naks_tx++;
		out->nak = true;
		out->expected_seq = next;
		out->seen_seq = first;
		return MSH_REPL_GAP;
	}
	last = rs->n_hist ? rs->hist[rs->n_hist - 1].epoch : 0;
	if (d->msg_epoch != 0 && d->msg_epoch < last) {
		rs->stats.diverged++;
		return MSH_REPL_DIVERGED;
	}
	skip = (uint32_t)(next - first);
	off = skip ? msh_blocks_skip(d->blocks, skip) : 0;
	if (msh_shard_append_at(s, next, d->blocks + off, d->blocks_len - off, d->hdr.count - skip,
				now_ns) != 0) {
		rs->stats.apply_full++;
		return MSH_REPL_FULL;
	}
	if (d->msg_epoch > last)
		msh_repl_hist_push(rs, d->msg_epoch, next);
	if (d->hdr.flags & MSH_REPL_F_DATA_PUB)
		msh_dedupe_advance(s->dedupe, d->publisher_id, d->publisher_seq + skip,
				   d->publisher_seq + d->hdr.count, now_ns);
	if (skip) {
		rs->stats.partial_frames++;
		rs->stats.dup_msgs += skip;
	}
	rs->stats.applied_frames++;
	rs->stats.applied_msgs += d->hdr.count - skip;
	rs->echo_ns = d->hdr.ts_ns;
	rs->applied_ns = now_ns;
	rs->ack_due = true;
	out->ack = true;
	return MSH_REPL_APPLIED;
}

void
msh_repl_ack_fill(struct msh_repl_shard *rs, struct msh_repl_ack *a)
{
	a->shard = rs->shard->conf.name;
	a->next_seq = rs->shard->next_seq;
	a->echo_ns = rs->echo_ns;
	a->applied_ns = rs->applied_ns;
	rs->ack_due = false;
}

void
msh_repl_sync_decide(const struct msh_repl_shard *rs, const struct msh_repl_sync_reply *r,
		     struct msh_repl_sync_decision *d)
{
	uint64_t fnext = rs->shard->next_seq, limit, keep;
	uint32_t ln = MSH_MIN(r->hdr.count, (uint16_t)MSH_REPL_HIST);

	memset(d, 0, sizeof(*d));
	if (r->hdr.role != MSH_REPL_PRIMARY) {
		d->not_primary = true;
		return;
	}
	if (r->status == MSH_REPL_SYNC_UNKNOWN_SHARD) {
		d->unknown_shard = true;
		return;
	}
	/* Both epoch maps are step functions; between two consecutive starts of
	 * either history both are constant, so comparing at held_from and at
	 * every start after it finds the first seq where they differ. Epoch 0
	 * (before a history's oldest entry) is unknown: equal only to unknown. */
	limit = MSH_MIN(fnext, r->next_seq);
	keep = limit;
	for (uint32_t k = 0; k <= rs->n_hist + ln; k++) {
		uint64_t b = k == 0 ? rs->held_from
			   : k <= rs->n_hist ? rs->hist[k - 1].start_seq
					     : r->hist[k - 1 - rs->n_hist].start_seq;

		if (b < rs->held_from || b >= keep)
			continue;
		if (hist_epoch_of(rs->hist, rs->n_hist, b) != hist_epoch_of(r->hist, ln, b)) {
			keep = b;
			d->diverge_seq = b;
		}
	}
	if (keep < fnext)
		d->truncate_to = keep;
	if (keep < r->first_seq)
		d->reset_to = r->first_seq;
}

int
msh_repl_sync_apply(struct msh_repl_shard *rs, const struct msh_repl_sync_decision *d,
		    const struct msh_repl_sync_reply *r)
{
	struct msh_shard *s = rs->shard;
	uint64_t before = s->next_seq;
	int rc;

	if (d->not_primary)
		return -EAGAIN;
	if (d->unknown_shard) {
		rs->stats.sync_unknown++;
		rs->syncing = false;
		return 0;
	}
	if (d->truncate_to != 0 && d->truncate_to < s->next_seq) {
		rc = msh_shard_truncate(s, d->truncate_to);
		if (rc != 0)
			return rc;
		rs->stats.sync_truncated_msgs += before - s->next_seq;
		hist_trim(rs, s->next_seq);
		rs->held_from = MSH_MIN(rs->held_from, s->next_seq);
	}
	if (d->reset_to != 0 && d->reset_to > s->next_seq) {
		uint64_t at = s->next_seq;
		uint32_t e;

		rc = msh_shard_reset(s, d->reset_to);
		if (rc != 0)
			return rc;
		rs->stats.resets_rx++;
		rs->stats.reset_lost_msgs += d->reset_to - at;
		rs->held_from = d->reset_to;
		rs->n_hist = 0;
		e = r ? hist_epoch_of(r->hist, MSH_MIN(r->hdr.count, (uint16_t)MSH_REPL_HIST),
				      d->reset_to)
		      : 0;
		if (e != 0)
			msh_repl_hist_push(rs, e, d->reset_to);
	}
	rs->stats.syncs++;
	rs->syncing = false;
	rs->echo_ns = 0;
	rs->ack_due = true;
	return 0;
}

/* ---- node -------------------------------------------------------------- */

int
msh_repl_node_init(struct msh_repl_node *n, const struct msh_repl_node_conf *conf,
		   uint64_t now_ns)
{
	if (conf->node_id == 0 || conf->peer_id == 0 || conf->node_id == conf->peer_id ||
	    conf->hello_interval_ns == 0 || conf->silence_ns <= conf->hello_interval_ns ||
	    conf->sync_retry_ns == 0)
		return -EINVAL;
	memset(n, 0, sizeof(*n));
	n->conf = *conf;
	n->role = MSH_REPL_SECONDARY;
	/* Epoch 1 is the pair's start: no primary ever had it (promotion always
	 * goes above), so a frame always carries an epoch >= 1. */
	n->epoch = MSH_MAX(conf->epoch, 1u);
	n->syncing = true;
	n->start_pending = conf->start_primary;
	n->start_ns = now_ns;
	return 0;
}

void
msh_repl_node_hdr(const struct msh_repl_node *n, uint8_t type, uint64_t now_ns,
		  struct msh_repl_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->type = type;
	if (type == MSH_REPL_T_HELLO || type == MSH_REPL_T_SYNC_REQ)
		h->flags = (n->local_ingest_up ? MSH_REPL_F_INGEST_UP : 0) |
			   (n->syncing ? MSH_REPL_F_SYNCING : 0);
	h->role = (uint8_t)n->role;
	h->epoch = n->epoch;
	h->node_id = n->conf.node_id;
	h->ts_ns = now_ns;
}

static void
set_alarm(struct msh_repl_node *n, enum msh_repl_alarm a, uint32_t *act)
{
	if (n->alarm == a)
		return;
	if (a == MSH_REPL_ALARM_SPLIT_BRAIN_HOLD)
		n->stats.split_brain_holds++;
	n->alarm = a;
	*act |= MSH_REPL_ACT_ALARM;
}

/* Alarms that hearing the peer clears. */
static bool
alarm_silence(enum msh_repl_alarm a)
{
	return a == MSH_REPL_ALARM_SPLIT_BRAIN_HOLD || a == MSH_REPL_ALARM_INGEST_UNKNOWN ||
	       a == MSH_REPL_ALARM_AUTO_OFF || a == MSH_REPL_ALARM_NEVER_FOLLOWED;
}

/* The epoch a promotion takes: above every epoch seen, and of this node's
 * parity (the lower node id takes odd epochs, the higher even ones), so two
 * nodes can never be primary in the same epoch, even if both promote at once
 * while cut off from each other. */
static uint32_t
next_epoch(const struct msh_repl_node *n)
{
	uint32_t e = MSH_MAX(n->epoch, n->peer_epoch) + 1;
	uint32_t odd = n->conf.node_id < n->conf.peer_id;

	if ((e & 1u) != odd)
		e++;
	return e;
}

static void
become_primary(struct msh_repl_node *n, uint64_t now_ns, uint32_t *act)
{
	n->epoch = next_epoch(n);
	n->role = MSH_REPL_PRIMARY;
	n->syncing = false;
	n->start_pending = false;
	n->both_secondary_ns = 0;
	n->last_hello_ns = now_ns;
	n->hello_any = true;
	n->stats.hello_tx++;
	set_alarm(n, MSH_REPL_ALARM_NONE, act);
	*act |= MSH_REPL_ACT_PROMOTED | MSH_REPL_ACT_EPOCH | MSH_REPL_ACT_SEND_HELLO;
}

/* Now (still) secondary, and must catch up before following. */
static void
become_secondary(struct msh_repl_node *n, uint32_t *act)
{
	if (n->role == MSH_REPL_PRIMARY)
		*act |= MSH_REPL_ACT_DEMOTED;
	n->role = MSH_REPL_SECONDARY;
	n->syncing = true;
	n->sync_sent = false;
	n->followed = false;
}

static void
want_sync(struct msh_repl_node *n, uint64_t now_ns, uint32_t *act)
{
	if (n->sync_sent && now_ns - n->last_sync_ns < n->conf.sync_retry_ns)
		return;
	n->sync_sent = true;
	n->last_sync_ns = now_ns;
	n->stats.sync_req_tx++;
	*act |= MSH_REPL_ACT_SEND_SYNC_REQ;
}

enum msh_repl_rx
msh_repl_node_rx(struct msh_repl_node *n, const struct msh_repl_hdr *h, uint64_t now_ns,
		 uint32_t *act)
{
	if (h->node_id != n->conf.peer_id) {
		n->stats.foreign_rx++;
		return MSH_REPL_RX_FOREIGN;
	}
	n->stats.frames_rx++;
	n->peer_heard = true;
	n->last_rx_ns = now_ns;
	n->peer_role = (enum msh_repl_role)h->role;
	n->peer_epoch = h->epoch;
	if (h->type == MSH_REPL_T_HELLO || h->type == MSH_REPL_T_SYNC_REQ)
		n->peer_ingest_up = h->flags & MSH_REPL_F_INGEST_UP;
	if (alarm_silence(n->alarm))
		set_alarm(n, MSH_REPL_ALARM_NONE, act);
	if (h->epoch < n->epoch) {
		/* Tell it, but not once per frame of a stream. */
		n->stats.stale_rx++;
		if (now_ns - n->last_stale_hello_ns >= n->conf.hello_interval_ns / 4 ||
		    !n->stale_hello_any) {
			n->stale_hello_any = true;
			n->last_stale_hello_ns = now_ns;
			n->stats.hello_tx++;
			*act |= MSH_REPL_ACT_SEND_HELLO;
		}
		return MSH_REPL_RX_STALE;
	}
	if (h->epoch > n->epoch) {
		n->epoch = h->epoch;
		n->stats.epochs_adopted++;
		*act |= MSH_REPL_ACT_EPOCH;
		if (n->role == MSH_REPL_PRIMARY)
			n->stats.demotions_epoch++;
		/* Even a secondary catches up: its history may not be a prefix of
		 * the new primary's (that one may have restarted empty). */
		become_secondary(n, act);
		n->start_pending = false;
	} else if (n->role == MSH_REPL_PRIMARY && h->role == MSH_REPL_PRIMARY) {
		/* Impossible with distinct node ids (epochs have a parity per node):
		 * a misconfiguration. The lower node id yields. */
		set_alarm(n, MSH_REPL_ALARM_DUAL_PRIMARY, act);
		if (n->conf.node_id < n->conf.peer_id) {
			n->stats.demotions_dual++;
			become_secondary(n, act);
		}
	}
	if (n->role == MSH_REPL_SECONDARY && h->role == MSH_REPL_PRIMARY && h->epoch == n->epoch) {
		n->followed = true;
		n->start_pending = false;
		n->both_secondary_ns = 0;
		if (n->alarm == MSH_REPL_ALARM_NO_PRIMARY)
			set_alarm(n, MSH_REPL_ALARM_NONE, act);
		if (h->type == MSH_REPL_T_HELLO) {
			if (!n->peer_ingest_up)
				set_alarm(n, MSH_REPL_ALARM_PEER_INGEST_DOWN, act);
			else if (n->alarm == MSH_REPL_ALARM_PEER_INGEST_DOWN)
				set_alarm(n, MSH_REPL_ALARM_NONE, act);
		}
		if (n->syncing)
			want_sync(n, now_ns, act);
	}
	return MSH_REPL_RX_ACCEPT;
}

bool
msh_repl_node_peer_alive(const struct msh_repl_node *n, uint64_t now_ns)
{
	return n->peer_heard && now_ns - n->last_rx_ns < n->conf.silence_ns;
}

/* Secondary, peer silent on the replication link for silence_ns. */
static void
tick_silent(struct msh_repl_node *n, uint64_t now_ns, uint32_t *act)
{
	if (!n->start_pending) {
		if (!n->conf.auto_promote) {
			set_alarm(n, MSH_REPL_ALARM_AUTO_OFF, act);
			return;
		}
		if (!n->followed) {
			set_alarm(n, MSH_REPL_ALARM_NEVER_FOLLOWED, act);
			return;
		}
	}
	/* The link is cut or the peer is dead: only the ingest network can tell
	 * which. A peer alive there may still be taking publishes as primary;
	 * promoting would make two primaries. */
	if (n->peer_ingest == MSH_REPL_INGEST_ALIVE) {
		set_alarm(n, MSH_REPL_ALARM_SPLIT_BRAIN_HOLD, act);
		return;
	}
	if (n->peer_ingest == MSH_REPL_INGEST_UNKNOWN) {
		set_alarm(n, MSH_REPL_ALARM_INGEST_UNKNOWN, act);
		return;
	}
	if (n->start_pending)
		n->stats.promotions_start++;
	else
		n->stats.promotions_auto++;
	become_primary(n, now_ns, act);
}

void
msh_repl_node_tick(struct msh_repl_node *n, uint64_t now_ns, uint32_t *act)
{
	if (!n->hello_any || now_ns - n->last_hello_ns >= n->conf.hello_interval_ns) {
		n->hello_any = true;
		n->last_hello_ns = now_ns;
		n->stats.hello_tx++;
		*act |= MSH_REPL_ACT_SEND_HELLO;
	}
	if (n->role != MSH_REPL_SECONDARY)
		return;
	if (n->syncing && msh_repl_node_peer_alive(n, now_ns) && n->peer_role == MSH_REPL_PRIMARY &&
	    n->peer_epoch == n->epoch)
		want_sync(n, now_ns, act);
	if (!msh_repl_node_peer_alive(n, now_ns)) {
		uint64_t since = n->peer_heard ? n->last_rx_ns : n->start_ns;

		if (now_ns - since >= n->conf.silence_ns)
			tick_silent(n, now_ns, act);
		return;
	}
	if (n->peer_role != MSH_REPL_SECONDARY) {
		n->both_secondary_ns = 0;
		return;
	}
	/* Both secondary and both alive. start_primary settles it at start-up
	 * (a peer with a higher epoch was adopted on receipt, which cancelled
	 * start_primary: this node is not behind the peer's epoch). */
	if (n->start_pending) {
		n->stats.promotions_start++;
		become_primary(n, now_ns, act);
		return;
	}
	if (n->both_secondary_ns == 0)
		n->both_secondary_ns = now_ns;
	else if (now_ns - n->both_secondary_ns >= n->conf.silence_ns)
		set_alarm(n, MSH_REPL_ALARM_NO_PRIMARY, act);
}

int
msh_repl_node_promote(struct msh_repl_node *n, uint64_t now_ns, uint32_t *act)
{
	if (n->role == MSH_REPL_PRIMARY)
		return -EALREADY;
	n->stats.promotions_manual++;
	become_primary(n, now_ns, act);
	return 0;
}

int
msh_repl_node_demote(struct msh_repl_node *n, uint64_t now_ns, uint32_t *act)
{
	if (n->role != MSH_REPL_PRIMARY)
		return -EALREADY;
	n->stats.demotions_manual++;
	become_secondary(n, act);
	n->last_hello_ns = now_ns;
	n->stats.hello_tx++;
	*act |= MSH_REPL_ACT_SEND_HELLO;
	return 0;
}

void
msh_repl_node_peer_ingest(struct msh_repl_node *n, enum msh_repl_ingest state)
{
	n->peer_ingest = state;
}

void
msh_repl_node_local_ingest(struct msh_repl_node *n, bool up)
{
	n->local_ingest_up = up;
}

void
msh_repl_node_sync_done(struct msh_repl_node *n)
{
	n->syncing = false;
}
