// Mesh tests over real loopback sockets: several Mesh instances in one
// process, each on its own io_context and thread (the mesh itself is
// single-threaded per instance). Nodes listen on 127.0.0.1, .2, .3 ...
#include "mesh/mesh.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "net/listener.h"
#include "wire/frame.h"

namespace msgc::mesh {
namespace {

using namespace std::chrono_literals;

// Bounded wait: polls `pred` every 10 ms for at most `timeout`.
bool WaitFor(const std::function<bool()>& pred,
             std::chrono::milliseconds timeout = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

std::string Members(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& m : v) s += (s.empty() ? "" : ",") + m;
  return s;
}

// Records every listener call as a line: "C <id> <members>",
// "T <id> <moving>", "D <origin> <body>". Its configuration state is
// "<name>:<n>:<bodies>", the n own undelivered items it was given and
// their bodies joined by ','; the states each configuration came with are
// kept by configuration id, joined by '|'.
class Recorder : public MeshListener {
 public:
  explicit Recorder(std::string name) : name_(std::move(name)) {}

  void OnDeliver(const Item& item) override {
    std::string body(reinterpret_cast<const char*>(item.body.data()),
                     item.body.size());
    {
      std::lock_guard<std::mutex> g(mu_);
      events_.push_back("D " + std::string(item.origin) + " " + body);
      ++delivered_;
    }
    if (on_deliver) on_deliver(body);
  }
  // Called on the node's loop after each delivery (set it there, Run).
  std::function<void(const std::string& body)> on_deliver;
  void OnTransitional(const Configuration& old_conf,
                      const std::vector<std::string>& moving) override {
    std::lock_guard<std::mutex> g(mu_);
    events_.push_back(fmt::format("T {:x} {}", old_conf.id, Members(moving)));
  }
  void OnConfiguration(const Configuration& conf,
                       const std::vector<std::string>&,
                       const std::vector<std::string>&,
                       std::span<const std::string> states) override {
    std::lock_guard<std::mutex> g(mu_);
    events_.push_back(fmt::format("C {:x} {}", conf.id, Members(conf.members)));
    conf_ = conf;
    states_[conf.id] = fmt::format("{}", fmt::join(states, "|"));
  }
  std::string ConfigurationState(std::span<const Item> undelivered) override {
    std::string bodies;
    for (const Item& it : undelivered) {
      if (!bodies.empty()) bodies += ',';
      bodies.append(reinterpret_cast<const char*>(it.body.data()),
                    it.body.size());
    }
    return fmt::format("{}:{}:{}", name_, undelivered.size(), bodies);
  }
  // Routed items (kSubmitRouted): a body "only-<name> ..." goes to that
  // member only, any other to every member.
  void SelectBodies(const Item& item, std::span<const std::string> members,
                    std::span<uint8_t> need) override {
    const std::string_view body(reinterpret_cast<const char*>(item.body.data()),
                                item.body.size());
    for (size_t i = 0; i < members.size(); ++i) {
      need[i] = !body.starts_with("only-") ||
                body.starts_with("only-" + members[i] + " ");
    }
  }
  // The states configuration `id` came with ("" if not installed).
  std::string States(uint64_t id) const {
    std::lock_guard<std::mutex> g(mu_);
    auto it = states_.find(id);
    return it == states_.end() ? "" : it->second;
  }

  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> g(mu_);
    return events_;
  }
  Configuration conf() const {
    std::lock_guard<std::mutex> g(mu_);
    return conf_;
  }
  size_t delivered() const {
    std::lock_guard<std::mutex> g(mu_);
    return delivered_;
  }
  // Events from the last "C <id>" on (inclusive).
  std::vector<std::string> Since(uint64_t conf_id) const {
    std::lock_guard<std::mutex> g(mu_);
    std::string key = fmt::format("C {:x} ", conf_id);
    for (size_t i = events_.size(); i-- > 0;) {
      if (events_[i].rfind(key, 0) == 0) {
        return {events_.begin() + static_cast<std::ptrdiff_t>(i),
                events_.end()};
      }
    }
    return {};
  }

 private:
  const std::string name_;
  mutable std::mutex mu_;
  std::vector<std::string> events_;
  std::map<uint64_t, std::string> states_;
  Configuration conf_;
  size_t delivered_ = 0;
};

// What the server does for peer connections: decode HELLO, hand the
// connection to the mesh, then forward its callbacks (msgcd uses
// Connection::set_handler instead; forwarding is the other way the
// AdoptInbound contract allows).
class Router : public net::ConnectionHandler {
 public:
  explicit Router(Mesh** mesh) : mesh_(mesh) {}
  void Accept(asio::ip::tcp::socket sock, net::ConnectionOptions opts) {
    std::error_code ec;
    auto remote = sock.remote_endpoint(ec);
    auto conn =
        net::Connection::Create(std::move(sock), next_id_++, opts, this);
    pending_[conn.get()] = {conn, remote};
    conn->Start();
  }
  void OnFrame(net::Connection& c, const wire::Frame& f) override {
    if (adopted_.count(&c)) {
      (*mesh_)->link_handler()->OnFrame(c, f);
      return;
    }
    auto it = pending_.find(&c);
    if (it == pending_.end()) return;
    wire::Hello hello;
    if (f.header.type != wire::FrameType::kHello ||
        !wire::DecodeHello(f, &hello).ok() || hello.role != wire::Role::kPeer) {
      c.Close(net::CloseReason::kProtocolError, "test router: not a peer");
      return;
    }
    auto [conn, remote] = it->second;
    pending_.erase(it);
    adopted_.insert(&c);
    (*mesh_)->AdoptInbound(conn, hello, remote);
  }
  void OnTooLarge(net::Connection& c, const wire::FrameHeader& h) override {
    if (adopted_.count(&c)) (*mesh_)->link_handler()->OnTooLarge(c, h);
  }
  void OnClose(net::Connection& c) override {
    pending_.erase(&c);
    if (adopted_.erase(&c)) (*mesh_)->link_handler()->OnClose(c);
  }
  void OnDrained(net::Connection& c) override {
    if (adopted_.count(&c)) (*mesh_)->link_handler()->OnDrained(c);
  }

 private:
  Mesh** mesh_;
  uint64_t next_id_ = 1 << 20;
  std::map<net::Connection*,
           std::pair<std::shared_ptr<net::Connection>, asio::ip::tcp::endpoint>>
      pending_;
  std::set<net::Connection*> adopted_;
};

MeshOptions BaseOptions() {
  MeshOptions o;
  o.link.keepalive_interval = 100ms;
  o.link.idle_timeout = 1000ms;
  o.link.max_backlog = 5000;
  o.connect_timeout = 1000ms;
  o.reconnect_interval = 300ms;
  return o;
}

// One msgcd stand-in: a listener, a router and a mesh on their own loop.
class Node {
 public:
  Node(std::string name, std::string ip) : name_(std::move(name)), ip_(ip) {}
  ~Node() { Kill(); }

