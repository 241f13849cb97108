"""`compare --shard K/N`: shards started at once on one output folder train each run once and
give the one-process results; a killed shard resumes; the lock files behind it; the examples."""

import glob
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from kerasimb import runs
from kerasimb.cli.main import build_parser, main
from kerasimb.runs import RunLock, RunLockHeld, check_shard, shard_runs
from kerasimb.runs.lock import process_alive

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS, SEEDS = ["ce", "reweight"], [0, 1, 2]
FLAGS = ["--dataset", "digits-lt", "--methods", *METHODS, "--seeds", *map(str, SEEDS),
         "--epochs", "1", "--batch-size", "32", "--no-progress"]
ALL_RUNS = [(m, s) for m in METHODS for s in SEEDS]


# ---------------------------------------------------------------- lock files


def _dead_pid():
    """The id of a process of this host that has ended (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _plant(path, pid, host=None, age=0.0):
    """Writes a lock file as another process would have, touched `age` seconds ago."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"pid": pid, "host": host or os.uname().nodename, "token": "other"}, f)
    then = time.time() - age
    os.utime(path, (then, then))


def test_lock_is_exclusive_and_released(tmp_path):
    path = str(tmp_path / "runs" / "ce" / "seed0.lock")
    first, second = RunLock(path), RunLock(path)
    assert first.acquire() and first.held
    assert not second.acquire() and not second.held
    owner = json.loads(open(path, encoding="utf-8").read())
    assert owner["pid"] == os.getpid() and owner["host"] == os.uname().nodename
    assert first.acquire()  # already held: still True, same file
    first.release()
    assert not os.path.exists(path)
    with second:
        with pytest.raises(RunLockHeld, match="held by process"):
            with RunLock(path):
                pass
    assert not os.path.exists(path)


def test_lock_not_stolen_while_fresh_and_its_owner_lives(tmp_path):
    path = str(tmp_path / "seed0.lock")
    _plant(path, os.getppid(), age=5)  # a live process of this host, touched 5 s ago
    lock = RunLock(path, stale_after=60, heartbeat=1)
    assert lock.stale_reason() is None
    assert not lock.acquire()
    assert f"process {os.getppid()}" in lock.describe()
    _plant(path, _dead_pid(), host="another-host", age=5)  # cannot be probed: mtime decides
    assert not lock.acquire()
    assert json.load(open(path))["token"] == "other"


def test_lock_stale_by_mtime_is_taken_over(tmp_path):
    path = str(tmp_path / "seed0.lock")
    _plant(path, os.getppid(), host="another-host", age=120)
    lock = RunLock(path, stale_after=60, heartbeat=1)
    assert lock.acquire()
    assert "no heartbeat for 12" in lock.took_over
    assert json.load(open(path))["pid"] == os.getpid()
    lock.release()


def test_lock_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path):
    path = str(tmp_path / "seed0.lock")
    pid = _dead_pid()
    assert not process_alive(pid) and process_alive(os.getpid())
    _plant(path, pid, age=0)  # fresh, but its owner is gone
    lock = RunLock(path)  # the default 10-minute timeout is not waited for
    assert lock.acquire()
    assert lock.took_over == f"its process {pid} on {os.uname().nodename} is gone"
    lock.release()


def test_heartbeat_refreshes_the_lock_and_notices_a_takeover(tmp_path):
    path = str(tmp_path / "seed0.lock")
    lock = RunLock(path, stale_after=5, heartbeat=0.2)
    assert lock.acquire()
    then = time.time() - 100
    os.utime(path, (then, then))
    assert lock.age() > 99
    time.sleep(0.8)
    assert lock.age() < 1 and not lock.lost
    _plant(path, os.getppid())  # another process took it over (this one looked dead)
    time.sleep(0.8)
    assert lock.lost
    lock.release()  # not its lock any more: left in place
    assert json.load(open(path))["token"] == "other"


