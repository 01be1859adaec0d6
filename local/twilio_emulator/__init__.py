"""Local stand-in for the slice of Twilio's REST API the bridge uses (Call User Defined Messages).

The real ``twilio`` client can be pointed at it (``client.api.base_url = emulator.base_url``) so the
bridge and its tests talk real HTTP over loopback. A JSON control API under ``/_emulator/`` (and the
matching in-process methods) creates calls, changes their status, injects faults and exposes what was
accepted. It also simulates Voice SDK calls (inbound to and outbound from a client identity) and POSTs the
status callbacks Twilio would send for them, signed with twilio's RequestValidator as Twilio signs them.
Standard library only, apart from that signer.

* ``model``: accounts, calls, UDM acceptance, idempotency, faults and counters; ``callbacks``: signed
  status callbacks; ``faults``: fault parsing; ``concurrency``: the account's concurrency limit (429,
  error 20429, with Retry-After); ``wire``: Twilio's error body and dates.
* ``subscriptions``: UserDefinedMessageSubscriptions and the messages the SDK user sends to them.
* ``server``: the HTTP server, Twilio's routes and ``TwilioEmulator``; ``control``: the control API.

Run standalone::

    python -m local.twilio_emulator --port 4010 --account-sid AC... --auth-token ...
"""

from __future__ import annotations

from local.twilio_emulator.model import CALL_STATUSES, Account
from local.twilio_emulator.server import TwilioEmulator

__all__ = ["CALL_STATUSES", "Account", "TwilioEmulator"]
