"""The Temporal client, with the one data converter everything uses (client, worker, replayer)."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from core.codec import EncryptionCodec, Keyring
from core.settings import Settings


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic JSON payloads, encrypted with the installation's payload keys (core.codec)."""
    return converter_for(settings.payload_keyring)


def converter_for(keyring: Keyring) -> DataConverter:
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring),
        # A failure's message can name a resident ("李大爷 has already co-signed this case"): it travels as an
        # encrypted payload too, and the history shows "Encoded failure" in its place.
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace, data_converter=data_converter(settings)
    )
