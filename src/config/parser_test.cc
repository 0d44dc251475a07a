#include "config/parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace msgc::config {
namespace {

std::vector<std::string> ErrorStrings(const ParseResult& r) {
  std::vector<std::string> out;
  for (const Diagnostic& d : r.errors) out.push_back(d.ToString());
  return out;
}

TEST(ParserTest, OptionWithWordAndString) {
  const ParseResult r = Parse("a = DEBUG\nb = \"x y\"", "f");
  ASSERT_TRUE(r.ok()) << ErrorStrings(r)[0];
  ASSERT_EQ(r.nodes.size(), 2u);
  EXPECT_EQ(r.nodes[0].kind, Node::Kind::kOption);
  EXPECT_EQ(r.nodes[0].name, "a");
  EXPECT_EQ(r.nodes[0].value.kind, Value::Kind::kWord);
  EXPECT_EQ(r.nodes[0].value.text, "DEBUG");
  EXPECT_EQ(r.nodes[0].value.pos.ToString(), "f:1:5");
  EXPECT_EQ(r.nodes[1].value.kind, Value::Kind::kString);
  EXPECT_EQ(r.nodes[1].value.text, "x y");
  EXPECT_EQ(r.nodes[1].pos.ToString(), "f:2:1");
}

TEST(ParserTest, ScopesNamedScopesAndNesting) {
  const ParseResult r = Parse(
      "ESMTP_Listener {\n"
      "  Listen \":25\" { }\n"
      "  Domain yahoo.com { Gateway = \"server.yahoo.com\" }\n"
      "}\n",
      "f");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.nodes.size(), 1u);
  const Node& top = r.nodes[0];
  EXPECT_EQ(top.kind, Node::Kind::kScope);
  EXPECT_FALSE(top.has_instance);
  ASSERT_EQ(top.children.size(), 2u);
  EXPECT_EQ(top.children[0].name, "Listen");
  EXPECT_TRUE(top.children[0].has_instance);
  EXPECT_EQ(top.children[0].instance, ":25");
  EXPECT_EQ(top.children[0].instance_pos.ToString(), "f:2:10");
  EXPECT_TRUE(top.children[0].children.empty());
  const Node& domain = top.children[1];
  EXPECT_EQ(domain.instance, "yahoo.com");  // bare-word instance
  ASSERT_EQ(domain.children.size(), 1u);
  EXPECT_EQ(domain.children[0].name, "Gateway");
  EXPECT_EQ(domain.children[0].value.text, "server.yahoo.com");
}

TEST(ParserTest, SeveralStatementsOnOneLine) {
  const ParseResult r = Parse("node n1 { a = 1  b = 2 } c = 3", "f");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.nodes.size(), 2u);
  ASSERT_EQ(r.nodes[0].children.size(), 2u);
  EXPECT_EQ(r.nodes[0].children[1].name, "b");
  EXPECT_EQ(r.nodes[0].children[1].pos.ToString(), "f:1:18");
  EXPECT_EQ(r.nodes[1].name, "c");
}

TEST(ParserTest, Arrays) {
  const ParseResult r =
      Parse("a = ( x \"y z\" 'w' )\nb = ()\nc = ((1) [k=v])", "f");
  ASSERT_TRUE(r.ok());
  const Value& a = r.nodes[0].value;
  EXPECT_EQ(a.kind, Value::Kind::kArray);
  ASSERT_EQ(a.items.size(), 3u);
  EXPECT_EQ(a.items[1].text, "y z");
  EXPECT_EQ(a.items[2].kind, Value::Kind::kString);
  EXPECT_EQ(r.nodes[1].value.kind, Value::Kind::kArray);
  EXPECT_TRUE(r.nodes[1].value.items.empty());
  const Value& c = r.nodes[2].value;
  ASSERT_EQ(c.items.size(), 2u);
  EXPECT_EQ(c.items[0].kind, Value::Kind::kArray);
  EXPECT_EQ(c.items[1].kind, Value::Kind::kDict);
}

