// libFuzzer target for the msgc config parser and mapping pass.
//
// Feeds arbitrary bytes to LoadString with includes disabled (so fuzz input
// can never read files or hang on a FIFO), and checks the invariants the
// rest of msgc relies on:
//   - a load either yields a Config or at least one error, never both;
//   - every error is formatted "name:line:column: message";
//   - a loaded Config survives Format -> LoadString -> Format unchanged and
//     Diff against itself is empty.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using msgc::config::LoadOptions;
  using msgc::config::LoadResult;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  LoadOptions options;
  options.allow_includes = false;
  options.base_dir = "/nonexistent";
  const LoadResult r = msgc::config::LoadString(text, "fuzz.conf", options);
  Check((r.config != nullptr) != !r.errors.empty());
  for (const auto& e : r.errors) {
    Check(e.ToString().rfind("fuzz.conf", 0) == 0);
  }
  if (!r.ok()) return 0;

  const std::string once = msgc::config::Format(*r.config);
  const LoadResult again =
      msgc::config::LoadString(once, "formatted.conf", options);
  Check(again.ok());
  Check(msgc::config::Format(*again.config) == once);
  Check(msgc::config::Diff(*r.config, *again.config).empty());

  std::string value;
  (void)msgc::config::GetOption(*r.config, "msgc_server", "peers", &value);
  return 0;
}
