#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"

namespace msgc::config {
namespace {

namespace fs = std::filesystem;

// Loads `text` (named "t.conf") and expects success.
std::shared_ptr<const Config> MustLoad(std::string_view text) {
  const LoadResult r = LoadString(text, "t.conf");
  EXPECT_TRUE(r.ok()) << r.ErrorText();
  return r.ok() ? r.config : std::make_shared<const Config>();
}

// Loads `text` and returns the error text ("" if it loaded).
std::string Errors(std::string_view text) {
  const LoadResult r = LoadString(text, "t.conf");
  EXPECT_EQ(r.ok(), r.errors.empty());
  if (r.ok()) return "";
  EXPECT_EQ(r.config, nullptr);
  return r.ErrorText();
}

// A temporary folder removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string templ =
        (fs::temp_directory_path() / "msgc_cfg_XXXXXX").string();
    path_ = mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string Write(const std::string& rel, const std::string& text) const {
    const fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

 private:
  fs::path path_;
};

constexpr std::string_view kSeedServerConf = R"(
# NOTE: This file MUST live in the global portion of the repository, as it
# must be the same for all nodes in the cluster.

msgc_server {
   peers = [
     node1 = "192.168.0.10"
     node2 = "192.168.0.11"
     manager = "192.168.0.12"
   ]
}

MSGCServer_Listener {
   Listen ":4809" { }
}
)";

// ---- Seed samples --------------------------------------------------------

TEST(LoadTest, SeedServerSample) {
  const auto c = MustLoad(kSeedServerConf);
  EXPECT_TRUE(c->has_server_scope);
  EXPECT_TRUE(c->has_listener_scope);
  EXPECT_FALSE(c->has_client_scope);
  const ServerOptions& s = c->server;
  ASSERT_EQ(s.peers.size(), 3u);
  EXPECT_EQ(s.peers[0].name, "node1");
  EXPECT_EQ(s.peers[0].host, "192.168.0.10");
  EXPECT_FALSE(s.peers[0].port.has_value());
  EXPECT_EQ(s.peers[0].pos.ToString(), "t.conf:7:6");
  EXPECT_EQ(s.peers[2].name, "manager");
  EXPECT_EQ(s.peers[2].host, "192.168.0.12");
  // Defaults from the product page.
  EXPECT_EQ(s.connect_timeout, 60);
  EXPECT_EQ(s.debug_level, DebugLevel::kError);
  EXPECT_EQ(s.idle_timeout, 30);
  EXPECT_EQ(s.keepalive_interval, 5);
  EXPECT_EQ(s.max_backlog, 5000u);
  EXPECT_EQ(s.messages_per_iter, 20u);
  EXPECT_EQ(s.port, 4809);
  EXPECT_EQ(s.reconnect_interval, 5);
  EXPECT_EQ(s.tcpbuf_size, 131072u);
  EXPECT_EQ(s.max_message_size, 64u << 20);
  EXPECT_TRUE(s.enabled);
  ASSERT_EQ(c->listener.listen.size(), 1u);
  const ListenAddress& l = c->listener.listen[0];
  EXPECT_EQ(l.host, "");
  EXPECT_EQ(l.port, 4809);
  EXPECT_FALSE(l.ipv6);
  EXPECT_EQ(l.spec, ":4809");
  EXPECT_EQ(l.pos.ToString(), "t.conf:14:4");
  EXPECT_TRUE(l.enable);
  EXPECT_EQ(l.file_mode, 0660u);
  EXPECT_EQ(c->files, (std::vector<std::string>{"t.conf"}));
}

TEST(LoadTest, SeedListenerAndClientSnippets) {
  const auto c = MustLoad(
      "msgcserver_listener {\n   listen \":4809\" { }\n}\n"
      "msgc_client {\n   server = ( \"127.0.0.1:4809\" )\n}\n");
  EXPECT_FALSE(c->has_server_scope);
  ASSERT_EQ(c->listener.listen.size(), 1u);
  EXPECT_EQ(c->listener.listen[0].port, 4809);
  EXPECT_TRUE(c->has_client_scope);
  EXPECT_EQ(c->client.server, (std::vector<std::string>{"127.0.0.1:4809"}));
  EXPECT_EQ(c->client.connect_timeout, 60);
  EXPECT_EQ(c->client.idle_timeout, 30);
  EXPECT_EQ(c->client.keepalive_interval, 5);
  EXPECT_EQ(c->client.max_backlog, 5000u);
  EXPECT_EQ(c->client.messages_per_iter, 20u);
  EXPECT_EQ(c->client.reconnect_interval, 5);
  EXPECT_EQ(c->client.tcpbuf_size, 131072u);
  EXPECT_FALSE(c->client.bind_address.has_value());
}

TEST(LoadTest, EveryServerOption) {
  const auto c = MustLoad(R"(msgc_server {
    connect_timeout = 0.2  debug_level = notice  enabled = off
    idle_timeout = 45  keepalive_interval = 2.5  max_backlog = 10
    messages_per_iter = 7  port = 4810  reconnect_interval = 1
    tcpbuf_size = 65536  max_message_size = 512K
    peers = [ node1.int.example.com = "10.0.0.1:4810"  v6 = "[fe80::1]:4811"
              plain6 = "fe80::2"  host = "db.example.com" ]
  }
  msgcserver_listener { listen "*:4810" { } })");
  const ServerOptions& s = c->server;
  EXPECT_DOUBLE_EQ(s.connect_timeout, 0.2);
  EXPECT_EQ(s.debug_level, DebugLevel::kNotice);
  EXPECT_FALSE(s.enabled);
  EXPECT_EQ(s.idle_timeout, 45);
  EXPECT_EQ(s.keepalive_interval, 2.5);
  EXPECT_EQ(s.max_backlog, 10u);
  EXPECT_EQ(s.messages_per_iter, 7u);
  EXPECT_EQ(s.port, 4810);
  EXPECT_EQ(s.reconnect_interval, 1);
  EXPECT_EQ(s.tcpbuf_size, 65536u);
  EXPECT_EQ(s.max_message_size, 512u * 1024);
  ASSERT_EQ(s.peers.size(), 4u);
  EXPECT_EQ(s.peers[0].name, "node1.int.example.com");
  EXPECT_EQ(s.peers[0].host, "10.0.0.1");
  EXPECT_EQ(s.peers[0].port, 4810);
  EXPECT_EQ(s.peers[1].host, "fe80::1");
  EXPECT_EQ(s.peers[1].port, 4811);
  EXPECT_EQ(s.peers[2].host, "fe80::2");
  EXPECT_FALSE(s.peers[2].port.has_value());
  EXPECT_EQ(s.peers[3].host, "db.example.com");
}

