// The template language's surface: whitespace control as Hugging Face configures Jinja2
// (trim_blocks, lstrip_blocks), comments, raw blocks, literals, and syntax errors that name the
// line.
#include "jinja_test_util.h"

namespace edgerun {
namespace {

using test::render;
using test::render_error;

TEST(JinjaWhitespace, TrimBlocksDropsTheNewlineAfterABlockTag) {
  EXPECT_EQ(render("{% for m in ['a', 'b'] %}\n    {{ m }}\n{% endfor %}\n"), "    a\n    b\n");
}

TEST(JinjaWhitespace, LstripBlocksRemovesIndentationBeforeBlockTags) {
  EXPECT_EQ(render("<ul>\n  {% for x in [1, 2] %}\n  <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n"),
            "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>");
  EXPECT_EQ(render("line\n    {# note #}\nnext"), "line\nnext");  // comments too
  EXPECT_EQ(render("  {% if true %}x{% endif %}"), "x");             // at the very start
  EXPECT_EQ(render("a  {% if true %}x{% endif %}"), "a  x");         // not after text on the line
  EXPECT_EQ(render("{{ 1 }}  {% if true %}x{% endif %}"), "1  x");
}

TEST(JinjaWhitespace, MinusStripsAndPlusKeeps) {
  EXPECT_EQ(render("{%- for x in [1, 2] -%}\n  [{{- x -}}]\n{%- endfor -%}"), "[1][2]");
  EXPECT_EQ(render("a  {%- if true %} b {% endif -%}  c"), "a b c");
  EXPECT_EQ(render("a {#- comment -#} b"), "ab");
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");  // + turns lstrip off for the tag
  EXPECT_EQ(render("{% if true +%}\nx{% endif %}"), "\nx");  // +%} keeps the newline
}

TEST(JinjaWhitespace, NewlinesAreNormalizedAndOneTrailingNewlineDropped) {
  EXPECT_EQ(render("a\r\nb\rc\n"), "a\nb\nc");
  EXPECT_EQ(render("a\n\n"), "a\n");
}

TEST(JinjaWhitespace, RawBlocksAreNotEvaluated) {
  EXPECT_EQ(render("{% raw %}{{ not evaluated }}{% endraw %}"), "{{ not evaluated }}");
  EXPECT_EQ(render("{% raw %}\n {{ a }} {% endraw %}\nb"), "\n {{ a }} b");
  EXPECT_EQ(render("{% raw -%}  x  {%- endraw %}"), "x");
}

TEST(JinjaLiterals, StringsNumbersAndConstants) {
  EXPECT_EQ(render(R"({{ "tab\tnew\nline \u00e9 \x41 \\ \' \" \q" }})"), "tab\tnew\nline \xC3\xA9 A \\ ' \" \\q");
  EXPECT_EQ(render("{{ 'a' 'b' }} {{ 1_000 }} {{ 0x1F }} {{ 1.5e3 }} {{ 2e-5 }} {{ True }} {{ none }} {{ None is none }}"),
            "ab 1000 31 1500.0 2e-05 True None True");
  EXPECT_EQ(render("{{ [1, 'two', 3.0, none, true] }} {{ {'k': 'v', 'n': [1]} }} {{ (1,) }} {{ (1, 2) }} {{ () }}"),
            "[1, 'two', 3.0, None, True] {'k': 'v', 'n': [1]} (1,) (1, 2) ()");
  EXPECT_EQ(render("{{ {'a': {'b': 1}} }}"), "{'a': {'b': 1}}");  // }} inside braces does not end the tag
  EXPECT_EQ(render("{{ '{{' }} {{ '%}' }}"), "{{ %}");
  EXPECT_EQ(render("{{ 1.5e999 }}"), "inf");
}

TEST(JinjaSyntaxErrors, NameTheTemplateAndLine) {
  EXPECT_EQ(render_error("line one\n{{ foo | nosuchfilter }}"), "t line 2: unknown filter 'nosuchfilter'");
  EXPECT_EQ(render_error("\n\n{{ x is nosuchtest }}"), "t line 3: unknown test 'nosuchtest'");
  EXPECT_EQ(render_error("a\n{% foo %}"), "t line 2: unknown tag 'foo'");
  EXPECT_EQ(render_error("a\n\n{% if x %}\nno end"), "t line 3: 'if' block is never closed (expected 'elif' or 'else' or 'endif')");
  EXPECT_EQ(render_error("{% for x in y %}\n{% endif %}"),
            "t line 2: unexpected 'endif': the innermost open block is 'for' (line 1), which needs 'endfor' or 'else'");
  EXPECT_EQ(render_error("{% endfor %}"), "t line 1: unexpected 'endfor' (no open block needs it)");
  EXPECT_EQ(render_error("ok\n{{ 'unterminated }}"), "t line 2: string literal is never closed");
  EXPECT_EQ(render_error("{{ 1 + }}"), "t line 1: unexpected end of print statement '}}'");
  EXPECT_EQ(render_error("{{ 1 "), "t line 1: tag is never closed (expected '}}')");
  EXPECT_EQ(render_error("x\n{# never closed"), "t line 2: comment is never closed (expected '#}')");
  EXPECT_EQ(render_error("{% raw %} never closed"), "t line 1: 'raw' block is never closed (expected '{% endraw %}')");
  EXPECT_EQ(render_error("{% break %}"), "t line 1: 'break' outside of a loop");
  EXPECT_EQ(render_error("{{ 99999999999999999999 }}"), "t line 1: invalid or too large integer '99999999999999999999'");
  EXPECT_EQ(render_error("{{ '\\x4' }}"), "t line 1: truncated \\x escape in a string literal");
  EXPECT_EQ(render_error("{{ a @ b }}"), "t line 1: unexpected character '@'");
  EXPECT_EQ(render_error("{% macro m(a=1, b) %}{% endmacro %}"), "t line 1: non-default argument follows default argument");
}

TEST(JinjaSyntaxErrors, LinesCountInsideMultiLineTags) {
  EXPECT_EQ(render_error("{{\n  foo\n  | nope }}"), "t line 3: unknown filter 'nope'");
  EXPECT_EQ(render_error("{# one\ntwo #}\n{{ x | nope }}"), "t line 3: unknown filter 'nope'");
  EXPECT_EQ(render_error("{{ 'a\nb' }}\n{{ x | nope }}"), "t line 3: unknown filter 'nope'");
}

}  // namespace
}  // namespace edgerun
