""":func:`pixie.server.json_input.parse_json`: the bounds on a JSON request body, on their own.

Spec: RFC 8259 §9 (limits on size and nesting), §6 (no NaN or Infinity), §8.1 (UTF-8).
"""

from __future__ import annotations

import time

import pytest

from pixie.errors import InvalidRequest
from pixie.server.json_input import MAX_JSON_DEPTH, parse_json
from pixie.server.request_limits import MAX_BODY_BYTES, ContentTooLarge


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_nesting_up_to_the_limit_is_parsed() -> None:
    value = parse_json(_nested(MAX_JSON_DEPTH))
    for _ in range(MAX_JSON_DEPTH - 1):
        value = value[0]
    assert value == []


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 2_000, 30_000])
def test_deeper_nesting_is_refused_before_parsing(depth: int) -> None:
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        parse_json(_nested(depth))


def test_objects_and_arrays_count_alike() -> None:
    body = b'{"a": [' * 20 + b"1" + b"]}" * 20
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        parse_json(body)
    assert parse_json(b'{"a": [' * 16 + b"1" + b"]}" * 16) is not None


@pytest.mark.parametrize(
    "text",
    [
        '"' + "[" * 500 + '"',
        '"\\"' + "[" * 500 + '"',
        '"\\\\' + "{" * 500 + '"',
        '"\\u005b' + "[" * 500 + '"',
        '["]]]]", "' + "[" * 500 + '"]',
    ],
)
def test_brackets_in_strings_do_not_nest(text: str) -> None:
    assert parse_json(text.encode()) is not None


def test_an_unterminated_string_full_of_escapes_fails_fast() -> None:
    """The string pattern never backtracks: a huge unterminated string is refused in linear time."""
    body = b'["' + b"\\a[" * (MAX_BODY_BYTES // 3 - 2)
    started = time.perf_counter()
    with pytest.raises(InvalidRequest):
        parse_json(body)
    assert time.perf_counter() - started < 1


def test_size_past_the_limit_is_413() -> None:
    with pytest.raises(ContentTooLarge) as caught:
        parse_json(b" " * (MAX_BODY_BYTES + 1))
    assert caught.value.status == 413 and caught.value.error == "invalid_request"


@pytest.mark.parametrize("body", [b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"{", b"", b"\xff\xfe[]", b"[1,]"])
def test_not_json_is_invalid_request(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match="not valid JSON") as caught:
        parse_json(body)
    assert caught.value.status == 400


def test_a_custom_depth() -> None:
    assert parse_json(_nested(3), max_depth=3) == [[[]]]
    with pytest.raises(InvalidRequest):
        parse_json(_nested(4), max_depth=3)


def test_the_documented_depth() -> None:
    assert MAX_JSON_DEPTH == 32  # the README and the admin API tests state it
