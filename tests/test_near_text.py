"""Near-duplicate text detection: shingles, MinHash (bit-equal to datasketch), LSH, containment,
the reference index and threshold calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from datasketch import MinHash, MinHashLSH
from datasketch.hashfunc import sha1_hash32, sha1_hash64
from datasketch.lsh import _optimal_param
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.errors import InputError
from curator.near.calibrate import CalibrationInputError, calibrate, read_pairs
from curator.near.containment import contained_duplicates, ensemble_candidates
from curator.near.lsh import candidate_pairs, near_duplicates, optimal_bands
from curator.near.lsh_index import IndexMismatchError, ReferenceIndex, query
from curator.near.lsh_text import find_near_duplicates
from curator.near.minhash import (HASHES, SCHEMES, MinHashParams, empty_rows, hashfunc, hashfunc64, minhash_rows,
                                  signatures, to_datasketch)
from curator.near.shingle import (Normalize, ShingleConfig, normalized, poly_hash64, shingle_hashes, shingle_sets,
                                  shingles)
from curator.near.shingle_sets import containment, jaccard, overlap
from curator.table import normalize_text

VOCAB = np.array([f"w{i}" for i in range(5000)], dtype=object)
CJK = "自然言語処理の研究では大量のテキストデータから重複を取り除くことが重要です"
SPECIAL = ["", None, "word", CJK, " ".join(VOCAB[np.arange(10_000) % 5000]),
           "Hello,  World!\tThe QUICK brown fox\njumps over the lazy dog.", "\u00e9t\u00e9 caf\u0065\u0301 \u3000x"]


def doc(rng: np.random.Generator, words: int = 100) -> list[str]:
    return list(VOCAB[rng.integers(0, len(VOCAB), size=words)])


def edit(words: list[str], k: int, rng: np.random.Generator) -> list[str]:
    """Replace k words at distinct random positions with words outside the vocabulary."""
    out = list(words)
    for j in rng.choice(len(out), size=k, replace=False):
        out[j] = f"x{rng.integers(1_000_000)}"
    return out


def reference(texts, params: MinHashParams) -> np.ndarray:
    """datasketch's own signatures: MinHash(num_perm, seed, hashfunc) updated with the shingles."""
    if params.hash == "sha1":
        fn = sha1_hash64 if params.scheme == "affine64" else sha1_hash32
    else:
        fn = hashfunc64 if params.scheme == "affine64" else hashfunc
    rows = []
    for sh in shingles(texts, params.shingle.kind, params.shingle.n, params.shingle.normalize):
        m = MinHash(num_perm=params.num_perm, seed=params.seed, hashfunc=fn, scheme=params.scheme)
        m.update_batch([s.encode("utf8") for s in sh])
        rows.append(m.hashvalues)
    return np.array(rows)


# --- shingles ---------------------------------------------------------------------------------


def test_word_and_char_shingles():
    assert shingles(["The  quick brown fox jumps over"], "word", 5) == [
        ["the quick brown fox jumps", "quick brown fox jumps over"]]
    assert shingles(["two words", "", None], "word", 5) == [["two words"], [], []]
    assert shingles(["abcd"], "char", 3) == [["abc", "bcd"]]
    assert shingles([CJK[:4]], "char", 3) == [[CJK[:3], CJK[1:4]]]
    assert shingles(["Hi, there!"], "word", 1, Normalize(punctuation=True)) == [["hi", "there"]]


def test_word_tokens_split_on_unicode_whitespace():
    text = "a\u00a0b\u3000c\x0bd\x1ce\u2028f g"
    assert shingles([text], "word", 1) == [[w for w in text.split()]]


@pytest.mark.parametrize("config", [ShingleConfig(), ShingleConfig("word", 2), ShingleConfig("char", 3),
                                    ShingleConfig("char", 5, Normalize(whitespace=False)),
                                    ShingleConfig("word", 3, Normalize(punctuation=True, case=False))])