def test_one_taker_of_a_stale_lock_among_many(tmp_path):
    for round_ in range(10):
        path = str(tmp_path / f"seed{round_}.lock")
        _plant(path, _dead_pid() if round_ % 2 else os.getppid(), age=0 if round_ % 2 else 120)
        locks = [RunLock(path, stale_after=60, heartbeat=1) for _ in range(8)]
        barrier = threading.Barrier(len(locks))
        won = []

        def take(lock):
            barrier.wait()
            if lock.acquire():
                won.append(lock)

        threads = [threading.Thread(target=take, args=(lock,)) for lock in locks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1, round_
        won[0].release()
        assert not os.path.exists(path + ".takeover")


def test_lock_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="`heartbeat`.*fewer seconds than `stale_after`"):
        RunLock(tmp_path / "a.lock", stale_after=10, heartbeat=10)
    with pytest.raises(ValueError, match="stale_after"):
        RunLock(tmp_path / "a.lock", stale_after=0)


# ---------------------------------------------------------------- partition and arguments


def test_shards_partition_the_runs():
    shares = [shard_runs(ALL_RUNS, (k, 3)) for k in (1, 2, 3)]
    assert shares[0] == [("ce", 0), ("reweight", 0)]
    assert sorted(sum(shares, [])) == sorted(ALL_RUNS)
    assert shard_runs(ALL_RUNS, None) == ALL_RUNS
    assert shard_runs(ALL_RUNS, "7/7") == []  # more shards than runs: nothing to do
    assert check_shard("2/3") == (2, 3) == check_shard((2, 3))
    for bad in ["0/3", "4/3", "x", "1/3/3", (1,), (True, 2), (1.0, 2)]:
        with pytest.raises(ValueError, match=r"`shard`.*1 <= K <= N.*Received: shard="):
            check_shard(bad)


def test_compare_refuses_a_shard_without_a_shared_folder(tmp_path):
    with pytest.raises(ValueError, match=r"`shard`. Expected None without an `output_dir`"):
        runs.compare("digits-lt", ["ce"], epochs=1, shard=(1, 2))
    with pytest.raises(ValueError, match=r"`shard`. Expected None with `overwrite=True`"):
        runs.compare("digits-lt", ["ce"], epochs=1, shard="1/2", output_dir=tmp_path,
                      overwrite=True)
    with pytest.raises(ValueError, match=r"Received: shard='0/2'"):
        runs.compare("digits-lt", ["ce"], epochs=1, shard="0/2", output_dir=tmp_path)
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("argv, message", [
    (["compare", "--shard", "0/3", "--output", "x"],
     "argument --shard: expected K/N with 1 <= K <= N, received 0/3"),
    (["compare", "--shard", "4/3"], "argument --shard: expected K/N with 1 <= K <= N, "
                                    "received 4/3"),
    (["compare", "--shard", "two"], "argument --shard: expected K/N with 1 <= K <= N, "
                                    "received two"),
    (["compare", "--methods", "ce", "--shard", "1/3"],
     "argument --shard: needs --output DIR, the folder every shard shares (received --shard "
     "1/3 without --output)"),
    (["compare", "--methods", "ce", "--shard", "1/3", "--output", "x", "--restart"],
     "argument --shard: does not apply with --restart"),
    (["run", "balanced_mixup", "--shard", "1/3"], "argument --shard: does not apply to the "
                                                  "recipes (received --shard 1/3 for "
                                                  "balanced_mixup)"),
])
def test_cli_shard_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kerasimb: error: {message}") and err.count("\n") == 1, err
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------- the examples


def _stub_kerasimb(tmp_path):
    """A `kerasimb` on PATH that prints its arguments, one a line."""
    folder = tmp_path / "bin"
    folder.mkdir()
    stub = folder / "kerasimb"
    stub.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    stub.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def _parsed(stdout):
    args = build_parser().parse_args(stdout.splitlines())
    assert args.command == "compare" and args.output
    return args


def test_slurm_example_runs_one_shard_per_array_task(tmp_path):
    script = os.path.join(ROOT, "examples", "slurm_compare.sh")
    text = open(script, encoding="utf-8").read()
    first, last = map(int, re.search(r"^#SBATCH --array=(\d+)-(\d+)$", text, re.M).groups())
    assert first == 1  # 1-based, as --shard
    env = _stub_kerasimb(tmp_path)
    for k in range(first, last + 1):
        done = subprocess.run(["bash", script], env={**env, "SLURM_ARRAY_TASK_ID": str(k)},
                              capture_output=True, text=True, timeout=60, check=True)
        assert _parsed(done.stdout).shard == (k, last)