  // Binds the listener (port 0 the first time, the same port on restart).
  // `rcvbuf` != 0: SO_RCVBUF of accepted links (as msgcd's tcpbuf_size);
  // 0 leaves loopback autotuning, which may buffer megabytes.
  uint16_t Bind(uint32_t rcvbuf = 0) {
    io_ = std::make_unique<asio::io_context>();
    listener_ = net::Listener::Create(*io_);
    Status s = listener_->Open(
        asio::ip::tcp::endpoint(asio::ip::make_address(ip_), port_), rcvbuf);
    EXPECT_TRUE(s.ok()) << s.ToString();
    port_ = listener_->local_endpoint().port();
    return port_;
  }

  void Start(const std::vector<PeerSpec>& peers, uint64_t incarnation,
             const MeshOptions& base = BaseOptions()) {
    incarnation_ = incarnation;
    MeshOptions o = base;
    o.self = name_;
    o.incarnation = incarnation;
    o.peers = peers;
    recorder_ = std::make_unique<Recorder>(name_);
    mesh_ = std::make_unique<Mesh>(*io_, o, recorder_.get());
    mesh_ptr_ = mesh_.get();
    router_ = std::make_unique<Router>(&mesh_ptr_);
    auto link_opts = o.link;
    listener_->Start([this, link_opts](asio::ip::tcp::socket s) {
      router_->Accept(std::move(s), link_opts);
    });
    Status s = mesh_->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    work_.emplace(io_->get_executor());
    thread_ = std::thread([this] { io_->run(); });
  }

  // Runs `f` on the node's loop and waits for it.
  void Run(std::function<void(Mesh&)> f) {
    std::promise<void> done;
    asio::post(*io_, [&] {
      f(*mesh_);
      done.set_value();
    });
    done.get_future().wait();
  }
  void Submit(std::string body, wire::Service s = wire::Service::kAgreed,
              uint8_t flags = 0) {
    asio::post(*io_, [this, body = std::move(body), s, flags] {
      ASSERT_TRUE(mesh_->Submit(s, 1, body, flags));
    });
  }

  // Like SIGSTOP/SIGCONT: the loop runs nothing for `t` (its sockets are
  // not read, its timers do not fire), then goes on. Does not wait.
  void Stall(std::chrono::milliseconds t) {
    asio::post(*io_, [t] { std::this_thread::sleep_for(t); });
  }

  // Like kill -9: the loop stops, then everything is torn down without
  // any goodbye.
  void Kill() {
    if (!thread_.joinable()) return;
    io_->stop();
    thread_.join();
    work_.reset();
    listener_->Close();
    mesh_.reset();
    listener_.reset();
    router_.reset();
    io_.reset();
  }

  const std::string& name() const { return name_; }
  const std::string& ip() const { return ip_; }
  uint16_t port() const { return port_; }
  uint64_t incarnation() const { return incarnation_; }
  Recorder& rec() { return *recorder_; }

 private:
  std::string name_;
  std::string ip_;
  uint16_t port_ = 0;
  uint64_t incarnation_ = 0;
  std::unique_ptr<asio::io_context> io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>>
      work_;
  std::shared_ptr<net::Listener> listener_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<Mesh> mesh_;
  Mesh* mesh_ptr_ = nullptr;
  std::unique_ptr<Router> router_;
  std::thread thread_;
};

class MeshTest : public ::testing::Test {
 protected:
  void MakeNodes(int n) {
    static const char* kNames[] = {"a", "b", "c", "d"};
    for (int i = 0; i < n; ++i) {
      nodes_.push_back(std::make_unique<Node>(
          kNames[i], "127.0.0." + std::to_string(i + 1)));
    }
    for (auto& node : nodes_) {
      node->Bind(rcvbuf_);
      peers_.push_back({node->name(), node->ip(), node->port()});
    }
    for (auto& node : nodes_) node->Start(peers_, NextInc(), base_);
  }
  uint64_t NextInc() { return ++inc_ * 0x9e3779b97f4a7c15ull; }
  void Restart(int i) {
    nodes_[i]->Bind(rcvbuf_);
    nodes_[i]->Start(peers_, NextInc(), base_);
  }
  // Node i reloads its options with `peers`.
  Status Reload(int i, const std::vector<PeerSpec>& peers) {
    Status st;
    nodes_[i]->Run([&](Mesh& m) {
      MeshOptions o = base_;
      o.self = nodes_[i]->name();
      o.incarnation = nodes_[i]->incarnation();
      o.peers = peers;
      st = m.UpdateOptions(o);
    });
    return st;
  }

  // All nodes in `idx` share one configuration of exactly `members`.
  bool Together(const std::vector<int>& idx, const std::string& members) {
    uint64_t id = nodes_[idx[0]]->rec().conf().id;
    for (int i : idx) {
      Configuration c = nodes_[i]->rec().conf();
      if (c.id != id || Members(c.members) != members) return false;
    }
    return true;
  }
  bool WaitTogether(const std::vector<int>& idx, const std::string& members,
                    std::chrono::milliseconds t = 5000ms) {
    return WaitFor([&] { return Together(idx, members); }, t);
  }
  bool WaitDelivered(const std::vector<int>& idx, size_t n,
                     std::chrono::milliseconds t = 5000ms) {
    return WaitFor(
        [&] {
          for (int i : idx) {
            if (nodes_[i]->rec().delivered() < n) return false;
          }
          return true;
        },
        t);
  }

  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<PeerSpec> peers_;
  uint64_t inc_ = 0;
  MeshOptions base_ = BaseOptions();  // set before MakeNodes
  uint32_t rcvbuf_ = 0;               // set before MakeNodes
};

// Per origin, bodies "<origin>-<n>" must come in increasing n.
void ExpectFifo(const std::vector<std::string>& events) {
  std::map<std::string, int> last;
  for (const auto& e : events) {
    if (e.rfind("D ", 0) != 0) continue;
    auto sp = e.find(' ', 2);
    std::string origin = e.substr(2, sp - 2);
    std::string body = e.substr(sp + 1);
    auto dash = body.rfind('-');
    int n = std::stoi(body.substr(dash + 1));
    auto it = last.find(origin);
    if (it != last.end()) {
      EXPECT_GT(n, it->second) << e;
    }
    last[origin] = n;
  }
}

size_t CountDeliveries(const std::vector<std::string>& events) {
  size_t n = 0;
  for (const auto& e : events) n += e.rfind("D ", 0) == 0;
  return n;
}

// Deliveries that are not unique.
size_t CountDuplicates(const std::vector<std::string>& events) {
  std::set<std::string> seen;
  size_t dups = 0;
  for (const auto& e : events) {
    if (e.rfind("D ", 0) == 0 && !seen.insert(e).second) ++dups;
  }
  return dups;
}

TEST_F(MeshTest, SingleServerDeliversToItself) {
  MakeNodes(1);
  ASSERT_TRUE(WaitTogether({0}, "a"));
  for (int i = 0; i < 5; ++i) nodes_[0]->Submit("a-" + std::to_string(i));
  ASSERT_TRUE(WaitDelivered({0}, 5));
  auto ev = nodes_[0]->rec().events();
  ASSERT_EQ(ev.size(), 6u);
  EXPECT_EQ(ev[1], "D a a-0");
  EXPECT_EQ(ev[5], "D a a-4");
}

TEST_F(MeshTest, ThreeServersAgreeOnTheOrder) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  constexpr int kPer = 100;
  for (int i = 0; i < kPer; ++i) {
    for (auto& n : nodes_) {
      n->Submit(n->name() + "-" + std::to_string(i),
                i % 7 == 3 ? wire::Service::kSafe : wire::Service::kAgreed);
    }
  }
  ASSERT_TRUE(WaitDelivered({0, 1, 2}, 3 * kPer));
  auto a = nodes_[0]->rec().Since(id);
  auto b = nodes_[1]->rec().Since(id);
  auto c = nodes_[2]->rec().Since(id);
  EXPECT_EQ(CountDeliveries(a), 3u * kPer);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
  ExpectFifo(a);
}

