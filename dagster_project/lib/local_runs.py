"""Runs that ``python -m dagster_project.cli run`` executes in its own process.

``make run`` executes the daily job in-process, recorded in the Dagster instance of
``DAGSTER_HOME``; every step that writes the warehouse holds the only slot of the pool
``duckdb_writer``. A process killed hard (``kill -9``, the OOM killer) leaves its run STARTED
and its slot taken, and Dagster never frees either: no run launcher watches an in-process run.
This module

* tags every run the CLI starts with the process that runs it (``process_tags``);
* at CLI start, marks FAILED the runs of this host whose process is gone, stops the dbt
  processes they left running (still writing the warehouse) and frees their pool slots, and
  frees the slots that finished runs still hold (``recover_dead_runs``);
* while a run executes (``RunGuard``): says which run holds the slot a step waits for, and
  on SIGINT/SIGTERM stops the run, the wait for a slot included (Dagster's in-process loop only
  notes the signal there), and the dbt process of the running step.

Runs launched by ``dagster dev`` are left to Dagster: its code server marks a run whose worker
died as failed, and ``run_monitoring.free_slots_after_run_end_seconds`` (dagster.yaml) frees
the slots of finished runs.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import dagster as dg
import psutil

TAG_PID = "reveil/pid"
TAG_HOST = "reveil/host"
TAG_PROCESS_STARTED = "reveil/process_started"  # tells a reused pid from the original process

# A run that executes in-process passes through these before it finishes.
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]

# dbt gets this long to stop after SIGINT (it cancels its queries), then it is killed.
CHILD_GRACE_SECONDS = 20.0
# The dbt processes a dead run left running: as long, after SIGINT, before SIGKILL.
LEFTOVER_GRACE_SECONDS = CHILD_GRACE_SECONDS
POLL_SECONDS = 1.0
SYNC_BYTE = 0  # written next to the signal numbers on the wakeup socket by ``sync``

Out = Callable[[str], None]


def process_tags() -> dict[str, str]:
    """Run tags naming this process: pid, host and the process's start time."""
    me = psutil.Process()
    return {
        TAG_PID: str(me.pid),
        TAG_HOST: socket.gethostname(),
        TAG_PROCESS_STARTED: f"{me.create_time():.3f}",
    }


def owner_alive(tags: dict[str, str] | dg.DagsterRun) -> bool | None:
    """Whether the process named by a run's tags still runs; None when the run names none of
    this host (launched by ``dagster dev``, or by a CLI on another machine)."""
    if isinstance(tags, dg.DagsterRun):
        tags = dict(tags.tags)
    if TAG_PID not in tags or tags.get(TAG_HOST) != socket.gethostname():
        return None
    try:
        process = psutil.Process(int(tags[TAG_PID]))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - float(tags.get(TAG_PROCESS_STARTED, "0"))) < 1.0
    except (psutil.NoSuchProcess, ValueError):
        return False


def _slot_holders(storage) -> dict[str, set[str]]:
    """Run id -> pools in which it holds a slot or has a step queued for one."""
    holders: dict[str, set[str]] = {}
    keys = storage.get_concurrency_keys()
    for key, info in storage.get_concurrency_infos(list(keys)).items():
        run_ids = {slot.run_id for slot in info.claimed_slots}
        run_ids |= {step.run_id for step in info.pending_steps}
        for run_id in run_ids:
            holders.setdefault(run_id, set()).add(key)
    return holders


def _describe(run: dg.DagsterRun) -> str:
    tags = run.tags
    if TAG_PID in tags:
        return f"{run.job_name}, make run pid {tags[TAG_PID]} on {tags.get(TAG_HOST)}"
    return f"{run.job_name}, launched by dagster dev or the UI"


def recover_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark FAILED the unfinished runs of this host whose process is gone, stop the processes
    they left running (``stop_leftovers``), free their pool slots, and free the slots still
    held by finished runs. One line per run recovered and per process stopped."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        holders: dict[str, set[str]] = {}
    else:
        holders = _slot_holders(storage)
    lines = []
    host = socket.gethostname()
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=UNFINISHED, tags={TAG_HOST: host})
    )
    for record in records:
        run = record.dagster_run
        if owner_alive(run) is not False:
            continue
        pid = run.tags[TAG_PID]
        # before the slot is freed: a step waiting for it would find the warehouse locked
        stopped = stop_leftovers(run.run_id)
        instance.report_run_failed(
            run,
            f"The process that ran it (pid {pid} on {host}) no longer exists (killed?); "
            "marked failed by the next `make run`.",
        )
        pools = holders.pop(run.run_id, set())
        if pools:
            storage.free_concurrency_slots_for_run(run.run_id)
        started = record.create_timestamp.astimezone(UTC)
        lines.append(
            f"recovered run {run.run_id} ({run.job_name}, started {started:%Y-%m-%d %H:%M:%S} "
            f"UTC by pid {pid}, which no longer exists): marked FAILED"
            + (f", freed its slot in pool {', '.join(sorted(pools))}" if pools else "")
        )
        lines += stopped
    if holders:
        runs = {
            record.dagster_run.run_id: record.dagster_run
            for record in instance.get_run_records(filters=dg.RunsFilter(run_ids=list(holders)))
        }
        for run_id, pools in sorted(holders.items()):
            run = runs.get(run_id)
            if run is None or run.status in FINISHED:
                storage.free_concurrency_slots_for_run(run_id)
                lines.append(
                    f"freed the slot in pool {', '.join(sorted(pools))} still held by run "
                    f"{run_id} ({run.status.value if run else 'deleted'})"
                )
    return lines


