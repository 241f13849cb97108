"""`kerasimb tune` as a distributed search on localhost: a chief and worker processes, started
with Keras Tuner's environment variables, share one output folder. Every process is time-boxed
and its whole process group is killed at the end, whatever happens; no test waits on a dead
worker.

Keras Tuner draws different values in different processes, so trials are compared by their
ids, values and scores (the workers' own lines against the chief's records), not with a
one-process search."""

import contextlib
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from kerasimb.cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEADLINE = 240  # seconds for a whole distributed search, startups included

ARGS = ["tune", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce", "focal",
        "--epochs", "1", "--widths", "4", "--batch-size", "64"]

# `tuner1: trial 2: focal gamma=1.532, learning rate 0.00149, width 4 -> val ...`
WORKER_LINE = re.compile(r"^(tuner\d): trial (\d+): (ce|focal)(?: gamma=(\S+))?, learning rate "
                         r"(\S+), width 4 -> val balanced_accuracy (\d\.\d{4}) \(best so far "
                         r"\d\.\d{4}\)$")
CHIEF_LINE = re.compile(r"^trial (\d)/(\d) \((tuner\d)\): .* -> val balanced_accuracy "
                        r"\d\.\d{4} \(best so far \d\.\d{4}\)$")

# A worker that dies (SIGKILL, as a machine lost mid-trial) as its first trial starts training.
DIES_IN_ITS_TRIAL = (
    "import os, signal, sys\n"
    "from kerasimb.tuning.hypermodel import ImbalanceHyperModel\n"
    "ImbalanceHyperModel.fit = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
    "from kerasimb.cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Starts kerasimb processes in their own process groups, logs to files; `stop()` kills
    every group still alive."""

    def __init__(self, folder, port):
        self.folder, self.port, self.procs = folder, port, {}

    def start(self, tuner_id, argv, code=None):
        env = dict(os.environ, KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
                   KERASTUNER_ORACLE_PORT=str(self.port), CUDA_VISIBLE_DEVICES="",
                   TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
                   PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
        command = ([sys.executable, "-c", code] if code else
                   [sys.executable, "-m", "kerasimb"]) + list(argv)
        log = open(self.folder / f"{tuner_id}.log", "w")
        self.procs[tuner_id] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                                stderr=subprocess.STDOUT,
                                                start_new_session=True)
        log.close()
        return self.procs[tuner_id]

    def wait(self, tuner_id, deadline):
        try:
            return self.procs[tuner_id].wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"{tuner_id} did not finish in time; logs:\n{self.logs()}")

    def log(self, tuner_id):
        return (self.folder / f"{tuner_id}.log").read_text()

    def logs(self):
        return "\n".join(f"--- {name}\n{self.log(name)[-3000:]}" for name in self.procs)

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


@pytest.fixture
def cluster(tmp_path):
    running = Cluster(tmp_path, free_port())
    try:
        yield running
    finally:
        running.stop()


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_chief_and_two_workers_split_the_trials(cluster, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [*ARGS, "--max-trials", "4", "--output", str(out)]
    deadline = time.monotonic() + DEADLINE
    cluster.start("chief", argv)
    cluster.start("tuner0", argv)
    cluster.start("tuner1", argv)
    codes = {name: cluster.wait(name, deadline) for name in ("tuner0", "tuner1", "chief")}
    assert codes == {"tuner0": 0, "tuner1": 0, "chief": 0}, cluster.logs()

    # what each worker says it ran
    ran = {}
    for name in ("tuner0", "tuner1"):
        lines = [WORKER_LINE.match(line) for line in cluster.log(name).splitlines()
                 if line.startswith(f"{name}: trial ")]
        assert lines and all(lines), cluster.log(name)  # every worker ran at least one trial
        for m in lines:
            assert m.group(1) == name and m.group(2) not in ran
            ran[m.group(2)] = m
        assert f"{name}: the chief says the search is over; this worker ran {len(lines)}" \
            in cluster.log(name)

    # the chief's leaderboard is exactly the union of the workers' trials
    rows = read_csv(out / "leaderboard.csv")
    assert sorted(r["trial_id"] for r in rows) == sorted(ran) and len(rows) == 4
    for row in rows:
        m = ran[row["trial_id"]]
        assert row["tuner_id"] == m.group(1)
        assert row["method"] == m.group(3)
        assert f"{float(row['score']):.4f}" == m.group(6)
        assert f"{float(row['learning_rate']):.3g}" == m.group(5)
        if m.group(4):
            assert f"{float(row['focal.gamma']):.4g}" == m.group(4)
    # ... and of the trial records the chief kept, value for value
    saved = json.load(open(out / "tuning.json"))
    for entry in saved["leaderboard"]:
        record = json.load(open(out / "search" / "kerasimb" / f"trial_{entry['trial_id']}"
                                / "trial.json"))
        values = record["hyperparameters"]["values"]
        assert record["status"] == "COMPLETED" and record["score"] == entry["score"]
        assert values["method"] == entry["method"]
        assert values["learning_rate"] == entry["learning_rate"]
        assert {k.split(".", 1)[1]: v for k, v in values.items() if "." in k} == entry["params"]
    configurations = {json.dumps([e["method"], e["params"], e["learning_rate"]])
                      for e in saved["leaderboard"]}
    assert len(configurations) == 4  # no configuration twice
    assert saved["settings"]["distributed"] and saved["settings"]["workers"] == ["tuner0",
                                                                                 "tuner1"]
    assert saved["test_report"]["confusion_matrix"]  # the chief retrained the best and scored it
    assert saved["best"]["trial_id"] == rows[0]["trial_id"]

    chief = [CHIEF_LINE.match(line) for line in cluster.log("chief").splitlines()
             if line.startswith("trial ")]
    assert len(chief) == 4 and all(chief), cluster.log("chief")
    assert sorted(m.group(3) for m in chief) == sorted(m.group(1) for m in ran.values())
    report = (out / "report.md").read_text()
    assert "- distributed: the trials ran on 2 worker(s) (tuner0, tuner1); the chief " \
           "retrained the best configuration" in report
    # Keras Tuner 1.4.8 prints a conditional value each time a trial crosses the wire: not here
    assert not re.search(r"^(ce|focal)$", cluster.log("chief") + cluster.log("tuner0"),
                         re.MULTILINE)

    # the same command without the variables: the report again, from the stored trials
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        assert name not in os.environ
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "resuming: 4/4 trials already finished" in text and "trial 1/4" not in text
    assert [r["trial_id"] for r in read_csv(out / "leaderboard.csv")] == \
        [r["trial_id"] for r in rows]


def test_a_worker_that_dies_leaves_its_trial_to_another(cluster, tmp_path):
    out = tmp_path / "out"
    argv = [*ARGS, "--max-trials", "3", "--output", str(out), "--worker-timeout", "5"]
    deadline = time.monotonic() + DEADLINE
    cluster.start("chief", argv)
    cluster.start("tuner0", argv, code=DIES_IN_ITS_TRIAL)
    assert cluster.wait("tuner0", deadline) == -signal.SIGKILL, cluster.logs()
    state = json.load(open(out / "search" / "kerasimb" / "oracle.json"))
    (lost,) = state["ongoing_trials"].values()  # the trial tuner0 held when it died
    assert state["ongoing_trials"] == {"tuner0": lost}
    cluster.start("tuner1", argv)
    assert cluster.wait("tuner1", deadline) == 0, cluster.logs()
    assert cluster.wait("chief", deadline) == 0, cluster.logs()
    assert re.search(rf"worker tuner0 sent nothing for \d+ s: trial {lost} goes back in the "
                     r"queue", cluster.log("chief")), cluster.log("chief")
    rows = read_csv(out / "leaderboard.csv")
    assert sorted(r["trial_id"] for r in rows) == ["0", "1", "2"]
    assert {r["tuner_id"] for r in rows} == {"tuner1"}  # including the lost one, rerun
    assert re.search(rf"^tuner1: trial {lost}: ", cluster.log("tuner1"), re.MULTILINE)
