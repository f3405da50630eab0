"""The payload codec and its keyring: sealed payloads, plaintext passed through, keys that rotate, and
keys that are wrong said so clearly (never by printing them)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.exceptions import ApplicationError

from api.cli import main
from core.codec import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    Keyring,
    PayloadKey,
    PayloadKeyError,
    UndecodablePayload,
    decode_in_place,
)
from core.settings import Settings
from core.temporal import converter_for
from workflows.model import Reporter

K1 = PayloadKey("k1", bytes(range(32)))
K2 = PayloadKey("k2", bytes(range(32, 64)))
PHONE = "13800138000"


def plain(text: str = f'{{"phone": "{PHONE}"}}') -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_a_payload_is_sealed_and_opened_again() -> None:
    codec = EncryptionCodec(Keyring([K1]))
    (sealed,) = await codec.encode([plain()])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k1"
    assert PHONE.encode() not in sealed.SerializeToString()
    (again,) = await codec.decode([sealed])
    assert again == plain()
    (other,) = await codec.encode([plain()])
    assert other.data != sealed.data  # a fresh nonce every time


async def test_the_data_converter_round_trips_our_models() -> None:
    converter = converter_for(Keyring([K1]))
    reporter = Reporter(name="王阿姨", phone=PHONE)
    (payload,) = await converter.encode([reporter])
    assert payload.metadata["encoding"] == ENCODING and "王阿姨".encode() not in payload.data
    assert await converter.decode([payload], [Reporter]) == [reporter]


async def test_failure_messages_travel_encrypted() -> None:
    converter = converter_for(Keyring([K1]))
    failure = Failure()
    await converter.encode_failure(ApplicationError("李大爷 has already co-signed this case"), failure)
    assert "李大爷".encode() not in failure.SerializeToString() and failure.message == "Encoded failure"
    decoded = await converter.decode_failure(failure)
    assert str(decoded) == "李大爷 has already co-signed this case"


async def test_plaintext_payloads_pass_through() -> None:
    codec = EncryptionCodec(Keyring([K1]))
    null = Payload(metadata={"encoding": b"binary/null"})
    assert await codec.decode([plain(), null]) == [plain(), null]


async def test_old_keys_open_what_they_sealed_and_only_the_first_seals() -> None:
    (under_k1,) = await EncryptionCodec(Keyring([K1])).encode([plain()])
    rotated = EncryptionCodec(Keyring([K2, K1]))
    assert await rotated.decode([under_k1]) == [plain()]
    (under_k2,) = await rotated.encode([plain()])
    assert under_k2.metadata[KEY_ID] == b"k2"


async def test_an_unknown_key_id_is_named() -> None:
    (under_k1,) = await EncryptionCodec(Keyring([K1])).encode([plain()])
    with pytest.raises(UndecodablePayload, match=r"under key 'k1', which is not among this installation's keys \(k2\)"):
        await EncryptionCodec(Keyring([K2])).decode([under_k1])


async def test_tampered_ciphertext_fails_authentication() -> None:
    codec = EncryptionCodec(Keyring([K1]))
    (sealed,) = await codec.encode([plain()])
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 1
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(flipped))
    with pytest.raises(UndecodablePayload, match="fails authentication"):
        await codec.decode([tampered])
    # The same id on another key is no better than tampering.
    impostor = EncryptionCodec(Keyring([PayloadKey("k1", bytes(32))]))
    with pytest.raises(UndecodablePayload, match="fails authentication"):
        await impostor.decode([sealed])


async def test_every_payload_of_an_event_is_decoded_in_place() -> None:
    codec = EncryptionCodec(Keyring([K1]))
    event = HistoryEvent(event_id=1)
    started = event.workflow_execution_started_event_attributes
    started.input.payloads.extend(await codec.encode([plain("1"), plain("2")]))
    started.memo.fields["note"].CopyFrom((await codec.encode([plain("3")]))[0])
    started.header.fields["untouched"].CopyFrom(plain("4"))
    await decode_in_place(event, codec)
    assert list(started.input.payloads) == [plain("1"), plain("2")]
    assert started.memo.fields["note"] == plain("3") and started.header.fields["untouched"] == plain("4")


def test_keys_are_written_and_read_as_id_and_base64url() -> None:
    text = str(K1)
    assert text == "k1:" + base64.urlsafe_b64encode(K1.secret).decode().rstrip("=")
    assert PayloadKey.parse(text) == K1 and PayloadKey.parse(text + "=") == K1  # padding optional
    keyring = Keyring.parse(f"{K2}, {K1}")
    assert keyring.ids == ("k2", "k1") and keyring.current == K2
    generated = PayloadKey.generate()
    assert PayloadKey.parse(str(generated)) == generated and len(generated.secret) == 32
    assert str(K1.secret) not in repr(K1) and repr(keyring) == "Keyring(['k2', 'k1'])"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("k1" + str(K1)[2:].replace(":", ""), "payload key 1: it is not id:key"),
        (f"{K2},k1:not base64!", "payload key 2: its key is not base64url"),
        ("k1:" + base64.urlsafe_b64encode(bytes(16)).decode(), "its key is 16 bytes; AES-256 needs 32"),
        (f"{K1},{K1}", "key id 'k1' is given twice"),
        ("k 1:" + str(K1).split(":")[1], "its key id must be 1-64 letters"),
        (str(K1).split(":")[1] + ":k1k1", "its key is 3 bytes"),  # the wrong way round: the key is not quoted
    ],
)
def test_a_bad_key_setting_is_a_clear_startup_error(text: str, reason: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=reason) as raised:
        Settings(data_dir=tmp_path, payload_keys=text)
    secret = str(K1).split(":")[1]
    assert secret not in str(raised.value)  # what is wrong, never the key itself
    with pytest.raises(ValidationError, match="LINLI_PAYLOAD_KEYS is empty"):
        Settings(data_dir=tmp_path, payload_keys=" ")


def test_without_a_setting_one_key_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).payload_keyring
    stored = tmp_path / "payload-keys"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert Settings(data_dir=tmp_path).payload_keyring.keys == first.keys  # every process agrees
    assert Settings(data_dir=tmp_path, payload_keys=str(K1)).payload_keyring.ids == ("k1",)
    stored.write_text("k1:AAAA\n")
    with pytest.raises(PayloadKeyError, match=f"{stored}: payload key 1: its key is 3 bytes"):
        _ = Settings(data_dir=tmp_path).payload_keyring


def test_the_cli_generates_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["payload-key", "generate"]) == 0
    printed = capsys.readouterr().out.strip()
    assert Keyring.parse(printed).current.id == printed.split(":")[0]
