// Tests of the mbus.conf parser, the conversion to msgc_server.conf and (when
// MSGC_UPGRADE_TOOL names the binary) the msgc-upgrade-mbus tool.
#include "upgrade/mbus_conf.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace msgc::upgrade {
namespace {

// momentum.md §6.1, single subcluster.
constexpr std::string_view kSingle = R"(SocketPortReuse = on
DaemonUser = ecspread
DaemonGroup = ecspread
DebugFlags = { EXIT CONFIGURATION }
RuntimeDir = /var/run/spread
EventLogFile = /var/log/spread/mainlog
EventTimeStamp
DangerousMonitor = false

# Subcluster: default => manager-0-1
Spread_Segment  10.0.0.255:4803 {         # 10.0.0.255 is the bcast
       manager-0-1          10.0.0.91     # management node
       ec-0-1               10.0.0.191    # ecelerity node 1
       ec-0-2               10.0.0.192    # ecelerity node 2
}
)";

// momentum.md §6.3.
constexpr std::string_view kSingleExpected =
    R"(# Generated from mbus.conf (subclusters: default => manager-0-1)
msgc_server {
   peers = [
     manager-0-1 = "10.0.0.91"
     ec-0-1 = "10.0.0.191"
     ec-0-2 = "10.0.0.192"
   ]
}

msgcserver_listener {
   listen ":4809" { }
}
)";

constexpr std::string_view kHeader = R"(SocketPortReuse = on
DaemonUser = ecspread
DaemonGroup = ecspread
DebugFlags = { EXIT CONFIGURATION }
RuntimeDir = /var/run/spread
EventLogFile = /var/log/spread/mainlog
EventTimeStamp
DangerousMonitor = false
)";

// One subcluster whose nodes sit in two net blocks (§6.1).
std::string MultiSegment() {
  return std::string(kHeader) + R"(
# Subcluster: default => rh52mgr
Spread_Segment 10.79.240.255:4803 {
    rh52bar2 10.79.240.129
}
Spread_Segment 10.79.24.255:4803 {
    rh52bare 10.79.24.130  rh52mgr 10.79.24.136
}
)";
}

// Two subclusters; the option header is repeated before each (§6.1).
std::string MultiSubcluster() {
  return std::string(kHeader) + R"(
# Subcluster: east = rh52mgr
Spread_Segment 10.79.24.255:4803 {
    rh52bare 10.79.24.130
    rh52mgr  10.79.24.136
}
)" + std::string(kHeader) +
         R"(
# Subcluster: west => rh52bar2
Spread_Segment 10.79.240.255:4803 {
    rh52bar2 10.79.240.129
    rh52bar3 10.79.240.130
}
)";
}

ConvertResult Conv(std::string_view text, ConvertOptions options = {}) {
  return ConvertMbusConf(text, "mbus.conf", options);
}

// Every successful conversion must load with the msgc config loader and list
// the same peers.
void ExpectRevalidates(const ConvertResult& r) {
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  const config::LoadResult load = config::LoadString(r.text, "out.conf");
  ASSERT_TRUE(load.ok()) << load.ErrorText() << r.text;
  EXPECT_EQ(load.config->server.peers, r.peers);
  EXPECT_TRUE(load.config->has_listener_scope);
}