TEST(ParserTest, DictionariesWithDottedKeys) {
  const ParseResult r = Parse(
      "peers = [ node1.int.example.com = \"10.0.0.1\"  k2 = v2\n"
      "  \"quoted key\" = ( a b ) ]",
      "f");
  ASSERT_TRUE(r.ok());
  const Value& d = r.nodes[0].value;
  EXPECT_EQ(d.kind, Value::Kind::kDict);
  ASSERT_EQ(d.entries.size(), 3u);
  EXPECT_EQ(d.entries[0].key, "node1.int.example.com");
  EXPECT_EQ(d.entries[0].value.text, "10.0.0.1");
  EXPECT_EQ(d.entries[1].key, "k2");
  EXPECT_EQ(d.entries[1].pos.ToString(), "f:1:47");
  EXPECT_EQ(d.entries[2].key, "quoted key");
  EXPECT_EQ(d.entries[2].value.kind, Value::Kind::kArray);
  EXPECT_TRUE(Parse("d = [ ]", "f").nodes[0].value.entries.empty());
}

TEST(ParserTest, IncludeDirectives) {
  const ParseResult r = Parse(
      "include \"a.conf\"\nscope { readonly_include b.d }\nINCLUDE 'c'", "f");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.nodes.size(), 3u);
  EXPECT_EQ(r.nodes[0].kind, Node::Kind::kInclude);
  EXPECT_FALSE(r.nodes[0].readonly);
  EXPECT_EQ(r.nodes[0].path, "a.conf");
  EXPECT_EQ(r.nodes[0].path_pos.ToString(), "f:1:9");
  const Node& inner = r.nodes[1].children[0];
  EXPECT_EQ(inner.kind, Node::Kind::kInclude);
  EXPECT_TRUE(inner.readonly);
  EXPECT_EQ(inner.path, "b.d");
  EXPECT_EQ(r.nodes[2].kind, Node::Kind::kInclude);  // case-insensitive
  EXPECT_EQ(r.nodes[2].path, "c");
}

TEST(ParserTest, IncludeAsOptionNameIsAnOption) {
  const ParseResult r = Parse("include = x", "f");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.nodes[0].kind, Node::Kind::kOption);
}

TEST(ParserTest, CommentsAnywhere) {
  const ParseResult r = Parse(
      "# header\n"
      "s /* c1 */ { /* c2 */ a = /* c3 */ 1 # c4\n"
      "}\n",
      "f");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.nodes[0].children.size(), 1u);
  EXPECT_EQ(r.nodes[0].children[0].value.text, "1");
}

TEST(ParserTest, MissingEqualsOrBrace) {
  const ParseResult r = Parse("a b c\nd = 1", "f.conf");
  EXPECT_EQ(ErrorStrings(r),
            (std::vector<std::string>{
                "f.conf:1:3: expected '=' or '{' after 'a', got 'b'"}));
  // Recovery resumed on the next line.
  ASSERT_EQ(r.nodes.size(), 1u);
  EXPECT_EQ(r.nodes[0].name, "d");
}

TEST(ParserTest, MissingValue) {
  const ParseResult r = Parse("s { a = }\nb = 2", "f.conf");
  EXPECT_EQ(ErrorStrings(r),
            (std::vector<std::string>{
                "f.conf:1:9: expected a value after 'a =', got '}'"}));
  ASSERT_EQ(r.nodes.size(), 2u);
  EXPECT_TRUE(r.nodes[0].children.empty());
}

TEST(ParserTest, UnexpectedClosingBrace) {
  const ParseResult r = Parse("a = 1 }\nb = 2", "f.conf");
  EXPECT_EQ(ErrorStrings(r),
            (std::vector<std::string>{
                "f.conf:1:7: unexpected '}' with no open scope"}));
  EXPECT_EQ(r.nodes.size(), 2u);
}

