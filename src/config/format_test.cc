// Format, Diff, GetOption and SetOption.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace msgc::config {
namespace {

std::shared_ptr<const Config> MustLoad(std::string_view text) {
  const LoadResult r = LoadString(text, "t.conf");
  EXPECT_TRUE(r.ok()) << r.ErrorText();
  return r.ok() ? r.config : std::make_shared<const Config>();
}

constexpr std::string_view kFull = R"(
msgc_server {
  connect_timeout = 0.2  debug_level = info  idle_timeout = 45
  max_message_size = 1000
  peers = [ Node1 = "10.0.0.1"  node2.example.com = "10.0.0.2:4810"
            v6 = "[fe80::1]:1"  bare6 = "fe80::2"  "odd key" = "h" ]
}
msgcserver_listener {
  file_mode = 0600
  listen ":4809" { }
  listen "[::1]:4809" { enable = off  accept_queue_backlog = 7 }
}
msgc_client {
  bind_address = "10.0.0.9"
  server = ( "10.0.0.1:4809" "10.0.0.2:4809" )
}
)";

TEST(FormatTest, WritesEveryOption) {
  EXPECT_EQ(Format(*MustLoad(kFull)), R"(# msgc effective configuration

msgc_server {
  connect_timeout = 0.2
  debug_level = INFO
  enabled = true
  idle_timeout = 45
  keepalive_interval = 5
  max_backlog = 5000
  max_message_size = 1000
  messages_per_iter = 20
  peers = [
    node1 = "10.0.0.1"
    node2.example.com = "10.0.0.2:4810"
    v6 = "[fe80::1]:1"
    bare6 = "fe80::2"
    "odd key" = "h"
  ]
  port = 4809
  reconnect_interval = 5
  # tcpbuf_size = 131072 (not set: client sessions only; peer links autotune)
}

msgcserver_listener {
  accept_queue_backlog = 0
  enable = true
  file_mode = 0600
  listen ":4809" { }
  listen "[::1]:4809" { accept_queue_backlog = 7 enable = false }
}

msgc_client {
  bind_address = "10.0.0.9"
  connect_timeout = 60
  debug_level = ERROR
  enabled = true
  idle_timeout = 30
  keepalive_interval = 5
  max_backlog = 5000
  messages_per_iter = 20
  reconnect_interval = 5
  server = ( "10.0.0.1:4809" "10.0.0.2:4809" )
  tcpbuf_size = 131072
}
)");
}

TEST(FormatTest, RoundTrip) {
  for (std::string_view text :
       {kFull, std::string_view("msgc_server { peers = [ a = \"1.2.3.4\" ] }"),
        std::string_view(""), std::string_view("msgc_client { }"),
        std::string_view("msgcserver_listener { listen \"*:1\" { } }")}) {
    const auto c = MustLoad(text);
    const std::string once = Format(*c);
    const auto again = MustLoad(once);
    EXPECT_EQ(Format(*again), once) << text;
    EXPECT_TRUE(Diff(*c, *again).empty()) << text;
  }
  const std::string d = Format(*DefaultConfig());
  EXPECT_EQ(Format(*MustLoad(d)), d);
}

