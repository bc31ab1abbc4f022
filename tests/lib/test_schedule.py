"""The reading schedule: intervals, fixed times, budget, back-off, lock-out."""

from metereye.schedule import LOCKED_RETRY_S, LOCKOUT, Schedule, parse_times


def test_interval_schedule_reads_every_interval():
    s = Schedule(3600, 48)
    assert s.first_due(1000) == 1000
    assert s.may_start(1000, 0)
    s.started(1000, 0)
    s.finished("ok", 1002)
    assert s.next_s == 1002 + 3600
    assert not s.may_start(2000, 0)
    assert s.may_start(4602, 0)


def test_fixed_times_of_day():
    s = Schedule(86400, 5, parse_times(["13:00", "01:30"]))
    day = 10 * 86400
    assert s.first_due(day + 60) == day + 90 * 60
    s.started(day + 90 * 60, 10)
    s.finished("ok", day + 90 * 60 + 5)
    assert s.next_s == day + 13 * 3600
    s.finished("ok", day + 13 * 3600 + 5)
    assert s.next_s == day + 86400 + 90 * 60


def test_budget_limits_sessions_per_day_and_resets_next_day():
    s = Schedule(60, 3)
    t = 0
    for _ in range(3):
        assert s.may_start(t, 0)
        s.started(t, 0)
        s.finished("ok", t)
        t += 60
    assert not s.may_start(t, 0) and not s.read_now_allowed(0)
    assert s.may_start(t, 1) and s.sessions_today == 0


def test_silence_backs_off_and_a_lockout_is_not_hammered():
    s = Schedule(900, 288)
    s.finished("ok", 0)
    s.finished("asleep", 1000)              # answered before: a suspected lock-out
    assert s.state == LOCKOUT
    gaps = []
    t = 1000
    for _ in range(4):
        gaps.append(s.next_s - t)
        t = s.next_s
        s.finished("asleep", t)
    assert gaps[0] == 1800 and gaps[1] == 3600
    assert s.next_s - t == LOCKED_RETRY_S and s.state == LOCKOUT
    assert not s.read_now_allowed(0)
    s.finished("ok", t + LOCKED_RETRY_S)
    assert s.failures == 0 and s.next_s == t + LOCKED_RETRY_S + 900


def test_with_a_wake_coil_a_silent_meter_is_woken_not_parked():
    s = Schedule(900, 288, wake_fitted=True)
    for i in range(5):
        s.finished("asleep", i * 100, woken=True)
    assert s.state == "asleep" and s.read_now_allowed(0)
    assert s.next_s - 400 <= 86400


def test_bad_times_are_refused():
    for bad in (["25:00"], ["1:60"], ["0130"], ["ab:cd"]):
        try:
            parse_times(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
