"""The Temporal client, with the one data converter everything uses (client, worker, replayer)."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

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


async def connect(settings: Settings, *, worker: bool = False) -> Client:
    """A client; a ``worker``'s reports the SDK's metrics on ``LINLI_METRICS_PORT`` when that is set."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        runtime=metrics_runtime(settings) if worker else None,  # None: the SDK's default runtime, no metrics
    )


# One runtime per metrics address for the whole process: each starts its own HTTP server on the address.
_METRICS_RUNTIMES: dict[str, Runtime] = {}


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The runtime that serves the Temporal SDK's metrics (Prometheus text at ``/metrics``) on
    ``LINLI_METRICS_HOST:LINLI_METRICS_PORT``; None when no port is set.

    Counters end in ``_total`` and durations are in seconds, as Prometheus names them (and as the API's own
    metrics are): ``temporal_workflow_completed_total``, ``temporal_workflow_task_execution_latency_bucket``.
    A counter an activity adds through ``activity.metric_meter()`` keeps its name, with ``_total``.
    """
    if settings.metrics_port is None:
        return None
    host = f"[{settings.metrics_host}]" if ":" in settings.metrics_host else settings.metrics_host
    address = f"{host}:{settings.metrics_port}"
    if address not in _METRICS_RUNTIMES:
        prometheus = PrometheusConfig(bind_address=address, counters_total_suffix=True, durations_as_seconds=True)
        try:
            _METRICS_RUNTIMES[address] = Runtime(telemetry=TelemetryConfig(metrics=prometheus))
        except Exception as error:  # the core's error says little about which setting it was
            raise RuntimeError(
                f"cannot serve the worker's metrics on {address} (LINLI_METRICS_PORT): {error}"
            ) from None
    return _METRICS_RUNTIMES[address]
