"""The error contract over a corpus of bad inputs and faults, as a user meets them.

Every case runs the command line (in this process, stderr captured at the file-descriptor
level, so output of native libraries counts too) and asserts: exit code 2, exactly one line
on stderr that names the input at fault, no traceback, no output folder (nor a staging folder
beside it), and for sweeps on an existing folder, its store and files unchanged.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from posenc.cli.main import main

Builder = Callable[[Path], list[str]]


@dataclass(frozen=True)
class Case:
    """A command (built from files made in a temporary folder) and the text its one error
    line must contain."""

    id: str
    build: Builder
    names: str

    def param(self) -> object:
        return pytest.param(self.build, self.names, id=self.id)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def forged_png(path: Path, width: int, height: int) -> str:
    """A PNG whose header claims ``width x height`` RGB pixels and holds one row."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * (3 * min(width, 64) + 1)))
        + png_chunk(b"IEND", b"")
    )
    return str(path)


def image(path: Path, array: np.ndarray) -> str:
    iio.imwrite(path, array)
    return str(path)


def camera_png(path: Path) -> Path:
    iio.imwrite(path, np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
    return path


def truncated(path: Path, source: Path, keep: float = 0.5) -> str:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return str(path)


def saved(path: Path, array: np.ndarray, **options: object) -> str:
    np.save(path, array, **options)
    return str(path)


def text(path: Path, content: str | bytes) -> str:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


def tiff(path: Path, array: np.ndarray) -> str:
    iio.imwrite(path, array)
    return str(path)


def multipage_tiff(path: Path) -> str:
    import tifffile

    tifffile.imwrite(path, np.zeros((3, 8, 8), dtype=np.uint8), photometric="minisblack")
    return str(path)


def folder(path: Path) -> str:
    path.mkdir()
    return str(path)


SOURCE_CASES = [
    Case("missing-file", lambda t: ["/no/such/photo.png"], "/no/such/photo.png"),
    Case("corrupt-png", lambda t: [text(t / "bad.png", b"\x89PNG\r\n\x1a\njunk")], "bad.png"),
    Case("empty-file", lambda t: [text(t / "empty.png", b"")], "empty.png"),
    Case("text-as-png", lambda t: [text(t / "note.png", "hello\n")], "note.png"),
    Case(
        "truncated-png",
        lambda t: [truncated(t / "half.png", camera_png(t / "whole.png"))],
        "half.png",
    ),
    Case("one-pixel", lambda t: [image(t / "dot.png", np.zeros((1, 1), np.uint8))], "dot.png"),
    Case("one-row", lambda t: [image(t / "row.png", np.zeros((1, 50), np.uint8))], "row.png"),
    Case("forged-header", lambda t: [forged_png(t / "huge.png", 100_000, 100_000)], "huge.png"),
    Case("directory", lambda t: [folder(t / "pics")], "pics"),
    Case("unknown-builtin", lambda t: ["camerra"], "camerra"),
    Case(
        "truncated-tiff",
        lambda t: [
            truncated(t / "half.tif", Path(tiff(t / "whole.tif", np.ones((64, 64, 3), np.uint8))))
        ],
        "half.tif",
    ),
    Case(
        "tiff-header-only",
        lambda t: [
            truncated(t / "head.tif", Path(tiff(t / "w.tif", np.ones((64, 64), np.uint8))), 0.001)
        ],
        "head.tif",
    ),
    Case("multipage-tiff", lambda t: [multipage_tiff(t / "pages.tif")], "pages.tif"),
    Case(
        "float-above-one",
        lambda t: [tiff(t / "bright.tif", np.full((8, 8), 2.0, np.float32))],
        "bright.tif",
    ),
    Case(
        "float-nan",
        lambda t: [tiff(t / "nan.tif", np.full((8, 8), np.nan, np.float32))],
        "nan.tif",
    ),
    Case(
        "negative-integers",
        lambda t: [tiff(t / "neg.tif", np.full((8, 8), -5, np.int16))],
        "neg.tif",
    ),
    Case(
        "five-channels",
        lambda t: [tiff(t / "five.tif", np.zeros((8, 8, 5), np.uint8))],
        "five.tif",
    ),
    Case("row-out-of-range", lambda t: ["--signal", "camera:row=9999"], "camera:row=9999"),
    Case("row-not-a-number", lambda t: ["--signal", "camera:row=abc"], "camera:row=abc"),
    Case("unknown-spec-key", lambda t: ["--signal", "camera:col=3"], "camera:col=3"),
    Case("spec-without-value", lambda t: ["--signal", "camera:row="], "camera:row="),
    Case("nan-parameter", lambda t: ["--signal", "powerlaw:alpha=nan"], "powerlaw:alpha=nan"),
    Case("zero-sines", lambda t: ["--signal", "sines:count=0"], "sines:count=0"),
    Case("negative-seed", lambda t: ["--signal", "powerlaw:seed=-1"], "powerlaw:seed=-1"),
    Case("too-many-steps", lambda t: ["--signal", "steps:count=10000"], "steps:count=10000"),
]

SERIES_CASES = [
    Case("npy-empty", lambda t: [saved(t / "empty.npy", np.zeros(0))], "empty.npy"),
    Case("npy-one-sample", lambda t: [saved(t / "one.npy", np.ones(1))], "one.npy"),
    Case("npy-nan", lambda t: [saved(t / "nan.npy", np.array([0.0, np.nan, 1.0]))], "nan.npy"),
    Case("npy-inf", lambda t: [saved(t / "inf.npy", np.array([0.0, np.inf, 1.0]))], "inf.npy"),
    Case(
        "npy-object",
        lambda t: [saved(t / "obj.npy", np.array([{"a": 1}, None], dtype=object))],
        "obj.npy",
    ),
    Case("npy-3d", lambda t: [saved(t / "cube.npy", np.zeros((4, 4, 4)))], "cube.npy"),
    Case("npy-constant", lambda t: [saved(t / "flat.npy", np.full(32, 0.5))], "flat.npy"),
    Case("npy-complex", lambda t: [saved(t / "z.npy", np.ones(8, np.complex64))], "z.npy"),
    Case("npy-garbage", lambda t: [text(t / "junk.npy", b"\x93NUMPYjunk")], "junk.npy"),
    Case("csv-text-cell", lambda t: [text(t / "cell.csv", "1,2\n3,x\n")], "cell.csv"),
    Case("csv-empty", lambda t: [text(t / "none.csv", "")], "none.csv"),
    Case("csv-header-only", lambda t: [text(t / "head.csv", "time,value\n")], "head.csv"),
    Case("txt-one-value", lambda t: [text(t / "one.txt", "0.5\n")], "one.txt"),
    Case("wav-corrupt", lambda t: [text(t / "sound.wav", b"RIFF\x00\x00junkWAVE")], "sound.wav"),
    Case(
        "csv-column-out-of-range",
        lambda t: [text(t / "two.csv", "1,2\n3,4\n5,6\n") + ":column=9"],
        "two.csv",
    ),
    Case(
        "csv-unknown-column",
        lambda t: [text(t / "named.csv", "a,b\n1,2\n3,4\n") + ":column=nope"],
        "named.csv",
    ),
    Case("npy-with-size", lambda t: [saved(t / "s.npy", np.arange(9.0)), "--size", "64"], "s.npy"),
]

FLAG_CASES = [
    Case("unknown-embedding", lambda t: ["--embedding", "gausian"], "gausian"),
    Case("negative-sigma", lambda t: ["--sigma", "-1"], "sigma"),
    Case("nan-sigma", lambda t: ["--sigma", "nan"], "sigma"),
    Case("infinite-sigma", lambda t: ["--sigma", "inf"], "sigma"),
    Case("zero-centres", lambda t: ["--num-centers", "0"], "num_centers"),
    Case("fractional-centres", lambda t: ["--num-centers", "2.5"], "num_centers"),
    Case("zero-steps", lambda t: ["--steps", "0"], "steps"),
    Case("zero-lr", lambda t: ["--lr", "0"], "lr"),
    Case("zero-width", lambda t: ["--width", "0"], "width"),
    Case("negative-depth", lambda t: ["--depth", "-1"], "depth"),
    Case("steps-not-a-number", lambda t: ["--steps", "x"], "--steps"),
    Case("unknown-dtype", lambda t: ["--dtype", "float16"], "--dtype"),
    Case("unknown-protocol", lambda t: ["--protocol", "p9"], "--protocol"),
    Case("closed-form-mlp", lambda t: ["--solver", "closed-form"], "closed-form"),
    Case("malformed-param", lambda t: ["--param", "oops"], "--param"),
    Case(
        "split-fraction",
        lambda t: ["--split", "random", "--split-fraction", "1.5"],
        "split_fraction",
    ),
    Case("separable-alone", lambda t: ["--model", "separable"], "separable"),
    Case(
        "directions-in-1d",
        lambda t: ["--signal", "camera:row=3", "--compose", "directions"],
        "directions",
    ),
    Case("sparse-rff", lambda t: ["--embedding", "rff", "--first-layer", "sparse"], "sparse"),
    Case("missing-gpu", lambda t: ["--device", "cuda:99"], "cuda:99"),
    Case("size-one", lambda t: ["--size", "1"], "size"),
    Case("size-of-a-1d-signal", lambda t: ["--signal", "camera:row=3", "--size", "64"], "size"),
]

TOO_LARGE_CASES = [
    Case("ten-billion-centres", lambda t: ["--num-centers", "10000000000"], "--num-centers"),
    Case("ten-million-centres", lambda t: ["--num-centers", "10000000"], "--num-centers"),
    Case("million-wide", lambda t: ["--width", "1000000"], "--width"),
    Case("size-100000", lambda t: ["--size", "100000"], "--size"),
    Case(
        "billion-frequencies",
        lambda t: ["--embedding", "rff", "--num-frequencies", "1000000000"],
        "--num-frequencies",
    ),
    Case(
        "dense-rows",
        lambda t: ["--size", "2048", "--num-centers", "100000", "--first-layer", "dense"],
        "--num-centers",
    ),
    Case(
        "closed-form-rows",
        lambda t: [
            "--model",
            "linear",
            "--solver",
            "closed-form",
            "--size",
            "4096",
            "--num-centers",
            "200000",
        ],
        "--num-centers",
    ),
]

OUTPUT_CASES = [
    Case("out-not-empty", lambda t: ["--out", str(t / "full")], "full"),
    Case("out-is-a-file", lambda t: ["--out", text(t / "taken", "x")], "taken"),
    Case("out-under-a-file", lambda t: ["--out", text(t / "plain", "x") + "/run"], "plain"),
]


def run(arguments: list[str]) -> int:
    """``posenc ARGUMENTS`` in this process: its exit code (argument errors exit)."""
    try:
        return main(arguments)
    except SystemExit as exit:
        return int(exit.code or 0)


def assert_one_line(code: int, stderr: str, names: str) -> None:
    assert code == 2, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Traceback" not in stderr and names in stderr, stderr


def leftovers(root: Path) -> list[str]:
    """Output or staging folders a failed command left in ``root``."""
    return sorted(p.name for p in root.iterdir() if p.name in ("out",) or ".partial-" in p.name)


@pytest.mark.parametrize(
    ("build", "names"),
    [case.param() for case in SOURCE_CASES + SERIES_CASES + FLAG_CASES + TOO_LARGE_CASES],
)
def test_fit_refuses_in_one_line_and_writes_nothing(capfd, tmp_path, build, names) -> None:
    arguments = build(tmp_path)
    code = run(["fit", "--steps", "2", "--quiet", *arguments, "--out", str(tmp_path / "out")])
    assert_one_line(code, capfd.readouterr().err, names)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("build", "names"), [case.param() for case in OUTPUT_CASES])