TEST(LoadTest, EveryClientOption) {
  const auto c = MustLoad(R"(msgc_client {
    bind_address = 10.10.10.10  connect_timeout = 3  debug_level = "Warning"
    enabled = yes  idle_timeout = 10  keepalive_interval = 1
    max_backlog = 1  messages_per_iter = 2  reconnect_interval = 0.5
    tcpbuf_size = 4096  server = ( "10.0.0.1:4809" 'db:4809' "[::1]:4809" )
  })");
  const ClientOptions& cl = c->client;
  EXPECT_EQ(cl.bind_address, "10.10.10.10");
  EXPECT_EQ(cl.connect_timeout, 3);
  EXPECT_EQ(cl.debug_level, DebugLevel::kWarning);
  EXPECT_TRUE(cl.enabled);
  EXPECT_EQ(cl.idle_timeout, 10);
  EXPECT_EQ(cl.keepalive_interval, 1);
  EXPECT_EQ(cl.max_backlog, 1u);
  EXPECT_EQ(cl.messages_per_iter, 2u);
  EXPECT_EQ(cl.reconnect_interval, 0.5);
  EXPECT_EQ(cl.tcpbuf_size, 4096u);
  EXPECT_EQ(cl.server, (std::vector<std::string>{"10.0.0.1:4809", "db:4809",
                                                 "[::1]:4809"}));
  EXPECT_EQ(MustLoad("msgc_client { server = \"h:1\" }")->client.server,
            (std::vector<std::string>{"h:1"}));
}

