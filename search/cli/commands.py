"""`hpsearch`: the command line. Thin: each command parses, calls one library function, prints.

TensorFlow is imported only by commands that train or decode (`train`, `prepare`); everything else starts fast.
Every expected error is one line on stderr and exit code 2; nothing prints a traceback unless
`--verbose` is given.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import click

# Before anything imports TensorFlow: keep its C++ INFO lines out of people's terminals.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from search.cli import output
from search.core.storage import ENV_URL, SecretFilter

log = logging.getLogger("hpsearch")


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if verbose:  # trial processes keep TensorFlow's start-up lines too (search.service.tf_noise)
        from search.service.tf_noise import KEEP_ALL_ENV

        os.environ[KEEP_ALL_ENV] = "1"
    import warnings

    import optuna

    # Heartbeats and fail_stale_trials are "experimental" in Optuna: we rely on them knowingly.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    for noisy in ("absl", "tensorflow", "h5py", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--storage", envvar=ENV_URL, metavar="URL",
              help=f"postgresql://user:pass@host/db, or journal:FILE (embedded). Default: ${ENV_URL}, "
                   "else ~/.local/share/hpsearch/studies.journal.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logs, and tracebacks on errors.")
@click.version_option(package_name="hpsearch", prog_name="hpsearch")
@click.pass_context
def cli(ctx: click.Context, storage: str | None, verbose: bool) -> None:
    """Hyperparameter search for Keras image classifiers, on Optuna + PostgreSQL."""
    setup_logging(verbose)
    ctx.obj = {"storage": storage, "verbose": verbose}


def _storage(ctx: click.Context):
    from search.core.storage import open_storage

    return open_storage(ctx.obj["storage"])


# ---- launch ----------------------------------------------------------------------------
def _duration(value: str | None, flag: str = "--time-budget", zero: bool = False) -> float | None:
    from search.core.budget import DurationError, parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value, allow_zero=zero)
    except DurationError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{flag}'") from None


def _fixed(pairs: tuple[str, ...]) -> dict:
    """`--set FIELD=VALUE` pairs as {field: value}, each value read as YAML (0.1 a number, adam a string)."""
    import yaml

    fixed = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key.strip():
            raise click.BadParameter(f"{pair!r} is not FIELD=VALUE", param_hint="'--set'")
        try:
            fixed[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise click.BadParameter(f"{pair!r}: {text!r} is not a value", param_hint="'--set'") from None
    return fixed


def _early_check_words(fraction: float) -> str:
    return f" (first verdict after {fraction:.0%} of epoch 1)" if fraction else ""


@cli.command()
@click.argument("name")
@click.option("--space", default="default", show_default=True, help="Space name, or module path (mypkg.myspace).")
@click.option("--narrow", "narrow_file", type=click.Path(dir_okay=False), help="YAML file narrowing the space's ranges.")
@click.option("--dataset", default="digits", show_default=True, help="digits | mnist | fashion_mnist | cifar10 | cifar100 | tfds:NAME | dir:PATH")
@click.option("--target-dir", help="With dir:PATH, a folder of the target distribution for dev and test.")
@click.option("--image-size", type=int, help="Resize images to this side.")
@click.option("--resize", default="stretch", show_default=True, help="stretch | crop | pad: how images become square.")
@click.option("--memory-budget-mb", type=int, default=512, show_default=True,
              help="Decoded splits each trial keeps in RAM; the rest stream from the per-host cache.")
@click.option("--weights", default="imagenet", show_default=True, help="Pretrained backbones: imagenet | none | FILE.")
@click.option("--trials", type=int, default=50, show_default=True, help="Study-wide budget of finished trials.")
@click.option("--time-budget", callback=lambda ctx, param, value: _duration(value), metavar="DURATION",
              help="Study-wide time budget from its first trial (90s, 60m, 1h30m; a bare number is seconds): "
                   "no trial starts after it, running ones finish. With --resume: a fresh allowance.")
@click.option("--max-overrun", callback=lambda ctx, param, value: _duration(value, "--max-overrun", zero=True),
              metavar="DURATION",
              help="With --time-budget: stop (as pruned) a trial whose epochs so far show it would finish more than "
                   "this after the budget ends.  [default: a quarter of the budget, at least 10m]")
@click.option("--epochs", type=int, default=10, show_default=True, help="Epochs per trial.")
@click.option("--pruner", default="hyperband", show_default=True, help="hyperband | median | sha | none")
@click.option("--early-check", type=float, default=0.0, show_default=True, metavar="FRACTION",
              help="Also let the pruner judge each trial after this share of its first epoch, on a fixed sample of "
                   "dev (0.25: a quarter); it stops only clear losers. 0: the first verdict comes after epoch 1.")
@click.option("--sampler", default="tpe", show_default=True, help="tpe | random | gp")
@click.option("--portfolio/--no-portfolio", default=True, show_default=True,
              help="Run the space's proven recipes first (a few published configurations; counted in --trials).")
@click.option("--set", "fixed", multiple=True, metavar="FIELD=VALUE", callback=lambda ctx, param, value: _fixed(value),
              help="Give every trial this training-config field, one the space does not search (repeatable): "
                   "training.label_smoothing=0.1, optimizer.ema_momentum=0.99, augment.random_erasing=0.5.")
@click.option("--objectives", default="dev_accuracy", show_default=True,
              help="dev_accuracy or dev_error; a second one (latency_ms, params, model_mb) makes a Pareto study.")
@click.option("--human-error", type=float, default=0.0, show_default=True, help="Human-level error (a fraction), the proxy for Bayes error.")
@click.option("--max-latency-ms", type=float, help="Satisficing limit: inference latency at batch 1.")
@click.option("--max-params", type=float, help="Satisficing limit: parameter count.")
@click.option("--max-model-mb", type=float, help="Satisficing limit: weights size in MiB.")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed of each trial's training.")
@click.option("--trial-timeout", type=float, help="Fail a trial that runs longer than this many seconds.")
@click.option("--max-failures", type=int, default=5, show_default=True, help="Halt the study after this many failures in a row.")
@click.option("--artifacts", envvar="HPSEARCH_ARTIFACTS", metavar="DIR|s3://BUCKET/PREFIX",
              help="Where trained models and images go: a folder every worker host mounts, or S3. "
                   "[default: beside the embedded storage file; for a database, this host's data folder]")
@click.option("--keep-models", type=int, default=10, show_default=True,
              help="Keep the trained models of the best K completed trials (0: none).")
@click.option("--trainer", default="trainers.train:train", hidden=True, help="module:function that trains (tests use doubles).")
@click.option("--resume", is_flag=True, help="Continue an existing study (and raise its budget to --trials).")
@click.option("--zoom", "zoom_from", metavar="PREV",
              help="Start from study PREV: its settings, its space narrowed around its best trials (or by --narrow), "
                   "its finished trials warm-starting the sampler (not counted in --trials), its best configurations queued first.")
@click.option("--top", type=int, default=5, show_default=True, help="With --zoom: narrow around PREV's best K trials.")
@click.option("--slack", type=float, default=0.1, show_default=True,
              help="With --zoom: widen each range by this share of PREV's range on each side (log ranges in log space).")
@click.option("--workers", type=click.IntRange(min=0), default=0, help="Also run K local workers and show progress until the budget is met.")
@click.option("--log-dir", default="hpsearch-logs", show_default=True, help="Where --workers write their logs.")
@click.pass_context
def launch(ctx, name, narrow_file, workers, log_dir, resume, objectives, zoom_from, top, slack, **options):
    """Create study NAME with its whole spec; workers anywhere pick it up."""
    from search.core.budget import describe_duration
    from search.core.spec import StudySpec
    from search.service.studies import launch as launch_study
    from spaces import load_narrowing

    narrowing = load_narrowing(narrow_file) if narrow_file else {}
    objectives = tuple(o.strip() for o in objectives.split(",") if o.strip())
    storage = _storage(ctx)
    if os.path.isfile(options.get("weights") or ""):  # launch loads it into the space's backbones
        from search.service.tf_noise import import_tensorflow_quietly

        import_tensorflow_quietly()
    if zoom_from:
        study, spec = _launch_zoomed(ctx, storage, name, zoom_from, top, slack, narrowing, narrow_file, resume,
                                     objectives, options)
    else:
        for flag in ("top", "slack"):
            if ctx.get_parameter_source(flag) != click.core.ParameterSource.DEFAULT:
                raise click.UsageError(f"--{flag} goes with --zoom PREV")
        spec = StudySpec(**options, narrowing=narrowing, objectives=objectives)
        spec.validate()
        study = launch_study(storage, name, spec, resume=resume)
        if resume:  # what the study runs: the stored spec, with the budgets this command changed
            from search.core.spec import read_spec

            spec = read_spec(study)
    within = f" within {describe_duration(spec.time_budget)}" if spec.time_budget else ""
    click.echo(f"study {study.study_name!r} {'resumed' if resume else 'launched'} on {storage.display}: "
               f"{spec.trials} trials{within} of {spec.epochs} epochs, space {spec.space}, dataset {spec.dataset}, "
               f"pruner {spec.pruner}{_early_check_words(spec.early_check)}, sampler {spec.sampler}")
    _describe_folders(name, spec.dataset, spec.target_dir)
    if spec.fixed:
        click.echo(f"{name}: every trial with {', '.join(f'{k}={v}' for k, v in spec.fixed.items())}")
    if not resume and not spec.zoomed_from:
        from search.service.studies import PORTFOLIO_ATTR

        recipes = [t.user_attrs[PORTFOLIO_ATTR] for t in study.get_trials(deepcopy=False) if PORTFOLIO_ATTR in t.user_attrs]
        if recipes:
            click.echo(f"{name}: first, {len(recipes)} proven recipes of space {spec.space}: {', '.join(recipes)} "
                       f"(--no-portfolio skips them)")
    if spec.zoomed_from:
        from search.analysis.zoom import describe_lineage

        click.echo(f"{name}: {describe_lineage(spec.zoomed_from, spec.warm_trials)}")
    if workers:
        from search.cli.local import run_local_workers

        summary = run_local_workers(storage, name, workers, log_dir=log_dir)
        output.print_study_table([summary])
        if summary.state == "halted":
            raise SystemExit(1)
    else:
        click.echo(f"start workers with: hpsearch worker --study {name}   (or docker compose up workers)")


def _launch_zoomed(ctx, storage, name, previous, top, slack, narrowing, narrow_file, resume, objectives, options):
    """NEXT from PREV: PREV's spec, overridden by the options given on this command line only."""
    from search.core.spec import read_spec
    from search.service import zoom

    if resume:
        raise click.UsageError("--zoom creates a new study; --resume continues one: use one or the other")
    given = {k: v for k, v in options.items() if ctx.get_parameter_source(k) != click.core.ParameterSource.DEFAULT}
    if ctx.get_parameter_source("objectives") != click.core.ParameterSource.DEFAULT:
        given["objectives"] = objectives
    study = zoom.launch_zoomed(storage, name, previous, given, top=top, slack=slack,
                               narrowing=narrowing if narrow_file else None, narrowing_source=narrow_file)
    return study, read_spec(study)