TEST_F(MeshTest, EveryMemberGetsEveryStateAtInstall) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  // Nothing was submitted: no member had items undelivered.
  for (auto& n : nodes_) EXPECT_EQ(n->rec().States(id), "a:0:|b:0:|c:0:");
  // The singleton each started with had only its own state.
  const std::string first = nodes_[1]->rec().events().at(0);  // "C <id> b"
  EXPECT_EQ(nodes_[1]->rec().States(std::stoull(first.substr(2), nullptr, 16)),
            "b:0:");
}

TEST_F(MeshTest, StateFollowsOwnItemsTheFlushDelivers) {
  MakeNodes(2);
  ASSERT_TRUE(WaitTogether({0, 1}, "a,b"));
  // Stamped, but not deliverable before b's clock passes it; then b is cut
  // off in the same handler, so a accepts {a} with the item undelivered,
  // and its state must already count it.
  nodes_[0]->Run([](Mesh& m) {
    ASSERT_TRUE(m.Submit(wire::Service::kAgreed, 1, "a-0"));
    ASSERT_TRUE(m.Submit(wire::Service::kAgreed, 1, "a-1"));
    m.TestBlockPeer("b", true);
  });
  ASSERT_TRUE(WaitTogether({0}, "a"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  EXPECT_EQ(nodes_[0]->rec().States(id), "a:2:a-0,a-1");
  // And the flush did deliver them, before the new configuration.
  auto ev = nodes_[0]->rec().events();
  auto c = std::find(ev.begin(), ev.end(), fmt::format("C {:x} a", id));
  ASSERT_NE(c, ev.end());
  EXPECT_NE(std::find(ev.begin(), c, "D a a-1"), c);
  nodes_[0]->Run([](Mesh& m) { m.TestBlockPeer("b", false); });
  ASSERT_TRUE(WaitTogether({0, 1}, "a,b"));
  const uint64_t merged = nodes_[0]->rec().conf().id;
  EXPECT_EQ(nodes_[0]->rec().States(merged), "a:0:|b:0:");
  EXPECT_EQ(nodes_[1]->rec().States(merged), "a:0:|b:0:");
}

TEST_F(MeshTest, SafeItemsOnlyAfterEveryoneHasThem) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  for (int i = 0; i < 20; ++i) {
    nodes_[i % 3]->Submit(nodes_[i % 3]->name() + "-" + std::to_string(i),
                          wire::Service::kSafe);
  }
  ASSERT_TRUE(WaitDelivered({0, 1, 2}, 20));
  EXPECT_EQ(nodes_[0]->rec().Since(id), nodes_[1]->rec().Since(id));
  EXPECT_EQ(nodes_[0]->rec().Since(id), nodes_[2]->rec().Since(id));
}

TEST_F(MeshTest, KilledServerLeavesWithinASecondAndRejoins) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  for (int i = 0; i < 30; ++i) {
    for (auto& n : nodes_) n->Submit(n->name() + "-" + std::to_string(i));
  }
  ASSERT_TRUE(WaitDelivered({0, 1, 2}, 90));
  auto t0 = std::chrono::steady_clock::now();
  nodes_[2]->Kill();
  ASSERT_TRUE(WaitTogether({0, 1}, "a,b", 3000ms));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 1500ms);
  // Virtual synchrony: a and b saw the same things, including the
  // transitional signal {a,b} before the new configuration.
  auto a = nodes_[0]->rec().Since(id);
  auto b = nodes_[1]->rec().Since(id);
  EXPECT_EQ(a, b);
  ASSERT_GE(a.size(), 2u);
  EXPECT_EQ(a[a.size() - 2].substr(0, 2), "T ");
  EXPECT_NE(a[a.size() - 2].find(" a,b"), std::string::npos);
  // Ordering goes on in {a,b}.
  const uint64_t id2 = nodes_[0]->rec().conf().id;
  for (int i = 100; i < 120; ++i) {
    nodes_[0]->Submit("a-" + std::to_string(i));
    nodes_[1]->Submit("b-" + std::to_string(i));
  }
  ASSERT_TRUE(WaitDelivered({0, 1}, 90 + 40));
  EXPECT_EQ(nodes_[0]->rec().Since(id2), nodes_[1]->rec().Since(id2));
  // Restart c with a new incarnation: one configuration of three again.
  Restart(2);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c", 5000ms));
  const uint64_t id3 = nodes_[0]->rec().conf().id;
  EXPECT_GT(id3 >> 16, id2 >> 16);
  for (int i = 200; i < 210; ++i) {
    for (auto& n : nodes_) n->Submit(n->name() + "-" + std::to_string(i));
  }
  ASSERT_TRUE(WaitFor([&] {
    return CountDeliveries(nodes_[2]->rec().Since(id3)) == 30 &&
           CountDeliveries(nodes_[0]->rec().Since(id3)) == 30 &&
           CountDeliveries(nodes_[1]->rec().Since(id3)) == 30;
  }));
  EXPECT_EQ(nodes_[0]->rec().Since(id3), nodes_[2]->rec().Since(id3));
  EXPECT_EQ(nodes_[1]->rec().Since(id3), nodes_[2]->rec().Since(id3));
}

