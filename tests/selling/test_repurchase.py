"""recommend_repurchase and the Repurchase model: buy it again, when it is due."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import lognorm

import recsys
from recsys.exceptions import NotFittedError
from recsys.models.repurchase import DAY_SECONDS, Repurchase
from recsys.selling.repurchase import RepurchaseResult, recommend_repurchase, repurchase_reason

START = pd.Timestamp("2024-01-01")


def build(log: pd.DataFrame, **kwargs) -> recsys.Interactions:
    return recsys.Interactions.from_pandas(
        log, user_col="user", item_col="item", basket_col="order", time_col="time", **kwargs
    )


def shop_log(seed: int, n_users: int = 40, n_staples: int = 6, n_durables: int = 4) -> pd.DataFrame:
    """Customers re-buying staples on their own rhythm; durables bought once, early, by many."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        t = float(rng.uniform(0, 5))
        period = rng.uniform(4, 20, size=n_staples)
        due = rng.uniform(0, 10, size=n_staples)
        order = 0
        while t < 200:
            items = [f"staple{j}" for j in range(n_staples) if due[j] <= t]
            for j in range(n_staples):
                if due[j] <= t:
                    due[j] = t + period[j] * rng.lognormal(0, 0.3)
            if order == 0:
                items.append(f"durable{u % n_durables}")
            for item in items:
                rows.append((f"u{u}", item, f"u{u}o{order}", START + pd.Timedelta(t, "D")))
            order += 1
            t += rng.uniform(2, 9)
    return pd.DataFrame(rows, columns=["user", "item", "order", "time"])


@st.composite
def logs(draw: st.DrawFn) -> pd.DataFrame:
    """Random small purchase logs: orders of a few items at random days and hours."""
    n_orders = draw(st.integers(1, 40))
    n_users = draw(st.integers(1, 6))
    n_items = draw(st.integers(1, 6))
    rows = []
    for o in range(n_orders):
        user = draw(st.integers(0, n_users - 1))
        minutes = draw(st.integers(0, 60 * 24 * 60))
        items = draw(st.sets(st.integers(0, n_items - 1), min_size=1, max_size=3))
        for item in items:
            rows.append((f"u{user}", f"i{item}", f"o{o}", START + pd.Timedelta(minutes, "min")))
    return pd.DataFrame(rows, columns=["user", "item", "order", "time"])


# ------------------------------------------------------------------ reference
def reference_pairs(log: pd.DataFrame) -> dict[tuple[str, str], tuple[int, float, float, float]]:
    """Per (user, item), with plain loops: purchase days, last time, sums of log intervals."""
    out = {}
    times = log.groupby("order")["time"].min()
    for (user, item), group in log.groupby(["user", "item"]):
        stamps = sorted(times.loc[group["order"].unique()])
        seconds = [s.value / 1e9 for s in stamps]
        days = sorted({math.floor(s / DAY_SECONDS) for s in seconds})
        logs_ = [math.log(b - a) for a, b in zip(days, days[1:], strict=False)]
        out[(user, item)] = (len(days), max(seconds), sum(logs_), sum(x * x for x in logs_))
    return out


