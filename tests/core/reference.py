"""Plain NumPy / Python references of the top-n kernels, and random inputs for them.

Shared by the tests of :mod:`recsys.core`: every kernel is checked against
one of these references on random (hypothesis) inputs.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from recsys.core.constraints import Constraints

#: Hypothesis settings of the kernel-vs-reference tests.
SETTINGS = settings(max_examples=150, deadline=None)
#: For the slower constrained references.
CONSTRAINED_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# ---------------------------------------------------------------------------
# plain top-n: exclusions and one allowed mask
# ---------------------------------------------------------------------------


def eligible_mask(
    n_items: int,
    q: int,
    ex_indptr: np.ndarray | None,
    ex_indices: np.ndarray | None,
    allowed: np.ndarray | None,
) -> np.ndarray:
    keep = np.ones(n_items, dtype=bool) if allowed is None else allowed.copy()
    if ex_indptr is not None:
        keep[ex_indices[ex_indptr[q] : ex_indptr[q + 1]]] = False
    return keep


def reference_topn(
    scores: np.ndarray,
    n: int,
    ex_indptr: np.ndarray | None = None,
    ex_indices: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: drop ineligible items, lexsort by (-score, id), take n, pad."""
    n_queries, n_items = scores.shape
    ids = np.full((n_queries, n), -1, dtype=np.int32)
    out = np.full((n_queries, n), -np.inf, dtype=np.float32)
    for q in range(n_queries):
        keep = eligible_mask(n_items, q, ex_indptr, ex_indices, allowed) & ~np.isnan(scores[q])
        cand = np.flatnonzero(keep)
        s = scores[q, cand]
        o = np.lexsort((cand, -s))[:n]
        ids[q, : len(o)] = cand[o]
        out[q, : len(o)] = s[o]
    return ids, out


