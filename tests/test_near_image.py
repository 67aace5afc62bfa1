"""Near-duplicate images: hashes equal imagehash's, the banded index equals brute force, bad files are
reported, both embedder backends work offline, and the blocked cosine search equals the full matrix."""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pytest
import skimage
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont, ImageOps

from curator.near.embed import OnnxEmbedder, TransformersEmbedder, embed_paths, l2_normalize
from curator.near.embed_search import cosine_of_pairs, cosine_pairs, cosine_query
from curator.near.hamming import band_layout, hamming_pairs, hamming_query
from curator.near.grid_views import ROTATION, centre_views, turned_views, view_matrix
from curator.near import image_dedup
from curator.near.image_dedup import ImagePairs, find_near_duplicate_images, union_pairs, within_budget
from curator.near.hash_variants import ALLOWED, ROTATED, closest_distance, quadrant_pairs, variant_pairs
from curator.near.image_load import PHASH_VIEW, View, decode_all, embed_view
from curator.near.phash import (bits_to_uint64, dhash_pixels, hash_paths, phash_and_mirror, phash_pixels,
                                phash_variants, quadrant_hashes, uint64_to_bits, variant_views)

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
PHOTOS = ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "hubble_deep_field.jpg",
          "moon.png", "motorcycle_left.png", "retina.jpg", "rocket.jpg", "brick.png", "page.png"]


def photo(name: str) -> Path:
    """A real photo shipped with scikit-image."""
    return SKIMAGE_DATA / name


def generated_images() -> list[Image.Image]:
    """Pillow-made images: gradients, noise, flat colour and mode variety (L, RGBA, P, I;16)."""
    rng = np.random.default_rng(3)
    ramp = np.linspace(0, 255, 200, dtype=np.uint8)
    return [Image.fromarray(np.add.outer(ramp, ramp[::-1]) // 2),
            Image.fromarray(rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)),
            Image.new("RGB", (64, 48), (10, 200, 30)),
            Image.fromarray(rng.integers(0, 256, (77, 131, 4), dtype=np.uint8), "RGBA"),
            Image.open(photo("astronaut.png")).convert("P"),
            Image.fromarray(rng.integers(0, 65535, (50, 60), dtype=np.uint16))]


def real_photos() -> list[Path]:
    """skimage photos, plus the opencv-doc photos where that Debian package is installed."""
    found = [photo(n) for n in PHOTOS]
    found += sorted(OPENCV_DATA.glob("*.jpg"))[:20] if OPENCV_DATA.is_dir() else []
    return found


def imagehash_int(h) -> int:
    """An imagehash hash as the integer its hex string spells."""
    return int(str(h), 16)


# --- hashes -----------------------------------------------------------------------------------------


def test_phash_and_dhash_equal_imagehash_bit_for_bit():
    images = [Image.open(p) for p in real_photos()] + generated_images()
    grey = [im.convert("L") for im in images]
    p32 = np.stack([np.asarray(g.resize((32, 32), Image.Resampling.LANCZOS)) for g in grey])
    d98 = np.stack([np.asarray(g.resize((9, 8), Image.Resampling.LANCZOS)) for g in grey])
    want_p = np.array([imagehash_int(imagehash.phash(im)) for im in images], dtype=np.uint64)
    want_d = np.array([imagehash_int(imagehash.dhash(im)) for im in images], dtype=np.uint64)
    assert len(images) >= 18
    np.testing.assert_array_equal(phash_pixels(p32), want_p)
    np.testing.assert_array_equal(dhash_pixels(d98), want_d)


def test_full_decode_of_files_equals_imagehash_and_draft_decode_stays_close():
    paths = real_photos()
    want = np.array([imagehash_int(imagehash.phash(Image.open(p))) for p in paths], dtype=np.uint64)
    exact = hash_paths(paths, workers=1, draft=False)
    np.testing.assert_array_equal(exact.phash, want)
    fast = hash_paths(paths, workers=1)
    assert np.bitwise_count(fast.phash ^ want).max() <= 6


def test_bits_round_trip_in_imagehash_order():
    bits = np.zeros((1, 64), dtype=bool)
    bits[0, 0] = True  # the first bit is the most significant
    assert bits_to_uint64(bits)[0] == np.uint64(1 << 63)
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**64 - 1, size=50, dtype=np.uint64, endpoint=True)
    np.testing.assert_array_equal(bits_to_uint64(uint64_to_bits(hashes)), hashes)


