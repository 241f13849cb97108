"""A search on several processes or machines: Keras Tuner's distributed mode, with lost
workers' trials run again.

Every process runs the same search (the same `kerasimb tune` command, or the same
`tuning.tune` call) with three environment variables, Keras Tuner's own:

- `KERASTUNER_TUNER_ID`: `chief` for the one process that serves the oracle, and a distinct id
  for each worker (`tuner0`, `tuner1`, ...);
- `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`: the chief's address (the chief listens
  on it, the workers connect to it).

The chief holds the search state (`oracle.json` and the `trial_*/trial.json` records in the
search folder) and hands out trials; each worker asks for a trial, trains it and sends its
scores back, until the chief says stop. All processes use one shared folder (`--output` /
`directory`): Hyperband's continued trials read the weights a previous trial saved there.
Workers send a heartbeat every `HEARTBEAT_SECONDS`; the chief requeues the trial of a worker
it has not heard from for `worker_timeout` seconds (`kerasimb.tuning.oracles`). When every
trial has ended, the chief returns from `search()`; `tuning.tune` then retrains the best
configuration in the chief, scores it once on the test split and writes the report, while the
workers return `None`.

Example:

>>> distributed_role({})  # no variables: a search in one process
>>> distributed_role({"KERASTUNER_TUNER_ID": "tuner1", "KERASTUNER_ORACLE_IP": "10.0.0.5",
...                   "KERASTUNER_ORACLE_PORT": "8000"})
Role(tuner_id='tuner1', ip='10.0.0.5', port=8000)
"""

import collections
import contextlib
import os
import threading
import time

from kerasimb.api_export import kerasimb_export

TUNER_ID = "KERASTUNER_TUNER_ID"
ORACLE_IP = "KERASTUNER_ORACLE_IP"
ORACLE_PORT = "KERASTUNER_ORACLE_PORT"
VARIABLES = (TUNER_ID, ORACLE_IP, ORACLE_PORT)

# The metric name prefix of a worker's heartbeat (`<prefix><tuner id>`), sent through Keras
# Tuner's `UpdateTrial` call so that no new RPC is needed.
HEARTBEAT = "kerasimb/heartbeat/"

# How often a worker tells the chief it is alive, and how often an idle worker asks again.
HEARTBEAT_SECONDS = 2.0
IDLE_POLL_SECONDS = 1.0


class Role(collections.namedtuple("Role", ["tuner_id", "ip", "port"])):
    """This process's part in a distributed search: `tuner_id`, and the chief's `ip` and `port`.
    """

    @property
    def is_chief(self):
        """Keras Tuner's own rule: a tuner id containing `chief` serves the oracle."""
        return "chief" in self.tuner_id

    @property
    def address(self):
        """`ip:port` (an IPv6 address in brackets)."""
        ip = self.ip
        if ":" in ip and not ip.startswith("["):
            ip = f"[{ip}]"
        return f"{ip}:{self.port}"


@kerasimb_export("kerasimb.tuning.distributed_role", serializable=False)
def distributed_role(environ=None):
    """This process's `Role` in a distributed search, from Keras Tuner's environment variables;
    `None` when none of them is set.

    Args:
        environ: mapping, or `None` for `os.environ`.

    Raises:
        ValueError: some but not all of `KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP` and
            `KERASTUNER_ORACLE_PORT` are set (or one is empty), or the port is not a number
            from 1 to 65535.
    """
    environ = os.environ if environ is None else environ
    values = {name: environ.get(name) for name in VARIABLES}
    given = [name for name, value in values.items() if value is not None]
    if not given:
        return None
    missing = [name for name, value in values.items() if not (value or "").strip()]
    if missing:
        set_ = [f"{name}={values[name]!r}" for name in given if name not in missing]
        shown = f"{', '.join(set_)} {'are' if len(set_) > 1 else 'is'}"
        raise ValueError(
            f"environment variable{'s' if len(missing) > 1 else ''} {' and '.join(missing)}: "
            f"not set or empty{f' (while {shown} set)' if set_ else ''}; a distributed "
            f"search needs all three of {', '.join(VARIABLES)} ({TUNER_ID}=chief for the "
            f"process that serves the search, tuner0, tuner1, ... for the workers; the chief's "
            f"address in the other two); unset them all to search in one process")
    port = values[ORACLE_PORT].strip()
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"environment variable {ORACLE_PORT}: expected a port number from 1 "
                         f"to 65535. Received: {ORACLE_PORT}={values[ORACLE_PORT]!r}")
    return Role(values[TUNER_ID].strip(), values[ORACLE_IP].strip(), int(port))


