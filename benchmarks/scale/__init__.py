"""Benchmark 5, scale: per-trial coordination cost against the size of a study's history.

A study launched as `hpsearch launch` does (space `small`, the sleeping double
testing.doubles_faults:paced, no pruner) is prefilled with 0, 1,000 or 10,000 finished trials shaped
like real ones (benchmarks/scale/prefill.py: the space's params, 30 intermediate values, curves and
the decomposition in user attrs, a dashboard note each), once per size, in a template database;
every run starts from a copy (`CREATE DATABASE ... TEMPLATE ...`) on a throwaway PostgreSQL cluster
(benchmarks.coordination.Postgres). For each size and worker count, on the same copy state:
- hpsearch: N `python -m search worker --study NAME` processes (the product's own command);
- raw Optuna: N processes each running `study.optimize` on the same storage (opened by
  search.core.storage), the same sampler, space and double, stopped by MaxTrialsCallback.
Workers are started while the study is marked halted (hpsearch skips it; the raw workers wait on
the same attr) and released together once all are ready.

Measured from the storage (each new trial's `datetime_start`/`datetime_complete` and its
`worker` attr): trials/hour, steady-state cycles, and the per-trial coordination overhead: the
gap from one trial's end to the same worker's next trial's start. The budget lock's hold time is
measured from outside: search/service/worker.py does not log it, so a monitoring connection samples
`pg_locks` (advisory locks, by key) joined with `pg_stat_activity.xact_start` every few
milliseconds; a hold runs from its transaction's start (or, when the worker was seen waiting,
from the first sample that saw it granted) to the last sample that saw it held. Holds shorter
than a sample interval can be missed: the JSON says how many holds were seen against how many
trials were created. Last, one long-running worker's RSS (psutil) every `step` trials.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from typing import Any

from benchmarks.harness.common import REPO, child_env, log, write_result

NAME = "scale"
SPACE = "small"
TRAINER = "testing.doubles_faults:paced"
EPOCHS = 2
EPOCH_SECONDS = 0.05
HEARTBEAT_SECONDS = 10
TRIALS_PER_WORKER = 3
SAMPLE_SECONDS = 0.005  # pg_locks sampling interval asked for (the achieved one is recorded)
SEED = 15
ADD_TRIALS_SAMPLE = 100  # trials inserted both ways to choose the prefill method
FULL = {"prefills": [0, 1000, 10000], "counts": [1, 4, 16, 64], "cap_seconds": 300,
        "memory": {"prefill": 10000, "trials": 1000, "step": 100, "cap_seconds": 1200}}
QUICK = {"prefills": [0, 1000], "counts": [1, 4], "cap_seconds": 150,
         "memory": {"prefill": 1000, "trials": 100, "step": 10, "cap_seconds": 150}}
FLAT_FACTOR = 1.1
FINISHED = ("COMPLETE", "PRUNED")


def spec_for(trials: int):
    from search.core.spec import StudySpec

    return StudySpec(space=SPACE, trials=trials, epochs=EPOCHS, pruner="none", sampler="tpe", trainer=TRAINER, weights="none")


def budget_key(name: str) -> int:
    """The advisory lock key search.core.storage.Storage.lock uses for the study's budget."""
    return zlib.crc32(f"hpsearch:budget:{name}".encode())


def figures_key(name: str) -> int:
    return zlib.crc32(f"hpsearch:figures:{name}".encode())