@settings(max_examples=30, deadline=None)
@given(log=logs())
def test_pair_statistics_match_a_loop(log: pd.DataFrame) -> None:
    model = Repurchase().fit(build(log))
    k_matrix, last, _, s1, s2 = model._pairs
    coo = k_matrix.tocoo()
    got = {
        (model.user_ids_.external_ids[r], model.item_ids_.external_ids[c]): (int(k), t, a, b)
        for r, c, k, t, a, b in zip(coo.row, coo.col, coo.data, last, s1, s2, strict=True)
    }
    want = reference_pairs(log)
    assert got.keys() == want.keys()
    for key, (k, t, a, b) in want.items():
        assert got[key][0] == k
        assert got[key][1] == pytest.approx(t, abs=1e-3)
        assert got[key][2] == pytest.approx(a, abs=1e-9)
        assert got[key][3] == pytest.approx(b, abs=1e-9)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    log=logs(),
    wait=st.floats(0, 90),
    n=st.integers(1, 8),
    horizon=st.one_of(st.none(), st.floats(0, 60)),
)
def test_recommendations_are_consistent_with_the_history(
    log: pd.DataFrame, wait: float, n: int, horizon: float | None
) -> None:
    model = Repurchase(repeat_prior=1.0).fit(build(log))
    users = model.user_ids_.external_ids
    at = pd.Timestamp(model.reference_time_) + pd.Timedelta(wait, "D")
    recs = recommend_repurchase(model, users, at=at, n=n, horizon=horizon)
    assert list(recs.columns) == [
        "user",
        "item",
        "score",
        "rank",
        "last_bought",
        "typical_interval_days",
        "due_in_days",
        "reason",
    ]
    bought = log.groupby(["user", "item"])["time"].max()
    order_time = log.groupby("order")["time"].min()
    line_time = log["order"].map(order_time)
    last_bought = log.assign(t=line_time).groupby(["user", "item"])["t"].max()
    for row in recs.itertuples(index=False):
        assert (row.user, row.item) in bought.index  # never an item the customer never bought
        assert row.last_bought <= at
        assert abs((row.last_bought - last_bought.loc[(row.user, row.item)]).total_seconds()) < 1
        expected_due = (row.last_bought - at).total_seconds() / DAY_SECONDS
        assert row.due_in_days == pytest.approx(expected_due + row.typical_interval_days)
        assert 0 < row.score <= 1 and row.typical_interval_days >= 1 - 1e-9
    for _, group in recs.groupby("user", sort=False):
        assert group["rank"].tolist() == list(range(1, len(group) + 1))
        assert len(group) <= n
        assert (np.diff(group["score"].to_numpy()) <= 0).all()
    # items nobody re-buys are never offered
    durable = set(model.item_ids_.external_ids[model.item_durable_])
    assert not recs["item"].isin(durable).any()
    # deterministic, and the same whatever the log's row order
    again = recommend_repurchase(
        Repurchase(repeat_prior=1.0).fit(build(log.sample(frac=1.0, random_state=1))),
        users,
        at=at,
        n=n,
        horizon=horizon,
    )
    pd.testing.assert_frame_equal(recs, again)
    # the batch is the single calls one after the other
    singles = [recommend_repurchase(model, u, at=at, n=n, horizon=horizon) for u in users]
    singles = [frame for frame in singles if len(frame)]  # (an empty frame's dtypes are object)
    if singles:
        pd.testing.assert_frame_equal(recs, pd.concat(singles, ignore_index=True))
    else:
        assert recs.empty


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_durables_bought_by_many_never_come_back(seed: int) -> None:
    log = shop_log(seed)
    model = Repurchase().fit(build(log))
    durables = [f"durable{j}" for j in range(4)]
    rows = model.item_ids_.to_rows(durables)
    assert model.item_durable_[rows].all()
    assert (model.item_repeat_probability_[rows] == 0).all()
    staples = model.item_ids_.to_rows([f"staple{j}" for j in range(6)])
    assert (model.item_repeat_probability_[staples] > 0.5).all()
    users = model.user_ids_.external_ids
    for at, horizon in [(None, None), ("2024-08-01", None), (None, 30.0)]:
        recs = recommend_repurchase(model, users, at=at, n=20, horizon=horizon)
        assert not recs["item"].isin(durables).any()
        assert recs["item"].str.startswith("staple").all()
    p = model.repeat_probability_rows(np.zeros(4, dtype=int), rows)
    assert (p == 0).all()


def test_a_durable_needs_evidence() -> None:
    """An item bought once by a handful of customers is not declared a durable yet."""
    log = shop_log(0, n_users=12, n_durables=12)  # each durable bought by one customer
    model = Repurchase(repeat_prior=10.0).fit(build(log))
    rows = model.item_ids_.to_rows([f"durable{j}" for j in range(12)])
    assert not model.item_durable_[rows].any()
    assert (model.item_repeat_probability_[rows] > 0).all()