TEST_F(MeshTest, LinkCutAndRestoredLosesNothing) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  for (int i = 0; i < 200; ++i) {
    for (auto& n : nodes_) n->Submit(n->name() + "-" + std::to_string(i));
    if (i == 50 || i == 120) {
      nodes_[0]->Run([](Mesh& m) { m.TestCloseLink("b"); });
    }
    if (i == 90) nodes_[2]->Run([](Mesh& m) { m.TestCloseLink("a"); });
  }
  ASSERT_TRUE(WaitDelivered({0, 1, 2}, 600));
  std::this_thread::sleep_for(200ms);  // let any duplicate show up
  auto a = nodes_[0]->rec().Since(id);
  EXPECT_EQ(CountDeliveries(a), 600u);
  EXPECT_EQ(a, nodes_[1]->rec().Since(id));
  EXPECT_EQ(a, nodes_[2]->rec().Since(id));
  ExpectFifo(a);
  // No configuration change happened.
  EXPECT_EQ(nodes_[0]->rec().conf().id, id);
}

TEST_F(MeshTest, PartitionThenMerge) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  for (int i = 0; i < 10; ++i) {
    for (auto& n : nodes_) n->Submit(n->name() + "-" + std::to_string(i));
  }
  ASSERT_TRUE(WaitDelivered({0, 1, 2}, 30));
  // {a} | {b,c}
  nodes_[0]->Run([](Mesh& m) {
    m.TestBlockPeer("b", true);
    m.TestBlockPeer("c", true);
  });
  nodes_[1]->Run([](Mesh& m) { m.TestBlockPeer("a", true); });
  nodes_[2]->Run([](Mesh& m) { m.TestBlockPeer("a", true); });
  ASSERT_TRUE(WaitTogether({1, 2}, "b,c", 4000ms));
  ASSERT_TRUE(WaitTogether({0}, "a", 4000ms));
  const uint64_t bc = nodes_[1]->rec().conf().id;
  EXPECT_NE(bc, nodes_[0]->rec().conf().id);
  // Both sides go on.
  for (int i = 10; i < 20; ++i) {
    for (auto& n : nodes_) n->Submit(n->name() + "-" + std::to_string(i));
  }
  ASSERT_TRUE(WaitDelivered({0}, 40));
  ASSERT_TRUE(WaitDelivered({1, 2}, 50));
  EXPECT_EQ(nodes_[1]->rec().Since(bc), nodes_[2]->rec().Since(bc));
  EXPECT_EQ(CountDeliveries(nodes_[1]->rec().Since(bc)), 20u);
  // Heal.
  nodes_[0]->Run([](Mesh& m) {
    m.TestBlockPeer("b", false);
    m.TestBlockPeer("c", false);
  });
  nodes_[1]->Run([](Mesh& m) { m.TestBlockPeer("a", false); });
  nodes_[2]->Run([](Mesh& m) { m.TestBlockPeer("a", false); });
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c", 5000ms));
  const uint64_t abc = nodes_[0]->rec().conf().id;
  for (int i = 20; i < 30; ++i) {
    for (auto& n : nodes_) n->Submit(n->name() + "-" + std::to_string(i));
  }
  ASSERT_TRUE(WaitFor([&] {
    for (auto& n : nodes_) {
      if (CountDeliveries(n->rec().Since(abc)) != 30) return false;
    }
    return true;
  }));
  EXPECT_EQ(nodes_[0]->rec().Since(abc), nodes_[1]->rec().Since(abc));
  EXPECT_EQ(nodes_[0]->rec().Since(abc), nodes_[2]->rec().Since(abc));
}

TEST_F(MeshTest, PeerRemovedAndAddedAtRuntime) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  auto reload = [&](int i, std::vector<PeerSpec> peers) {
    Status st;
    nodes_[i]->Run([&](Mesh& m) {
      MeshOptions o = BaseOptions();
      o.self = nodes_[i]->name();
      o.incarnation = nodes_[i]->incarnation();
      o.peers = peers;
      st = m.UpdateOptions(o);
    });
    return st;
  };
  // self/incarnation cannot change.
  nodes_[0]->Run([&](Mesh& m) {
    MeshOptions o = BaseOptions();
    o.self = "a";
    o.incarnation = 1;
    o.peers = peers_;
    EXPECT_FALSE(m.UpdateOptions(o).ok());
  });
  ASSERT_TRUE(reload(0, {peers_[0], peers_[1]}).ok());
  ASSERT_TRUE(reload(1, {peers_[0], peers_[1]}).ok());
  ASSERT_TRUE(reload(2, {peers_[2]}).ok());
  ASSERT_TRUE(WaitTogether({0, 1}, "a,b", 3000ms));
  ASSERT_TRUE(WaitTogether({2}, "c", 3000ms));
  // And back.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reload(i, peers_).ok());
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c", 5000ms));
}

// Sends HELLO(role=peer, name) from `from_ip` to node 0 and returns the
// ERROR code received (0 if none within a second).
int HelloFrom(const std::string& from_ip, uint16_t port,
              const std::string& name) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.open(asio::ip::tcp::v4());
  s.bind(asio::ip::tcp::endpoint(asio::ip::make_address(from_ip), 0));
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  timeval tv{1, 0};
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  wire::Hello h;
  h.role = wire::Role::kPeer;
  h.name = name;
  h.incarnation = 7;
  std::string out;
  wire::EncodeHello(h, &out);
  asio::write(s, asio::buffer(out));
  wire::FrameDecoder dec(1 << 20);
  char buf[4096];
  for (int i = 0; i < 10; ++i) {
    std::error_code ec;
    size_t n = s.read_some(asio::buffer(buf), ec);
    if (ec) return 0;
    dec.Append(std::string_view(buf, n));
    wire::Frame f;
    while (dec.Next(&f) == wire::FrameDecoder::Result::kFrame) {
      if (f.header.type == wire::FrameType::kError) {
        wire::Error e;
        if (wire::DecodeError(f, &e).ok()) return static_cast<int>(e.code);
      }
    }
  }
  return 0;
}

TEST_F(MeshTest, NonPeersAreRefused) {
  MakeNodes(2);
  ASSERT_TRUE(WaitTogether({0, 1}, "a,b"));
  const int kNotAllowed = static_cast<int>(wire::ErrorCode::kNotAllowed);
  // Unknown name.
  EXPECT_EQ(HelloFrom("127.0.0.9", nodes_[0]->port(), "zed"), kNotAllowed);
  // Known name, wrong source address.
  EXPECT_EQ(HelloFrom("127.0.0.9", nodes_[0]->port(), "b"), kNotAllowed);
  // Our own name.
  EXPECT_EQ(HelloFrom("127.0.0.1", nodes_[0]->port(), "a"), kNotAllowed);
  // The real configuration is untouched.
  EXPECT_TRUE(Together({0, 1}, "a,b"));
}