TEST(ParserTest, UnclosedScope) {
  const ParseResult r = Parse("msgc_server {\n  a = 1\n", "f.conf");
  EXPECT_EQ(ErrorStrings(r),
            (std::vector<std::string>{
                "f.conf:1:1: scope 'msgc_server' is not closed: missing '}'"}));
}

TEST(ParserTest, UnclosedArrayAndDict) {
  const ParseResult r = Parse("s { a = ( 1 2\n}\nt { b = [ k = v\n}", "f.conf");
  EXPECT_EQ(ErrorStrings(r),
            (std::vector<std::string>{
                "f.conf:1:9: array is not closed: missing ')' before '}' at "
                "f.conf:2:1",
                "f.conf:3:9: dictionary is not closed: missing ']' before '}' "
                "at f.conf:4:1"}));
  EXPECT_EQ(r.nodes.size(), 2u);
}

TEST(ParserTest, BadDictionaryEntries) {
  EXPECT_EQ(ErrorStrings(Parse("d = [ k v ]", "f")),
            (std::vector<std::string>{
                "f:1:9: expected '=' after dictionary key 'k', got 'v'"}));
  EXPECT_EQ(
      ErrorStrings(Parse("d = [ ( ]", "f")),
      (std::vector<std::string>{"f:1:7: expected a dictionary key, got '('"}));
}

TEST(ParserTest, ExpectedName) {
  EXPECT_EQ(ErrorStrings(Parse("= 3\nb = 1", "f")),
            (std::vector<std::string>{
                "f:1:1: expected an option or scope name, got '='"}));
  EXPECT_EQ(
      ErrorStrings(Parse("\"str\" = 3", "f")),
      (std::vector<std::string>{
          "f:1:1: expected an option or scope name, got string \"str\""}));
}

TEST(ParserTest, CollectsEveryErrorInTextOrder) {
  const ParseResult r =
      Parse("a b c\nx = \"open\ny = 2 }\n/* never closed", "f");
  EXPECT_EQ(ErrorStrings(r),
            (std::vector<std::string>{
                "f:1:3: expected '=' or '{' after 'a', got 'b'",
                "f:2:5: unterminated string: missing closing '\"'",
                "f:3:7: unexpected '}' with no open scope",
                "f:4:1: unterminated comment: missing '*/'"}));
}

TEST(ParserTest, DeepNestingIsBounded) {
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "s {";
  const ParseResult r = Parse(deep, "f");
  ASSERT_FALSE(r.ok());
  // The 65th "{" is too deep; the 64 open scopes are each reported as
  // not closed.
  ASSERT_EQ(r.errors.size(), 65u);
  EXPECT_EQ(r.errors[64].ToString(),
            "f:1:195: scopes nested more than 64 deep");
  EXPECT_EQ(r.errors[0].ToString(),
            "f:1:1: scope 's' is not closed: missing '}'");

  std::string arrays = "a = ";
  for (int i = 0; i < 200; ++i) arrays += "(";
  const ParseResult r2 = Parse(arrays, "f");
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.errors[0].message, "values nested more than 64 deep");
}

TEST(ParserTest, ParseValue) {
  Value v;
  ASSERT_TRUE(ParseValue("= ( a \"b\" )", "<console>", &v).ok());
  EXPECT_EQ(v.kind, Value::Kind::kArray);
  EXPECT_EQ(v.items.size(), 2u);
  const ParseResult bad = ParseValue("1 2", "<console>", &v);
  EXPECT_EQ(ErrorStrings(bad),
            (std::vector<std::string>{"<console>:1:3: unexpected '2' after the "
                                      "value"}));
  EXPECT_EQ(ErrorStrings(ParseValue("", "<console>", &v)),
            (std::vector<std::string>{"<console>:1:1: expected a value"}));
}

}  // namespace
}  // namespace msgc::config