bool HasDiagnostic(const std::vector<Diagnostic>& list, std::string_view where,
                   std::string_view text) {
  for (const Diagnostic& d : list) {
    const std::string s = d.ToString();
    if (s.rfind(where, 0) == 0 && s.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// ---- Parsing ---------------------------------------------------------------

TEST(ParseMbusConf, SingleSubclusterStructure) {
  const ParseResult p = ParseMbusConf(kSingle, "mbus.conf");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p.warnings.empty());
  ASSERT_EQ(p.conf.parameters.size(), 8u);
  EXPECT_EQ(p.conf.parameters[3].name, "DebugFlags");
  EXPECT_EQ(p.conf.parameters[3].value, "{ EXIT CONFIGURATION }");
  EXPECT_TRUE(p.conf.parameters[6].bare);  // EventTimeStamp
  EXPECT_EQ(p.conf.parameters[6].pos.ToString(), "mbus.conf:7:1");
  ASSERT_EQ(p.conf.subclusters.size(), 1u);
  EXPECT_EQ(p.conf.subclusters[0].name, "default");
  EXPECT_EQ(p.conf.subclusters[0].manager, "manager-0-1");
  EXPECT_EQ(p.conf.subclusters[0].pos.ToString(), "mbus.conf:10:1");
  ASSERT_EQ(p.conf.segments.size(), 1u);
  const SpreadSegment& s = p.conf.segments[0];
  EXPECT_EQ(s.address, "10.0.0.255");
  EXPECT_EQ(s.port, 4803);
  EXPECT_EQ(s.subcluster, "default");
  EXPECT_EQ(s.pos.ToString(), "mbus.conf:11:1");
  ASSERT_EQ(s.hosts.size(), 3u);
  EXPECT_EQ(s.hosts[1].name, "ec-0-1");
  EXPECT_EQ(s.hosts[1].address, "10.0.0.191");
  EXPECT_EQ(s.hosts[1].pos.ToString(), "mbus.conf:13:8");
  EXPECT_EQ(s.hosts[1].address_pos.ToString(), "mbus.conf:13:29");
}

TEST(ParseMbusConf, SpreadSupersetSyntax) {
  const ParseResult p = ParseMbusConf(
      R"(DebugFlags = { EXIT !PRINT }
EventTimeStamp = "[%a %d %b %Y %H:%M:%S]"
EventPreciseTimeStamp
SocketPortReuse = AUTO; MaxSessionMessages = 5000
spread_segment 225.0.1.1 225.0.1.2:4900 {
  alpha 192.168.1.1;
  beta;
  192.168.1.3
  gamma 192.168.1.4 { D 10.1.1.4 C 192.168.1.4 }
  delta 192.168.1.5 { DC 10.1.1.5 M 10.2.1.5 }
}
Spread_Segment 192.168.2.255 { }
)",
      "s.conf");
  ASSERT_TRUE(p.ok()) << p.errors[0].ToString();
  ASSERT_EQ(p.conf.parameters.size(), 5u);
  EXPECT_EQ(p.conf.parameters[0].value, "{ EXIT !PRINT }");
  EXPECT_EQ(p.conf.parameters[1].value, "[%a %d %b %Y %H:%M:%S]");
  EXPECT_TRUE(p.conf.parameters[2].bare);
  EXPECT_EQ(p.conf.parameters[4].value, "5000");
  ASSERT_EQ(p.conf.segments.size(), 2u);
  const SpreadSegment& s = p.conf.segments[0];
  EXPECT_EQ(s.address, "225.0.1.1");
  EXPECT_EQ(s.port, 4803);
  EXPECT_EQ(s.extra_addresses, std::vector<std::string>{"225.0.1.2:4900"});
  EXPECT_EQ(s.subcluster, "");
  ASSERT_EQ(s.hosts.size(), 5u);
  EXPECT_EQ(s.hosts[1].name, "beta");
  EXPECT_EQ(s.hosts[1].address, "");
  EXPECT_EQ(s.hosts[2].name, "");
  EXPECT_EQ(s.hosts[2].address, "192.168.1.3");
  ASSERT_EQ(s.hosts[3].interfaces.size(), 2u);
  EXPECT_EQ(s.hosts[3].interfaces[0].roles, "D");
  EXPECT_EQ(s.hosts[3].interfaces[0].address, "10.1.1.4");
  EXPECT_EQ(s.hosts[4].interfaces[0].roles, "DC");
  EXPECT_EQ(s.hosts[4].interfaces[1].roles, "M");
  // The empty segment is worth a warning.
  EXPECT_TRUE(HasDiagnostic(p.warnings, "s.conf:12:1:", "lists no daemons"));
}

TEST(ParseMbusConf, SyntaxErrorsHavePositions) {
  struct Case {
    std::string text;
    std::string where;
    std::string what;
  };
  const Case cases[] = {
      {"Spread_Segment 10.0.0.255 {\n  a 10.0.0.1\n",
       "f:1:27:", "is not closed"},
      {"Spread_Segment 10.0.0.355 {\n}\n", "f:1:16:", "bad segment address"},
      {"Spread_Segment 10.0.0.255:99999 { }\n", "f:1:16:", "bad port"},
      {"Spread_Segment {\n}\n", "f:1:16:", "needs an address"},
      {"Spread_Segment 10.0.0.255\n", "f:2:1:", "expected '{'"},
      {"Spread_Segment 10.0.0.255 {\n  a 10.0.0.300\n}\n",
       "f:2:5:", "bad IPv4 address '10.0.0.300'"},
      {"Spread_Segment 10.0.0.255 {\n  a/b 10.0.0.3\n}\n",
       "f:2:3:", "bad daemon name"},
      {"Spread_Segment 10.0.0.255 {\n  { D 10.0.0.3 }\n}\n",
       "f:2:3:", "must follow a daemon entry"},
      {"Spread_Segment 10.0.0.255 {\n  a 10.0.0.3 { D x }\n}\n",
       "f:2:18:", "expected interface roles"},
      {"Spread_Segment 10.0.0.255 {\n  a 10.0.0.3 { D }\n}\n",
       "f:2:16:", "without an address"},
      {"Spread_Segment 10.0.0.255 {\n  a = 10.0.0.3\n}\n",
       "f:2:5:", "unexpected '='"},
      {"RuntimeDir =\nDaemonUser = x\n", "f:1:12:", "missing value"},
      {"DaemonUser\n", "f:2:1:", "expected '=' after parameter"},
      {"Spred_Segment 10.0.0.255 { }\n",
       "f:1:1:", "did you mean 'Spread_Segment'?"},
      {"EventLogFile = \"/var/log\n", "f:1:16:", "unterminated string"},
      {"DebugFlags = { EXIT \n", "f:1:14:", "is not closed"},
      {"}\n", "f:1:1:", "expected a parameter or Spread_Segment"},
  };
  for (const Case& c : cases) {
    const ConvertResult r = ConvertMbusConf(c.text, "f");
    EXPECT_FALSE(r.ok()) << c.text;
    EXPECT_TRUE(r.text.empty());
    EXPECT_TRUE(HasDiagnostic(r.errors, c.where, c.what))
        << "input:\n"
        << c.text << "errors:\n"
        << r.ErrorText();
  }
}

// ---- Conversion ------------------------------------------------------------

TEST(Convert, SingleSubclusterExample) {
  const ConvertResult r = Conv(kSingle);
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_EQ(r.text, kSingleExpected);
  EXPECT_TRUE(r.warnings.empty()) << r.WarningText();
  ExpectRevalidates(r);
  ASSERT_EQ(r.peers.size(), 3u);
  EXPECT_EQ(r.peers[0].name, "manager-0-1");
  EXPECT_EQ(r.peers[0].host, "10.0.0.91");
}

TEST(Convert, MultiSegmentExample) {
  const ConvertResult r = Conv(MultiSegment());
  EXPECT_EQ(r.text,
            R"(# Generated from mbus.conf (subclusters: default => rh52mgr)
msgc_server {
   peers = [
     rh52bar2 = "10.79.240.129"
     rh52bare = "10.79.24.130"
     rh52mgr = "10.79.24.136"
   ]
}

msgcserver_listener {
   listen ":4809" { }
}
)");
  EXPECT_TRUE(r.warnings.empty()) << r.WarningText();
  ExpectRevalidates(r);
}

TEST(Convert, MultiSubclusterExample) {
  const std::string text = MultiSubcluster();
  const ParseResult p = ParseMbusConf(text, "mbus.conf");
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.conf.segments.size(), 2u);
  EXPECT_EQ(p.conf.segments[0].subcluster, "east");
  EXPECT_EQ(p.conf.segments[1].subcluster, "west");
  EXPECT_EQ(p.conf.parameters.size(), 16u);  // header repeated

  const ConvertResult r = Conv(text);
  EXPECT_EQ(
      r.text,
      R"(# Generated from mbus.conf (subclusters: east => rh52mgr, west => rh52bar2)
msgc_server {
   peers = [
     rh52bare = "10.79.24.130"
     rh52mgr = "10.79.24.136"
     rh52bar2 = "10.79.240.129"
     rh52bar3 = "10.79.240.130"
   ]
}

msgcserver_listener {
   listen ":4809" { }
}
)");
  EXPECT_TRUE(r.warnings.empty()) << r.WarningText();
  ExpectRevalidates(r);
}