# ---- raw Optuna worker (a child process) -------------------------------------------------------
def raw_worker(url: str, name: str, budget: int, epochs: int = EPOCHS) -> int:
    import optuna

    from search.core.spec import HALTED_ATTR, make_pruner, make_sampler
    from search.core.storage import open_storage
    from spaces import get_space
    from testing.doubles_faults import paced

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    global EPOCHS
    EPOCHS = epochs
    spec = spec_for(budget)
    space = get_space(SPACE)
    storage = open_storage(url)
    study_id = storage.optuna.get_study_id_from_name(name)
    print("ready", flush=True)
    while storage.optuna.get_study_user_attrs(study_id).get(HALTED_ATTR):
        time.sleep(0.1)
    study = optuna.load_study(study_name=name, storage=storage.optuna, sampler=make_sampler(spec), pruner=make_pruner(spec))
    from benchmarks.coordination import optimize_raw

    optimize_raw(study, space, spec, paced, budget)
    return 0


# ---- the database ----------------------------------------------------------------------------
def admin(cluster, sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=cluster.port, user=cluster.user, password=cluster.password, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def connect(cluster, db: str):
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=cluster.port, user=cluster.user, password=cluster.password, dbname=db)
    conn.autocommit = True
    return conn


def build_template(pg, prefill: int, trials: list[dict], method: str) -> tuple[str, float]:
    """A database holding the launched study and `prefill` finished trials; seconds the insert took."""
    from search.core.storage import open_storage
    from search.service.studies import launch
    from benchmarks.scale import prefill as scale_prefill

    db = f"prefill{prefill}"
    url = pg.cluster.create_database(db)
    storage = open_storage(url)
    study = launch(storage, NAME, spec_for(prefill + 1))
    started = time.perf_counter()
    if method == "bulk":
        scale_prefill.insert_bulk(storage, study._study_id, trials[:prefill])
    else:
        scale_prefill.insert_add_trials(study, trials[:prefill])
    seconds = time.perf_counter() - started
    storage.backend.engine.dispose()  # a template database must have no connections
    return db, seconds


def choose_method(pg, trials: list[dict]) -> dict[str, Any]:
    """Insert the same sample both ways into scratch databases; the faster per trial fills the templates."""
    from search.core.storage import open_storage
    from search.service.studies import launch
    from benchmarks.scale import prefill as scale_prefill

    sample = trials[:ADD_TRIALS_SAMPLE]
    per = {}
    for method in ("bulk", "add_trials"):
        storage = open_storage(pg.cluster.create_database(f"choose_{method}"))
        study = launch(storage, NAME, spec_for(1))
        started = time.perf_counter()
        if method == "bulk":
            scale_prefill.insert_bulk(storage, study._study_id, sample)
        else:
            scale_prefill.insert_add_trials(study, sample)
        per[method] = (time.perf_counter() - started) / len(sample)
        storage.backend.engine.dispose()
    chosen = min(per, key=per.get)
    return {"sample_trials": len(sample), "seconds_per_trial": per, "chosen": chosen,
            "note": "the trial notes are inserted by the bulk method only (add_trials cannot write them)"}


def copy_of(pg, template: str, label: str) -> str:
    pg.count += 1
    db = f"run{pg.count}_{label}"
    admin(pg.cluster, f'CREATE DATABASE "{db}" TEMPLATE "{template}"')
    return pg.cluster.url(db)


def set_study(url: str, *, budget: int, halted: bool) -> None:
    from search.core.spec import HALTED_ATTR, SPEC_ATTR
    from search.core.storage import open_storage

    storage = open_storage(url)
    study_id = storage.optuna.get_study_id_from_name(NAME)
    attrs = storage.optuna.get_study_user_attrs(study_id)
    storage.optuna.set_study_user_attr(study_id, SPEC_ATTR, {**attrs[SPEC_ATTR], "trials": budget})
    storage.optuna.set_study_user_attr(study_id, HALTED_ATTR, "benchmark: waiting for every worker" if halted else "")
    storage.backend.engine.dispose()


