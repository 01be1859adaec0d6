"""The JSON control API under ``/_emulator/``: each route parses its body and calls one model method.

Invalid input (a model ValueError) answers 400 and an unknown call or callback (KeyError) 404, both as
``{"error": "..."}``; an unknown path is 404 and a known path with another method 405.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, cast

from local.twilio_emulator.concurrency import DEFAULT_RETRY_AFTER_SECONDS
from local.twilio_emulator.model import CALLBACK_EVENTS, EmulatorModel, check_status
from local.twilio_emulator.wire import JSONDict, Reply, json_reply

PREFIX = "/_emulator/"

_CALL_PATH_RE = re.compile(r"/_emulator/calls/([^/]+)")
_CALL_ACTION_PATH_RE = re.compile(r"/_emulator/calls/([^/]+)/(answer|hangup)")
_CALLBACK_REPLAY_PATH_RE = re.compile(r"/_emulator/callbacks/([^/]+)/replay")
_PLACE_KEYS = frozenset({"identity", "status_callback", "account_sid", "events"})
_SEND_MESSAGE_PATH_RE = re.compile(r"/_emulator/calls/([^/]+)/messages")

_Handlers = dict[str, Callable[[], Reply]]


def is_control_path(path: str) -> bool:
    return path.startswith(PREFIX)


def handle(model: EmulatorModel, method: str, path: str, body: bytes) -> Reply:
    """The control API's answer to ``method path`` with a JSON (or empty) ``body``."""
    try:
        payload: object = json.loads(body) if body.strip() else None
    except ValueError:
        return json_reply(400, {"error": "request body must be JSON"})
    try:
        return _route(model, method, path, payload)
    except ValueError as exc:
        return json_reply(400, {"error": str(exc)})
    except KeyError as exc:
        return json_reply(404, {"error": str(exc.args[0]) if exc.args else "not found"})


def _route(model: EmulatorModel, method: str, path: str, payload: object) -> Reply:
    routes: dict[str, _Handlers] = {
        "/_emulator/health": {"GET": lambda: json_reply(200, {"ok": True})},
        "/_emulator/calls": {
            "GET": lambda: json_reply(200, model.calls()),
            "POST": lambda: json_reply(201, _create_call(model, payload)),
        },
        "/_emulator/messages": {"GET": lambda: json_reply(200, model.messages())},
        "/_emulator/stats": {"GET": lambda: json_reply(200, model.stats())},
        "/_emulator/faults": {
            "GET": lambda: json_reply(200, model.faults()),
            "POST": lambda: _no_content(lambda: _add_faults(model, payload)),
            "DELETE": lambda: _no_content(model.clear_faults),
        },
        "/_emulator/latency": {
            "GET": lambda: json_reply(200, {"udm_ms": model.udm_latency()}),
            "POST": lambda: _no_content(lambda: model.set_udm_latency(_object(payload).get("udm_ms", -1))),
        },
        "/_emulator/concurrency": {
            "GET": lambda: json_reply(200, model.concurrency()),
            "POST": lambda: _no_content(lambda: _set_concurrency(model, payload)),
        },
        "/_emulator/reset": {"POST": lambda: _no_content(model.reset)},
        "/_emulator/calls/inbound": {"POST": lambda: json_reply(201, _place_inbound(model, payload))},
        "/_emulator/calls/outbound": {"POST": lambda: json_reply(201, _place_outbound(model, payload))},
        "/_emulator/callbacks": {"GET": lambda: json_reply(200, model.callbacks())},
        "/_emulator/callbacks/hold": {"POST": lambda: _no_content(lambda: _hold(model, payload))},
        "/_emulator/callbacks/release": {"POST": lambda: json_reply(200, _release(model, payload))},
    }
    routes["/_emulator/subscriptions"] = {"GET": lambda: json_reply(200, model.subscriptions.every())}
    routes["/_emulator/sdk-messages"] = {"GET": lambda: json_reply(200, model.subscriptions.messages())}
    handlers = routes.get(path)
    send = _SEND_MESSAGE_PATH_RE.fullmatch(path)
    if handlers is None and send is not None:
        call_sid = urllib.parse.unquote(send.group(1))
        handlers = {"POST": lambda: json_reply(200, _send_message(model, call_sid, payload))}
    if handlers is None:
        handlers = _sid_routes(model, path, payload)
    if handlers is None:
        return json_reply(404, {"error": f"no control endpoint {path}"})
    handler = handlers.get(method)
    if handler is None:
        allow = {"Allow": ", ".join(handlers)}
        return json_reply(405, {"error": f"{method} not allowed on {path}"}, allow)
    return handler()


