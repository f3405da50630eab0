"""Signed checkpoints of the audit log, the installation's Ed25519 key, and the bytes of a leaf.

A checkpoint says "the log had ``size`` leaves with this root at ``signed_at``", signed with the
installation's key. The signature covers exactly these bytes (UTF-8, each line ending in ``\\n``)::

    linli-checkpoint/v1
    <size: decimal, no leading zeros>
    <root: 64 lowercase hex digits>
    <signed_at: YYYY-MM-DDTHH:MM:SSZ, UTC, to the second>

The first line names the format, so a signature over anything else can never pass for a checkpoint's.
``signed_at`` stays the string that was signed: parsing it into a datetime and writing it out again could
change a byte and break a good signature.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from core.secrets import data_dir_secret

FORMAT_LINE = b"linli-checkpoint/v1\n"
SIGNED_AT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_RAW_KEY_SIZE = 32


class Checkpoint(BaseModel):
    """The log's size and root at a moment, signed with the installation's Ed25519 key."""

    model_config = ConfigDict(frozen=True, strict=True)

    size: int = Field(ge=0, description="leaves in the log")
    root: str = Field(pattern=r"^[0-9a-f]{64}$", description="the RFC 6962 root hash, hex")
    signed_at: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", description="ISO 8601, UTC")
    signature: str = Field(description="base64 of the Ed25519 signature of the checkpoint's message")


def checkpoint_message(size: int, root_hex: str, signed_at: str) -> bytes:
    """The bytes a checkpoint's signature covers (the module's docstring gives the format)."""
    return FORMAT_LINE + f"{size}\n{root_hex}\n{signed_at}\n".encode()


def sign_checkpoint(key: Ed25519PrivateKey, size: int, root: bytes, signed_at: datetime) -> Checkpoint:
    if size < 0 or len(root) != 32:
        raise ValueError(f"a checkpoint needs a size >= 0 and a 32-byte root, not {size} and {len(root)} bytes")
    if signed_at.tzinfo is None:
        raise ValueError("signed_at needs a time zone: a naive time could be any moment")
    at = signed_at.astimezone(UTC).strftime(SIGNED_AT_FORMAT)
    signature = key.sign(checkpoint_message(size, root.hex(), at))
    return Checkpoint(size=size, root=root.hex(), signed_at=at, signature=base64.b64encode(signature).decode())


def verify_checkpoint(public_key: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    """Whether the checkpoint's signature is this key's over its size, root and signed_at, as written."""
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        message = checkpoint_message(checkpoint.size, checkpoint.root, checkpoint.signed_at)
        public_key.verify(signature, message)
    except (InvalidSignature, binascii.Error):
        return False
    return True


def canonical_event(event: Mapping[str, Any]) -> bytes:
    """An event as a log leaf's data: JSON with sorted keys, no spaces, UTF-8 rather than ``\\u`` escapes.

    The same event must give the same bytes wherever it is hashed, so only JSON's own types go in:
    datetimes, UUIDs and enums must already be strings (ISO 8601 for times), or this raises TypeError.
    Floats are written as Python writes them; counts and ids should be integers or strings.
    """
    text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> str:
    """PKCS #8 PEM, unencrypted: the file's mode is what protects it."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def private_key_b64(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte private key in base64: short enough for an environment variable."""
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return base64.b64encode(raw).decode()


def parse_private_key(text: str) -> Ed25519PrivateKey:
    """A private key written by ``private_key_pem`` or ``private_key_b64``."""
    if "-----BEGIN" in text:
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError) as error:  # TypeError: the PEM is encrypted
            raise ValueError(f"not a readable unencrypted PEM private key: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"the PEM holds a {type(key).__name__}, not an Ed25519 private key")
        return key
    return Ed25519PrivateKey.from_private_bytes(_raw_key(text, "private"))


def save_private_key(key: Ed25519PrivateKey, path: Path, *, pem: bool = True) -> None:
    """Write the key readable by its owner only (mode 0600). An existing file is never overwritten
    (FileExistsError): a replaced key leaves every checkpoint signed before it unverifiable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    text = private_key_pem(key) if pem else private_key_b64(key) + "\n"  # PEM ends in a newline already
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    return parse_private_key(path.read_text(encoding="utf-8"))


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The installation's key at ``path`` in the data dir, created (mode 0600) by the first process."""
    return parse_private_key(data_dir_secret(path, lambda: private_key_b64(generate_key())))


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key in base64."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """SubjectPublicKeyInfo PEM, as ``openssl pkey -pubin`` reads it."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key written by ``public_key_pem`` or ``public_key_b64``."""
    if "-----BEGIN" in text:
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError as error:
            raise ValueError(f"not a readable PEM public key: {error}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"the PEM holds a {type(key).__name__}, not an Ed25519 public key")
        return key
    return Ed25519PublicKey.from_public_bytes(_raw_key(text, "public"))


def _raw_key(text: str, kind: str) -> bytes:
    try:
        raw = base64.b64decode(re.sub(r"\s", "", text), validate=True)
    except binascii.Error:
        raise ValueError(f"an Ed25519 {kind} key is PEM or base64, and this is neither") from None
    if len(raw) != _RAW_KEY_SIZE:
        raise ValueError(f"a raw Ed25519 {kind} key is {_RAW_KEY_SIZE} bytes, not {len(raw)}")
    return raw
