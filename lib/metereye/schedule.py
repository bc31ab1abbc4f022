"""When to open an optical session with a battery meter, and when not to. Sans-I/O.

Kamstrup water meters ration their optical port: one user's flowIQ 2200
stopped answering after ~2 h of 30 s polling, others ran for months at hourly
reads (docs/kmp.md §8). So a meter gets an interval or fixed times of
day, a daily budget of sessions, a back-off when it goes silent, and a
lock-out is never hammered: re-woken with the wake output where one is fitted,
otherwise retried rarely and reported as its own state.

Time enters as arguments: `now_s` (seconds; Unix time once the clock is set,
else seconds since boot) and `day` (a day number for the budget).
"""

from metereye.compat import const

BACKOFF_CAP_S = const(86400)
LOCKED_RETRY_S = const(21600)      # at most every 6 h (docs/kmp.md §8, GUESS)
FAILURES_TO_LOCK = const(3)

# Meter states a person sees (docs/decisions.md §20).
OK = "ok"
WAITING = "waiting"               # nothing read yet
ASLEEP = "asleep"                 # our echo came back, the meter said nothing
LOCKOUT = "lockout"               # it answered before, then went silent
NO_ECHO = "no_echo"               # no light back at all: head or wiring
GARBLED = "garbled"               # frames that failed their checks
OVER_BUDGET = "over_budget"       # today's sessions are used up


class Schedule:
    """One meter's reading plan and its memory of how the meter behaved."""

    def __init__(self, interval_s, budget_per_day, times=None, min_interval_s=0,
                 wake_fitted=False):
        self.interval_s = max(interval_s, min_interval_s)
        self.budget = budget_per_day
        self.times = times or ()          # minutes after midnight, sorted
        self.wake_fitted = wake_fitted
        self.state = WAITING
        self.failures = 0
        self.answered_since_wake = False
        self.last_ok_s = None
        self.last_try_s = None
        self.next_s = 0
        self.day = None
        self.sessions_today = 0

    def due(self, now_s):
        return now_s >= self.next_s

    def may_start(self, now_s, day):
        """True when a session may start now (due and within today's budget)."""
        self._roll(day)
        if self.sessions_today >= self.budget:
            return False
        return self.due(now_s)

    def read_now_allowed(self, day):
        """A person's "read now": allowed within the budget, never while locked out."""
        self._roll(day)
        return self.sessions_today < self.budget and (self.state != LOCKOUT or self.wake_fitted)

    def started(self, now_s, day):
        self._roll(day)
        self.sessions_today += 1
        self.last_try_s = now_s

    def finished(self, outcome, now_s, woken=False):
        """Record a session's outcome; returns the state a person sees."""
        if woken:
            self.answered_since_wake = False
        if outcome == OK:
            self.state = OK
            self.failures = 0
            self.answered_since_wake = True
            self.last_ok_s = now_s
            self.next_s = self._after(now_s)
            return self.state
        self.failures += 1
        if outcome == "asleep" and self.answered_since_wake:
            # Silent after good answers with no wake in between: the pattern of
            # a meter rationing its port (docs/decisions.md §20).
            outcome = LOCKOUT
        self.state = outcome
        if outcome in (LOCKOUT, ASLEEP) and self.failures >= FAILURES_TO_LOCK and not self.wake_fitted:
            self.state = LOCKOUT
            self.next_s = now_s + LOCKED_RETRY_S
            return self.state
        backoff = self.interval_s * (1 << min(self.failures, 16))
        self.next_s = now_s + min(backoff, BACKOFF_CAP_S)
        return self.state

    def _after(self, now_s):
        if not self.times:
            return now_s + self.interval_s
        minute = int(now_s // 60) % 1440
        day_start = now_s - (now_s % 86400)
        for t in self.times:
            if t > minute:
                return day_start + t * 60
        return day_start + 86400 + self.times[0] * 60

    def _roll(self, day):
        if day != self.day:
            self.day = day
            self.sessions_today = 0

    def first_due(self, now_s):
        """Where a fresh schedule starts: now for an interval, the next time for fixed times."""
        self.next_s = now_s if not self.times else self._after(now_s - 60)
        return self.next_s


def parse_times(texts):
    """["01:30", "13:00"] -> sorted minutes after midnight; ValueError for a bad one."""
    out = []
    for text in texts:
        hh, sep, mm = text.partition(":")
        if not sep or not hh.isdigit() or not mm.isdigit():
            raise ValueError(text)
        h, m = int(hh), int(mm)
        if h > 23 or m > 59:
            raise ValueError(text)
        out.append(h * 60 + m)
    out.sort()
    return tuple(out)
