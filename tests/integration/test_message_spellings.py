"""One signed call message, however it is spelled: one outcome, and at most one forward.

X-Twilio-Signature is computed over the decoded form fields, sorted by name, so every spelling of the
same fields verifies: any parameter order, any letter percent-encoded (in either case of hex), a
space as `+` or `%20`. Hypothesis draws a message (some of them lacking a field it needs) and several
spellings of it, sends them all through the real MessagesFunction, and checks that they get one
answer and that the receiver gets the message at most once (once when it is valid).
"""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
from helpers import Bridge, message_params, new_message_sid, owned_call, send_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.stack import LocalStack

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("SPELLING_EXAMPLES", "25"))
# What a form may carry unencoded (application/x-www-form-urlencoded); everything else is %XX.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*-._")

contents = st.one_of(
    st.just('{"verified":true}'),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
    st.builds(lambda words: " ".join(words), st.lists(st.sampled_from(["a+b", "50%", "x=y", "&", "é", "ok"]))),
)


def spelled(pairs: list[tuple[str, str]], rnd: random.Random) -> str:
    """One spelling of the fields: any order, letters percent-encoded or not, space as + or %20.

    Chosen by `rnd`, seeded by Hypothesis, so what it draws never depends on the SIDs' characters."""
    order = list(pairs)
    rnd.shuffle(order)

    def encode(text: str) -> str:
        out = []
        for char in text:
            if char == " ":
                out.append(rnd.choice(["+", "%20"]))
            elif char in _PLAIN and not (char.isalpha() and rnd.random() < 0.5):
                out.append(char)
            else:
                hexes = [f"%{byte:02X}" for byte in char.encode("utf-8")]
                out.append("".join(h if rnd.random() < 0.5 else h.lower() for h in hexes))
        return "".join(out)

    return "&".join(f"{encode(name)}={encode(value)}" for name, value in order)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, str]:
    """A message's fields, now and then without Content or with a malformed Sid."""
    params = message_params("", "", content=draw(contents))
    flaw = draw(st.sampled_from([None, None, None, "no content", "bad sid"]))
    if flaw == "no content":
        del params["Content"]
    elif flaw == "bad sid":
        params["Sid"] = "KX 0"
    return params


@pytest.fixture(scope="module")
def bridge(stack: LocalStack) -> Bridge:
    return Bridge(stack)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(message=messages(), seeds=st.lists(st.integers(0, 2**32), min_size=2, max_size=4))
def test_every_spelling_of_a_signed_message_gets_one_answer_and_at_most_one_forward(
    bridge: Bridge, message: dict[str, str], seeds: list[int]
) -> None:
    # Given an SDK leg, and a message from it under a Sid of its own
    _, call_sid = owned_call(bridge.stack)
    sid = message["Sid"] or new_message_sid()
    params = {**message, "CallSid": call_sid, "Sid": sid}
    forms = [spelled(list(params.items()), random.Random(seed)) for seed in seeds]

    # When every spelling arrives, each signed over the same fields
    statuses = [send_message(bridge, params, form=form).status for form in forms]

    # Then all get the same answer, and the receiver gets it once if it was valid, else never
    assert len(set(statuses)) == 1, statuses
    assert statuses[0] in (204, 400)
    bridge.stack.settle()
    forwarded: list[Any] = bridge.stack.receiver.for_message(sid)
    assert len(forwarded) == (1 if statuses[0] == 204 else 0), (statuses, forms)
