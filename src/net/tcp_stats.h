// TCP_INFO figures the send-buffer policy needs (Linux), read without
// asio: <linux/tcp.h>, which has them, cannot share a translation unit with
// the <netinet/tcp.h> that asio includes.
#ifndef MSGC_NET_TCP_STATS_H_
#define MSGC_NET_TCP_STATS_H_

#include <cstdint>

namespace msgc::net {

struct TcpStats {
  uint32_t rtt_us = 0;             // smoothed round-trip time
  uint64_t busy_us = 0;            // time spent sending data
  uint64_t sndbuf_limited_us = 0;  // of which limited by the send buffer
};

// Fills `out` from the socket `fd`; false if the kernel does not report
// these (older than 4.10) or the call fails.
bool ReadTcpStats(int fd, TcpStats* out);

// The policy of Connection::GrowSendBufferIfLimited, without the socket:
// given the TCP_INFO totals at the last check and now, the current
// SO_SNDBUF and its ceiling (2 x net.core.wmem_max; both in the kernel's
// doubled bytes, as getsockopt reports them) and `max_bytes`, the SO_SNDBUF
// to have, or 0 to leave it. It grows (doubling, within the ceiling and
// max_bytes) when the send buffer limited the sender for at least a quarter
// of its busy time since the last check, at a round trip of at least
// `min_rtt_us`.
int SendBufferToGrowTo(const TcpStats& last, const TcpStats& now, int current,
                       int64_t ceiling, int max_bytes, uint32_t min_rtt_us);

}  // namespace msgc::net

#endif  // MSGC_NET_TCP_STATS_H_