def test_vectorised_hashes_equal_python_hashes(config):
    hashed = shingle_hashes(SPECIAL, config)
    for i, row in enumerate(shingles(SPECIAL, config.kind, config.n, config.normalize)):
        assert hashed.row(i).tolist() == [poly_hash64(s.encode("utf8")) for s in row]


TEXT = st.text(alphabet=st.sampled_from(list("ab Z,.!\t\n\r\x0b\x0c\x1c\u00a0\u3000\u00e9e\u0301\u2028") + ["\u00c9"]),
               max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT), max_size=6), st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_normalisation_equals_normalize_text(texts, unicode, case, whitespace, punctuation):
    flags = dict(unicode=unicode, case=case, whitespace=whitespace, punctuation=punctuation)
    ours = normalized(texts, Normalize(**flags)).to_pylist()
    assert ours == normalize_text(pd.Series(texts, dtype=object), **flags).tolist()


# --- MinHash: bit-equal to datasketch ----------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("hash_kind", HASHES)
@pytest.mark.parametrize("seed,num_perm", [(1, 128), (7, 64), (12345, 256)])
def test_signatures_bit_equal_to_datasketch(scheme, hash_kind, seed, num_perm):
    for config in (ShingleConfig(), ShingleConfig("char", 3)):
        params = MinHashParams(num_perm=num_perm, seed=seed, scheme=scheme, hash=hash_kind, shingle=config)
        ours = signatures(SPECIAL, params, batch=3)
        theirs = reference(SPECIAL, params)
        assert ours.dtype == theirs.dtype
        assert np.array_equal(ours, theirs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=12), st.sampled_from(SCHEMES), st.integers(0, 2**32 - 1))
def test_minhash_rows_equal_the_minimum_of_each_row_permuted(sizes, scheme, data_seed):
    """Ragged rows (empty, shorter than a piece, spanning several pieces) give each row's own minimum."""
    offsets = np.r_[0, np.cumsum(sizes)]
    values = np.random.default_rng(data_seed).integers(0, 2**63, size=offsets[-1], dtype=np.uint64)
    if scheme != "affine64":
        values &= np.uint64(0xFFFFFFFF)
    ours = minhash_rows(values, offsets, 16, 3, scheme)
    for i, size in enumerate(sizes):
        m = MinHash(num_perm=16, seed=3, scheme=scheme, hashfunc=int)
        m.update_batch(values[offsets[i]:offsets[i + 1]].tolist())
        assert np.array_equal(ours[i], m.hashvalues), (i, size)


def test_empty_text_has_the_empty_signature_and_never_matches():
    sigs = signatures(["", None, "   ", "", "real text here"])
    assert empty_rows(sigs).tolist() == [True, True, True, True, False]
    assert np.all(sigs[0] == MinHash(128, 1).hashvalues)
    assert to_datasketch(sigs[0]).is_empty()
    result = near_duplicates(sigs, 0.5)
    assert len(result.pairs) == 0 and result.cluster.tolist() == [0, 1, 2, 3, 4]


def test_to_datasketch_round_trip_and_update():
    sigs = signatures(["one two three four five six", "one two three four five"])
    lean = to_datasketch(sigs[0])
    full = to_datasketch(sigs[1], lean=False)
    full.update("six".encode("utf8"))  # our hashfunc: updatable like any datasketch MinHash
    assert np.array_equal(lean.hashvalues, sigs[0])
    assert full.hashfunc is hashfunc


def test_two_threads_give_the_same_signatures_as_one():
    rng = np.random.default_rng(3)
    texts = [" ".join(doc(rng, int(rng.integers(1, 60)))) for _ in range(500)] + SPECIAL
    one = signatures(texts, workers=1, batch=37)
    assert np.array_equal(one, signatures(texts, workers=2, batch=37))
    assert np.array_equal(one, signatures(texts, workers=2, batch=10_000))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(list(VOCAB[:30])), min_size=0, max_size=40),
       st.lists(st.sampled_from(list(VOCAB[:30])), min_size=0, max_size=40))