TEST(LoadTest, NamesAreCaseInsensitivePeerNamesLowerCased) {
  const auto c = MustLoad(
      "MSGC_Server { IDLE_Timeout = 40  Peers = [ Node1 = \"10.0.0.1\" ] }");
  EXPECT_EQ(c->server.idle_timeout, 40);
  ASSERT_EQ(c->server.peers.size(), 1u);
  EXPECT_EQ(c->server.peers[0].name, "node1");
}

TEST(LoadTest, DebugLevelsInAnyCaseQuotedOrBare) {
  const std::pair<const char*, DebugLevel> cases[] = {
      {"DEBUG", DebugLevel::kDebug},     {"\"info\"", DebugLevel::kInfo},
      {"'Notice'", DebugLevel::kNotice}, {"warning", DebugLevel::kWarning},
      {"\"ERROR\"", DebugLevel::kError}, {"CrItIcAl", DebugLevel::kCritical},
  };
  for (const auto& [text, level] : cases) {
    const auto c =
        MustLoad(std::string("msgc_client { debug_level = ") + text + " }");
    EXPECT_EQ(c->client.debug_level, level) << text;
  }
}

TEST(LoadTest, BooleanSpellings) {
  for (const char* t :
       {"on", "true", "yes", "enabled", "1", "TRUE", "\"On\""}) {
    EXPECT_TRUE(MustLoad(std::string("msgc_server { enabled = ") + t + " }")
                    ->server.enabled)
        << t;
  }
  for (const char* t : {"off", "false", "no", "disabled", "0", "No"}) {
    EXPECT_FALSE(MustLoad(std::string("msgc_server { enabled = ") + t + " }")
                     ->server.enabled)
        << t;
  }
}

TEST(LoadTest, MaxMessageSizeSuffixes) {
  auto size = [](const char* t) {
    return MustLoad(std::string("msgc_server { max_message_size = ") + t + " }")
        ->server.max_message_size;
  };
  EXPECT_EQ(size("1"), 1u);
  EXPECT_EQ(size("1000"), 1000u);
  EXPECT_EQ(size("2k"), 2048u);
  EXPECT_EQ(size("3M"), 3u << 20);
  EXPECT_EQ(size("1G"), 1u << 30);
  EXPECT_EQ(Errors("msgc_server { max_message_size = 0 }"),
            "t.conf:1:34: option 'max_message_size' must be between 1 byte "
            "and 1G, got 0\n");
  EXPECT_EQ(Errors("msgc_server { max_message_size = 1025M }"),
            "t.conf:1:34: option 'max_message_size' must be between 1 byte "
            "and 1G, got 1025M\n");
  EXPECT_EQ(Errors("msgc_server { max_message_size = 99999999999999999999G }"),
            "t.conf:1:34: option 'max_message_size' must be between 1 byte "
            "and 1G, got 99999999999999999999G\n");
  EXPECT_EQ(Errors("msgc_server { max_message_size = 2T }"),
            "t.conf:1:34: option 'max_message_size' expects a size in bytes "
            "(e.g. 1048576, 512K, 64M, 1G), got '2T'\n");
}

// ---- Listener --------------------------------------------------------------

TEST(LoadTest, ListenAddressFormsAndFallback) {
  const auto c = MustLoad(R"(msgcserver_listener {
    accept_queue_backlog = 100  enable = true  file_mode = 0600
    listen "*:4809" { enable = false }
    listen "10.0.0.1:4809" { accept_queue_backlog = 5  file_mode = 0666 }
    listen "[::1]:4809" { }
    listen node1.example.com:4809 { }
  })");
  const auto& l = c->listener.listen;
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(c->listener.accept_queue_backlog, 100u);
  EXPECT_EQ(c->listener.file_mode, 0600u);
  EXPECT_EQ(l[0].host, "");
  EXPECT_FALSE(l[0].enable);
  EXPECT_EQ(l[0].accept_queue_backlog, 100u);  // from the listener
  EXPECT_EQ(l[1].host, "10.0.0.1");
  EXPECT_EQ(l[1].accept_queue_backlog, 5u);
  EXPECT_EQ(l[1].file_mode, 0666u);
  EXPECT_TRUE(l[1].enable);
  EXPECT_EQ(l[2].host, "::1");
  EXPECT_TRUE(l[2].ipv6);
  EXPECT_EQ(l[2].file_mode, 0600u);
  EXPECT_EQ(l[3].host, "node1.example.com");
  EXPECT_EQ(l[3].spec, "node1.example.com:4809");
}

