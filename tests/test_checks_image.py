"""Image checks on passing and failing images (reason codes asserted), the EXIF fix with before and
after in the ledger, one decode per image per run, and the process pool for large batches."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from curator.checks import CheckContext
from curator.checks_image import POOL_FROM, image_stats

from conftest import make_table
from test_validate import run_rules


def photo(w=64, h=64, seed=0, mean=128, spread=60):
    """A colourful, sharp, noisy picture."""
    rng = np.random.default_rng(seed)
    base = rng.normal(mean, spread, (h, w, 3))
    base[: h // 2, :, 0] += 40
    base[:, : w // 2, 2] -= 40
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    photo().save(root / "good.png")
    photo(seed=1).save(root / "good.jpg", quality=95)
    photo().save(root / "good.bmp")
    buf = root / "truncated.jpg"
    photo(128, 128, seed=2).save(buf, quality=95)
    buf.write_bytes(buf.read_bytes()[:600])
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (root / "empty.png").write_bytes(b"")
    photo(4, 4).save(root / "tiny.png")
    photo(200, 50).save(root / "wide.png")
    Image.new("RGB", (64, 64), (90, 140, 200)).save(root / "blank.png")
    photo(mean=8, spread=4).save(root / "dark.png")
    photo(mean=250, spread=3).save(root / "bright.png")
    photo(seed=3).filter(ImageFilter.GaussianBlur(6)).save(root / "blurry.png")
    photo().convert("L").save(root / "gray_mode.png")
    photo().convert("L").convert("RGB").save(root / "gray_rgb.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    photo(80, 40, seed=4).save(root / "sideways.jpg", exif=exif.tobytes(), quality=95)
    frames = [photo(seed=s) for s in range(3)]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:], duration=100)
    return root


def decide(root, paths, rule, tmp_path, **columns):
    table = make_table([None] * len(paths), image=paths, **columns)
    out, ledger, _ = run_rules(table, [{"field": "image", **rule}], tmp_path, root=root)
    byid = dict(zip(table["id"], paths))
    return {byid[i]: (a, r) for i, a, r in zip(ledger["id"], ledger["action"], ledger["reason"])}, out, ledger


@pytest.mark.parametrize("rule, passing, failing", [
    ({"check": "decodable"}, ["good.png", "good.jpg", "https://example.com/a.png"],
     ["truncated.jpg", "corrupt.png", "empty.png", "missing.png"]),
    ({"check": "min_size", "params": {"width": 16, "height": 16}}, ["good.png", "https://example.com/a.png"],
     ["tiny.png"]),
    ({"check": "max_size", "params": {"width": 100}}, ["good.png"], ["wide.png"]),
    ({"check": "aspect_ratio", "params": {"min": 0.5, "max": 2.0}}, ["good.png"], ["wide.png"]),
    ({"check": "image_formats", "params": {"formats": ["png", "JPEG"]}}, ["good.png", "good.jpg"], ["good.bmp"]),
    ({"check": "low_information"}, ["good.png", "dark.png"], ["blank.png"]),
    ({"check": "brightness"}, ["good.png"], ["dark.png", "bright.png"]),
    ({"check": "blurry", "params": {"min_variance": 50}}, ["good.png"], ["blurry.png"]),
    ({"check": "grayscale"}, ["good.png"], ["gray_mode.png", "gray_rgb.png"]),
    ({"check": "exif_orientation"}, ["good.jpg"], ["sideways.jpg"]),
    ({"check": "animated"}, ["good.png"], ["animated.gif"]),
])
def test_image_check_passes_and_fails(images, tmp_path, rule, passing, failing):
    got, _, ledger = decide(images, passing + failing, {**rule, "severity": "error"}, tmp_path)
    assert got == {p: ("dropped", f"rule:{rule['check']}") for p in failing}
    assert ledger["detail"].notna().all()


def test_sizes_come_from_ingest_columns_when_present(images, tmp_path):
    got, _, ledger = decide(images, ["good.png", "tiny.png", "https://example.com/a.png"],
                            {"check": "min_size", "params": {"width": 16, "height": 16}},
                            tmp_path, image_width=[64, 6, None], image_height=[64, 6, None])
    assert got == {"tiny.png": ("dropped", "rule:min_size")} and ledger["detail"].iloc[0] == "6x6 px (min 16x16)"


def test_16_bit_and_float_images_are_measured_on_their_own_range(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 96).reshape(64, 96)
    Image.fromarray(ramp.astype(np.uint16)).save(tmp_path / "ramp16.png")
    noise = np.random.default_rng(0).random((64, 96))
    Image.fromarray(noise.astype(np.float32)).save(tmp_path / "float.tif")
    Image.fromarray((noise * 70000).astype(np.int32)).save(tmp_path / "int32.tif")
    paths = ["ramp16.png", "float.tif", "int32.tif"]
    with Image.open(tmp_path / "ramp16.png") as im16, Image.open(tmp_path / "float.tif") as imf:
        assert (im16.mode, imf.mode) == ("I;16", "F")
    stats = image_stats(pd.Series(paths), CheckContext(root=tmp_path))
    assert stats["mean"].between(110, 145).all() and (stats["entropy"] > 7).all()
    for rule in ({"check": "low_information"}, {"check": "brightness"}):
        got, _, _ = decide(tmp_path, paths, {**rule, "severity": "error"}, tmp_path)
        assert got == {}


def test_details_carry_the_measurements(images, tmp_path):
    _, _, ledger = decide(images, ["dark.png", "truncated.jpg", "animated.gif"],
                          {"check": "brightness", "severity": "warn"}, tmp_path)
    assert ledger["detail"].iloc[0].startswith("too dark: mean grey level ")
    _, _, ledger = decide(images, ["truncated.jpg"], {"check": "decodable"}, tmp_path)
    assert "truncated" in ledger["detail"].iloc[0].lower() and str(images) not in ledger["detail"].iloc[0]
    _, _, ledger = decide(images, ["animated.gif"], {"check": "animated"}, tmp_path)
    assert ledger["detail"].iloc[0] == "3 frames"


def test_exif_fix_writes_an_upright_copy_and_records_it(images, tmp_path):
    got, out, ledger = decide(images, ["good.jpg", "sideways.jpg"], {"check": "exif_orientation", "severity": "fix"},
                              tmp_path, image_format=["JPEG", "JPEG"])
    fixed = ledger[ledger.action == "fixed"].set_index("column")
    assert set(fixed["reason"]) == {"rule:exif_orientation"} and len(fixed) == 2
    assert fixed.loc["image", "old_value"] == "sideways.jpg"
    new = fixed.loc["image", "new_value"]
    assert new.startswith(".curator/upright/") and new.endswith(".png")
    assert (fixed.loc["image_format", "old_value"], fixed.loc["image_format", "new_value"]) == ("JPEG", "PNG")
    assert out["image"].tolist() == ["good.jpg", new]
    with Image.open(images / new) as im:  # upright: 80x40 stored, turned a quarter: 40x80
        assert im.size == (40, 80) and im.getexif().get(0x0112, 1) == 1
    # The fixed row passes the check now, so nothing is flagged; a second run reuses the copy.
    assert not (ledger.action == "flagged").any()
    _, _, again = decide(images, ["sideways.jpg"], {"check": "exif_orientation", "severity": "fix"}, tmp_path)
    assert again.loc[again.column == "image", "new_value"].tolist() == [new]


def test_exif_fix_that_cannot_write_flags_the_row(images, tmp_path):
    (images / ".curator").write_text("a file where the folder should be")
    got, out, ledger = decide(images, ["sideways.jpg"], {"check": "exif_orientation", "severity": "fix"}, tmp_path)
    assert got == {"sideways.jpg": ("flagged", "rule:exif_orientation")}
    assert out["image"].tolist() == ["sideways.jpg"]


def test_each_image_is_decoded_once_per_run(images, monkeypatch):
    from curator import checks_image
    calls = []
    real = checks_image.measure_many
    monkeypatch.setattr(checks_image, "measure_many", lambda paths: calls.append(len(paths)) or real(paths))
    ctx = CheckContext(root=images)
    values = pd.Series(["good.png", "dark.png", "good.png"])
    first = image_stats(values, ctx)
    second = image_stats(values, ctx)
    assert calls == [2] and first.equals(second)
    assert first["ok"].tolist() == [True, True, True] and first["width"].tolist() == [64, 64, 64]


def test_large_batches_are_measured_in_a_process_pool(tmp_path):
    img = photo(16, 16)
    paths = []
    for i in range(POOL_FROM + 6):
        img.save(tmp_path / f"p{i}.png")
        paths.append(f"p{i}.png")
    stats = image_stats(pd.Series(paths + [None, "nope.png"]), CheckContext(root=tmp_path, workers=2))
    assert stats["ok"].tolist() == [True] * len(paths) + [False, False]
    assert stats["error"].tolist()[-2:] == ["no image path", "file not found"]
