"""The progress line: quiet off a terminal and for the first second, then sim time, events/s and finished workers
summed over ranks."""

import io

import pytest

from pdes import Model, Simulation
from pdes.progress import ProgressLine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_for_the_first_second_then_one_overwritten_line_closed_with_the_last_state():
    tty = Terminal()
    line = ProgressLine(tty, interval_s=0.0, unit="ns", workers_label="sips done", workers_total=1024)
    line({"sim_time": 10.0, "events": 5, "wall_s": 0.9, "workers_done": 0})
    assert tty.getvalue() == ""  # a run shorter than a second prints only its result
    line({"sim_time": 1234.5, "events": 20_000, "wall_s": 2.0, "workers_done": 37})
    assert tty.getvalue() == "\r  sim t=1234.5 ns  events=20,000  10,000 events/s  sips done 37/1024"
    line({"sim_time": float("inf"), "events": 30_000, "wall_s": 3.0, "workers_done": 1024})
    line.close()
    last = tty.getvalue().split("\r")[-1]
    assert last == "  sim t=end  events=30,000  10,000 events/s  sips done 1024/1024\n"


def test_nothing_without_a_terminal_or_when_disabled():
    pipe, tty = io.StringIO(), Terminal()
    for line in (ProgressLine(pipe, interval_s=0.0), ProgressLine(tty, interval_s=0.0, enabled=False)):
        line({"sim_time": 1.0, "events": 10, "wall_s": 5.0, "workers_done": 1})
        line.close()
    assert pipe.getvalue() == tty.getvalue() == ""


@pytest.mark.parametrize("ranks", [None, 3])
def test_the_engine_reports_finished_workers_summed_over_ranks(ranks):
    """Three workers on three LPs finish at t=1, 2, 3: the count seen by the progress callback climbs to 3."""
    m = Model()
    for i in range(3):
        m.add_lp(f"lp{i}", lambda _lp: None)
    sim = Simulation(m, ranks=ranks)
    for i in range(3):
        sim.spawn_worker(f"lp{i}", lambda lp, t=i + 1.0: sim.wait(lp.env.timeout(t)))
    seen: list[dict] = []
    sim.run(progress=seen.append)
    done = [info["workers_done"] for info in seen]
    assert done == sorted(done)
    assert done[-1] == 3
    assert all(set(info) == {"sim_time", "events", "wall_s", "workers_done"} for info in seen)