def test_estimated_jaccard_equals_datasketch(a, b):
    params = MinHashParams(shingle=ShingleConfig("word", 2))
    texts = [" ".join(a), " ".join(b)]
    sigs = signatures(texts, params)
    ds = [to_datasketch(s) for s in reference(texts, params)]
    ours = near_duplicates(sigs, 0.01, bands=(64, 2)).pairs
    estimate = np.count_nonzero(sigs[0] == sigs[1]) / 128
    assert estimate == ds[0].jaccard(ds[1])
    if len(ours):
        assert ours["similarity"].iloc[0] == ds[0].jaccard(ds[1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from(list(VOCAB[:12])), max_size=15), min_size=1, max_size=8),
       st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=20), st.integers(1, 4))
def test_exact_jaccard_and_containment_equal_python_sets(docs, pairs, pairs_per_sort):
    """Across several sort blocks, a repeated row, a row paired with itself and empty rows."""
    texts = [" ".join(d) for d in docs]
    config = ShingleConfig("word", 2)
    sets = shingle_sets(texts, config, batch=3)
    py = [{poly_hash64(s.encode()) >> 16 for s in row} for row in shingles(texts, "word", 2)]
    left = np.array([a % len(docs) for a, _ in pairs], dtype=np.int64)
    right = np.array([b % len(docs) for _, b in pairs], dtype=np.int64)
    inter = [len(py[a] & py[b]) for a, b in zip(left, right)]
    assert overlap(sets, left, sets, right, pairs_per_sort).tolist() == inter
    union = [len(py[a] | py[b]) for a, b in zip(left, right)]
    assert jaccard(sets, left, sets, right).tolist() == [i / u if u else 0.0 for i, u in zip(inter, union)]
    size = [len(py[a]) for a in left]
    assert containment(sets, left, sets, right).tolist() == [i / s if s else 0.0 for i, s in zip(inter, size)]


def test_overlap_refuses_hashes_wider_than_a_set_keeps():
    raw = shingle_hashes(["one two three"])
    with pytest.raises(ValueError, match="48-bit"):
        overlap(raw, [0], raw, [0])


# --- LSH ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold,weights,num_perm", [(0.5, (0.5, 0.5), 128), (0.8, (0.5, 0.5), 128),
                                                        (0.9, (0.3, 0.7), 128), (0.7, (0.5, 0.5), 64),
                                                        (0.8, (0.1, 0.9), 256)])
def test_optimal_bands_equal_datasketch(threshold, weights, num_perm):
    assert optimal_bands(threshold, num_perm, *weights) == _optimal_param(threshold, num_perm, *weights)


def test_banding_finds_the_same_candidates_as_datasketch_lsh():
    rng = np.random.default_rng(11)
    base = [doc(rng, 60) for _ in range(150)]
    texts = [" ".join(w) for w in base] + [" ".join(edit(w, int(rng.integers(1, 25)), rng)) for w in base]
    sigs = signatures(texts, MinHashParams(shingle=ShingleConfig("word", 2)))
    for threshold in (0.5, 0.8):
        b, r = optimal_bands(threshold, 128)
        lsh = MinHashLSH(threshold=threshold, num_perm=128)  # datasketch's weights (0.5, 0.5)
        sketches = [to_datasketch(s) for s in sigs]
        for i, m in enumerate(sketches):
            lsh.insert(i, m)
        theirs = {(min(i, j), max(i, j)) for i, m in enumerate(sketches) for j in lsh.query(m) if j != i}
        left, right = candidate_pairs(sigs, b, r)
        assert set(zip(left.tolist(), right.tolist())) == theirs
        assert len(theirs) > 20


