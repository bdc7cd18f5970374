// Expressions follow Python's data model, because Jinja2 evaluates them in Python: operators,
// comparisons, slicing, str()/repr() of values (what `| string` prints), JSON output, methods.
#include "jinja_test_util.h"

namespace edgerun {
namespace {

using test::render;
using test::render_error;
using json = nlohmann::ordered_json;

TEST(JinjaExpressions, ArithmeticIsPython) {
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ -2 ** 2 }} "
                   "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7.5 // 2 }}"),
            "3 -4 2 3.5 1024 0.5 4 7 9 3.0");
  EXPECT_EQ(render("{{ 'ab' ~ 1 ~ none ~ 2.0 }} {{ 'ab' + 'cd' }} {{ [1] + [2] }} {{ 'ab' * 2 }} {{ 0.1 + 0.2 }} "
                   "{{ 1e16 }} {{ 1e-5 }} {{ 100.0 }} {{ 1.5e300 * 1e10 }}"),
            "ab1None2.0 abcd [1, 2] abab 0.30000000000000004 1e+16 1e-05 100.0 inf");
  EXPECT_EQ(render("{{ true + 1 }} {{ 4 / 2 }} {{ -7.5 % 2 }}"), "2 2.0 0.5");
}

TEST(JinjaExpressions, ArithmeticErrors) {
  EXPECT_EQ(render_error("{{ 1 + 'a' }}"), "t line 1: unsupported operand type(s) for +: 'int' and 'str'");
  EXPECT_EQ(render_error("{{ 'a' + 1 }}"), "t line 1: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(render_error("\n{{ 1 / 0 }}"), "t line 2: division by zero");
  EXPECT_EQ(render_error("{{ 10 ** 20 }}"), "t line 1: integer overflow");  // Python ints are unbounded; ours refuse to wrap
  EXPECT_EQ(render_error("{{ 1 < 'a' }}"), "t line 1: '<' not supported between instances of 'int' and 'str'");
}

TEST(JinjaExpressions, ComparisonsAndLogic) {
  EXPECT_EQ(render("{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ [1, 2] < [1, 3] }} "
                   "{{ 'a' in 'cat' }} {{ 2 not in [1, 3] }} {{ 'k' in {'k': 0} }}"),
            "True True True True False True True True True");
  EXPECT_EQ(render("{{ 0 or 'x' }} {{ 1 and 'y' }} {{ none or false }} {{ not 0 }} {{ 'yes' if 1 else 'no' }} "
                   "{{ 'a' if false else 'b' if false else 'c' }}"),
            "x y False True yes c");
  EXPECT_EQ(render("{{ 1 if false }}|{{ (1 if false) is defined }}"), "|False");
}

TEST(JinjaExpressions, Slicing) {
  EXPECT_EQ(render("{{ [1, 2, 3, 4, 5][1:3] }} {{ [1, 2, 3, 4, 5][::-1] }} {{ [1, 2, 3, 4, 5][::2] }} "
                   "{{ [1, 2, 3, 4, 5][-2:] }} {{ [1, 2, 3][-10:10] }} {{ 'h\xC3\xA9llo'[1:4] }} {{ 'hello'[::-2] }} "
                   "{{ (1, 2, 3)[1:] }} {{ 'abc'[-1] }}"),
            "[2, 3] [5, 4, 3, 2, 1] [1, 3, 5] [4, 5] [1, 2, 3] \xC3\xA9ll olh (2, 3) c");
  EXPECT_EQ(render_error("{{ 'abc'[::0] }}"), "t line 1: slice step cannot be zero");
}

TEST(JinjaExpressions, StringFilterIsPythonStr) {
  const json d = json::parse(R"({"s": "it's", "q": "say \"hi\"", "both": "it's \"x\"", "esc": "tab\tnl\nbs\\",
    "nbsp": "a\u00a0b", "zw": "a\u200bb", "emoji": "\ud83d\ude00", "ctl": "\u0001",
    "f": [1.0, 0.5, 1e-05, 1e+16, 123456789.123, -0.0], "b": [true, false, null]})");
  EXPECT_EQ(render("{{ d|string }}", {{"d", d}}),
            R"({'s': "it's", 'q': 'say "hi"', 'both': 'it\'s "x"', 'esc': 'tab\tnl\nbs\\', 'nbsp': 'a\xa0b', )"
            R"('zw': 'a\u200bb', 'emoji': '😀', 'ctl': '\x01', 'f': [1.0, 0.5, 1e-05, 1e+16, 123456789.123, -0.0], )"
            R"('b': [True, False, None]})");
  EXPECT_EQ(render("{{ d }}", {{"d", json::parse(R"({"z": 1, "a": 2})")}}), "{'z': 1, 'a': 2}");  // insertion order
}