def test_kubernetes_example_runs_index_plus_one(tmp_path):
    text = open(os.path.join(ROOT, "examples", "k8s_compare_job.yaml"), encoding="utf-8").read()
    assert re.search(r"^  completionMode: Indexed$", text, re.M)
    completions = int(re.search(r"^  completions: (\d+)", text, re.M).group(1))
    command = re.search(r'command: \["/bin/sh", "-c"\]\n\s+args:\n\s+- (.+)\n', text).group(1)
    assert "kerasimb compare" in command and "K=$((JOB_COMPLETION_INDEX + 1))" in command
    env = _stub_kerasimb(tmp_path)
    for index in range(completions):
        done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                              env={**env, "JOB_COMPLETION_INDEX": str(index)}, timeout=60,
                              check=True)
        assert _parsed(done.stdout).shard == (index + 1, completions)


def test_readme_shows_one_line_per_shard():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme.split("## Past one machine", 1)[1].split("\n## ", 1)[0]
    assert "examples/slurm_compare.sh" in section and "examples/k8s_compare_job.yaml" in section
    line = re.search(r"```\n(kerasimb compare .+)\n```", section).group(1)
    argv = shlex.split(line.replace("${SLURM_ARRAY_TASK_ID}", "2"))
    assert build_parser().parse_args(argv[1:]).shard == (2, 3)


# ---------------------------------------------------------------- shards side by side