TEST(LoadTest, ImpliedListener) {
  // No listener scope: loopback when there are no peers...
  auto c = MustLoad("msgc_server { port = 4900 }");
  EXPECT_FALSE(c->has_listener_scope);
  ASSERT_EQ(c->listener.listen.size(), 1u);
  EXPECT_EQ(c->listener.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c->listener.listen[0].port, 4900);
  EXPECT_EQ(c->listener.listen[0].spec, "127.0.0.1:4900");
  // ...all addresses with peers.
  c = MustLoad("msgc_server { peers = [ a = \"10.0.0.1\" ] }");
  ASSERT_EQ(c->listener.listen.size(), 1u);
  EXPECT_EQ(c->listener.listen[0].host, "");
  EXPECT_EQ(c->listener.listen[0].spec, "*:4809");
  // No server, no listener.
  EXPECT_TRUE(MustLoad("msgc_client { }")->listener.listen.empty());
}

TEST(LoadTest, ListenerPortMismatch) {
  EXPECT_EQ(Errors("msgc_server {\n  port = 4809\n}\n"
                   "msgcserver_listener {\n  listen \":4810\" { }\n}\n"),
            "t.conf:5:3: listener port 4810 disagrees with msgc_server port "
            "4809 (at t.conf:2:3)\n");
  // With the default port the scope is named.
  EXPECT_EQ(
      Errors("msgc_server { }\nmsgcserver_listener { listen \":1\" { } }"),
      "t.conf:2:23: listener port 1 disagrees with msgc_server port "
      "4809 (at t.conf:1:1)\n");
}

TEST(LoadTest, ListenErrors) {
  EXPECT_EQ(Errors("msgcserver_listener { listen { } }"),
            "t.conf:1:23: listen scope needs an address, e.g. listen \":4809\" "
            "{ }\n");
  EXPECT_EQ(Errors("msgcserver_listener { listen \"4809\" { } }"),
            "t.conf:1:30: bad listen address '4809': missing ':port' (expected "
            "':port', '*:port', 'host:port' or '[ipv6]:port')\n");
  EXPECT_EQ(Errors("msgcserver_listener { listen \":0\" { } }"),
            "t.conf:1:30: bad listen address ':0': bad port '0' (must be "
            "1..65535) (expected ':port', '*:port', 'host:port' or "
            "'[ipv6]:port')\n");
  EXPECT_EQ(Errors("msgcserver_listener { listen \"/tmp/s\" { } }"),
            "t.conf:1:30: bad listen address '/tmp/s': unix socket listeners "
            "are not supported\n");
  EXPECT_EQ(Errors("msgcserver_listener { listen \":1\" { } listen \"*:1\" { } "
                   "}"),
            "t.conf:1:39: duplicate listen address '*:1' (first at "
            "t.conf:1:23)\n");
  EXPECT_EQ(Errors("msgcserver_listener { listen = \":1\" }"),
            "t.conf:1:23: 'listen' is a scope in 'msgcserver_listener': write "
            "listen \":4809\" { }\n");
  EXPECT_EQ(Errors("msgcserver_listener { listen \":1\" { enabl = 1 } }"),
            "t.conf:1:37: unknown option 'enabl' in listen scope ':1'; did you "
            "mean 'enable'?\n");
  EXPECT_EQ(Errors("msgcserver_listener { file_mode = 0999 }"),
            "t.conf:1:35: option 'file_mode' expects an octal file mode such "
            "as 0660, got '0999'\n");
  EXPECT_EQ(Errors("msgcserver_listener { lisen \":1\" { } }"),
            "t.conf:1:23: unknown scope 'lisen' inside 'msgcserver_listener'; "
            "did you mean 'listen'?\n");
}

