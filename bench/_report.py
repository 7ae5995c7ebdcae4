"""Turning repeated measurements into the comparison table, the ratios and the target checks.

Every figure is the median of the repeats; ``spread`` is ``(max − min) / median``
of the throughput (of the wall time for W4). Ratios are *paired*: repeat *i*
of two configurations ran one after the other, so the ratio is taken within
each repeat and the median of those is reported (on a shared machine whose
load drifts, this holds better than the ratio of two medians). Nexus is
compared with LangGraph's best conformant configuration (the highest median
runs/s, the lowest wall time for W4) and with the hand-written floor.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from _common import W4_IDEAL_S

WORKLOAD_ORDER = ("W1", "W2", "W3", "W4")
FRAMEWORK_ORDER = ("nexus", "langgraph", "floor")

COLUMNS = (
    "workload",
    "framework",
    "configuration",
    "runs",
    "n",
    "runs/s",
    "spread",
    "µs/step",
    "peak RSS MiB",
    "bytes/run",
    "wall s",
    "× ideal",
)


@dataclass
class Summary:
    """The repeats of one (framework, workload, configuration), reduced to medians."""

    framework: str
    workload: str
    config: str
    conformant: bool
    runs: int
    samples: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float | None:
        values = [s[key] for s in self.samples if s.get(key) is not None]
        return statistics.median(values) if values else None

    @property
    def spread(self) -> float:
        key = "wall_s" if self.workload == "W4" else "runs_per_s"
        values = [s[key] for s in self.samples]
        mid = statistics.median(values)
        return (max(values) - min(values)) / mid if mid else 0.0

    @property
    def runs_per_s(self) -> float:
        return self.median("runs_per_s") or 0.0

    @property
    def wall_s(self) -> float:
        return self.median("wall_s") or 0.0

    def to_dict(self) -> dict[str, Any]:
        keys = ("runs_per_s", "us_per_step", "peak_rss_mib", "bytes_per_run", "wall_s")
        data: dict[str, Any] = {
            "framework": self.framework,
            "workload": self.workload,
            "config": self.config,
            "conformant": self.conformant,
            "runs": self.runs,
            "repeats": len(self.samples),
            "spread": self.spread,
        }
        data.update({f"median_{k}": self.median(k) for k in keys})
        if self.workload == "W4":
            data["median_ratio_to_ideal"] = self.wall_s / W4_IDEAL_S
        return data


def summarize(results: Sequence[dict[str, Any]]) -> list[Summary]:
    """Group raw results by configuration, in workload then framework order."""
    groups: dict[tuple[str, str, str], Summary] = {}
    for r in results:
        key = (r["workload"], r["framework"], r["config"])
        if key not in groups:
            groups[key] = Summary(
                r["framework"], r["workload"], r["config"], r["conformant"], r["runs"]
            )
        groups[key].samples.append(r)

    def order(s: Summary) -> tuple[int, int, str]:
        return (WORKLOAD_ORDER.index(s.workload), FRAMEWORK_ORDER.index(s.framework), s.config)

    return sorted(groups.values(), key=order)


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def table(summaries: Sequence[Summary]) -> str:
    """A Markdown table of the medians, one row per configuration."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for s in summaries:
        w4 = s.workload == "W4"
        config = s.config + ("" if s.conformant else " (info)")
        cells = [
            s.workload,
            s.framework,
            config,
            str(s.runs),
            str(len(s.samples)),
            _fmt(s.runs_per_s),
            f"±{s.spread * 50:.0f}%",
            _fmt(s.median("us_per_step")),
            _fmt(s.median("peak_rss_mib")),
            _fmt(s.median("bytes_per_run")),
            _fmt(s.wall_s, 2) if w4 else "–",
            _fmt(s.wall_s / W4_IDEAL_S, 1) if w4 else "–",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _is_durable(s: Summary) -> bool:
    return s.framework == "floor" or "sqlite" in s.config.lower()


def _pick(
    summaries: Sequence[Summary],
    workload: str,
    framework: str,
    *,
    durable: bool | None = None,
    config_has: str = "",
) -> Summary | None:
    """The best conformant configuration: highest runs/s (lowest wall time for W4)."""
    candidates = [
        s
        for s in summaries
        if s.workload == workload
        and s.framework == framework
        and s.conformant
        and config_has in s.config
        and (durable is None or _is_durable(s) == durable)
    ]
    if not candidates:
        return None
    if workload == "W4":
        return min(candidates, key=lambda s: s.wall_s)
    return max(candidates, key=lambda s: s.runs_per_s)


def paired(a: Summary, b: Summary, key: str) -> float:
    """Median over the repeats both ran of ``a[key] / b[key]``; else the ratio of medians."""
    theirs = {s.get("repeat"): s.get(key) for s in b.samples}
    ratios = [
        s[key] / theirs[s.get("repeat")]
        for s in a.samples
        if s.get(key) and theirs.get(s.get("repeat"))
    ]
    if ratios:
        return float(statistics.median(ratios))
    mine, other = a.median(key), b.median(key)
    return mine / other if mine and other else 0.0


@dataclass
class Ratio:
    workload: str
    what: str
    value: float

    def line(self) -> str:
        return f"{self.workload}: {self.what}: {self.value:.2f}×"


def _against_peer(nexus: Summary, peer: Summary) -> list[Ratio]:
    w = nexus.workload
    name, peer_name = nexus.config, peer.config
    out = []
    if w == "W4":
        out.append(Ratio(w, f"{peer_name} wall / {name} wall", paired(peer, nexus, "wall_s")))
    else:
        speedup = paired(nexus, peer, "runs_per_s")
        out.append(Ratio(w, f"{name} runs/s / {peer_name} runs/s", speedup))
    for key, label in (("peak_rss_mib", "peak RSS"), ("bytes_per_run", "bytes/run")):
        mine, theirs = nexus.median(key), peer.median(key)
        if mine and theirs:
            out.append(Ratio(w, f"{name} {label} / {peer_name} {label}", paired(nexus, peer, key)))
    return out


def _against_floor(nexus: Summary, floor: Summary) -> Ratio:
    w = nexus.workload
    if w == "W4":
        return Ratio(
            w, f"{nexus.config} wall / floor ({floor.config}) wall", paired(nexus, floor, "wall_s")
        )
    return Ratio(
        w,
        f"floor ({floor.config}) runs/s / {nexus.config} runs/s",
        paired(floor, nexus, "runs_per_s"),
    )


def ratios(summaries: Sequence[Summary]) -> list[Ratio]:
    """Per Nexus configuration: against LangGraph's best of the same kind (durable or in
    memory; for W4 also LangGraph's best of any kind) and against every floor."""
    out: list[Ratio] = []
    for nexus in summaries:
        if nexus.framework != "nexus":
            continue
        w = nexus.workload
        peers = [_pick(summaries, w, "langgraph", durable=_is_durable(nexus))]
        if w == "W4":
            peers.append(_pick(summaries, w, "langgraph"))
        seen: list[Summary] = []
        for peer in peers:
            if peer is not None and peer not in seen:
                seen.append(peer)
                out.extend(_against_peer(nexus, peer))
        if _is_durable(nexus) or w == "W4":
            floors = [s for s in summaries if s.workload == w and s.framework == "floor"]
            out.extend(_against_floor(nexus, floor) for floor in floors)
    return out


@dataclass
class Target:
    name: str
    met: bool | None  # None: not measured in this command
    figure: str

    def line(self) -> str:
        state = {True: "MET", False: "MISSED", None: "NOT MEASURED"}[self.met]
        return f"[{state}] {self.name}: {self.figure}"


def targets(summaries: Sequence[Summary]) -> list[Target]:
    """The issue's targets, checked on this command's medians (ratios: paired, see above)."""
    out: list[Target] = []
    w2 = _pick(summaries, "W2", "nexus", durable=True)
    w2_floor = _pick(summaries, "W2", "floor", config_has="FULL")
    for name, peer_has in (
        (
            "W2 durable ≥ 10× LangGraph's best runs/s (SQLite defaults, synchronous=FULL)",
            "synchronous=FULL",
        ),
        (
            "W2 durable ≥ 10× LangGraph's best runs/s at Nexus's durability (synchronous=NORMAL)",
            "synchronous=NORMAL",
        ),
    ):
        w2_peer = _pick(summaries, "W2", "langgraph", config_has=peer_has)
        if w2 is None or w2_peer is None:
            out.append(Target(name, None, "–"))
            continue
        r = paired(w2, w2_peer, "runs_per_s")
        figure = (
            f"medians {w2.runs_per_s:,.0f} vs {w2_peer.runs_per_s:,.0f} runs/s"
            f" ({w2_peer.config}); paired ratio {r:.1f}×"
        )
        out.append(Target(name, r >= 10, figure))
    if w2 is not None and w2_floor is not None:
        r = paired(w2_floor, w2, "runs_per_s")
        out.append(
            Target(
                "W2 durable within 2× of the one-commit-per-step floor",
                r <= 2,
                f"medians: floor {w2_floor.runs_per_s:,.0f} vs {w2.runs_per_s:,.0f} runs/s;"
                f" paired: the floor is {r:.2f}× faster",
            )
        )
    else:
        out.append(Target("W2 durable within 2× of the one-commit-per-step floor", None, "–"))
    if w2 is not None and w2.median("bytes_per_run") is not None:
        b = w2.median("bytes_per_run") or 0.0
        out.append(Target("W2 storage ≤ 2,000 bytes per run", b <= 2000, f"{b:,.0f} bytes/run"))
    else:
        out.append(Target("W2 storage ≤ 2,000 bytes per run", None, "–"))
    w4 = _pick(summaries, "W4", "nexus", durable=True)
    w4_peer = _pick(summaries, "W4", "langgraph")
    if w4 is not None:
        ratio = w4.wall_s / W4_IDEAL_S
        out.append(
            Target(
                "W4 durable within 2× the ideal 0.2 s",
                ratio <= 2,
                f"{w4.wall_s:.2f} s = {ratio:.1f}× ideal",
            )
        )
    else:
        out.append(Target("W4 durable within 2× the ideal 0.2 s", None, "–"))
    if w4 is not None and w4_peer is not None:
        n, p = w4.median("peak_rss_mib") or 0.0, w4_peer.median("peak_rss_mib") or 0.0
        out.append(
            Target(
                "W4 peak RSS below LangGraph's",
                n < p,
                f"{n:.0f} MiB vs {p:.0f} MiB ({w4_peer.config})",
            )
        )
    else:
        out.append(Target("W4 peak RSS below LangGraph's", None, "–"))
    return out
