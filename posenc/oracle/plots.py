"""The figure of a suggestion: predicted PSNR against bandwidth, stable rank beside it."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from posenc.oracle.search import Suggestion
from posenc.plotting import (
    PALETTE,
    THEORY_LINESTYLE,
    label_axes,
    new_figure,
    styled,
)


@styled
def figure_suggestion(
    suggestion: Suggestion, achieved: Sequence[tuple[float, float]] = ()
) -> Figure:
    """Predicted test PSNR (solid; circles where the training was replayed) and held-out PSNR
    (dashed) against bandwidth, the suggestion marked, and the stable rank of the embedded
    training matrix on a second axis.

    ``achieved`` adds measured ``(bandwidth, test PSNR)`` points (a sweep, for comparison).
    """
    curve = suggestion.curve
    figure, ax = new_figure()
    ax.plot(curve.bandwidths, curve.predicted_psnr, "-", color=PALETTE[0], label="predicted test")
    ax.plot(
        curve.bandwidths,
        curve.predicted_heldout_psnr,
        linestyle=THEORY_LINESTYLE,
        color=PALETTE[0],
        label="predicted held-out",
    )
    replayed = [
        (bandwidth, value)
        for bandwidth, value, replay in zip(
            curve.bandwidths, curve.predicted_psnr, curve.replayed, strict=True
        )
        if replay
    ]
    if replayed:
        bandwidths, values = zip(*replayed, strict=True)
        ax.plot(bandwidths, values, "o", color=PALETTE[0], fillstyle="none", label="replayed")
    if achieved:
        bandwidths, values = zip(*sorted(achieved), strict=True)
        ax.plot(bandwidths, values, "o", color=PALETTE[1], label="fitted test")
    ax.axvline(suggestion.bandwidth, color=PALETTE[2], linewidth=0.8)
    ax.plot(
        [suggestion.bandwidth],
        [suggestion.predicted_psnr],
        "*",
        color=PALETTE[2],
        markersize=8,
        label=f"suggested {suggestion.bandwidth_name} = {suggestion.bandwidth:.3g}",
    )
    ax.set_xscale("log")
    label_axes(ax, suggestion.bandwidth_name, "PSNR (dB)", suggestion.embedding)
    rank = ax.twinx()
    rank.plot(curve.bandwidths, curve.stable_rank, ":", color=PALETTE[6], linewidth=0.9)
    rank.set_yscale("log")
    rank.set_ylabel("stable rank (dotted)")
    rank.grid(False)
    rank.spines["right"].set_visible(True)
    ax.legend(loc="lower left")
    return figure
