// Built-in filters, tests (`is ...`) and global functions.
#include "jinja_test_util.h"

namespace edgerun {
namespace {

using test::render;
using test::render_error;

TEST(JinjaFilters, Sorting) {
  EXPECT_EQ(render("{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'a']|sort }} {{ ['b', 'A', 'a']|sort(case_sensitive=true) }} "
                   "{{ [3, 1, 2]|sort(reverse=true) }} {{ [{'n': 2}, {'n': 1}]|sort(attribute='n') }} "
                   "{{ [{'a': {'b': 2}}, {'a': {'b': 1}}]|sort(attribute='a.b')|map(attribute='a.b')|list }}"),
            "[1, 2, 3] ['A', 'a', 'b'] ['A', 'a', 'b'] [3, 2, 1] [{'n': 1}, {'n': 2}] [1, 2]");
  EXPECT_EQ(render("{{ {'b': 1, 'A': 2, 'a': 3}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value', reverse=true) }} "
                   "{{ {'b': 1, 'a': 2}|items|list }}"),
            "[('A', 2), ('a', 3), ('b', 1)] [('a', 2), ('b', 1)] [('b', 1), ('a', 2)]");
  EXPECT_EQ(render_error("{{ [1, 'a']|sort }}"), "t line 1: '<' not supported between instances of 'str' and 'int'");
}

TEST(JinjaFilters, Sequences) {
  EXPECT_EQ(render("{{ [1, 2, 1, 'a', 'A']|unique|list }} {{ [1, 2, 3]|reverse|list }} {{ 'abc'|reverse }} {{ [3, 1, 2]|min }} "
                   "{{ [3, 1, 2]|max }} {{ ['B', 'a']|min }} {{ [1, 2, 3]|sum }} {{ [{'a': 1}, {'a': 2}]|sum(attribute='a') }}"),
            "[1, 2, 'a'] [3, 2, 1] cba 1 3 a 6 3");
  EXPECT_EQ(render("{{ [1, 2, 3]|length }} {{ 'h\xC3\xA9llo'|length }} {{ {'a': 1}|count }} {{ [3, 1, 2]|first }} {{ [3, 1, 2]|last }} "
                   "{{ []|first is defined }} {{ 'abc'|list }} {{ {'x': 1}|list }}"),
            "3 5 1 3 2 False ['a', 'b', 'c'] ['x']");
  EXPECT_EQ(render("{{ [1, 2, 3]|join(',') }} {{ ['a', 'b']|join }} {{ [{'n': 'x'}, {'n': 'y'}]|join(', ', attribute='n') }}"),
            "1,2,3 ab x, y");
  EXPECT_EQ(render("{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 0)|list }}"), "[[1, 2], [3, 4], [5]] [[1, 2], [3, 0]]");
}

TEST(JinjaFilters, SelectRejectMap) {
  EXPECT_EQ(render("{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [0, 1, '', 'a']|select|list }} "
                   "{{ [1, 2, 3]|select('gt', 1)|list }} {{ [{'a': 1}, {'a': 0}, {}]|selectattr('a')|list }} "
                   "{{ [{'a': 1}, {'a': 0}, {}]|rejectattr('a')|list }} "
                   "{{ [{'r': 'user'}, {'r': 'system'}]|selectattr('r', 'equalto', 'system')|list }}"),
            "[1, 3] [2, 4] [1, 'a'] [2, 3] [{'a': 1}] [{'a': 0}, {}] [{'r': 'system'}]");
  EXPECT_EQ(render("{{ [{'n': 1}, {'n': 2}]|map(attribute='n')|list }} {{ ['a', 'b']|map('upper')|list }} "
                   "{{ [1, 2]|map('string')|join('-') }} {{ [{'a': 1}, {}]|map(attribute='a', default='z')|list }}"),
            "[1, 2] ['A', 'B'] 1-2 [1, 'z']");
}

TEST(JinjaFilters, GeneratorFiltersReturnIterators) {
  // map, select, reject, unique, batch, items and reverse return iterators in Jinja2: always
  // true (even when empty), without len(), not indexable; range() prints as a range.
  EXPECT_EQ(render("{% if [1]|select('even') %}yes{% endif %}|{% if []|map('upper') %}yes{% endif %}|{{ range(3) }}|"
                   "{{ range(1, 10, 2) }}|{{ range(3)|length }}|{{ range(3)[1] }}|{{ ([1, 2]|reverse)[0] is defined }}|"
                   "{{ [1, 2]|select is sequence }}|{{ range(0) is sequence }}"),
            "yes|yes|range(0, 3)|range(1, 10, 2)|3|1|False|False|True");
  EXPECT_EQ(render_error("{{ [1, 2]|select|length }}"), "t line 1: object of type 'generator' has no len()");
  EXPECT_EQ(render_error("{{ [1, 2]|select|last }}"), "t line 1: 'generator' object is not reversible");
  EXPECT_EQ(render_error("{{ [1, 2]|map('string')|tojson }}"), "t line 1: Object of type generator is not JSON serializable");
  EXPECT_EQ(render_error("{{ x[1:] }}", {{"x", 5}}), "t line 1: 'int' object is not subscriptable");
}

TEST(JinjaFilters, Strings) {
  EXPECT_EQ(render("{{ 'abc'|upper }} {{ 'ABC'|lower }} {{ 'hELLO world'|capitalize }} {{ \"they're bill-o (x) [y]\"|title }} "
                   "{{ '  a  '|trim }}|{{ 'xxaxx'|trim('x') }} {{ 'aXa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }}"),
            "ABC abc Hello world They're Bill-O (X) [Y] a|a bXb bba");
  EXPECT_EQ(render("{{ 'a\\nb\\n'|indent(2) }}|{{ 'a\\n\\nb'|indent(2, true, true) }}|{{ 'x\\ny'|indent('>> ') }}"),
            "a\n  b\n|  a\n  \n  b|x\n>> y");
  EXPECT_EQ(render("{{ 'a b  c'|wordcount }} {{ 'a'|center(5) }}|{{ 'hello world this is long'|truncate(12) }}|"
                   "{{ 'hello world this is long'|truncate(12, true) }}"),
            "3   a  |hello...|hello wor...");
  EXPECT_EQ(render_error("{{ 5|indent }}"), "t line 1: unsupported operand type(s) for +=: 'int' and 'str'");
  EXPECT_EQ(render("{{ '<a href=\"x\">&\\'</a>'|e }} {{ '<b>'|safe }} {{ 1|string }} {{ [1, 'a']|string }} "
                   "{{ '%s and %s'|format(1, 'b') }} {{ '%(x)s'|format(x=5) }}"),
            "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt; <b> 1 [1, 'a'] 1 and b 5");
}

TEST(JinjaFilters, Numbers) {
  EXPECT_EQ(render("{{ 3|int }} {{ '3.7'|int }} {{ 'abc'|int }} {{ 'abc'|int(7) }} {{ '0x1f'|int(base=16) }} {{ '1_000'|int }} "
                   "{{ '3.5'|float }} {{ 'x'|float }} {{ 5|float }} {{ -3|abs }} {{ -2.5|abs }}"),
            "3 3 0 7 31 1000 3.5 0.0 5.0 3 2.5");
  EXPECT_EQ(render("{{ 3|round }} {{ 2.5|round }} {{ 3.5|round }} {{ 3.14159|round(2) }} {{ 2.675|round(2) }} {{ 1250|round(-2) }} "
                   "{{ 2.1|round(method='ceil') }} {{ 2.9|round(method='floor') }}"),
            "3 2.0 4.0 3.14 2.67 1200 3.0 2.0");
}

TEST(JinjaFilters, DefaultKeepsFalsyValuesUnlessAsked) {
  EXPECT_EQ(render("{{ ''|default('d', true) }} {{ none|default('d') }} {{ none|d('d', true) }} {{ false|default('d') }}"),
            "d None d False");
}

TEST(JinjaTests, TypeAndValueTests) {
  EXPECT_EQ(render("{{ x is defined }} {{ none is none }} {{ 1 is number }} {{ 1.0 is float }} {{ 1 is integer }} "
                   "{{ true is integer }} {{ true is number }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is iterable }} "
                   "{{ 'a' is sequence }} {{ 1 is sequence }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} "
                   "{{ 9 is divisibleby(4) }}"),
            "False True True True True False True True True True True False True True True False");
  EXPECT_EQ(render("{{ 1 is eq 1 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 1 is gt 2 }} {{ 2 is ge 2 }} {{ 1 is le 0 }} "
                   "{{ true is boolean }} {{ true is true }} {{ false is false }} {{ 'abc' is lower }} {{ 'ABC' is upper }} "
                   "{{ 2 is in [1, 2] }} {{ x is not defined }} {{ range is callable }} {{ 'upper' is filter }} "
                   "{{ 'odd' is test }} {{ none is sameas none }}"),
            "True True True False True False True True True True True True True True True True True");
}

TEST(JinjaGlobals, RangeDictNamespaceJoinerClock) {
  EXPECT_EQ(render("{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ dict(a=1, b=2) }} "
                   "{{ namespace(x=1).x }} {{ strftime_now('%d %B %Y %H:%M %a %j') }}"),
            "[0, 1, 2] [1, 4, 7] [5, 3, 1] {'a': 1, 'b': 2} 1 08 July 2025 12:00 Tue 189");
  EXPECT_EQ(render("{% set j = joiner('|') %}{% for i in range(3) %}{{ j() }}{{ i }}{% endfor %}"), "0|1|2");
  EXPECT_EQ(render_error("{{ range(100001)|length }}"),
            "t line 1: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  EXPECT_EQ(render_error("{{ strftime_now('%Y') }}", nlohmann::ordered_json::object(), jinja::RenderOptions{}),
            "t line 1: strftime_now() needs a clock, and none was given to the renderer");
}

}  // namespace
}  // namespace edgerun
