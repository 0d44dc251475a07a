#include "config/lexer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace msgc::config {
namespace {

using TK = Token::Kind;

std::vector<TK> Kinds(const LexResult& r) {
  std::vector<TK> kinds;
  for (const Token& t : r.tokens) kinds.push_back(t.kind);
  return kinds;
}

std::vector<std::string> Texts(const LexResult& r) {
  std::vector<std::string> texts;
  for (const Token& t : r.tokens) {
    if (t.kind != TK::kEnd) texts.push_back(t.text);
  }
  return texts;
}

TEST(LexerTest, PunctuationWordsAndStrings) {
  const LexResult r = Lex("a = ( b \"c d\" ) [ k = v ] { }", "f");
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(Kinds(r),
            (std::vector<TK>{TK::kWord, TK::kEquals, TK::kLParen, TK::kWord,
                             TK::kString, TK::kRParen, TK::kLBracket, TK::kWord,
                             TK::kEquals, TK::kWord, TK::kRBracket, TK::kLBrace,
                             TK::kRBrace, TK::kEnd}));
  EXPECT_EQ(Texts(r)[4], "c d");
}

TEST(LexerTest, BareWordsKeepDotsColonsAndSlashes) {
  const LexResult r =
      Lex("10.10.10.10 0.2 node1.int.example.com :4809 /tmp/x DEBUG", "f");
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(Texts(r), (std::vector<std::string>{"10.10.10.10", "0.2",
                                                "node1.int.example.com",
                                                ":4809", "/tmp/x", "DEBUG"}));
}

TEST(LexerTest, PositionsAreOneBasedLineAndColumn) {
  const LexResult r = Lex("a\n  bb = \"x\"", "f.conf");
  ASSERT_EQ(r.tokens.size(), 5u);
  EXPECT_EQ(r.tokens[0].pos.ToString(), "f.conf:1:1");
  EXPECT_EQ(r.tokens[1].pos.ToString(), "f.conf:2:3");
  EXPECT_EQ(r.tokens[2].pos.ToString(), "f.conf:2:6");
  EXPECT_EQ(r.tokens[3].pos.ToString(), "f.conf:2:8");
  EXPECT_EQ(r.tokens[4].kind, TK::kEnd);
}

TEST(LexerTest, HashCommentRunsToEndOfLine) {
  const LexResult r = Lex("a # b = c { \nd", "f");
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(Texts(r), (std::vector<std::string>{"a", "d"}));
}

TEST(LexerTest, BlockCommentsDoNotNest) {
  // The inner "/*" is comment text; the first "*/" ends the comment, so
  // "c */" is left over as words.
  const LexResult r = Lex("a /* x /* y */ c */ d", "f");
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(Texts(r), (std::vector<std::string>{"a", "c", "*/", "d"}));
}

TEST(LexerTest, BlockCommentSpansLinesAndEndsWords) {
  const LexResult r = Lex("a/* one\n two */b", "f");
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(Texts(r), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.tokens[1].pos.ToString(), "f:2:8");
}

TEST(LexerTest, UnterminatedCommentIsReportedAtItsStart) {
  const LexResult r = Lex("a = 1\n  /* never closed\n b = 2", "f.conf");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(),
            "f.conf:2:3: unterminated comment: missing '*/'");
}

TEST(LexerTest, StringEscapes) {
  const LexResult r = Lex(R"("a\"b\\c\nd\te" 'it\'s' "C:\dir")", "f");
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(Texts(r),
            (std::vector<std::string>{"a\"b\\c\nd\te", "it's", "C:\\dir"}));
  EXPECT_EQ(r.tokens[1].kind, TK::kString);
}

TEST(LexerTest, SingleQuotedStringMayContainDoubleQuotes) {
  const LexResult r = Lex(R"('say "hi"')", "f");
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(Texts(r), (std::vector<std::string>{"say \"hi\""}));
}

TEST(LexerTest, UnterminatedStringIsReportedAtItsStart) {
  const LexResult r = Lex("a = \"abc\nb = 'x", "f.conf");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].ToString(),
            "f.conf:1:5: unterminated string: missing closing '\"'");
  EXPECT_EQ(r.errors[1].ToString(),
            "f.conf:2:5: unterminated string: missing closing \"'\"");
  // Lexing went on after the bad string.
  EXPECT_EQ(Texts(r),
            (std::vector<std::string>{"a", "=", "abc", "b", "=", "x"}));
}

TEST(LexerTest, ControlCharacterIsAnError) {
  const LexResult r = Lex(std::string("a \x01 b"), "f");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(), "f:1:3: unexpected control character 0x01");
  EXPECT_EQ(Texts(r), (std::vector<std::string>{"a", "b"}));
}

TEST(LexerTest, EmptyInputHasOnlyEnd) {
  const LexResult r = Lex("", "f");
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.tokens.size(), 1u);
  EXPECT_EQ(r.tokens[0].kind, TK::kEnd);
}

TEST(LexerTest, IsBareWord) {
  EXPECT_TRUE(IsBareWord("node1.int.example.com"));
  EXPECT_TRUE(IsBareWord("10.0.0.1"));
  EXPECT_FALSE(IsBareWord(""));
  EXPECT_FALSE(IsBareWord("a b"));
  EXPECT_FALSE(IsBareWord("a=b"));
  EXPECT_FALSE(IsBareWord("a#b"));
  EXPECT_FALSE(IsBareWord("a/*b"));
  EXPECT_FALSE(IsBareWord("it's"));
}

TEST(LexerTest, DescribeToken) {
  const LexResult r = Lex("w \"s\" {", "f");
  EXPECT_EQ(DescribeToken(r.tokens[0]), "'w'");
  EXPECT_EQ(DescribeToken(r.tokens[1]), "string \"s\"");
  EXPECT_EQ(DescribeToken(r.tokens[2]), "'{'");
  EXPECT_EQ(DescribeToken(r.tokens[3]), "end of file");
}

}  // namespace
}  // namespace msgc::config