def new_trials(cluster, db: str, prefill: int) -> list[dict[str, Any]]:
    """The trials numbered from `prefill` on, read with one query (not through Optuna: no history load)."""
    conn = connect(cluster, db)
    with conn.cursor() as cur:
        cur.execute("""SELECT t.number, t.state, t.datetime_start, t.datetime_complete, a.value_json, l.value_json
                       FROM trials t LEFT JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'worker'
                       LEFT JOIN trial_user_attributes l ON l.trial_id = t.trial_id AND l.key = 'budget_lock'
                       WHERE t.number >= %s ORDER BY t.number""", (prefill,))
        rows = cur.fetchall()
    conn.close()
    return [{"number": n, "state": s, "start": a, "complete": b, "pid": (json.loads(w) or {}).get("pid") if w else None,
             "budget_lock": json.loads(lock) if lock else None}  # what the worker itself measured (ms)
            for n, s, a, b, w, lock in rows]


def count_finished(conn, prefill: int) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM trials WHERE number >= %s AND state IN ('COMPLETE', 'PRUNED')", (prefill,))
        return cur.fetchone()[0]


# ---- the lock monitor ------------------------------------------------------------------------
class LockMonitor(threading.Thread):
    """Samples the advisory locks held or awaited in one database, every SAMPLE_SECONDS."""

    def __init__(self, cluster, db: str):
        super().__init__(daemon=True)
        self.conn = connect(cluster, db)
        self.stop_event = threading.Event()
        self.episodes: dict[tuple, dict] = {}
        self.sample_times: list[float] = []

    def run(self) -> None:
        sql = """SELECT clock_timestamp(), l.pid, l.objid::bigint, l.granted, a.xact_start
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
        with self.conn.cursor() as cur:
            while not self.stop_event.is_set():
                try:
                    cur.execute(sql)
                    rows = cur.fetchall()
                except Exception:  # the run is ending
                    break
                now = time.monotonic()
                self.sample_times.append(now)
                for at, pid, key, granted, xact_start in rows:
                    if xact_start is None:
                        continue
                    e = self.episodes.setdefault((pid, key, xact_start), {"key": key, "xact_start": xact_start, "waited": False})
                    if granted:
                        e.setdefault("first_granted", at)
                        e["last_granted"] = at
                    else:
                        e["waited"] = True
                self.stop_event.wait(SAMPLE_SECONDS)
        self.conn.close()

    def stop(self) -> None:
        self.stop_event.set()
        self.join(10)

    def holds(self, key: int) -> dict[str, Any]:
        held, waits = [], []
        for e in self.episodes.values():
            if e["key"] != key or "first_granted" not in e:
                continue
            start = e["first_granted"] if e["waited"] else e["xact_start"]
            held.append(max(0.0, (e["last_granted"] - start).total_seconds()))
            waits.append((e["first_granted"] - e["xact_start"]).total_seconds() if e["waited"] else 0.0)
        gaps = [b - a for a, b in zip(self.sample_times, self.sample_times[1:])]
        return {"hold_seconds": pct(held), "wait_seconds": pct(waits), "holds_seen": len(held),
                "sample_interval_seconds": statistics.median(gaps) if gaps else None}


def pct(values: list[float]) -> dict[str, Any]:
    """n, p50, p99 (nearest rank), mean, and median/min/max as benchmarks.harness.common.summary has them."""
    values = sorted(float(v) for v in values)
    if not values:
        return {"n": 0, "p50": None, "p99": None, "mean": None, "median": None, "min": None, "max": None}

    def rank(q: float) -> float:
        return values[min(len(values) - 1, max(0, int(-(-q * len(values) // 1)) - 1))]

    return {"n": len(values), "p50": rank(0.5), "p99": rank(0.99), "mean": statistics.fmean(values),
            "median": statistics.median(values), "min": values[0], "max": values[-1]}


# ---- one measurement -------------------------------------------------------------------------
def start_workers(kind: str, url: str, count: int, budget: int, logs: str, env: dict) -> list[subprocess.Popen]:
    from benchmarks.coordination import stop

    procs = []
    for k in range(count):
        if kind == "hpsearch":
            cmd = [sys.executable, "-m", "search", "worker", "--study", NAME, "--idle-exit", "900"]
        else:
            cmd = [sys.executable, "-m", "benchmarks.scale", "--raw-worker", url, NAME, str(budget), str(EPOCHS)]
        out = open(os.path.join(logs, f"{kind}-{k}.log"), "w")
        procs.append(subprocess.Popen(cmd, env={**env, "HPSEARCH_STORAGE": url}, stdout=out, stderr=subprocess.STDOUT,
                                      cwd=REPO, start_new_session=True))
    ready = "idle: no study" if kind == "hpsearch" else "ready"  # hpsearch: it has looked once and found the study halted
    deadline = time.monotonic() + 120 + 5 * count
    texts: list[str] = []
    while time.monotonic() < deadline:
        texts = [open(os.path.join(logs, f"{kind}-{k}.log")).read() for k in range(count)]
        if all(ready in t for t in texts):
            return procs
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.2)
    stop(procs)
    raise RuntimeError(f"{kind} workers did not start; logs in {logs}:\n" + (texts[0][-2000:] if texts else ""))


def measure(kind: str, pg, template: str, prefill: int, count: int, cap: float, env: dict) -> dict[str, Any]:
    from benchmarks.coordination import stop

    new = count * TRIALS_PER_WORKER
    url = copy_of(pg, template, f"{kind}_{prefill}_{count}")
    db = url.rsplit("/", 1)[1]
    set_study(url, budget=prefill + new, halted=True)
    logs = tempfile.mkdtemp(prefix="hpsearch-bench-scale-")
    procs = start_workers(kind, url, count, prefill + new, logs, env)
    monitor = LockMonitor(pg.cluster, db)
    monitor.start()
    released = time.monotonic()
    set_study(url, budget=prefill + new, halted=False)
    capped = False
    try:
        while any(p.poll() is None for p in procs):
            if time.monotonic() - released > cap:
                capped = True
                break
            time.sleep(0.25)
    finally:
        stop(procs)
        monitor.stop()
    trials = new_trials(pg.cluster, db, prefill)
    admin(pg.cluster, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    done = [t for t in trials if t["state"] in FINISHED]
    failed = [t for t in trials if t["state"] == "FAIL"]
    out: dict[str, Any] = {"trials": len(done), "budgeted": new, "failed": len(failed), "capped": capped}
    if failed or capped:
        log(f"scale: {kind} {count} workers on {prefill}: {len(failed)} failed, capped={capped}; logs in {logs}")
    if not done:
        return {**out, "trials_per_hour": None, "overhead_per_trial_seconds": pct([]), "steady_trials_per_hour": None}
    span = (max(t["complete"] for t in done) - min(t["start"] for t in done)).total_seconds()
    by_worker: dict[Any, list] = {}
    for t in done:
        by_worker.setdefault(t["pid"], []).append(t)
    cycles, gaps = [], []
    for mine in by_worker.values():
        mine.sort(key=lambda t: t["start"])
        cycles += [(b["start"] - a["start"]).total_seconds() for a, b in zip(mine, mine[1:])]
        gaps += [(b["start"] - a["complete"]).total_seconds() for a, b in zip(mine, mine[1:])]
    cycle = statistics.median(cycles) if cycles else None
    out.update({
        "span_seconds": round(span, 2),
        "trials_per_hour": len(done) / span * 3600 if span > 0 else None,
        "steady_trials_per_hour": count * 3600 / cycle if cycle else None,
        "cycle_seconds": pct(cycles),
        "overhead_per_trial_seconds": pct(gaps),
        "in_trial_seconds": pct([(t["complete"] - t["start"]).total_seconds() for t in done]),
    })
    if kind == "hpsearch":
        recorded = [t["budget_lock"] for t in trials if t["budget_lock"]]
        sampled = monitor.holds(budget_key(NAME))
        if recorded:  # the worker's own timing around the lock: exact, and no hold is missed
            out["budget_lock"] = {"source": "recorded by the worker (trial attr budget_lock)",
                                  "hold_seconds": pct([r["held_ms"] / 1000 for r in recorded]),
                                  "wait_seconds": pct([r["wait_ms"] / 1000 for r in recorded]), "sampled": sampled}
        else:
            out["budget_lock"] = {"source": "sampled from pg_locks", **sampled}
        out["figures_lock"] = monitor.holds(figures_key(NAME))
    if not failed and not capped:
        import shutil

        shutil.rmtree(logs, ignore_errors=True)
    return out


def memory(pg, template: str, prefill: int, trials: int, step: int, cap: float, env: dict) -> dict[str, Any]:
    """One hpsearch worker's RSS (its own process, not its trial processes) every `step` trials."""
    import psutil

    from benchmarks.coordination import stop

    url = copy_of(pg, template, f"memory_{prefill}")
    db = url.rsplit("/", 1)[1]
    set_study(url, budget=prefill + trials, halted=True)
    logs = tempfile.mkdtemp(prefix="hpsearch-bench-scale-mem-")
    procs = start_workers("hpsearch", url, 1, prefill + trials, logs, env)
    proc = psutil.Process(procs[0].pid)
    samples = [{"trials": 0, "rss_mib": proc.memory_info().rss / 2**20}]
    set_study(url, budget=prefill + trials, halted=False)
    conn = connect(pg.cluster, db)
    started = time.monotonic()
    capped = False
    try:
        while procs[0].poll() is None:
            done = count_finished(conn, prefill)
            if done >= samples[-1]["trials"] + step:
                samples.append({"trials": done, "rss_mib": proc.memory_info().rss / 2**20,
                                "seconds": round(time.monotonic() - started, 1)})
            if time.monotonic() - started > cap:
                capped = True
                break
            time.sleep(0.1)
    except psutil.NoSuchProcess:
        pass
    finally:
        done = count_finished(conn, prefill)
        conn.close()
        stop(procs)
    admin(pg.cluster, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    warm = next((s for s in samples if s["trials"] >= step), None)
    last = samples[-1]
    reached = done >= trials and not capped
    flat = bool(warm and last is not warm and last["rss_mib"] <= warm["rss_mib"] * FLAT_FACTOR)
    return {"prefill": prefill, "trials_asked": trials, "trials_run": done, "step": step, "capped": capped,
            "samples": [{k: round(v, 1) if isinstance(v, float) else v for k, v in s.items()} for s in samples],
            "warm_rss_mib": warm["rss_mib"] if warm else None, "last_rss_mib": last["rss_mib"],
            "flat": flat, "reached": reached}


# ---- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    global EPOCHS, EPOCH_SECONDS
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--raw-worker":
        return raw_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--prefills", help="comma-separated prefill sizes")
    parser.add_argument("--counts", help="comma-separated worker counts")
    parser.add_argument("--no-memory", action="store_true", help="skip the long-running worker's memory run")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="epochs of the double per trial")
    parser.add_argument("--epoch-seconds", type=float, default=EPOCH_SECONDS,
                        help="the double's sleep per epoch: longer trials show the throughput ratio without the "
                             "process-per-trial cost dominating it")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    EPOCHS, EPOCH_SECONDS = args.epochs, args.epoch_seconds
    started = time.monotonic()
    import warnings

    import optuna

    from benchmarks.scale import prefill as scale_prefill
    from benchmarks.coordination import Postgres

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    plan = dict(QUICK if args.quick else FULL)
    if args.prefills:
        plan["prefills"] = [int(p) for p in args.prefills.split(",")]
    if args.counts:
        plan["counts"] = [int(c) for c in args.counts.split(",")]
    mem_plan = None if args.no_memory else plan["memory"]
    sizes = sorted(set(plan["prefills"]) | ({mem_plan["prefill"]} if mem_plan else set()))
    env = child_env(HPSEARCH_TEST_EPOCH_SECONDS=str(EPOCH_SECONDS), HPSEARCH_HEARTBEAT=str(HEARTBEAT_SECONDS))
    os.environ.update({k: env[k] for k in ("PYTHONPATH", "HPSEARCH_TEST_EPOCH_SECONDS")})
    pg = Postgres()
    results: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        shaped = scale_prefill.shaped_trials(spec_for(1), max(max(sizes), ADD_TRIALS_SAMPLE), SEED)
        shaping = time.perf_counter() - t0
        method = choose_method(pg, shaped)
        log(f"scale: {len(shaped)} trials shaped in {shaping:.0f} s; prefill by {method['chosen']} "
            f"({', '.join(f'{k} {v * 1000:.1f} ms/trial' for k, v in method['seconds_per_trial'].items())})")
        templates, fill_seconds = {}, {}
        for size in sizes:
            templates[size], fill_seconds[str(size)] = build_template(pg, size, shaped, method["chosen"])
            log(f"scale: template with {size} trials filled in {fill_seconds[str(size)]:.1f} s")
        del shaped
        for prefill in plan["prefills"]:
            rows = {}
            for count in plan["counts"]:
                row = {}
                for kind in ("hpsearch", "raw_optuna") if count % 2 else ("raw_optuna", "hpsearch"):
                    row[kind] = measure(kind, pg, templates[prefill], prefill, count, plan["cap_seconds"], env)
                h, r = row["hpsearch"], row["raw_optuna"]
                row["ratio"] = h["trials_per_hour"] / r["trials_per_hour"] if h["trials_per_hour"] and r["trials_per_hour"] else None
                row["steady_ratio"] = (h["steady_trials_per_hour"] / r["steady_trials_per_hour"]
                                       if h["steady_trials_per_hour"] and r["steady_trials_per_hour"] else None)
                rows[str(count)] = row
                lock = h.get("budget_lock", {}).get("hold_seconds", {})
                log(f"scale: {prefill} trials, {count} workers: hpsearch {h['trials_per_hour'] or 0:.0f}/h, raw "
                    f"{r['trials_per_hour'] or 0:.0f}/h, steady ratio {row['steady_ratio'] or 0:.2f}; overhead p50 "
                    f"{h['overhead_per_trial_seconds']['p50'] or 0:.3f} s (raw {r['overhead_per_trial_seconds']['p50'] or 0:.3f} s); "
                    f"lock p50 {lock.get('p50') or 0:.3f} s p99 {lock.get('p99') or 0:.3f} s")
            results[str(prefill)] = rows
        mem = None
        if mem_plan:
            mem = memory(pg, templates[mem_plan["prefill"]], mem_plan["prefill"], mem_plan["trials"], mem_plan["step"],
                         mem_plan["cap_seconds"], env)
            log(f"scale: memory: {mem['trials_run']} trials, RSS {', '.join(str(s['rss_mib']) for s in mem['samples'])} MiB")
    finally:
        pg.close()
    body = {"settings": settings(plan, mem_plan, method, fill_seconds, shaping), "prefills": results, "memory": mem,
            "targets": targets(results, mem, plan)}
    path = write_result("scale", args.quick, body, started=started, path=args.out)
    log(f"scale: wrote {path}")
    return 0


