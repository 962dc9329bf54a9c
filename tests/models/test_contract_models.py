"""Every model runs the shared contract."""

from __future__ import annotations

from recsys import ALS, ItemItem, Popularity, Recommender
from recsys.models.ease import EASE
from tests.models.contract import RecommenderContract


class TestALS(RecommenderContract):
    def make_model(self) -> Recommender:
        return ALS(factors=8, iterations=4, random_state=0, num_threads=1)


class TestItemItemCosine(RecommenderContract):
    def make_model(self) -> Recommender:
        return ItemItem(similarity="cosine", k=10)


class TestItemItemLift(RecommenderContract):
    def make_model(self) -> Recommender:
        return ItemItem(similarity="lift", k=5, use_baskets=True)


class TestItemItemConfidence(RecommenderContract):
    def make_model(self) -> Recommender:
        return ItemItem(similarity="confidence", k=20, use_baskets=False, binary=False)


class TestItemItemDefaults(RecommenderContract):
    """The default: basket-completion probabilities with calibrated priors and repeats."""

    def make_model(self) -> Recommender:
        return ItemItem()

    def make_refit(self, updated: Recommender) -> Recommender:
        # partial_fit keeps the calibrated priors: a refit equals it with them fixed
        return ItemItem(basket_prior=updated.basket_prior_, repeat_prior=updated.repeat_prior_)


class TestItemItemFixedPriors(RecommenderContract):
    def make_model(self) -> Recommender:
        return ItemItem(k=10, basket_prior=5.0, repeat_prior=2.0)


class TestItemItemRP3beta(RecommenderContract):
    def make_model(self) -> Recommender:
        return ItemItem(similarity="rp3beta", k=10, alpha=0.8, beta=0.4)


class TestPopularity(RecommenderContract):
    def make_model(self) -> Recommender:
        return Popularity()


class TestSegmentPopularity(RecommenderContract):
    def make_model(self) -> Recommender:
        return Popularity(segment_col="country")


class TestEASEDense(RecommenderContract):
    """EASE with a fixed λ: the dense weights over the log's orders."""

    def make_model(self) -> Recommender:
        return EASE(l2=5.0, num_threads=1)


class TestEASEAuto(RecommenderContract):
    """EASE defaults: λ chosen on held-out orders."""

    def make_model(self) -> Recommender:
        return EASE()


class TestEASEUsers(RecommenderContract):
    def make_model(self) -> Recommender:
        return EASE(l2=20.0, rows="users", binary=False)


class TestEASESparse(RecommenderContract):
    """The sparse form (recsys.core.sparse_ease), scored through the same hooks."""

    def make_model(self) -> Recommender:
        return EASE(l2=5.0, density=0.1)