# ---- worker ----------------------------------------------------------------------------
@cli.command()
@click.option("--study", "studies", multiple=True, help="Serve only this study (repeatable). Default: every study.")
@click.option("--idle-exit", type=float, help="Exit after this many seconds with nothing to do (default: serve forever).")
@click.option("--heartbeat", type=int, help="Heartbeat interval in seconds (PostgreSQL); stale after 3x.")
@click.pass_context
def worker(ctx, studies, idle_exit, heartbeat):
    """Run trials of studies with budget left, until stopped (SIGTERM/SIGINT)."""
    from search.service.worker import main

    raise SystemExit(main(ctx.obj["storage"], list(studies) or None, idle_exit, heartbeat))


# ---- status ----------------------------------------------------------------------------
@cli.command()
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--all", "every", is_flag=True,
              help="With NAME: every trial (the table shows the best, the running and the latest; JSON always has all).")
@click.pass_context
def status(ctx, name, fmt, every):
    """A table of studies, or of one study's trials."""
    from search.core import confirmations
    from search.service import studies

    storage = _storage(ctx)
    if name:
        study = studies.load(storage, name)
        summary = studies.summarize(study, storage)
        if fmt == "json" or every:
            trials = study.get_trials(deepcopy=False)
            total = len(trials)
        else:
            trials, total = studies.relevant_trials(storage, study)
        groups = [g.to_dict() for g in confirmations.of_study(study, summary.objective, trials)]
        if fmt == "json":
            click.echo(json.dumps({"study": summary.to_dict(), "trials": [output.trial_row(t) for t in trials],
                                   "confirmations": groups}, indent=2, default=str))
        else:
            output.print_study_table([summary])
            output.print_trials_table(study, trials)
            if len(trials) < total:
                click.echo(f"{len(trials)} of {total} trials shown: the 10 best, those running or waiting, the 10 latest "
                           f"and any confirmation runs (--all lists every one)")
            output.print_confirmations(groups, summary.objective)
        return
    summaries = [studies.summarize(studies.load(storage, name), storage) for name in storage.study_names()]
    if fmt == "json":
        click.echo(json.dumps([s.to_dict() for s in summaries], indent=2))
    elif not summaries:
        click.echo(f"no studies on {storage.display}; create one with: hpsearch launch NAME")
    else:
        output.print_study_table(summaries)


