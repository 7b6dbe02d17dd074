"""A seeded generator of a realistic e-commerce impression/click/purchase log.

Why synthetic: the pipeline needs a data set whose *true* click probabilities are known, so a
trained model can be judged against both a popularity baseline and the oracle, at any scale
(10M+ events) and with no download. The log imitates a production system's impressions: a
"request" shows a slate of ``impressions_per_request`` items to one user at one instant; each
shown item is one event (``label`` = click, ``purchase`` = bought after the click).

Hidden world (``World.build``; every draw from ``np.random.default_rng(seed)``):
  users  age 18-75, gender F/M (+ a few U), region r00.., latent factor p_u, category affinity
         a_u,c (1-3 favourite categories, biased by the age/gender segment), price sensitivity
         s_u, heavy-tailed (lognormal) activity deciding how often the user shows up.
  items  category c00.. (uneven sizes), brand b000.. nested in its category, price lognormal per
         category rounded to cents, latent factor q_i = category centroid + brand offset + noise,
         Zipf popularity pi_i, release time r_i (70% before the window, 30% inside it).
         Item indices follow release order (ids are handed out as items are listed).

Ground truth, for user u, item i at time t (``World.click_probability``):
  P(click)      = sigmoid(b + p_u.q_i + a_u,cat(i) - s_u*log(price_i/median)
                          + W_POP*z(log pi_i) + W_REC*exp(-max(t - r_i, 0)/(TAU_DAYS days)))
  P(buy|click)  = sigmoid(b' + 0.8*a_u,cat(i) + 0.5*p_u.q_i - 1.5*s_u*log(price_i/median))
where z() standardises over items, and b, b' are calibrated (bisection on a sample drawn from the
logging policy itself) so the overall CTR is TARGET_CTR and purchases per click TARGET_CVR.

Logging policy (``World.sample_slates``): each slot comes from the user's preferred categories
(a noisy view of a_u), from popularity, or from uniform exploration, always among items already
released at the request time; duplicates within a slate are redrawn. Request times follow a
daily cycle with slow growth via a fixed monotone time warp, so ``temporal_cutoff`` is exact
without generating anything. ``history`` is every user's most recent clicks strictly before the
event's timestamp (clicks of the same second -- e.g. the same slate -- are never included).

Sessions (``sessions = True``; off by default, since every synthetic figure of the README was
measured on the sessionless log): requests go to users with an open session or to fresh users
drawn by activity, and a user's request more than 30 minutes after their previous one starts a new
session (``data/sessions.py``). Each session draws an intent category c_s from the user's
preferences (``user_pref_cdf``); within it INTENT_SLOTS of each slate's slots come from c_s
(popularity-weighted) and the click logit gains ``session_intent`` * [cat(i) = c_s]. The calibrated
bias absorbs the boost, so CTR stays TARGET_CTR. With ``session_drift`` = p > 0, each later
request of a session finds, with probability p, the intent moved on to the next category of a
seeded chain of complements (``World.category_next``), so a session's clicks have an order: the
newest click says more about the next than the first does. Records then also carry ``session_id`` and
``session_history`` (the session's clicks strictly before the event's second, most recent first);
the intent itself stays hidden. Without sessions the generator draws exactly what it always drew.

What a real log carries of the hidden world is in every record: the item's listing time
``item_listed`` (= r_i, a catalogue attribute known from the moment the item is listed, never
after the request: only released items are shown) from which a model can derive freshness, and
``history_category``, the categories of the ``history`` items (same order): the catalogue
attribute a real system joins onto the click history, from which category affinity is read.
Price, category and popularity (the item id) were there already.

Real-time item counters (``item_counters``, on by default since 2026-12-02; off gives the log
every earlier synthetic figure of the README was measured on, the same draws without the field):
every record carries ``item_ctr``, the item's click-through rate over all its impressions strictly
before the event's second, smoothed towards TARGET_CTR by CTR_PRIOR_IMPRESSIONS impressions:
(clicks + TARGET_CTR * m) / (impressions + m). What an e-commerce feature store serves beside the
catalogue; unlike the item id's embedding it also knows an item listed after training, and it
follows an item's popularity as it ages. Like ``history``, impressions of the event's own second
(its own slate) are not counted yet.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

from recsys.data.sessions import STAY_P, SessionClock

DAY = 86_400
TARGET_CTR = 0.15
TARGET_CVR = 0.10
W_POP = 0.35
W_REC = 0.8
TAU_DAYS = 7.0
CHUNK_REQUESTS = 4096
SOURCE_P = (0.45, 0.40, 0.15)  # slate slot source: preferred category, popularity, exploration
INTENT_SLOTS = 0.4  # sessions: share of a slate's slots drawn from the session's intent category
CTR_PRIOR_IMPRESSIONS = 20  # item_counters: impressions' worth of TARGET_CTR in every item_ctr


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Size and shape of the synthetic world and log; every field is validated on creation."""

    num_users: int = 2000
    num_items: int = 800
    num_events: int = 120_000
    history_length: int = 20
    seed: int = 7
    start_time: int = 1_700_000_000
    days: int = 60
    num_categories: int = 20
    num_brands: int = 120
    num_regions: int = 12
    latent_dim: int = 8
    impressions_per_request: int = 10
    # Sessions (``data/sessions.py``; off: the log every figure of the README was measured on).
    sessions: bool = False
    session_intent: float = 1.5  # click-logit boost of the session's intent category (sessions only)
    session_drift: float = 0.0  # P(a session's later request moves its intent to a neighbouring category)
    # Real-time item counters: records carry ``item_ctr`` (off: the log measured before them).
    item_counters: bool = True

    def __post_init__(self):
        minimum = {"num_users": 1, "num_items": 1, "num_events": 1, "history_length": 0, "seed": 0,
                   "start_time": 0, "days": 1, "num_categories": 1, "num_brands": 1,
                   "num_regions": 1, "latent_dim": 1, "impressions_per_request": 1}
        for name, lo in minimum.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"SyntheticConfig.{name}={value!r} ({type(value).__name__}): "
                                 f"expected an int >= {lo}")
            if value < lo:
                raise ValueError(f"SyntheticConfig.{name}={value!r}: expected an int >= {lo}")
        for name in ("sessions", "item_counters"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"SyntheticConfig.{name}={getattr(self, name)!r}: expected true "
                                 "or false")
        if (isinstance(self.session_intent, bool) or not isinstance(self.session_intent, (int, float))
                or not 0 <= self.session_intent < float("inf")):
            raise ValueError(f"SyntheticConfig.session_intent={self.session_intent!r}: expected a "
                             "finite float >= 0")
        if (isinstance(self.session_drift, bool) or not isinstance(self.session_drift, (int, float))
                or not 0 <= self.session_drift <= 1):
            raise ValueError(f"SyntheticConfig.session_drift={self.session_drift!r}: expected a "
                             "probability in [0, 1]")
        if self.num_brands < self.num_categories:
            raise ValueError(f"SyntheticConfig.num_brands={self.num_brands!r}: expected >= "
                             f"num_categories={self.num_categories} (brands nest in categories)")
        if self.impressions_per_request > self.num_items:
            raise ValueError(f"SyntheticConfig.impressions_per_request="
                             f"{self.impressions_per_request!r}: expected <= num_items="
                             f"{self.num_items} (a slate holds distinct items)")

    @property
    def num_requests(self) -> int:
        return -(-self.num_events // self.impressions_per_request)


def _time_warp(config: SyntheticConfig) -> tuple[np.ndarray, np.ndarray]:
    """Hourly CDF of request intensity (evening peak, +30% growth over the window) and its times."""
    hours = np.arange(config.days * 24)
    rate = (1.0 + 0.6 * np.cos(2 * np.pi * (hours % 24 - 20) / 24)) * (1.0 + 0.3 * hours / hours.size)
    cdf = np.concatenate([[0.0], np.cumsum(rate)])
    return cdf / cdf[-1], config.start_time + np.arange(hours.size + 1) * 3600.0


def _warp_times(warp, q: np.ndarray) -> np.ndarray:
    """Quantiles in [0, 1) -> int unix seconds; monotone, so sorted quantiles give sorted times."""
    return np.floor(np.interp(q, warp[0], warp[1])).astype(np.int64)


def temporal_cutoff(config: SyntheticConfig, fraction: float = 0.8) -> int:
    """Timestamp such that events with ``timestamp < cutoff`` are (within one request) the first
    ``fraction`` of the log: request j sits at warped quantile (j + U[0,1)) / num_requests."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"temporal_cutoff fraction={fraction!r}: expected 0 < fraction < 1")
    return int(_warp_times(_time_warp(config), np.asarray([fraction]))[0])


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _ids(prefix: str, n: int, width: int) -> list[str]:
    width = max(width, len(str(n - 1)))
    return [f"{prefix}{k:0{width}d}" for k in range(n)]


@dataclasses.dataclass(eq=False)  # arrays: compare worlds by identity
class World:
    """The hidden ground truth: user and item attributes plus the logging policy's indexes."""

    config: SyntheticConfig
    user_age: np.ndarray            # (U,) int
    user_gender: np.ndarray         # (U,) str
    user_region: np.ndarray         # (U,) int index into region ids
    user_factor: np.ndarray         # (U, D)
    user_affinity: np.ndarray       # (U, C)
    user_price_sens: np.ndarray     # (U,)
    user_activity: np.ndarray       # (U,) probabilities, heavy-tailed
    user_pref_cdf: np.ndarray       # (U, C) logging policy's category choice CDF
    item_category: np.ndarray       # (I,) int
    item_brand: np.ndarray          # (I,) int
    item_price: np.ndarray          # (I,) float, cents
    item_factor: np.ndarray         # (I, D)
    item_popularity: np.ndarray     # (I,) probabilities, Zipf
    item_release: np.ndarray        # (I,) int unix s, non-decreasing (ids follow release order)
    bias: float = 0.0
    purchase_bias: float = 0.0

    @classmethod
    def build(cls, config: SyntheticConfig) -> "World":
        """Draw the world from ``default_rng(config.seed)`` and calibrate the two biases."""
        rng = np.random.default_rng(config.seed)
        U, I, C, B, D = (config.num_users, config.num_items, config.num_categories,
                         config.num_brands, config.latent_dim)
        age = np.clip(np.rint(rng.normal(38.0, 13.0, U)), 18, 75).astype(np.int64)
        gender_idx = rng.choice(3, U, p=[0.49, 0.47, 0.04])
        region = rng.choice(config.num_regions, U, p=rng.dirichlet(np.full(config.num_regions, 2.0)))
        activity = rng.lognormal(0.0, 1.2, U)
        price_sens = rng.gamma(4.0, 0.1, U)
        user_factor = rng.normal(0.0, 0.55, (U, D))
        # Favourite categories: Gumbel top-k over a preference mixing catalogue share and segment.
        cat_share = rng.dirichlet(np.full(C, 3.0))
        segment = np.digitize(age, [30, 45, 60]) * 3 + gender_idx
        seg_pref = 0.4 * cat_share + 0.6 * rng.dirichlet(np.full(C, 0.5), 12)
        keys = np.log(seg_pref[segment] + 1e-12) + rng.gumbel(size=(U, C))
        rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
        n_fav = rng.choice([1, 2, 3], U, p=[0.3, 0.45, 0.25])
        affinity = rng.normal(-0.5, 0.3, (U, C))
        fav = rank < n_fav[:, None]
        affinity[fav] = rng.uniform(1.0, 2.2, int(fav.sum()))
        pref = np.exp(1.5 * (affinity + rng.normal(0.0, 0.5, (U, C))))
        pref_cdf = np.cumsum(pref, axis=1)
        pref_cdf /= pref_cdf[:, -1:]
        # Items: category, nested brand, price, factor, popularity, release time.
        cat = rng.choice(C, I, p=cat_share)
        brand_cat = np.arange(B) * C // B
        brand_start = np.searchsorted(brand_cat, np.arange(C + 1))
        brand_n = np.diff(brand_start)
        brand = brand_start[cat] + np.floor(brand_n[cat] * rng.random(I) ** 2).astype(np.int64)
        mu = rng.uniform(np.log(8.0), np.log(150.0), C)
        price = np.maximum(np.round(np.exp(rng.normal(mu[cat], 0.45)), 2), 0.99)
        item_factor = (rng.normal(0.0, 0.45, (C, D))[cat] + rng.normal(0.0, 0.35, (B, D))[brand]
                       + rng.normal(0.0, 0.45, (I, D)))
        popularity = 1.0 / (rng.permutation(I) + 1.0)
        n_new = min(int(0.3 * I), I - config.impressions_per_request)  # a full slate at start
        release = np.concatenate([
            config.start_time - rng.integers(0, 365 * DAY, I - n_new),
            config.start_time + rng.integers(0, config.days * DAY, n_new)])[rng.permutation(I)]
        order = np.argsort(release, kind="stable")
        world = cls(config, age, np.array(["F", "M", "U"])[gender_idx], region, user_factor,
                    affinity, price_sens, activity / activity.sum(), pref_cdf, cat[order],
                    brand[order], price[order], item_factor[order],
                    popularity[order] / popularity.sum(), release[order].astype(np.int64))
        world._calibrate(np.random.default_rng([config.seed, 1]))
        return world

    def __post_init__(self):
        """Derived terms and the sampler's indexes (items by category, then release time)."""
        logp = np.log(self.item_price)
        self._logprice = logp - np.median(logp)
        lp = np.log(self.item_popularity)
        self._pop_z = (lp - lp.mean()) / (lp.std() + 1e-12)
        self._pop_cum = np.cumsum(self.item_popularity)
        self._cat_order = np.argsort(self.item_category, kind="stable")
        cats = self.item_category[self._cat_order]
        self._cat_start = np.searchsorted(cats, np.arange(self.config.num_categories + 1))
        self._rel_min = int(self.item_release[0])
        self._key = int(self.item_release[-1]) - self._rel_min + 1
        self._cat_keys = cats * self._key + (self.item_release[self._cat_order] - self._rel_min)
        self._cat_cum0 = np.concatenate([[0.0], np.cumsum(self.item_popularity[self._cat_order])])
        self._activity_cdf = np.cumsum(self.user_activity)
        # The complement chain of the sessions' drift (phone -> case -> charger): the categories
        # in a seeded random cycle, each followed by the next (a cycle, so a drifting intent
        # never gets stuck). Its own stream: the world's other draws stay as they were.
        ring = np.random.default_rng([self.config.seed, 4]).permutation(self.config.num_categories)
        self.category_next = np.empty_like(ring)
        self.category_next[ring] = np.roll(ring, -1)
        self._warp = _time_warp(self.config)

    def _terms(self, u, i):
        u, i = np.asarray(u), np.asarray(i)
        dot = np.sum(self.user_factor[u] * self.item_factor[i], axis=-1)
        aff = self.user_affinity[u, self.item_category[i]]
        price = self.user_price_sens[u] * self._logprice[i]
        return dot, aff, price

    def click_logit(self, user_idx, item_idx, t, intent=None):
        """The true click logit (module docstring); broadcasts over array arguments. ``intent``:
        the session's intent category (sessions only), which adds ``session_intent`` to the logit
        of its items."""
        dot, aff, price = self._terms(user_idx, item_idx)
        age_days = np.maximum(np.asarray(t) - self.item_release[item_idx], 0) / DAY
        logit = (self.bias + dot + aff - price + W_POP * self._pop_z[item_idx]
                 + W_REC * np.exp(-age_days / TAU_DAYS))
        if intent is not None:
            logit = logit + self.config.session_intent * (self.item_category[item_idx] == intent)
        return logit

    def click_probability(self, user_idx, item_idx, t, intent=None):
        """True P(click); a float for scalar arguments, an array otherwise."""
        p = _sigmoid(self.click_logit(user_idx, item_idx, t, intent))
        return float(p) if np.ndim(p) == 0 else p

    def purchase_logit(self, user_idx, item_idx):
        """True logit of P(purchase | click): affinity and taste help, price hurts more."""
        dot, aff, price = self._terms(user_idx, item_idx)
        return self.purchase_bias + 0.8 * aff + 0.5 * dot - 1.5 * price

    def purchase_probability(self, user_idx, item_idx):
        p = _sigmoid(self.purchase_logit(user_idx, item_idx))
        return float(p) if np.ndim(p) == 0 else p

    @staticmethod
    def draw_category(cdf: np.ndarray, uniforms) -> np.ndarray:
        """Categories drawn by inverse CDF: for uniforms u in [0, 1) (any shape that broadcasts
        against ``cdf[..., 0]``) the number of entries of the (unnormalised, non-decreasing) CDF
        row ``cdf[..., :]`` that are <= u * its total, clipped to the last category (a float
        total can round below the last entry). The logging policy's slots, the session intents
        and the calibration's intents all draw through it."""
        u = np.asarray(uniforms)[..., None] * cdf[..., -1:]
        return np.minimum((u >= cdf).sum(-1), cdf.shape[-1] - 1)

    def sample_requests(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Users of ``n`` requests, drawn by activity."""
        idx = np.searchsorted(self._activity_cdf, rng.random(n) * self._activity_cdf[-1], "right")
        return np.minimum(idx, self.config.num_users - 1)

    def sample_slates(self, rng: np.random.Generator, users: np.ndarray, times: np.ndarray,
                      intents: np.ndarray | None = None):
        """The logging policy: an (n, k) array of distinct released items per request (at least k
        items are released before the window starts, so a distinct slate always exists).
        ``intents`` (sessions): each request's intent category, from which INTENT_SLOTS of the
        slots are drawn (popularity-weighted among its released items)."""
        n, k = users.size, self.config.impressions_per_request
        avail = np.searchsorted(self.item_release, times, "right")[:, None]  # >= 1: item 0 is old
        u = rng.random((n, k)) * self._pop_cum[avail - 1]
        pop = np.minimum(np.searchsorted(self._pop_cum, u, "right"), avail - 1)
        cat = self.draw_category(self.user_pref_cdf[users][:, None, :], rng.random((n, k)))
        intent_slot = None
        if intents is not None:  # drawn only with sessions: the sessionless log stays as it was
            intent_slot = rng.random((n, k)) < INTENT_SLOTS
            cat = np.where(intent_slot, intents[:, None], cat)
        rel = np.clip(times - self._rel_min, 0, self._key - 1)[:, None]
        lo = self._cat_start[cat]
        hi = np.searchsorted(self._cat_keys, cat * self._key + rel, "right")
        c0 = self._cat_cum0
        u = c0[lo] + rng.random((n, k)) * (c0[hi] - c0[lo])
        pos = np.clip(np.searchsorted(c0, u, "right") - 1, lo, np.maximum(hi - 1, lo))
        pref = np.where(hi > lo, self._cat_order[np.minimum(pos, self.config.num_items - 1)], pop)
        src = rng.random((n, k))
        if intent_slot is not None:
            src = np.where(intent_slot, 0.0, src)  # an intent slot takes the category draw
        explore = np.floor(rng.random((n, k)) * avail).astype(np.int64)
        slate = np.where(src < SOURCE_P[0], pref, np.where(src < SOURCE_P[0] + SOURCE_P[1],
                                                           pop, explore))
        for attempt in range(9):  # redraw duplicates uniformly among released items
            order = np.argsort(slate, axis=1, kind="stable")
            srt = np.take_along_axis(slate, order, axis=1)
            dup = np.zeros_like(slate, dtype=bool)
            np.put_along_axis(dup, order[:, 1:], srt[:, 1:] == srt[:, :-1], axis=1)
            rows, cols = np.nonzero(dup)
            if rows.size == 0:
                break
            if attempt < 8:
                slate[rows, cols] = np.floor(rng.random(rows.size) * avail[rows, 0]).astype(np.int64)
                continue
            for r in np.unique(rows):  # tiny catalogues: draw from the unused released items
                free = np.setdiff1d(np.arange(avail[r, 0]), slate[r])
                slate[r, dup[r]] = rng.choice(free, int(dup[r].sum()), replace=False)
        return slate

    def _calibrate(self, rng: np.random.Generator, n: int = 20_000) -> None:
        """Set ``bias``/``purchase_bias`` so CTR and purchases/click hit their targets on a
        sample of the logging policy's own impressions (bisection: the mean is monotone)."""
        users = self.sample_requests(rng, n)
        times = _warp_times(self._warp, rng.random(n))
        intents = None
        if self.config.sessions:  # every request has its session's intent, drawn as a session's
            draw = np.random.default_rng([self.config.seed, 1, 1]).random(n)
            intents = self.draw_category(self.user_pref_cdf[users], draw)
            if self.config.session_drift:  # ... and moved along the chain as a session's was by then:
                # its session's earlier requests are geometric (a user stays with STAY_P), each
                # moved the intent with probability session_drift
                walk = np.random.default_rng([self.config.seed, 1, 2])
                steps = walk.binomial(walk.geometric(1.0 - STAY_P, n) - 1, self.config.session_drift)
                for _ in range(int(steps.max(initial=0))):
                    intents = np.where(steps > 0, self.category_next[intents], intents)
                    steps = steps - 1
        slates = self.sample_slates(rng, users, times, intents)
        self.bias, self.purchase_bias = 0.0, 0.0
        logit = self.click_logit(users[:, None], slates, times[:, None],
                                 None if intents is None else intents[:, None])
        buy_logit = self.purchase_logit(users[:, None], slates)
        self.bias = _bisect(lambda b: _sigmoid(logit + b).mean() - TARGET_CTR)
        w = _sigmoid(logit + self.bias)
        self.purchase_bias = _bisect(lambda b: (w * _sigmoid(buy_logit + b)).sum() / w.sum()
                                     - TARGET_CVR)


def _bisect(f, lo: float = -30.0, hi: float = 30.0, steps: int = 60) -> float:
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return 0.5 * (lo + hi)


def generate(config: SyntheticConfig, world: World | None = None) -> Iterator[dict]:
    """Stream exactly ``config.num_events`` records in non-decreasing timestamp order.

    Requests are simulated in vectorised chunks of CHUNK_REQUESTS; only the world, one chunk and
    each user's last ``history_length`` clicks are held, so memory is O(users*history + items).
    Clicks are folded into histories only once the clock moves past their second, which keeps
    every ``history`` strictly earlier than its event. Values are plain Python types.

    With ``config.sessions`` every record also carries ``session_id`` and ``session_history``:
    the clicks of the same session strictly before the event's second, most recent first (the
    session rule and its intent: ``data/sessions.py``; memory O(users*history) more). With
    ``config.item_counters`` every record also carries ``item_ctr`` (module docstring; memory
    O(items) more), counted like histories: only once the clock has moved past a second.
    """
    world = world if world is not None else World.build(config)
    rng = np.random.default_rng([config.seed, 2])
    clock = (SessionClock(world, np.random.default_rng([config.seed, 3]))
             if config.sessions else None)
    k, H, R = config.impressions_per_request, config.history_length, config.num_requests
    users = list(zip(_ids("u", config.num_users, 6), world.user_age.tolist(),
                     world.user_gender.tolist(),
                     [f"r{r:02d}" for r in world.user_region.tolist()]))
    items = list(zip(_ids("i", config.num_items, 5),
                     [f"c{c:02d}" for c in world.item_category.tolist()],
                     [f"b{b:03d}" for b in world.item_brand.tolist()], world.item_price.tolist(),
                     world.item_release.tolist()))
    category_of = {iid: cat for iid, cat, *_ in items}
    hist: list[list[str]] = [[] for _ in range(config.num_users)]
    session_hist: list[list[str]] = [[] for _ in range(config.num_users)]
    pending: list[tuple[int, list[str]]] = []
    # item_counters: impressions and clicks per item index, and the current second's slates
    # (item indices, clicks), not counted yet
    shown, liked = np.zeros(config.num_items, np.int64), np.zeros(config.num_items, np.int64)
    pending_slates: list[tuple[list[int], list[int]]] = []
    m = CTR_PRIOR_IMPRESSIONS
    prev_t, index, total = None, 0, config.num_events
    for j0 in range(0, R, CHUNK_REQUESTS):
        n = min(CHUNK_REQUESTS, R - j0)
        u_arr = world.sample_requests(rng, n)
        t_arr = _warp_times(world._warp, (np.arange(j0, j0 + n) + rng.random(n)) / R)
        s_arr = intents = new_session = None
        if clock is not None:  # activity's draw becomes the fresh user of a request
            u_arr, s_arr, intents, new_session = clock.assign(t_arr, u_arr)
        slates = world.sample_slates(rng, u_arr, t_arr, intents)
        p_click = world.click_probability(u_arr[:, None], slates, t_arr[:, None],
                                          None if intents is None else intents[:, None])
        clicks = rng.random((n, k)) < p_click
        buys = clicks & (rng.random((n, k)) < world.purchase_probability(u_arr[:, None], slates))
        for j, (u, t, row, crow, brow) in enumerate(zip(
                u_arr.tolist(), t_arr.tolist(), slates.tolist(), clicks.astype(np.int8).tolist(),
                buys.astype(np.int8).tolist())):
            if t != prev_t:
                for pu, new in pending:
                    new.reverse()
                    hist[pu] = (new + hist[pu])[:H]
                    session_hist[pu] = (new + session_hist[pu])[:H]
                pending.clear()
                for slate, slate_clicks in pending_slates:  # a slate's items are distinct
                    shown[slate] += 1
                    liked[slate] += slate_clicks
                pending_slates.clear()
                prev_t = t
            uid, age, gender, region = users[u]
            h = hist[u]
            h_cat = [category_of[x] for x in h]  # once per request: the slate shares its history
            session = {}
            if clock is not None:
                if new_session[j]:  # a new session never sees an earlier session's clicks
                    session_hist[u] = []
                session = {"session_id": f"s{s_arr[j]:08d}", "session_history": session_hist[u]}
            clicked = []
            if config.item_counters:
                pending_slates.append((row, crow))
            for i, c, b in zip(row, crow, brow):
                iid, cat, brand, price, listed = items[i]
                counters = ({"item_ctr": float((liked[i] + TARGET_CTR * m) / (shown[i] + m))}
                            if config.item_counters else {})
                yield {"example_id": f"e{index:010d}", "user_id": uid, "item_id": iid,
                       "timestamp": t, "label": c, "purchase": b, "user_age": age,
                       "user_gender": gender, "user_region": region, "item_category": cat,
                       "item_brand": brand, "item_price": price, "item_listed": listed,
                       "history": h[:], "history_category": h_cat[:],
                       **{k: v[:] if isinstance(v, list) else v for k, v in session.items()},
                       **counters}
                index += 1
                if index == total:
                    return
                if c:
                    clicked.append(iid)
            if clicked:
                pending.append((u, clicked))