def leftovers(run_id: str) -> list[psutil.Process]:
    """Processes that a run's dbt invocations started, found by their environment: dagster-dbt
    sets ``DAGSTER_DBT_CLI`` and a ``DBT_TARGET_PATH`` of its own per invocation, named
    ``<op>-<first 7 characters of the run id>-<random>``; their children inherit both. A
    process whose parent was killed is no longer its child: only its environment tells."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):  # gone, or another user's
            env = process.environ()
            if env.get("DAGSTER_DBT_CLI") != "true":
                continue
            parts = Path(env.get("DBT_TARGET_PATH", "")).name.split("-")
            if len(parts) >= 3 and parts[-2] == run_id[:7]:
                found.append(process)
    return found


def stop_leftovers(run_id: str) -> list[str]:
    """Stop the processes of ``leftovers(run_id)``: SIGINT (dbt cancels its queries, DuckDB
    rolls back), SIGKILL after ``LEFTOVER_GRACE_SECONDS``. One line per process."""
    processes = {process: _command(process) for process in leftovers(run_id)}
    if not processes:
        return []
    _signal_all(list(processes), signal.SIGINT)
    alive = _wait_gone(list(processes), LEFTOVER_GRACE_SECONDS)
    _signal_all(alive, signal.SIGKILL)
    still = _wait_gone(alive, 5.0)
    lines = []
    for process, command in processes.items():
        if process in still:
            how = "could not be stopped (it survived SIGKILL)"
        elif process in alive:
            how = f"killed: still running {LEFTOVER_GRACE_SECONDS:.0f} s after SIGINT"
        else:
            how = "stopped by SIGINT"
        lines.append(f"  process {process.pid} left running by run {run_id} ({command}): {how}")
    return lines


def _command(process: psutil.Process, limit: int = 120) -> str:
    """A process's command line, executables shown by name, shortened to ``limit``."""
    try:
        args = process.cmdline()
    except psutil.Error:
        return "command line unreadable"
    shown = [Path(arg).name if i < 2 and "/" in arg else arg for i, arg in enumerate(args)]
    text = " ".join(" ".join(shown).split()) or process.name()  # on one line
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to ``timeout`` for the processes to end; those still running. A zombie counts as
    ended: it holds no file (its new parent may not reap it at once)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in processes if _running(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _is_dbt(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(Path(arg).name == "dbt" for arg in process.cmdline()[:2])
    return False


def dbt_children(pid: int | None = None) -> list[psutil.Process]:
    """dbt processes under this process, or ``pid`` (dagster-dbt runs dbt as a child)."""
    return [child for child in psutil.Process(pid).children(recursive=True) if _is_dbt(child)]


class RunGuard:
    """Watches the runs this process executes, from a thread; a context manager entered in the
    main thread around the runs.

    * Prints once per pool and holding run that a step of ours waits for a pool slot, and
      recovers (``recover_dead_runs``) a dead CLI run that holds it.
    * On SIGINT/SIGTERM: sends SIGINT to dbt (it cancels its queries; DuckDB rolls back what
      was not committed) and kills it after ``CHILD_GRACE_SECONDS`` (at once on a second
      signal); if a step of ours waits for a slot, raises KeyboardInterrupt in the main thread
      (Dagster's loop only notes the signal there), otherwise Dagster's own handler fails the
      running step. ``signum`` tells which signal stopped the run.

    Dagster replaces the SIGINT/SIGTERM handlers during a run; the guard learns of the signals
    through ``signal.set_wakeup_fd``, which sees every signal whatever the Python handler is.
    Outside a run, its own handler raises KeyboardInterrupt for both.
    """

    def __init__(self, instance: dg.DagsterInstance, out: Out):
        self.signum: int | None = None
        self.tags = process_tags()
        self._instance = instance
        self._out = out
        self._stop = threading.Event()
        self._signals_seen = 0
        self._syncs: list[threading.Event] = []
        self._waits_reported: set[tuple[str, str]] = set()
        self._kill_children_at: float | None = None

    def __enter__(self) -> RunGuard:
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous_wakeup_fd = signal.set_wakeup_fd(
            self._writer.fileno(), warn_on_full_buffer=False
        )
        self._previous = {
            signum: signal.signal(signum, self._raise_interrupt)
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
        }
        self._thread = threading.Thread(target=self._watch, name="reveil-run-guard", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._reader.close()
        self._writer.close()
        # no dbt may outlive the CLI (it would hold the warehouse's write lock)
        children = dbt_children()
        if children and self.signum is None:
            _signal_all(children, signal.SIGINT)
        deadline = self._kill_children_at or time.time() + CHILD_GRACE_SECONDS
        _, alive = psutil.wait_procs(children, timeout=max(0.0, deadline - time.time()))
        _signal_all(alive, signal.SIGKILL)

    def sync(self, timeout: float = 5.0) -> None:
        """Return once the signals received so far are handled (``signum`` set)."""
        done = threading.Event()
        self._syncs.append(done)
        self._writer.send(bytes([SYNC_BYTE]))
        done.wait(timeout)

    def _raise_interrupt(self, signum: int, frame) -> None:
        if signum != signal.SIGUSR1 and self.signum is None:
            self.signum = signum
        raise KeyboardInterrupt

    # --- the watching thread ------------------------------------------------------------

    def _watch(self) -> None:
        with contextlib.ExitStack() as stack:
            # its own storage connections, not the main thread's; an ephemeral instance (no
            # DAGSTER_HOME) is shared with no other process: nothing to watch in it
            watcher = None
            if not self._instance.is_ephemeral:
                watcher = stack.enter_context(dg.DagsterInstance.from_ref(self._instance.get_ref()))
            while not self._stop.is_set():
                ready, _, _ = select.select([self._reader], [], [], POLL_SECONDS)
                if ready:
                    received = self._reader.recv(64)
                    for signum in received:
                        if signum in (signal.SIGINT, signal.SIGTERM):
                            self._on_signal(watcher, signum)
                    if SYNC_BYTE in received:
                        while self._syncs:
                            self._syncs.pop().set()
                if self._kill_children_at is not None and time.time() >= self._kill_children_at:
                    _signal_all(dbt_children(), signal.SIGKILL)
                if watcher is not None:
                    with contextlib.suppress(Exception):  # reporting must never break the run
                        self._report_waits(watcher)

    def _on_signal(self, instance: dg.DagsterInstance | None, signum: int) -> None:
        self._signals_seen += 1
        if self.signum is None:
            self.signum = signum
        if self._signals_seen == 1:
            self._out(f"{signal.Signals(signum).name} received: stopping the run")
            _signal_all(dbt_children(), signal.SIGINT)
            self._kill_children_at = time.time() + CHILD_GRACE_SECONDS
        else:
            self._kill_children_at = time.time()
        with contextlib.suppress(Exception):
            if instance is not None and self._our_waits(instance):
                # the main thread spins in Dagster's wait for a slot, which only notes the signal
                _thread.interrupt_main(signal.SIGUSR1)

    def _our_waits(self, instance: dg.DagsterInstance) -> list[tuple[str, str, set[str]]]:
        """(step, pool, runs holding the pool's slots) for each step of ours that waits for a
        slot."""
        storage = instance.event_log_storage
        if not storage.supports_global_concurrency_limits:
            return []
        ours = {
            record.dagster_run.run_id
            for record in instance.get_run_records(
                filters=dg.RunsFilter(statuses=UNFINISHED, tags=self.tags)
            )
        }
        if not ours:
            return []
        waits = []
        keys = storage.get_concurrency_keys()
        for key, info in storage.get_concurrency_infos(list(keys)).items():
            claimed = {(slot.run_id, slot.step_key) for slot in info.claimed_slots}
            holders = {slot.run_id for slot in info.claimed_slots} - ours
            for step in info.pending_steps:
                if step.run_id in ours and (step.run_id, step.step_key) not in claimed:
                    waits.append((step.step_key, key, holders))
        return waits

    def _report_waits(self, instance: dg.DagsterInstance) -> None:
        waits = self._our_waits(instance)
        if not waits:
            return
        holders = set().union(*(holders for *_, holders in waits))
        runs = {
            record.dagster_run.run_id: record.dagster_run
            for record in instance.get_run_records(filters=dg.RunsFilter(run_ids=list(holders)))
        }
        if any(run_id not in runs or owner_alive(runs[run_id]) is False for run_id in holders):
            for line in recover_dead_runs(instance):
                self._out(line)
            return
        for _, pool, step_holders in waits:
            for holder in sorted(step_holders):
                if (pool, holder) not in self._waits_reported:
                    self._waits_reported.add((pool, holder))
                    self._out(
                        f"waiting for pool {pool}: its slot is held by run {holder} "
                        f"({_describe(runs[holder])}); Ctrl-C stops waiting"
                    )


def _signal_all(processes: list[psutil.Process], signum: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signum)