# ---- confirm ---------------------------------------------------------------------------
@cli.command()
@click.argument("name")
@click.option("--top", type=int, default=3, show_default=True, help="Re-measure the best K configurations.")
@click.option("--seeds", type=int, default=3, show_default=True, help="New seeds (runs) per configuration.")
@click.pass_context
def confirm(ctx, name, top, seeds):
    """Re-train the top configurations under new seeds; export then picks by their mean."""
    from search.service.confirm import queue_confirmations

    done = queue_confirmations(_storage(ctx), name, top=top, seeds=seeds)
    click.echo(f"{done['queued']} confirmation runs queued in {name!r} for trials "
               f"{', '.join(map(str, done['trials']))} ({seeds} each); its confirmation budget is now "
               f"{done['confirm_budget']} runs, apart from --trials")
    if done["blocked"]:
        click.echo(f"the study is {done['blocked']}: `hpsearch launch {name} --resume` lets workers run them", err=True)
    else:
        click.echo(f"any worker serving {name!r} runs them; then `hpsearch status {name}` shows each configuration's "
                   "mean ± std, and export picks by the mean")


# ---- export ----------------------------------------------------------------------------
@cli.command()
@click.argument("name")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), help="File to write (default: stdout).")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--top", type=click.IntRange(min=1), default=1, show_default=True, help="Also list the next K-1 best trials.")
@click.option("--model", "model_out", type=click.Path(dir_okay=False),
              help="Also write the best trial's trained model (.keras), as the study kept it: no retraining.")