// A server whose loop stalls (SIGSTOP-like) for less than idle_timeout
// while another floods it: the stuck link is closed by max_backlog, and
// after the stall the thousands of unacknowledged frames must be resent at
// the pace the peer reads (not dumped into the new connection, which would
// pass max_backlog again, forever). No configuration change, nothing lost
// or delivered twice.
TEST_F(MeshTest, ShortStallResendsBacklogPacedAndLosesNothing) {
  base_.link.idle_timeout = 4000ms;
  base_.link.max_backlog = 200;
  base_.link.tcpbuf_size = 65536;
  rcvbuf_ = 65536;
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  nodes_[2]->Stall(1200ms);
  // ~4 MB from a: far more than c's socket buffers plus max_backlog frames.
  const std::string pad(1000, '.');
  constexpr int kItems = 4000;
  for (int i = 0; i < kItems; ++i) {
    nodes_[0]->Submit(pad + "a-" + std::to_string(i));
    if (i % 40 == 0) nodes_[1]->Submit("b-" + std::to_string(i));
  }
  const size_t total = kItems + kItems / 40;
  ASSERT_TRUE(WaitDelivered({0, 1, 2}, total, 20000ms))
      << nodes_[0]->rec().delivered() << " " << nodes_[1]->rec().delivered()
      << " " << nodes_[2]->rec().delivered();
  std::this_thread::sleep_for(200ms);  // let any duplicate show up
  auto a = nodes_[0]->rec().Since(id);
  EXPECT_EQ(CountDeliveries(a), total);
  EXPECT_EQ(CountDuplicates(a), 0u);
  EXPECT_TRUE(a == nodes_[1]->rec().Since(id));
  EXPECT_TRUE(a == nodes_[2]->rec().Since(id));
  ExpectFifo(a);
  EXPECT_EQ(nodes_[0]->rec().conf().id, id);
  EXPECT_EQ(nodes_[2]->rec().conf().id, id);
}

// The same stall, longer than idle_timeout: c leaves, a and b go on with
// every item exactly once; a drops what it could not send to c (c is out
// of its configuration) and restarts the channel; when c's loop runs again
// the three converge to one configuration and order together.
TEST_F(MeshTest, LongStallLeavesThenRejoins) {
  base_.link.max_backlog = 200;
  base_.link.tcpbuf_size = 65536;
  rcvbuf_ = 65536;
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  nodes_[2]->Stall(2500ms);
  const std::string pad(1000, '.');
  constexpr int kItems = 3000;
  for (int i = 0; i < kItems; ++i) {
    nodes_[0]->Submit(pad + "a-" + std::to_string(i));
    if (i % 30 == 0) nodes_[1]->Submit("b-" + std::to_string(i));
  }
  const size_t total = kItems + kItems / 30;
  ASSERT_TRUE(WaitTogether({0, 1}, "a,b", 5000ms));
  ASSERT_TRUE(WaitDelivered({0, 1}, total, 10000ms));
  auto a = nodes_[0]->rec().Since(id);
  EXPECT_EQ(CountDeliveries(a), total);
  EXPECT_EQ(CountDuplicates(a), 0u);
  EXPECT_TRUE(a == nodes_[1]->rec().Since(id));
  ExpectFifo(a);
  // c comes back.
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c", 10000ms))
      << Members(nodes_[2]->rec().conf().members);
  const uint64_t id3 = nodes_[0]->rec().conf().id;
  for (int i = 0; i < 10; ++i) {
    for (auto& n : nodes_) n->Submit(n->name() + "-x" + std::to_string(i));
  }
  ASSERT_TRUE(WaitFor([&] {
    for (auto& n : nodes_) {
      if (CountDeliveries(n->rec().Since(id3)) != 30) return false;
    }
    return true;
  }));
  EXPECT_EQ(nodes_[0]->rec().Since(id3), nodes_[1]->rec().Since(id3));
  EXPECT_EQ(nodes_[0]->rec().Since(id3), nodes_[2]->rec().Since(id3));
  EXPECT_EQ(CountDuplicates(nodes_[2]->rec().events()), 0u);
}

// Finding F13 (docs/fault-injection.md): a safe item routed to one server
// was known to the others by number only, so they neither waited for it to
// be stable nor put the transitional signal in front of it, as its holder
// did; two servers moving on together then delivered the items after it on
// different sides of the signal. A routed safe item reaches the others as a
// header without its body (docs/mesh.md §3.1).
TEST_F(MeshTest, SafeItemHoldsBackEveryMemberAlike) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  nodes_[1]->Submit("only-b S", wire::Service::kSafe, kSubmitRouted);
  std::this_thread::sleep_for(100ms);  // a and c know S; c's clock >= ts(S)
  nodes_[2]->Submit("c-1");            // agreed, ordered after S
  ASSERT_TRUE(WaitDelivered({0}, 1, 1000ms));
  nodes_[2]->Kill();
  ASSERT_TRUE(WaitTogether({0, 1}, "a,b"));
  // Whether c-1 came before the transitional signal.
  auto before_signal = [](const std::vector<std::string>& ev) {
    for (const std::string& e : ev) {
      if (e.rfind("T ", 0) == 0) return false;
      if (e == "D c c-1") return true;
    }
    return false;
  };
  const auto a = nodes_[0]->rec().Since(id);
  const auto b = nodes_[1]->rec().Since(id);
  EXPECT_EQ(before_signal(a), before_signal(b))
      << "a: " << Members(a) << "\nb: " << Members(b);
  // b delivered S, before c-1; a (no interest) passed it without a body.
  auto s = std::find(b.begin(), b.end(), "D b only-b S");
  EXPECT_NE(s, b.end()) << Members(b);
  EXPECT_LT(s, std::find(b.begin(), b.end(), "D c c-1")) << Members(b);
  EXPECT_EQ(std::find(a.begin(), a.end(), "D b only-b S"), a.end());
}

// Finding F14 (docs/fault-injection.md): c routes o to b only and then o2
// to a and b, but b's link to c is down, and c dies. a held o by number
// only, so the flush could give b only o's number with o2's body: b
// delivered o2 with a hole before it in c's FIFO stream. c now gives a
// member the bodies of its earlier items that were skipped for it and are
// not yet stable whenever it sends it an item with a body, so whoever
// holds o2 holds o.
TEST_F(MeshTest, RoutedBodyLostWithItsSenderLeavesNoHole) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  nodes_[2]->Run([](Mesh& m) {
    m.TestBlockPeer("b", true);
    ASSERT_TRUE(m.Submit(wire::Service::kFifo, 1, "only-b o", kSubmitRouted));
    ASSERT_TRUE(m.Submit(wire::Service::kFifo, 1, "o2", kSubmitRouted));
  });
  // The batches went out: their flush waits for a turn that adds nothing
  // (Mesh::Impl::PostFlushBatches), the first empty Run's.
  nodes_[2]->Run([](Mesh&) {});
  nodes_[2]->Run([](Mesh&) {});
  nodes_[2]->Kill();
  ASSERT_TRUE(WaitTogether({0, 1}, "a,b"));
  const auto b = nodes_[1]->rec().Since(id);
  auto o = std::find(b.begin(), b.end(), "D c only-b o");
  auto o2 = std::find(b.begin(), b.end(), "D c o2");
  ASSERT_NE(o2, b.end()) << Members(b);
  EXPECT_LT(o, o2) << "b delivered c's o2 without o: " << Members(b);
}

