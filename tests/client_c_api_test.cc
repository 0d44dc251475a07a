// Runs the plain-C test of the C API (c_api_test.c) against a real msgcd.
#include <gtest/gtest.h>

#include "support/msgcd_process.h"

extern "C" int msgc_c_api_test_run(const char* server, char* err,
                                   size_t err_len);

namespace msgc {
namespace {

TEST(ClientCApiTest, PlainC) {
  auto d = test::StartMsgcd("msgc_server { port = @PORT@ }");
  ASSERT_NE(d, nullptr);
  std::string server = "127.0.0.1:" + std::to_string(d->port());
  char err[1024] = "";
  EXPECT_EQ(msgc_c_api_test_run(server.c_str(), err, sizeof(err)), 0) << err;
}

}  // namespace
}  // namespace msgc
