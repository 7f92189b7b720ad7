"""The fan-out: one process per circuit, its environment, its result."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from fanout_children import report_environment  # noqa: E402

from sensor_pipelines.fleet.fanout import run_many, thread_settings  # noqa: E402


class Quiet:
    def started(self, circuit):
        pass

    def finished(self, result):
        pass


def _run(tmp_path, max_parallel):
    return run_many(["A", "B", "C"], child=report_environment, argv=lambda c, f: [c, str(f)],
                    max_parallel=max_parallel, out_dir=tmp_path / f"out{max_parallel}", progress=Quiet())


def test_each_circuit_gets_its_share_of_the_cores_for_tensorflow(tmp_path, monkeypatch):
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(4)), raising=False)
    assert thread_settings(2) == {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2"}
    assert thread_settings(8)["TF_NUM_INTRAOP_THREADS"] == "1"  # never zero
    results = _run(tmp_path, 2)
    assert [r["circuit"] for r in results] == ["A", "B", "C"] and {r["status"] for r in results} == {"completed"}
    assert all(r["threads"] == {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2"} for r in results)
    assert len({r["pid"] for r in results}) == 3  # a process per circuit


def test_thread_settings_the_user_made_win(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "3")
    results = _run(tmp_path, 1)
    assert all(r["threads"]["TF_NUM_INTRAOP_THREADS"] == "3" for r in results)


def test_a_status_the_fork_server_lost_is_read_from_what_the_child_wrote(tmp_path):
    """255 is what multiprocessing reports when the fork server could not give the child's status: the code
    the child wrote itself counts then; a child that died before writing it stays 255; other codes stand."""
    from sensor_pipelines.fleet.fanout import exit_code

    written = tmp_path / "A.exit"
    assert exit_code(255, written) == 255  # it died before it could write anything
    written.write_text("0")
    assert exit_code(255, written) == 0
    assert exit_code(-9, written) == -9 and exit_code(1, written) == 1
    results = _run(tmp_path, 2)
    assert [(tmp_path / "out2/results" / f"{r['circuit']}.exit").read_text() for r in results] == ["0"] * 3
