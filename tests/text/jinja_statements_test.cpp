// Statements and their scoping rules: loops (loop variable, filtering, else, break/continue,
// unpacking, recursion), set (plain, unpacking, block, namespace attributes), macros with
// defaults and caller, filter/with/generation blocks.
#include "jinja_test_util.h"

namespace edgerun {
namespace {

using test::render;
using test::render_error;
using json = nlohmann::ordered_json;

TEST(JinjaLoops, LoopVariable) {
  EXPECT_EQ(render("{% for i in range(4) %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                   "{{ loop.first|int }}{{ loop.last|int }}{{ loop.length }} {% endfor %}"),
            "1043104 2132004 3221004 4310014 ");
  EXPECT_EQ(render("{% for x in 'abc' %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }};{% endfor %}"), "<a>b;a<b>c;b<c>;");
  EXPECT_EQ(render("{% for i in range(3) %}{{ loop.cycle('odd', 'even') }} {% endfor %}"
                   "{% for x in [1, 1, 2, 1] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}"),
            "odd even odd 121");
  EXPECT_EQ(render("{% for x in [1, 2] %}{% for y in 'ab' %}{{ loop.index }}{{ y }}{% endfor %}{{ loop.index }}|{% endfor %}"),
            "1a2b1|1a2b2|");
  EXPECT_EQ(render("{% for x in [1] %}{{ loop }}{% endfor %}"), "<LoopContext 1/1>");
}

TEST(JinjaLoops, FilterElseAndLoopControls) {
  EXPECT_EQ(render("{% for x in range(10) if x is odd %}{{ x }}/{{ loop.length }} {% else %}none{% endfor %}|"
                   "{% for x in [] %}x{% else %}empty{% endfor %}"),
            "1/5 3/5 5/5 7/5 9/5 |empty");
  EXPECT_EQ(render("{% for x in range(10) %}{% if x == 6 %}{% break %}{% endif %}{% if x is even %}{% continue %}{% endif %}"
                   "{{ x }}{% endfor %}"),
            "135");
}

TEST(JinjaLoops, IterationAndUnpacking) {
  EXPECT_EQ(render("{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}{% for k in {'b': 1, 'a': 2} %}{{ k }}"
                   "{% endfor %}{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}"),
            "b=1;a=2;ba37");
  EXPECT_EQ(render("{% for c in 'h\xC3\xA9' %}[{{ c }}]{% endfor %}"), "[h][\xC3\xA9]");
  EXPECT_EQ(render_error("{% for a, b in [[1, 2, 3]] %}{% endfor %}"), "t line 1: too many values to unpack (expected 2)");
  EXPECT_EQ(render_error("{% for x in none %}{% endfor %}"), "t line 1: 'NoneType' object is not iterable");
}

TEST(JinjaLoops, RecursiveLoops) {
  const json tree = json::parse(R"([{"n": "a", "c": [{"n": "b", "c": [{"n": "c"}]}]}, {"n": "d"}])");
  EXPECT_EQ(render("{% for item in tree recursive %}{{ item.n }}{% if item.c %}({{ loop(item.c) }}){% endif %}{% endfor %}",
                   {{"tree", tree}}),
            "a(b(c))d");
}

TEST(JinjaScopes, LoopIterationsDoNotLeakButIfDoes) {
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1, 2] %}[{{ x }}]{% set x = i * 10 %}{{ x }}{% endfor %}{{ x }}"), "[1]10[1]201");
  EXPECT_EQ(render("{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}"), "2");
  EXPECT_EQ(render("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]"), "3[]");
}

TEST(JinjaScopes, NamespaceCarriesValuesOutOfLoops) {
  EXPECT_EQ(render("{% set ns = namespace(total=0, seen=[]) %}{% for i in [1, 2, 3] %}{% set ns.total = ns.total + i %}"
                   "{% set ns.seen = ns.seen + [i] %}{% endfor %}{{ ns.total }} {{ ns.seen }} {{ ns }}"),
            "6 [1, 2, 3] <Namespace {'total': 6, 'seen': [1, 2, 3]}>");
  EXPECT_EQ(render_error("{% set d = {} %}{% set d.x = 1 %}"), "t line 1: cannot assign attribute on non-namespace object");
}

TEST(JinjaSet, UnpackingAndBlocks) {
  EXPECT_EQ(render("{% set a, b = 'xy' %}{{ b }}{{ a }}{% set t = 1, 2 %}{{ t }}"), "yx(1, 2)");
  EXPECT_EQ(render("{% set block %}\n  inside {{ 1 + 1 }}\n{% endset %}[{{ block }}]{% set up | upper %}shout{% endset %}{{ up }}"),
            "[  inside 2\n]SHOUT");
}

TEST(JinjaMacros, ArgumentsDefaultsAndSpecialVariables) {
  EXPECT_EQ(render("{% macro tag(name, body='empty', cls=none) %}<{{ name }}{% if cls %} class=\"{{ cls }}\"{% endif %}>{{ body }}"
                   "</{{ name }}>{% endmacro %}{{ tag('p') }}{{ tag('b', 'bold', cls='x') }}{{ tag(body='k', name='i') }}"),
            "<p>empty</p><b class=\"x\">bold</b><i>k</i>");
  EXPECT_EQ(render("{% macro m() %}{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, a=3) }}"), "(1, 2)|{'a': 3}");
  EXPECT_EQ(render("{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}"), "[]");
  EXPECT_EQ(render_error("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}"), "t line 1: macro 'm' takes not more than 1 argument(s)");
  EXPECT_EQ(render_error("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=1) }}"), "t line 1: macro 'm' takes no keyword argument 'b'");
}

TEST(JinjaMacros, RecursionClosuresAndCaller) {
  EXPECT_EQ(render("{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(6) }}"), "720");
  // A macro sees the variables of the scope it was defined in as they are when it is called.
  EXPECT_EQ(render("{% set greeting = 'hi' %}{% macro greet() %}{{ greeting }}{% endmacro %}{% set greeting = 'hello' %}{{ greet() }}"),
            "hello");
  EXPECT_EQ(render("{% macro wrap(t) %}<{{ t }}>{{ caller() }}</{{ t }}>{% endmacro %}{% call wrap('b') %}inner{% endcall %}|"
                   "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}"
                   "{% call(x) each([1, 2]) %}({{ x }}){% endcall %}"),
            "<b>inner</b>|(1)(2)");
}

TEST(JinjaBlocks, FilterGenerationAndRaiseException) {
  EXPECT_EQ(render("{% filter upper %}up {{ 'here' }}{% endfilter %}|{% filter replace('a', 'o') | title %}a cat{% endfilter %}"),
            "UP HERE|O Cot");
  EXPECT_EQ(render("{% generation %}kept {{ 1 }}{% endgeneration %}"), "kept 1");
  EXPECT_EQ(render("a\n  {% generation %}\n  b\n  {% endgeneration %}\nc"), "a\n  b\nc");
  EXPECT_EQ(render_error("ok\n\n{{ raise_exception('Only user and assistant roles are supported!') }}"),
            "t line 3: Only user and assistant roles are supported!");
  EXPECT_EQ(render_error("{% for m in ms %}\n{% if m != 'user' %}\n{{ raise_exception('bad role ' ~ m) }}\n{% endif %}\n{% endfor %}",
                         {{"ms", {"user", "tool"}}}),
            "t line 3: bad role tool");
}

}  // namespace
}  // namespace edgerun
