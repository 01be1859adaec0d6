"""``python -m local.twilio_emulator``: serve the emulator for one account until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from local.twilio_emulator.model import Account
from local.twilio_emulator.server import TwilioEmulator

# Run as __main__, so name the logger after the package, as the log lines always were.
logger = logging.getLogger("local.twilio_emulator")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.twilio_emulator",
        description="Serve a local emulator of Twilio's Call User Defined Messages API until interrupted.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4010, help="0 picks a free port (default: 4010)")
    parser.add_argument(
        "--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID"), help="default: $TWILIO_ACCOUNT_SID"
    )
    parser.add_argument(
        "--auth-token",
        default=os.environ.get("TWILIO_AUTH_TOKEN"),
        help="default: $TWILIO_AUTH_TOKEN",
    )
    parser.add_argument("--api-key-sid", default=None)
    parser.add_argument("--api-key-secret", default=None)
    parser.add_argument(
        "--concurrency-limit",
        type=int,
        default=None,
        help="REST requests an account may have in flight; the excess gets 429 with Retry-After (default: none)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request at DEBUG level")
    args = parser.parse_args(argv)
    if not args.account_sid or not args.auth_token:
        parser.error("--account-sid and --auth-token are required (or TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN)")
    try:
        account = Account(args.account_sid, args.auth_token, args.api_key_sid, args.api_key_secret)
    except ValueError as exc:
        parser.error(str(exc))

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stopping = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    emulator = TwilioEmulator([account], host=args.host, port=args.port)
    try:
        emulator.set_concurrency_limit(args.concurrency_limit)
    except ValueError as exc:
        parser.error(f"--concurrency-limit: {exc}")
    emulator.start()
    logger.info("Twilio emulator listening on %s for account %s", emulator.base_url, account.account_sid)
    try:
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stopping.wait(0.5):
            pass
    finally:
        emulator.stop()
        logger.info("Twilio emulator stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