// A peer whose HELLO is refused with NOT_ALLOWED (the other side's reload
// removed it from its peers) is unreachable at once, like a refused
// connect(), not after idle_timeout; it keeps redialling and comes back
// when re-added.
TEST_F(MeshTest, RefusedPeerIsUnreachableAtOnce) {
  base_.link.idle_timeout = 20000ms;  // only the refusal can be quick
  MakeNodes(2);
  ASSERT_TRUE(WaitTogether({0, 1}, "a,b"));
  ASSERT_TRUE(Reload(1, {peers_[1]}).ok());
  ASSERT_TRUE(WaitTogether({1}, "b", 3000ms));
  ASSERT_TRUE(WaitTogether({0}, "a", 3000ms))
      << "a did not drop b after its refusal";
  bool reachable = true;
  nodes_[0]->Run([&](Mesh& m) {
    for (const LinkInfo& l : m.links()) {
      if (l.peer == "b") reachable = l.reachable;
    }
  });
  EXPECT_FALSE(reachable);
  // a still dials b every reconnect_interval: re-adding a is enough.
  ASSERT_TRUE(Reload(1, peers_).ok());
  ASSERT_TRUE(WaitTogether({0, 1}, "a,b", 5000ms));
  for (int i = 0; i < 5; ++i) {
    for (auto& n : nodes_) n->Submit(n->name() + "-" + std::to_string(i));
  }
  const uint64_t id = nodes_[0]->rec().conf().id;
  ASSERT_TRUE(WaitFor([&] {
    return CountDeliveries(nodes_[0]->rec().Since(id)) == 10 &&
           CountDeliveries(nodes_[1]->rec().Since(id)) == 10;
  }));
  EXPECT_EQ(nodes_[0]->rec().Since(id), nodes_[1]->rec().Since(id));
}

// Position of event `e` in `events` (npos if absent).
size_t Pos(const std::vector<std::string>& events, const std::string& e) {
  auto it = std::find(events.begin(), events.end(), e);
  return it == events.end() ? std::string::npos
                            : static_cast<size_t>(it - events.begin());
}

bool Has(Node& n, uint64_t conf_id, const std::string& e) {
  return Pos(n.rec().Since(conf_id), e) != std::string::npos;
}

// `node`'s LinkInfo for `peer` (default if it has no link to it).
LinkInfo LinkTo(Node& node, const std::string& peer) {
  LinkInfo info;
  node.Run([&](Mesh& m) {
    for (const LinkInfo& l : m.links()) {
      if (l.peer == peer) info = l;
    }
  });
  return info;
}

// CLOCK frames `node` sent to `peer` so far.
uint64_t ClocksSent(Node& node, const std::string& peer) {
  return LinkTo(node, peer).clocks_sent;
}

// `node` sent `peer` at most one CLOCK per kClockPace since it had sent
// `before` at `start`, plus a few for the start and the end.
void ExpectClocksPaced(Node& node, const std::string& peer, uint64_t before,
                       std::chrono::steady_clock::time_point start) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  const uint64_t sent = ClocksSent(node, peer) - before;
  EXPECT_LE(sent, static_cast<uint64_t>(ms / kClockPace.count() + 10))
      << node.name() << " sent " << sent << " CLOCKs to " << peer << " in "
      << ms << " ms";
}

// Whether every node recorded every event of `events` since `conf_id`.
bool AllHave(const std::vector<std::unique_ptr<Node>>& nodes, uint64_t conf_id,
             const std::vector<std::string>& events) {
  for (const auto& n : nodes) {
    for (const auto& e : events) {
      if (!Has(*n, conf_id, e)) return false;
    }
  }
  return true;
}

// The fifo fast path (docs/mesh.md §3.2): a fifo item is delivered on
// receipt, without the clock round an agreed item waits for. With c's CLOCK
// frames held back, a and b cannot deliver b's agreed item (they never hear
// a stamp of c's at or above it), but a's fifo items reach all three. A
// fifo item stamped behind an agreed item of its origin stays behind it
// (per-sender order across services).
TEST_F(MeshTest, FifoIsDeliveredBeforeTheClockRound) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  nodes_[2]->Run([](Mesh& m) { m.TestHoldClocks(true); });
  nodes_[1]->Submit("b-0", wire::Service::kAgreed);
  nodes_[0]->Submit("a-0", wire::Service::kFifo);
  nodes_[0]->Submit("a-1", wire::Service::kFifo);
  ASSERT_TRUE(WaitFor([&] {
    return AllHave(nodes_, id, {"D a a-0", "D a a-1"});
  })) << "fifo items not delivered while c holds its clock";
  std::this_thread::sleep_for(300ms);
  for (int i : {0, 1}) {
    EXPECT_FALSE(Has(*nodes_[i], id, "D b b-0"))
        << nodes_[i]->name() << " delivered an agreed item without c's clock";
  }
  // Behind a's own undelivered agreed item, a's fifo item waits too.
  nodes_[0]->Submit("a-2", wire::Service::kAgreed);
  nodes_[0]->Submit("a-3", wire::Service::kFifo);
  std::this_thread::sleep_for(300ms);
  for (int i : {0, 1}) {
    EXPECT_FALSE(Has(*nodes_[i], id, "D a a-2")) << nodes_[i]->name();
    EXPECT_FALSE(Has(*nodes_[i], id, "D a a-3")) << nodes_[i]->name();
  }
  nodes_[2]->Run([](Mesh& m) { m.TestHoldClocks(false); });
  // Then fifo, agreed, fifo again: each behind the one before.
  nodes_[0]->Submit("a-4", wire::Service::kFifo);
  nodes_[0]->Submit("a-5", wire::Service::kAgreed);
  nodes_[0]->Submit("a-6", wire::Service::kFifo);
  ASSERT_TRUE(WaitFor([&] {
    for (auto& n : nodes_) {
      if (CountDeliveries(n->rec().Since(id)) < 8) return false;
    }
    return true;
  }));
  std::vector<std::string> agreed_order;
  for (auto& n : nodes_) {
    auto ev = n->rec().Since(id);
    EXPECT_EQ(CountDeliveries(ev), 8u) << n->name();
    EXPECT_EQ(CountDuplicates(ev), 0u) << n->name();
    ExpectFifo(ev);  // a-0 .. a-6 in order, across services
    std::vector<std::string> agreed;
    for (const auto& e : ev) {
      if (e == "D b b-0" || e == "D a a-2" || e == "D a a-5") {
        agreed.push_back(e);
      }
    }
    if (agreed_order.empty()) agreed_order = agreed;
    EXPECT_EQ(agreed, agreed_order) << n->name();
  }
}

