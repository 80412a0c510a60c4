"""Fast word + character n-gram TF-IDF features, vectorised with NumPy.

Contacts are short texts; scikit-learn's ``TfidfVectorizer`` spends most of its time in a
Python loop over every character n-gram. ``NgramTfidf`` computes the same kind of features —
word 1..k-grams and character n-grams inside word boundaries (like ``char_wb``, which suits
Dutch compounds: "bezorgtijd", "pakketdienst") — with rolling 64-bit hashes over the whole
batch at once, and keeps a learned vocabulary (no hashing collisions that matter: 64 bits).

Each block (words, characters) gets sublinear tf (1 + log tf), smoothed idf and its own L2
norm, as a ``FeatureUnion`` of two ``TfidfVectorizer`` would.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

from klantreis.contacts.lexicon import WordAnalyzer
from klantreis.contacts.text import normalise_many

__all__ = ["NgramTfidf"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SEP = 1  # code point separating documents in the batch buffer
_SPACE = 32
_MULT = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_CHUNK = 20_000


def _char_hashes(docs: Sequence[str], lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """(doc index, 64-bit hash) of every character n-gram, lo <= n <= hi, within words."""
    buf = "\x01".join(" " + d + " " for d in docs) + "\x01"
    codes = np.frombuffer(buf.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    is_sep = codes == _SEP
    doc_of = np.cumsum(is_sep) - is_sep  # document index of each position
    sep_cum = np.concatenate(([0], np.cumsum(is_sep)))
    space_cum = np.concatenate(([0], np.cumsum(codes == _SPACE)))
    docs_out, hashes_out = [], []
    h = np.zeros(len(codes), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for n in range(1, hi + 1):
            m = len(codes) - n + 1
            if m <= 0:
                break
            h = h[:m] * _MULT + codes[n - 1 : n - 1 + m] + np.uint64(n)
            if n < lo:
                continue
            start = np.arange(m)
            ok = sep_cum[start + n] == sep_cum[start]
            if n > 2:  # no space inside the n-gram (it may start or end with one)
                ok &= space_cum[start + n - 1] == space_cum[start + 1]
            if n == 1:
                ok &= codes[:m] != _SPACE
            docs_out.append(doc_of[:m][ok])
            hashes_out.append(h[ok] ^ (np.uint64(n) << np.uint64(56)))
    return np.concatenate(docs_out), np.concatenate(hashes_out)


def _char_block_compiled(
    docs: Sequence[str], lo: int, hi: int, vocab: np.ndarray, idf: np.ndarray, sublinear: bool
) -> sp.csr_matrix:
    """``_tfidf_block`` of ``_char_hashes`` in one compiled pass over each document: the
    same n-grams, keys, columns and weights (the norm sums in another order: equal to
    float64 rounding), without the whole batch's arrays of hashes."""
    from klantreis.contacts.network import compiled

    keys, slots = _table(vocab)
    buf = "\x01".join(" " + d + " " for d in docs) + "\x01"
    codes = np.frombuffer(buf.encode("utf-32-le"), dtype=np.uint32)
    most = max(hi - lo + 1, 0) * len(codes)
    indptr = np.zeros(len(docs) + 1, dtype=np.int32)
    indices = np.empty(most, dtype=np.int32)
    data = np.empty(most, dtype=np.float64)
    used = compiled(_char_rows)(
        codes, lo, hi, keys, slots, _shift(len(keys)), idf, sublinear, indptr, indices, data
    )
    return sp.csr_matrix(
        (data[:used], indices[:used], indptr), shape=(len(docs), len(idf)), copy=False
    )


@functools.lru_cache(maxsize=4)
def _table_of(vocab: bytes) -> tuple[np.ndarray, np.ndarray]:
    keys = np.frombuffer(vocab, dtype=np.uint64)
    size = 1 << max(4, int(2 * len(keys) - 1).bit_length())  # at most half full
    table_keys = np.zeros(size, dtype=np.uint64)
    table_cols = np.full(size, -1, dtype=np.int64)
    with np.errstate(over="ignore"):
        slot = (keys * _MIX) >> _shift(size)
    for col, (key, at) in enumerate(zip(keys.tolist(), slot.tolist(), strict=True)):
        while table_cols[at] >= 0:  # linear probing
            at = (at + 1) & (size - 1)
        table_keys[at], table_cols[at] = key, col
    return table_keys, table_cols


