"""A FieldChain finds what jmespath finds, for every document; other expressions stay jmespath's."""

from __future__ import annotations

import jmespath
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jmespath.parser import ParsedResult

from bridge.sources.cards import load_cards
from bridge.sources.paths import FieldChain, compile_path
from bridge.sources.profiles import load_profiles

NAMES = st.sampled_from(["a", "b", "id", "x-y", "", "0"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=4),
    max_leaves=12,
)


def _quoted(name: str) -> str:
    return name if name.isidentifier() else '"' + name.replace('"', '\\"') + '"'


@given(st.lists(NAMES, min_size=1, max_size=4), JSON)
def test_a_chain_of_fields_searches_as_jmespath_does(names: list[str], document: object) -> None:
    text = ".".join(_quoted(name) for name in names)
    chain = compile_path(text)
    assert isinstance(chain, FieldChain)
    assert chain.names == tuple(names)
    assert chain.search(document) == jmespath.search(text, document)


@pytest.mark.parametrize(
    ("text", "document", "found"),
    [
        ("body.id", {"body": {"id": "evt_1"}}, "evt_1"),
        ("body.id", {"body": ["not", "an", "object"]}, None),
        ("body.id", {"body": "text"}, None),
        ("body.count", {"body": {"count": 0}}, 0),  # falsy values are found, only null stops the chain
        ("body.flag.more", {"body": {"flag": False}}, None),
        ('headers."webhook-id"', {"headers": {"webhook-id": "msg_1"}}, "msg_1"),
        ("data", None, None),
    ],
)
def test_what_a_chain_finds(text: str, document: object, found: object) -> None:
    assert compile_path(text).search(document) == found == jmespath.search(text, document)


@pytest.mark.parametrize("text", ["a[0]", "a || b", "join('', ['k:', a])", "{a: b}", "a[*].b", "`1`", "@"])
def test_any_other_expression_is_jmespaths_own(text: str) -> None:
    compiled = compile_path(text)
    assert isinstance(compiled, ParsedResult)
    assert compiled.parsed == jmespath.compile(text).parsed


def test_a_chain_keeps_its_tree_for_the_profiles_header_check() -> None:
    chain = compile_path('headers."webhook-id"')
    assert chain.parsed == jmespath.compile('headers."webhook-id"').parsed
    assert chain.expression == 'headers."webhook-id"'


def test_invalid_expressions_raise_as_jmespath_does() -> None:
    with pytest.raises(jmespath.exceptions.ParseError):
        compile_path("body.")


def test_the_shipped_profiles_and_cards_read_their_plain_paths_as_chains() -> None:
    default = load_profiles()["default"]
    assert isinstance(default.expressions["event_id"], FieldChain)
    spec = load_cards().spec_for("default", "crm.customer.identified")
    assert spec is not None
    assert any(isinstance(part, FieldChain) for template in spec.title.alternatives for part in template.parts)