// ---- Errors ---------------------------------------------------------------

TEST(LoadTest, UnknownScopeAndOptionWithSuggestion) {
  EXPECT_EQ(Errors("msgc_sever { }"),
            "t.conf:1:1: unknown scope 'msgc_sever'; did you mean "
            "'msgc_server'?\n");
  EXPECT_EQ(Errors("msgc_server {\n  idle_timout = 3\n}"),
            "t.conf:2:3: unknown option 'idle_timout' in scope 'msgc_server'; "
            "did you mean 'idle_timeout'?\n");
  EXPECT_EQ(Errors("msgc_client { Server_List = ( ) }"),
            "t.conf:1:15: unknown option 'Server_List' in scope "
            "'msgc_client'\n");
  EXPECT_EQ(Errors("ecelerity { }"), "t.conf:1:1: unknown scope 'ecelerity'\n");
  EXPECT_EQ(Errors("port = 1"),
            "t.conf:1:1: unknown top-level option 'port'; options belong "
            "inside msgc_server, msgcserver_listener or msgc_client\n");
  EXPECT_EQ(Errors("msgc_server { peers { } }"),
            "t.conf:1:15: 'peers' is an option of scope 'msgc_server', not a "
            "scope; write peers = value\n");
  EXPECT_EQ(Errors("msgc_server { sub { } }"),
            "t.conf:1:15: unknown scope 'sub' inside 'msgc_server'\n");
  EXPECT_EQ(Errors("msgc_server \"x\" { }"),
            "t.conf:1:13: scope 'msgc_server' is a singleton and takes no "
            "instance name (got 'x')\n");
}

TEST(LoadTest, BadValues) {
  EXPECT_EQ(Errors("msgc_server { idle_timeout = -1 }"),
            "t.conf:1:30: option 'idle_timeout' must be greater than 0 "
            "seconds, got -1\n");
  EXPECT_EQ(Errors("msgc_server { idle_timeout = 0 }"),
            "t.conf:1:30: option 'idle_timeout' must be greater than 0 "
            "seconds, got 0\n");
  EXPECT_EQ(Errors("msgc_server { connect_timeout = soon }"),
            "t.conf:1:33: option 'connect_timeout' expects a number of "
            "seconds, got 'soon'\n");
  EXPECT_EQ(Errors("msgc_server { connect_timeout = nan }"),
            "t.conf:1:33: option 'connect_timeout' expects a number of "
            "seconds, got 'nan'\n");
  EXPECT_EQ(Errors("msgc_server { connect_timeout = 86401 }"),
            "t.conf:1:33: option 'connect_timeout' must be at most 86400 "
            "seconds, got 86401\n");
  EXPECT_EQ(Errors("msgc_server { connect_timeout = ( 1 ) }"),
            "t.conf:1:33: option 'connect_timeout' expects a number of "
            "seconds, got an array\n");
  EXPECT_EQ(Errors("msgc_server { port = 70000 }"),
            "t.conf:1:22: option 'port' must be between 1 and 65535, got "
            "70000\n");
  EXPECT_EQ(Errors("msgc_server { max_backlog = -5 }"),
            "t.conf:1:29: option 'max_backlog' must be between 1 and "
            "4294967295, got -5\n");
  EXPECT_EQ(Errors("msgc_server { messages_per_iter = 1.5 }"),
            "t.conf:1:35: option 'messages_per_iter' expects an integer, got "
            "'1.5'\n");
  EXPECT_EQ(Errors("msgc_server { debug_level = LOUD }"),
            "t.conf:1:29: bad debug level 'LOUD' for option 'debug_level'; "
            "valid levels are DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL\n");
  EXPECT_EQ(Errors("msgc_server { enabled = maybe }"),
            "t.conf:1:25: option 'enabled' expects a boolean (on/off, "
            "true/false, yes/no, enabled/disabled, 1/0), got 'maybe'\n");
  EXPECT_EQ(Errors("msgc_server { peers = \"a\" }"),
            "t.conf:1:23: option 'peers' expects a dictionary [ name = "
            "\"address\" ... ], got a string\n");
}

