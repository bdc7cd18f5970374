// Hostile templates: deep nesting, runaway recursion, exponential strings, endless loops and
// self-referencing data must end in one clean error, never a crash or a hang.
#include "jinja_test_util.h"

namespace edgerun {
namespace {

using test::render;
using test::render_error;

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(JinjaLimits, DeepNestingIsASyntaxError) {
  const std::string nested = "template nested too deeply (more than 128 levels)";
  EXPECT_EQ(render_error("{{ " + repeat("(", 5000) + "1" + repeat(")", 5000) + " }}"), "t line 1: " + nested);
  EXPECT_EQ(render_error("{{ " + repeat("[", 5000) + repeat("]", 5000) + " }}"), "t line 1: " + nested);
  EXPECT_EQ(render_error("{{ " + repeat("not ", 5000) + "1 }}"), "t line 1: " + nested);
  EXPECT_EQ(render_error("{{ " + repeat("-", 5000) + "1 }}"), "t line 1: " + nested);
  EXPECT_EQ(render_error(repeat("{% if true %}", 5000) + repeat("{% endif %}", 5000)), "t line 1: " + nested);
  // Long left-leaning chains are refused too: they would recurse as deeply when evaluated.
  EXPECT_EQ(render_error("{{ " + repeat("1 + ", 5000) + "1 }}"), "t line 1: expression nested too deeply");
  EXPECT_EQ(render_error("{{ x" + repeat(".a", 5000) + " }}"), "t line 1: expression nested too deeply");
  EXPECT_EQ(render_error("{{ x" + repeat("|trim", 5000) + " }}"), "t line 1: expression nested too deeply");
  EXPECT_EQ(render("{{ " + repeat("'a' ~ ", 5000) + "'a' }}").size(), 5001u);  // ~ chains stay flat
}

TEST(JinjaLimits, RunawayRecursionStops) {
  EXPECT_EQ(render_error("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}"),
            "t line 1: template nests or recurses too deeply (limit 400)");
  EXPECT_EQ(render_error("{% for x in [[1]] recursive %}{{ loop([[1]]) }}{% endfor %}").substr(0, 40),
            "t line 1: template nests or recurses too");
}

TEST(JinjaLimits, HugeStringsAreRefusedBeforeTheyAreBuilt) {
  EXPECT_EQ(render_error("{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
            "t line 1: output would exceed 33554432 bytes");
  EXPECT_EQ(render_error("{{ 'a' * 100000000000 }}"), "t line 1: output would exceed 33554432 bytes");
  EXPECT_EQ(render_error("{% set s = 'a' * 1000000 %}{{ s.replace('', s)|length }}"), "t line 1: string would exceed 67108864 bytes");
  EXPECT_EQ(render_error("{{ 'a'.center(100000000000) }}"), "t line 1: string would exceed 67108864 bytes");
  EXPECT_EQ(render_error("{{ [1] * 100000000000 }}"), "t line 1: list repetition too large");
}

TEST(JinjaLimits, OutputLimitIsConfigurable) {
  jinja::RenderOptions options = test::frozen_clock_options();
  options.limits.max_output_bytes = 10;
  EXPECT_EQ(render("0123456789", nlohmann::ordered_json::object(), options), "0123456789");
  EXPECT_EQ(render_error("0123456789{{ 'x' }}", nlohmann::ordered_json::object(), options), "t line 1: output would exceed 10 bytes");
}

TEST(JinjaLimits, EndlessWorkStops) {
  EXPECT_EQ(render_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
            "t line 1: template does too much work (more than 5000000 steps)");
}

TEST(JinjaLimits, SelfReferencingAndExponentialData) {
  EXPECT_EQ(render_error("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}"), "t line 1: value nested more than 512 levels deep");
  const std::string doubling = "{% set ns = namespace(x=1) %}{% for i in range(60) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}";
  EXPECT_EQ(render_error(doubling + "{{ ns.x|string|length }}"), "t line 1: value too large to compare or print");
  EXPECT_EQ(render_error(doubling + "{{ ns.x|tojson|length }}"), "t line 1: string would exceed 67108864 bytes");
  EXPECT_EQ(render(doubling + "{{ ns.x == ns.x }}"), "True");
  EXPECT_EQ(render_error("{% set ns = namespace(x=[]) %}{% for i in range(2000) %}{% set ns.x = [ns.x] %}{% endfor %}"),
            "t line 1: value nested more than 512 levels deep");
}

TEST(JinjaLimits, LongChainsOfReferencesAreTornDownSafely) {
  // Namespaces, loops and macros can link values into chains far longer than any one value may
  // nest; rendering must neither overflow the stack tearing them down nor leak them.
  EXPECT_EQ(render("{% set ns = namespace(head=none) %}{% for i in range(100000) %}"
                   "{% set ns.head = namespace(next=ns.head) %}{% endfor %}done"),
            "done");
  // A loop object holds its items, so this chain nests: refused like any deep value.
  EXPECT_EQ(render_error("{% set ns = namespace(h=[]) %}{% for i in range(30000) %}{% for x in [ns.h] %}"
                         "{% set ns.h = [loop] %}{% endfor %}{% endfor %}"),
            "t line 1: value nested more than 512 levels deep");
  EXPECT_EQ(render("{% set ns = namespace(m=none) %}{% for i in range(30000) %}{% set prev = ns.m %}"
                   "{% macro m() %}{{ prev }}{% endmacro %}{% set ns.m = m %}{% endfor %}{% set ns.m = none %}done"),
            "done");
  EXPECT_EQ(render("{% set ns = namespace(h=none) %}{% for i in range(30000) %}{% set prev = ns.h %}{% with %}"
                   "{% for x in [1] recursive %}{% set ns.h = [loop] %}{% endfor %}{% endwith %}{% endfor %}done"),
            "done");
  EXPECT_EQ(render("{% set ns = namespace(h=[]) %}{% for i in range(30000) %}{% for x in [1] %}"
                   "{% if loop.changed([ns.h]) %}{% set ns.h = [loop] %}{% endif %}{% endfor %}{% endfor %}done"),
            "done");
}

TEST(JinjaLimits, DeeplyNestedJsonInputIsRefused) {
  std::string text = repeat("[", 600) + repeat("]", 600);
  EXPECT_THROW(jinja::from_json(nlohmann::ordered_json::parse(text)), Error);
}

}  // namespace
}  // namespace edgerun
