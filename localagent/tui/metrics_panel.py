"""Each service's time to first byte and processing time, from pipecat's metrics.

A bar per service and metric, to its median, on a shared axis in seconds with ticks, and
the p95, the last value and the count beside it, so a slow service stands out at a glance.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from localagent.events import Event, ServiceMetric
from localagent.stats import summarize

__all__ = ["MetricsPanel", "axis_top"]

_LABEL_W = 16
_STATS_W = 26  # "   0.340 0.340 0.340  123"
_ORDER = {"STT": 0, "LLM": 1, "TTS": 2}
_METRIC = {"ttfb": "TTFB", "processing": "processing"}


def axis_top(seconds: float) -> float:
    """A round top for the axis: 1, 2 or 5 times a power of ten, at least `seconds`."""
    if seconds <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(seconds))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= seconds)


class MetricsPanel(Static):
    ALLOW_MAXIMIZE = True
    can_focus = True

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "Service times (s)"
        self.values: dict[tuple[str, str], list[float]] = {}

    def on_mount(self) -> None:
        self.refresh_view()

    def handle(self, event: Event) -> None:
        if isinstance(event, ServiceMetric):
            self.values.setdefault((event.service, event.metric), []).append(event.seconds)
            self.refresh_view()

    def on_resize(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        if not self.values:
            self.update(Text("no service metrics yet (they come with the first turn)", "dim"))
            return
        keys = sorted(self.values, key=lambda k: (_ORDER.get(k[0], 9), k[0], k[1]))
        stats = {k: summarize(self.values[k]) for k in keys}
        width = max(10, (self.content_size.width or 60) - _LABEL_W - _STATS_W)
        top = axis_top(max(s["p95"] for s in stats.values()))
        text = Text()
        # The axis: 0, half and the top labelled, with a tick at each quarter.
        ticks = Text(" " * _LABEL_W, style="dim")
        line = [" "] * (width + 8)
        for q in (0, 2, 4):
            label, at = f"{top * q / 4:g}", round(width * q / 4)
            at = min(at, width + 1 - len(label)) if q == 4 else at
            for j, ch in enumerate(label):
                line[at + j] = ch
        ticks.append("".join(line)[: width + 1].ljust(width + 1), style="dim")
        ticks.append("   p50   p95  last    n", style="bold")
        text.append_text(ticks)
        text.append("\n" + " " * _LABEL_W)
        rule = ["─"] * (width + 1)
        for q in range(5):
            rule[min(width, round(width * q / 4))] = "┼" if 0 < q < 4 else ("├" if q == 0 else "┤")
        text.append("".join(rule), style="dim")
        for key in keys:
            service, metric = key
            s = stats[key]
            filled = s["median"] / top * width
            bar = "█" * int(filled) + ("▌" if filled - int(filled) >= 0.5 else "")
            text.append(f"\n{service:<5}{_METRIC.get(metric, metric):<11}", style="bold")
            text.append(f"{bar:<{width + 1}}", style="cyan" if metric == "ttfb" else "green")
            seen = self.values[key]
            text.append(f"  {s['median']:.3f} {s['p95']:.3f} {seen[-1]:.3f} {len(seen):>4}")
        text.append(
            "\nbars: median, axis in seconds; TTFB = time to first byte (pipecat's metrics)",
            "dim",
        )
        self.update(text)