// msgc_server tcpbuf_size: written out only when set (a dump of the
// effective configuration, loaded again, must not pin the peer links'
// buffers to the default), and a change of "set" alone is a change.
TEST(FormatTest, ServerTcpbufSizeOnlyWhenSet) {
  const auto unset = MustLoad("msgc_server { }");
  EXPECT_FALSE(unset->server.tcpbuf_size_set);
  EXPECT_EQ(unset->server.tcpbuf_size, 131072u);
  EXPECT_EQ(PeerLinkTcpbufSize(unset->server), 0u);
  const std::string text = Format(*unset);
  EXPECT_NE(text.find("  # tcpbuf_size = 131072 (not set"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("\n  tcpbuf_size ="), std::string::npos) << text;
  EXPECT_FALSE(MustLoad(text)->server.tcpbuf_size_set);
  // The value is still there for the client sessions and GetOption.
  std::string v;
  ASSERT_TRUE(GetOption(*unset, "msgc_server", "tcpbuf_size", &v).ok());
  EXPECT_EQ(v, "131072");

  for (const char* value : {"131072", "0", "4194304"}) {
    const auto set =
        MustLoad(std::string("msgc_server { tcpbuf_size = ") + value + " }");
    EXPECT_TRUE(set->server.tcpbuf_size_set) << value;
    EXPECT_EQ(PeerLinkTcpbufSize(set->server), std::stoul(value)) << value;
    const std::string t = Format(*set);
    EXPECT_NE(t.find(std::string("\n  tcpbuf_size = ") + value + "\n"),
              std::string::npos)
        << t;
    EXPECT_EQ(t.find("# tcpbuf_size"), std::string::npos) << t;
    EXPECT_TRUE(MustLoad(t)->server.tcpbuf_size_set) << t;
  }
  // The client scope's tcpbuf_size has no such rule: always written.
  EXPECT_NE(Format(*MustLoad("msgc_client { }")).find("  tcpbuf_size = 131072"),
            std::string::npos);
}

TEST(DiffTest, SettingServerTcpbufSizeToItsDefaultIsAChange) {
  const auto unset = MustLoad("msgc_server { }");
  const auto set = MustLoad("msgc_server { tcpbuf_size = 131072 }");
  EXPECT_EQ(Diff(*unset, *set),
            (std::vector<Change>{{"msgc_server.tcpbuf_size", "", "131072"}}));
  EXPECT_EQ(Diff(*set, *unset),
            (std::vector<Change>{{"msgc_server.tcpbuf_size", "131072", ""}}));
  EXPECT_TRUE(Diff(*unset, *MustLoad("msgc_server { }")).empty());
}

TEST(SetOptionTest, ServerTcpbufSizeBecomesSet) {
  const auto base = MustLoad("msgc_server { }");
  const LoadResult r = SetOption(*base, "msgc_server", "tcpbuf_size", "65536");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_TRUE(r.config->server.tcpbuf_size_set);
  EXPECT_EQ(PeerLinkTcpbufSize(r.config->server), 65536u);
  // Other options leave it unset.
  const LoadResult o = SetOption(*base, "msgc_server", "max_backlog", "100");
  ASSERT_TRUE(o.ok()) << o.ErrorText();
  EXPECT_FALSE(o.config->server.tcpbuf_size_set);
  EXPECT_EQ(PeerLinkTcpbufSize(o.config->server), 0u);
}

TEST(FormatTest, ImpliedListenerIsShown) {
  const std::string text = Format(*MustLoad("msgc_server { }"));
  EXPECT_NE(text.find("listen \"127.0.0.1:4809\" { }"), std::string::npos)
      << text;
}

TEST(DiffTest, ReportsChangedOptionsAndPeers) {
  const auto before = MustLoad(
      "msgc_server { idle_timeout = 30 peers = [ node1 = \"10.0.0.1\" "
      "node2 = \"10.0.0.2\" node3 = \"10.0.0.3\" ] }");
  const auto after = MustLoad(
      "msgc_server { idle_timeout = 40 peers = [ node1 = \"10.0.0.1\" "
      "node2 = \"10.0.0.22:4809\" node4 = \"10.0.0.4\" ] }\n"
      "msgc_client { debug_level = DEBUG }");
  EXPECT_EQ(
      Diff(*before, *after),
      (std::vector<Change>{
          {"msgc_server.idle_timeout", "30", "40"},
          {"msgc_server.peers.node2", "\"10.0.0.2\"", "\"10.0.0.22:4809\""},
          {"msgc_server.peers.node3", "\"10.0.0.3\"", ""},
          {"msgc_server.peers.node4", "", "\"10.0.0.4\""},
          {"msgc_client", "", "{ ... }"},
          {"msgc_client.debug_level", "ERROR", "DEBUG"},
      }));
  EXPECT_TRUE(Diff(*before, *before).empty());
}

TEST(DiffTest, ReportsListenerChanges) {
  const auto before = MustLoad("msgc_server { }");  // implied 127.0.0.1:4809
  const auto after = MustLoad(
      "msgc_server { }\nmsgcserver_listener { listen \":4809\" { enable = no "
      "} }");
  EXPECT_EQ(Diff(*before, *after),
            (std::vector<Change>{
                {"msgcserver_listener.listen.127.0.0.1:4809", "{ }", ""},
                {"msgcserver_listener.listen.:4809", "", "{ enable = false }"},
            }));
}

TEST(GetOptionTest, ValuesInFileSyntax) {
  const auto c = MustLoad(kFull);
  std::string v;
  ASSERT_TRUE(GetOption(*c, "msgc_server", "connect_timeout", &v).ok());
  EXPECT_EQ(v, "0.2");
  ASSERT_TRUE(GetOption(*c, "MSGC_Server", "Debug_Level", &v).ok());
  EXPECT_EQ(v, "INFO");
  ASSERT_TRUE(GetOption(*c, "msgc_server", "peers", &v).ok());
  EXPECT_EQ(v,
            "[ node1 = \"10.0.0.1\" node2.example.com = \"10.0.0.2:4810\" v6 "
            "= \"[fe80::1]:1\" bare6 = \"fe80::2\" \"odd key\" = \"h\" ]");
  ASSERT_TRUE(GetOption(*c, "msgc_server", "max_message_size", &v).ok());
  EXPECT_EQ(v, "1000");
  ASSERT_TRUE(GetOption(*c, "msgcserver_listener", "file_mode", &v).ok());
  EXPECT_EQ(v, "0600");
  ASSERT_TRUE(GetOption(*c, "msgcserver_listener", "listen", &v).ok());
  EXPECT_EQ(v, "( \":4809\" \"[::1]:4809\" )");
  ASSERT_TRUE(GetOption(*c, "msgc_client", "server", &v).ok());
  EXPECT_EQ(v, "( \"10.0.0.1:4809\" \"10.0.0.2:4809\" )");
  ASSERT_TRUE(GetOption(*c, "msgc_client", "bind_address", &v).ok());
  EXPECT_EQ(v, "\"10.0.0.9\"");
}

TEST(GetOptionTest, Errors) {
  const auto c = MustLoad("msgc_client { }");
  std::string v = "untouched";
  EXPECT_EQ(GetOption(*c, "msgc_client", "bind_address", &v).ToString(),
            Status::NotFound("option 'bind_address' is not set in scope "
                             "'msgc_client'")
                .ToString());
  EXPECT_EQ(GetOption(*c, "msgc_client", "sever", &v),
            Status::NotFound("unknown option 'sever' in scope 'msgc_client'; "
                             "did you mean 'server'?"));
  EXPECT_EQ(GetOption(*c, "msgc_clint", "server", &v),
            Status::NotFound("unknown scope 'msgc_clint'; did you mean "
                             "'msgc_client'?"));
  EXPECT_EQ(v, "untouched");
}

TEST(SetOptionTest, SetsAndRevalidates) {
  const auto base = MustLoad(kFull);
  LoadResult r = SetOption(*base, "msgc_server", "idle_timeout", "= 12.5");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_EQ(r.config->server.idle_timeout, 12.5);
  EXPECT_EQ(r.config->origins.at("msgc_server.idle_timeout").ToString(),
            "<console>:1:3");
  EXPECT_EQ(Diff(*base, *r.config),
            (std::vector<Change>{{"msgc_server.idle_timeout", "45", "12.5"}}));
  EXPECT_EQ(base->server.idle_timeout, 45);  // base untouched

  r = SetOption(*base, "msgc_server", "peers", "[ n9 = \"10.9.9.9\" ]");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  ASSERT_EQ(r.config->server.peers.size(), 1u);
  EXPECT_EQ(r.config->server.peers[0].name, "n9");

  r = SetOption(*base, "msgc_client", "server", "( a:1 b:2 )");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_EQ(r.config->client.server, (std::vector<std::string>{"a:1", "b:2"}));
}

TEST(SetOptionTest, BadValueLeavesErrorsAndNoConfig) {
  const auto base = MustLoad(kFull);
  LoadResult r = SetOption(*base, "msgc_server", "idle_timeout", "-3");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.config, nullptr);
  EXPECT_EQ(r.ErrorText(),
            "<console>:1:1: option 'idle_timeout' must be greater than 0 "
            "seconds, got -3\n");
  r = SetOption(*base, "msgc_server", "debug_level", "\"loud");
  EXPECT_EQ(r.config, nullptr);
  EXPECT_EQ(r.ErrorText(),
            "<console>:1:1: unterminated string: missing closing '\"'\n");
  r = SetOption(*base, "msgc_server", "idle_tmeout", "3");
  EXPECT_EQ(r.ErrorText(),
            "<console>:1:1: unknown option 'idle_tmeout' in scope "
            "'msgc_server'; did you mean 'idle_timeout'?\n");
  r = SetOption(*base, "msgc_server", "keepalive_interval", "45");
  EXPECT_EQ(r.ErrorText(),
            "<console>:1:1: keepalive_interval (45) must be smaller than "
            "idle_timeout (45) in scope 'msgc_server'\n");
}