@click.option("--ensemble", type=click.IntRange(min=2), metavar="K",
              help="Export an ensemble of at most K kept models instead (greedy selection on dev; --model writes it).")
@click.option("--backbone-weights", "backbone_out", type=click.Path(dir_okay=False), metavar="FILE.weights.h5",
              help="Also write the best trial's pretrained backbone, headless (for --weights FILE in another study).")
@click.option("--tta", is_flag=True,
              help="With --ensemble: try test-time augmentation (flip, 1-2 px shifts) and keep it where held-out dev "
                   "says it helps; needs the study's data on this host.")
@click.pass_context
def export(ctx, name, out, fmt, top, model_out, ensemble, backbone_out, tta):
    """Write the best trial's configuration, metrics and provenance (for `hpsearch train`)."""
    import yaml

    from search.core.spec import read_spec
    from search.service import models, studies

    if tta and not ensemble:
        raise click.UsageError("--tta goes with --ensemble K")
    if model_out or ensemble or backbone_out:
        from search.service.tf_noise import import_tensorflow_quietly

        import_tensorflow_quietly()
    storage = _storage(ctx)
    study = studies.load(storage, name)
    doc = studies.export_document(study, top=top)
    if backbone_out:
        backbone = models.export_backbone_weights(storage, study, read_spec(study), doc["trial"], backbone_out)
        click.echo(f"{backbone} backbone of trial {doc['trial']} written to {backbone_out} "
                   f"(hpsearch launch --weights {backbone_out} transfers it)", err=True)
    if ensemble:
        from search.analysis.ensemble import describe_tta
        from search.service.ensemble import export_ensemble

        with output.progress_bar("test-time augmentation: views of dev", enabled=tta) as advance:
            doc["ensemble"] = found = export_ensemble(storage, study, read_spec(study), ensemble, doc["trial"],
                                                      model_out, tta=tta, progress=advance)
        members = ", ".join(f"{m['trial']} ({m['weight']:.2f})" for m in found["members"])
        click.echo(f"ensemble of {found['size']} kept models of {len(found['chosen_from'])} "
                   f"(trials {members}); dev accuracy on examples that did not choose it "
                   f"{found['dev_accuracy_held_out']:.4f} against {found['best_single_dev_accuracy_held_out']:.4f} "
                   f"for the best single model chosen the same way; test accuracy {found['test_accuracy']:.4f} against "
                   f"{found['best_single']['test_accuracy']:.4f} for trial {found['best_single']['trial']}", err=True)
        if "tta" in found:
            click.echo(describe_tta(found["tta"])[0], err=True)
        if model_out:
            click.echo(f"ensemble written to {model_out} (keras.models.load_model reads it; it takes 0-255 pixels): "
                       f"{found['latency_ms']:.1f} ms an image at batch 1, against {found['best_single']['latency_ms']:.1f} ms "
                       f"for trial {found['best_single']['trial']} alone", err=True)
            if found.get("latency_limit_exceeded") is not None:
                click.echo(f"warning: the ensemble is slower than the study's --max-latency-ms "
                           f"{found['latency_limit_exceeded']:g}; a smaller --ensemble K is faster", err=True)
    if model_out and not ensemble:
        # First: a trial without a kept model fails the export before anything is written.
        models.fetch(storage, study, read_spec(study), doc["trial"], model_out)
        click.echo(f"trained model of trial {doc['trial']} written to {model_out} "
                   "(keras.models.load_model reads it; it takes 0-255 pixels)", err=True)
    text = json.dumps(doc, indent=2) if fmt == "json" else yaml.safe_dump(doc, sort_keys=False)
    if not out:
        click.echo(text)
        return
    output.write_text(out, text)
    click.echo(f"trial {doc['trial']} of {name!r} ({', '.join(f'{k}={v:.4f}' for k, v in doc['objectives'].items())}) "
               f"written to {out}; retrain it with: hpsearch train {out}", err=True)


