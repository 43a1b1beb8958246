"""Which names a template takes as inputs (guard/template_analysis.py): required when read unguarded, optional
behind ``default`` or an ``is defined`` test, not inputs when the template binds them itself. Through
:func:`~voicing_mcp.guard.templates.placeholders_of` (the sandboxed environment's parse) and :func:`analyse`."""

from __future__ import annotations

import pytest
from jinja2 import Environment

from voicing_mcp.guard.template_analysis import PULLS_IN_ANOTHER_FILE, analyse
from voicing_mcp.guard.templates import placeholders_of


def test_plain_placeholders_are_required() -> None:
    assert placeholders_of("Hi {{name}}, your {{plan_type}} plan payment is pending.") == (["name", "plan_type"], [])


def test_default_filter_makes_a_placeholder_optional() -> None:
    assert placeholders_of('Hi {{ name | default("there") }} from {{ clinic|d("us") }}') == ([], ["clinic", "name"])


def test_is_defined_guard_makes_a_placeholder_optional() -> None:
    source = "Hello{% if time is defined %} at {{ time }}{% endif %}."
    assert placeholders_of(source) == ([], ["time"])


def test_is_not_defined_guards_the_else_branch() -> None:
    source = "{% if nick is not defined %}Hi{% else %}Hi {{ nick }}{% endif %}"
    assert placeholders_of(source) == ([], ["nick"])


def test_defined_and_use_in_one_condition_is_optional() -> None:
    assert placeholders_of("{% if vip is defined and vip %}VIP{% endif %}") == ([], ["vip"])


def test_a_name_used_both_guarded_and_unguarded_is_required() -> None:
    source = "{% if name is defined %}{{ name }}{% endif %} and again {{ name }}"
    assert placeholders_of(source) == (["name"], [])


def test_attribute_and_item_access_need_the_root_name() -> None:
    assert placeholders_of("{{ patient.name }} {{ visit['date'] }}") == (["patient", "visit"], [])


def test_loop_variables_and_set_targets_are_not_inputs() -> None:
    source = (
        "{% set greeting = 'Hi' %}{{ greeting }} "
        "{% for item in items %}{{ loop.index }}. {{ item.label }} {{ suffix }}{% endfor %}"
    )
    assert placeholders_of(source) == (["items", "suffix"], [])


def test_a_name_used_before_it_is_set_is_an_input() -> None:
    assert placeholders_of("{{ x }}{% set x = 1 %}{{ x }}") == (["x"], [])


def test_macro_arguments_and_globals_are_not_inputs() -> None:
    source = "{% macro hi(who) %}Hi {{ who }}{% endmacro %}{{ hi(name) }} {% for i in range(2) %}{{ i }}{% endfor %}"
    assert placeholders_of(source) == (["name"], [])


def test_elif_and_inline_conditions_are_analysed() -> None:
    source = (
        "{% if a is defined %}{{ a }}{% elif b %}{{ c }}{% else %}{{ d | default('') }}{% endif %}"
        "{{ e if e is defined else 'x' }}"
    )
    assert placeholders_of(source) == (["b", "c"], ["a", "d", "e"])


def test_with_targets_and_call_block_arguments_are_not_inputs() -> None:
    source = (
        "{% with who = name %}Hi {{ who }}{% endwith %}"
        "{% macro box() %}[{{ caller() }}]{% endmacro %}"
        "{% call box() %}{{ inner }}{% endcall %}"
    )
    assert placeholders_of(source) == (["inner", "name"], [])


def test_a_set_block_binds_its_name_for_what_follows() -> None:
    assert placeholders_of("{% set intro %}Dear {{ title }}{% endset %}{{ intro }} {{ intro | upper }}") == (
        ["title"],
        [],
    )


def test_is_undefined_guards_the_else_branch_like_is_not_defined() -> None:
    source = "{% if nick is undefined %}Hi{% else %}Hi {{ nick }}{% endif %}"
    assert placeholders_of(source) == ([], ["nick"])


def test_the_arguments_of_default_are_inputs_themselves() -> None:
    assert placeholders_of("{{ nick | default(name) }}") == (["name"], ["nick"])


