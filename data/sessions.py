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
(``data/synthetic.py``).

Memory: O(users) for each user's last request time, session and intent, plus the open sessions.
"""

from __future__ import annotations

import numpy as np

SESSION_GAP = 1800   # seconds: a request more than 30 minutes after the user's previous one starts a new session
STAY_P = 0.75        # after a request, the user stays for another (mean 1 / (1 - 0.75) = 4 requests)
CONTINUE_P = 0.8     # a request goes to an open session (when there is one) rather than a fresh user


class SessionClock:
    """Assigns the requests of a time-ordered stream to users and sessions (module docstring).

    ``assign`` is called once per chunk of requests, in time order; the state carries over."""

    def __init__(self, pref_cdf: np.ndarray, rng: np.random.Generator, gap: int = SESSION_GAP):
        self.pref_cdf = pref_cdf
        self.rng = rng
        self.gap = gap
        n = pref_cdf.shape[0]
        self.last_time = np.full(n, np.iinfo(np.int64).min // 2, np.int64)
        self.session = np.full(n, -1, np.int64)
        self.intent = np.zeros(n, np.int64)
        self.sessions = 0  # sessions started so far: the next session's number
        self.open: dict[int, int] = {}  # user -> time of their last request, if they chose to stay

    def assign(self, times: np.ndarray, fresh: np.ndarray):
        """(users, session numbers, intents, new-session flags) of requests at ``times``
        (non-decreasing); ``fresh``: a user drawn by activity for each request, taken when the
        request does not continue an open session."""
        n = times.size
        cont, stay, pick = self.rng.random((3, n))
        draw = self.rng.random(n)  # intent draw of a session started by request j
        users = np.empty(n, np.int64)
        sessions = np.empty(n, np.int64)
        intents = np.empty(n, np.int64)
        new = np.zeros(n, bool)
        for j, t in enumerate(times.tolist()):
            for u in [u for u, last in self.open.items() if t - last > self.gap]:
                del self.open[u]  # no request within the gap: that session has ended
            if self.open and cont[j] < CONTINUE_P:
                u = list(self.open)[int(pick[j] * len(self.open))]
            else:
                u = int(fresh[j])
            if t - self.last_time[u] > self.gap:
                self.session[u] = self.sessions
                self.sessions += 1
                row = self.pref_cdf[u]
                self.intent[u] = min(int(np.searchsorted(row, draw[j] * row[-1], "right")), row.size - 1)
                new[j] = True
            self.last_time[u] = t
            self.open.pop(u, None)
            if stay[j] < STAY_P:
                self.open[u] = t
            users[j], sessions[j], intents[j] = u, self.session[u], self.intent[u]
        return users, sessions, intents, new
