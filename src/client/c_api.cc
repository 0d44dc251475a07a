// The C API (include/msgc/msgc.h) over msgc::Client.
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "client/hooks.h"
#include "msgc/client.h"
#include "msgc/msgc.h"

using msgc::Client;
using msgc::ClientOptions;
using msgc::Event;
using msgc::Result;

struct msgc_options {
  ClientOptions options;
  bool default_servers = true;  // the first add replaces the default entry
};

struct msgc_client {
  std::unique_ptr<Client> client;
  std::mutex mu;  // guards the fields below
  msgc_multicast_cb multicast_cb = nullptr;
  void* multicast_closure = nullptr;
  msgc_membership_cb membership_cb = nullptr;
  void* membership_closure = nullptr;
  msgc::client_internal::MembershipTracker tracker;  // I/O thread only
};

namespace {

thread_local std::string last_error;

// The one place a Result becomes an msgc_err_t.
msgc_err_t ToErr(const Result& r) {
  if (r.ok()) return MSGC_OK;
  last_error = r.message();
  return static_cast<msgc_err_t>(r.code());
}

msgc_err_t Fail(msgc_err_t err, const char* msg) {
  last_error = msg;
  return err;
}

// Pointer + length to std::string_view; a NULL pointer needs length 0.
bool View(const void* p, size_t len, std::string_view* out) {
  if (p == nullptr && len != 0) return false;
  *out = p == nullptr ? std::string_view()
                      : std::string_view(static_cast<const char*>(p), len);
  return true;
}

// The holder behind an msgc_event_t: the C struct (as base) and the storage
// its pointers refer to.
struct EventHolder : msgc_event_t {
  Event ev;
  std::vector<msgc_str_t> groups;
  std::vector<msgc_member_t> changed;
  std::vector<msgc_member_t> members;
  std::string reason_text;
};
msgc_str_t Str(const std::string& s) { return {s.c_str(), s.size()}; }

std::vector<msgc_member_t> Members(const std::vector<msgc::Member>& list) {
  std::vector<msgc_member_t> out;
  out.reserve(list.size());
  for (const msgc::Member& m : list) {
    out.push_back({Str(m.name), Str(m.capabilities)});
  }
  return out;
}

void FillEvent(EventHolder* h) {
  msgc_event_t& c = *h;
  c = msgc_event_t{};
  static const std::string kEmpty;
  for (msgc_str_t* s : {&c.sender, &c.data, &c.group, &c.view, &c.server,
                        &c.private_name, &c.error_name, &c.subject, &c.text}) {
    *s = Str(kEmpty);
  }
  const Event& ev = h->ev;
  switch (ev.type) {
    case Event::Type::kMessage: {
      c.type = MSGC_EVENT_MESSAGE;
      const msgc::MessageEvent& m = ev.message;
      c.sender = Str(m.sender);
      for (const std::string& g : m.groups) h->groups.push_back(Str(g));
      c.groups = h->groups.data();
      c.num_groups = h->groups.size();
      c.service = static_cast<msgc_service_t>(m.service);
      c.self_discard = m.self_discard;
      c.data = Str(m.data);
      break;
    }
    case Event::Type::kMembership: {
      c.type = MSGC_EVENT_MEMBERSHIP;
      const msgc::MembershipEvent& m = ev.membership;
      c.group = Str(m.group);
      c.cause = static_cast<msgc_cause_t>(m.cause);
      c.transitional = m.transitional;
      c.self_leave = m.self_leave;
      c.view = Str(m.view);
      c.gid = m.gid;
      h->changed = Members(m.changed);
      h->members = Members(m.members);
      c.changed = h->changed.data();
      c.num_changed = h->changed.size();
      c.members = h->members.data();
      c.num_members = h->members.size();
      break;
    }
    case Event::Type::kConnected:
    case Event::Type::kDisconnected: {
      const msgc::ConnectionEvent& e = ev.connection;
      c.type = ev.type == Event::Type::kConnected ? MSGC_EVENT_CONNECTED
                                                  : MSGC_EVENT_DISCONNECTED;
      c.server = Str(e.server);
      c.private_name = Str(e.private_name);
      c.reconnect = e.reconnect;
      c.reason = static_cast<msgc_err_t>(e.reason.code());
      c.unsent_messages = e.unsent_messages;
      h->reason_text = e.reason.message();
      c.text = Str(h->reason_text);
      break;
    }
    case Event::Type::kError: {
      const msgc::ServerError& e = ev.error;
      c.type = MSGC_EVENT_ERROR;
      c.error_code = e.code;
      c.error_name = Str(e.code_name);
      c.fatal = e.fatal;
      c.ref = e.ref;
      c.subject = Str(e.subject);
      c.text = Str(e.text);
      break;
    }
  }
}

// Installs C++ callbacks matching the C callbacks currently set.
// REQUIRES: c->mu held.
void InstallCallbacks(msgc_client_t* c) {
  Client::Callbacks cbs;
  if (c->multicast_cb != nullptr) {
    cbs.on_message = [c](const msgc::MessageEvent& m) {
      msgc_multicast_cb cb;
      void* closure;
      {
        std::lock_guard<std::mutex> lock(c->mu);
        cb = c->multicast_cb;
        closure = c->multicast_closure;
      }
      if (cb == nullptr) return;
      const std::string& group = m.groups.empty() ? m.sender : m.groups[0];
      cb(closure, m.sender.data(), m.sender.size(), group.data(), group.size(),
         reinterpret_cast<const unsigned char*>(m.data.data()), m.data.size());
    };
  }
  if (c->membership_cb != nullptr) {
    cbs.on_membership = [c](const msgc::MembershipEvent& m) {
      msgc_membership_cb cb;
      void* closure;
      {
        std::lock_guard<std::mutex> lock(c->mu);
        cb = c->membership_cb;
        closure = c->membership_closure;
      }
      std::vector<msgc::client_internal::HookMembership> calls =
          c->tracker.OnEvent(m);
      if (cb == nullptr) return;
      for (const auto& h : calls) {
        cb(closure, h.mode, h.member.data(), h.member.size(), m.group.data(),
           m.group.size(), h.capabilities.data(), h.capabilities.size(), h.gid);
      }
    };
  }
  c->client->SetCallbacks(std::move(cbs));
}

}  // namespace