TEST(LoadTest, BadAddresses) {
  EXPECT_EQ(Errors("msgc_server { peers = [ a = \"10.0.0.1:x\" ] }"),
            "t.conf:1:29: bad address '10.0.0.1:x' for peer 'a': bad port 'x' "
            "(must be 1..65535)\n");
  EXPECT_EQ(Errors("msgc_server { peers = [ a = \"300.1.1.1\" ] }"),
            "t.conf:1:29: bad address '300.1.1.1' for peer 'a': bad IPv4 "
            "address '300.1.1.1'\n");
  EXPECT_EQ(Errors("msgc_server { peers = [ a = \"[zz::1]:1\" ] }"),
            "t.conf:1:29: bad address '[zz::1]:1' for peer 'a': bad IPv6 "
            "address 'zz::1'\n");
  EXPECT_EQ(Errors("msgc_server { peers = [ a = \"\" ] }"),
            "t.conf:1:29: bad address '' for peer 'a': empty host\n");
  EXPECT_EQ(Errors("msgc_server { peers = [ a = ( x ) ] }"),
            "t.conf:1:29: peer 'a' expects an address string, got an array\n");
  EXPECT_EQ(Errors("msgc_client { server = ( \"10.0.0.1\" ) }"),
            "t.conf:1:26: bad server address '10.0.0.1' in option 'server': "
            "missing ':port'\n");
  EXPECT_EQ(Errors("msgc_client { server = ( \"::1:4809\" ) }"),
            "t.conf:1:26: bad server address '::1:4809' in option 'server': "
            "IPv6 addresses must be bracketed: [address]:port\n");
  EXPECT_EQ(Errors("msgc_client { server = ( ) }"),
            "t.conf:1:24: option 'server' must list at least one server\n");
  EXPECT_EQ(Errors("msgc_client { bind_address = \"1.2.3.4:5\" }"),
            "t.conf:1:30: bad address '1.2.3.4:5' for option 'bind_address': "
            "a port is not allowed here\n");
  EXPECT_EQ(Errors("msgc_client { bind_address = \"a b\" }"),
            "t.conf:1:30: bad address 'a b' for option 'bind_address': bad "
            "host name 'a b'\n");
}

TEST(LoadTest, DuplicateOptionAndPeer) {
  EXPECT_EQ(Errors("msgc_server {\n  port = 1\n  PORT = 2\n}"),
            "t.conf:3:3: duplicate option 'port' in scope 'msgc_server' (first "
            "set at t.conf:2:3)\n");
  // Scopes of the same name merge; a duplicate across them is still one.
  EXPECT_EQ(Errors("msgc_server { idle_timeout = 9 }\n"
                   "msgc_server { idle_timeout = 9 }"),
            "t.conf:2:15: duplicate option 'idle_timeout' in scope "
            "'msgc_server' (first set at t.conf:1:15)\n");
  EXPECT_EQ(Errors("msgc_server { peers = [ Node1 = \"10.0.0.1\"\n"
                   "  node1 = \"10.0.0.2\" ] }"),
            "t.conf:2:3: duplicate peer 'node1' (first at t.conf:1:25)\n");
  EXPECT_EQ(Errors("msgcserver_listener { listen \":1\" { enable = 1 "
                   "enable = 0 } }"),
            "t.conf:1:48: duplicate option 'enable' in scope 'listen \":1\"' "
            "(first set at t.conf:1:37)\n");
}

TEST(LoadTest, MergedScopes) {
  const auto c = MustLoad(
      "msgc_server { port = 4810 }\n"
      "msgc_server { idle_timeout = 9 }");
  EXPECT_EQ(c->server.port, 4810);
  EXPECT_EQ(c->server.idle_timeout, 9);
}