// A membership item is never overtaken: a fifo item is delivered in the
// membership epoch its origin stamped it in, at every member. With c
// stalled nobody can deliver b's membership item (it waits for c's mark),
// so a's fifo item f1, stamped meanwhile, is delivered before it at a and
// b at once, and at c too; a's f2, stamped when a delivered the membership
// item, comes after it everywhere.
TEST_F(MeshTest, MembershipItemIsNeverOvertaken) {
  base_.link.idle_timeout = 5000ms;  // the stall must not look like a loss
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  Node& a = *nodes_[0];
  a.Run([&a](Mesh& m) {
    Mesh* mp = &m;
    a.rec().on_deliver = [mp](const std::string& body) {
      if (body == "m-b") mp->Submit(wire::Service::kFifo, 1, "a-f2");
    };
  });
  nodes_[2]->Stall(1000ms);
  nodes_[1]->Submit("m-b", wire::Service::kAgreed, kSubmitMembership);
  // m-b reaches a meanwhile; nobody can deliver it while c is stalled and
  // owes its mark.
  std::this_thread::sleep_for(100ms);
  nodes_[0]->Submit("a-f1", wire::Service::kFifo);
  ASSERT_TRUE(WaitFor(
      [&] { return Has(a, id, "D a a-f1") && Has(*nodes_[1], id, "D a a-f1"); },
      700ms))
      << "a fifo item waited for a membership item it precedes";
  EXPECT_FALSE(Has(a, id, "D b m-b"));
  EXPECT_FALSE(Has(*nodes_[1], id, "D b m-b"));
  ASSERT_TRUE(WaitFor([&] { return AllHave(nodes_, id, {"D a a-f2"}); }));
  for (auto& n : nodes_) {
    auto ev = n->rec().Since(id);
    const size_t f1 = Pos(ev, "D a a-f1");
    const size_t m = Pos(ev, "D b m-b");
    const size_t f2 = Pos(ev, "D a a-f2");
    ASSERT_NE(f1, std::string::npos) << n->name();
    ASSERT_NE(m, std::string::npos) << n->name();
    EXPECT_LT(f1, m) << n->name() << ": a-f1 after the membership item";
    EXPECT_LT(m, f2) << n->name() << ": a-f2 before the membership item";
    EXPECT_EQ(CountDeliveries(ev), 3u) << n->name();
  }
  a.Run([&a](Mesh&) { a.rec().on_deliver = nullptr; });
}

// Every server submits fifo, agreed and membership items at once (one node
// stalls now and then): every fifo item is delivered in the same
// membership epoch (between the same two membership items) at every
// server, membership and agreed items in one order, and each origin's
// items in submission order across services.
TEST_F(MeshTest, FifoItemsKeepTheirMembershipEpochEverywhere) {
  base_.link.idle_timeout = 5000ms;
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  std::set<std::string> membership, agreed;
  std::map<std::string, int> seq;
  size_t total = 0;
  for (int r = 0; r < 60; ++r) {
    for (auto& n : nodes_) {
      for (int k = 0; k < 3; ++k) {
        const std::string body =
            n->name() + "-" + std::to_string(seq[n->name()]++);
        const int pick = (r * 7 + k * 3 + n->name()[0]) % 11;
        if (pick == 0) {
          n->Submit(body, wire::Service::kAgreed, kSubmitMembership);
          membership.insert("D " + n->name() + " " + body);
        } else if (pick == 5) {
          n->Submit(body, wire::Service::kAgreed);
          agreed.insert("D " + n->name() + " " + body);
        } else {
          n->Submit(body, wire::Service::kFifo);
        }
        ++total;
      }
    }
    if (r % 10 == 4) nodes_[r % 3]->Stall(40ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(r % 4));
  }
  ASSERT_TRUE(WaitFor([&] {
    for (auto& n : nodes_) {
      if (CountDeliveries(n->rec().Since(id)) < total) return false;
    }
    return true;
  }));
  std::map<std::string, int> epoch_of;  // fifo item -> epoch at node a
  std::vector<std::string> ordered0;
  for (auto& n : nodes_) {
    auto ev = n->rec().Since(id);
    EXPECT_EQ(CountDeliveries(ev), total) << n->name();
    EXPECT_EQ(CountDuplicates(ev), 0u) << n->name();
    ExpectFifo(ev);
    int epoch = 0;
    std::vector<std::string> ordered;
    for (const auto& e : ev) {
      if (e.rfind("D ", 0) != 0) continue;
      if (membership.count(e)) {
        ++epoch;
        ordered.push_back(e);
        continue;
      }
      if (agreed.count(e)) {
        ordered.push_back(e);
        continue;
      }
      auto [it, fresh] = epoch_of.emplace(e, epoch);
      if (!fresh) {
        EXPECT_EQ(it->second, epoch)
            << n->name() << ": " << e << " delivered in another epoch";
      }
    }
    EXPECT_EQ(epoch, static_cast<int>(membership.size())) << n->name();
    if (ordered0.empty()) ordered0 = ordered;
    EXPECT_EQ(ordered, ordered0) << n->name();
  }
}

// The flush (docs/mesh.md §3.2): a membership item whose departed member's
// mark is not within the cut is not delivered in the regular part. c
// stalls (it never sees b's membership item, so it never marks it) and is
// killed; a's fifo item stamped while the membership item waits is
// delivered at once. a and b then deliver, alike: c's and a's fast items
// of the ending epoch, the transitional signal, the membership item.
TEST_F(MeshTest, FlushPutsAMembershipItemWithoutADepartedMarkAfterTheSignal) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  nodes_[2]->Submit("c-f", wire::Service::kFifo);
  ASSERT_TRUE(WaitFor([&] {
    return Has(*nodes_[0], id, "D c c-f") && Has(*nodes_[1], id, "D c c-f");
  }));
  nodes_[2]->Stall(600ms);
  nodes_[1]->Submit("m-b", wire::Service::kAgreed, kSubmitMembership);
  std::this_thread::sleep_for(50ms);
  nodes_[0]->Submit("a-f", wire::Service::kFifo);
  ASSERT_TRUE(WaitFor(
      [&] {
        return Has(*nodes_[0], id, "D a a-f") && Has(*nodes_[1], id, "D a a-f");
      },
      500ms))
      << "a fifo item waited for a membership item it precedes";
  nodes_[2]->Kill();  // after its stall: it never handles m-b
  ASSERT_TRUE(WaitTogether({0, 1}, "a,b"));
  const std::vector<std::string> want = {
      fmt::format("C {:x} a,b,c", id), "D c c-f", "D a a-f",
      fmt::format("T {:x} a,b", id), "D b m-b"};
  for (int i : {0, 1}) {
    auto ev = nodes_[i]->rec().Since(id);
    ASSERT_GE(ev.size(), want.size()) << Members(ev);
    ev.resize(want.size());
    EXPECT_EQ(ev, want) << nodes_[i]->name();
  }
}

