"""A campaign's submitted list: inline rows, or a CSV file that must lie inside VOICING_CAMPAIGNS_DIR."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from voicing_mcp.guard.campaigns import (
    MAX_RECIPIENTS,
    Recipient,
    RecipientsError,
    parse_recipients_csv,
    read_recipients_file,
    recipients_from_list,
    resolve_recipients_file,
)


@pytest.fixture
def campaigns(tmp_path: Path) -> Path:
    folder = tmp_path / "campaigns"
    folder.mkdir()
    (folder / "list.csv").write_text("phone_number,name\n+17018112582,Ann\n", encoding="utf-8")
    return folder


def refused_file(name: str, folder: Path) -> RecipientsError:
    with pytest.raises(RecipientsError) as info:
        read_recipients_file(name, folder)
    return info.value


def test_a_file_in_the_campaigns_folder_is_read_by_its_name(campaigns: Path) -> None:
    assert read_recipients_file("list.csv", campaigns) == (Recipient("+17018112582", {"name": "Ann"}, 2),)
    assert read_recipients_file(str(campaigns / "list.csv"), campaigns)[0].phone_number == "+17018112582"


def test_a_path_outside_the_campaigns_folder_is_refused_naming_the_folder(campaigns: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("phone_number\n+17018112582\n", encoding="utf-8")
    err = refused_file(str(outside), campaigns)
    assert err.rule == "recipients-file"
    assert f"outside the campaigns folder {campaigns.resolve()} (VOICING_CAMPAIGNS_DIR)" in err.message
    assert refused_file("/etc/passwd", campaigns).rule == "recipients-file"


def test_dot_dot_out_of_the_campaigns_folder_is_refused(campaigns: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.csv").write_text("phone_number\n+17018112582\n", encoding="utf-8")
    err = refused_file("../secret.csv", campaigns)
    assert "outside the campaigns folder" in err.message
    err = refused_file(f"{campaigns}/../secret.csv", campaigns)
    assert "outside the campaigns folder" in err.message


def test_a_symlink_in_the_folder_pointing_out_of_it_is_refused(campaigns: Path, tmp_path: Path) -> None:
    target = tmp_path / "secret.csv"
    target.write_text("phone_number\n+17018112582\n", encoding="utf-8")
    (campaigns / "innocent.csv").symlink_to(target)
    (campaigns / "sub").symlink_to(tmp_path)
    assert "outside the campaigns folder" in refused_file("innocent.csv", campaigns).message
    assert "outside the campaigns folder" in refused_file("sub/secret.csv", campaigns).message


def test_a_symlink_inside_the_folder_to_a_file_inside_it_is_followed(campaigns: Path) -> None:
    (campaigns / "alias.csv").symlink_to(campaigns / "list.csv")
    assert read_recipients_file("alias.csv", campaigns)[0].input_variables == {"name": "Ann"}


def test_a_campaigns_folder_reached_through_a_symlink_still_holds_its_files(campaigns: Path, tmp_path: Path) -> None:
    link = tmp_path / "link-to-campaigns"
    link.symlink_to(campaigns)
    assert resolve_recipients_file("list.csv", link) == (campaigns / "list.csv").resolve()


def test_the_campaigns_folder_itself_a_fifo_or_a_missing_file_are_refused(campaigns: Path) -> None:
    assert "outside" in refused_file(".", campaigns).message
    assert "cannot be opened" in refused_file("missing.csv", campaigns).message
    os.mkfifo(campaigns / "pipe.csv")
    assert "not a regular file" in refused_file("pipe.csv", campaigns).message


def test_a_folder_inside_the_campaigns_folder_is_refused_as_no_regular_file(campaigns: Path) -> None:
    (campaigns / "march").mkdir()
    assert "not a regular file" in refused_file("march", campaigns).message


def test_a_home_folder_of_no_such_user_is_a_name_not_found_rather_than_a_crash(campaigns: Path) -> None:
    assert "cannot be opened" in refused_file("~no-such-user-voicing/list.csv", campaigns).message


def test_a_header_without_phone_number_is_named() -> None:
    with pytest.raises(RecipientsError) as info:
        parse_recipients_csv(b"number,name\n+17018112582,Ann\n", name="x.csv")
    assert info.value.line == 1
    assert "x.csv: line 1 (the header) has no phone_number column (columns: 'number', 'name')" in info.value.message


def test_a_row_with_the_wrong_number_of_cells_is_named_by_its_line() -> None:
    data = b"phone_number,name\n+17018112582,Ann\n\n+17018112583,Bob,extra\n"
    with pytest.raises(RecipientsError) as info:
        parse_recipients_csv(data, name="x.csv")
    assert info.value.line == 4
    assert info.value.message.startswith("x.csv: line 4 has 3 cells, the header has 2")


def test_an_unclosed_quote_and_bad_utf8_are_named_by_their_line() -> None:
    with pytest.raises(RecipientsError) as info:
        parse_recipients_csv(b'phone_number,name\n+17018112582,"Ann\n', name="x.csv")
    assert "x.csv: line 2 is not valid CSV (unexpected end of data); check its quotes" in info.value.message
    with pytest.raises(RecipientsError) as info:
        parse_recipients_csv(b"phone_number,name\n+17018112582,Ann\n+17018112583,B\xe9a\n", name="x.csv")
    assert info.value.message.startswith("x.csv: line 3 is not UTF-8 text")


def test_duplicate_and_empty_column_names_are_refused() -> None:
    with pytest.raises(RecipientsError, match="column 'name' appears twice"):
        parse_recipients_csv(b"phone_number,name,name\n+17018112582,A,B\n")
    with pytest.raises(RecipientsError, match="column 2 has no name"):
        parse_recipients_csv(b"phone_number,,name\n+17018112582,A,B\n")


def test_a_bom_quoted_commas_and_crlf_are_read_and_empty_cells_are_missing_variables() -> None:
    data = '\ufeffPhone_Number , name ,plan_type\r\n+17018112582,"Smith, Ann",\r\n+17018112583,  ,Gold\r\n'
    rows = parse_recipients_csv(data.encode("utf-8"))
    assert rows == (
        Recipient("+17018112582", {"name": "Smith, Ann"}, 2),
        Recipient("+17018112583", {"plan_type": "Gold"}, 3),
    )


def test_an_empty_file_a_header_alone_and_a_row_without_a_number_are_refused() -> None:
    with pytest.raises(RecipientsError, match="the file is empty"):
        parse_recipients_csv(b"")
    with pytest.raises(RecipientsError, match="no recipients"):
        parse_recipients_csv(b"phone_number,name\n")
    with pytest.raises(RecipientsError, match="line 3 has no phone number"):
        parse_recipients_csv(b"phone_number,name\n+17018112582,Ann\n,Bob\n")


def test_more_than_ten_thousand_rows_are_refused_naming_the_line() -> None:
    data = ("phone_number\n" + "+17018112582\n" * (MAX_RECIPIENTS + 1)).encode("utf-8")
    with pytest.raises(RecipientsError) as info:
        parse_recipients_csv(data)
    assert info.value.line == MAX_RECIPIENTS + 2
    assert f"more than {MAX_RECIPIENTS:,} rows" in info.value.message
    assert len(parse_recipients_csv(("phone_number\n" + "+17018112582\n" * MAX_RECIPIENTS).encode())) == MAX_RECIPIENTS


def test_an_inline_list_is_read_and_malformed_rows_are_named_by_position() -> None:
    rows = recipients_from_list(
        [{"phone_number": "+17018112582", "input_variables": {"name": "Ann"}}, {"phone_number": "+1"}]
    )
    assert rows == (Recipient("+17018112582", {"name": "Ann"}), Recipient("+1", {}))
    with pytest.raises(RecipientsError, match="row 2 has no phone_number"):
        recipients_from_list([{"phone_number": "+17018112582"}, {"input_variables": {}}])
    with pytest.raises(RecipientsError, match="row 1's input_variables is a list"):
        recipients_from_list([{"phone_number": "+17018112582", "input_variables": ["Ann"]}])
    with pytest.raises(RecipientsError, match="row 1 has 'name'"):
        recipients_from_list([{"phone_number": "+17018112582", "name": "Ann"}])
    with pytest.raises(RecipientsError, match="no recipients"):
        recipients_from_list([])
    with pytest.raises(RecipientsError, match="10,001 recipients, at most 10,000"):
        recipients_from_list([{"phone_number": "+17018112582"}] * (MAX_RECIPIENTS + 1))