TEST(LoadTest, KeepaliveMustBeSmallerThanIdleTimeout) {
  EXPECT_EQ(Errors("msgc_server {\n  idle_timeout = 5\n}"),
            "t.conf:2:3: keepalive_interval (5) must be smaller than "
            "idle_timeout (5) in scope 'msgc_server'\n");
  EXPECT_EQ(Errors("msgc_client { keepalive_interval = 31 }"),
            "t.conf:1:15: keepalive_interval (31) must be smaller than "
            "idle_timeout (30) in scope 'msgc_client'\n");
  // Not reported on top of a rejected value.
  EXPECT_EQ(Errors("msgc_client { keepalive_interval = -31 }"),
            "t.conf:1:36: option 'keepalive_interval' must be greater than 0 "
            "seconds, got -31\n");
}

TEST(LoadTest, SyntaxAndMappingErrorsAreAllCollected) {
  EXPECT_EQ(Errors("msgc_server {\n"
                   "  port = \"4809\n"
                   "  idle_timout = 3\n"
                   "  debug_level = loud\n"
                   "}\n"
                   "msgc_clien { }\n"
                   "/* oops\n"),
            "t.conf:2:10: unterminated string: missing closing '\"'\n"
            "t.conf:7:1: unterminated comment: missing '*/'\n"
            "t.conf:3:3: unknown option 'idle_timout' in scope 'msgc_server'; "
            "did you mean 'idle_timeout'?\n"
            "t.conf:4:17: bad debug level 'loud' for option 'debug_level'; "
            "valid levels are DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL\n"
            "t.conf:6:1: unknown scope 'msgc_clien'; did you mean "
            "'msgc_client'?\n");
}

TEST(LoadTest, TooManyErrorsAreCapped) {
  std::string text = "msgc_server {\n";
  for (int i = 0; i < 150; ++i)
    text += "  bogus" + std::to_string(i) + " = 1\n";
  text += "}\n";
  const LoadResult r = LoadString(text, "t.conf");
  ASSERT_EQ(r.errors.size(), kMaxErrors + 1);
  EXPECT_EQ(r.errors.back().message, "too many errors; 50 more not shown");
}

TEST(LoadTest, EmptyConfigIsValid) {
  const auto c = MustLoad("# nothing\n");
  EXPECT_FALSE(c->has_server_scope);
  EXPECT_FALSE(c->has_listener_scope);
  EXPECT_FALSE(c->has_client_scope);
}

// ---- Includes ---------------------------------------------------------------

TEST(LoadTest, IncludeFileRelativeToIncludingFile) {
  TempDir dir;
  dir.Write("sub/peers.conf", "peers = [ n1 = \"10.0.0.1\" ]\n");
  dir.Write("sub/server.conf",
            "msgc_server {\n  include \"peers.conf\"\n  port = 4810\n}\n"
            "msgcserver_listener { listen \":4810\" { } }\n");
  const std::string main =
      dir.Write("main.conf", "include \"sub/server.conf\"\n");
  const LoadResult r = LoadFile(main);
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  ASSERT_EQ(r.config->server.peers.size(), 1u);
  EXPECT_EQ(r.config->server.peers[0].pos.ToString(),
            (dir.path() / "sub/peers.conf").string() + ":1:11");
  EXPECT_EQ(r.config->server.port, 4810);
  EXPECT_EQ(
      r.config->files,
      (std::vector<std::string>{main, (dir.path() / "sub/server.conf").string(),
                                (dir.path() / "sub/peers.conf").string()}));
  EXPECT_TRUE(r.config->readonly_files.empty());
}

TEST(LoadTest, IncludeFallsBackToWorkingDirectory) {
  TempDir dir;
  dir.Write("cwd.conf", "msgc_client { idle_timeout = 11 }\n");
  const fs::path old = fs::current_path();
  fs::current_path(dir.path());
  const LoadResult r =
      LoadString("include cwd.conf", "t.conf", "/nonexistent/dir");
  fs::current_path(old);
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_EQ(r.config->client.idle_timeout, 11);
}