# ---- train -----------------------------------------------------------------------------
@cli.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--epochs", type=click.IntRange(min=1), help="Override training.epochs.")
@click.option("--dataset", help="Override data.dataset.")
@click.option("--save", type=click.Path(dir_okay=False), help="Save the trained model (.keras).")
@click.option("--metrics", "metrics_out", type=click.Path(dir_okay=False), help="Also write the final metrics as JSON.")
def train(config_file, epochs, dataset, save, metrics_out):
    """Train one configuration (YAML, or an export file) standalone: no database."""
    from trainers.config import load_config

    config = load_config(config_file)
    if epochs:
        config = config.replace(training={"epochs": epochs})
    if dataset:
        config = config.replace(data={"dataset": dataset})
    for path in (save, metrics_out):
        if path:
            output.check_writable(path)
    from search.cli.standalone import train_with_progress

    train_with_progress(config, save, metrics_out)


# ---- prepare / cache -------------------------------------------------------------------
@cli.command()
@click.argument("config_or_dataset")
@click.option("--image-size", type=click.IntRange(min=1), help="Side to resize to (a dataset name only; folders: 128).")
@click.option("--resize", type=click.Choice(["stretch", "crop", "pad"]), help="How to make images square (a dataset name only).")
@click.option("--seed", type=int, help="Seed of the split (a dataset name only).")
def prepare(config_or_dataset, image_size, resize, seed):
    """Decode a dataset once for this host (dir:PATH), so that no trial waits for it."""
    from trainers.config import DataConfig, load_config
    from trainers.data import prepare as prepare_dataset

    if os.path.isfile(config_or_dataset):
        data = load_config(config_or_dataset).data
    else:
        options = {"image_size": image_size, "resize": resize, "seed": seed}
        data = DataConfig(dataset=config_or_dataset, **{k: v for k, v in options.items() if v is not None})
    _describe_folders(None, data.dataset, data.target_dir)
    info = prepare_dataset(data)
    sizes = ", ".join(f"{k} {v}" for k, v in info["sizes"].items())
    shape = "x".join(str(d) for d in info["image_shape"])
    if info["cache"]:
        state = "built" if info["built"] else "already there"
        click.echo(f"{info['dataset']}: {shape} uint8 ({sizes}); cache {state}: {info['cache']}")
    else:
        click.echo(f"{info['dataset']}: {shape} ({sizes}); held in memory by each trial, nothing to cache")
    if info["skipped"]:
        click.echo(f"{len(info['skipped'])} unreadable files left out, e.g. {info['skipped'][0]}")


