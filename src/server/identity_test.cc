#include "server/identity.h"

#include <gtest/gtest.h>

namespace msgc::server {
namespace {

config::Peer P(std::string name, std::string host,
               std::optional<uint16_t> port = std::nullopt) {
  config::Peer p;
  p.name = std::move(name);
  p.host = std::move(host);
  p.port = port;
  return p;
}

asio::ip::address A(const char* s) { return asio::ip::make_address(s); }

const std::vector<config::Peer> kPeers = {P("db1", "10.0.0.1"),
                                          P("db2", "10.0.0.2", 5000),
                                          P("web", "web.example.com")};

TEST(IdentityTest, NodeFlagIsCaseInsensitive) {
  IdentityInput in;
  in.node_flag = "DB2";
  Identity id;
  ASSERT_TRUE(ResolveIdentity(kPeers, 4809, in, &id).ok());
  EXPECT_EQ(id.node, "db2");
  EXPECT_TRUE(id.in_peers);
  EXPECT_EQ(id.port, 5000);
}

TEST(IdentityTest, NodeFlagNotInPeersIsAnError) {
  IdentityInput in;
  in.node_flag = "db9";
  in.host_names = {"db1"};  // not consulted once --node is given
  Identity id;
  Status s = ResolveIdentity(kPeers, 4809, in, &id);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("db9"), std::string::npos) << s.message();
}

TEST(IdentityTest, LongOrShortHostName) {
  IdentityInput in;
  in.host_names = {"DB1.example.com"};
  Identity id;
  ASSERT_TRUE(ResolveIdentity(kPeers, 4809, in, &id).ok());
  EXPECT_EQ(id.node, "db1");
  EXPECT_EQ(id.port, 4809);  // no explicit port: msgc_server.port
}

TEST(IdentityTest, LocalAddressMatchesAndHostNamesAreResolved) {
  IdentityInput in;
  in.host_names = {"somewhere"};
  in.local_addresses = {A("127.0.0.1"), A("192.168.1.7")};
  in.resolve = [](const std::string& h) {
    return h == "web.example.com"
               ? std::vector<asio::ip::address>{A("192.168.1.7")}
               : std::vector<asio::ip::address>{};
  };
  Identity id;
  ASSERT_TRUE(ResolveIdentity(kPeers, 4809, in, &id).ok());
  EXPECT_EQ(id.node, "web");

  in.local_addresses = {A("::ffff:10.0.0.2")};  // v4-mapped counts as v4
  ASSERT_TRUE(ResolveIdentity(kPeers, 4809, in, &id).ok());
  EXPECT_EQ(id.node, "db2");
}

TEST(IdentityTest, NotFoundSaysWhatWasTried) {
  IdentityInput in;
  in.host_names = {"other.example.com"};
  in.local_addresses = {A("127.0.0.1")};
  in.resolve = [](const std::string&) {
    return std::vector<asio::ip::address>{};
  };
  Identity id;
  Status s = ResolveIdentity(kPeers, 4809, in, &id);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not in peers"), std::string::npos);
  EXPECT_NE(s.message().find("other"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("127.0.0.1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("web.example.com (unresolved)"), std::string::npos)
      << s.message();
}

TEST(IdentityTest, TwoMatchesAreAnError) {
  std::vector<config::Peer> peers = {P("a", "127.0.0.1", 1),
                                     P("b", "127.0.0.1", 2)};
  IdentityInput in;
  in.local_addresses = {A("127.0.0.1")};
  Identity id;
  Status s = ResolveIdentity(peers, 4809, in, &id);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("two peers"), std::string::npos) << s.message();

  std::vector<config::Peer> by_name = {P("h", "10.0.0.1"),
                                       P("h.example.com", "10.0.0.2")};
  in.host_names = {"h.example.com"};
  s = ResolveIdentity(by_name, 4809, in, &id);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("two peers"), std::string::npos) << s.message();
}

TEST(IdentityTest, NoPeers) {
  IdentityInput in;
  in.host_names = {"box.example.com"};
  Identity id;
  ASSERT_TRUE(ResolveIdentity({}, 4809, in, &id).ok());
  EXPECT_EQ(id.node, "box");
  EXPECT_FALSE(id.in_peers);
  in.node_flag = "n7";
  ASSERT_TRUE(ResolveIdentity({}, 4809, in, &id).ok());
  EXPECT_EQ(id.node, "n7");
}

}  // namespace
}  // namespace msgc::server