def test_fit_refuses_an_output_location_before_fitting(capfd, tmp_path, build, names) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    code = run(["fit", "--steps", "2", "--size", "16", "--quiet", *build(tmp_path)])
    stderr = capfd.readouterr().err
    assert_one_line(code, stderr, names)
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert not [p for p in tmp_path.rglob("*") if ".partial-" in p.name]


ROW_SWEEP = [
    "--signal", "camera:row=200", "--embedding", "gaussian", "--model", "linear",
    "--no-sigmoid", "--steps", "10", "--eval-every", "5", "--last-k", "2", "--quiet",
    "--no-plots",
]  # fmt: skip
SWEPT = ["--sigma", "0.01,0.05", "--num-centers", "32"]


def sweep_command(arguments: list[str], out: Path) -> list[str]:
    """``posenc sweep`` of two runs on an image row, with ``arguments`` in place of any of
    its own flags they give."""
    given = {argument for argument in arguments if argument.startswith("--")}
    own = [
        flag_and_value
        for index in range(0, len(SWEPT), 2)
        if SWEPT[index] not in given and not (SWEPT[index] == "--sigma" and "--bandwidths" in given)
        for flag_and_value in SWEPT[index : index + 2]
    ]
    where = [] if "--out" in given else ["--out", str(out)]
    return ["sweep", *ROW_SWEEP, *own, *arguments, *where]