TEST(Convert, PortOptionNeverTheSpreadPort) {
  ConvertOptions options;
  options.port = 5809;
  const ConvertResult r = Conv(kSingle, options);
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_NE(r.text.find("   port = 5809\n   peers = [\n"), std::string::npos);
  EXPECT_NE(r.text.find("listen \":5809\" { }"), std::string::npos);
  EXPECT_EQ(r.text.find("4803"), std::string::npos);
  EXPECT_EQ(r.text.find("10.0.0.255"), std::string::npos);  // broadcast
  ExpectRevalidates(r);
  const config::LoadResult load = config::LoadString(r.text, "out.conf");
  EXPECT_EQ(load.config->server.port, 5809);

  const ConvertResult d = Conv("Spread_Segment 10.0.0.255:5000 { a 10.0.0.1 }");
  ASSERT_TRUE(d.ok()) << d.ErrorText();
  EXPECT_EQ(d.text.find("5000"), std::string::npos);
  EXPECT_NE(d.text.find("listen \":4809\""), std::string::npos);
}

TEST(Convert, NoMarkersNamesOnlyTheFile) {
  const ConvertResult r =
      ConvertMbusConf("Spread_Segment 10.0.0.255 { A 10.0.0.1 }",
                      "/opt/msys/ecelerity/etc/conf/global/mbus.conf");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_EQ(r.text.substr(0, r.text.find('\n')),
            "# Generated from /opt/msys/ecelerity/etc/conf/global/mbus.conf");
  EXPECT_NE(r.text.find("     a = \"10.0.0.1\"\n"), std::string::npos);
}

