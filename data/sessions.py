"""Sessions of the synthetic log (``SyntheticConfig.sessions``): who sends each request, which
session it belongs to, and the session's intent.

Why a process of its own: without sessions the log's requests go to users drawn independently by
activity, so a user's two requests are hours or days apart and "what the user did a minute ago"
carries nothing. Here a request goes either to a user whose session is still open (one of their
requests within the last ``gap`` seconds, who chose to stay) or to a fresh user drawn by activity.
The request times are the generator's own (unchanged), so ``temporal_cutoff`` stays exact.

The rule that defines a session is the observable one, applied to the records alone: a user's
request starts a new session when more than ``gap`` seconds passed since that user's previous
request (or it is their first). Each new session draws an **intent**, one category from the
user's (noisy) category preferences, the logging policy's ``user_pref_cdf``; the generator then
shows more of that category and raises its click probability for the whole session
(``data/synthetic.py``). With ``session_drift`` = p > 0 a later request of the session moves the
intent, with probability p, to the next category of a chain of complements
(``World.category_next``): in-session drift, phone -> case -> charger.

Memory: O(users) for each user's last request time, session and intent, plus the open sessions;
time O(log open sessions) per request (``_OpenSessions``).
"""

from __future__ import annotations

import numpy as np

SESSION_GAP = 1800   # seconds: a request more than 30 minutes after the user's previous one starts a new session
STAY_P = 0.75        # after a request, the user stays for another (mean 1 / (1 - 0.75) = 4 requests)
CONTINUE_P = 0.8     # a request goes to an open session (when there is one) rather than a fresh user


class _OpenSessions:
    """The users whose session is open, in the order of their last request (oldest first).

    ``SessionClock`` needs three things per request: drop the sessions whose last request is more
    than ``gap`` ago, pick the k-th open session, and move a user to the end. A dict did each by a
    scan (O(open sessions) per request). Here each stay gets the next slot number; since requests
    come in time order, the slots' times are non-decreasing, so expiry pops from the front (a
    queue; each slot is popped once), and a Fenwick tree of live slots finds the k-th in O(log n).
    The slot array is compacted when full, so memory stays O(open sessions)."""

    def __init__(self, capacity: int = 1024):
        self.min_capacity = capacity
        self._reset(capacity, [], [])

    def _reset(self, capacity: int, users: list[int], times: list[int]):
        self.size = capacity
        self.user = [-1] * capacity  # slot -> user (-1: free)
        self.time = [0] * capacity
        self.tree = [0] * (capacity + 1)  # Fenwick tree of live slots (1-based)
        self.slot: dict[int, int] = {}  # user -> slot
        self.head = 0  # slots before head are free
        self.next = 0
        for u, t in zip(users, times):
            self.append(u, t)

    def __len__(self) -> int:
        return len(self.slot)

    def _add(self, i: int, delta: int):
        i += 1
        while i <= self.size:
            self.tree[i] += delta
            i += i & -i

    def append(self, user: int, t: int):
        """Open ``user``'s session at time ``t`` (the newest); the user must not be open."""
        if self.next == self.size:  # compact the live slots to the front (and grow if half full)
            live = [i for i in range(self.head, self.next) if self.user[i] >= 0]
            users, times = [self.user[i] for i in live], [self.time[i] for i in live]
            self._reset(max(self.min_capacity, 2 * self.size if 2 * len(users) > self.size else self.size),
                        users, times)
        self.user[self.next], self.time[self.next] = user, t
        self.slot[user] = self.next
        self._add(self.next, 1)
        self.next += 1

    def remove(self, user: int):
        """Close ``user``'s session if it is open."""
        i = self.slot.pop(user, None)
        if i is not None:
            self.user[i] = -1
            self._add(i, -1)

    def expire(self, t: int, gap: int):
        """Close every session whose last request is more than ``gap`` seconds before ``t``."""
        while self.head < self.next and (self.user[self.head] < 0 or t - self.time[self.head] > gap):
            self.remove(self.user[self.head])
            self.head += 1

    def kth(self, k: int) -> int:
        """The user of the k-th open session (0-based, oldest first)."""
        i, step = 0, 1 << self.size.bit_length()
        while step:  # Fenwick descent: the largest prefix holding <= k live slots
            j = i + step
            if j <= self.size and self.tree[j] <= k:
                i, k = j, k - self.tree[j]
            step >>= 1
        return self.user[i]


class SessionClock:
    """Assigns the requests of a time-ordered stream to users and sessions (module docstring).

    ``assign`` is called once per chunk of requests, in time order; the state carries over."""

    def __init__(self, world, rng: np.random.Generator, gap: int = SESSION_GAP):
        self.world = world  # data.synthetic.World: the users' preferences and the category draw
        self.rng = rng
        self.gap = gap
        n = world.user_pref_cdf.shape[0]
        self.last_time = np.full(n, np.iinfo(np.int64).min // 2, np.int64)
        self.session = np.full(n, -1, np.int64)
        self.intent = np.zeros(n, np.int64)
        self.sessions = 0  # sessions started so far: the next session's number
        self.open = _OpenSessions()  # users who chose to stay, by the time of their last request

    def assign(self, times: np.ndarray, fresh: np.ndarray):
        """(users, session numbers, intents, new-session flags) of requests at ``times``
        (non-decreasing); ``fresh``: a user drawn by activity for each request, taken when the
        request does not continue an open session."""
        n = times.size
        cont, stay, pick = self.rng.random((3, n))
        draw = self.rng.random(n)  # intent draw of a session started by request j
        drift = self.world.config.session_drift
        # drawn only with drift, so a drift-free log keeps its draws
        walk = self.rng.random(n) if drift else None
        users = np.empty(n, np.int64)
        sessions = np.empty(n, np.int64)
        intents = np.empty(n, np.int64)
        new = np.zeros(n, bool)
        for j, t in enumerate(times.tolist()):
            self.open.expire(t, self.gap)  # no request within the gap: those sessions have ended
            if len(self.open) and cont[j] < CONTINUE_P:
                u = self.open.kth(int(pick[j] * len(self.open)))
            else:
                u = int(fresh[j])
            if t - self.last_time[u] > self.gap:
                self.session[u] = self.sessions
                self.sessions += 1
                self.intent[u] = self.world.draw_category(self.world.user_pref_cdf[u], draw[j])
                new[j] = True
            elif walk is not None and walk[j] < drift:
                self.intent[u] = self.world.category_next[self.intent[u]]
            self.last_time[u] = t
            self.open.remove(u)
            if stay[j] < STAY_P:
                self.open.append(u, t)
            users[j], sessions[j], intents[j] = u, self.session[u], self.intent[u]
        return users, sessions, intents, new