def random_exclusions(
    rng: np.random.Generator, n_queries: int, n_items: int, max_per_row: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """CSR of excluded ids: empty rows, duplicates and all-excluded rows included."""
    rows = []
    for _ in range(n_queries):
        kind = rng.integers(0, 5)
        if kind == 0 or n_items == 0:
            rows.append(np.empty(0, dtype=np.int32))
        elif kind == 1:
            rows.append(rng.permutation(n_items).astype(np.int32))  # everything excluded
        else:
            rows.append(rng.integers(0, n_items, rng.integers(0, max_per_row + 1)).astype(np.int32))
    indptr = np.zeros(n_queries + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.concatenate(rows) if rows else np.empty(0, dtype=np.int32)
    return indptr, indices.astype(np.int32)


def random_allowed(rng: np.random.Generator, n_items: int) -> np.ndarray | None:
    kind = rng.integers(0, 3)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random(n_items) < 0.7
    return np.zeros(n_items, dtype=bool)  # nothing allowed


def assert_same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    ids, scores = got
    assert ids.dtype == np.int32 and scores.dtype == np.float32
    np.testing.assert_array_equal(ids, want[0])
    np.testing.assert_array_equal(scores, want[1])


def integer_factors(rng: np.random.Generator, n_items: int, f: int, power_law: bool) -> np.ndarray:
    """Small integer factors: every dot product is exact in float32, ties abound."""
    x = rng.integers(-3, 4, (n_items, f)).astype(np.float32)
    if power_law:
        scale = np.maximum(1, np.round(300.0 / np.arange(1, n_items + 1) ** 1.2))
        x *= rng.permutation(scale)[:, None]
    return x


# ---------------------------------------------------------------------------
# neighbour sums with a fill order
# ---------------------------------------------------------------------------


def random_csr(
    rng: np.random.Generator, n_rows: int, n_cols: int, max_per_row: int, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = rng.integers(0, max_per_row + 1, n_rows) if n_cols else np.zeros(n_rows, int)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(counts)
    indices = rng.integers(0, max(n_cols, 1), indptr[-1]).astype(np.int32)
    data = rng.choice(values, indptr[-1]).astype(np.float32)
    return indptr, indices, data


def csr_dense(indptr, indices, data, n_cols):
    out = np.zeros((len(indptr) - 1, n_cols))
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    np.add.at(out, (rows, indices), data.astype(np.float64))
    return out


def reference_neighbour(query, sim, n_items, n, ex_ip, ex_ix, allowed, fill_order):
    scores = csr_dense(*query, n_items) @ csr_dense(*sim, n_items)
    n_queries = scores.shape[0]
    ids = np.full((n_queries, n), -1, dtype=np.int32)
    out = np.full((n_queries, n), -np.inf, dtype=np.float32)
    for q in range(n_queries):
        keep = eligible_mask(n_items, q, ex_ip, ex_ix, allowed)
        cand = np.flatnonzero(keep & (scores[q] > 0))
        s = scores[q, cand]
        chosen = cand[np.lexsort((cand, -s))[:n]].tolist()
        row_scores = scores[q, chosen].tolist()
        if fill_order is not None:
            for j in fill_order.tolist():
                if len(chosen) == n:
                    break
                if keep[j] and j not in chosen:
                    chosen.append(j)
                    row_scores.append(0.0)
        ids[q, : len(chosen)] = chosen
        out[q, : len(chosen)] = row_scores
    return ids, out


# dyadic values: every sum below is exact in float32 and float64
SIM_VALUES = np.array([-1.0, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 2.0])
WEIGHT_VALUES = np.array([-0.5, 0.5, 1.0, 1.5, 3.0])


# ---------------------------------------------------------------------------
# constrained selection: masks per query, group caps, fills
# ---------------------------------------------------------------------------


def reference_select(cands, n, excluded, allowed_row, group_of, cap, fill, fill_scores):
    """cands: list of (item, score, payload).  Returns (ids, scores, payloads)."""
    ok = [
        (i, s, p)
        for i, s, p in cands
        if not np.isnan(s) and i not in excluded and (allowed_row is None or allowed_row[i])
    ]
    ok.sort(key=lambda t: (-t[1], t[0]))
    taken: list[tuple[int, float, int]] = []
    seen: set[int] = set()
    counts: dict[int, int] = {}

    def room(i: int) -> bool:
        if group_of is None or group_of[i] < 0:
            return True
        return counts.get(group_of[i], 0) < cap

    for i, s, p in ok:
        if len(taken) == n:
            break
        if i in seen or not room(i):
            continue
        if group_of is not None and group_of[i] >= 0:
            counts[group_of[i]] = counts.get(group_of[i], 0) + 1
        seen.add(i)
        taken.append((i, s, p))
    if fill is not None:
        for i, s in zip(fill, fill_scores, strict=True):
            if len(taken) == n:
                break
            if (
                i < 0
                or i in seen
                or i in excluded
                or (allowed_row is not None and not allowed_row[i])
                or not room(i)
            ):
                continue
            if group_of is not None and group_of[i] >= 0:
                counts[group_of[i]] = counts.get(group_of[i], 0) + 1
            seen.add(i)
            taken.append((i, s, -1))
    ids = [t[0] for t in taken] + [-1] * (n - len(taken))
    scores = [t[1] for t in taken] + [-np.inf] * (n - len(taken))
    pay = [t[2] for t in taken] + [-1] * (n - len(taken))
    return ids, scores, pay


@st.composite
def problems(draw, max_items: int = 12, max_queries: int = 7):
    n_items = draw(st.integers(1, max_items))
    n_queries = draw(st.integers(1, max_queries))
    n = draw(st.integers(1, n_items + 2))
    item = st.integers(0, n_items - 1)
    excl = [sorted(set(draw(st.lists(item, max_size=4)))) for _ in range(n_queries)]
    n_masks = draw(st.integers(0, 2))
    masks = np.array(
        [
            [draw(st.booleans()) or draw(st.booleans()) for _ in range(n_items)]
            for _ in range(n_masks)
        ],
        dtype=bool,
    ).reshape(n_masks, n_items)
    mask_of_q = [draw(st.integers(0, n_masks - 1)) for _ in range(n_queries)] if n_masks else None
    use_groups = draw(st.booleans())
    group_of = [draw(st.integers(-1, 3)) for _ in range(n_items)] if use_groups else None
    cap = draw(st.integers(1, 3)) if use_groups else None
    n_fills = draw(st.integers(0, 2))
    fills = [draw(st.permutations(range(n_items))) for _ in range(n_fills)]
    fill_of_q = [draw(st.integers(-1, n_fills - 1)) for _ in range(n_queries)] if n_fills else None
    return dict(
        n_items=n_items,
        n_queries=n_queries,
        n=n,
        excl=excl,
        masks=masks,
        mask_of_q=mask_of_q,
        group_of=group_of,
        cap=cap,
        fills=fills,
        fill_of_q=fill_of_q,
    )


def make_constraints(p):
    indptr = np.cumsum([0] + [len(e) for e in p["excl"]])
    indices = np.array([i for e in p["excl"] for i in e], dtype=np.int64)
    fill = fill_sc = None
    if p["fills"]:
        fill = np.array(p["fills"], dtype=np.int64)
        fill_sc = -np.arange(fill.size, dtype=np.float32).reshape(fill.shape) / 8
    return Constraints.make(
        p["n_queries"],
        p["n_items"],
        exclude_indptr=indptr,
        exclude_indices=indices,
        item_allowed=p["masks"] if len(p["masks"]) else None,
        allowed_of_query=p["mask_of_q"],
        group_of=p["group_of"],
        max_per_group=p["cap"],
        fill_order=fill,
        fill_scores=fill_sc,
        fill_of_query=p["fill_of_q"],
    ), fill_sc


def query_context(p, q, fill_sc):
    allowed_row = p["masks"][p["mask_of_q"][q]] if len(p["masks"]) else None
    fill = fills = None
    if p["fills"] and p["fill_of_q"][q] >= 0:
        fill = p["fills"][p["fill_of_q"][q]]
        fills = fill_sc[p["fill_of_q"][q]].tolist()
    return set(p["excl"][q]), allowed_row, fill, fills


score_values = st.integers(-8, 8).map(lambda v: v / 4.0)


def reference_neighbours(q_items, q_weights, q_explain, sim_indptr, sim_indices, sim_data, n_items):
    acc = np.zeros(n_items, dtype=np.float32)
    touched: list[int] = []
    best: dict[int, tuple[np.float32, int]] = {}
    for i, w, ex in zip(q_items, q_weights, q_explain, strict=True):
        for r in range(sim_indptr[i], sim_indptr[i + 1]):
            j = int(sim_indices[r])
            if j not in touched:
                touched.append(j)
            contribution = np.float32(np.float32(w) * sim_data[r])
            acc[j] = np.float32(acc[j] + contribution)
            if ex and (j not in best or contribution > best[j][0]):
                best[j] = (contribution, r)
    return [(j, acc[j], best.get(j, (0, -1))[1]) for j in touched if acc[j] > 0]


@st.composite
def similarity(draw, n_items: int):
    rows = []
    for a in range(n_items):
        others = [b for b in range(n_items) if b != a]
        nbrs = draw(st.lists(st.sampled_from(others), unique=True, max_size=4)) if others else []
        rows.append([(b, draw(st.integers(-2, 8).map(lambda v: v / 4.0))) for b in nbrs])
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([b for r in rows for b, _ in r], dtype=np.int32)
    data = np.array([s for r in rows for _, s in r], dtype=np.float32)
    return indptr, indices, data


def assert_selected_like_reference(ids, scores, pos, candidates, p, fill_sc) -> None:
    """Every query's kernel output equals the reference selection from its reference candidates."""
    for q, cands in enumerate(candidates):
        excluded, allowed_row, fill, fills = query_context(p, q, fill_sc)
        ref_ids, ref_scores, ref_pos = reference_select(
            cands, p["n"], excluded, allowed_row, p["group_of"], p["cap"], fill, fills
        )
        assert ids[q].tolist() == ref_ids
        np.testing.assert_array_equal(scores[q], np.array(ref_scores, dtype=np.float32))
        assert pos[q].tolist() == ref_pos


def reference_noisy_or(q_items, q_weights, q_explain, q_direct, sim_indptr, sim_indices, sim_data):
    """``combine="noisy_or"``: max of weight * sim over neighbour entries, noisy-or with direct."""
    best_nb: dict[int, np.float32] = {}
    direct: dict[int, np.float32] = {}
    best: dict[int, tuple[np.float32, int]] = {}
    touched: list[int] = []
    for i, w, ex, d in zip(q_items, q_weights, q_explain, q_direct, strict=True):
        if d:
            i = int(i)
            if i not in touched:
                touched.append(i)
            old = direct.get(i, np.float32(0))
            direct[i] = np.float32(
                np.float32(old + np.float32(w)) - np.float32(old * np.float32(w))
            )
            continue
        for r in range(sim_indptr[i], sim_indptr[i + 1]):
            j = int(sim_indices[r])
            if j not in touched:
                touched.append(j)
            contribution = np.float32(np.float32(w) * sim_data[r])
            best_nb[j] = max(best_nb.get(j, np.float32(0)), contribution)
            if ex and (j not in best or contribution > best[j][0]):
                best[j] = (contribution, r)
    out = []
    for j in touched:
        b, d = best_nb.get(j, np.float32(0)), direct.get(j, np.float32(0))
        score = np.float32(np.float32(b + d) - np.float32(b * d))
        if score > 0:
            out.append((j, score, best.get(j, (0, -1))[1]))
    return out
