"""A local fake of the Telegram Bot API: the same HTTP JSON, Telegram's limits, on 127.0.0.1.

The bot under test is pointed at it with ``base_url``; nothing in tallywatch is mocked. It
records every call, lets a test inject updates (a user sending ``/subscribe``, pressing a
button), answers 429 with ``retry_after`` when Telegram's limits are exceeded (30 messages a
second overall, one a second to one chat, 20 a minute to one group), and can be told to answer
403 or 500 for given chats, or for the next N messages.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict, deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

TOKEN = "123456789:AAHfakeTokenForTestsOnly-xyz_0123456789"
BOT = {"id": 123456789, "is_bot": True, "first_name": "tallywatch", "username": "tallywatch_bot"}
SEND_METHODS = {"sendMessage", "sendPhoto"}
SUMMARY = "/fake/summary"  # what a fake in a process of its own tells the one that started it


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int  # 200, 429, 403, 500, …

    @property
    def text(self) -> str:
        """A message's text, or a photo's caption."""
        return str(self.params.get("text") or self.params.get("caption") or "")


@dataclass
class FakeState:
    calls: list[Call] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)
    next_update: int = 1
    next_message: int = 1000
    recent: deque = field(default_factory=deque)  # accepted sends, last second
    last_to_chat: dict = field(default_factory=dict)
    group_sends: defaultdict = field(default_factory=lambda: defaultdict(deque))
    fail_chats: dict = field(default_factory=dict)  # chat id → (code, description)
    storm: list = field(default_factory=list)  # the next sends answer these (code, retry_after)
    group_admins: set = field(default_factory=set)
    migrated: dict = field(
        default_factory=dict
    )  # old chat id → the supergroup it became  # user ids getChatMember calls administrators
    traps: list = field(default_factory=list)  # (test of a send's params, code, retry_after): once each
    commands: dict = field(default_factory=dict)  # language → commands from setMyCommands
    files: dict = field(default_factory=dict)  # file_id → the bytes uploaded under it


def _params(handler: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
    kind = handler.headers.get("Content-Type", "")
    if kind.startswith("application/json"):
        return json.loads(body or b"{}")
    if kind.startswith("multipart/form-data"):
        message = BytesParser(policy=email_policy).parsebytes(b"Content-Type: " + kind.encode() + b"\r\n\r\n" + body)
        out: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            out[name] = payload if part.get_filename() else payload.decode()
        return {k: _maybe_json(v) for k, v in out.items()}
    return {k: _maybe_json(v[0]) for k, v in parse_qs(body.decode()).items()}


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class FakeTelegram:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.state = FakeState()
        self.lock = threading.Condition()
        self._hold_after: int | None = None
        self._held = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real Bot API: a paid broadcast's 1,000/s
            # the answer's headers and body leave at once: with Nagle's algorithm the body waited for
            # the client's delayed ACK, 40 ms a request, which no real server adds
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path == SUMMARY:  # the fake's own question, from the process that started it
                    status, answer = 200, fake.summary(**json.loads(body or b"{}"))
                else:
                    status, answer = fake.handle(self.path, _params(self, body))
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # dozens of connections opened at once are queued, not reset

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/bot"

    def __enter__(self) -> FakeTelegram:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        with self.lock:
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- what a test does ---------------------------------------------------------------------------

    def fail_chat(self, chat_id: int | str, code: int, description: str) -> None:
        with self.lock:
            self.state.fail_chats[str(chat_id)] = (code, description)

    def hold_after(self, count: int) -> None:
        """Sends after the first ``count`` accepted ones wait (unanswered) until ``release()``: a
        test can stop the sender in the middle of a fan-out however loaded the machine is."""
        self._held.clear()
        self._hold_after = count

    def release(self) -> None:
        self._hold_after = None
        self._held.set()

    def trap(self, test, code: int, retry_after: int = 1) -> None:
        """The first send whose params pass ``test`` answers ``code`` (429 with ``retry_after``, or 500)."""
        with self.lock:
            self.state.traps.append((test, code, retry_after))

    def storm(self, code: int, count: int, retry_after: int = 1) -> None:
        """The next ``count`` sends answer ``code`` (429 with ``retry_after``, or 500)."""
        with self.lock:
            self.state.storm.extend([(code, retry_after)] * count)

    def _user(self, user_id: int, language: str = "en") -> dict:
        return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": language}

    def send_command(self, user_id: int, text: str, chat_id: int | None = None, language: str = "en") -> int:
        """A user writes ``text`` to the bot (private chat unless ``chat_id`` is a group)."""
        chat = {"id": chat_id or user_id, "type": "private" if not chat_id or chat_id > 0 else "supergroup"}
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        message = {
            "message_id": self._message_id(),
            "date": int(time.time()),
            "chat": chat,
            "from": self._user(user_id, language),
            "text": text,
            "entities": entities,
        }
        return self._push({"message": message})

    def press(self, user_id: int, data: str, message: dict | None = None, language: str = "en") -> int:
        """A user presses an inline button carrying ``data`` on ``message`` (default: the last one sent to them)."""
        message = message or self.last_message(user_id)
        query = {
            "id": f"cb{time.monotonic_ns()}",
            "from": self._user(user_id, language),
            "chat_instance": "1",
            "data": data,
            "message": message,
        }
        return self._push({"callback_query": query})

    def _message_id(self) -> int:
        with self.lock:
            self.state.next_message += 1
            return self.state.next_message

    def _push(self, update: dict) -> int:
        with self.lock:
            update["update_id"] = self.state.next_update
            self.state.next_update += 1
            self.state.updates.append(update)
            self.lock.notify_all()
            return update["update_id"]

    # -- what a test reads -------------------------------------------------------------------------

    def calls(self, method: str | None = None, status: int | None = None) -> list[Call]:
        with self.lock:
            return [
                c
                for c in self.state.calls
                if (method is None or c.method == method) and (status is None or c.status == status)
            ]

    def sent(self, chat_id: int | str | None = None) -> list[Call]:
        """Messages Telegram accepted (to one chat, or all)."""
        return [
            c
            for c in self.calls(status=200)
            if c.method in SEND_METHODS and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    def last_message(self, chat_id: int) -> dict:
        sent = self.sent(chat_id) + [
            c for c in self.calls("editMessageText", 200) if str(c.params.get("chat_id")) == str(chat_id)
        ]
        if not sent:
            raise AssertionError(f"nothing was sent to {chat_id}")
        last = max(sent, key=lambda c: c.at)
        return last.params["_message"]

    # -- the Bot API -------------------------------------------------------------------------------

    def handle(self, path: str, params: dict[str, Any]) -> tuple[int, dict]:
        token, _, method = path.lstrip("/").removeprefix("bot").partition("/")
        if token != self.token:
            return self._record(method, params, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return self._record(method, params, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if method == "getUpdates":
            return 200, {"ok": True, "result": self.api_getUpdates(params)}
        return handler(method, params)

    def _record(self, method: str, params: dict, status: int, answer: dict) -> tuple[int, dict]:
        with self.lock:
            self.state.calls.append(Call(method, params, time.monotonic(), status))
        return status, answer

    def api_getChatMember(self, method: str, params: dict) -> tuple[int, dict]:
        """A member of a group: its admin if listed in ``state.group_admins``."""
        user = int(params["user_id"])
        member = {"status": "member", "user": self._user(user)}
        if user in self.state.group_admins:
            rights = [
                "can_manage_chat",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_restrict_members",
                "can_promote_members",
                "can_change_info",
                "can_invite_users",
                "can_post_stories",
                "can_edit_stories",
                "can_delete_stories",
            ]
            member = {
                **member,
                "status": "administrator",
                "can_be_edited": False,
                "is_anonymous": False,
                **dict.fromkeys(rights, False),
            }
        return self._record(method, params, 200, {"ok": True, "result": member})

    def api_getMe(self, method: str, params: dict) -> tuple[int, dict]:
        return self._record(method, params, 200, {"ok": True, "result": BOT})

    def api_deleteWebhook(self, method: str, params: dict) -> tuple[int, dict]:
        return self._record(method, params, 200, {"ok": True, "result": True})

    def api_setMyCommands(self, method: str, params: dict) -> tuple[int, dict]:
        with self.lock:
            self.state.commands[params.get("language_code", "")] = params.get("commands")
        return self._record(method, params, 200, {"ok": True, "result": True})

    def api_answerCallbackQuery(self, method: str, params: dict) -> tuple[int, dict]:
        return self._record(method, params, 200, {"ok": True, "result": True})

    def api_getUpdates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 10.0)  # long polling, as Telegram does
        with self.lock:
            self.state.updates = [u for u in self.state.updates if u["update_id"] >= offset]
            if not self.state.updates and wait:
                self.lock.wait(wait)
            return list(self.state.updates)

    def api_editMessageText(self, method: str, params: dict) -> tuple[int, dict]:
        message = self._message(params, int(params.get("message_id") or 0))
        params["_message"] = message
        return self._record(method, params, 200, {"ok": True, "result": message})

    def api_editMessageReplyMarkup(self, method: str, params: dict) -> tuple[int, dict]:
        return self.api_editMessageText(method, params)

    def api_editMessageCaption(self, method: str, params: dict) -> tuple[int, dict]:
        return self.api_editMessageText(method, params)

    def api_editMessageMedia(self, method: str, params: dict) -> tuple[int, dict]:
        """A photo replaced: ``media`` names its upload (``attach://…``) or a file id; its caption kept with it."""
        media = params.get("media") or {}
        photo = media.get("media", "")
        if isinstance(photo, str) and photo.startswith("attach://"):
            photo = params.get(photo.removeprefix("attach://"))
        params["photo"], params["caption"] = photo, media.get("caption", "")
        return self.api_editMessageText(method, params)

    def api_sendMessage(self, method: str, params: dict) -> tuple[int, dict]:
        return self._send(method, params)

    def api_sendPhoto(self, method: str, params: dict) -> tuple[int, dict]:
        photo = params.get("photo")
        if isinstance(photo, str) and photo not in self.state.files:  # a file id Telegram never issued
            self.state.calls.append(Call(method, params, time.monotonic(), 400))
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: wrong file identifier"}
        return self._send(method, params)

    def summary(self, sends: bool = True) -> dict[str, Any]:
        """How many sends were accepted and, with ``sends``, each (method, chat, when: ``time.monotonic``,
        one clock for every process of the machine), the 429s answered, the uploads: what
        ``FakeTelegramProcess`` reads."""
        sent = self.sent()
        out: dict[str, Any] = {"accepted": len(sent)}
        if sends:
            out["sent"] = [[c.method, str(c.params.get("chat_id")), c.at] for c in sent]
            out["429s"] = sum(len(self.calls(method, 429)) for method in SEND_METHODS)
            out["uploads"] = self.uploads()
        return out

    def uploads(self) -> int:
        """How many photos were uploaded as bytes (a re-send by file id is not an upload)."""
        return sum(1 for c in self.sent() if c.method == "sendPhoto" and isinstance(c.params.get("photo"), bytes))

    def _message(self, params: dict, message_id: int) -> dict:
        chat_id = params.get("chat_id")
        chat = (
            {"id": int(chat_id), "type": "private" if int(chat_id) > 0 else "supergroup"}
            if str(chat_id).lstrip("-").isdigit()
            else {"id": -100, "type": "channel", "username": str(chat_id).lstrip("@")}
        )
        message = {"message_id": message_id, "date": int(time.time()), "chat": chat, "from": BOT}
        if "text" in params:
            message["text"] = params["text"]
        if "caption" in params:
            message["caption"] = params["caption"]
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        photo = params.get("photo")
        if photo is not None:  # Telegram answers with the sizes it made, each with a file id to re-send by
            file_id = photo if isinstance(photo, str) else f"AgAC{message_id}"
            self.state.files.setdefault(file_id, photo)
            message["photo"] = [{"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 1280, "height": 720}]
        return message

    def _send(self, method: str, params: dict) -> tuple[int, dict]:
        if self._hold_after is not None and len(self.sent()) >= self._hold_after:
            self._held.wait(timeout=120)  # answered once the test releases it
        chat = str(params.get("chat_id"))
        now = time.monotonic()
        with self.lock:
            s = self.state
            if s.storm:
                code, retry_after = s.storm.pop(0)
                return self._error(method, params, code, retry_after)
            for trap in s.traps:
                if trap[0](params):
                    s.traps.remove(trap)
                    return self._error(method, params, trap[1], trap[2])
            if chat in s.migrated:
                s.calls.append(Call(method, params, now, 400))
                return 400, {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: group chat was upgraded to a supergroup chat",
                    "parameters": {"migrate_to_chat_id": int(s.migrated[chat])},
                }
            if chat in s.fail_chats:
                code, description = s.fail_chats[chat]
                s.calls.append(Call(method, params, now, code))
                return code, {"ok": False, "error_code": code, "description": description}
            while s.recent and s.recent[0] <= now - 1.0:
                s.recent.popleft()
            group = chat.startswith(("-", "@"))
            sends = s.group_sends[chat]
            while sends and sends[0] <= now - 60.0:
                sends.popleft()
            paid = str(params.get("allow_paid_broadcast", "")).lower() == "true"
            too_fast = (
                len(s.recent) >= (1000 if paid else 30)  # paid broadcast: up to 1,000 a second
                or (chat in s.last_to_chat and now - s.last_to_chat[chat] < 1.0)
                or (group and len(sends) >= 20)
            )
            if too_fast:
                return self._error(method, params, 429, 1)
            s.recent.append(now)
            s.last_to_chat[chat] = now
            if group:
                sends.append(now)
            message = self._message(params, s.next_message)
            s.next_message += 1
            params["_message"] = message
            s.calls.append(Call(method, params, now, 200))
        return 200, {"ok": True, "result": message}

    def _error(self, method: str, params: dict, code: int, retry_after: int) -> tuple[int, dict]:
        self.state.calls.append(Call(method, params, time.monotonic(), code))
        if code == 429:
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            }
        return code, {"ok": False, "error_code": code, "description": "Internal Server Error"}


class FakeTelegramProcess:
    """The fake Bot API in a process of its own, as Telegram is: a sender measured against it
    shares no interpreter lock with it (``bench/fanout.py --paid``). Its base URL is read from
    the child's first line; it stops when its stdin closes."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> FakeTelegramProcess:
        self.process = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            self.__exit__()
            raise RuntimeError(f"the fake Bot API did not start (it said {self.base_url!r})")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def summary(self, sends: bool = True) -> dict[str, Any]:
        """``FakeTelegram.summary`` of the child."""
        origin = self.base_url.removesuffix("/bot")
        body = json.dumps({"sends": sends}).encode()
        request = urllib.request.Request(origin + SUMMARY, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)


if __name__ == "__main__":  # the child of FakeTelegramProcess: serve until stdin closes
    with FakeTelegram() as served:
        print(served.base_url, flush=True)
        sys.stdin.read()
