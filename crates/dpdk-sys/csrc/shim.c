/*
 * dpdk-sys: out-of-line copies of DPDK's static-inline functions; see shim.h. Nothing here adds behaviour: each
 * function forwards its arguments to the inline and returns its result, so DPDK's documentation is the contract.
 */
#include "shim.h"

int dpdk_shim_errno(void) { return rte_errno; }

void dpdk_shim_set_errno(int value) { rte_errno = value; }

unsigned dpdk_shim_lcore_id(void) { return rte_lcore_id(); }

struct rte_mbuf *dpdk_shim_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int dpdk_shim_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count) {
    return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void dpdk_shim_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

char *dpdk_shim_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }

char *dpdk_shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }

char *dpdk_shim_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }

int dpdk_shim_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }

void *dpdk_shim_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }

int dpdk_shim_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail) { return rte_pktmbuf_chain(head, tail); }

uint16_t dpdk_shim_pktmbuf_headroom(const struct rte_mbuf *m) { return rte_pktmbuf_headroom(m); }

uint16_t dpdk_shim_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }

uint16_t dpdk_shim_mbuf_refcnt_read(const struct rte_mbuf *m) { return rte_mbuf_refcnt_read(m); }

void dpdk_shim_mbuf_refcnt_set(struct rte_mbuf *m, uint16_t value) { rte_mbuf_refcnt_set(m, value); }

uint16_t dpdk_shim_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value) { return rte_mbuf_refcnt_update(m, value); }

void dpdk_shim_pktmbuf_attach_extbuf(struct rte_mbuf *m, void *buf_addr, rte_iova_t buf_iova, uint16_t buf_len,
                                     struct rte_mbuf_ext_shared_info *shinfo) {
    rte_pktmbuf_attach_extbuf(m, buf_addr, buf_iova, buf_len, shinfo);
}

void dpdk_shim_mbuf_ext_refcnt_set(struct rte_mbuf_ext_shared_info *shinfo, uint16_t new_value) {
    rte_mbuf_ext_refcnt_set(shinfo, new_value);
}

int dpdk_shim_pktmbuf_is_contiguous(const struct rte_mbuf *m) { return rte_pktmbuf_is_contiguous(m); }

void dpdk_shim_mbuf_set_tx_lengths(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len) {
    m->l2_len = l2_len;
    m->l3_len = l3_len;
}

uint16_t dpdk_shim_mbuf_l2_len(const struct rte_mbuf *m) { return m->l2_len; }

uint16_t dpdk_shim_mbuf_l3_len(const struct rte_mbuf *m) { return m->l3_len; }

uint16_t dpdk_shim_ipv4_phdr_cksum(const struct rte_ipv4_hdr *ipv4_hdr, uint64_t ol_flags) {
    return rte_ipv4_phdr_cksum(ipv4_hdr, ol_flags);
}

uint16_t dpdk_shim_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts, uint16_t nb_pkts) {
    return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t dpdk_shim_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts, uint16_t nb_pkts) {
    return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

uint16_t dpdk_shim_eth_tx_prepare(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts, uint16_t nb_pkts) {
    return rte_eth_tx_prepare(port_id, queue_id, tx_pkts, nb_pkts);
}