def _condition_to_proto(condition):
    """`keras_tuner`'s `Parent.to_proto` without the stray `print` of Keras Tuner 1.4.8, which
    prints a conditional hyperparameter's first value (`focal`) each time a trial crosses the
    wire."""
    from keras_tuner.src import protos

    proto = protos.get_proto()
    first = condition.values[0]
    kind = ("string_value" if isinstance(first, str) else
            "boolean_value" if isinstance(first, bool) else
            "int_value" if isinstance(first, int) else "float_value")
    return proto.Condition(parent=proto.Condition.Parent(
        name=condition.name, values=[proto.Value(**{kind: v}) for v in condition.values]))


def quiet_keras_tuner():
    """Replaces Keras Tuner's `Parent.to_proto` with `_condition_to_proto` (same proto, no
    printing); done once the distributed search starts, in the chief and in every worker."""
    from keras_tuner.src.engine import conditions

    conditions.Parent.to_proto = _condition_to_proto


@contextlib.contextmanager
def _stderr_to_devnull():
    """Sends file descriptor 2 (C++ log lines) to /dev/null for the duration."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def serve(oracle, role, poll=1.0, max_workers=4):
    """Serves `oracle` to the workers on `role.address` until the search is over.

    Every `poll` seconds the workers not heard from for `oracle.worker_timeout` seconds are
    given up (their trials requeued); the chief returns once a worker was told to stop, no
    trial is running and every worker has been told to stop or given up.

    Raises:
        ValueError: the address cannot be listened on (port in use, not this machine's).
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    quiet_keras_tuner()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        with _stderr_to_devnull():  # gRPC's own log line; the error below says it in one
            bound = server.add_insecure_port(role.address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ValueError(
            f"the chief cannot listen on {role.address} ({ORACLE_IP}={role.ip!r}, "
            f"{ORACLE_PORT}={role.port}): the port is in use, or the address is not one of this "
            "machine's")
    server.start()
    print(f"Distributed search: this process is the chief, serving the search on "
          f"{role.address} until every trial has ended", flush=True)
    try:
        while True:
            time.sleep(poll)
            oracle.expire_lost_trials()
            if servicer.stop_triggered and oracle.search_finished():
                break
    finally:
        server.stop(grace=1.0)


class _Heartbeat:
    """A daemon thread telling the chief every `interval` seconds that `tuner_id` is alive."""

    def __init__(self, stub, tuner_id, interval=HEARTBEAT_SECONDS):
        from keras_tuner.src import protos

        self.stub, self.interval = stub, interval
        self.request = lambda: protos.get_service().UpdateTrialRequest(
            trial_id="", metrics={f"{HEARTBEAT}{tuner_id}": time.time()}, step=0)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{tuner_id}",
                                       daemon=True)

    def _run(self):
        import grpc

        while not self.stopped.wait(self.interval):
            try:
                self.stub.UpdateTrial(self.request(), timeout=self.interval * 2)
            except grpc.RpcError:  # the chief is busy or restarting: the next beat may pass
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(timeout=self.interval * 3)


def work(tuner, role, *fit_args, **fit_kwargs):
    """A worker's search: asks the chief for trials and runs them until told to stop, with a
    heartbeat; waits `IDLE_POLL_SECONDS` between asks while the chief has nothing to hand out.
    Returns `None`; the ids of the trials this worker ran are in `tuner.trials_run`."""
    from keras_tuner.src.engine import trial as trial_module

    quiet_keras_tuner()
    print(f"Distributed search: this process is worker {role.tuner_id}, running trials for the "
          f"chief on {role.address}", flush=True)
    tuner.on_search_begin()
    with _Heartbeat(tuner.oracle.stub, tuner.tuner_id):
        while True:
            tuner.pre_create_trial()
            trial = tuner.oracle.create_trial(tuner.tuner_id)
            if trial.status == trial_module.TrialStatus.STOPPED:
                break
            if trial.status == trial_module.TrialStatus.IDLE:
                time.sleep(IDLE_POLL_SECONDS)
                continue
            tuner.on_trial_begin(trial)
            tuner._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
            tuner.trials_run.append(trial.trial_id)
            tuner.on_trial_end(trial)
    tuner.on_search_end()
    return None