def test_planted_near_duplicate_is_found_with_its_similarity():
    rng = np.random.default_rng(5)
    texts = [" ".join(doc(rng)) for _ in range(200)]
    original = texts[17].split()
    texts.append(" ".join(edit(original, 3, rng)))  # row 200: 3 of 100 words changed
    sigs = signatures(texts)
    result = near_duplicates(sigs, 0.6)  # exact Jaccard 81/111 = 0.73; 128 permutations estimate +-0.04
    assert near_duplicates(sigs, 0.7, texts=texts).match[200] == 17  # exact verification
    expected = to_datasketch(sigs[200]).jaccard(to_datasketch(sigs[17]))
    assert result.match[200] == 17 and result.match[17] == 200
    assert result.similarity[200] == pytest.approx(expected)
    assert result.cluster[200] == result.cluster[17] == 17
    assert (result.cluster == np.arange(201))[np.r_[0:17, 18:200]].all()  # every other row alone
    assert result.verified[["left", "right"]].values.tolist() == [[17, 200]]
    exact = jaccard(shingle_sets(texts), [17], shingle_sets(texts), [200])[0]
    assert exact == pytest.approx(81 / 111, abs=0.05)
    assert abs(expected - exact) < 0.15


def test_exact_verification_and_counts_per_threshold():
    rng = np.random.default_rng(8)
    base = [doc(rng) for _ in range(50)]
    texts = [" ".join(w) for w in base] + [" ".join(edit(w, 1, rng)) for w in base[:10]]
    sigs = signatures(texts)
    result = near_duplicates(sigs, 0.8, texts=texts)
    assert sorted(map(tuple, result.verified[["left", "right"]].values.tolist())) == [(i, 50 + i) for i in range(10)]
    counts = result.counts_at([0.8, 0.95])
    assert counts["pairs"].tolist()[0] == 10 and counts["rows_in_clusters"].tolist()[0] == 20


def test_huge_bucket_is_capped_not_quadratic():
    texts = ["the very same boilerplate footer text of a page"] * 500 + ["something else entirely here now"]
    result = near_duplicates(signatures(texts), 0.9, max_bucket=50)
    assert len(result.pairs) == 499  # a star around the first copy, not 124,750 pairs
    assert (result.cluster[:500] == 0).all() and result.cluster[500] == 500


# --- containment -------------------------------------------------------------------------------


def test_containment_finds_a_pasted_paragraph_that_jaccard_misses():
    rng = np.random.default_rng(9)
    paragraph = doc(rng, 60)
    long_doc = doc(rng, 300) + paragraph + doc(rng, 300)
    texts = [" ".join(doc(rng)) for _ in range(40)] + [" ".join(paragraph), " ".join(long_doc)]
    sigs = signatures(texts)
    assert near_duplicates(sigs, 0.8).verified.empty
    sets = shingle_sets(texts)
    result = contained_duplicates(sigs, sets, 0.8)
    hit = result.verified
    assert hit[["left", "right"]].values.tolist() == [[40, 41]]
    assert hit["similarity"].iloc[0] == 1.0 and hit["measure"].iloc[0] == "containment"
    assert result.cluster[40] == result.cluster[41] == 40
    assert containment(sets, [41], sets, [40])[0] < 0.2