def test_a_for_loops_else_branch_does_not_see_the_loop_variable() -> None:
    assert placeholders_of("{% for x in xs %}{{ x }}{% else %}{{ x }}{% endfor %}") == (["x", "xs"], [])


def test_names_given_as_ignore_are_not_inputs() -> None:
    env = Environment(autoescape=False)
    assert analyse(env.parse("{{ today }} {{ name }}"), ignore=["today"]) == (["name"], [])


@pytest.mark.parametrize(
    "source",
    ["{% include 'x.j2' %}", "{% import 'x.j2' as x %}", "{% from 'x.j2' import y %}", "{% extends 'x.j2' %}"],
)
def test_every_statement_that_reads_another_file_is_one_the_analysis_names(source: str) -> None:
    env = Environment(autoescape=False)
    assert next(iter(env.parse(source).find_all(PULLS_IN_ANOTHER_FILE)), None) is not None


def test_not_either_undefined_guards_the_if_branch_and_not_the_else_branch() -> None:
    # the else branch runs when a or b is missing: a read there is required (it was listed as optional, so a dial
    # could omit it); b, only tested, is an optional input as in `{% if b is defined %}`
    assert placeholders_of("{% if not (a is undefined or b is undefined) %}x{% else %}{{ a }}{% endif %}") == (
        ["a"],
        ["b"],
    )
    assert placeholders_of("{% if b is defined %}x{% endif %}") == ([], ["b"])
    source = "{% if not (a is undefined or b is undefined) %}{{ a }}{{ b }}{% else %}{{ a }}{% endif %}"
    assert placeholders_of(source) == (["a"], ["b"])


def _proven(test: str) -> tuple[list[str], list[str]]:
    """The names of ``a``, ``b`` that ``test`` proves defined when true, and when false (read in each branch)."""
    when_true = placeholders_of(f"{{% if {test} %}}{{{{ a }}}}{{{{ b }}}}{{% endif %}}")[1]
    when_false = placeholders_of(f"{{% if {test} %}}{{% else %}}{{{{ a }}}}{{{{ b }}}}{{% endif %}}")[1]
    return when_true, when_false


@pytest.mark.parametrize(
    ("test", "when_true", "when_false"),
    [
        ("a is defined", ["a"], []),
        ("a is undefined", [], ["a"]),
        ("a is not defined", [], ["a"]),
        ("not a is undefined", ["a"], []),
        ("a is defined and b is defined", ["a", "b"], []),
        ("a is defined or b is defined", [], []),
        ("a is undefined or b is undefined", [], ["a", "b"]),
        ("a is undefined and b is undefined", [], []),
        ("not (a is undefined or b is undefined)", ["a", "b"], []),
        ("not (a is defined and b is defined)", [], ["a", "b"]),
        ("not (a is defined or b is defined)", [], []),
        ("not (a is undefined and b is undefined)", [], []),
        ("a is undefined or b is defined", [], ["a"]),  # false only when a is there and b is not
        ("a is defined and b is undefined", ["a"], []),
        ("not not a is defined", ["a"], []),
    ],
)
def test_each_combination_of_not_and_or_proves_what_it_says(
    test: str, when_true: list[str], when_false: list[str]
) -> None:
    assert _proven(test) == (when_true, when_false)


@pytest.mark.parametrize(
    ("negated", "pushed_in"),
    [
        ("not (a is defined or b is defined)", "a is not defined and b is not defined"),
        ("not (a is defined and b is defined)", "a is not defined or b is not defined"),
        ("not (a is undefined or b is undefined)", "a is defined and b is defined"),
        ("not (a is undefined and b is undefined)", "a is defined or b is defined"),
        ("not (a is defined or b is undefined)", "a is undefined and b is defined"),
        ("not (a is undefined and b is defined)", "a is defined or b is undefined"),
    ],
)
def test_a_negation_pushed_inside_by_de_morgan_proves_the_same_names(negated: str, pushed_in: str) -> None:
    assert _proven(negated) == _proven(pushed_in)