def test_due_items_rank_first_and_the_probability_is_the_mixture_cure_hazard() -> None:
    """Tea (every ~7 days, due) ranks before soap (every ~30 days, bought 3 days ago)."""
    rows = []
    for u in range(30):
        for j, day in enumerate(range(0, 120, 7)):
            rows.append((f"u{u}", "tea", f"u{u}t{j}", START + pd.Timedelta(day + u % 3, "D")))
        for j, day in enumerate(range(0, 120, 30)):
            rows.append((f"u{u}", "soap", f"u{u}s{j}", START + pd.Timedelta(day + 4, "D")))
    log = pd.DataFrame(rows, columns=["user", "item", "order", "time"])
    model = Repurchase().fit(build(log))
    at = START + pd.Timedelta(127, "D")
    recs = recommend_repurchase(model, "u0", at=at, horizon=0)
    assert recs["item"].tolist() == ["tea", "soap"]
    assert recs["reason"].iloc[0] == "you buy it about every 7 days; last time 8 days ago"
    # the score is Q (F(s_end) - F(s_prev)) / (Q (1 - F(s_prev)) + 1 - Q), recomputed here
    scores = model.score_users(["u0"], at=at, horizon=0)
    tea = int(np.flatnonzero(model.item_ids_.to_external(scores.item_rows) == "tea")[0])
    item = scores.item_rows[tea]
    k = int(scores.purchases[tea])
    w = model.personal_prior_
    mu = math.log(scores.typical_interval_days[tea])
    sd = model._item_log_sd[item] * math.sqrt(1 + 1 / (w + k - 1))
    q = model._q[item, min(k, model.max_purchases) - 1]
    dist = lognorm(s=sd, scale=math.exp(mu))
    last_order = model._user_last_order[0]
    s_prev = (last_order - scores.last_bought[tea]) / DAY_SECONDS
    s_end = (at.value / 1e9 - scores.last_bought[tea]) / DAY_SECONDS
    f_prev = dist.cdf(s_prev) if s_prev > 0 else 0.0
    want = q * (dist.cdf(s_end) - f_prev) / (q * (1 - f_prev) + 1 - q)
    assert scores.probability[tea] == pytest.approx(want, rel=1e-9)


def test_shrinkage_towards_the_item_interval() -> None:
    """One interval of 40 days is pulled towards the item's typical 10; many are not."""
    rows = []
    for u in range(20):
        for j, day in enumerate(range(0, 200, 10)):
            rows.append((f"u{u}", "tea", f"u{u}o{j}", START + pd.Timedelta(day, "D")))
    rows += [("few", "tea", "f1", START), ("few", "tea", "f2", START + pd.Timedelta(40, "D"))]
    for j, day in enumerate(range(0, 200, 40)):
        rows.append(("many", "tea", f"m{j}", START + pd.Timedelta(day, "D")))
    model = Repurchase(personal_prior=2.0).fit(
        build(pd.DataFrame(rows, columns=list(["user", "item", "order", "time"])))
    )
    at = START + pd.Timedelta(200, "D")
    few = model.score_users(["few"], at=at).typical_interval_days[0]
    many = model.score_users(["many"], at=at).typical_interval_days[0]
    assert 10 < few < 25  # (2 log 10 + log 40) / 3
    assert few == pytest.approx(math.exp((2 * math.log(10) + math.log(40)) / 3), rel=0.05)
    assert 25 < many < 40


def test_result_arrays_and_save_load(tmp_path) -> None:
    log = shop_log(3)
    model = Repurchase().fit(build(log))
    users = model.user_ids_.external_ids[:5]
    result = recommend_repurchase(model, users, n=3, return_frame=False)
    assert isinstance(result, RepurchaseResult)
    pd.testing.assert_frame_equal(result.to_pandas(), recommend_repurchase(model, users, n=3))
    path = tmp_path / "r.npz"
    model.save(path)
    loaded = recsys.load(path)
    assert isinstance(loaded, Repurchase) and loaded.get_params() == model.get_params()
    pd.testing.assert_frame_equal(
        recommend_repurchase(loaded, users, n=5, at="2024-09-01"),
        recommend_repurchase(model, users, n=5, at="2024-09-01"),
    )
    assert Repurchase.load(path).reference_time_ == model.reference_time_
    np.testing.assert_array_equal(loaded.item_durable_, model.item_durable_)


def test_repeat_probability_rows_is_the_ranked_number() -> None:
    model = Repurchase().fit(build(shop_log(4)))
    scores = model.score_rows([0, 2])
    q_of = np.repeat([0, 2], np.diff(scores.indptr))
    got = model.repeat_probability_rows(q_of, scores.item_rows)
    np.testing.assert_allclose(got, scores.probability, rtol=1e-12)
    never = np.setdiff1d(np.arange(len(model.item_ids_)), scores.item_rows[q_of == 0])
    if never.size:
        assert (model.repeat_probability_rows(np.zeros(never.size, int), never) == 0).all()
    with pytest.raises(ValueError, match="pair up"):
        model.repeat_probability_rows([0, 1], [0])


def test_reason_sentences() -> None:
    assert repurchase_reason(1.2, 1.0) == "you buy it about every 1 day; last time 1 day ago"
    assert repurchase_reason(0.3, 3) == "you buy it about every 1 day; last time 3 days ago"


# ------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def fitted() -> Repurchase:
    return Repurchase().fit(build(shop_log(5)))


