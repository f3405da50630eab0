"""Payload encryption: every payload linli hands Temporal is sealed with AES-256-GCM before it leaves the process.

A case's workflow input and every answer to its commands carry the resident's name, phone number and
words. Temporal stores them in its database, shows them in the Web UI and prints them from
``temporal workflow show``; sealed, none of those places holds more than ciphertext and a key id.

Each sealed payload is the original payload, serialized, encrypted under one key of the installation's
keyring, with two metadata entries: ``encoding: binary/encrypted`` and ``encryption-key-id: <id>``. The
first key of the keyring seals; every key opens what was sealed under its id, so keys can rotate while
older histories stay readable. A payload without that encoding (sealed by nobody: histories recorded
before encryption) is passed through as it is. The layout (12-byte nonce, then ciphertext and tag, no
associated data) is the one Temporal's own encryption samples use, so their codec servers can open it.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PAYLOAD = Payload.DESCRIPTOR.full_name


class PayloadKeyError(ValueError):
    """A keyring that cannot be used; the message says what is wrong, never the key itself."""


class UndecodablePayload(ValueError):
    """A sealed payload that this keyring cannot open: its key is missing, or it was altered."""


@dataclass(frozen=True)
class PayloadKey:
    id: str
    secret: bytes

    def __post_init__(self) -> None:
        if not KEY_ID_PATTERN.match(self.id):
            raise PayloadKeyError(f"key id {self.id!r} must be 1-64 letters, digits, '.', '_' or '-'")
        if len(self.secret) != KEY_BYTES:
            raise PayloadKeyError(f"key {self.id!r} is {len(self.secret)} bytes; AES-256 needs {KEY_BYTES}")

    @classmethod
    def generate(cls) -> PayloadKey:
        # The date in the id tells an operator how old a key is when deciding which ones may go.
        return cls(f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}", secrets.token_bytes(KEY_BYTES))

    @classmethod
    def parse(cls, text: str) -> PayloadKey:
        """``id:base64url-of-32-bytes`` (padding optional).

        The errors quote nothing of the text: an entry written the wrong way round would put the key where
        the id belongs.
        """
        key_id, colon, encoded = text.strip().partition(":")
        if not colon:
            raise PayloadKeyError("it is not id:key (a colon between the key id and the key)")
        if not KEY_ID_PATTERN.match(key_id):
            raise PayloadKeyError("its key id must be 1-64 letters, digits, '.', '_' or '-'")
        try:
            secret = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyError("its key is not base64url") from None
        if len(secret) != KEY_BYTES:
            raise PayloadKeyError(f"its key is {len(secret)} bytes; AES-256 needs {KEY_BYTES}")
        return cls(key_id, secret)

    def __str__(self) -> str:
        return f"{self.id}:{base64.urlsafe_b64encode(self.secret).decode().rstrip('=')}"

    def __repr__(self) -> str:  # never the secret, wherever a key ends up printed
        return f"PayloadKey({self.id!r})"


class Keyring:
    """The installation's payload keys: the first seals, all open."""

    def __init__(self, keys: Sequence[PayloadKey]) -> None:
        if not keys:
            raise PayloadKeyError("no payload keys")
        ids = [key.id for key in keys]
        if duplicates := sorted({i for i in ids if ids.count(i) > 1}):
            raise PayloadKeyError(f"key id {duplicates[0]!r} is given twice; each key needs its own id")
        self.keys = tuple(keys)
        self._by_id = {key.id: AESGCM(key.secret) for key in keys}

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Comma-separated ``id:key`` entries, the sealing key first."""
        keys = []
        for number, entry in enumerate((e for e in text.split(",") if e.strip()), start=1):
            try:
                keys.append(PayloadKey.parse(entry))
            except PayloadKeyError as error:
                raise PayloadKeyError(f"payload key {number}: {error}") from None
        return cls(keys)

    @classmethod
    def generate(cls) -> Keyring:
        return cls([PayloadKey.generate()])

    @property
    def current(self) -> PayloadKey:
        return self.keys[0]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key.id for key in self.keys)

    def __str__(self) -> str:
        return ",".join(str(key) for key in self.keys)

    def __repr__(self) -> str:
        return f"Keyring({list(self.ids)!r})"

    def seal(self, plain: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return self.current.id, nonce + self._by_id[self.current.id].encrypt(nonce, plain, None)

    def open(self, key_id: str, sealed: bytes) -> bytes:
        cipher = self._by_id.get(key_id)
        if cipher is None:
            raise UndecodablePayload(
                f"a payload is encrypted under key {key_id!r}, which is not among this installation's keys "
                f"({', '.join(self.ids)}): add it to LINLI_PAYLOAD_KEYS after the current key"
            )
        try:
            return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], None)
        except InvalidTag:
            raise UndecodablePayload(
                f"a payload encrypted under key {key_id!r} fails authentication: it was altered, "
                "or sealed with a different key under the same id"
            ) from None


class EncryptionCodec(PayloadCodec):
    """The data converter's codec: seals every payload on the way to Temporal, opens it on the way back."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._seal(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._open(payload) for payload in payloads]

    def _seal(self, payload: Payload) -> Payload:
        key_id, sealed = self.keyring.seal(payload.SerializeToString())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=sealed)

    def _open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # never sealed: recorded before encryption, or not ours to open
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        return Payload.FromString(self.keyring.open(key_id, payload.data))


async def decode_in_place(message: Message, codec: PayloadCodec) -> None:
    """Decode every payload anywhere inside ``message`` (a history event, a whole history), in place.

    The SDK's own payload visitor covers only the messages a worker exchanges with its server, not history
    events, so this walks the message's fields itself: every ``Payload``, in lists, maps and nested
    messages, goes through ``codec.decode``. Fields left unset are not visited.
    """
    for field, value in message.ListFields():
        kind = field.message_type
        if kind is None:  # a scalar
            continue
        if kind.GetOptions().map_entry:
            entry = kind.fields_by_name["value"].message_type
            if entry is None:
                continue
            for item in value.values():
                if entry.full_name == _PAYLOAD:
                    item.CopyFrom((await codec.decode([item]))[0])
                else:
                    await decode_in_place(item, codec)
        elif field.is_repeated:
            if kind.full_name == _PAYLOAD:
                decoded = await codec.decode(list(value))
                del value[:]
                value.extend(decoded)
            else:
                for item in value:
                    await decode_in_place(item, codec)
        elif kind.full_name == _PAYLOAD:
            value.CopyFrom((await codec.decode([value]))[0])
        else:
            await decode_in_place(value, codec)