def test_vectorised_ensemble_gives_datasketch_ensemble_candidates():
    rng = np.random.default_rng(4)
    texts = []
    for _ in range(60):  # short rows, and longer rows holding part of one
        words = doc(rng, int(rng.integers(20, 120)))
        k = int(rng.integers(len(words) // 3, len(words) + 1))
        texts += [" ".join(words), " ".join(doc(rng, int(rng.integers(0, 300))) + words[:k] + doc(rng, 50))]
    texts += ["", None]
    sigs, sizes = signatures(texts), shingle_sets(texts).sizes()
    for threshold in (0.5, 0.8):
        ours = ensemble_candidates(sigs, sizes, sigs, sizes, threshold)
        theirs = ensemble_candidates(sigs, sizes, sigs, sizes, threshold, engine="datasketch")
        assert set(zip(*map(list, ours))) == set(zip(*map(list, theirs)))
        assert len(ours[0]) > 150


# --- reference index ---------------------------------------------------------------------------


def test_reference_index_round_trip_and_query(tmp_path):
    rng = np.random.default_rng(21)
    ref_words = [doc(rng) for _ in range(100)]
    ref = [" ".join(w) for w in ref_words]
    params = MinHashParams()
    index = ReferenceIndex.build(ref, [f"test-{i}" for i in range(100)], params, threshold=0.8)
    path = index.save(tmp_path / "ref")
    loaded = ReferenceIndex.load(path, expect=params)
    assert np.array_equal(loaded.signatures, index.signatures) and loaded.bands == index.bands
    assert loaded.ids.tolist() == index.ids.tolist() and np.array_equal(loaded.sets.hashes, index.sets.hashes)
    new = [" ".join(doc(rng)) for _ in range(30)] + [" ".join(edit(ref_words[42], 1, rng)),
                                                      " ".join(doc(rng, 200) + ref_words[7] + doc(rng, 200))]
    new_sigs = signatures(new, params)
    found = query(loaded, new_sigs, params)
    assert found[["new_row", "ref_id"]].values.tolist() == [[30, "test-42"]]
    assert found["similarity"].iloc[0] >= 0.8
    both = query(loaded, new_sigs, params, measure="containment", new_sets=shingle_sets(new))
    assert set(map(tuple, both[["new_row", "ref_row", "direction"]].values.tolist())) >= {
        (30, 42, "new_in_ref"), (30, 42, "ref_in_new"), (31, 7, "ref_in_new")}
    assert (both["measure"] == "containment").all()


def test_an_index_built_at_one_threshold_queried_at_another_bands_for_the_query(tmp_path):
    rng = np.random.default_rng(8)
    ref_words = [doc(rng, 60) for _ in range(300)]
    ref, new = [" ".join(w) for w in ref_words], [" ".join(edit(w, 4, rng)) for w in ref_words]
    params = MinHashParams()
    strict = ReferenceIndex.load(ReferenceIndex.build(ref, params=params, threshold=0.9).save(tmp_path / "r09.npz"))
    loose = ReferenceIndex.build(ref, params=params, threshold=0.5)
    sigs, sets = signatures(new, params), shingle_sets(new)
    want = query(loose, sigs, params, new_sets=sets, threshold=0.5)
    assert len(want) > 200  # most edited rows are near 0.6
    pd.testing.assert_frame_equal(query(strict, sigs, params, new_sets=sets, threshold=0.5), want)
    assert strict.bands == optimal_bands(0.9, 128, 0.05, 0.95)  # the header keeps what it was built for


def test_reference_index_refuses_other_params(tmp_path):
    path = ReferenceIndex.build(["some reference text for the index"], params=MinHashParams()).save(tmp_path / "r.npz")
    other = MinHashParams(num_perm=64, shingle=ShingleConfig("word", 3))
    with pytest.raises(IndexMismatchError, match=r"num_perm: 128 \(index\) vs 64 \(query\).*shingle.n: 5"):
        ReferenceIndex.load(path, expect=other)
    with pytest.raises(IndexMismatchError, match="seed"):
        query(ReferenceIndex.load(path), np.zeros((1, 128), np.uint32), MinHashParams(seed=2))


def _rewrite(path, **changes):
    """The index at ``path`` rewritten with some arrays (or header keys, as ``header``) changed."""
    import json
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    header = {**json.loads(str(arrays["header"])), **changes.pop("header", {})}
    arrays.update(header=np.array(json.dumps({k: v for k, v in header.items() if v is not None})), **changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None}, allow_pickle=True)


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b""), "got an unreadable file"),
    (lambda p: p.write_bytes(p.read_bytes()[:300]), "got an unreadable file"),
    (lambda p: np.savez(p, a=np.arange(3)), "got no 'header' array"),
    (lambda p: _rewrite(p, header={"params": None}), "header without 'params'"),
    (lambda p: _rewrite(p, set_hashes=None), "promises shingle sets"),
    (lambda p: _rewrite(p, ids=np.array(["a", "b"])), r"3 text ids \(one per signature\), got ids \(2,\)"),
    (lambda p: _rewrite(p, signatures=np.zeros((3, 64), np.uint32)), r"3 signatures of 128 uint32 values, got"),
    (lambda p: _rewrite(p, signatures=np.zeros((3, 128), np.int64)), "got signatures .* int64"),
    (lambda p: _rewrite(p, ids=np.array([1, "b", None], dtype=object)), "unreadable file .*Object arrays"),
    (lambda p: _rewrite(p, set_offsets=np.array([0, 5, 2, 9])), "rising offsets"),
])
def test_a_damaged_or_foreign_index_is_one_error_naming_the_file(tmp_path, damage, message):
    path = ReferenceIndex.build(["one two three four five six", "seven eight nine ten eleven twelve", "x"],
                                ["a", "b", "c"]).save(tmp_path / "ref.npz")
    damage(path)
    with pytest.raises(InputError, match=f"ref.npz: expected a curator.near.reference/1 index.*{message}"):
        ReferenceIndex.load(path)


