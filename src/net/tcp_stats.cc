#include "net/tcp_stats.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>

namespace msgc::net {

bool ReadTcpStats(int fd, TcpStats* out) {
  struct tcp_info info {};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
  // The kernel fills what it knows; older ones stop before these fields.
  if (len < offsetof(struct tcp_info, tcpi_sndbuf_limited) +
                sizeof(info.tcpi_sndbuf_limited)) {
    return false;
  }
  out->rtt_us = info.tcpi_rtt;
  out->busy_us = info.tcpi_busy_time;
  out->sndbuf_limited_us = info.tcpi_sndbuf_limited;
  return true;
}

int SendBufferToGrowTo(const TcpStats& last, const TcpStats& now, int current,
                       int64_t ceiling, int max_bytes, uint32_t min_rtt_us) {
  if (now.busy_us < last.busy_us ||
      now.sndbuf_limited_us < last.sndbuf_limited_us) {
    return 0;  // not the same connection's totals
  }
  const uint64_t busy = now.busy_us - last.busy_us;
  const uint64_t limited = now.sndbuf_limited_us - last.sndbuf_limited_us;
  if (busy == 0 || limited * 4 < busy || now.rtt_us < min_rtt_us) return 0;
  const int64_t cap = std::min<int64_t>(ceiling, max_bytes);
  if (current >= cap) return 0;
  return static_cast<int>(std::min<int64_t>(int64_t{current} * 2, cap));
}

}  // namespace msgc::net
