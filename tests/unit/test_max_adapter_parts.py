"""The MAX adapter's pieces that need no server: MAX's message and keyboard limits, its
errors as delivery errors, the CA bundle, the webhook secret setting, who an update is from."""
from __future__ import annotations

import pytest
from maxapi.client.ssl import RUSSIAN_TRUSTED_CA_BUNDLE
from maxapi.exceptions.max import InvalidToken, MaxApiError
from pydantic import ValidationError

from bot.config import Settings
from bot.delivery import Blocked, DeliveryError, RetryLater, TransientError
from bot.dialogs.screen import Button, Screen
from bot.handlers import max_keyboard as kb
from bot.handlers.max import event_id, update_user
from bot.handlers.max_api import AttachmentNotReady, TokenRefused, map_error, ssl_context


def grid(rows: int, per_row: int) -> Screen:
    return Screen("Выберите", tuple(tuple(Button(f"{r}.{c}", f"a:{r}:{c}") for c in range(per_row))
                                   for r in range(rows)))


def buttons_of(board: dict) -> list[list[dict]]:
    assert board["type"] == "inline_keyboard"
    return board["payload"]["buttons"]


def test_a_screen_is_one_message_with_callback_buttons_carrying_the_action():
    [(text, [board])] = kb.messages(Screen("Меню", ((Button("🔎 Найти", "find"), Button("Дети", "ch:list")),)))
    assert text == "Меню"
    assert buttons_of(board) == [[{"type": "callback", "text": "🔎 Найти", "payload": "find"},
                                  {"type": "callback", "text": "Дети", "payload": "ch:list"}]]


def test_rows_wider_than_seven_wrap_and_nothing_is_dropped():
    [(_, [board])] = kb.messages(grid(2, 10))
    rows = buttons_of(board)
    assert [len(row) for row in rows] == [7, 3, 7, 3]
    assert [b["payload"] for row in rows for b in row] == [f"a:{r}:{c}" for r in range(2) for c in range(10)]


def test_more_than_30_rows_or_210_buttons_continue_on_the_next_message():
    parts = kb.messages(grid(45, 7))   # 315 buttons
    boards = [buttons_of(a[0]) for _, a in parts]
    assert all(len(rows) <= kb.MAX_ROWS and sum(map(len, rows)) <= kb.MAX_BUTTONS for rows in boards)
    assert sum(len(rows) for rows in boards) == 45
    assert parts[0][0] == "Выберите" and all(text == kb.CONTINUED for text, _ in parts[1:])


def test_long_texts_are_split_within_4000_characters_at_line_ends_and_the_keyboard_rides_last():
    text = "\n".join(f"строка {i} " + "х" * 90 for i in range(100))   # ~10 000 characters
    parts = kb.messages(Screen(text, ((Button("OK", "ok"),),)))
    assert len(parts) == 3 and all(len(t) <= kb.MAX_TEXT for t, _ in parts)
    assert [bool(a) for _, a in parts] == [False, False, True]
    assert "".join(t for t, _ in parts).replace("\n", "") == text.replace("\n", "")
    assert kb.split_text("х" * 9000) == ["х" * 4000, "х" * 4000, "х" * 1000]
    assert kb.split_text("") == [kb.CONTINUED]


def test_labels_are_clipped_to_what_max_shows():
    assert len(kb.clip_label("я" * 300)) == kb.MAX_LABEL


@pytest.mark.parametrize(("exc", "kind"), [
    (MaxApiError(code=429, raw={"code": "too.many.requests", "message": "Too many requests"}), RetryLater),
    (MaxApiError(code=403, raw={"code": "chat.denied", "message": "Key: error.dialog.suspended"}), Blocked),
    (MaxApiError(code=403, raw='{"code": "chat.denied"}'), Blocked),
    (MaxApiError(code=400, raw={"code": "attachment.not.ready", "message": "file not processed"}),
     AttachmentNotReady),
    (MaxApiError(code=503, raw="Service Unavailable"), TransientError),
    (MaxApiError(code=400, raw={"code": "proto.payload", "message": "text: size must be at most 4000"}),
     DeliveryError),
    (InvalidToken("Invalid access_token"), TokenRefused),
    (TimeoutError(), TransientError),
])
def test_max_errors_become_the_delivery_errors_the_worker_understands(exc, kind):
    mapped = map_error(exc)
    assert type(mapped) is kind


def test_the_ca_bundle_adds_the_russian_trusted_root_to_the_system_store(tmp_path):
    context = ssl_context(str(RUSSIAN_TRUSTED_CA_BUNDLE))
    names = {dict(x[0] for x in cert["subject"]).get("commonName") for cert in context.get_ca_certs()}
    assert "Russian Trusted Root CA" in names
    with pytest.raises(RuntimeError, match="MAX_CA_BUNDLE: no such file"):
        ssl_context(str(tmp_path / "missing.pem"))
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(RuntimeError, match="is not a PEM certificate"):
        ssl_context(str(tmp_path / "junk.pem"))


def test_the_webhook_secret_must_be_what_max_accepts():
    assert Settings(max_webhook_secret="abc_DEF-123").max_webhook_secret.get_secret_value() == "abc_DEF-123"
    for bad in ("abc", "with space", "кириллица", "x" * 257):
        with pytest.raises(ValidationError, match="MAX_WEBHOOK_SECRET"):
            Settings(max_webhook_secret=bad)
    assert Settings(max_bot_token="t").max_enabled and not Settings().max_enabled


def test_only_private_dialogs_with_people_are_handled():
    def created(**message: object) -> dict:
        return {"update_type": "message_created", "message": message}

    assert update_user(created(sender={"user_id": 5}, recipient={"chat_type": "dialog"}, body={})) == "5"
    assert update_user(created(sender={"user_id": 5}, recipient={"chat_type": "chat", "chat_id": -1})) is None
    assert update_user(created(sender={"user_id": 5, "is_bot": True}, recipient={"chat_type": "dialog"})) is None
    assert update_user(created(sender={"user_id": "5"})) is None
    assert update_user({"update_type": "message_callback", "callback": {"user": {"user_id": 7}}}) == "7"
    assert update_user({"update_type": "bot_started", "user": {"user_id": 8}, "payload": "p_1"}) == "8"
    assert update_user({"update_type": "message_edited"}) is None
    assert update_user(["not", "an", "update"]) is None


def test_an_update_is_recognised_again_by_its_mid_or_timestamp_and_never_by_a_missing_one():
    started = {"update_type": "bot_started", "user": {"user_id": 8}, "payload": "p_1"}
    assert event_id({**started, "timestamp": 1700000000123}) == "s1700000000123"
    # Without a timestamp two openings of a link are two events, both answered.
    assert event_id(started) == "" and event_id({**started, "timestamp": None}) == ""
    typed = {"update_type": "message_created", "message": {"body": {"mid": "mid.1a", "text": "/link 1"}}}
    assert event_id(typed) == "mmid.1a"
    assert event_id({"update_type": "message_created", "message": {"body": {}}, "timestamp": 5}) == "m5"
    assert event_id({"update_type": "message_created", "message": {"body": {}}}) == ""
