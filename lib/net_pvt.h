/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Byte offsets inside Ethernet and IPv4 headers, named once for the modules
 * that parse and build frames (net.c, igmp.c), so parsers and builders agree.
 * Private to lib/.
 */
#ifndef MSH_NET_PVT_H
#define MSH_NET_PVT_H

#define ETH_DST 0
#define ETH_SRC 6
#define ETH_TYPE 12

#define IP_VIHL 0
#define IP_TOS 1
#define IP_TOTLEN 2
#define IP_ID 4
#define IP_FRAG 6
#define IP_TTL 8
#define IP_PROTO 9
#define IP_CSUM 10
#define IP_SRC 12
#define IP_DST 16
#define IP_OPTS 20 /* options, when IHL > 5 */
#define IP_F_DF 0x4000u
#define IP_F_MF 0x2000u
#define IP_OFFSET_MASK 0x1FFFu

#endif /* MSH_NET_PVT_H */
