"""Settings of SPEC §2, read from the environment or `.env` (see .env.example)."""
from __future__ import annotations

import re
from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

from core import pd
from core.db import DEFAULT_DATABASE_URL, data_dir
from core.pd import KeyRing, load_keyring

TELEGRAM_OFFICIAL_API = "https://api.telegram.org"
VK_OFFICIAL_API = "https://api.vk.ru/method/"
WEBHOOK_SECRET_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
MAX_OFFICIAL_API = "https://platform-api2.max.ru"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr = SecretStr("")
    telegram_api_url: str = TELEGRAM_OFFICIAL_API
    vk_group_token: SecretStr = SecretStr("")
    vk_group_id: str = ""
    vk_api_url: str = VK_OFFICIAL_API
    # Set: VK through the Callback API at POST /vk/callback (bot/handlers/vk_callback.py)
    # instead of Bots Long Poll; every request must carry it as `secret`.
    vk_callback_secret: SecretStr = SecretStr("")
    # MAX (bot/handlers/max.py): on when the token is set. MAX_CA_BUNDLE: a PEM file of the
    # root certificate the API host's TLS chains to (Минцифры «Russian Trusted Root CA»), for
    # a system store that lacks it. A webhook URL switches long polling off (production).
    max_bot_token: SecretStr = SecretStr("")
    max_api_url: str = MAX_OFFICIAL_API
    max_ca_bundle: str = ""
    max_webhook_url: str = ""
    max_webhook_secret: SecretStr = SecretStr("")
    # The bots' usernames for share links (bot/dialogs/share.py). Empty: each adapter fills
    # in its own at start (Telegram from getMe); set them to name the bot in the terminal chat.
    telegram_bot_username: str = ""
    max_bot_username: str = ""
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = ""
    notify_interval_seconds: int = Field(300, ge=1)
    timezone: str = "Europe/Moscow"
    # Personal-data keys (core/pd.py, README "Personal data"): base64 of 32 bytes each.
    # PD_KEY unset: the key file pd.keys in the data folder (created on first run).
    pd_key: SecretStr = SecretStr("")
    pd_old_keys: SecretStr = SecretStr("")      # comma-separated: still decrypt, never encrypt
    pd_index_key: SecretStr = SecretStr("")     # the SNILS hash key; never changes
    # "123, vk:456, telegram:789": a bare id is allowed on every platform.
    admin_ids: Annotated[list[str], NoDecode] = []
    # The operator of the personal data, as the consent document names them (152-ФЗ ст. 9).
    pd_operator_name: str = ""
    pd_operator_address: str = ""
    # The level of every logger (DEBUG, INFO, WARNING…); records never carry children's data.
    log_level: str = "INFO"
    # --- wp15a: production (README "Running in production") ---
    # Set: Telegram in webhook mode (setWebhook with this URL; the bot serves POSTs on its path).
    telegram_webhook_url: str = ""
    # Required in webhook mode: Telegram's X-Telegram-Bot-Api-Secret-Token (1-256 of A-Z a-z 0-9 _ -).
    telegram_webhook_secret: SecretStr = SecretStr("")
    # The one HTTP server (webhooks, /healthz, /metrics): on with a webhook mode, or HTTP_PORT set.
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=1, le=65535)
    # The jobs lock's lease (bot/jobs/leader.py): renewed every third of it; another process
    # takes the jobs over within about 4/3 of it after the holder's death.
    jobs_lease_seconds: float = Field(30.0, ge=1.0, le=600.0)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        import logging

        name = str(value or "INFO").strip().upper()
        if not isinstance(logging.getLevelName(name), int):
            raise ValueError(f"unknown log level {value!r}: DEBUG, INFO, WARNING, ERROR")
        return name

    @field_validator("telegram_webhook_url", mode="before")
    @classmethod
    def _webhook_url(cls, value: object) -> object:
        from urllib.parse import urlsplit

        url = str(value or "").strip()
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise ValueError(f"TELEGRAM_WEBHOOK_URL must be an https:// address, not {url!r}")
        return url

    @property
    def telegram_webhook(self) -> bool:
        """Telegram in webhook mode (TELEGRAM_WEBHOOK_URL set), rather than long polling."""
        return self.telegram_enabled and bool(self.telegram_webhook_url)

    def webhook_problem(self) -> str | None:
        """Why Telegram's webhook mode cannot start with these settings; None when it can (or is off)."""
        if not self.telegram_webhook:
            return None
        secret = self.telegram_webhook_secret.get_secret_value()
        if not secret or len(secret) > 256 or not set(secret) <= WEBHOOK_SECRET_CHARS:
            return ("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_WEBHOOK_URL is set: 1 to 256 "
                    "characters of A-Z, a-z, 0-9, _ and - (Telegram sends it back with every update)")
        return None

    @property
    def http_port_set(self) -> bool:
        """HTTP_PORT given explicitly: the HTTP server runs in polling mode too."""
        return "http_port" in self.model_fields_set

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token.get_secret_value())

    @field_validator("max_webhook_secret", mode="after")
    @classmethod
    def _max_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        # MAX accepts 5-256 characters of A-Z, a-z, 0-9, "_" and "-" (POST /subscriptions).
        if secret and (not 5 <= len(secret) <= 256 or not re.fullmatch(r"[A-Za-z0-9_-]+", secret)):
            raise ValueError("MAX_WEBHOOK_SECRET: 5-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @property
    def max_enabled(self) -> bool:
        return bool(self.max_bot_token.get_secret_value())

    @property
    def vk_enabled(self) -> bool:
        return bool(self.vk_group_token.get_secret_value() and self.vk_group_id)

    def is_admin(self, platform: str, user_id: str) -> bool:
        return str(user_id) in self.admin_ids or f"{platform}:{user_id}" in self.admin_ids


def load_pd_keys(settings: Settings, database_url: str | None = None) -> KeyRing:
    """The personal-data key ring as the bot loads it, for `database_url` (its data folder)."""
    return load_keyring(key=settings.pd_key.get_secret_value(), old_keys=settings.pd_old_keys.get_secret_value(),
                        index_key=settings.pd_index_key.get_secret_value(),
                        key_dir=data_dir(database_url or settings.database_url))


def use_pd_keys(settings: Settings, database_url: str | None = None) -> KeyRing:
    """Load the key ring once per process (the first caller wins) and make it core's."""
    ring = pd.configured()
    if ring is None:
        ring = load_pd_keys(settings, database_url)
        pd.configure(ring)
    return ring


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
