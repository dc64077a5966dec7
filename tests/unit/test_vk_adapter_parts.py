"""The VK adapter's pure parts: keyboards within VK limits, random_id, the 20 rps limiter, error mapping."""
from __future__ import annotations

import json

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from vk_api.exceptions import ApiError, ApiHttpError

from bot.delivery import Blocked, DeliveryError, RetryLater, TransientError
from bot.dialogs.screen import Button, Input, Screen
from bot.handlers import vk_keyboard as kb
from bot.handlers.vk import VkAdapter, split_text
from bot.handlers.vk_api_client import RateLimiter, VkClient, map_error, random_id


def screen_of(row_sizes: list[int], label: str = "Кнопка") -> Screen:
    counter = iter(range(10_000))
    rows = tuple(tuple(Button(f"{label} {next(counter)}", f"b:{n}") for n in range(size)) for size in row_sizes)
    return Screen("текст", rows)


def all_pages(screen: Screen, inline: bool) -> list[kb.Page]:
    first = kb.render(screen, inline=inline)
    assert first is not None
    return [kb.render(screen, inline=inline, page=n) for n in range(first.pages)]  # type: ignore[misc]


@settings(max_examples=150, deadline=None)
@given(row_sizes=st.lists(st.integers(min_value=0, max_value=13), max_size=40), inline=st.booleans())
def test_every_page_fits_vk_limits_and_no_button_is_dropped(row_sizes, inline):
    screen = screen_of(row_sizes)
    page = kb.render(screen, inline=inline)
    if not screen.buttons:
        assert page is None
        return
    shown: list[str] = []
    for page in all_pages(screen, inline):
        keyboard = json.loads(page.keyboard)
        assert keyboard["inline"] is inline
        assert len(keyboard["buttons"]) <= (kb.MAX_ROWS_INLINE if inline else kb.MAX_ROWS_DEFAULT)
        total = sum(len(row) for row in keyboard["buttons"])
        assert total <= (kb.MAX_BUTTONS_INLINE if inline else kb.MAX_BUTTONS_DEFAULT)
        for row in keyboard["buttons"]:
            assert 1 <= len(row) <= kb.MAX_BUTTONS_PER_ROW
            for button in row:
                assert button["action"]["type"] == ("callback" if inline else "text")
                assert len(button["action"]["label"]) <= kb.MAX_LABEL
                assert len(button["action"]["payload"]) <= 255
        shown += [a for a in page.actions if not a.startswith(kb.PAGE_PREFIX)]
    assert shown == [b.action for b in screen.buttons]  # each once, in order


def test_paging_buttons_lead_back_and_forth():
    screen = screen_of([1] * 12)
    first, second, third = all_pages(screen, inline=True)
    assert first.pages == 3
    nav = [b.label for b in first.rows[-1]]
    assert nav == [kb.LABEL_NEXT]
    assert [b.label for b in second.rows[-1]] == [kb.LABEL_PREV, kb.LABEL_NEXT]
    assert [b.label for b in third.rows[-1]] == [kb.LABEL_PREV]
    assert kb.parse_page_action(second.rows[-1][1].action) == (2, kb.screen_key(screen))


@pytest.mark.parametrize("row_sizes,inline", [([5, 5], True), ([1] * 6, True), ([4] * 10, False)])
def test_a_screen_that_fits_has_no_paging_row(row_sizes, inline):
    page = kb.render(screen_of(row_sizes), inline=inline)
    assert page is not None and page.pages == 1 and not any(a.startswith(kb.PAGE_PREFIX) for a in page.actions)


def test_eleven_buttons_in_six_rows_do_not_fit_inline_but_fit_a_text_keyboard():
    screen = screen_of([5, 1, 2, 2, 1])
    assert kb.page_count(screen, inline=True) == 2
    assert kb.page_count(screen, inline=False) == 1


def test_long_labels_are_clipped_and_still_matched_back():
    long = "Робототехника для начинающих инженеров и конструкторов"
    page = kb.render(Screen("t", ((Button(long, "card:1"),),)), inline=False)
    assert page is not None
    (label,) = page.labels
    assert len(label) == kb.MAX_LABEL and label.endswith("…")
    assert page.labels[label] == "card:1"


@pytest.mark.parametrize("payload,expected", [
    ('{"a":"card:7"}', "card:7"),
    ({"a": "card:7"}, "card:7"),
    ('{"a":7}', None),
    ("not json", None),
    ({"a": "x" * 61}, None),
    ({"a": "карта"}, None),
    (["a"], None),
])
def test_only_well_formed_payloads_become_presses(payload, expected):
    assert kb.action_from_payload(payload) == expected


def test_random_id_is_stable_and_differs_by_peer_cause_and_part():
    assert random_id(5, "m10", 0) == random_id(5, "m10", 0)
    ids = {random_id(peer, cause, part) for peer in (5, 6) for cause in ("m10", "e1") for part in (0, 1)}
    assert len(ids) == 8
    assert all(0 < i < 2 ** 31 for i in ids)