TEST(Convert, InterfaceBlocksPreferTheDaemonAddress) {
  const ConvertResult r = Conv(R"(Spread_Segment 10.0.0.255:4803 {
  n1 10.0.0.1 { D 192.168.0.1 C 10.0.0.1 }
  n2 10.0.0.2 { C 10.0.0.2 M 172.16.0.2 }
  n3 10.0.0.3 { 192.168.0.3 }
  n4 10.0.0.4 { M 172.16.0.4 DC 192.168.0.4 }
  n5 { c 10.0.0.5 d 192.168.0.5 }
  10.0.0.6 { D 192.168.0.6 }
})");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_EQ(r.text, R"(# Generated from mbus.conf
msgc_server {
   peers = [
     n1 = "192.168.0.1"
     n2 = "10.0.0.2"
     n3 = "192.168.0.3"
     n4 = "192.168.0.4"
     n5 = "192.168.0.5"
     10.0.0.6 = "192.168.0.6"
   ]
}

msgcserver_listener {
   listen ":4809" { }
}
)");
  // Moving a host to another interface is worth a warning.
  EXPECT_TRUE(HasDiagnostic(r.warnings, "mbus.conf:2:17:",
                            "using its daemon interface 192.168.0.1 rather "
                            "than 10.0.0.1"));
  EXPECT_TRUE(HasDiagnostic(
      r.warnings, "mbus.conf:7:3:", "has no name; using the address"));
  ExpectRevalidates(r);
}

TEST(Convert, IpOnlyAndNameOnlyEntries) {
  const ConvertResult r = Conv(R"(Spread_Segment 10.0.0.255 {
  10.0.0.1
  10.0.0.2;
  mta3
})");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_NE(r.text.find("     10.0.0.1 = \"10.0.0.1\"\n"
                        "     10.0.0.2 = \"10.0.0.2\"\n"
                        "     mta3 = \"mta3\"\n"),
            std::string::npos)
      << r.text;
  EXPECT_TRUE(HasDiagnostic(r.warnings, "mbus.conf:2:3:",
                            "daemon 10.0.0.1 has no name; using the address "
                            "as its peer name"));
  EXPECT_TRUE(
      HasDiagnostic(r.warnings, "mbus.conf:3:3:", "10.0.0.2 has no name"));
  EXPECT_TRUE(
      HasDiagnostic(r.warnings, "mbus.conf:4:3:", "msgcd will resolve"));
  ExpectRevalidates(r);
}

