"""Templates (guard/templates.py): the shipped examples, sandboxed rendering, reload and parse errors. Which names
a template takes as inputs is pinned in test_template_analysis.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mcp import Client

from server_support import call, dial_client, dials, refusal, structured
from voicing_mcp.config import PACKAGE_PROMPTS_DIR, load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.errors import VoicingError
from voicing_mcp.guard.templates import TemplateProblem, TemplateStore, display_name_in, without_name_line_break
from voicing_mcp.server.app import create_server


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("{# name: Payment reminder #}\nHi {{name}}.", "Payment reminder"),
        ("{#- name:   Payment   reminder -#}\r\nHi", "Payment reminder"),
        ("\ufeff{# Name: Clinic #}", "Clinic"),
        ("{# name: Ann\u202e evil \x1b[31m #}\nHi", "Ann<U+202E> evil <U+001B>[31m"),
        ("{# name: " + "x" * 200 + " #}", "x" * 79 + "…"),
        ("{# name: #}\nHi", None),
        ("Hi {# name: not on the first line #}", None),
        ("\n{# name: not on the first line #}", None),
        ("{# a comment, no name #}\nHi", None),
        ("{# name: unclosed\nHi", None),
    ],
)
def test_the_first_line_name_comment_is_the_display_name_made_visible_and_bounded(
    source: str, name: str | None
) -> None:
    assert display_name_in(source) == name


def test_a_name_line_renders_to_nothing_and_is_no_input(tmp_path: Path) -> None:
    (tmp_path / "a.j2").write_text("{# name: Payment reminder #}\nHi {{ name }}.", encoding="utf-8")
    (tmp_path / "b.j2").write_text("Hi {{ name }}.", encoding="utf-8")
    store = TemplateStore(tmp_path)
    named = store.get("a")
    assert named is not None and named.display_name == "Payment reminder" and named.required == ["name"]
    assert named.render({"name": "Ann"}).strip() == "Hi Ann."
    assert store.display_name("a") == "Payment reminder"
    assert store.display_name("b") is None and store.display_name("missing") is None
    (tmp_path / "c.j2").write_text("{# name: Broken #}\n{% if %}", encoding="utf-8")
    assert store.display_name("c") is None  # a template that does not parse names nothing (the dial says why)
    with pytest.raises(TemplateProblem) as caught:
        store.get("c")
    assert caught.value.line == 2  # the name line keeps the file's line numbers


def test_every_shipped_example_has_a_display_name() -> None:
    store = TemplateStore(PACKAGE_PROMPTS_DIR)
    names = {t.assistant_id: t.display_name for t in store.list()}
    assert len(names) == 3 and all(names.values()), names


def test_shipped_example_templates_are_analysed(tmp_path: Path) -> None:
    store = TemplateStore(PACKAGE_PROMPTS_DIR)
    by_id = {t.assistant_id: t for t in store.list()}
    reminder = by_id["019addcc-0000-7000-8000-000000000002"]
    assert reminder.required == ["date", "name"]
    assert reminder.optional == ["clinic", "time"]
    payment = by_id["019addcc-b878-7b10-85f1-49f21342f947"]
    assert payment.required == ["name", "plan_type"]
    assert by_id["019addcc-0000-7000-8000-000000000001"].placeholders == []


def test_render_fills_values_and_defaults() -> None:
    template = TemplateStore(PACKAGE_PROMPTS_DIR).get("019addcc-0000-7000-8000-000000000002")
    assert template is not None
    text = template.render({"name": "Ann", "date": "May 3"})
    assert text.startswith("Hi Ann, this is a reminder of your appointment on May 3.")
    assert "our main clinic" in text


def test_render_with_a_missing_value_is_a_problem_naming_the_file() -> None:
    template = TemplateStore(PACKAGE_PROMPTS_DIR).get("019addcc-b878-7b10-85f1-49f21342f947")
    assert template is not None
    with pytest.raises(TemplateProblem) as info:
        template.render({"name": "Ann"})
    assert "019addcc-b878-7b10-85f1-49f21342f947.j2" in str(info.value)
    assert "plan_type" in str(info.value)


def test_render_is_sandboxed(tmp_path: Path) -> None:
    (tmp_path / "evil.j2").write_text("{{ name.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8")
    template = TemplateStore(tmp_path).get("evil")
    assert template is not None
    with pytest.raises(TemplateProblem, match="could not be rendered"):
        template.render({"name": "x"})


def test_parse_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.j2").write_text("line one\nline two {% if x %}\nno endif\n", encoding="utf-8")
    with pytest.raises(TemplateProblem) as info:
        TemplateStore(tmp_path).get("broken")
    assert isinstance(info.value, VoicingError)
    assert str(tmp_path / "broken.j2") in str(info.value)
    assert info.value.line is not None
    assert f"line {info.value.line}" in str(info.value)


def test_scan_reports_broken_templates_next_to_good_ones(tmp_path: Path) -> None:
    (tmp_path / "good.j2").write_text("Hi {{ name }}", encoding="utf-8")
    (tmp_path / "bad.j2").write_text("{{ oops", encoding="utf-8")
    store = TemplateStore(tmp_path)
    templates, problems = store.scan()
    assert [t.assistant_id for t in templates] == ["good"]
    assert [p.path.name for p in problems] == ["bad.j2"]
    with pytest.raises(TemplateProblem):
        store.list()


def test_missing_template_and_unsafe_ids_give_none(tmp_path: Path) -> None:
    store = TemplateStore(tmp_path)
    assert store.get("nope") is None
    assert store.get("../etc/passwd") is None
    assert store.get("") is None
    assert store.path_for("abc") == tmp_path / "abc.j2"


def test_a_changed_file_is_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "a1.j2"
    path.write_text("Hi {{ name }}", encoding="utf-8")
    store = TemplateStore(tmp_path)
    first = store.get("a1")
    assert first is not None and first.required == ["name"]
    assert store.get("a1") is first  # cached while unchanged
    path.write_text("Hi {{ name }}, about {{ topic }}", encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = store.get("a1")
    assert second is not None and second.required == ["name", "topic"]
    path.unlink()
    assert store.get("a1") is None


# ----- through the dial tool (a real MCP session against the emulator) ----------------------------
MODE = "legacy"  # the dial path under test does not depend on the protocol version


@pytest.mark.parametrize(
    ("source", "variables"),
    [
        ("You owe {{ amount * 1.2 }} dollars.", {"amount": "100"}),  # a number sent as text
        ("{{ total / parts }} each", {"total": 10, "parts": 0}),
        ("{{ range(10 ** 7) | list | length }} items for {{ name }}", {"name": "Ann"}),  # the sandbox's range cap
    ],
)
async def test_a_template_expression_that_fails_on_the_values_is_a_preview_warning_not_a_crash(
    emu: RunningEmulator, tmp_path: Path, source: str, variables: dict[str, object]
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "billing.j2").write_text(source, encoding="utf-8")
    async with dial_client(emu, tmp_path, MODE, prompts_dir=prompts) as client:
        result = structured(await call(client, assistant_id="billing", input_variables=variables))
    assert result["status"] == "confirmation_required"
    assert result["preview"]["opening_line"] == "(could not be rendered)"
    assert any("could not be rendered" in w and "billing.j2" in w for w in result["warnings"]), result["warnings"]
    assert dials(emu) == 0


async def test_a_placeholder_guarded_by_is_undefined_is_optional(emu: RunningEmulator, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "greeter.j2").write_text(
        "Hello{% if name is undefined %} there{% else %} {{ name }}{% endif %}, this is {{ company }}.\n",
        encoding="utf-8",
    )
    async with dial_client(emu, tmp_path, MODE, prompts_dir=prompts) as client:
        bare = structured(await call(client, assistant_id="greeter", input_variables={"company": "Acme"}))
        named = structured(
            await call(client, assistant_id="greeter", input_variables={"company": "Acme", "name": "Ann"})
        )
        missing = refusal(await call(client, assistant_id="greeter", input_variables={}), "template-variables")
    assert bare["preview"]["opening_line"] == "Hello there, this is Acme."
    assert named["preview"]["opening_line"] == "Hello Ann, this is Acme."
    assert "'company'" in missing and "'name'" not in missing.split("(optional")[0]
    assert dials(emu) == 0


async def test_local_mode_starts_and_dials_with_a_template_whose_expression_fails_on_sample_values(
    tmp_path: Path,
) -> None:
    """The built-in emulator renders every prompt for its seeded history; {{ amount * 1.2 }} with a text
    value raised TypeError there, and the server did not start at all in local mode."""

    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "billing.j2").write_text("You owe {{ amount * 1.2 }} dollars.\n", encoding="utf-8")
    settings = load_settings(
        ledger=tmp_path / "ledger.sqlite3", prompts_dir=prompts, allowed_numbers="+17015550123", quiet_hours="off"
    )
    assert settings.is_local
    async with Client(create_server(settings)) as client:
        result = structured(
            await call(client, assistant_id="billing", phone_number="+17015550123", input_variables={"amount": 100})
        )
    assert result["status"] == "started" and result["confirmed_by"] == "allow-list"
    assert result["preview"]["opening_line"] == "You owe 120.0 dollars."


PAYMENT_ID = "019addcc-b878-7b10-85f1-49f21342f947"  # an example assistant's id: the user's folder may shadow it


def test_a_fifo_named_like_a_template_is_a_problem_not_a_hang_and_not_the_example(tmp_path: Path) -> None:
    """A FIFO would block the read (and the server) for ever; it is the user's entry, so the shipped example of
    the same id must not stand in for it either."""
    os.mkfifo(tmp_path / f"{PAYMENT_ID}.j2")
    store = TemplateStore(tmp_path, PACKAGE_PROMPTS_DIR)
    with pytest.raises(TemplateProblem, match="not a regular file"):
        store.get(PAYMENT_ID)
    found, problems = store.scan()
    assert PAYMENT_ID not in {t.assistant_id for t in found}
    assert len(problems) == 1


def test_a_template_over_the_size_cap_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    (tmp_path / "huge-assistant.j2").write_text("Hi {{ name }}. " + "x" * 300_000, encoding="utf-8")
    with pytest.raises(TemplateProblem, match="KiB a template may have"):
        TemplateStore(tmp_path).get("huge-assistant")


@pytest.mark.parametrize(
    "source",
    [
        'Hi {{ name }} {% include "/etc/passwd" %}',
        '{% import "macros.j2" as m %}Hi {{ name }}',
        '{% from "macros.j2" import greet %}Hi {{ name }}',
        '{% extends "base.j2" %}',
    ],
)
def test_a_template_that_pulls_in_another_file_is_refused(tmp_path: Path, source: str) -> None:
    """The human confirms the opening line the preview shows: a template that needs another file cannot be shown."""
    (tmp_path / "pulling-assistant.j2").write_text(source, encoding="utf-8")
    with pytest.raises(TemplateProblem, match="include, import and extends are not supported"):
        TemplateStore(tmp_path).get("pulling-assistant")


def test_a_first_line_whose_comment_ends_before_template_text_gives_no_name_and_is_rendered_as_written() -> None:
    """``{# name: A #}{{ x }} #}``: Jinja ends the comment at the first ``#}``; the name was read up to the last one
    (``A #}{{ x }}``, template code shown to the human as the assistant's name) and a '-' was put into the text."""
    source = "{# name: Reminder #}{{ name }} #}\nHi {{ name }}"
    assert display_name_in(source) is None
    assert without_name_line_break(source) == source