def settings(plan, mem_plan, method, fill_seconds, shaping) -> dict[str, Any]:
    return {
        "storage": "PostgreSQL (throwaway cluster, fsync off)", "space": SPACE, "trainer": TRAINER, "epochs": EPOCHS,
        "epoch_seconds": EPOCH_SECONDS, "trial_sleep_seconds": round(EPOCHS * EPOCH_SECONDS, 3), "sampler": "tpe", "pruner": "none",
        "heartbeat_seconds": HEARTBEAT_SECONDS, "trials_per_worker": TRIALS_PER_WORKER, "prefills": plan["prefills"],
        "counts": plan["counts"], "cap_seconds": plan["cap_seconds"], "memory": mem_plan, "cores": len(os.sched_getaffinity(0)),
        "prefill_trials": f"COMPLETE, {scale_prefill_epochs()} intermediate values, curves/decomposition/config user attrs, "
                          f"a dashboard note each; params of {min(max(plan['prefills'] + [1]), 500)} or fewer distinct "
                          "configurations sampled by the space, cycled",
        "prefill_method": method, "prefill_seconds": fill_seconds, "shaping_seconds": round(shaping, 1),
        "overhead": "per worker, the gap from a trial's datetime_complete to the same worker's next trial's datetime_start",
        "steady_trials_per_hour": "workers x 3600 / median cycle (a worker's trial start to its next)",
        "throughput_ratio": "hpsearch's steady trials/hour over raw Optuna's, same prefill and worker count",
        "lock_method": ("the worker's own record where the code under test keeps one (trial attr budget_lock: wait and "
                        "hold in ms, timed around the lock); otherwise, and always as a cross-check, sampled from outside: a monitoring connection reads "
                        f"pg_locks (advisory, by key) joined with pg_stat_activity every {SAMPLE_SECONDS * 1000:.0f} ms "
                        "(achieved interval recorded per run); a hold runs from the transaction's start (from the first "
                        "sample seeing it granted when it was seen waiting) to the last sample seeing it held, so each "
                        "hold is short by up to two intervals and holds under one interval may be missed"),
        "memory_flat": f"last RSS sample <= {FLAT_FACTOR} x the sample after the first `step` trials (warm-up), "
                       "with every asked trial run",
    }


