"""Model providers behind one interface (M1, M2): the contract, the offline provider that
replays cassettes, recording, the registry of providers by name, and prices."""

from nexus.providers.base import (
    ModelProvider,
    StreamChunk,
    complete_via_stream,
    split_model_name,
    stream_via_complete,
)
from nexus.providers.cassette import (
    Cassette,
    CassetteLibrary,
    Interaction,
    load_cassette,
    normalize_task,
    response_from_record,
)
from nexus.providers.offline import OfflineProvider, bundled_cassette_dir
from nexus.providers.pricing import ModelPrice, PriceTable, cost_of, default_price_table
from nexus.providers.recording import RecordingProvider
from nexus.providers.registry import ModelRegistry, ProviderFactory, default_registry

__all__ = [
    "Cassette",
    "CassetteLibrary",
    "Interaction",
    "ModelPrice",
    "ModelProvider",
    "ModelRegistry",
    "OfflineProvider",
    "PriceTable",
    "ProviderFactory",
    "RecordingProvider",
    "StreamChunk",
    "bundled_cassette_dir",
    "complete_via_stream",
    "cost_of",
    "default_price_table",
    "default_registry",
    "load_cassette",
    "normalize_task",
    "response_from_record",
    "split_model_name",
    "stream_via_complete",
]