def _describe_folders(study: str | None, dataset: str, target_dir: str | None) -> None:
    """For a folder dataset: the images found per class, and what was left out and why (listing only, no decoding)."""
    from trainers.data.images import index_folder

    folders = ([dataset[4:]] if dataset.startswith("dir:") else []) + ([target_dir] if target_dir else [])
    for folder in folders:
        click.echo(f"{study + ': ' if study else ''}{index_folder(folder).describe()}")


@cli.group()
def cache():
    """The decoded datasets of this host ($HPSEARCH_CACHE, default ~/.cache/hpsearch)."""


@cache.command("list")
def cache_list():
    """Every cached dataset: key, dataset, size, resize mode, seed, images, disk use."""
    from trainers.data.cache import cache_root, list_entries

    rows = list_entries()
    if not rows:
        click.echo(f"no cached datasets in {cache_root()}")
        return
    click.echo(f"{'key':<20}  {'images':>7}  {'MiB':>8}  {'size':>4}  {'resize':<7}  {'seed':>4}  {'created':<20}  dataset")
    for r in rows:
        click.echo(f"{r['key']:<20}  {r['images']:>7}  {r['bytes'] / 2**20:>8.1f}  {r['image_size']!s:>4}  "
                   f"{r['resize']!s:<7}  {r['seed']!s:>4}  {r['created']!s:<20}  {r['dataset']}")


@cache.command("clear")
@click.argument("keys", nargs=-1)
def cache_clear(keys):
    """Delete cached datasets (all, or the KEYS given); one being built is kept. Stop workers first."""
    from trainers.data.cache import cache_root, clear

    removed = clear(list(keys) or None)
    click.echo(f"removed {len(removed)} cached dataset{'s' if len(removed) != 1 else ''} from {cache_root()}")


