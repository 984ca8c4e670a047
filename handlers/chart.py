"""The weekly summary's chart: cases received and closed per day, one small panel per building.

Rendered with matplotlib's Agg canvas straight into PNG bytes, without pyplot, so no display
and no global figure state are involved. matplotlib is imported on first use: the bot starts
(and most tests run) without paying for it.

Chinese labels need a font with CJK glyphs, which a bare server often lacks (matplotlib brings
only DejaVu, and its "Last Resort" font draws boxes). `cjk_family()` looks for a known one
(Noto Sans CJK, Source Han Sans, WenQuanYi, Droid Sans Fallback, ...). Without one, the caller
draws the chart in English with ASCII-safe building labels and names them in the caption.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("echowall.chart")

# Preferred families, Simplified Chinese first; the first one installed is used.
_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
    "Droid Sans Fallback",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "AR PL UMing CN",
)
_PROBE = "中楼"  # glyphs every usable font must have
_RECEIVED_COLOUR = "#4C72B0"
_CLOSED_COLOUR = "#55A868"


@dataclass(frozen=True)
class Panel:
    """One building's (or all buildings') counts, one number per day."""

    label: str
    received: Sequence[int]
    closed: Sequence[int]


@dataclass(frozen=True)
class ChartTexts:
    """The chart's words, already translated."""

    title: str
    received: str
    closed: str


def _covers(path: str) -> bool:
    """Tell whether the font file has glyphs for Chinese text."""
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) for ch in _PROBE)


@functools.cache
def cjk_family() -> str | None:
    """Find an installed font family that renders Chinese; None when there is none."""
    import matplotlib
    from matplotlib import font_manager

    manager = font_manager.fontManager
    # matplotlib's bundled fonts have no CJK glyphs; its Last Resort font only *claims* them.
    bundled = Path(matplotlib.get_data_path()).resolve()

    def candidates() -> dict[str, str]:
        return {
            f.name: f.fname
            for f in manager.ttflist
            if not Path(f.fname).resolve().is_relative_to(bundled)
        }

    def pick(fonts: dict[str, str]) -> str | None:
        for family in _CJK_FAMILIES:
            if family in fonts and _covers(fonts[family]):
                return family
        return next((name for name, path in sorted(fonts.items()) if _covers(path)), None)

    found = pick(candidates())
    if found is None:
        # matplotlib caches the font list once per machine; a font installed after that
        # (apt-get install fonts-wqy-microhei) is only seen when added by hand.
        known = {f.fname for f in manager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                try:
                    manager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = pick(candidates())
    log.info("chart font: %s", found or "none with CJK glyphs")
    return found


def render_week(
    day_labels: Sequence[str],
    panels: Sequence[Panel],
    texts: ChartTexts,
    *,
    family: str | None = None,
) -> bytes:
    """Draw grouped bars (received, closed) per day, a panel each, and return the PNG."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    columns = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / columns)
    rc: dict[Any, Any] = {"axes.unicode_minus": False}  # CJK fonts often lack U+2212
    if family is not None:
        rc |= {"font.family": "sans-serif", "font.sans-serif": [family, "DejaVu Sans"]}
    positions = range(len(day_labels))
    width = 0.4
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        # A glyph missing even from the CJK font (an emoji in a building's name) is drawn as
        # a box; the caption names every building in full, so a warning per glyph is noise.
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        figure = Figure(figsize=(5.2 * columns, 1.0 + 2.7 * rows), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)  # explicitly headless: the Agg canvas, never a GUI backend
        axes = figure.subplots(rows, columns, squeeze=False).flatten()
        for ax, panel in zip(axes, panels, strict=False):
            received = ax.bar(
                [p - width / 2 for p in positions],
                panel.received,
                width,
                color=_RECEIVED_COLOUR,
            )
            closed = ax.bar(
                [p + width / 2 for p in positions], panel.closed, width, color=_CLOSED_COLOUR
            )
            for bars, values in ((received, panel.received), (closed, panel.closed)):
                ax.bar_label(bars, labels=[str(v) if v else "" for v in values], fontsize=8)
            top = max([*panel.received, *panel.closed, 1])
            ax.set_ylim(0, top * 1.25)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xticks(list(positions), list(day_labels), fontsize=8)
            ax.set_title(panel.label, fontsize=11)
            ax.spines[["top", "right"]].set_visible(False)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        figure.suptitle(texts.title, fontsize=12)
        figure.legend(
            handles=[Patch(color=_RECEIVED_COLOUR), Patch(color=_CLOSED_COLOUR)],
            labels=[texts.received, texts.closed],
            loc="outside lower center",
            ncols=2,
            frameon=False,
        )
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()