def _shard(output, k, n=3):
    return subprocess.Popen(
        [sys.executable, "-m", "kerasimb", "compare", *FLAGS, "--output", str(output),
         "--shard", f"{k}/{n}"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)


def _finish(process, timeout=300):
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out
    return out


def _trained(out):
    line = re.search(r"^Shard \d+/\d+: trained (.*?)(;|$)", out, re.M).group(1)
    return [] if line == "none" else [
        (m, int(s)) for m, s in re.findall(r"(\S+) seed (\d+)", line)]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """Three shards of the comparison, started at once on one folder, and the same comparison
    in one process (this one, while they run) in another folder."""
    folder = tmp_path_factory.mktemp("sharded") / "out"
    processes = [_shard(folder, k) for k in (1, 2, 3)]
    try:
        reference_folder = tmp_path_factory.mktemp("one-process")
        result = runs.compare("digits-lt", METHODS, epochs=1, seeds=SEEDS, batch_size=32,
                              progress=False, output_dir=reference_folder,
                              mixed_precision="float32", distribute="none")
    except BaseException:
        for process in processes:
            process.kill()
        raise
    return (folder, [_finish(p) for p in processes]), (reference_folder, result)


@pytest.fixture(scope="module")
def sharded(both):
    return both[0]


@pytest.fixture(scope="module")
def reference(both):
    return both[1]


def _same_runs(folder, reference_folder, keys=ALL_RUNS):
    """Every run's test scores, history and probabilities equal the reference's."""
    for method, seed in keys:
        a = json.load(open(folder / "runs" / method / f"seed{seed}.json"))["run"]
        b = json.load(open(reference_folder / "runs" / method / f"seed{seed}.json"))["run"]
        assert a["report"] == b["report"] and a["history"] == b["history"], (method, seed)
        with np.load(folder / "runs" / method / f"seed{seed}.npz") as x, \
                np.load(reference_folder / "runs" / method / f"seed{seed}.npz") as y:
            np.testing.assert_array_equal(x["probabilities"], y["probabilities"])


def test_three_concurrent_shards_equal_one_process(sharded, reference):
    folder, outputs = sharded
    trained = [_trained(out) for out in outputs]
    for k, share in enumerate(trained, 1):
        assert share == shard_runs(ALL_RUNS, (k, 3))
    assert sorted(sum(trained, [])) == sorted(ALL_RUNS)  # every run trained exactly once
    writers = [out for out in outputs if "finished last and wrote the report" in out]
    assert len(writers) == 1, outputs
    for out in outputs:
        if out is not writers[0]:
            assert ("the report will be written by the last shard to finish, or by rerunning "
                    "the same command without --shard" in out
                    or "written by another shard" in out), out
    assert "| reweight |" in writers[0]
    assert glob.glob(str(folder / "**" / "*.lock*"), recursive=True) == []
    assert glob.glob(str(folder / "report*.md")) == [str(folder / "report.md")]
    metrics = json.load(open(folder / "metrics.json"))
    assert sorted((r["method"], r["seed"]) for r in metrics["runs"]) == sorted(ALL_RUNS)
    manifest = runs.read_manifest(folder)
    assert manifest["complete"] and manifest["experiment"] == reference[1].experiment
    assert {f"runs/{m}/seed{s}.{ext}" for m, s in ALL_RUNS for ext in ("json", "npz")} <= set(
        manifest["files"])
    _same_runs(folder, reference[0])
    reported = {(r["method"], r["seed"]): r["report"] for r in metrics["runs"]}
    assert reported == {(r["method"], r["seed"]): r["report"] for r in reference[1].runs}


def test_rerun_without_shard_writes_the_report_without_training(sharded, reference,
                                                                 monkeypatch):
    folder, _ = sharded
    stamps = {p: os.stat(p).st_mtime_ns for p in glob.glob(str(folder / "runs" / "*" / "*"))}

    def no_training(*args, **kwargs):
        raise AssertionError("trained a stored run")

    monkeypatch.setattr(sys.modules["kerasimb.runs.compare"], "train_resumable", no_training)
    result = runs.compare("digits-lt", METHODS, epochs=1, seeds=SEEDS, batch_size=32,
                          progress=False, output_dir=folder, mixed_precision="float32",
                          distribute="none")
    assert result.shard is None and len(result.runs) == 6
    assert result.reports == reference[1].reports
    before = os.stat(folder / "report.md").st_mtime_ns
    result.save(folder)
    assert os.stat(folder / "report.md").st_mtime_ns > before
    assert stamps == {p: os.stat(p).st_mtime_ns for p in stamps}  # no run rewritten


def test_a_shard_finding_everything_stored_writes_nothing_again(sharded, tmp_path):
    """Two shards seeing every run stored at once: the second finds the report already
    written from the same runs (under report.lock) and leaves it."""
    folder, _ = sharded
    before = os.stat(folder / "report.md").st_mtime_ns
    result = runs.compare("digits-lt", METHODS, epochs=1, seeds=SEEDS, batch_size=32,
                          progress=False, output_dir=folder, mixed_precision="float32",
                          distribute="none", shard=(2, 3))
    assert result.shard["complete"] and result.shard["report"] is None
    assert result.shard["trained"] == [] and len(result.shard["loaded"]) == 2
    assert len(result.runs) == 6 and os.stat(folder / "report.md").st_mtime_ns == before
    # another baseline changes the report: the shard that finds every run writes it
    result = runs.compare("digits-lt", METHODS, epochs=1, seeds=SEEDS, batch_size=32,
                          progress=False, output_dir=folder, mixed_precision="float32",
                          distribute="none", shard=(2, 3), baseline="reweight")
    assert result.shard["report"] and os.stat(folder / "report.md").st_mtime_ns > before
    assert "vs `reweight`" in open(folder / "report.md").read()


@pytest.mark.slow
def test_a_killed_shard_resumes_when_rerun(sharded, reference, tmp_path):
    """Shard 2 is killed (SIGKILL) while it trains its first run: its lock stays, naming a dead
    process; rerunning shard 2 takes it over at once and finishes, and the last shard writes
    the report from runs equal to one process's."""
    folder = tmp_path / "out"
    subprocess.run(["cp", "-r", str(sharded[0]), str(folder)], check=True)
    for name in ["report.md", "metrics.json"] + [f"runs/{m}/seed1.{ext}" for m in METHODS
                                                 for ext in ("json", "npz")]:
        os.remove(folder / name)  # shard 2's runs (ce seed 1, reweight seed 1) not done yet
    lock = folder / "runs" / "ce" / "seed1.lock"
    victim = _shard(folder, 2)
    deadline = time.time() + 240
    while not lock.exists():
        assert victim.poll() is None and time.time() < deadline, victim.communicate()[0]
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert victim.returncode == -signal.SIGKILL
    assert lock.exists() and json.load(open(lock))["pid"] == victim.pid
    assert not (folder / "runs" / "ce" / "seed1.json").exists()
    out = _finish(_shard(folder, 2))
    assert f"ce, seed 1: took over its lock (its process {victim.pid} on" in out
    assert _trained(out) == [("ce", 1), ("reweight", 1)]
    assert "finished last and wrote the report" in out
    assert not lock.exists() and not (folder / "backup").exists()
    _same_runs(folder, reference[0])
    metrics = json.load(open(folder / "metrics.json"))
    assert {(r["method"], r["seed"]): r["report"] for r in metrics["runs"]} == {
        (r["method"], r["seed"]): r["report"] for r in reference[1].runs}


def test_a_run_held_by_a_live_process_is_waited_for_then_loaded(reference, tmp_path,
                                                                  monkeypatch, capsys):
    """Another live process holds `ce` seed 0: the shard waits, and when that process stores
    the run and releases its lock, loads it instead of training it."""
    monkeypatch.setattr(sys.modules["kerasimb.runs.compare"], "_WAIT_SECONDS", 0.1)
    lock = tmp_path / "runs" / "ce" / "seed0.lock"
    _plant(str(lock), os.getppid())

    def other_process_finishes():
        time.sleep(1.0)
        for ext in ("npz", "json"):  # as RunStore.save writes them: the record last
            subprocess.run(["cp", str(reference[0] / "runs" / "ce" / f"seed0.{ext}"),
                            str(tmp_path / "runs" / "ce")], check=True)
        os.remove(lock)

    other = threading.Thread(target=other_process_finishes)
    other.start()
    try:
        result = runs.compare("digits-lt", ["ce"], epochs=1, seeds=[0], batch_size=32,
                              progress=False, output_dir=tmp_path, mixed_precision="float32",
                              distribute="none", shard=(1, 1))
    finally:
        other.join()
    out = capsys.readouterr().out
    assert f"ce, seed 0: being trained by process {os.getppid()} on" in out
    assert "waiting for it" in out
    assert result.shard["trained"] == [] and result.shard["loaded"] == [["ce", 0]]
    assert result.shard["complete"] and result.shard["report"]
    assert result.reports[("ce", 0)] == reference[1].reports[("ce", 0)]


# ---------------------------------------------------------------- the manifest


def test_start_experiment_never_replaces_a_manifest_written_meanwhile(tmp_path, monkeypatch):
    module = sys.modules["kerasimb.runs.manifest"]
    mine = {"kind": "compare", "settings": {"epochs": 1}}
    theirs = {"kind": "compare", "settings": {"epochs": 2}}
    read, calls = module.read_manifest, []

    def another_process_writes_between(folder):
        calls.append(folder)
        if len(calls) == 2:  # start_experiment's own read: another process claims it now
            monkeypatch.setattr(module, "read_manifest", read)
            module.start_experiment(folder, theirs)
            return None  # (as read just before)
        return read(folder)

    monkeypatch.setattr(module, "read_manifest", another_process_writes_between)
    with pytest.raises(ValueError, match=r"holds another experiment \(epochs: 2 in the folder, "
                                         r"1 now\)"):
        module.start_experiment(tmp_path, mine)
    assert runs.read_manifest(tmp_path)["experiment"] == theirs


def test_shards_starting_at_once_share_one_manifest(tmp_path):
    experiment = {"kind": "compare", "settings": {"epochs": 1}}
    errors, barrier = [], threading.Barrier(8)

    def start():
        barrier.wait()
        try:
            runs.start_experiment(tmp_path, experiment)
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    manifest = runs.read_manifest(tmp_path)
    assert manifest["experiment"] == experiment and manifest["complete"] is False
    assert os.listdir(tmp_path) == ["manifest.json"]  # no temporary file left
    with open(tmp_path / "manifest.json", "w") as f:
        f.write("{half a manifest")  # unreadable: replaced, as before
    runs.start_experiment(tmp_path, experiment)
    assert runs.read_manifest(tmp_path)["experiment"] == experiment