TEST(Convert, NamesLowerCasedAndExactRepeatsDropped) {
  const ConvertResult r = Conv(R"(Spread_Segment 10.0.0.255 {
  EC-0-1 10.0.0.1
}
Spread_Segment 10.0.1.255 {
  ec-0-1 10.0.0.1
  Ec-0-2 10.0.1.2
})");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_NE(r.text.find("     ec-0-1 = \"10.0.0.1\"\n"
                        "     ec-0-2 = \"10.0.1.2\"\n   ]"),
            std::string::npos)
      << r.text;
  EXPECT_TRUE(HasDiagnostic(
      r.warnings, "mbus.conf:5:3:", "listed again (first at mbus.conf:2:3)"));
  ExpectRevalidates(r);
}

TEST(Convert, ConflictsNameBothPositions) {
  // One name, two addresses (names compare case-insensitively).
  ConvertResult r = Conv(R"(Spread_Segment 10.0.0.255 {
  ec-0-1 10.0.0.1
}
Spread_Segment 10.0.1.255 {
  EC-0-1 10.0.1.1
})");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.text.empty());
  EXPECT_TRUE(HasDiagnostic(r.errors, "mbus.conf:5:3:",
                            "'ec-0-1' has address 10.0.1.1 here but 10.0.0.1 "
                            "at mbus.conf:2:10"))
      << r.ErrorText();

  // One address, two names (an IP-only entry counts with its address).
  r = Conv(R"(Spread_Segment 10.0.0.255 {
  a 10.0.0.1
  b 10.0.0.1
  10.0.0.1
})");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(HasDiagnostic(r.errors, "mbus.conf:3:5:",
                            "address 10.0.0.1 is used by 'b' here and by 'a' "
                            "at mbus.conf:2:3"))
      << r.ErrorText();
  EXPECT_TRUE(HasDiagnostic(
      r.errors, "mbus.conf:4:3:", "used by '10.0.0.1' here and by 'a'"))
      << r.ErrorText();

  // The chosen (daemon interface) address is what is compared.
  r = Conv(R"(Spread_Segment 10.0.0.255 {
  a 10.0.0.1 { D 192.168.0.9 }
  b 192.168.0.9
})");
  EXPECT_TRUE(HasDiagnostic(r.errors, "mbus.conf:3:5:",
                            "address 192.168.0.9 is used by 'b' here and by "
                            "'a' at mbus.conf:2:3"))
      << r.ErrorText();
}

TEST(Convert, BroadcastAddressIsNotAPeer) {
  const ConvertResult r = Conv(R"(Spread_Segment 10.0.0.255 {
  a 10.0.0.255
})");
  EXPECT_TRUE(
      HasDiagnostic(r.errors, "mbus.conf:2:5:", "segment's broadcast address"))
      << r.ErrorText();
}

TEST(Convert, UnknownParametersWarned) {
  const ConvertResult r = Conv(R"(DaemonUser = spread
Windw = 60
FancyNewThing = { a b }
Spread_Segment 10.0.0.255 { a 10.0.0.1 }
)");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_TRUE(HasDiagnostic(r.warnings, "mbus.conf:2:1:",
                            "unknown Spread parameter 'Windw' ignored; did "
                            "you mean 'Window'?"))
      << r.WarningText();
  EXPECT_TRUE(HasDiagnostic(r.warnings, "mbus.conf:3:1:",
                            "unknown Spread parameter 'FancyNewThing' ignored"))
      << r.WarningText();
  EXPECT_EQ(r.warnings.size(), 2u) << r.WarningText();
  ExpectRevalidates(r);
}

