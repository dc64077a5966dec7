"""bot/lean_aiogram.py: aiogram's models are built on first use, and every one of them can be."""
from __future__ import annotations

import subprocess
import sys
import textwrap

CHECK = textwrap.dedent("""
    import bot.lean_aiogram
    assert bot.lean_aiogram.start()  # as bot/app.py does at start
    import bot.handlers.telegram
    import aiogram.methods, aiogram.types
    from pydantic import BaseModel
    from aiogram.types import Update

    assert not Update.__pydantic_complete__, "built at import: defer_schemas had no effect"
    update = Update.model_validate({"update_id": 1, "callback_query": {
        "id": "7", "from": {"id": 5, "is_bot": False, "first_name": "P"}, "chat_instance": "c",
        "data": "x", "message": {"message_id": 3, "date": 0, "chat": {"id": 5, "type": "private"},
                                 "text": "t"}}})
    assert update.callback_query.message.chat.id == 5

    def build(model):  # called from a handler's depth, as in the bot
        model.__pydantic_validator__.validate_python  # builds it
        model.__pydantic_serializer__.to_python

    def build_all():
        broken = []
        for module in (aiogram.types, aiogram.methods):
            for name in module.__all__:
                model = getattr(module, name)
                if isinstance(model, type) and issubclass(model, BaseModel):
                    try:
                        (lambda: (lambda: build(model))())()
                    except Exception as exc:
                        broken.append(f"{name}: {exc}")
        return broken

    broken = build_all()
    assert not broken, broken
    print("ok")
""")


def test_every_bot_api_model_builds_on_first_use():
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_the_telegram_adapter_imports_aiogram_in_far_less_memory():
    measure = ("import bot.lean_aiogram; bot.lean_aiogram.start()\n"
               "import bot.handlers.telegram\n"
               "print(int(open('/proc/self/statm').read().split()[1]) * 4096 // 2**20)")
    eager = ("import bot.handlers.telegram\n"
             "print(int(open('/proc/self/statm').read().split()[1]) * 4096 // 2**20)")
    lean_mb = int(subprocess.run([sys.executable, "-c", measure], capture_output=True, text=True,
                                 check=True, timeout=120).stdout)
    eager_mb = int(subprocess.run([sys.executable, "-c", eager], capture_output=True, text=True,
                                  check=True, timeout=120).stdout)
    assert lean_mb < eager_mb - 50, (lean_mb, eager_mb)


def test_without_the_call_at_start_aiogram_is_imported_the_plain_way():
    check = ("import bot.handlers.telegram\n"
             "from aiogram.types import Update\n"
             "assert Update.__pydantic_complete__\n"
             "print('ok')")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_if_the_lazy_import_fails_aiogram_is_imported_the_plain_way():
    check = ("import bot.lean_aiogram as lean\n"
             "def broken():\n"
             "    import aiogram  # half-imported, then a failure, as a future pydantic might cause\n"
             "    raise TypeError('model_rebuild changed')\n"
             "lean.defer_schemas = broken\n"
             "assert lean.start() is False\n"
             "from aiogram.types import Update\n"
             "assert Update.model_validate({'update_id': 1}).update_id == 1\n"
             "print('ok')")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