TEST(LoadTest, IncludeDirectoryInLexicalOrderSkippingDotFiles) {
  TempDir dir;
  dir.Write("conf.d/20-b.conf", "msgc_client { idle_timeout = 20 }\n");
  dir.Write("conf.d/10-a.conf",
            "msgc_server { peers = [ a = \"10.0.0.1\" ] }\n");
  dir.Write("conf.d/.hidden", "this is not { valid\n");
  dir.Write("conf.d/nested/ignored.conf", "not even parsed {\n");
  const LoadResult r =
      LoadString("include \"conf.d\"\n", "t.conf", dir.path().string());
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_EQ(r.config->client.idle_timeout, 20);
  EXPECT_EQ(r.config->server.peers.size(), 1u);
  EXPECT_EQ(r.config->files,
            (std::vector<std::string>{
                "t.conf", (dir.path() / "conf.d/10-a.conf").string(),
                (dir.path() / "conf.d/20-b.conf").string()}));
}

TEST(LoadTest, ReadonlyInclude) {
  TempDir dir;
  const std::string ro = dir.Write("ro.conf", "msgc_client { }\n");
  const LoadResult r =
      LoadString("readonly_include ro.conf", "t.conf", dir.path().string());
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_EQ(r.config->files, (std::vector<std::string>{"t.conf", ro}));
  EXPECT_EQ(r.config->readonly_files, (std::vector<std::string>{ro}));
  EXPECT_TRUE(r.config->has_client_scope);
}

TEST(LoadTest, IncludeCycle) {
  TempDir dir;
  const std::string a = dir.Write("a.conf", "include \"b.conf\"\n");
  const std::string b =
      dir.Write("b.conf", "msgc_client { }\ninclude a.conf\n");
  const LoadResult r = LoadFile(a);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.ErrorText(), b + ":2:1: include cycle: '" + a + "' -> '" + b +
                               "' -> '" + a + "'\n");
}

TEST(LoadTest, IncludeErrors) {
  TempDir dir;
  EXPECT_EQ(LoadString("include missing.conf", "t.conf", dir.path().string())
                .ErrorText(),
            "t.conf:1:9: cannot find include 'missing.conf' (looked in '" +
                dir.path().string() + "' and the working directory)\n");
  dir.Write("bad.conf", "msgc_server { port = 0 }\n");
  EXPECT_EQ(
      LoadString("include bad.conf", "t.conf", dir.path().string()).ErrorText(),
      (dir.path() / "bad.conf").string() +
          ":1:22: option 'port' must be between 1 and 65535, got 0\n");
  LoadOptions no_includes;
  no_includes.allow_includes = false;
  EXPECT_EQ(
      LoadString("include \"/etc/passwd\"", "t.conf", no_includes).ErrorText(),
      "t.conf:1:1: includes are disabled here ('/etc/passwd')\n");
  EXPECT_EQ(LoadString("include /dev/null", "t.conf").ok(), false);
}

TEST(LoadTest, LoadFileErrors) {
  EXPECT_EQ(LoadFile("/nonexistent/msgc.conf").ErrorText(),
            "/nonexistent/msgc.conf: cannot read configuration: no such "
            "file\n");
  TempDir dir;
  EXPECT_EQ(LoadFile(dir.path().string()).ErrorText(),
            dir.path().string() +
                ": cannot read configuration: is a "
                "directory\n");
}

// ---- Default
// -----------------------------------------------------------------

TEST(LoadTest, DefaultConfig) {
  const auto c = DefaultConfig();
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->has_server_scope);
  EXPECT_TRUE(c->server.peers.empty());
  EXPECT_EQ(c->server.port, 4809);
  ASSERT_EQ(c->listener.listen.size(), 1u);
  EXPECT_EQ(c->listener.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c->listener.listen[0].port, 4809);
  EXPECT_EQ(c->client.server, (std::vector<std::string>{"127.0.0.1:4809"}));
  EXPECT_EQ(DefaultConfig(), c);  // built once
  EXPECT_TRUE(LoadString(DefaultConfigText(), "d").ok());
}

}  // namespace
}  // namespace msgc::config