SWEEP_CASES = [
    Case("sweep-unknown-embedding", lambda t: ["--embedding", "gausian"], "gausian"),
    Case("bad-logspace", lambda t: ["--sigma", "logspace:-4:x:24"], "logspace:-4:x:24"),
    Case("bad-auto-count", lambda t: ["--bandwidths", "sinc=auto:x"], "auto:x"),
    Case("too-many-runs", lambda t: ["--sigma", "logspace:-4:-1:2000"], "--max-runs"),
    Case("max-runs-zero", lambda t: ["--max-runs", "0"], "--max-runs"),
    Case("jobs-zero", lambda t: ["--jobs", "0"], "--jobs"),
    Case("bad-toml", lambda t: ["--config", text(t / "bad.toml", "[sweep\n")], "bad.toml"),
    Case(
        "unknown-toml-key",
        lambda t: ["--config", text(t / "k.toml", "[fit]\nstepz = 3\n")],
        "stepz",
    ),
    Case(
        "toml-max-runs",
        lambda t: ["--config", text(t / "m.toml", "[run]\nmax_runs = 'x'\n")],
        "max_runs",
    ),
    Case("missing-toml", lambda t: ["--config", str(t / "nowhere.toml")], "nowhere.toml"),
    Case("oversized-run", lambda t: ["--num-centers", "10000000000"], "--num-centers"),
    Case("size-of-1d-signals", lambda t: ["--size", "64"], "size"),
    Case("sweep-out-is-a-file", lambda t: ["--out", text(t / "file", "x")], "file"),
    Case(
        "ray-nobody-answers",
        lambda t: ["--executor", "ray", "--address", "127.0.0.1:9"],
        "127.0.0.1:9",
    ),
]


