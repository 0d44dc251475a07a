// The `msgc` tool end to end: `listen --json --count N` and `send` (exact
// JSON lines, --lines, binary payloads, services, unicast), exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "support/msgcd_process.h"

namespace msgc {
namespace {

using std::chrono::milliseconds;
using test::Subprocess;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

class ToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tool_ = test::GetEnv("MSGC_TOOL");
    ASSERT_FALSE(tool_.empty()) << "MSGC_TOOL is not set";
    d_ = test::StartMsgcd("msgc_server { port = @PORT@ }");
    ASSERT_NE(d_, nullptr);
    server_ = "127.0.0.1:" + std::to_string(d_->port());
  }

  // Starts `msgc --server S <args>` (through /bin/sh when `stdin_text` is
  // given, which is piped in).
  void Start(Subprocess* p, const std::string& tag,
             const std::vector<std::string>& args,
             const std::string* stdin_text = nullptr) {
    Subprocess::Options o;
    if (stdin_text == nullptr) {
      o.argv = {tool_, "--server", server_};
      o.argv.insert(o.argv.end(), args.begin(), args.end());
    } else {
      std::string in_path = dir_.File(tag + ".in");
      ASSERT_TRUE(test::WriteFile(in_path, *stdin_text).ok());
      std::string cmd = "exec '" + tool_ + "' --server " + server_;
      for (const std::string& a : args) cmd += " '" + a + "'";
      cmd += " < '" + in_path + "'";
      o.argv = {"/bin/sh", "-c", cmd};
    }
    o.stdout_path = dir_.File(tag + ".out");
    o.stderr_path = dir_.File(tag + ".err");
    ASSERT_TRUE(p->Start(o).ok());
  }

  // Runs a command to completion; returns its exit code (-1 on timeout).
  int Run(const std::string& tag, const std::vector<std::string>& args,
          const std::string* stdin_text = nullptr, std::string* err = nullptr) {
    Subprocess p;
    Start(&p, tag, args, stdin_text);
    std::optional<int> rc = p.Wait(milliseconds(10000));
    if (err != nullptr) *err = p.ReadStderr();
    return rc.value_or(-1);
  }

  // Starts a JSON listener on `groups` and waits for its own join line.
  void StartListener(Subprocess* p, const std::string& name, int count,
                     const std::vector<std::string>& groups) {
    std::vector<std::string> args = {
        "--name",    name, "listen", "--json", "--count", std::to_string(count),
        "--timeout", "20"};
    args.insert(args.end(), groups.begin(), groups.end());
    Start(p, name, args);
    const std::string me = d_->PrivateName(name);
    ASSERT_TRUE(test::WaitFor(
        milliseconds(5000),
        [&] {
          size_t joins = 0;
          for (const std::string& l : Lines(p->ReadStdout())) {
            if (l.find("\"cause\":\"join\",\"member\":\"" + me + "\"") !=
                std::string::npos) {
              ++joins;
            }
          }
          return joins == groups.size();
        }))
        << p->ReadStdout() << p->ReadStderr();
  }

  std::string tool_;
  std::unique_ptr<test::Msgcd> d_;
  std::string server_;
  test::TempDir dir_;
};

TEST_F(ToolTest, ListenJsonAndSendExactLines) {
  Subprocess listener;
  StartListener(&listener, "l", 5, {"g"});
  EXPECT_EQ(Run("s1", {"--name", "s", "send", "g", "hello"}), 0);
  std::string lines = "one\ntwo\n";
  EXPECT_EQ(
      Run("s2", {"--name", "s", "send", "--lines", "--agreed", "g"}, &lines),
      0);
  std::string binary("\xff\x00\x01", 3);
  EXPECT_EQ(Run("s3", {"--name", "s", "send", "--safe", "g"}, &binary), 0);
  EXPECT_EQ(Run("s4", {"--name", "s", "send", "g,h", "multi"}), 0);
  ASSERT_EQ(listener.Wait(milliseconds(10000)), std::optional<int>(0))
      << listener.ReadStderr();

  std::vector<std::string> out = Lines(listener.ReadStdout());
  ASSERT_EQ(out.size(), 6u) << listener.ReadStdout();
  const std::string l = d_->PrivateName("l"), s = d_->PrivateName("s");
  std::string view = nlohmann::json::parse(out[0])["view"];
  EXPECT_EQ(out[0], R"({"type":"membership","group":"g","cause":"join",)"
                    R"("member":")" +
                        l + R"(","members":[")" + l + R"("],"view":")" + view +
                        R"(","changed":[")" + l + R"("]})");
  auto msg = [&](const std::string& groups_json, const std::string& first,
                 const std::string& service, const std::string& data) {
    return R"({"type":"message","group":")" + first + R"(","groups":)" +
           groups_json + R"(,"sender":")" + s + R"(","service":")" + service +
           R"(",)" + data + "}";
  };
  EXPECT_EQ(out[1], msg(R"(["g"])", "g", "fifo", R"("data":"hello")"));
  EXPECT_EQ(out[2], msg(R"(["g"])", "g", "agreed", R"("data":"one")"));
  EXPECT_EQ(out[3], msg(R"(["g"])", "g", "agreed", R"("data":"two")"));
  EXPECT_EQ(out[4], msg(R"(["g"])", "g", "safe", R"("data_b64":"/wAB")"));
  EXPECT_EQ(out[5], msg(R"(["g","h"])", "g", "fifo", R"("data":"multi")"));
}

