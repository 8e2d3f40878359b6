/*
 * dpdk-sys: C shim over DPDK's static-inline functions and macros, which have no symbol in the shared libraries
 * and so cannot be called from Rust directly. Each function here is a plain out-of-line call to the DPDK inline
 * of the same name (without the `dpdk_shim_` prefix); see DPDK's documentation of that inline for its contract.
 *
 * This header is also the input bindgen reads (it includes the DPDK headers we bind), so the Rust declarations
 * of these functions are generated from it and cannot drift from the C definitions in shim.c.
 */
#ifndef DPDK_SYS_SHIM_H
#define DPDK_SYS_SHIM_H

#include <stdint.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ether.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_dev.h>
#include <rte_devargs.h>

/* rte_errno is a per-lcore (thread-local) variable behind a macro: read and write it through these. */
int dpdk_shim_errno(void);
void dpdk_shim_set_errno(int value);

/* lcore */
unsigned dpdk_shim_lcore_id(void);

/* mbufs */
struct rte_mbuf *dpdk_shim_pktmbuf_alloc(struct rte_mempool *mp);
int dpdk_shim_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count);
void dpdk_shim_pktmbuf_free(struct rte_mbuf *m);
char *dpdk_shim_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *dpdk_shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *dpdk_shim_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int dpdk_shim_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
void *dpdk_shim_pktmbuf_mtod(struct rte_mbuf *m);
int dpdk_shim_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail);
uint16_t dpdk_shim_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t dpdk_shim_pktmbuf_tailroom(const struct rte_mbuf *m);
uint16_t dpdk_shim_mbuf_refcnt_read(const struct rte_mbuf *m);
void dpdk_shim_mbuf_refcnt_set(struct rte_mbuf *m, uint16_t value);
uint16_t dpdk_shim_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value);
void dpdk_shim_pktmbuf_attach_extbuf(struct rte_mbuf *m, void *buf_addr, rte_iova_t buf_iova, uint16_t buf_len,
                                     struct rte_mbuf_ext_shared_info *shinfo);
void dpdk_shim_mbuf_ext_refcnt_set(struct rte_mbuf_ext_shared_info *shinfo, uint16_t new_value);
int dpdk_shim_pktmbuf_is_contiguous(const struct rte_mbuf *m);

/* TX offload metadata: l2_len and l3_len are bitfields of the tx_offload union, so they are set here (the rest of
 * rte_mbuf, ol_flags included, is plain fields Rust writes directly). Not a DPDK inline: the assignments
 * `m->l2_len = l2_len; m->l3_len = l3_len;` that DPDK's documentation of RTE_MBUF_F_TX_*_CKSUM asks for. */
void dpdk_shim_mbuf_set_tx_lengths(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len);
uint16_t dpdk_shim_mbuf_l2_len(const struct rte_mbuf *m);
uint16_t dpdk_shim_mbuf_l3_len(const struct rte_mbuf *m);

/* IPv4 pseudo-header checksum, as a NIC with L4 checksum offload wants it in the TCP/UDP checksum field. */
uint16_t dpdk_shim_ipv4_phdr_cksum(const struct rte_ipv4_hdr *ipv4_hdr, uint64_t ol_flags);

/* ethdev fast path */
uint16_t dpdk_shim_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t dpdk_shim_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts, uint16_t nb_pkts);
uint16_t dpdk_shim_eth_tx_prepare(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

#endif