TEST(SetOptionTest, PortChangeAndListener) {
  // Explicit listener on 4809: changing the port alone disagrees with it.
  const auto base = MustLoad(kFull);
  LoadResult r = SetOption(*base, "msgc_server", "port", "4810");
  EXPECT_EQ(r.ErrorText(),
            "t.conf:10:3: listener port 4809 disagrees with msgc_server port "
            "4810 (at <console>:1:1)\n"
            "t.conf:11:3: listener port 4809 disagrees with msgc_server port "
            "4810 (at <console>:1:1)\n");
  // Replace the listen addresses first, then the port.
  r = SetOption(*base, "msgcserver_listener", "listen", "( \":4810\" )");
  EXPECT_FALSE(r.ok());  // 4810 vs 4809
  // Implied listener follows the port.
  const auto implied = MustLoad("msgc_server { }");
  r = SetOption(*implied, "msgc_server", "port", "4811");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  ASSERT_EQ(r.config->listener.listen.size(), 1u);
  EXPECT_EQ(r.config->listener.listen[0].spec, "127.0.0.1:4811");
  EXPECT_FALSE(r.config->has_listener_scope);
}

TEST(SetOptionTest, ListenReplacesAddresses) {
  const auto base = MustLoad("msgcserver_listener { listen \":1\" { } }");
  LoadResult r = SetOption(*base, "msgcserver_listener", "listen",
                           "( \":2\" \"[::1]:2\" )");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  ASSERT_EQ(r.config->listener.listen.size(), 2u);
  EXPECT_EQ(r.config->listener.listen[1].host, "::1");
  r = SetOption(*base, "msgcserver_listener", "listen", "( \"nope\" )");
  EXPECT_EQ(r.ErrorText(),
            "<console>:1:3: bad listen address 'nope': missing ':port' "
            "(expected ':port', '*:port', 'host:port' or '[ipv6]:port')\n");
}

TEST(SetOptionTest, CreatesMissingScope) {
  const auto base = MustLoad("");
  LoadResult r = SetOption(*base, "msgc_client", "debug_level", "debug");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_TRUE(r.config->has_client_scope);
  EXPECT_EQ(r.config->client.debug_level, DebugLevel::kDebug);
}

}  // namespace
}  // namespace msgc::config