def scale_prefill_epochs() -> int:
    from benchmarks.scale.prefill import EPOCHS as N

    return N


def targets(results: dict, mem: dict | None, plan: dict) -> dict[str, Any]:
    big = str(max(plan["prefills"]))
    overheads = {c: row["hpsearch"]["overhead_per_trial_seconds"]["p50"] for c, row in results.get(big, {}).items()}
    locks = {c: row["hpsearch"].get("budget_lock", {}).get("hold_seconds", {}).get("p99") for c, row in results.get(big, {}).items()}
    ratios = {f"{p}/{c}": row["steady_ratio"] for p, rows in results.items() for c, row in rows.items() if int(c) <= 16}
    known = [v for v in ratios.values() if v is not None]
    out = {
        "overhead": {"target": "at most 0.1 s coordination overhead per trial (median gap) at 10,000 trials",
                     "prefill": int(big), "median_seconds_by_workers": overheads,
                     "met": int(big) >= 10000 and bool(overheads) and all(v is not None and v <= 0.1 for v in overheads.values())},
        "lock_p99": {"target": "budget-lock hold p99 at most 0.05 s at 10,000 trials", "prefill": int(big),
                     "p99_seconds_by_workers": locks,
                     "met": int(big) >= 10000 and bool(locks) and all(v is not None and v <= 0.05 for v in locks.values())},
        "throughput": {"target": "at least 0.9 of raw Optuna's steady trials/hour at every worker count up to 16",
                       "ratios": ratios, "worst_ratio": min(known) if known else None,
                       "met": bool(known) and len(known) == len(ratios) and min(known) >= 0.9},
    }
    if mem:
        out["memory_flat"] = {"target": f"a long-running worker's RSS flat (last <= {FLAT_FACTOR} x after warm-up) over "
                                        f"{mem['trials_asked']} trials on {mem['prefill']:,}",
                              "warm_rss_mib": mem["warm_rss_mib"], "last_rss_mib": mem["last_rss_mib"],
                              "trials_run": mem["trials_run"], "trials_asked": mem["trials_asked"],
                              "met": mem["flat"] and mem["reached"]}
    return out

