// ClientOptions::FromConfigFile: the msgc_client scope of a Momentum/msgc
// configuration file, through msgc_config.
#include <string>

#include "msgc/client.h"

#if MSGC_HAVE_CONFIG
#include "config/config.h"
#endif

namespace msgc {

Result ClientOptions::FromConfigFile(const std::string& path,
                                     ClientOptions* out) {
  if (out == nullptr) {
    return Result(Result::Code::kInvalidArgument, "out must not be null");
  }
#if MSGC_HAVE_CONFIG
  config::LoadResult loaded = config::LoadFile(path);
  if (!loaded.ok()) {
    std::string text = loaded.ErrorText();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    if (text.empty()) text = path + ": cannot load configuration";
    return Result(Result::Code::kInvalidArgument, std::move(text));
  }
  const config::Config& cfg = *loaded.config;
  const config::ClientOptions& c = cfg.client;
  auto set = [&](const char* option) {
    return cfg.origins.count(std::string("msgc_client.") + option) > 0;
  };
  ClientOptions o = *out;
  if (set("server")) o.servers = c.server;
  if (set("bind_address") && c.bind_address) o.bind_address = *c.bind_address;
  if (set("connect_timeout")) o.connect_timeout = c.connect_timeout;
  if (set("idle_timeout")) o.idle_timeout = c.idle_timeout;
  if (set("keepalive_interval")) o.keepalive_interval = c.keepalive_interval;
  if (set("max_backlog")) o.max_backlog = c.max_backlog;
  if (set("messages_per_iter")) o.messages_per_iter = c.messages_per_iter;
  if (set("reconnect_interval")) o.reconnect_interval = c.reconnect_interval;
  if (set("tcpbuf_size")) o.tcpbuf_size = c.tcpbuf_size;
  Result r = o.Validate();
  if (!r.ok()) {
    return Result(Result::Code::kInvalidArgument,
                  path + ": msgc_client: " + r.message());
  }
  *out = std::move(o);
  return Result::OK();
#else
  (void)path;
  return Result(Result::Code::kInternal,
                "libmsgc was built without configuration file support");
#endif
}

}  // namespace msgc