@pytest.mark.parametrize("user", ["nobody", 2**80, -(2**70), 1.5])
def test_unknown_users_are_a_key_error(fitted: Repurchase, user) -> None:
    with pytest.raises(KeyError, match="unknown user"):
        recommend_repurchase(fitted, user)
    with pytest.raises(KeyError, match="unknown user"):
        recommend_repurchase(fitted, ["u0", user])


def test_at_before_the_data_or_a_last_order(fitted: Repurchase) -> None:
    with pytest.raises(ValueError, match="before the last order of 40 customer"):
        recommend_repurchase(fitted, fitted.user_ids_.external_ids, at="2020-01-01")
    with pytest.raises(ValueError, match="before the last order of 1 customer"):
        recommend_repurchase(fitted, "u0", at=START + pd.Timedelta(100, "D"))
    with pytest.raises(ValueError, match="at must be a datetime"):
        recommend_repurchase(fitted, "u0", at="not a date")
    with pytest.raises(ValueError, match="one time or one per user"):
        recommend_repurchase(fitted, ["u0", "u1"], at=["2025-01-01"] * 3)
    with pytest.raises(ValueError, match="NaT"):
        recommend_repurchase(fitted, "u0", at=pd.NaT)


@pytest.mark.parametrize("horizon", [-1, np.nan, np.inf, "7", True])
def test_bad_horizon(fitted: Repurchase, horizon) -> None:
    with pytest.raises(ValueError, match="horizon"):
        recommend_repurchase(fitted, "u0", horizon=horizon)


def test_bad_n_model_and_unfitted(fitted: Repurchase) -> None:
    with pytest.raises(ValueError, match="positive"):
        recommend_repurchase(fitted, "u0", n=0)
    with pytest.raises(TypeError, match="n must be an int"):
        recommend_repurchase(fitted, "u0", n=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Repurchase"):
        recommend_repurchase(recsys.Popularity(), "u0")  # type: ignore[arg-type]
    with pytest.raises(NotFittedError):
        recommend_repurchase(Repurchase(), "u0")
    with pytest.raises(NotFittedError):
        Repurchase().save("/tmp/never.npz")


def test_interactions_without_times_or_orders() -> None:
    log = shop_log(6, n_users=3)
    with pytest.raises(ValueError, match="time_col"):
        Repurchase().fit(
            recsys.Interactions.from_pandas(
                log, user_col="user", item_col="item", basket_col="order"
            )
        )
    with pytest.raises(ValueError, match="basket_col"):
        Repurchase().fit(
            recsys.Interactions.from_pandas(log, user_col="user", item_col="item", time_col="time")
        )
    with pytest.raises(TypeError, match="Interactions"):
        Repurchase().fit(log)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "params",
    [
        {"repeat_prior": -1},
        {"repeat_prior": np.nan},
        {"interval_prior": "x"},
        {"personal_prior": 0},
        {"personal_prior": "manual"},
        {"max_purchases": 0},
        {"max_purchases": 2.0},
    ],
)
def test_bad_hyper_parameters(params) -> None:
    with pytest.raises(ValueError, match=next(iter(params))):
        Repurchase(**params).fit(build(shop_log(7, n_users=3)))


def test_changed_parameters_refuse_save(fitted: Repurchase, tmp_path) -> None:
    model = Repurchase().fit(build(shop_log(8, n_users=5)))
    model.set_params(repeat_prior=3.0)
    with pytest.raises(ValueError, match="changed since fit"):
        model.save(tmp_path / "x.npz")


def test_sklearn_clone_of_a_fitted_model() -> None:
    sklearn_base = pytest.importorskip("sklearn.base")
    data = build(shop_log(9, n_users=10))
    model = Repurchase(repeat_prior=3.0).fit(data)
    twin = sklearn_base.clone(model)
    assert not hasattr(twin, "item_ids_") and twin.get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        recommend_repurchase(twin, "u0")
    pd.testing.assert_frame_equal(
        recommend_repurchase(twin.fit(data), ["u0", "u1"]),
        recommend_repurchase(model, ["u0", "u1"]),
    )


def test_benchmark_smoke(capsys, tmp_path) -> None:
    """``python -m benchmarks repurchase --dataset synthetic`` runs and reports every method."""
    from benchmarks import repurchase as bench

    bench.main(["--dataset", "synthetic", "--markdown", str(tmp_path / "r.md")])
    out = capsys.readouterr().out
    for method in ("ours (at the order's time)", "P-TopFreq", "most recent", "TIFU-KNN"):
        assert method in out
    assert "| P-TopFreq |" in (tmp_path / "r.md").read_text()