extern "C" {

const char* msgc_strerror(msgc_err_t err) {
  switch (err) {
    case MSGC_OK:
      return "OK";
    case MSGC_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case MSGC_ERR_NOT_FOUND:
      return "not found";
    case MSGC_ERR_IO:
      return "I/O error";
    case MSGC_ERR_PROTOCOL:
      return "protocol error";
    case MSGC_ERR_TOO_LARGE:
      return "too large";
    case MSGC_ERR_ALREADY_EXISTS:
      return "already exists";
    case MSGC_ERR_NOT_CONNECTED:
      return "not connected";
    case MSGC_ERR_TIMED_OUT:
      return "timed out";
    case MSGC_ERR_REFUSED:
      return "refused";
    case MSGC_ERR_INTERNAL:
      return "internal error";
    case MSGC_ERR_BUFFER_TOO_SHORT:
      return "buffer too short";
  }
  return "unknown error";
}

const char* msgc_last_error(void) { return last_error.c_str(); }

msgc_err_t msgc_options_create(msgc_options_t** out) {
  if (out == nullptr) return Fail(MSGC_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = new (std::nothrow) msgc_options;
  if (*out == nullptr) return Fail(MSGC_ERR_INTERNAL, "out of memory");
  return MSGC_OK;
}

msgc_err_t msgc_options_from_config_file(const char* path,
                                         msgc_options_t** out) {
  if (path == nullptr || out == nullptr) {
    return Fail(MSGC_ERR_INVALID_ARGUMENT, "path or out is NULL");
  }
  auto o = std::unique_ptr<msgc_options>(new (std::nothrow) msgc_options);
  if (o == nullptr) return Fail(MSGC_ERR_INTERNAL, "out of memory");
  Result r = ClientOptions::FromConfigFile(path, &o->options);
  if (!r.ok()) return ToErr(r);
  o->default_servers = false;
  *out = o.release();
  return MSGC_OK;
}

void msgc_options_destroy(msgc_options_t* options) { delete options; }

msgc_err_t msgc_options_add_server(msgc_options_t* o, const char* host_port,
                                   size_t len) {
  std::string_view v;
  if (o == nullptr || !View(host_port, len, &v)) {
    return Fail(MSGC_ERR_INVALID_ARGUMENT, "options or host_port is NULL");
  }
  if (o->default_servers) o->options.servers.clear();
  o->default_servers = false;
  o->options.servers.emplace_back(v);
  return MSGC_OK;
}

void msgc_options_clear_servers(msgc_options_t* o) {
  if (o == nullptr) return;
  o->options.servers.clear();
  o->default_servers = false;
}

msgc_err_t msgc_options_set_name(msgc_options_t* o, const char* name,
                                 size_t len) {
  std::string_view v;
  if (o == nullptr || !View(name, len, &v)) {
    return Fail(MSGC_ERR_INVALID_ARGUMENT, "options or name is NULL");
  }
  o->options.name = std::string(v);
  return MSGC_OK;
}

msgc_err_t msgc_options_set_bind_address(msgc_options_t* o, const char* address,
                                         size_t len) {
  std::string_view v;
  if (o == nullptr || !View(address, len, &v)) {
    return Fail(MSGC_ERR_INVALID_ARGUMENT, "options or address is NULL");
  }
  o->options.bind_address = std::string(v);
  return MSGC_OK;
}

void msgc_options_set_connect_timeout(msgc_options_t* o, double s) {
  if (o != nullptr) o->options.connect_timeout = s;
}
void msgc_options_set_reconnect_interval(msgc_options_t* o, double s) {
  if (o != nullptr) o->options.reconnect_interval = s;
}
void msgc_options_set_keepalive_interval(msgc_options_t* o, double s) {
  if (o != nullptr) o->options.keepalive_interval = s;
}
void msgc_options_set_idle_timeout(msgc_options_t* o, double s) {
  if (o != nullptr) o->options.idle_timeout = s;
}
void msgc_options_set_send_timeout(msgc_options_t* o, double s) {
  if (o != nullptr) o->options.send_timeout = s;
}
void msgc_options_set_tcpbuf_size(msgc_options_t* o, uint32_t bytes) {
  if (o != nullptr) o->options.tcpbuf_size = bytes;
}
void msgc_options_set_max_backlog(msgc_options_t* o, uint32_t messages) {
  if (o != nullptr) o->options.max_backlog = messages;
}
void msgc_options_set_wait_for_connection(msgc_options_t* o, int wait) {
  if (o != nullptr) o->options.wait_for_connection = wait != 0;
}

msgc_err_t msgc_open(const msgc_options_t* options, msgc_client_t** out) {
  if (out == nullptr) return Fail(MSGC_ERR_INVALID_ARGUMENT, "out is NULL");
  ClientOptions defaults;
  const ClientOptions& o = options != nullptr ? options->options : defaults;
  auto c = std::unique_ptr<msgc_client>(new (std::nothrow) msgc_client);
  if (c == nullptr) return Fail(MSGC_ERR_INTERNAL, "out of memory");
  Result r = Client::Connect(o, &c->client);
  if (!r.ok()) return ToErr(r);
  *out = c.release();
  return MSGC_OK;
}

msgc_err_t msgc_close(msgc_client_t* c) {
  if (c == nullptr) return MSGC_OK;
  Result r = c->client->Close();
  delete c;
  return ToErr(r);
}

msgc_err_t msgc_get_private_name(msgc_client_t* c, char* buf, size_t buf_len) {
  if (c == nullptr || buf == nullptr) {
    return Fail(MSGC_ERR_INVALID_ARGUMENT, "client or buf is NULL");
  }
  std::string name = c->client->PrivateName();
  if (name.empty()) {
    return Fail(MSGC_ERR_NOT_CONNECTED, "no session with a server yet");
  }
  if (name.size() + 1 > buf_len) {
    if (buf_len > 0) buf[0] = '\0';
    return Fail(MSGC_ERR_BUFFER_TOO_SHORT,
                "private name needs a larger buffer");
  }
  std::memcpy(buf, name.c_str(), name.size() + 1);
  return MSGC_OK;
}

msgc_err_t msgc_join(msgc_client_t* c, const char* group, size_t group_len,
                     const char* capabilities, size_t capabilities_len) {
  std::string_view g, caps;
  if (c == nullptr || !View(group, group_len, &g) ||
      !View(capabilities, capabilities_len, &caps)) {
    return Fail(MSGC_ERR_INVALID_ARGUMENT, "NULL client, group or caps");
  }
  return ToErr(c->client->Join(g, caps));
}

msgc_err_t msgc_leave(msgc_client_t* c, const char* group, size_t group_len) {
  std::string_view g;
  if (c == nullptr || !View(group, group_len, &g)) {
    return Fail(MSGC_ERR_INVALID_ARGUMENT, "NULL client or group");
  }
  return ToErr(c->client->Leave(g));
}

msgc_err_t msgc_multicast_publish(msgc_client_t* c, const char* group,
                                  size_t group_len, const unsigned char* data,
                                  size_t data_len, int* result) {
  std::string_view g, d;
  msgc_err_t err;
  if (c == nullptr || !View(group, group_len, &g) ||
      !View(data, data_len, &d)) {
    err = Fail(MSGC_ERR_INVALID_ARGUMENT, "NULL client, group or data");
  } else {
    err = ToErr(c->client->Multicast(g, d));
  }
  if (result != nullptr) *result = static_cast<int>(err);
  return err;
}

msgc_err_t msgc_send(msgc_client_t* c, const msgc_dest_t* dests,
                     size_t num_dests, const unsigned char* data,
                     size_t data_len, msgc_service_t service, int flags) {
  std::string_view d;
  if (c == nullptr || dests == nullptr || !View(data, data_len, &d)) {
    return Fail(MSGC_ERR_INVALID_ARGUMENT, "NULL client, dests or data");
  }
  if (service != MSGC_SERVICE_FIFO && service != MSGC_SERVICE_AGREED &&
      service != MSGC_SERVICE_SAFE) {
    return Fail(MSGC_ERR_INVALID_ARGUMENT, "unknown service");
  }
  if ((flags & ~MSGC_SELF_DISCARD) != 0) {
    return Fail(MSGC_ERR_INVALID_ARGUMENT, "unknown flags");
  }
  std::vector<std::string> list;
  list.reserve(num_dests);
  for (size_t i = 0; i < num_dests; ++i) {
    std::string_view v;
    if (!View(dests[i].name, dests[i].len, &v)) {
      return Fail(MSGC_ERR_INVALID_ARGUMENT, "NULL destination name");
    }
    list.emplace_back(v);
  }
  msgc::SendOptions so;
  so.service = static_cast<msgc::Service>(service);
  so.self_discard = (flags & MSGC_SELF_DISCARD) != 0;
  return ToErr(c->client->Send(list, d, so));
}

msgc_err_t msgc_flush(msgc_client_t* c, int timeout_ms) {
  if (c == nullptr) return Fail(MSGC_ERR_INVALID_ARGUMENT, "client is NULL");
  return ToErr(c->client->Flush(std::chrono::milliseconds(timeout_ms)));
}

msgc_err_t msgc_set_multicast_subscribe(msgc_client_t* c, msgc_multicast_cb cb,
                                        void* closure) {
  if (c == nullptr) return Fail(MSGC_ERR_INVALID_ARGUMENT, "client is NULL");
  std::lock_guard<std::mutex> lock(c->mu);
  c->multicast_cb = cb;
  c->multicast_closure = closure;
  InstallCallbacks(c);
  return MSGC_OK;
}

msgc_err_t msgc_set_membership_subscribe(msgc_client_t* c,
                                         msgc_membership_cb cb, void* closure) {
  if (c == nullptr) return Fail(MSGC_ERR_INVALID_ARGUMENT, "client is NULL");
  std::lock_guard<std::mutex> lock(c->mu);
  c->membership_cb = cb;
  c->membership_closure = closure;
  InstallCallbacks(c);
  return MSGC_OK;
}

msgc_err_t msgc_receive(msgc_client_t* c, msgc_event_t** event,
                        int timeout_ms) {
  if (c == nullptr || event == nullptr) {
    return Fail(MSGC_ERR_INVALID_ARGUMENT, "client or event is NULL");
  }
  auto h = std::unique_ptr<EventHolder>(new (std::nothrow) EventHolder);
  if (h == nullptr) return Fail(MSGC_ERR_INTERNAL, "out of memory");
  Result r = c->client->Receive(&h->ev, std::chrono::milliseconds(timeout_ms));
  if (!r.ok()) return ToErr(r);
  FillEvent(h.get());
  *event = h.release();
  return MSGC_OK;
}

void msgc_event_free(msgc_event_t* event) {
  delete static_cast<EventHolder*>(event);
}

int msgc_event_fd(msgc_client_t* c) {
  return c == nullptr ? -1 : c->client->EventFd();
}

}  // extern "C"
