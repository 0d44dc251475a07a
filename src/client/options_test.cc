#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "msgc/client.h"

namespace msgc {
namespace {

TEST(ClientOptions, DefaultsAreValid) {
  ClientOptions o;
  EXPECT_TRUE(o.Validate().ok());
  EXPECT_EQ(o.servers, std::vector<std::string>{"127.0.0.1:4809"});
  EXPECT_EQ(o.connect_timeout, 60);
  EXPECT_EQ(o.idle_timeout, 30);
  EXPECT_EQ(o.keepalive_interval, 5);
  EXPECT_EQ(o.reconnect_interval, 5);
  EXPECT_EQ(o.max_backlog, 5000u);
  EXPECT_EQ(o.tcpbuf_size, 131072u);
}

TEST(ClientOptions, ValidateRejects) {
  ClientOptions o;
  o.servers = {};
  EXPECT_EQ(o.Validate().code(), Result::Code::kInvalidArgument);
  o = ClientOptions();
  o.servers = {"nohost"};
  EXPECT_EQ(o.Validate().code(), Result::Code::kInvalidArgument);
  o = ClientOptions();
  o.name = "bad name";
  EXPECT_EQ(o.Validate().code(), Result::Code::kInvalidArgument);
  o = ClientOptions();
  o.connect_timeout = 0;
  EXPECT_EQ(o.Validate().code(), Result::Code::kInvalidArgument);
  o = ClientOptions();
  o.bind_address = "not-an-ip";
  EXPECT_EQ(o.Validate().code(), Result::Code::kInvalidArgument);
}

TEST(ClientOptions, ConnectRejectsBadOptions) {
  ClientOptions o;
  o.servers = {"x"};
  std::unique_ptr<Client> c;
  EXPECT_EQ(Client::Connect(o, &c).code(), Result::Code::kInvalidArgument);
  EXPECT_EQ(c, nullptr);
}

TEST(ClientOptions, ConnectFailsWhenNoServerListens) {
  ClientOptions o;
  o.servers = {"127.0.0.1:1", "127.0.0.1:2"};
  o.connect_timeout = 2;
  std::unique_ptr<Client> c;
  Result r = Client::Connect(o, &c);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.message().find("127.0.0.1:1"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("127.0.0.1:2"), std::string::npos) << r.message();
  EXPECT_EQ(c, nullptr);
}

TEST(ClientOptions, BackgroundConnectReportsNotConnected) {
  ClientOptions o;
  o.servers = {"127.0.0.1:1"};
  o.wait_for_connection = false;
  o.reconnect_interval = 0.05;
  std::unique_ptr<Client> c;
  ASSERT_TRUE(Client::Connect(o, &c).ok());
  EXPECT_FALSE(c->IsConnected());
  EXPECT_EQ(c->Multicast("g", "x").code(), Result::Code::kNotConnected);
  EXPECT_TRUE(c->Join("g", "caps").ok());  // remembered for later
  EXPECT_EQ(c->Leave("other").code(), Result::Code::kNotFound);
  EXPECT_TRUE(c->Close().ok());
  Event ev;
  EXPECT_EQ(c->Receive(&ev, std::chrono::milliseconds(0)).code(),
            Result::Code::kNotConnected);
  EXPECT_EQ(c->Multicast("g", "x").code(), Result::Code::kNotConnected);
}

#if MSGC_HAVE_CONFIG
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char tmpl[] = "/tmp/msgc_options_test_XXXXXX";
    int fd = mkstemp(tmpl);
    path_ = tmpl;
    (void)!write(fd, text.data(), text.size());
    close(fd);
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ClientOptions, FromConfigFile) {
  TempFile f(
      "msgc_client {\n"
      "  server = ( \"127.0.0.1:5001\" \"127.0.0.1:5002\" )\n"
      "  reconnect_interval = 0.5\n"
      "  max_backlog = 10\n"
      "}\n");
  ClientOptions o;
  o.name = "keep";
  ASSERT_TRUE(ClientOptions::FromConfigFile(f.path(), &o).ok());
  EXPECT_EQ(o.servers,
            (std::vector<std::string>{"127.0.0.1:5001", "127.0.0.1:5002"}));
  EXPECT_EQ(o.reconnect_interval, 0.5);
  EXPECT_EQ(o.max_backlog, 10u);
  EXPECT_EQ(o.idle_timeout, 30);  // not set: unchanged
  EXPECT_EQ(o.name, "keep");
}

TEST(ClientOptions, FromConfigFileErrorsHavePositions) {
  TempFile f("msgc_client {\n  connect_timeout = banana\n}\n");
  ClientOptions o;
  Result r = ClientOptions::FromConfigFile(f.path(), &o);
  EXPECT_EQ(r.code(), Result::Code::kInvalidArgument);
  EXPECT_NE(r.message().find(f.path() + ":2:"), std::string::npos)
      << r.message();
}
#endif

}  // namespace
}  // namespace msgc
