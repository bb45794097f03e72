"""Property-based tests: whatever configs, flag values and small images are drawn, every call
either works or fails by the contract (a ``ValueError`` or ``OSError`` of one line, exit code 2
from the command line, nothing written)."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from posenc.cli.main import main
from posenc.config import resolve_config
from posenc.data import load_image
from posenc.neural_fields import fit, load_config_signal, plan_fit
from posenc.neural_fields.pipeline import probe_config_signal

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SMALL_FIT_BYTES = 64 * 2**20
"""Drawn fits planned below this are also run."""


def mostly(valid: st.SearchStrategy, invalid: st.SearchStrategy) -> st.SearchStrategy:
    """Draws from ``invalid`` about once in ten, from ``valid`` otherwise."""
    return st.integers(0, 9).flatmap(lambda choice: invalid if choice == 9 else valid)


BANDWIDTHS = mostly(
    st.sampled_from([1e-4, 0.003, 0.01, 0.05, 0.3, 2.0, 10.0]),
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.sampled_from([0.0, -1.0, 1e-12, 1e12]),
    ),
)
SIZES = mostly(st.integers(1, 48), st.sampled_from([0, -2, 10**5, 10**7, 10**10, 10**12]))


def one_line(error: Exception) -> bool:
    return len(str(error).strip().splitlines()) == 1


@st.composite
def fit_settings(draw: st.DrawFn) -> dict[str, Any]:
    """Settings of a fit, mostly coherent (so that many are fitted) but each one sometimes
    wrong: embedding, its size and bandwidth, the model and solver, the data, the first
    layer, the number type."""
    embedding = draw(st.sampled_from(["gaussian", "sinc", "triangle", "rff", "logf", "impulse"]))
    signal = draw(st.sampled_from(["camera", "coffee", "camera:row=100", "powerlaw"]))
    one_dimensional = ":" in signal or signal == "powerlaw"
    model = draw(st.sampled_from(["linear", "mlp", "siren", "separable"]))
    params: dict[str, Any] = {"bandwidth": draw(BANDWIDTHS)}
    size_key = "num_frequencies" if embedding in ("rff", "logf") else "num_centers"
    params[size_key] = draw(SIZES)
    separable = "separable" if model == "separable" else draw(st.sampled_from(["concat", None]))
    compose = draw(mostly(st.just(separable), st.sampled_from(["directions", "separable"])))
    if compose is not None:
        params["compose"] = compose
    linear = model == "linear" or model == "separable"
    solver = draw(mostly(st.just("adam"), st.just("closed-form"))) if linear else "adam"
    image_size = st.integers(2, 24)
    return {
        "signal": signal,
        "size": draw(
            mostly(st.none() if one_dimensional else image_size, st.sampled_from([1, 10**5]))
        ),
        "embedding": embedding,
        "embedding_params": params,
        "model": model,
        "depth": draw(mostly(st.integers(0, 1 if model == "separable" else 3), st.just(-1))),
        "width": draw(mostly(st.integers(1, 16), st.sampled_from([0, 10**6, 10**9]))),
        "sigmoid": draw(mostly(st.just(False), st.booleans())) if linear else None,
        "steps": draw(mostly(st.integers(1, 3), st.just(0))),
        "split": draw(st.sampled_from(["offset", "rest", "all", "random"])),
        "first_layer": draw(
            mostly(st.just("auto"), st.sampled_from(["dense", "lookup", "sparse"]))
        ),
        "solver": solver,
        "dtype": draw(st.sampled_from(["float32", "float64"])),
    }


@SETTINGS
@given(fit_settings())
def test_a_drawn_fit_is_planned_and_run_or_refused_in_one_line(settings_: dict) -> None:
    overrides = {key: value for key, value in settings_.items() if value is not None}
    try:
        config = resolve_config(**overrides)
    except (ValueError, OSError) as error:
        assert one_line(error), error
        event("refused by the config")
        return
    try:
        plan = plan_fit(probe_config_signal(config), config)
    except (ValueError, OSError) as error:
        assert one_line(error), error
        event("refused by the plan" + (" (memory)" if "GiB" in str(error) else ""))
        return
    assert plan.estimated_bytes > 0 and plan.first_layer.kind != "auto"
    if plan.estimated_bytes > SMALL_FIT_BYTES or (
        config.size is None and config.signal == "coffee"
    ):
        event("planned, too large to run here")
        return
    try:
        result = fit(load_config_signal(config), config)
    except (ValueError, OSError) as error:  # e.g. a generator too narrow to normalise
        assert one_line(error), error
        event("refused by the fit")
        return
    event(f"fitted ({plan.first_layer.kind})")
    assert math.isfinite(result.train_psnr) or result.train_psnr == math.inf
    assert result.prediction.shape[:-1] == tuple(result.signal.grid_shape)


FLAG_VALUES = st.one_of(
    st.sampled_from(["0", "-1", "1", "2.5", "nan", "inf", "-inf", "1e999", "", "x", "true"]),
    st.text(alphabet="0123456789.-e+", min_size=1, max_size=6),
)
FLAGS = ["--sigma", "--num-centers", "--width", "--depth", "--steps", "--lr", "--size"]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.dictionaries(st.sampled_from(FLAGS), FLAG_VALUES, min_size=1, max_size=3))
def test_drawn_flag_values_fit_or_fail_in_one_line(capfd, tmp_path_factory, flags) -> None:
    out = tmp_path_factory.mktemp("fit") / "run"
    arguments = ["fit", "--size", "8", "--steps", "1", "--width", "4", "--num-centers", "8"]
    for flag, value in flags.items():
        arguments += [f"{flag}={value}"]
    try:
        code = main([*arguments, "--quiet", "--out", str(out)])
    except SystemExit as exit:
        code = int(exit.code or 0)
    stderr = capfd.readouterr().err
    assert code in (0, 2), stderr
    if code == 0:
        assert (out / "metrics.json").is_file()
    else:
        assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
        assert not out.exists()


PNG_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
"""PNG colour type by channel count (gray, gray + alpha, RGB, RGBA)."""


def write_png(path: Path, pixels: np.ndarray) -> None:
    """An 8- or 16-bit PNG of ``pixels`` (H, W, C), written by hand."""
    height, width, channels = pixels.shape
    depth = pixels.dtype.itemsize * 8
    big_endian = pixels.astype(pixels.dtype.newbyteorder(">"))
    rows = b"".join(b"\x00" + big_endian[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, depth, PNG_TYPES[channels], 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@st.composite
def small_images(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    """A file format and pixels (H, W, C) of a random shape, type and bit depth."""
    file_format = draw(st.sampled_from(["png", "tiff"]))
    if file_format == "png":
        dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    else:
        dtype = draw(
            st.sampled_from([np.uint8, np.uint16, np.int16, np.uint32, np.float32, np.float64])
        )
    shape = (draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.sampled_from([1, 2, 3, 4])))
    elements = None
    if np.dtype(dtype).kind == "f":
        elements = st.one_of(
            st.floats(0, 1, width=np.dtype(dtype).itemsize * 8),
            st.sampled_from([-0.5, 1.5, math.nan]),
        )
    pixels = draw(hnp.arrays(dtype, shape, elements=elements))
    return file_format, pixels


def expected_values(pixels: np.ndarray) -> np.ndarray:
    """The loading rules: integers over their maximum, alpha composited onto white."""
    values = pixels.astype(np.float64)
    if pixels.dtype.kind in "iu":
        values = values / np.iinfo(pixels.dtype).max
    if pixels.shape[-1] in (2, 4):
        values = values[..., :-1] * values[..., -1:] + 1 - values[..., -1:]
    return values


@SETTINGS
@given(small_images())
def test_a_drawn_image_loads_exactly_or_is_refused_in_one_line(tmp_path_factory, drawn) -> None:
    file_format, pixels = drawn
    path = tmp_path_factory.mktemp("image") / f"drawn.{file_format}"
    if file_format == "png":
        write_png(path, pixels)
    else:
        assume(pixels.shape[-1] != 2)  # TIFF has no gray + alpha layout to write
        photometric = "rgb" if pixels.shape[-1] in (3, 4) else "minisblack"
        extras = "unassalpha" if pixels.shape[-1] == 4 else None
        tifffile.imwrite(path, pixels, photometric=photometric, extrasamples=extras)
    valid_values = (
        pixels.dtype.kind in "u"
        or (pixels.dtype.kind == "i" and pixels.min() >= 0)
        or (pixels.dtype.kind == "f" and np.all((pixels >= 0) & (pixels <= 1)))
    )
    valid = valid_values and min(pixels.shape[:2]) >= 2
    try:
        signal = load_image(path, crop=False)
    except (ValueError, OSError) as error:
        assert not valid, f"a valid image was refused: {error}"
        assert one_line(error) and str(path) in str(error)
        return
    assert valid, "an invalid image was accepted"
    expected = expected_values(pixels)
    assert signal.values.shape == expected.shape
    np.testing.assert_allclose(signal.values.numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("seed", [0])
def test_the_image_strategy_draws_every_layout(seed: int) -> None:
    """The drawn images cover both formats, every channel count and both validity cases
    (so the property above exercises loading as well as refusing)."""
    seen: set[tuple[str, int, bool]] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(small_images())
    def collect(drawn: tuple[str, np.ndarray]) -> None:
        file_format, pixels = drawn
        seen.add((file_format, pixels.shape[-1], min(pixels.shape[:2]) >= 2))

    collect()
    assert {layout[1] for layout in seen} == {1, 2, 3, 4}
    assert {layout[0] for layout in seen} == {"png", "tiff"}
    assert {layout[2] for layout in seen} == {True, False}


def test_a_fit_keeps_its_result_when_an_analysis_metric_is_undefined(tmp_path: Path) -> None:
    """Impulses narrower than the grid leave the grid's centre row at zero: its distance
    preservation is undefined (NaN, written as null), and the fit is kept."""
    from posenc.neural_fields import save_fit

    config = resolve_config(
        size=16, steps=2, model="linear", embedding="impulse",
        embedding_params={"num_centers": 7, "radius": 1e-4},
    )  # fmt: skip
    result = fit(load_config_signal(config), config)
    assert math.isnan(result.distance_preservation) and math.isfinite(result.test_psnr)
    metrics = (save_fit(result, tmp_path / "run") / "metrics.json").read_text()
    assert '"distance_preservation": null' in metrics


def test_structured_rows_whose_eigen_solver_fails_get_their_stable_rank_densely() -> None:
    """Hat functions as narrow as their spacing: the sparse rows' Gram matrix has so many
    repeated eigenvalues that LAPACK's eigh gives up; the stable rank is still measured."""
    config = resolve_config(
        size=96, steps=2, embedding="triangle", first_layer="sparse",
        embedding_params={"num_centers": 1000},
    )  # fmt: skip
    result = fit(load_config_signal(config), config)
    assert result.first_layer == "sparse" and 1 < result.stable_rank < 2304
