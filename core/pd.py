"""Children's personal data at rest: AES-GCM under a ring of keys, and the SNILS's keyed hash.

A stored value is `<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`; the key id
(8 hex digits of a hash of the key, never the key) says which key of the ring
opens it, so a ring may hold the new key and the old ones while
`python -m bot pd rotate-key` re-encrypts (core/pd_rotation.py). The name of
the field is the AES-GCM associated data: a value copied into another column
does not decrypt.

Where the keys come from (loaded once per process by `load_keyring`, then
`configure`d; see README "Personal data"):
- `PD_KEY` (base64 of 32 bytes) is the primary key; `PD_OLD_KEYS` (comma-separated)
  still decrypt. With PD_KEY unset, the key file `pd.keys` in the data folder
  (created on first run, mode 0600) holds them: its first `key` line is primary.
- The SNILS index key: `PD_INDEX_KEY`, else the key file's `index` line, else
  (PD_KEY alone) derived from PD_KEY with HKDF. It never rotates: a forgotten
  child is found again only by the same hash of the same SNILS.

The key file is re-read when it changes on disk (a rotation run by another
process), before encrypting and on meeting an unknown key id.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_LENGTH = 8
KEY_FILE = "pd.keys"
_INDEX_INFO = b"certificate-bot snils index v1"
_FILE_HEADER = (
    "# Personal-data keys of the certificate bot (README, \"Personal data\").\n"
    "# Back this file up APART from the database: either one alone reveals nothing.\n"
    "# 'key' lines: the first encrypts new data, the others still decrypt older values.\n"
    "# 'index' line: the SNILS hash key; it never changes.\n"
)


class KeyProblem(Exception):
    """A key setting or the key file is unusable, or a value has no key in the ring."""


def decode_key(text: str, name: str) -> bytes:
    raw = text.strip().replace("-", "+").replace("_", "/")   # standard or URL-safe base64
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise KeyProblem(f"{name} is not base64") from None
    if len(key) != KEY_BYTES:
        raise KeyProblem(f"{name} must be base64 of {KEY_BYTES} bytes, got {len(key)} bytes")
    return key


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"certificate-bot key id\0" + key).hexdigest()[:KEY_ID_LENGTH]


def derive_index_key(key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_INDEX_INFO).derive(key)


def token_key_id(token: str) -> str:
    return token.split(":", 1)[0]


@dataclass(repr=False)
class KeyRing:
    """The keys that open stored values (primary first) and the SNILS index key."""
    # Never in a repr (a traceback, a log line): only key ids are shown.
    keys: list[bytes] = field(repr=False)
    index_key: bytes = field(repr=False)
    path: Path | None = None          # the key file this ring reloads from, if any
    extra_keys: list[bytes] = field(default_factory=list, repr=False)   # PD_OLD_KEYS beside a key file
    index_override: bytes | None = field(default=None, repr=False)    # PD_INDEX_KEY beside a key file
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False)
    _stamp: tuple[int, int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyProblem("no personal-data key")
        self._ciphers = {key_id(key): AESGCM(key) for key in [*self.keys, *self.extra_keys]}

    def __repr__(self) -> str:
        return f"KeyRing(primary={self.primary_id}, keys={self.key_ids()}, path={self.path})"

    @property
    def primary_id(self) -> str:
        return key_id(self.keys[0])

    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    def encrypt(self, field_name: str, clear: str) -> str:
        self.refresh()
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.keys[0]).encrypt(nonce, clear.encode("utf-8"), field_name.encode("ascii"))
        return f"{self.primary_id}:{base64.urlsafe_b64encode(nonce + sealed).rstrip(b'=').decode('ascii')}"

    def decrypt(self, field_name: str, token: str) -> str:
        kid, _, body = token.partition(":")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            self.refresh(force=True)
            cipher = self._ciphers.get(kid)
            if cipher is None:
                raise KeyProblem(f"no key {kid!r} in the personal-data key ring")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            clear = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], field_name.encode("ascii"))
        except (InvalidTag, ValueError, binascii.Error):
            raise KeyProblem(f"a value of {field_name} does not decrypt under key {kid!r}") from None
        return clear.decode("utf-8")

    def snils_hash(self, digits: str) -> str:
        """The SNILS's identity: HMAC-SHA256 of its 11 digits, hex (not reversible without the key)."""
        return hmac.new(self.index_key, digits.encode("ascii"), hashlib.sha256).hexdigest()

    # --- the key file ------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Re-read the key file if another process (a rotation) changed it."""
        if self.path is None:
            return
        try:
            info = self.path.stat()
        except OSError:
            return
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp == self._stamp and not force:
            return
        keys, index = read_key_file(self.path)
        self.keys = keys
        self.index_key = self.index_override or index
        self._ciphers = {key_id(key): AESGCM(key) for key in [*keys, *self.extra_keys]}
        self._stamp = stamp


