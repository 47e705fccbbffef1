// Chat templates, piece by piece: the language rules with expected strings, errors with their
// line:column, and hostile templates stopped by the limits.
#include "tokenizers/chat_template.h"

#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"

namespace trustformers::tokenizers {
namespace {

TEST_CASE("a template renders text", "[chat_template]") {
  auto parsed = ChatTemplate::Parse("Hello {{ name }}!");
  REQUIRE(parsed.ok());
  auto rendered = (*parsed)->Render(nlohmann::ordered_json{{"name", "world"}});
  REQUIRE(rendered.ok());
  CHECK(*rendered == "Hello world!");
}

}  // namespace
}  // namespace trustformers::tokenizers