# ---- spaces ----------------------------------------------------------------------------
@cli.command()
@click.option("--sample", "sample_space", metavar="NAME", help="Print one configuration sampled from space NAME as YAML.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--narrow", "narrow_file", type=click.Path(dir_okay=False), help="YAML file narrowing the ranges.")
@click.option("--dataset", default="digits", show_default=True, help="Dataset of the sampled configuration.")
def spaces(sample_space, seed, narrow_file, dataset):
    """List the search spaces (each dimension, its range and scale), or sample one."""
    from spaces import BUILTIN, RandomTrial, get_space, load_narrowing

    narrowing = load_narrowing(narrow_file) if narrow_file else None
    if sample_space:
        from trainers.config import TrainConfig

        base = TrainConfig().replace(data={"dataset": dataset})
        config = get_space(sample_space, narrowing).suggest(RandomTrial(seed), base)
        click.echo(config.to_yaml(), nl=False)
        return
    for space in BUILTIN.values():
        output.print_space(space.narrow(narrowing) if narrowing else space)


# ---- dashboard -------------------------------------------------------------------------
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind. It has no authentication.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.pass_context
def dashboard(ctx, host, port):
    """Serve optuna-dashboard on the same storage (local only unless told otherwise)."""
    from search.cli.dashboard import serve

    serve(_storage(ctx), host, port)


# ---- report / diagnose -----------------------------------------------------------------
@cli.command()
@click.argument("name")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True, help="How many of the best trials to decompose.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--mistakes", is_flag=True, help="Instead: a trial's mistakes on dev (the most-confused pairs, and its gallery PNG).")
@click.option("--trial", "number", type=click.IntRange(min=0), help="With --mistakes: this trial (default: the best).")
@click.option("--gallery", type=click.Path(dir_okay=False),
              help="With --mistakes: where to write the gallery of worst mistakes [default: NAME-trialN-mistakes.png].")
@click.pass_context
def report(ctx, name, top, fmt, mistakes, number, gallery):
    """The dashboard's error analysis in the terminal: best trials, study summary, where to look next."""
    from search.analysis import report as analysis
    from search.cli.printing import print_report
    from search.service import studies

    if (number is not None or gallery) and not mistakes:
        raise click.UsageError("--trial and --gallery go with --mistakes")
    storage = _storage(ctx)
    if mistakes:
        from search.cli.printing import print_mistakes
        from search.service.mistakes import trial_mistakes

        found = trial_mistakes(storage, studies.load(storage, name), number, gallery)
        if fmt == "json":
            click.echo(json.dumps({"trial": found.number, "gallery": found.gallery, **found.mistakes}, indent=2))
        else:
            print_mistakes(name, found)
        return
    from search.core import trial_index

    study = studies.load(storage, name)
    # Every trial's attributes but its curves and mistakes, which the report reads for the best alone.
    result = analysis.analyse(study, top=top, trials=trial_index.index(storage, study._study_id,
                                                                        all_attrs_but=("curves", "mistakes")))
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        print_report(result)


@cli.command()
@click.option("--human-error", type=float, default=0.0, show_default=True, help="Human-level error (a fraction), the proxy for Bayes error.")
@click.option("--train-error", type=float, required=True, help="Error on the training set, in inference mode (a fraction).")
@click.option("--train-dev-error", type=float, help="Error on train-dev (held out from the training distribution); optional.")
@click.option("--dev-error", type=float, required=True, help="Error on dev (the target distribution).")
@click.option("--test-error", type=float, help="Error on test; optional (measures dev overfitting).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def diagnose(human_error, train_error, train_dev_error, dev_error, test_error, fmt):
    """Analyse any error rates you bring: avoidable bias, variance, data mismatch, dev overfitting."""
    from search.analysis.report import diagnose_numbers
    from search.cli.printing import print_diagnosis

    result = diagnose_numbers(human_error, train_error, dev_error, train_dev_error, test_error)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        print_diagnosis(result)


def main() -> None:
    """Console entry point: run the CLI; expected errors become one line and exit code 2."""
    from search.cli.errors import run_cli

    sys.exit(run_cli(cli))


if __name__ == "__main__":
    main()