def test_hash_pixels_guard_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"expected pHash pixels of shape \(N, 32, 32\), got \(2, 8, 9\)"):
        phash_pixels(np.zeros((2, 8, 9), np.uint8))


# --- pHash variants: mirror image, centre and rotation ------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_mirrored_phash_from_the_dct_equals_the_phash_of_mirrored_pixels(seed, n):
    pixels = np.random.default_rng(seed).integers(0, 256, (n, 32, 32), dtype=np.uint8)
    whole, mirror = phash_and_mirror(pixels)
    np.testing.assert_array_equal(whole, phash_pixels(pixels))
    np.testing.assert_array_equal(mirror, phash_pixels(pixels[:, :, ::-1]))


def variants_of(paths) -> np.ndarray:
    """The pHash variants of image files, as the combined method decodes them."""
    decoded = decode_all(paths, variant_views())
    assert not decoded.errors
    return phash_variants(decoded.arrays, decoded.aspects)


def edited_copies(tmp_path, name: str) -> list[Path]:
    """A photo as JPEG, its mirror image and a copy cut by 10% at each edge."""
    im = Image.open(photo(name)).convert("RGB")
    w, h = im.size
    copies = {"orig": im, "flip": ImageOps.mirror(im), "crop": im.crop((w // 10, h // 10, w - w // 10, h - h // 10))}
    for kind, img in copies.items():
        img.save(tmp_path / f"{kind}.jpg", quality=90)
    return [tmp_path / f"{kind}.jpg" for kind in copies]


@pytest.mark.parametrize("name", ["astronaut.png", "chelsea.png", "rocket.jpg"])
def test_a_flip_matches_by_the_mirrored_hash_and_a_crop_by_the_centre_hash(tmp_path, name):
    variants = variants_of(edited_copies(tmp_path, name))
    plain = np.bitwise_count(variants[0, 0] ^ variants[1:, 0])
    assert (plain > 16).all()  # plain pHash misses both edits
    found = variant_pairs(variants, 10)
    pairs = {(int(a), int(b)): how for a, b, how in zip(found.left, found.right, found.how)}
    assert pairs[(0, 1)] in ("whole~mirror", "mirror~whole")
    assert pairs[(0, 2)] == "centre~whole"  # the original's centre is the crop's whole image
    assert (found.distance[found.how != "whole~whole"] <= 6).all()


@pytest.mark.parametrize("name", ["astronaut.png", "coins.png", "rocket.jpg", "brick.png"])
def test_a_photo_rotated_5_degrees_either_way_matches_by_the_rotated_hash_and_no_other_photo(tmp_path, name):
    im = Image.open(photo(name)).convert("RGB")
    for kind, angle in {"orig": 0, "clockwise": -5, "counter": 5}.items():
        im.rotate(angle, resample=Image.Resampling.BICUBIC).save(tmp_path / f"{kind}.jpg", quality=90)
    others = [p for p in real_photos()[:12] if p.name != name]
    variants = variants_of([tmp_path / f"{k}.jpg" for k in ("orig", "clockwise", "counter")] + others)
    plain = ALLOWED.copy()
    plain[ROTATED, :] = plain[:, ROTATED] = False
    nearest_plain = [min(int(np.bitwise_count(variants[0, a] ^ variants[c, b])) for a, b in zip(*np.nonzero(plain)))
                     for c in (1, 2)]
    assert max(nearest_plain) > 10  # without the rotated hash, one of the copies is missed
    found = variant_pairs(variants, 10)
    pairs = {(int(a), int(b)): (how, int(d))
             for a, b, how, d in zip(found.left, found.right, found.how, found.distance)}
    # turning the original 5 degrees counter-clockwise undoes the clockwise copy, and the other way round
    assert pairs[(0, 1)][0] == "centre~rotated" and pairs[(0, 2)][0] == "rotated~centre"
    assert pairs[(0, 1)][1] <= 6 and pairs[(0, 2)][1] <= 6  # the variants alone leave them 10+ bits apart
    assert (found.right < 3).all()  # no pair with an unrelated photo


def test_turned_view_turns_counter_clockwise_as_pillow_does_in_the_photos_proportions():
    pixels = np.zeros((64, 64), np.uint8)
    pixels[:32, :32] = 255  # white top-left quarter; a quarter turn counter-clockwise moves it bottom-left
    grid = pixels[None].astype(np.float64)
    np.testing.assert_array_equal(turned_views(grid, np.array([1.0]), 90)[0] > 127, np.rot90(centre_views(grid)[0] > 127))
    for name in ["chelsea.png", "rocket.jpg", "coins.png"]:  # 1.49, 0.7 and 1.25 wide: the turn must not shear
        im = Image.open(photo(name)).convert("L")
        grid = np.asarray(im.resize((64, 64), Image.Resampling.LANCZOS))[None]
        turned = im.rotate(ROTATION, Image.Resampling.BILINEAR)
        w, h = turned.size
        pillow = np.asarray(turned.resize((32, 32), Image.Resampling.LANCZOS,
                                          box=(0.1 * w, 0.1 * h, 0.9 * w, 0.9 * h)))[None]
        ours = phash_pixels(turned_views(grid, np.array([w / h])))
        assert int(np.bitwise_count(ours ^ phash_pixels(pillow))[0]) <= 6
        sheared = phash_pixels(turned_views(grid, np.array([1.0])))  # as if the photo were square
        assert np.bitwise_count(ours ^ phash_pixels(pillow)) <= np.bitwise_count(sheared ^ phash_pixels(pillow))
    with pytest.raises(ValueError, match=r"expected one positive aspect ratio per grid \(1\), got \(2,\)"):
        turned_views(grid, np.array([1.0, 2.0]))


def test_unrelated_photos_match_by_no_hash_variant():
    # opencv-doc's Blender_Suzanne1 and 2 are one render and its mirror image: a true match, left out.
    paths = [p for p in real_photos() if not p.name.startswith("Blender_Suzanne")]
    variants = variants_of(paths)
    assert len(paths) >= 12 and len(variant_pairs(variants, 10).left) == 0
    wide = variant_pairs(variants, 16, sure=10)  # the combined method's "ask the model" band
    assert len(wide.left) <= len(paths) // 4
    assert len(quadrant_pairs(quadrants_of(paths))[0]) == 0


def test_a_mirrored_render_in_opencv_doc_matches_by_the_mirrored_hash():
    found = variant_pairs(variants_of([OPENCV_DATA / "Blender_Suzanne1.jpg",
                                       OPENCV_DATA / "Blender_Suzanne2.jpg"]), 10)
    assert found.how.tolist() in (["mirror~whole"], ["whole~mirror"])


def test_a_16_bit_copy_of_a_photo_hashes_like_the_photo_and_its_thumbnail_is_not_white(tmp_path):
    import base64
    import io

    from curator.audit import thumbnail_uri

    grey = np.asarray(Image.open(photo("camera.png")).convert("L"), dtype=np.uint16)
    Image.fromarray(grey.astype(np.uint8)).save(tmp_path / "eight.png")
    Image.fromarray(grey * 257).save(tmp_path / "sixteen.png")  # the same picture, 16 bits a pixel
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")
    result = find_near_duplicate_images([tmp_path / "eight.png", tmp_path / "sixteen.png"], "phash", max_distance=4)
    assert result.pairs.left.tolist() == [0] and result.pairs.similarity[0] == 1.0
    jpeg = base64.b64decode(thumbnail_uri(tmp_path / "sixteen.png").split(",", 1)[1])
    thumb = np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"))
    assert 60 < thumb.mean() < 200 and thumb.std() > 30  # not a clipped, all-white square


# --- quadrant pHashes: a caption or logo over part of a copy -------------------------------------------------


def quadrants_of(paths) -> np.ndarray:
    """The quadrant pHashes of image files, as the combined method decodes them."""
    decoded = decode_all(paths, variant_views())
    assert not decoded.errors
    return quadrant_hashes(decoded.arrays["grid"])


def test_quadrant_hashes_are_the_phash_of_each_quarter_and_zero_where_flat():
    pixels = np.random.default_rng(5).integers(0, 256, (3, 64, 64), dtype=np.uint8)
    pixels[1, :32, 32:] = 200  # a flat top-right quarter
    pixels[2, 32:, :32] = 200 + np.random.default_rng(6).integers(-4, 5, (32, 32))  # nearly flat: std ~2.6
    quads = quadrant_hashes(pixels)
    for col, (row, left) in enumerate([(0, 0), (0, 32), (32, 0), (32, 32)]):
        expected = phash_pixels(pixels[:, row:row + 32, left:left + 32])
        flat = [(1, 1), (2, 2)]
        for image in range(3):
            assert quads[image, col] == (0 if (image, col) in flat else expected[image])
    with pytest.raises(ValueError, match=r"expected quadrant pixels of shape \(N, 64, 64\)"):
        quadrant_hashes(np.zeros((1, 32, 32), np.uint8))


def with_banner(im: Image.Image) -> Image.Image:
    """A copy with a white banner and a black caption over its lower quarter."""
    im = im.copy()
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, im.height * 3 // 4, im.width, im.height), fill="white")
    draw.text((im.width // 20, im.height * 3 // 4 + im.height // 40), "BREAKING NEWS",
              font=ImageFont.load_default(size=im.height // 10), fill="black")
    return im


@pytest.fixture(scope="module")
def bannered(tmp_path_factory):
    """Four photos and a bannered copy of each (files 0-7, pairs (0, 1), (2, 3)...), then 8 others."""
    root = tmp_path_factory.mktemp("banner")
    names = ["astronaut.png", "coffee.png", "hubble_deep_field.jpg", "rocket.jpg"]
    paths = []
    for name in names:
        im = Image.open(photo(name)).convert("RGB")
        for kind, img in {"orig": im, "banner": with_banner(im)}.items():
            paths.append(root / f"{Path(name).stem}_{kind}.jpg")
            img.save(paths[-1], quality=90)
    return paths + [p for p in real_photos() if p.name not in names][:8]


def test_a_bannered_copy_is_far_by_every_variant_but_agrees_on_its_upper_quadrants(bannered):
    closest = closest_distance(variants_of(bannered), np.array([0, 2, 4, 6]), np.array([1, 3, 5, 7]))
    assert (closest > 8).all() and closest.max() > 24  # the variant search at 8 bits misses them all
    left, right = quadrant_pairs(quadrants_of(bannered))
    assert left.tolist() == [0, 2, 4, 6] and right.tolist() == [1, 3, 5, 7]
    originals, copies = bannered[0:8:2], bannered[1:8:2]
    left, right = quadrant_pairs(quadrants_of(copies), reference=quadrants_of(originals + bannered[8:]))
    assert left.tolist() == [0, 1, 2, 3] and right.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="expected 1 <= need <= 4, got 5"):
        quadrant_pairs(quadrants_of(copies), need=5)


def test_combined_sends_quadrant_pairs_to_the_model_and_accepts_the_bannered_copies(bannered, onnx_embedder):
    result = find_near_duplicate_images(bannered, "combined", max_distance=8, verify_distance=8,
                                        embedder=onnx_embedder)
    assert result.pairs.left.tolist() == [0, 2, 4, 6] and result.pairs.right.tolist() == [1, 3, 5, 7]
    assert set(result.pairs.method) == {"embedding"} and (result.pairs.similarity >= 0.85).all()
    assert result.stats["quadrant_pairs"] == 4 and result.stats["verified_files"] == 8
    against = find_near_duplicate_images(bannered[1:8:2], "combined", reference=bannered[0:8:2] + bannered[8:],
                                         max_distance=8, verify_distance=8, embedder=onnx_embedder)
    assert against.pairs.left.tolist() == [0, 1, 2, 3] and against.pairs.right.tolist() == [0, 1, 2, 3]


def test_centre_view_cuts_each_edge_and_rejects_a_bad_share():
    pixels = np.zeros((100, 100), np.uint8)
    pixels[10:90, 10:90] = 255  # a white square inside a 10% black frame
    grid = np.asarray(Image.fromarray(pixels).resize((64, 64), Image.Resampling.LANCZOS))[None]
    assert grid[0, 0].max() == 0 and grid[0, 32, :3].max() < 40  # the frame shows in the whole image
    centre = centre_views(grid)[0]
    assert centre[2:-2, 2:-2].min() > 245 and centre.min() > 180  # only the square (edges soften a little)
    with pytest.raises(ValueError, match=r"expected crop in \[0, 0.5\), got 0.5"):
        view_matrix(1.0, 0.0, crop=0.5)


# --- banded Hamming index ---------------------------------------------------------------------------


def brute_pairs(hashes: np.ndarray, k: int):
    """All i < j within k bits, sorted: the reference answer."""
    d = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
    i, j = np.nonzero(np.triu(d <= k, 1))
    return i, j, d[i, j]


@st.composite
def hashes_with_near_pairs(draw):
    """Random 64-bit hashes with planted copies 0..k+2 bits away (some within k, some just outside)."""
    k = draw(st.integers(0, 16))
    n = draw(st.integers(0, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    hashes = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    for dst in range(1, n, 2):
        src = int(rng.integers(0, dst))
        flips = rng.choice(64, size=int(rng.integers(0, k + 3)), replace=False)
        hashes[dst] = hashes[src] ^ np.bitwise_or.reduce(np.uint64(1) << flips.astype(np.uint64),
                                                         initial=np.uint64(0))
    if n > 3 and draw(st.booleans()):
        hashes[-1] = hashes[0]  # an exact duplicate too
    return hashes, k


@settings(max_examples=80, deadline=None)
@given(hashes_with_near_pairs())
def test_banded_index_finds_exactly_the_brute_force_pairs(case):
    hashes, k = case
    found = hamming_pairs(hashes, k)
    i, j, d = brute_pairs(hashes, k)
    np.testing.assert_array_equal(found.left, i)
    np.testing.assert_array_equal(found.right, j)
    np.testing.assert_array_equal(found.distance, d)
    assert found.capped == 0


@settings(max_examples=60, deadline=None)
@given(hashes_with_near_pairs(), st.integers(0, 40))
def test_query_mode_finds_exactly_the_brute_force_pairs(case, split):
    hashes, k = case
    queries, reference = hashes[:split], hashes[split:]
    found = hamming_query(queries, reference, k)
    d = np.bitwise_count(queries[:, None] ^ reference[None, :])
    q, r = np.nonzero(d <= k)
    np.testing.assert_array_equal(found.left, q)
    np.testing.assert_array_equal(found.right, r)
    np.testing.assert_array_equal(found.distance, d[q, r])


@settings(max_examples=60, deadline=None)
@given(hashes_with_near_pairs(), st.integers(0, 8))
def test_fewer_bands_find_every_pair_they_are_exact_for_and_only_pairs_within_k(case, extra):
    hashes, sure = case
    k = min(63, sure + extra)
    found = hamming_pairs(hashes, k, bands=sure + 1)
    got = set(zip(found.left.tolist(), found.right.tolist()))
    assert (found.distance <= k).all()
    assert got <= set(zip(*(a.tolist() for a in brute_pairs(hashes, k)[:2])))
    assert set(zip(*(a.tolist() for a in brute_pairs(hashes, sure)[:2]))) <= got
    # a query at fewer bands: within k, and every pair within `sure` (the self-pairs too)
    query = hamming_query(hashes, hashes, k, bands=sure + 1)
    assert (query.distance <= k).all()
    d = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
    assert set(zip(*(a.tolist() for a in np.nonzero(d <= sure)))) <= set(zip(query.left.tolist(),
                                                                             query.right.tolist()))


def test_huge_bucket_is_capped_but_identical_hashes_stay_one_cluster():
    from curator.near.clusters import components
    rng = np.random.default_rng(1)
    hashes = np.concatenate([np.full(300, 0xDEADBEEF, dtype=np.uint64),
                             rng.integers(0, 2**63, size=50, dtype=np.uint64)])
    found = hamming_pairs(hashes, 3, max_bucket=100, window=4)
    assert found.capped > 0
    assert len(found.left) < 300 * 299 // 2  # not all pairs of the big group
    labels = components(len(hashes), found.left, found.right)
    assert len(set(labels[:300].tolist())) == 1


def test_band_layout_covers_64_bits_in_k_plus_1_bands():
    layout = band_layout(9)
    assert len(layout) == 10 and sum(w for _, w in layout) == 64
    assert [s for s, _ in layout] == list(np.cumsum([0] + [w for _, w in layout][:-1]))
    with pytest.raises(ValueError, match="expected 0 <= k < 64, got 64"):
        band_layout(64)


# --- decoding and bad files -------------------------------------------------------------------------


@pytest.fixture
def bad_files(tmp_path):
    """A corrupt file, a truncated JPEG, an empty file, a text file and a missing path."""
    good = tmp_path / "good.jpg"
    Image.open(photo("chelsea.png")).convert("RGB").save(good, quality=90)
    data = good.read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("not an image", encoding="utf-8")
    names = ["truncated.jpg", "corrupt.png", "empty.jpg", "notes.jpg", "missing.jpg"]
    return good, [tmp_path / n for n in names]


def test_unreadable_files_are_reported_not_raised(bad_files):
    good, bad = bad_files
    result = hash_paths([good, *bad, good], workers=1)
    assert sorted(result.errors) == [1, 2, 3, 4, 5]
    assert "truncated" in result.errors[1]
    assert all(isinstance(e, str) and e for e in result.errors.values())
    assert result.phash[0] == result.phash[6] != 0
    assert (result.phash[1:6] == 0).all()


def test_unreadable_files_are_reported_from_worker_processes_too(bad_files):
    good, bad = bad_files
    paths = [good] * 70 + bad  # over the serial threshold: decoded by the process pool
    decoded = decode_all(paths, {"p": PHASH_VIEW}, workers=2, batch=30, task=16)
    assert sorted(decoded.errors) == list(range(70, 75))
    assert decoded.arrays["p"].shape == (75, 32, 32)
    assert (decoded.arrays["p"][:70] == decoded.arrays["p"][0]).all()


def test_exif_orientation_is_applied(tmp_path):
    im = Image.open(photo("rocket.jpg")).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    im.save(tmp_path / "tagged.jpg", exif=exif, quality=95)
    ImageOps.exif_transpose(Image.open(tmp_path / "tagged.jpg")).save(tmp_path / "upright.jpg", quality=95)
    view = {"g": View("L", 40, 20)}
    tagged = decode_all([tmp_path / "tagged.jpg"], view, draft=False).arrays["g"][0].astype(int)
    upright = decode_all([tmp_path / "upright.jpg"], view, draft=False).arrays["g"][0].astype(int)
    assert np.abs(tagged - upright).mean() < 3


# --- embeddings -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def onnx_embedder():
    return OnnxEmbedder()


def test_onnx_embedder_matches_edited_copies_and_not_other_photos(onnx_embedder, tmp_path):
    src = Image.open(photo("astronaut.png")).convert("RGB")
    src.save(tmp_path / "a.png")
    src.resize((256, 256), Image.Resampling.LANCZOS).save(tmp_path / "a_small.png")
    src.save(tmp_path / "a_q30.jpg", quality=30)
    other = [photo("coffee.png"), photo("chelsea.png"), photo("rocket.jpg")]
    vectors, errors = embed_paths(onnx_embedder, [tmp_path / "a.png", tmp_path / "a_small.png",
                                                  tmp_path / "a_q30.jpg", *other])
    assert not errors and vectors.shape == (6, 1024) and onnx_embedder.dim == 1024
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors[1:] @ vectors[0]
    assert sims[0] > 0.9 and sims[1] > 0.9
    assert sims[2:].max() < min(sims[0], sims[1]) - 0.05


def test_onnx_embedder_runs_at_a_reduced_input_size():
    small = OnnxEmbedder(input_size=96)
    rgb = np.stack([np.asarray(Image.open(photo(n)).convert("RGB").resize((96, 96))) for n in PHOTOS[:3]])
    vectors = small.embed(rgb)
    assert vectors.shape == (3, 1024)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match=r"expected RGB pixels of shape \(N, 96, 96, 3\), got \(3, 32, 32, 3\)"):
        small.embed(np.zeros((3, 32, 32, 3), np.uint8))


def test_transformers_backend_loads_a_local_tiny_vit(tmp_path):
    from transformers import ViTConfig, ViTImageProcessor, ViTModel
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=24, num_hidden_layers=1,
                       num_attention_heads=2, intermediate_size=48)
    ViTModel(config).save_pretrained(tmp_path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    embedder = TransformersEmbedder(tmp_path, batch_size=2)
    assert embedder.input_size == 32 and embedder.dim == 24
    assert embedder.device in ("cpu", "cuda")
    vectors, errors = embed_paths(embedder, [photo(n) for n in PHOTOS[:3]] + [tmp_path / "missing.png"])
    assert vectors.shape == (4, 24) and vectors.dtype == np.float32 and list(errors) == [3]
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert not vectors[3].any()


# --- blocked cosine ---------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 7, 64, 2048])
def test_blocked_cosine_equals_the_full_matrix(block):
    rng = np.random.default_rng(block)
    base = rng.normal(size=(20, 16))
    x = l2_normalize(np.concatenate([base, base[:15] + 0.3 * rng.normal(size=(15, 16))]))
    full = x @ x.T
    i, j = np.nonzero(np.triu(full >= 0.8, 1))
    found = cosine_pairs(x, 0.8, block=block)
    np.testing.assert_array_equal(found.left, i)
    np.testing.assert_array_equal(found.right, j)
    np.testing.assert_allclose(found.similarity, full[i, j], rtol=1e-5)
    q, r = np.nonzero(x[:12] @ x[5:].T >= 0.5)
    query = cosine_query(x[:12], x[5:], 0.5, block=block)
    np.testing.assert_array_equal(query.left, q)
    np.testing.assert_array_equal(query.right, r)
    np.testing.assert_allclose(cosine_of_pairs(x, i, j), full[i, j], rtol=1e-5)


# --- the result for the near-dup step ---------------------------------------------------------------


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Three photos with a half-size copy, a JPEG q30 copy and a mirrored copy each."""
    root = tmp_path_factory.mktemp("planted")
    paths, group = [], []
    for g, name in enumerate(["astronaut.png", "coffee.png", "rocket.jpg"]):
        im = Image.open(photo(name)).convert("RGB")
        copies = {"orig": im, "half": im.resize((im.width // 2, im.height // 2)), "q30": im,
                  "flip": ImageOps.mirror(im)}
        for kind, img in copies.items():
            path = root / f"{g}_{kind}.jpg"
            img.save(path, quality=30 if kind == "q30" else 90)
            paths.append(path)
            group.append(g)
    return paths, np.array(group)


def test_hash_method_finds_reencodes_with_precision_and_labels_clusters(planted):
    paths, group = planted
    result = find_near_duplicate_images([*paths, paths[0].parent / "gone.jpg"], "phash", max_distance=8)
    assert list(result.errors) == [12]
    assert len(result.pairs) >= 6 and set(result.pairs.method) == {"phash"}
    assert (group[result.pairs.left] == group[result.pairs.right]).all()
    assert result.labels[0] == result.labels[1] == result.labels[2] == 0
    assert result.labels[12] == 12  # unreadable: a cluster of its own


def test_combined_finds_the_flips_plain_hashes_miss_by_the_mirrored_hash(planted):
    paths, group = planted
    hashed = find_near_duplicate_images(paths, "phash", max_distance=8)
    combined = find_near_duplicate_images(paths, "combined", max_distance=8)
    assert (group[combined.pairs.left] == group[combined.pairs.right]).all()
    flips = [3, 7, 11]
    assert any(hashed.labels[f] != hashed.labels[f - 3] for f in flips)
    assert all(combined.labels[f] == combined.labels[f - 3] for f in flips)
    by = {(int(a), int(b)): m for a, b, m in zip(combined.pairs.left, combined.pairs.right, combined.pairs.method)}
    assert {by[(f - 3, f)] for f in flips} <= {"phash:whole~mirror", "phash:mirror~whole"}
    assert combined.stats["verified_files"] < len(paths)


def test_reference_mode_pairs_index_the_reference(planted):
    paths, group = planted
    copies, originals = [i for i in range(12) if i % 4], [0, 4, 8]
    result = find_near_duplicate_images([paths[i] for i in copies], "dhash",
                                        reference=[paths[i] for i in originals], max_distance=10)
    assert len(result.pairs) >= 6  # the half-size and q30 copies of each photo
    assert (group[copies][result.pairs.left] == group[originals][result.pairs.right]).all()
    assert result.labels.shape == (12,)
    assert result.labels[9] == result.labels[0]  # the reference items come after the 9 copies


def cut_copies(tmp_path) -> list[Path]:
    """Three photos, each followed by a copy cut by 15% at each edge (12-14 bits away by every variant)."""
    paths = []
    for name in ["astronaut.png", "coffee.png", "rocket.jpg"]:
        im = Image.open(photo(name)).convert("RGB")
        w, h = im.size
        cut = im.crop((w * 3 // 20, h * 3 // 20, w - w * 3 // 20, h - h * 3 // 20))
        for kind, img in {"orig": im, "cut": cut}.items():
            paths.append(tmp_path / f"{Path(name).stem}_{kind}.jpg")
            img.save(paths[-1], quality=90)
    return paths


def test_combined_asks_the_model_only_about_pairs_between_the_sure_and_the_wide_distance(tmp_path, onnx_embedder):
    paths = cut_copies(tmp_path)
    hashed = find_near_duplicate_images(paths, "combined", max_distance=8, verify_distance=8)
    assert len(hashed.pairs) == 0 and hashed.stats["verified_files"] == 0
    result = find_near_duplicate_images(paths, "combined", max_distance=8, verify_distance=16,
                                        embedder=onnx_embedder)
    assert result.stats["candidate_pairs"] == 3 and result.stats["verified_files"] == 6
    assert result.pairs.left.tolist() == [0, 2, 4] and result.pairs.right.tolist() == [1, 3, 5]
    assert set(result.pairs.method) == {"embedding"} and (result.pairs.similarity >= 0.85).all()


def test_the_model_budget_takes_quadrant_pairs_first_then_the_closest():
    cands = ImagePairs(np.array([0, 0, 1, 2, 5]), np.array([1, 3, 4, 6, 6]),
                       np.array([0.80, 0.83, 0.78, 0.50, 0.81], np.float32),
                       np.array(["phash:centre~centre", "phash:whole~whole", "phash:whole~mirror", "phash:quadrants",
                                 "phash:whole~whole"], dtype=object))
    # checking order: (2, 6) quadrants, then (0, 3) .83, (5, 6) .81, (0, 1) .80, (1, 4) .78
    for budget, kept in [(2, [(2, 6)]), (3, [(2, 6)]), (5, [(0, 3), (2, 6), (5, 6)]),
                         (6, [(0, 1), (0, 3), (2, 6), (5, 6)]), (7, [(0, 1), (0, 3), (1, 4), (2, 6), (5, 6)])]:
        checked, unchecked = within_budget(cands, budget)
        assert list(zip(checked.left.tolist(), checked.right.tolist())) == kept and unchecked == 5 - len(kept)
    files = {*checked.left.tolist(), *checked.right.tolist()}
    assert len(files) == 7
    against, unchecked = within_budget(cands, 4, offset=10)  # right indexes a reference: 6 is not 6
    assert list(zip(against.left.tolist(), against.right.tolist())) == [(0, 3), (2, 6)] and unchecked == 3


def test_combined_embeds_no_more_files_than_its_budget(tmp_path, onnx_embedder, monkeypatch):
    paths = cut_copies(tmp_path)
    monkeypatch.setattr(image_dedup, "VERIFY_FLOOR", 1)
    result = find_near_duplicate_images(paths, "combined", max_distance=8, verify_distance=16, verify_share=0.5,
                                        embedder=onnx_embedder)
    assert result.stats["candidate_pairs"] == 3 and result.stats["unchecked_pairs"] == 2
    assert result.stats["verified_files"] == 2 and len(result.pairs) == 1
    with pytest.raises(ValueError, match=r"expected verify_share in \(0, 1\], got 0"):
        find_near_duplicate_images(paths, "combined", verify_share=0)


def test_combined_against_a_reference_finds_the_mirrored_copies(planted):
    paths, group = planted
    copies, originals = [i for i in range(12) if i % 4], [0, 4, 8]
    result = find_near_duplicate_images([paths[i] for i in copies], "combined",
                                        reference=[paths[i] for i in originals], max_distance=8)
    found = set(zip(result.pairs.left.tolist(), result.pairs.right.tolist()))
    assert {(2, 0), (5, 1), (8, 2)} <= found  # each flip (copies 3, 7, 11) with its original
    assert (group[copies][result.pairs.left] == group[originals][result.pairs.right]).all()


def test_union_keeps_the_first_pass_for_a_pair_found_twice():
    first = ImagePairs(np.array([0, 2]), np.array([1, 3]), np.array([0.9, 0.95], np.float32),
                       np.array(["phash", "phash"], dtype=object))
    second = ImagePairs(np.array([0, 1]), np.array([1, 4]), np.array([0.99, 0.8], np.float32),
                        np.array(["embedding", "embedding"], dtype=object))
    both = union_pairs(first, second)
    assert both.left.tolist() == [0, 1, 2] and both.right.tolist() == [1, 4, 3]
    assert both.method.tolist() == ["phash", "embedding", "phash"]


def test_no_paths_give_an_empty_result():
    for method in ("phash", "dhash", "combined"):
        result = find_near_duplicate_images([], method)
        assert len(result.pairs) == 0 and result.labels.shape == (0,) and result.errors == {}


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(ValueError, match="expected method in .*, got 'md5'"):
        find_near_duplicate_images([], "md5")
    with pytest.raises(ValueError, match="expected 0 <= max_distance < 64, got 70"):
        find_near_duplicate_images([], "phash", max_distance=70)
    with pytest.raises(ValueError, match="expected max_distance <= verify_distance < 64, got 5"):
        find_near_duplicate_images([], "combined", max_distance=8, verify_distance=5)
    with pytest.raises(ValueError, match="expected 1 <= bands <= k \\+ 1 = 4, got 5"):
        hamming_pairs(np.zeros(3, np.uint64), 3, bands=5)
    with pytest.raises(ValueError, match="expected view mode 'L' or 'RGB', got 'CMYK'"):
        View("CMYK", 8, 8)
    assert embed_view(96).source_side == 96