def _sid_routes(model: EmulatorModel, path: str, payload: object) -> _Handlers | None:
    """The routes with a call SID or callback index in the path."""
    match = _CALL_PATH_RE.fullmatch(path)
    action = _CALL_ACTION_PATH_RE.fullmatch(path)
    replay = _CALLBACK_REPLAY_PATH_RE.fullmatch(path)
    if match is not None:
        call_sid = urllib.parse.unquote(match.group(1))
        return {
            "GET": lambda: json_reply(200, model.get_call(call_sid)),
            "POST": lambda: json_reply(200, model.set_call_status(call_sid, _status(payload))),
        }
    if action is not None:
        leg_sid = urllib.parse.unquote(action.group(1))
        if action.group(2) == "answer":
            return {"POST": lambda: json_reply(200, model.answer(leg_sid))}
        return {"POST": lambda: json_reply(200, _hang_up(model, leg_sid, payload))}
    if replay is not None:
        raw_index = urllib.parse.unquote(replay.group(1))
        return {"POST": lambda: json_reply(200, model.replay_callback(_index(raw_index)))}
    return None


def _send_message(model: EmulatorModel, call_sid: str, payload: object) -> JSONDict:
    """The SDK user's call.sendMessage: {"content": ..., "content_type"?, "encoding": "form"|"json"}."""
    data = _object(payload)
    if "content" not in data:
        raise ValueError("'content' is required")
    content_type = data.get("content_type", "application/json")
    if not isinstance(content_type, str):
        raise ValueError("'content_type' must be a string")
    return model.subscriptions.send(model, call_sid, data["content"], content_type, data.get("encoding", "form"))


def _no_content(action: Callable[[], None]) -> Reply:
    action()
    return Reply(204)


def _create_call(model: EmulatorModel, payload: object) -> JSONDict:
    data = _object(payload)
    account_sid = data.get("account_sid")
    status = data.get("status", "in-progress")
    sid = data.get("sid")
    if account_sid is not None and not isinstance(account_sid, str):
        raise ValueError("'account_sid' must be a string")
    if sid is not None and not isinstance(sid, str):
        raise ValueError("'sid' must be a string")
    return model.create_call(account_sid, check_status(status), sid)


def _status(payload: object) -> str:
    return check_status(_object(payload).get("status"))


def _place_inbound(model: EmulatorModel, payload: object) -> JSONDict:
    data = _place_fields(payload, {"caller"})
    extra = {"caller": data["caller"]} if "caller" in data else {}
    return model.place_inbound(
        data.get("identity", ""),
        data.get("status_callback", ""),
        account_sid=data.get("account_sid"),
        events=data.get("events", CALLBACK_EVENTS),
        **extra,
    )


def _place_outbound(model: EmulatorModel, payload: object) -> JSONDict:
    data = _place_fields(payload, {"app_status_callback", "to"})
    extra = {"to": data["to"]} if "to" in data else {}
    return model.place_outbound(
        data.get("identity", ""),
        data.get("status_callback", ""),
        data.get("app_status_callback"),
        account_sid=data.get("account_sid"),
        events=data.get("events", CALLBACK_EVENTS),
        **extra,
    )


def _place_fields(payload: object, extra_keys: set[str]) -> Mapping[str, Any]:
    data = _object(payload)
    # A misspelt key (statusCallback) would otherwise silently place a call without callbacks.
    unknown = set(data) - _PLACE_KEYS - extra_keys
    if unknown:
        raise ValueError(f"unknown keys: {sorted(unknown)}")
    account_sid = data.get("account_sid")
    if account_sid is not None and not isinstance(account_sid, str):
        raise ValueError("'account_sid' must be a string")
    return data


def _hang_up(model: EmulatorModel, call_sid: str, payload: object) -> JSONDict:
    return model.hang_up(call_sid, _object(payload).get("status", "completed"))


def _hold(model: EmulatorModel, payload: object) -> None:
    model.hold_callbacks(_object(payload).get("hold", True))


def _release(model: EmulatorModel, payload: object) -> list[JSONDict]:
    order = _object(payload).get("order")
    if order is not None and not isinstance(order, list):
        raise ValueError("'order' must be a list of callback indexes")
    return model.release_callbacks(order)


def _index(raw: str) -> int:
    if not raw.isdecimal():
        raise KeyError(f"unknown callback {raw}")
    return int(raw)


def _set_concurrency(model: EmulatorModel, payload: object) -> None:
    """{"limit": n or null, "retry_after"?: seconds}: the account concurrency limit from now on."""
    data = _object(payload)
    unknown = set(data) - {"limit", "retry_after"}
    if unknown:
        raise ValueError(f"unknown keys: {sorted(unknown)}")
    if "limit" not in data:
        raise ValueError("'limit' is required (null for no limit)")
    model.set_concurrency_limit(data["limit"], data.get("retry_after", DEFAULT_RETRY_AFTER_SECONDS))


def _add_faults(model: EmulatorModel, payload: object) -> None:
    if not isinstance(payload, dict | list):
        raise ValueError("body must be a fault object or a list of fault objects")
    model.add_fault(cast(Mapping[str, Any] | list[Mapping[str, Any]], payload))


def _object(payload: object) -> Mapping[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise ValueError("body must be a JSON object")
    return cast(Mapping[str, Any], payload)