TEST(JinjaExpressions, ToJsonIsPythonJsonDumps) {
  const json d = json::parse(R"({"z": 1, "a": [1.5, "x\"y\n", null, true], "e": {}, "l": []})");
  EXPECT_EQ(render("{{ d|tojson }}", {{"d", d}}), R"({"z": 1, "a": [1.5, "x\"y\n", null, true], "e": {}, "l": []})");
  EXPECT_EQ(render("{{ d|tojson(indent=2) }}", {{"d", d}}),
            "{\n  \"z\": 1,\n  \"a\": [\n    1.5,\n    \"x\\\"y\\n\",\n    null,\n    true\n  ],\n  \"e\": {},\n  \"l\": []\n}");
  EXPECT_EQ(render("{{ d|tojson(sort_keys=true) }}", {{"d", d}}), R"({"a": [1.5, "x\"y\n", null, true], "e": {}, "l": [], "z": 1})");
  EXPECT_EQ(render("{{ d|tojson(separators=(',', ':')) }}", {{"d", d}}), R"({"z":1,"a":[1.5,"x\"y\n",null,true],"e":{},"l":[]})");
  EXPECT_EQ(render("{{ '\xC3\xA9\xF0\x9F\x98\x80<&>'|tojson }}"), "\"\xC3\xA9\xF0\x9F\x98\x80<&>\"");  // no HTML escaping
  EXPECT_EQ(render("{{ '\xC3\xA9\xF0\x9F\x98\x80'|tojson(ensure_ascii=true) }}"), R"("\u00e9\ud83d\ude00")");
  EXPECT_EQ(render("{{ x|tojson }}", {{"x", json::parse("[1e-05, 2.0, 3]")}}), "[1e-05, 2.0, 3]");
  EXPECT_EQ(render_error("{{ undefined_thing|tojson }}"), "t line 1: Object of type Undefined is not JSON serializable");
}

TEST(JinjaExpressions, StringMethods) {
  EXPECT_EQ(render("{{ ' a b '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ 'xxa'.lstrip('x') }}|{{ 'axx'.rstrip('x') }}|"
                   "{{ '\\n\\nhi'.lstrip('\\n') }}|{{ 'a,b,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a,b,c'.split(',', 1) }}|"
                   "{{ 'a,b,c'.rsplit(',', 1) }}|{{ '  a b c  '.split(none, 1) }}"),
            "a b|a|a|a|hi|['a', 'b', 'c']|['a', 'b']|['a', 'b,c']|['a,b', 'c']|['a', 'b c  ']");
  EXPECT_EQ(render("{{ 'abc'.startswith('a') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'abc'.upper() }}|"
                   "{{ \"they're bill\".title() }}|{{ 'hELLO'.capitalize() }}|{{ 'aaa'.replace('a', 'b', 2) }}|"
                   "{{ 'abcb'.find('b') }}|{{ 'abcb'.rfind('b') }}|{{ 'abc'.find('z') }}|{{ '-'.join(['a', 'b']) }}|"
                   "{{ 'ab'.center(6, '*') }}|{{ '42'.zfill(5) }}|{{ 'abc'.count('b') }}|{{ 'a\\nb\\r\\nc'.splitlines() }}"),
            "True|True|ABC|They'Re Bill|Hello|bba|1|3|-1|a-b|**ab**|00042|1|['a', 'b', 'c']");
  EXPECT_EQ(render("{{ '{} and {}'.format(1, 'x') }}|{{ '{a}-{0}'.format(5, a=2) }}|{{ '{:>5}|{:<3}|{:^5}|{:05d}|{:.2f}|{:x}|{!r}|{:,}'.format('a', 'b', 'c', 42, 3.14159, 255, 'q', 1000) }}"),
            "1 and x|2-5|    a|b  |  c  |00042|3.14|ff|'q'|1,000");
  EXPECT_EQ(render("{{ '%s' % [1, 2] }}|{{ 'abc' % [1] }}|{{ 'abc' % {'a': 1} }}"), "[1, 2]|abc|abc");
  EXPECT_EQ(render_error("{{ 'abc' % 1 }}"), "t line 1: not all arguments converted during string formatting");
  EXPECT_EQ(render("{{ '%s-%d-%05.2f-%x-%r' % ('a', 3, 3.14159, 255, 'q') }}|{{ '%(a)s' % {'a': 1} }}|{{ '%-3s|%3s' % ('a', 'b') }}"),
            "a-3-03.14-ff-'q'|1|a  |  b");
  EXPECT_EQ(render("{{ 'école'.upper() }} {{ 'STRAß' .lower() }} {{ 'straß'.upper() }}"), "ÉCOLE straß STRASS");
}