TEST_F(ToolTest, MembershipLinesAndPlainOutput) {
  Subprocess json, plain;
  StartListener(&json, "j", 1, {"g"});
  Start(&plain, "p",
        {"--name", "p", "listen", "--count", "1", "--timeout", "20", "g"});
  // j sees p join (a second line), then one message ends both.
  const std::string p = d_->PrivateName("p"), j = d_->PrivateName("j");
  ASSERT_TRUE(test::WaitFor(milliseconds(5000), [&] {
    return Lines(json.ReadStdout()).size() == 2;
  }));
  EXPECT_EQ(Run("s", {"send", "g", "x y"}), 0);
  ASSERT_EQ(json.Wait(milliseconds(10000)), std::optional<int>(0));
  ASSERT_EQ(plain.Wait(milliseconds(10000)), std::optional<int>(0));
  std::vector<std::string> out = Lines(json.ReadStdout());
  ASSERT_EQ(out.size(), 3u);
  nlohmann::json second = nlohmann::json::parse(out[1]);
  EXPECT_EQ(second["cause"], "join");
  EXPECT_EQ(second["member"], p);
  EXPECT_EQ(second["members"], (std::vector<std::string>{j, p}));
  EXPECT_EQ(second["changed"], std::vector<std::string>{p});
  EXPECT_NE(second["view"], nlohmann::json::parse(out[0])["view"]);
  std::vector<std::string> text = Lines(plain.ReadStdout());
  ASSERT_EQ(text.size(), 2u);
  EXPECT_EQ(text[0].rfind("membership g join changed=" + p, 0), 0u) << text[0];
  EXPECT_NE(text[1].find("message g from #"), std::string::npos) << text[1];
  EXPECT_NE(text[1].find("(fifo, 3 bytes): x y"), std::string::npos);
}

TEST_F(ToolTest, UnicastAndNoSelf) {
  Subprocess listener;
  StartListener(&listener, "u", 1, {"g"});
  const std::string u = d_->PrivateName("u");
  // --no-self from another session changes nothing for u.
  EXPECT_EQ(Run("s1", {"send", "--no-self", u, "direct"}), 0);
  ASSERT_EQ(listener.Wait(milliseconds(10000)), std::optional<int>(0));
  std::vector<std::string> out = Lines(listener.ReadStdout());
  ASSERT_EQ(out.size(), 2u);
  nlohmann::json m = nlohmann::json::parse(out[1]);
  EXPECT_EQ(m["group"], u);
  EXPECT_EQ(m["data"], "direct");
}

TEST_F(ToolTest, ExitCodes) {
  std::string err;
  // Unknown private name: the server's error is reported, exit 1.
  EXPECT_EQ(Run("e1", {"send", d_->PrivateName("nobody"), "x"}, nullptr, &err),
            1);
  EXPECT_NE(err.find("NO_SUCH_RECIPIENT"), std::string::npos) << err;
  // Nobody listening on the port: exit 3.
  Subprocess p;
  Subprocess::Options o;
  o.argv = {
      tool_,  "--server", "127.0.0.1:" + std::to_string(test::PickFreePort()),
      "send", "g",        "x"};
  o.stderr_path = dir_.File("e2.err");
  ASSERT_TRUE(p.Start(o).ok());
  EXPECT_EQ(p.Wait(milliseconds(10000)), std::optional<int>(3));
  EXPECT_NE(p.ReadStderr().find("could not connect"), std::string::npos);
  // Usage errors: exit 2.
  EXPECT_EQ(Run("e3", {"send"}), 2);
  EXPECT_EQ(Run("e4", {"send", "--agreed", "--safe", "g", "x"}), 2);
  EXPECT_EQ(Run("e5", {"bogus"}), 2);
  EXPECT_EQ(Run("e6", {"send", "#bad", "x"}), 2);
  EXPECT_EQ(Run("e7", {"--name", "bad name", "send", "g", "x"}), 2);
  // listen --timeout with nothing to hear: exit 0 after about that long.
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Run("e8", {"listen", "--timeout", "0.5", "quiet"}), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(450));
}

TEST_F(ToolTest, ConfigFileGivesTheServer) {
  std::string conf = dir_.File("client.conf");
  ASSERT_TRUE(test::WriteFile(conf, "msgc_client {\n  server = ( \"" + server_ +
                                        "\" )\n}\n")
                  .ok());
  Subprocess listener;
  StartListener(&listener, "c", 1, {"g"});
  Subprocess p;
  Subprocess::Options o;
  o.argv = {tool_, "--config", conf, "send", "g", "via-config"};
  o.stderr_path = dir_.File("cfg.err");
  ASSERT_TRUE(p.Start(o).ok());
  EXPECT_EQ(p.Wait(milliseconds(10000)), std::optional<int>(0))
      << p.ReadStderr();
  ASSERT_EQ(listener.Wait(milliseconds(10000)), std::optional<int>(0));
  EXPECT_NE(listener.ReadStdout().find("via-config"), std::string::npos);
  // A broken file: its position is reported, exit 2.
  ASSERT_TRUE(test::WriteFile(conf, "msgc_client {\n  server = \n").ok());
  Subprocess bad;
  o.argv = {tool_, "--config", conf, "send", "g", "x"};
  o.stderr_path = dir_.File("bad.err");
  ASSERT_TRUE(bad.Start(o).ok());
  EXPECT_EQ(bad.Wait(milliseconds(10000)), std::optional<int>(2));
  EXPECT_NE(bad.ReadStderr().find(conf + ":"), std::string::npos)
      << bad.ReadStderr();
}

}  // namespace
}  // namespace msgc