@pytest.mark.parametrize(("build", "names"), [case.param() for case in SWEEP_CASES])
def test_sweep_refuses_in_one_line_and_writes_nothing(capfd, tmp_path, build, names) -> None:
    arguments = build(tmp_path)
    if "--executor" in arguments:
        pytest.importorskip("ray", reason="the Ray cases need the 'ray' extra")
    code = run(sweep_command(arguments, tmp_path / "out"))
    assert_one_line(code, capfd.readouterr().err, names)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> Path:
    """A finished two-run sweep folder, copied by each test that damages it."""
    folder = tmp_path_factory.mktemp("sweep") / "done"
    assert run(sweep_command([], folder)) == 0
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of ``folder`` by relative path, with its content's hash."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def damage_garbage(store: Path) -> None:
    store.write_bytes(b"this is not a database" * 100)


def damage_truncate(store: Path) -> None:
    data = store.read_bytes()
    store.write_bytes(data[: len(data) // 2])


def damage_corrupt_page(store: Path) -> None:
    data = bytearray(store.read_bytes())
    page = 4096
    data[page : 2 * page] = b"\xff" * page  # the table's first page
    store.write_bytes(bytes(data))


def damage_foreign(store: Path) -> None:
    store.unlink()
    with sqlite3.connect(store) as connection:
        connection.execute("CREATE TABLE photos (name TEXT, taken REAL)")


def damage_other_columns(store: Path) -> None:
    store.unlink()
    with sqlite3.connect(store) as connection:
        connection.execute("CREATE TABLE runs (key TEXT PRIMARY KEY, psnr REAL)")


def damage_directory(store: Path) -> None:
    store.unlink()
    store.mkdir()


DAMAGES = {
    "garbage": damage_garbage,
    "truncated": damage_truncate,
    "corrupt-page": damage_corrupt_page,
    "foreign": damage_foreign,
    "other-columns": damage_other_columns,
    "directory": damage_directory,
}
COMMANDS = {
    "sweep": lambda out: sweep_command([], out),
    "dry-run": lambda out: sweep_command(["--dry-run"], out),
    "plot": lambda out: ["plot", str(out)],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_store_is_refused_and_nothing_changes(
    capfd, tmp_path, finished_sweep, damage, command
) -> None:
    out = tmp_path / "s"
    shutil.copytree(finished_sweep, out)
    for companion in out.glob("results.sqlite-*"):
        companion.unlink()
    DAMAGES[damage](out / "results.sqlite")
    before = snapshot(out)
    code = run(COMMANDS[command](out))
    stderr = capfd.readouterr().err
    assert_one_line(code, stderr, "results.sqlite")
    assert "move it aside" in stderr and ("--repair" in stderr or damage == "directory")
    assert snapshot(out) == before


def test_another_sweep_in_the_folder_is_refused_and_nothing_changes(
    capfd, tmp_path, finished_sweep
) -> None:
    out = tmp_path / "s"
    shutil.copytree(finished_sweep, out)
    before = snapshot(out)
    code = run(sweep_command(["--sigma", "0.02"], out))
    assert_one_line(code, capfd.readouterr().err, str(out))
    assert snapshot(out) == before


def test_plot_of_a_folder_without_a_store_is_one_line(capfd, tmp_path) -> None:
    code = run(["plot", str(tmp_path)])
    assert_one_line(code, capfd.readouterr().err, str(tmp_path))


def test_the_corpus_holds_at_least_sixty_cases() -> None:
    cases = SOURCE_CASES + SERIES_CASES + FLAG_CASES + TOO_LARGE_CASES + OUTPUT_CASES + SWEEP_CASES
    assert len({case.id for case in cases}) == len(cases)
    assert len(cases) + len(DAMAGES) * len(COMMANDS) + 2 >= 60
