"""The published payloads and signature vectors under tests/fixtures/: each is listed in its README
with a source and a licence, each parses, and each vector holds under the provider's documented
scheme and under the project's own sender-side signing (local/senders.py)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from local import senders

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
README = FIXTURES / "README.md"
# A README row: | `provider/file` | source | licence | notes |
ROW = re.compile(r"^\| `(?P<file>[^`]+)` \| (?P<source>.+?) \| (?P<licence>.+?) \| (?P<notes>.+?) \|$")
# An open licence, or the README says plainly that a file is a provider's documentation example with
# none stated (quoted as an interoperability test vector) or composed from a published field list.
LICENCES = ("MIT", "Apache-2.0", "CC-BY-4.0", "documentation example", "composed, not copied")


def fixture_files() -> list[str]:
    return sorted(
        path.relative_to(FIXTURES).as_posix()
        for path in FIXTURES.rglob("*")
        if path.is_file() and path.name != "README.md" and not path.name.startswith("LICENSE")
    )


def readme_rows() -> dict[str, re.Match[str]]:
    rows = [ROW.match(line) for line in README.read_text(encoding="utf-8").splitlines()]
    return {row["file"]: row for row in rows if row and "/" in row["file"]}


def vectors() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(FIXTURES.glob("*/signatures.json")):
        found.extend(json.loads(path.read_text(encoding="utf-8"))["vectors"])
    return found


def signed_body(vector: dict[str, Any]) -> bytes:
    """The signed body's exact bytes (empty for form callbacks, whose fields are signed instead)."""
    if "body_file" in vector:
        return (FIXTURES / str(vector["body_file"])).read_bytes()
    return str(vector.get("body", "")).encode("utf-8")


def form_pairs(vector: dict[str, Any]) -> list[tuple[str, str]]:
    if "params_file" in vector:
        return parse_qsl((FIXTURES / vector["params_file"]).read_text(encoding="utf-8"), strict_parsing=True)
    return [(name, value) for name, value in vector.get("params", [])]


class FormFields(dict[str, str]):
    """Repeated form fields the way twilio's validator reads them (`getall`), as a web framework hands them."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


def test_every_fixture_is_listed_with_a_source_and_a_licence() -> None:
    rows = readme_rows()

    assert sorted(rows) == fixture_files(), "tests/fixtures/README.md must list exactly the files present"
    for name, row in rows.items():
        assert "https://" in row["source"], f"{name}: no source address"
        assert any(licence in row["licence"] for licence in LICENCES), f"{name}: no licence named"


def test_every_licence_the_readme_links_is_present() -> None:
    links = re.findall(r"\]\(((?:[a-z]+/)?LICENSE[^)]*)\)", README.read_text(encoding="utf-8"))

    assert links
    for link in links:
        assert (FIXTURES / link).is_file(), link


@pytest.mark.parametrize("name", fixture_files())
def test_every_fixture_parses(name: str) -> None:
    text = (FIXTURES / name).read_bytes().decode("utf-8")

    if name.endswith(".form"):
        assert parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    else:
        assert name.endswith(".json"), f"{name}: only .json and .form fixtures are read"
        assert json.loads(text) not in (None, {}, [])


@pytest.mark.parametrize("vector", vectors(), ids=lambda vector: str(vector["name"]))
def test_published_signature_vectors_hold(vector: dict[str, Any]) -> None:
    secret, signature, body = vector["secret"], vector["signature"], signed_body(vector)
    scheme = vector["scheme"]

    if scheme == "github":
        assert senders.github_headers(body, secret)["x-hub-signature-256"] == signature
    elif scheme == "stripe":
        ours = senders.stripe_headers(body, secret, timestamp=vector["timestamp"])["stripe-signature"]
        assert set(ours.split(",")) <= set(signature.split(","))
    elif scheme == "hubspot-v1":
        assert hashlib.sha256(secret.encode() + body).hexdigest() == signature
    elif scheme == "hubspot-v2":
        message = (secret + vector["method"] + vector["url"]).encode() + body
        assert hashlib.sha256(message).hexdigest() == signature
    elif scheme == "hubspot-v3":
        seconds = int(vector["timestamp"]) / 1000
        headers = senders.hubspot_headers(body, secret, vector["url"], method=vector["method"], timestamp=seconds)
        assert headers["x-hubspot-request-timestamp"] == vector["timestamp"]
        assert headers["x-hubspot-signature-v3"] == signature
    elif scheme == "shopify":
        assert senders.shopify_headers(body, secret)["x-shopify-hmac-sha256"] == signature
        assert vector["headers"][vector["header"]] == signature
    elif scheme == "twilio":
        check_twilio(vector, body)
    else:
        pytest.fail(f"unknown scheme {scheme}")


def check_twilio(vector: dict[str, Any], body: bytes) -> None:
    token, signature, signed_url = vector["secret"], vector["signature"], vector["signed_url"]
    validator = RequestValidator(token)
    if "body" in vector:
        # A JSON callback: the body is signed through bodySHA256 in the URL.
        assert senders.twilio_json_url(signed_url.split("&bodySHA256=")[0], body) == signed_url
        assert validator.validate(vector["url"], body.decode("utf-8"), signature)
        assert senders.twilio_signature(token, signed_url) == signature
        return
    pairs = form_pairs(vector)
    assert validator.validate(vector["url"], FormFields(pairs), signature)
    if len({name for name, _ in pairs}) == len(pairs):
        assert senders.twilio_signature(token, signed_url, dict(pairs)) == signature