// The flush (docs/mesh.md §3.2), a membership item behind an agreed item
// that becomes deliverable only in the flush, with a fast item of the same
// origin between them. d's frames to b are held, so b never hears d's
// stamps: a, c and d deliver a's agreed item a-A and then its fast item
// a-F, b holds both (a-F waits behind a-A). c's membership item m-c then
// gets the marks of a, c and d, but not b's (b cannot reach it), so nobody
// delivers it. d dies. In the flush b delivers a-A, which frees a-F, and
// reaches m-c with d's mark in the cut: a-F must be delivered before the
// barrier check, or b ends its regular part at m-c while a and c (which
// delivered a-F before) deliver m-c before the transitional signal — two
// members of one transitional set in different views (fixed in df787b6).
TEST_F(MeshTest, FlushDeliversFastItemsFreedInItBeforeAMembershipItem) {
  base_.link.idle_timeout = 5000ms;  // b must not miss d's silence
  MakeNodes(4);
  ASSERT_TRUE(WaitTogether({0, 1, 2, 3}, "a,b,c,d"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  Node& a = *nodes_[0];
  Node& b = *nodes_[1];
  Node& c = *nodes_[2];
  Node& d = *nodes_[3];
  d.Run([](Mesh& m) { m.TestHoldFramesTo("b", true); });
  a.Submit("a-A", wire::Service::kAgreed);
  ASSERT_TRUE(WaitFor([&] {
    return Has(a, id, "D a a-A") && Has(c, id, "D a a-A") &&
           Has(d, id, "D a a-A");
  }));
  // Delivered at its origin: a-F goes on the fast path.
  a.Submit("a-F", wire::Service::kFifo);
  ASSERT_TRUE(WaitFor([&] {
    return Has(a, id, "D a a-F") && Has(c, id, "D a a-F") &&
           Has(d, id, "D a a-F");
  }));
  // d sends no item but its mark for m-c.
  const uint64_t a_from_d = LinkTo(a, "d").items_received;
  const uint64_t c_from_d = LinkTo(c, "d").items_received;
  c.Submit("m-c", wire::Service::kAgreed, kSubmitMembership);
  ASSERT_TRUE(WaitFor([&] {
    return LinkTo(a, "d").items_received > a_from_d &&
           LinkTo(c, "d").items_received > c_from_d;
  })) << "d's mark for m-c did not reach a and c";
  // Were b's mark sent, it would have been by now.
  std::this_thread::sleep_for(100ms);
  for (auto* n : {&a, &b, &c, &d}) {
    ASSERT_FALSE(Has(*n, id, "D c m-c"))
        << n->name() << " delivered m-c without b's mark";
  }
  ASSERT_FALSE(Has(b, id, "D a a-A")) << "b heard d's stamps";
  d.Kill();
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const std::vector<std::string> want = {fmt::format("C {:x} a,b,c,d", id),
                                         "D a a-A", "D a a-F", "D c m-c",
                                         fmt::format("T {:x} a,b,c", id)};
  for (auto* n : {&a, &b, &c}) {
    auto ev = n->rec().Since(id);
    ASSERT_GE(ev.size(), want.size()) << n->name() << ": " << Members(ev);
    ev.resize(want.size());
    EXPECT_EQ(ev, want) << n->name();
  }
}

// CLOCK news only the fast path made is paced (kClockPace, docs/mesh.md
// §3): while a streams fifo items, b and c (whose clocks rise with every
// item) send each other about one CLOCK per kClockPace, not one per loop
// turn; an agreed item still gets its clock round at once.
TEST_F(MeshTest, FastPathClockNewsIsPaced) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  const uint64_t before = ClocksSent(*nodes_[1], "c");
  const auto start = std::chrono::steady_clock::now();
  constexpr int kItems = 2000;
  for (int i = 0; i < kItems; ++i) {
    nodes_[0]->Submit("a-" + std::to_string(i), wire::Service::kFifo);
    // Spread over many loop turns of b.
    if (i % 20 == 19) std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(WaitFor([&] {
    return CountDeliveries(nodes_[1]->rec().Since(id)) == kItems &&
           CountDeliveries(nodes_[2]->rec().Since(id)) == kItems;
  }));
  ExpectClocksPaced(*nodes_[1], "c", before, start);
  // Agreed items are not paced: each needs b's and c's stamps at once.
  const auto t0 = std::chrono::steady_clock::now();
  nodes_[0]->Submit("a-agreed", wire::Service::kAgreed);
  ASSERT_TRUE(WaitFor([&] { return AllHave(nodes_, id, {"D a a-agreed"}); }));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
}

// Over long paths the agreed order's CLOCK news goes out at most once per
// a sixteenth of the shortest round trip, capped at kClockPace
// (kClockGapDivisor), instead of once per loop turn on every link; items
// are delivered in one order all the same.
TEST_F(MeshTest, AgreedClockNewsIsPacedOverLongPaths) {
  MakeNodes(3);
  ASSERT_TRUE(WaitTogether({0, 1, 2}, "a,b,c"));
  const uint64_t id = nodes_[0]->rec().conf().id;
  // b's paths 32 ms long: one CLOCK per min(2 ms, kClockPace) at most,
  // plus a few for the start and the end (on loopback b sends one per turn:
  // 411 in 90 ms here).
  nodes_[1]->Run([](Mesh& m) {
    m.TestSetRtt("a", 32000);
    m.TestSetRtt("c", 32000);
  });
  const uint64_t before = ClocksSent(*nodes_[1], "c");
  // A stream of agreed items from a, in many short loop turns of b.
  constexpr size_t kItems = 1500;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kItems; ++i) {
    nodes_[0]->Submit("a-" + std::to_string(i), wire::Service::kAgreed);
    if (i % 5 == 4) std::this_thread::sleep_for(200us);
  }
  ASSERT_TRUE(WaitFor(
      [&] { return CountDeliveries(nodes_[2]->rec().Since(id)) == kItems; }));
  ExpectClocksPaced(*nodes_[1], "c", before, start);
  ASSERT_TRUE(WaitFor([&] {
    return CountDeliveries(nodes_[0]->rec().Since(id)) == kItems &&
           CountDeliveries(nodes_[1]->rec().Since(id)) == kItems;
  }));
  EXPECT_EQ(nodes_[0]->rec().Since(id), nodes_[1]->rec().Since(id));
  EXPECT_EQ(nodes_[0]->rec().Since(id), nodes_[2]->rec().Since(id));
}

}  // namespace
}  // namespace msgc::mesh
