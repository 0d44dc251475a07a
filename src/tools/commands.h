// The subcommands of the `msgc` tool. Each returns the process exit code:
//   0 success, 1 failure while running (send refused, server error),
//   2 usage error, 3 could not connect to any server.
//
// Thread-safety: called once from main().
#ifndef MSGC_TOOLS_COMMANDS_H_
#define MSGC_TOOLS_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "msgc/client.h"

namespace msgc::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNoConnection = 3;

// Options shared by every subcommand.
struct GlobalArgs {
  std::vector<std::string> servers;  // empty: from --config or the default
  std::string name;
  std::string config_file;
  double connect_timeout = 0;  // 0: keep the option's value
};

struct ListenArgs {
  bool json = false;
  uint64_t count = 0;  // 0: no limit
  double timeout = 0;  // seconds; 0: no limit
  std::vector<std::string> groups;
};

struct SendArgs {
  bool no_self = false;
  bool lines = false;
  Service service = Service::kFifo;
  std::string destination;             // group, "#private#name" or "g1,g2"
  std::optional<std::string> message;  // none: read stdin
};

// Builds the client options from the global arguments (--config first,
// then --server/--name on top). Prints the error and returns false on
// failure.
bool MakeClientOptions(const GlobalArgs& global, ClientOptions* out);

int RunListen(const GlobalArgs& global, const ListenArgs& args);
int RunSend(const GlobalArgs& global, const SendArgs& args);

}  // namespace msgc::tools

#endif  // MSGC_TOOLS_COMMANDS_H_