def test_split_text_keeps_every_character_within_the_limit():
    text = "строка\n" * 1000
    parts = split_text(text, limit=4096)
    assert all(0 < len(p) <= 4096 for p in parts)
    assert "\n".join(parts).replace("\n", "") == text.replace("\n", "")
    assert split_text("коротко") == ["коротко"]


class CountingClock:
    """A clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_limiter_lets_at_most_twenty_calls_into_any_second():
    clock = CountingClock()
    limiter = RateLimiter(20, 1.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(65):
        await limiter.acquire()
        stamps.append(clock.now)
    assert stamps[:20] == [100.0] * 20
    assert clock.sleeps == [1.0, 1.0, 1.0]  # waits only at calls 21, 41 and 61
    for i, stamp in enumerate(stamps):
        in_window = [s for s in stamps if stamp <= s < stamp + 1.0]
        assert len(in_window) <= 20, i
    assert stamps[-1] == pytest.approx(103.0)


def _api_error(code: int) -> ApiError:
    return ApiError(None, "messages.send", {}, False, {"error_code": code, "error_msg": "x"})


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code = status


@pytest.mark.parametrize("exc,kind", [
    (_api_error(6), RetryLater),
    (_api_error(9), RetryLater),
    (_api_error(901), Blocked),
    (_api_error(902), Blocked),
    (_api_error(10), TransientError),
    (_api_error(100), DeliveryError),
    (ApiHttpError(None, "messages.send", {}, False, _Response(502)), TransientError),
    (ApiHttpError(None, "messages.send", {}, False, _Response(429)), RetryLater),
    (requests.ConnectionError("refused"), TransientError),
    (requests.Timeout("slow"), TransientError),
])
def test_vk_errors_map_to_delivery_errors(exc, kind):
    mapped = map_error(exc)
    assert type(mapped) is kind


class ScriptedApi:
    """Raises the scripted errors in turn, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def method(self, method, values):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return 42


async def test_client_waits_out_error_6_then_succeeds():
    clock = CountingClock()
    api = ScriptedApi(_api_error(6), _api_error(9))
    client = VkClient(api, RateLimiter(20, 1.0, clock=clock, sleep=clock.sleep), sleep=clock.sleep)  # type: ignore[arg-type]
    assert await client.call("messages.send", peer_id=1) == 42
    assert api.calls == 3 and clock.sleeps == [1.0, 3.0]


async def test_client_gives_up_after_bounded_attempts_and_never_retries_901():
    clock = CountingClock()
    busy = VkClient(ScriptedApi(*[_api_error(6)] * 10), RateLimiter(20, 1.0, clock=clock, sleep=clock.sleep),  # type: ignore[arg-type]
                    sleep=clock.sleep, attempts=3)
    with pytest.raises(RetryLater):
        await busy.call("messages.send")
    assert busy.api.calls == 3
    blocked = VkClient(ScriptedApi(_api_error(901)), RateLimiter(20, 1.0, clock=clock, sleep=clock.sleep),  # type: ignore[arg-type]
                       sleep=clock.sleep)
    with pytest.raises(Blocked):
        await blocked.call("messages.send")
    assert blocked.api.calls == 1


def test_typed_words_and_start_button_become_inputs():
    adapter = VkAdapter.__new__(VkAdapter)
    adapter.labels = {"1": {"Найти кружок": "find"}}
    inp = adapter.input_from_message
    assert inp("1", {"text": "Начать"}) == Input(kind="command", command="start")
    assert inp("1", {"text": "x", "payload": '{"command":"start"}'}) == Input(kind="command", command="start")
    assert inp("1", {"text": "/balance"}) == Input(kind="command", command="balance")
    assert inp("1", {"text": "Найти  кружок"}) == Input.press("find")
    assert inp("1", {"text": "Найти кружок", "payload": '{"a":"card:3"}'}) == Input.press("card:3")
    assert inp("2", {"text": "Найти кружок"}) == Input.from_text("Найти кружок")
    assert inp("1", {"text": "112-233-445 95"}) == Input(kind="text", text="112-233-445 95")


def test_a_non_numeric_group_id_is_a_clear_error():
    from types import SimpleNamespace

    ctx = SimpleNamespace(settings=SimpleNamespace(vk_group_id="club123"))
    with pytest.raises(ValueError, match="VK_GROUP_ID"):
        VkAdapter(ctx, client=None)  # type: ignore[arg-type]


def test_methods_go_to_the_configured_base_url():
    from bot.handlers.vk_api_client import VkApiAt

    class Session(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self.posted: list[tuple[str, dict]] = []

        def post(self, url, data=None, **kwargs):  # type: ignore[override]
            self.posted.append((url, dict(data)))
            response = requests.Response()
            response.status_code = 200
            response._content = b'{"response": 1}'
            return response

    session = Session()
    api = VkApiAt("tok", "http://127.0.0.1:9/method", session=session)
    assert api.method("messages.send", {"peer_id": 1}) == 1
    (url, data), = session.posted
    assert url == "http://127.0.0.1:9/method/messages.send"
    assert data["v"] == "5.199" and data["access_token"] == "tok"