TEST(JinjaExpressions, DictAndListMethods) {
  EXPECT_EQ(render("{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b') }} {{ {'a': 1}.get('b', 2) }} {{ {'a': 1}.keys()|list }} "
                   "{{ {'a': 1}.values()|list }} {{ {'a': 1}.items()|list }} {{ [1, 2, 1].count(1) }} {{ [1, 2].index(2) }}"),
            "1 None 2 ['a'] [1] [('a', 1)] 2 1");
  EXPECT_EQ(render("{{ {'a': 1}.items() }}|{{ {}.keys() }}|{{ {'a': [1]}.values() }}|{% if {}.items() %}x{% endif %}|"
                   "{{ {'a': 1}.items()|length }}|{{ {'a': 1}.items()[0] is defined }}|{{ {}[] is defined }}"),
            "dict_items([('a', 1)])|dict_keys([])|dict_values([[1]])||1|False|False");
  // Hugging Face renders in Jinja2's immutable sandbox: values cannot be modified.
  EXPECT_EQ(render_error("{% set x = [1] %}\n{{ x.append(2) }}"),
            "t line 2: access to attribute 'append' of 'list' object is unsafe (templates cannot modify values)");
  // d['items'] is the key when there is one, d.items the method (attribute lookup first).
  EXPECT_EQ(render("{{ d['items'] }}|{{ d.get('items') }}|{{ d.items()|list }}", {{"d", {{"items", 5}}}}), "5|5|[('items', 5)]");
}

TEST(JinjaExpressions, UndefinedBehavesLikeJinja2Default) {
  EXPECT_EQ(render("{{ x }}|{{ x is defined }}|{{ x is undefined }}|{{ x|default('d') }}|{{ x ~ 'y' }}|{{ x|length }}|"
                   "{{ 'a' in x }}|{% for i in x %}never{% endfor %}|{{ x == x }}|{{ {}.missing }}|{{ none.attr }}|"
                   "{{ [1][9] is defined }}"),
            "|False|True|d|y|0|False||True|||False");
  EXPECT_EQ(render_error("{{ x + 1 }}"), "t line 1: 'x' is undefined");
  EXPECT_EQ(render_error("\n{{ x.attr }}"), "t line 2: 'x' is undefined");
  EXPECT_EQ(render_error("{{ x['key'] }}"), "t line 1: 'x' is undefined");
  EXPECT_EQ(render_error("{{ x() }}"), "t line 1: 'x' is undefined");
  EXPECT_EQ(render_error("{{ m.a.b }}", {{"m", json::object()}}), "t line 1: 'dict object' has no attribute 'a'");
}

}  // namespace
}  // namespace edgerun