def _shift(size: int) -> np.uint64:
    """The right shift that turns a mixed 64-bit key into a slot of a table of ``size``
    (a power of two)."""
    return np.uint64(65 - size.bit_length())


def _table(vocab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An open-addressing hash table of a sorted vocabulary (keys, column or -1 per slot):
    one probe per n-gram instead of a binary search. Built once per vocabulary."""
    return _table_of(np.ascontiguousarray(vocab, dtype=np.uint64).tobytes())


def _char_rows(
    codes: np.ndarray,
    lo: int,
    hi: int,
    table_keys: np.ndarray,
    table_cols: np.ndarray,
    shift: np.uint64,
    idf: np.ndarray,
    sublinear: bool,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
) -> int:
    """The rows of the character block (compiled by numba; see ``_char_block_compiled``):
    returns the number of entries written."""
    mult, mix, mask = (
        np.uint64(0x100000001B3),
        np.uint64(0x9E3779B97F4A7C15),
        table_keys.shape[0] - 1,
    )
    used, doc, first = 0, 0, 0
    cols = np.empty(codes.shape[0] * max(hi - lo + 1, 0), dtype=np.int64)
    for end in range(codes.shape[0]):
        if codes[end] != _SEP:
            continue
        found = 0
        for i in range(first, end):
            h = np.uint64(0)
            for n in range(1, min(hi, end - i) + 1):
                code = np.uint64(codes[i + n - 1])
                if n > 2 and codes[i + n - 2] == _SPACE:
                    break  # a space inside: this n-gram and every longer one are out
                h = h * mult + code + np.uint64(n)
                if n < lo or (n == 1 and code == _SPACE):
                    continue
                key = h ^ (np.uint64(n) << np.uint64(56))
                at = np.int64((key * mix) >> shift)
                while table_cols[at] >= 0 and table_keys[at] != key:
                    at = (at + 1) & mask
                if table_cols[at] >= 0:
                    cols[found] = table_cols[at]
                    found += 1
        row = np.sort(cols[:found])
        start, total = used, 0.0
        k = 0
        while k < found:
            count = 1
            while k + count < found and row[k + count] == row[k]:
                count += 1
            tf = 1.0 + np.log(count) if sublinear else float(count)
            value = tf * idf[row[k]]
            indices[used] = row[k]
            data[used] = value
            total += value * value
            used += 1
            k += count
        norm = np.sqrt(total) if total > 0 else 1.0
        for p in range(start, used):
            data[p] /= norm
        doc += 1
        indptr[doc] = used
        first = end + 1
    return used


def _token_ids(
    docs: Sequence[str],
    vocab: dict[str, int],
    grow: bool,
    analyzer: WordAnalyzer | None = None,
    id_cache: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (0 = unknown) of all documents in a row, and the document of each."""
    lists = [_TOKEN.findall(doc) for doc in docs]
    if analyzer is not None:
        if not grow and id_cache is not None:
            return _analysed_ids(lists, vocab, analyzer, id_cache)
        lists = [analyzer.expand(tokens) for tokens in lists]
    lengths = np.fromiter((len(t) for t in lists), dtype=np.int64, count=len(lists))
    flat = [t for toks in lists for t in toks]
    if grow:
        ids_list = [vocab.setdefault(t, len(vocab) + 1) for t in flat]
    else:
        get = vocab.get
        ids_list = [get(t, 0) for t in flat]
    return (np.asarray(ids_list, dtype=np.int64), np.repeat(np.arange(len(docs)), lengths))


def _analysed_ids(
    lists: list[list[str]],
    vocab: dict[str, int],
    analyzer: WordAnalyzer,
    cache: dict[str, tuple[tuple[int, ...], tuple[int, ...]]],
) -> tuple[np.ndarray, np.ndarray]:
    """As ``analyzer.expand`` then a vocabulary look-up, but with the ids of each distinct
    token cached: one dict look-up per token at prediction time."""
    get = cache.get
    firsts = analyzer.phrases.keys()

    def look(token: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        stems, concepts = analyzer.word(token)
        hit = (tuple(vocab.get(w, 0) for w in stems), tuple(vocab.get(c, 0) for c in concepts))
        cache[token] = hit
        return hit

    flat: list[int] = []
    lengths = np.zeros(len(lists), dtype=np.int64)
    for k, tokens in enumerate(lists):
        hits = [get(t) or look(t) for t in tokens]
        ids = [i for h in hits for i in h[0]]
        ids += [i for h in hits for i in h[1]]
        if not firsts.isdisjoint(tokens):
            ids += [vocab.get(c, 0) for c in analyzer.phrase_concepts(tokens)]
        flat += ids
        lengths[k] = len(ids)
    return np.asarray(flat, dtype=np.int64), np.repeat(np.arange(len(lists)), lengths)


def _word_keys(
    ids_i: np.ndarray, doc_of: np.ndarray, grow: bool, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(doc index, key) of word 1..k-grams; a key mixes the token ids of the n-gram."""
    ids = ids_i.astype(np.uint64)
    rows_out, keys_out = [], []
    key = np.zeros(len(ids), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for n in range(1, k + 1):
            m = len(ids) - n + 1
            if m <= 0:
                break
            key = key[:m] * _MULT + ids[n - 1 : n - 1 + m]
            ok = doc_of[:m] == doc_of[n - 1 : n - 1 + m]
            known = np.ones(m, bool) if grow else ids[:m] > 0
            for j in range(1, n):  # unknown tokens make unknown n-grams
                known &= grow or ids[j : j + m] > 0
            ok &= known
            rows_out.append(doc_of[:m][ok])
            keys_out.append(key[ok] ^ (np.uint64(n) << np.uint64(60)))
    if not rows_out:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    return np.concatenate(rows_out), np.concatenate(keys_out)


def _columns(vocab: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Column of every key in the sorted vocabulary, -1 when unknown (a binary search:
    faster than a NumPy hash table here)."""
    if not len(vocab):
        return np.full(len(keys), -1, dtype=np.int64)
    pos = np.searchsorted(vocab, keys)
    pos[pos == len(vocab)] = 0
    return np.where(vocab[pos] == keys, pos, -1)


def _tfidf_block(
    rows: np.ndarray,
    keys: np.ndarray,
    n_docs: int,
    vocab: np.ndarray,
    idf: np.ndarray,
    sublinear: bool,
) -> sp.csr_matrix:
    cols = _columns(vocab, keys)
    known = cols >= 0
    m = sp.csr_matrix(
        (np.ones(int(known.sum())), (rows[known], cols[known])), shape=(n_docs, len(idf))
    )
    m.sum_duplicates()
    if sublinear:
        np.log(m.data, out=m.data)
        m.data += 1.0
    m.data *= idf[m.indices]
    row_of = np.repeat(np.arange(n_docs), np.diff(m.indptr))
    norms = np.sqrt(np.bincount(row_of, weights=m.data**2, minlength=n_docs))
    norms[norms == 0] = 1.0
    m.data /= norms[row_of]
    return m


def _vocab_and_idf(
    rows: np.ndarray, keys: np.ndarray, n_docs: int, min_df: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted known keys and their smoothed idf; a key's df counts distinct documents."""
    with np.errstate(over="ignore"):
        pair = keys * _MIX + rows.astype(np.uint64)
    _, first = np.unique(pair, return_index=True)
    uniq, df = np.unique(keys[first], return_counts=True)
    keep = df >= min_df
    idf = np.log((1 + n_docs) / (1 + df[keep])) + 1.0
    return uniq[keep], idf


class NgramTfidf:
    """Word (1..word_max) and char_wb (char_min..char_max) n-gram TF-IDF, fit on texts."""

    def __init__(
        self,
        word_max: int = 2,
        char_min: int = 2,
        char_max: int = 5,
        min_df: int = 1,
        sublinear_tf: bool = True,
        embed_dims: int = 0,
        embed_weight: float = 1.0,
        analyzer: WordAnalyzer | None = None,
    ) -> None:
        self.word_max = word_max
        self.analyzer = analyzer
        self._id_cache: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.embed_dims = embed_dims
        self.embed_weight = embed_weight
        self.embedding_ = np.zeros((0, 0), dtype=np.float32)
        self.char_min = char_min
        self.char_max = char_max
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.tokens_: dict[str, int] = {}
        self.word_vocab_ = np.zeros(0, np.uint64)
        self.word_idf_ = np.zeros(0)
        self.char_vocab_ = np.zeros(0, np.uint64)
        self.char_idf_ = np.zeros(0)

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_id_cache": {}}

    def __setstate__(self, state: dict[str, object]) -> None:
        state.pop("_indexes", None)  # hash tables of models saved by older versions
        state.setdefault("analyzer", None)  # models saved before word analysis existed
        state["_id_cache"] = {}
        self.__dict__.update(state)

    @property
    def n_features(self) -> int:
        return len(self.word_vocab_) + len(self.char_vocab_) + self.embedding_.shape[1]

    def fit(self, texts: Iterable[str | None]) -> NgramTfidf:
        self._fit(normalise_many(list(texts)))
        return self

    def _fit(self, docs: list[str]) -> tuple[np.ndarray, ...]:
        """Learn the vocabularies, idf and word vectors; return the keys of the training
        documents so that ``fit_transform`` need not compute them again."""
        self.tokens_ = {}
        self._id_cache = {}
        ids, doc_of = _token_ids(docs, self.tokens_, True, self.analyzer)
        n_tokens = len(self.tokens_) + 1
        self.embedding_ = np.zeros((n_tokens, 0), dtype=np.float32)
        with ThreadPoolExecutor(1, thread_name_prefix="klantreis-vectors") as pool:
            # the word vectors (a sparse SVD: NumPy and SciPy release the GIL) are learnt
            # while this thread computes the n-grams
            vectors = (
                pool.submit(word_vectors, ids, doc_of, n_tokens, self.embed_dims)
                if self.embed_dims > 0
                else None
            )
            wr, wk = _word_keys(ids, doc_of, True, self.word_max)
            self.word_vocab_, self.word_idf_ = _vocab_and_idf(wr, wk, len(docs), self.min_df)
            cr, ck = _char_hashes(docs, self.char_min, self.char_max)
            self.char_vocab_, self.char_idf_ = _vocab_and_idf(cr, ck, len(docs), self.min_df)
            if vectors is not None:
                self.embedding_ = vectors.result()
        return ids, doc_of, wr, wk, cr, ck

    def transform(self, texts: Iterable[str | None]) -> sp.csr_matrix:
        """One sparse matrix: word block, character block, word-vector block."""
        return sp.csr_matrix(
            sp.hstack([b for b in self.transform_blocks(texts) if b.shape[1]], format="csr")
        )

    def transform_blocks(
        self, texts: Iterable[str | None], compiled: bool = False
    ) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
        """The word and character blocks (sparse) and the word-vector block (dense) apart:
        a linear model multiplies each with its part of the weights, no stacking needed.
        ``compiled`` builds the character block with a compiled kernel (numba: faster on big
        batches, equal up to float64 rounding; the first call in a process loads it)."""
        docs = normalise_many(list(texts))
        parts = [
            self._transform_chunk(docs[i : i + _CHUNK], compiled)
            for i in range(0, len(docs), _CHUNK)
        ]
        if not parts:
            return (
                sp.csr_matrix((0, len(self.word_vocab_))),
                sp.csr_matrix((0, len(self.char_vocab_))),
                np.zeros((0, self.embedding_.shape[1])),
            )
        if len(parts) == 1:  # one chunk: no copies
            return parts[0]
        return (
            sp.csr_matrix(sp.vstack([p[0] for p in parts], format="csr")),
            sp.csr_matrix(sp.vstack([p[1] for p in parts], format="csr")),
            np.vstack([p[2] for p in parts]),
        )

    def fit_transform(self, texts: Iterable[str | None]) -> sp.csr_matrix:
        """``fit(texts).transform(texts)``, computing the n-grams of the texts once (every
        training token is in the vocabulary, so the keys of the fit are the transform's)."""
        docs = normalise_many(list(texts))
        ids, doc_of, wr, wk, cr, ck = self._fit(docs)
        n = len(docs)
        words = _tfidf_block(wr, wk, n, self.word_vocab_, self.word_idf_, self.sublinear_tf)
        chars = _tfidf_block(cr, ck, n, self.char_vocab_, self.char_idf_, self.sublinear_tf)
        blocks: list[Any] = [words, chars]
        if self.embedding_.shape[1]:
            blocks.append(self._embed(ids, doc_of, n))
        return sp.csr_matrix(sp.hstack([b for b in blocks if b.shape[1]], format="csr"))

    def _transform_chunk(
        self, docs: list[str], compiled: bool = False
    ) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
        ids, doc_of = _token_ids(docs, self.tokens_, False, self.analyzer, self._id_cache)
        wr, wk = _word_keys(ids, doc_of, False, self.word_max)
        words = _tfidf_block(wr, wk, len(docs), self.word_vocab_, self.word_idf_, self.sublinear_tf)
        if compiled:
            chars = _char_block_compiled(
                docs,
                self.char_min,
                self.char_max,
                self.char_vocab_,
                self.char_idf_,
                self.sublinear_tf,
            )
        else:
            cr, ck = _char_hashes(docs, self.char_min, self.char_max)
            chars = _tfidf_block(
                cr, ck, len(docs), self.char_vocab_, self.char_idf_, self.sublinear_tf
            )
        dense = (
            self._embed(ids, doc_of, len(docs))
            if self.embedding_.shape[1]
            else np.zeros((len(docs), 0))
        )
        return words, chars, dense

    def _embed(self, ids: np.ndarray, doc_of: np.ndarray, n_docs: int) -> np.ndarray:
        """Mean word vector of each document (unknown words skipped), L2-normalised."""
        known = ids > 0
        counts = sp.csr_matrix(
            (np.ones(int(known.sum())), (doc_of[known], ids[known])),
            shape=(n_docs, self.embedding_.shape[0]),
        )
        dense = np.asarray(counts @ self.embedding_, dtype=np.float64)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return np.asarray(self.embed_weight * dense / norms)


def word_vectors(
    ids: np.ndarray, doc_of: np.ndarray, n_tokens: int, dims: int, window: int = 4
) -> np.ndarray:
    """Word vectors from the training texts themselves: positive PMI of co-occurrence within
    ``window`` words (context counts smoothed with power 0.75), reduced by a truncated SVD.
    Row 0 (unknown words) is zero. Nothing is downloaded."""
    from sklearn.utils.extmath import randomized_svd

    if n_tokens < 8 or len(ids) < 2:  # too little text to learn anything
        return np.zeros((n_tokens, 0), dtype=np.float32)
    rows, cols = [], []
    for k in range(1, window + 1):
        same = doc_of[:-k] == doc_of[k:]
        a, b = ids[:-k][same], ids[k:][same]
        rows += [a, b]
        cols += [b, a]
    r, c = np.concatenate(rows), np.concatenate(cols)
    counts = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_tokens, n_tokens)).tocoo()
    total = counts.sum()
    row_sum = np.asarray(counts.sum(axis=1)).ravel()
    ctx = np.asarray(counts.sum(axis=0)).ravel() ** 0.75
    ctx = ctx / max(ctx.sum(), 1e-12) * total
    with np.errstate(divide="ignore"):
        pmi = np.log(counts.data * total / (row_sum[counts.row] * ctx[counts.col]))
    keep = (pmi > 0) & (counts.row > 0) & (counts.col > 0)
    ppmi = sp.csr_matrix(
        (pmi[keep], (counts.row[keep], counts.col[keep])), shape=(n_tokens, n_tokens)
    )
    k = max(1, min(dims, n_tokens - 2))
    u, s, _ = randomized_svd(ppmi, n_components=k, random_state=0)
    vectors = u * np.sqrt(s)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    vectors = vectors / norms
    vectors[0] = 0.0
    return np.asarray(vectors, dtype=np.float32)