TEST(Convert, LoopbackWarnedAndEmptyInputRefused) {
  ConvertResult r =
      Conv("Spread_Segment 127.0.0.255:4803 { localhost 127.0.0.1 }");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_TRUE(HasDiagnostic(r.warnings, "mbus.conf:1:45:", "loopback"));
  ExpectRevalidates(r);

  r = Conv("# nothing here\nEventTimeStamp\n");
  EXPECT_TRUE(HasDiagnostic(r.errors, "mbus.conf:1:1:", "no daemons found"));
  r = Conv("Spread_Segment 10.0.0.255 { }\n");
  EXPECT_TRUE(HasDiagnostic(r.errors, "mbus.conf:1:1:", "no daemons found"));
}

// ---- The tool --------------------------------------------------------------

class ToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tool = std::getenv("MSGC_UPGRADE_TOOL");
    if (tool == nullptr || *tool == '\0') {
      GTEST_SKIP() << "MSGC_UPGRADE_TOOL is not set";
    }
    tool_ = tool;
    dir_ = std::filesystem::temp_directory_path() /
           ("msgc_upgrade_test." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  std::string Path(const std::string& name) const { return dir_ / name; }

  static void Write(const std::string& path, std::string_view text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Runs the tool with `args` (already quoted); returns its exit status.
  int Tool(const std::string& args) {
    const std::string cmd = "'" + tool_ + "' " + args + " >'" + Path("stdout") +
                            "' 2>'" + Path("stderr") + "'";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string tool_;
  std::filesystem::path dir_;
};

TEST_F(ToolTest, ConvertsToStdoutAndFile) {
  const std::string in = Path("mbus.conf");
  Write(in, kSingle);
  ASSERT_EQ(Tool("'" + in + "'"), 0) << Read(Path("stderr"));
  std::string expected(kSingleExpected);
  expected.replace(expected.find("mbus.conf"), 9, in);
  EXPECT_EQ(Read(Path("stdout")), expected);
  EXPECT_EQ(Read(Path("stderr")), "");

  const std::string out = Path("msgc_server.conf");
  ASSERT_EQ(Tool("-o '" + out + "' --port 5809 '" + in + "'"), 0);
  EXPECT_EQ(Read(Path("stdout")), "");
  const std::string written = Read(out);
  EXPECT_NE(written.find("listen \":5809\""), std::string::npos);
  EXPECT_TRUE(config::LoadString(written, out).ok());

  // No overwrite without --force.
  Write(out, "keep me\n");
  EXPECT_EQ(Tool("-o '" + out + "' '" + in + "'"), 1);
  EXPECT_NE(Read(Path("stderr")).find("--force"), std::string::npos);
  EXPECT_EQ(Read(out), "keep me\n");
  EXPECT_EQ(Tool("--force -o '" + out + "' '" + in + "'"), 0);
  EXPECT_EQ(Read(out).substr(0, 17), "# Generated from ");
}

TEST_F(ToolTest, WarningsAndErrorsOnStderr) {
  const std::string in = Path("warn.conf");
  Write(in, "Bogus = 1\nSpread_Segment 10.0.0.255 { 10.0.0.7 }\n");
  ASSERT_EQ(Tool("'" + in + "'"), 0);
  const std::string err = Read(Path("stderr"));
  EXPECT_NE(err.find(in + ":1:1: warning: unknown Spread parameter 'Bogus'"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find(in + ":2:29: warning: daemon 10.0.0.7 has no name"),
            std::string::npos)
      << err;

  const std::string bad = Path("bad.conf");
  Write(bad, "Spread_Segment 10.0.0.255 {\n  a 10.0.0.1\n  b 10.0.0.1\n}\n");
  EXPECT_EQ(Tool("'" + bad + "'"), 1);
  EXPECT_NE(Read(Path("stderr")).find(bad + ":3:5: error: address 10.0.0.1"),
            std::string::npos)
      << Read(Path("stderr"));
  EXPECT_EQ(Read(Path("stdout")), "");

  EXPECT_EQ(Tool("'" + Path("missing.conf") + "'"), 1);
  EXPECT_NE(Tool("--port 0 '" + in + "'"), 0);  // CLI11 range check
}

}  // namespace
}  // namespace msgc::upgrade
