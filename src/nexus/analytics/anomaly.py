"""Streaming cost-anomaly detection (O3, X1): is this step, or this run, far above its usual?

Each key (``step:<agent>:<model>``, ``run:<plan>``) keeps an exponentially
weighted mean and variance of the costs seen (weight ``alpha`` for the newest):

    diff = x - mean;  mean += alpha * diff;  var = (1 - alpha) * (var + alpha * diff²)

A value is an anomaly when the key has at least ``warmup`` samples, the value
is at least ``min_usd``, and it is above the adaptive threshold

    threshold = mean + z * max(sd, rel_floor * mean)

(the floor keeps a key whose costs never varied from alerting on a small rise).
The baseline learns from every value, but an anomalous one enters clipped to the
threshold, so one runaway step does not teach the baseline that runaways are
usual. Settings (environment): ``NEXUS_ANOMALY_ALPHA`` (0.1), ``NEXUS_ANOMALY_Z``
(3.0), ``NEXUS_ANOMALY_WARMUP`` (10), ``NEXUS_ANOMALY_MIN_USD`` (0.01),
``NEXUS_ANOMALY_REL_FLOOR`` (0.25).

Baselines are kept in a JSON file (``$NEXUS_HOME/analytics/cost_baselines.json``)
rewritten atomically after each update, so they survive restarts; processes
sharing a home overwrite each other's file (last writer wins), which only
loses some learning, never an alert.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "AnomalyConfig",
    "Baseline",
    "CostAnomaly",
    "CostAnomalyDetector",
    "baselines_path",
]

log = logging.getLogger("nexus.analytics.anomaly")

SCHEMA_VERSION = 1


class AnomalyConfig(BaseSettings):
    """Detector settings (``NEXUS_ANOMALY_…``)."""

    model_config = SettingsConfigDict(
        env_prefix="NEXUS_ANOMALY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    alpha: float = Field(0.1, gt=0, le=1)
    z: float = Field(3.0, gt=0)
    warmup: int = Field(10, ge=1)
    min_usd: float = Field(0.01, ge=0)
    rel_floor: float = Field(0.25, ge=0)


@dataclass(slots=True)
class Baseline:
    """The running mean and variance of one key."""

    samples: int = 0
    mean: float = 0.0
    var: float = 0.0

    @property
    def sd(self) -> float:
        return math.sqrt(max(self.var, 0.0))

    def threshold(self, config: AnomalyConfig) -> float:
        return self.mean + config.z * max(self.sd, config.rel_floor * self.mean)

    def update(self, value: float, alpha: float) -> None:
        if self.samples == 0:
            self.mean, self.var = value, 0.0
        else:
            diff = value - self.mean
            self.mean += alpha * diff
            self.var = (1 - alpha) * (self.var + alpha * diff * diff)
        self.samples += 1


@dataclass(frozen=True, slots=True)
class CostAnomaly:
    """A cost far above its key's usual: the data of a ``cost.anomaly`` event."""

    key: str
    value_usd: float
    mean_usd: float
    sd_usd: float
    threshold_usd: float
    z: float
    samples: int

    @property
    def ratio(self) -> float:
        return self.value_usd / self.mean_usd if self.mean_usd > 0 else math.inf

    def message(self) -> str:
        times = f"{self.ratio:.1f}x" if math.isfinite(self.ratio) else "far above"
        return (
            f"{self.key} cost ${self.value_usd:.4f}, {times} its usual ${self.mean_usd:.4f}"
            f" (threshold ${self.threshold_usd:.4f} over {self.samples} samples)"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data = {k: round(v, 8) if isinstance(v, float) else v for k, v in data.items()}
        data["message"] = self.message()
        return data


def baselines_path(home: str | Path) -> Path:
    """Where the baselines of a Nexus home are kept."""
    return Path(home) / "analytics" / "cost_baselines.json"


class CostAnomalyDetector:
    """EWMA baselines per key; ``observe`` learns and reports, ``check`` only reports."""

    def __init__(self, config: AnomalyConfig | None = None, path: str | Path | None = None) -> None:
        self.config = config if config is not None else AnomalyConfig()
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._baselines: dict[str, Baseline] = self._load()

    def baseline(self, key: str) -> Baseline:
        """A copy of the baseline of ``key`` (empty when never seen)."""
        with self._lock:
            found = self._baselines.get(key, Baseline())
            return Baseline(found.samples, found.mean, found.var)

    def check(self, key: str, value: float) -> CostAnomaly | None:
        """The anomaly ``value`` would be for ``key``, without learning from it."""
        with self._lock:
            return self._judge(key, value, self._baselines.get(key))

    def observe(self, key: str, value: float) -> CostAnomaly | None:
        """Judge ``value`` against the baseline of ``key``, then learn from it."""
        with self._lock:
            baseline = self._baselines.setdefault(key, Baseline())
            anomaly = self._judge(key, value, baseline)
            learned = min(value, anomaly.threshold_usd) if anomaly is not None else value
            baseline.update(learned, self.config.alpha)
            self._save()
        return anomaly

    def _judge(self, key: str, value: float, baseline: Baseline | None) -> CostAnomaly | None:
        config = self.config
        if baseline is None or baseline.samples < config.warmup or value < config.min_usd:
            return None
        threshold = baseline.threshold(config)
        if value <= threshold:
            return None
        spread = max(baseline.sd, config.rel_floor * baseline.mean)
        z = (value - baseline.mean) / spread if spread > 0 else math.inf
        return CostAnomaly(
            key=key,
            value_usd=value,
            mean_usd=baseline.mean,
            sd_usd=baseline.sd,
            threshold_usd=threshold,
            z=z if math.isfinite(z) else 1e9,
            samples=baseline.samples,
        )

    # persistence -------------------------------------------------------------------------
    def _load(self) -> dict[str, Baseline]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {
                str(key): Baseline(int(b["samples"]), float(b["mean"]), float(b["var"]))
                for key, b in data.get("baselines", {}).items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            log.warning("cost baselines %s unreadable; starting afresh", self.path, exc_info=True)
            return {}

    def _save(self) -> None:
        if self.path is None:
            return
        data = {
            "version": SCHEMA_VERSION,
            "baselines": {key: asdict(b) for key, b in sorted(self._baselines.items())},
        }
        tmp: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".baselines-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1)
            os.replace(tmp, self.path)
        except OSError:
            log.warning("cost baselines %s not saved", self.path, exc_info=True)
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