def read_key_file(path: Path) -> tuple[list[bytes], bytes]:
    keys: list[bytes] = []
    index: bytes | None = None
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, value = line.partition(" ")
        if kind == "key":
            keys.append(decode_key(value, f"{path}:{number}"))
        elif kind == "index":
            index = decode_key(value, f"{path}:{number}")
        else:
            raise KeyProblem(f"{path}:{number}: expected 'key …' or 'index …'")
    if not keys or index is None:
        raise KeyProblem(f"{path}: needs an 'index' line and at least one 'key' line")
    return keys, index


def write_key_file(path: Path, keys: list[bytes], index: bytes, *, create: bool = False) -> None:
    """Replace the key file at once (a reader sees the old file or the new, never half), mode 0600.
    `create`: only if there is none yet (two first starts at once keep one file, not two sets of keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    body = _FILE_HEADER + f"index {encode_key(index)}\n" + "".join(f"key {encode_key(k)}\n" for k in keys)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, body.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(temporary, 0o600)
    if not create:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def load_keyring(*, key: str = "", old_keys: str = "", index_key: str = "", key_dir: Path) -> KeyRing:
    """The ring from the settings (PD_KEY, PD_OLD_KEYS, PD_INDEX_KEY), or from the key file in
    `key_dir` (created with fresh random keys if missing)."""
    olds = [decode_key(part, "PD_OLD_KEYS") for part in old_keys.split(",") if part.strip()]
    index = decode_key(index_key, "PD_INDEX_KEY") if index_key.strip() else None
    if key.strip():
        primary = decode_key(key, "PD_KEY")
        if index is None and olds:
            # Derived from PD_KEY, the index would change with it and lose every forgotten child.
            raise KeyProblem("PD_OLD_KEYS needs PD_INDEX_KEY: before changing PD_KEY, set PD_INDEX_KEY "
                             "to the value `python -m bot pd index-key` printed with the old key")
        return KeyRing(keys=[primary, *olds], index_key=index or derive_index_key(primary))
    path = Path(key_dir) / KEY_FILE
    if not path.exists():
        write_key_file(path, [new_key()], new_key(), create=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    keys, stored_index = read_key_file(path)
    ring = KeyRing(keys=keys, index_key=index or stored_index, path=path, extra_keys=olds, index_override=index)
    ring.refresh(force=True)   # remembers the file's stamp
    return ring


def add_primary_key(ring: KeyRing) -> str:
    """A new random primary key in the ring's key file (the old ones stay); its key id."""
    if ring.path is None:
        raise KeyProblem("the keys come from PD_KEY: set the new key as PD_KEY and the old one in "
                         "PD_OLD_KEYS, restart the bot, then run rotate-key again")
    ring.refresh(force=True)
    keys, index = read_key_file(ring.path)
    fresh = new_key()
    write_key_file(ring.path, [fresh, *keys], index)
    ring.refresh(force=True)
    return key_id(fresh)


# --- the process's ring ----------------------------------------------------------------
_ring: KeyRing | None = None


def configure(ring: KeyRing | None) -> None:
    global _ring
    _ring = ring


def configured() -> KeyRing | None:
    return _ring


def ring() -> KeyRing:
    if _ring is None:
        raise KeyProblem("personal-data keys are not loaded (core.pd.configure)")
    return _ring


def seal(field_name: str, clear: str | None) -> str | None:
    return None if clear is None else ring().encrypt(field_name, clear)


def open_(field_name: str, token: str | None) -> str | None:
    return None if token is None else ring().decrypt(field_name, token)


def seal_date(field_name: str, day: dt.date | None) -> str | None:
    return None if day is None else seal(field_name, day.isoformat())


def open_date(field_name: str, token: str | None) -> dt.date | None:
    clear = open_(field_name, token)
    return None if clear is None else dt.date.fromisoformat(clear)


def snils_hash(digits: str) -> str:
    return ring().snils_hash(digits)


def keyed_hash(purpose: str, value: str) -> str:
    """A keyed hash (HMAC-SHA256 under the index key) of `value` for `purpose`, e.g. a
    one-time linking code: short secrets are stored this way, never in clear."""
    return ring().snils_hash(f"{purpose}:{value}")