def test_containment_against_an_index_without_shingle_sets_is_one_error(tmp_path):
    from curator.config import NearDedupConfig
    from curator.decontaminate import load_reference, minhash_params
    p = NearDedupConfig(measure="containment")
    path = ReferenceIndex.build(["one two three four five six"], params=minhash_params(p),
                                keep_sets=False).save(tmp_path / "ref.npz")
    with pytest.raises(InputError, match="ref.npz: measure containment needs the reference's shingle sets"):
        load_reference(path, p)


def test_saving_an_index_replaces_the_file_only_once_it_is_whole(tmp_path, monkeypatch):
    index = ReferenceIndex.build(["one two three four five six"], ["a"])
    path = index.save(tmp_path / "ref.npz")
    before = path.read_bytes()

    def fail(fh, **arrays):
        fh.write(b"half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(OSError, match="No space left"):
        index.save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["ref.npz"]


# --- calibration -------------------------------------------------------------------------------


def test_calibration_picks_the_separating_threshold():
    rng = np.random.default_rng(13)
    rows = []
    for i in range(60):
        words = doc(rng)
        k, dup = (1, "yes") if i % 2 else (12, "no")  # 1 word in 100 (J ~0.9) vs 12 (J ~0.3)
        rows.append({"text_a": " ".join(words), "text_b": " ".join(edit(words, k, rng)), "duplicate": dup})
    cal = calibrate(pd.DataFrame(rows))
    table = cal.table.set_index("threshold")
    assert list(table.index) == [round(0.3 + 0.05 * i, 2) for i in range(14)]
    est = cal.pairs["estimated"]
    lowest_dup, highest_other = est[cal.pairs["duplicate"]].min(), est[~cal.pairs["duplicate"]].max()
    perfect = [t for t in table.index if highest_other < t <= lowest_dup]
    assert perfect and cal.threshold == max(perfect)  # F1 = 1 there; ties go to the higher threshold
    assert table.loc[cal.threshold, "f1"] == 1.0 and table.loc[0.3, "precision"] < 1.0
    assert cal.pairs["exact"].between(0, 1).all()


def test_calibration_names_a_bad_label():
    pairs = pd.DataFrame({"text_a": ["a b", "c d"], "text_b": ["a b", "c e"], "duplicate": ["true", "maybe"]})
    with pytest.raises(CalibrationInputError, match="'maybe' in row 2"):
        calibrate(pairs)
    with pytest.raises(CalibrationInputError, match="missing duplicate"):
        calibrate(pairs.drop(columns="duplicate"))


def test_calibration_needs_both_classes_and_says_when_nothing_separates_them():
    same = "the cat sat on the mat today and then it went to sleep for the rest of the day"
    only = pd.DataFrame({"text_a": [same, same], "text_b": [same, same + " again"], "duplicate": ["yes", "1"]})
    with pytest.raises(CalibrationInputError, match="expected both duplicate and non-duplicate pairs, got 2 pairs, "
                                                    "all labelled duplicate"):
        calibrate(only)
    unrelated = pd.DataFrame({"text_a": [same, same], "text_b": ["a dog ran in the park", "unrelated words"],
                              "duplicate": ["yes", "no"]})
    cal = calibrate(unrelated)
    assert cal.threshold is None and (cal.table["f1"] == 0).all()


def test_calibration_scores_a_pair_with_an_empty_side_zero():
    same = "the cat sat on the mat today and then it went to sleep for the rest of the day"
    pairs = pd.DataFrame({"text_a": ["", "", same], "text_b": ["", same, same], "duplicate": ["no", "no", "yes"]})
    cal = calibrate(pairs)
    assert cal.pairs["estimated"].tolist() == [0.0, 0.0, 1.0] and cal.pairs["exact"].tolist() == [0.0, 0.0, 1.0]
    assert (cal.table["fp"] == 0).all() and cal.threshold == 0.95


@pytest.mark.parametrize("content, message", [
    (b"", "got an empty file"),
    (b'text_a,text_b,duplicate\n"unterminated,x,1\n', "got a row it cannot read: .*EOF inside string"),
    (b"text_a,text_b,duplicate\n\xff\xfe,x,1\n", "got bytes that are not UTF-8"),
    (b"text_a,text_b,duplicate\na,b,1,extra\n", "got a row it cannot read"),
])
def test_an_unreadable_pairs_file_is_one_error_naming_it(tmp_path, content, message):
    (tmp_path / "pairs.csv").write_bytes(content)
    with pytest.raises(CalibrationInputError, match=f"pairs.csv: expected a UTF-8 CSV with columns text_a, text_b, "
                                                    f"duplicate, {message}"):
        read_pairs(tmp_path / "pairs.csv")


def test_find_near_duplicates_from_raw_text_both_measures():
    rng = np.random.default_rng(17)
    words = doc(rng, 80)
    texts = [" ".join(words), " ".join(edit(words, 1, rng)), " ".join(doc(rng, 300) + words[:70]),
             " ".join(doc(rng)), "", None]
    jac = find_near_duplicates(texts, threshold=0.8)
    assert jac.measure == "jaccard" and jac.cluster.tolist() == [0, 0, 2, 3, 4, 5]
    assert jac.match[1] == 0 and jac.similarity[1] == pytest.approx(jaccard(
        shingle_sets(texts), [0], shingle_sets(texts), [1])[0])
    con = find_near_duplicates(texts, threshold=0.8, measure="containment")
    assert con.measure == "containment" and con.cluster.tolist() == [0, 0, 0, 3, 4, 5]
    assert set(con.pairs["measure"]) == {"containment"}
    with pytest.raises(ValueError, match="expected measure"):
        find_near_duplicates(texts, measure="cosine")


def test_calibration_defaults_to_the_steps_normalisation():
    texts = [f"Hello, there! Order number {i} arrived late, sadly; the courier never called me back at all."
             for i in range(6)]
    pairs = pd.DataFrame({"text_a": texts + texts[:3],
                          "text_b": [t.replace(",", "").replace("!", "").replace(";", "") for t in texts] + texts[3:],
                          "duplicate": ["yes"] * 6 + ["no"] * 3})
    cal = calibrate(pairs)  # punctuation folded as the step does: the marked duplicates are identical
    assert cal.table.loc[cal.table["threshold"] == 0.95, "recall"].item() == 1.0
