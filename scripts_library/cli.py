"""`scripts list|check|show|rehearse|jobs` subcommands (light at import: the work happens in the handlers)."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add `scripts list|check|show|rehearse|jobs` to the main command line."""
    scripts = sub.add_parser("scripts", help="product scripts and their schedules: list, check, show, rehearse, jobs",
                             description="Product scripts (Markdown + YAML front matter) and their schedules.")
    cmds = scripts.add_subparsers(dest="scripts_command", metavar="SUBCOMMAND", required=True)

    ls = cmds.add_parser("list", help="list scripts: id, product, segments, schedule, title")
    ls.add_argument("dir", nargs="?", help="script directory (default: scripts.dir from the config)")
    ls.add_argument("--config", help="TOML config (default: configs/default.toml)")
    ls.set_defaults(func=_list)

    check = cmds.add_parser("check", help="validate scripts; print file:line errors; exit 1 on errors",
                            description="Checks front matter, schedules, [a|b] alternatives, {variables} and "
                                        "product ids. Product ids are checked against --knowledge FILE.yaml, or the "
                                        "knowledge store at --db URL (default knowledge.db_url when that file exists).")
    check.add_argument("dir", help="script directory, e.g. ../shared/fixtures/shop_zh/scripts")
    check.add_argument("--knowledge", metavar="FILE.yaml", help="knowledge YAML whose products[] ids are valid")
    check.add_argument("--db", metavar="URL", help="knowledge store database URL to read products from")
    check.add_argument("--config", help="TOML config (for knowledge.db_url)")
    check.set_defaults(func=_check)

    show = cmds.add_parser("show", help="print a script's segments filled as they would be spoken now")
    show.add_argument("script_id", help="file name without .md, e.g. p-watch-s3")
    show.add_argument("dir", nargs="?", help="script directory (default: scripts.dir from the config)")
    show.add_argument("--knowledge", metavar="FILE.yaml", help="product values from this knowledge YAML")
    show.add_argument("--viewers", type=int, default=None, help="value for {viewer_count}")
    show.add_argument("--config", help="TOML config (default: configs/default.toml)")
    show.set_defaults(func=_show)

    rehearse = cmds.add_parser("rehearse", help="simulate an hour on air with these scripts and settings",
                               description="Plays the scripts, schedules and idle filler of [scripts] against a "
                                           "simulated clock (no database, no audio) and prints what an operator "
                                           "wants to know: lines per kind, air time, longest silence.")
    rehearse.add_argument("dir", nargs="?", help="script directory (default: scripts.dir from the config)")
    rehearse.add_argument("--knowledge", metavar="FILE.yaml", help="product values from this knowledge YAML")
    rehearse.add_argument("--minutes", type=float, default=60.0, help="simulated minutes (default 60)")
    rehearse.add_argument("--chat-every", type=float, default=45.0, metavar="SECONDS",
                          help="one chat answer about this often, on average (0 = a silent room; default 45)")
    rehearse.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    rehearse.add_argument("--timeline", action="store_true", help="also print every line with its time")
    rehearse.add_argument("--config", help="TOML config (default: configs/default.toml)")
    rehearse.set_defaults(func=_rehearse)

    jobs = cmds.add_parser("jobs", help="scheduled jobs in the database: list, pause, resume, run now, sync",
                           description="Operates on the job table (scripts.database_url / scripts.jobs_table). A "
                                       "running host applies changes at its next poll (scripts.poll_s).")
    jobs.add_argument("action", choices=["list", "pause", "resume", "run", "sync"])
    jobs.add_argument("job_id", nargs="?", help="job id as shown by `jobs list` (pause/resume/run)")
    jobs.add_argument("--config", help="TOML config (default: configs/default.toml)")
    jobs.set_defaults(func=_jobs)


def _settings(config_path: str | None):
    """The [scripts] and [knowledge] sections; without --config a missing default.toml means defaults."""
    from configs.loader import DEFAULT_CONFIG, ConfigError, load_config

    if config_path is None and not DEFAULT_CONFIG.exists():
        from configs.models import AppConfig

        return AppConfig()
    try:
        return load_config(config_path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _directory(args: argparse.Namespace) -> str:
    directory = args.dir or _settings(args.config).scripts.dir
    if not directory:
        print("error: no script directory: give DIR or set config key scripts.dir", file=sys.stderr)
        raise SystemExit(2)
    return directory


def _list(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scripts_library.script_file import read_directory

    scripts, problems = read_directory(Path(_directory(args)))
    for script in scripts:
        schedule = f"{script.schedule.kind} {script.schedule.value}" if script.schedule else "-"
        kind = "idle" if script.is_idle_pool else script.product_id
        print(f"{script.id:<20} {kind:<18} {len(script.segments):>3} seg  {schedule:<22} {script.title}")
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        print(f"{len(errors)} file(s) have errors; run `python main.py scripts check`", file=sys.stderr)
    return 1 if errors else 0


def _product_lookup(args: argparse.Namespace):
    """(lookup, description) from --knowledge, --db or the configured store; (None, reason) if none."""
    from pathlib import Path

    if args.knowledge:
        from scripts_library.knowledge_file import KnowledgeFileError, load_products

        try:
            products = load_products(args.knowledge)
        except KnowledgeFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        return products.get, f"{len(products)} products from {args.knowledge}"
    url = args.db
    if url is None:
        url = _settings(getattr(args, "config", None)).knowledge.db_url
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
            return None, "product ids not checked (no --knowledge FILE.yaml and no knowledge store yet)"
    try:
        from knowledge.store import Store

        store = Store.open(url)
        products = {p.id: p for p in store.list_products()}
        store.close()
    except Exception as exc:  # the store is another area's; any failure just means "not checked"
        return None, f"product ids not checked (knowledge store at {url}: {exc})"
    return products.get, f"{len(products)} products from the knowledge store"


def _check(args: argparse.Namespace) -> int:
    from scripts_library.checker import check_directory

    lookup, source = _product_lookup(args)
    problems = check_directory(args.dir, lookup)
    for problem in problems:
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    print(f"{args.dir}: {errors} error(s), {warnings} warning(s); {source}", file=sys.stderr)
    return 1 if errors else 0


def _show(args: argparse.Namespace) -> int:
    from scripts_library.runner import ScriptRunner
    from scripts_library.script_file import ScriptLoadError, load_library
    from scripts_library.speaking_values import SpeakingValues

    args.db = None
    try:
        library = load_library(_directory(args))
    except ScriptLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    script = library.get(args.script_id)
    if script is None:
        print(f"error: no script '{args.script_id}' (see `python main.py scripts list`)", file=sys.stderr)
        return 1
    lookup, _source = _product_lookup(args)
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(_settings(args.config).scripts.timezone)
    values = SpeakingValues(lookup, (lambda: args.viewers), now=lambda: datetime.now(zone),
                            current_product_id=lambda: script.product_id)
    if script.is_idle_pool:
        from scripts_library.segment_template import AlternativePicker, MissingValue

        picker = AlternativePicker()
        for seg in script.segments:
            try:
                text = seg.template.fill(picker.choose(seg.index, seg.template),
                                         values.resolver(None, script.language))
            except MissingValue as exc:
                text = f"(skipped now: no value for {{{exc.name}}})"
            print(f"{seg.index + 1:>2}. {text}")
        return 0
    runner = ScriptRunner(library, values)
    runner.enqueue(script.id, reason="cli")
    shown = 0
    while (line := runner.next_segment()) is not None:
        print(f"{line.segment_index + 1:>2}. {line.text}")
        runner.mark_spoken(line)
        shown += 1
    skipped = runner.stats.skipped_missing_value
    if skipped:
        print(f"({skipped} segment(s) skipped: a variable has no value now; try --knowledge / --viewers)",
              file=sys.stderr)
    return 0


def _rehearse(args: argparse.Namespace) -> int:
    from scripts_library.rehearsal import Rehearsal
    from scripts_library.scheduler import ScheduleError
    from scripts_library.script_file import ScriptLoadError

    import logging

    if not getattr(args, "verbose", False):  # a simulated hour would log every cut line at INFO
        logging.getLogger("scripts_library").setLevel(logging.WARNING)
    settings = _settings(args.config).scripts.model_copy(update={"dir": _directory(args)})
    args.db = None
    lookup, source = _product_lookup(args)
    try:
        rehearsal = Rehearsal(settings, lookup or (lambda _id: None), seed=args.seed)
    except (ScriptLoadError, ScheduleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = rehearsal.run(minutes=args.minutes, chat_every_s=args.chat_every)
    if args.timeline:
        for aired in report.timeline:
            minute, second = divmod(int(aired.start), 60)
            print(f"{minute:>3}:{second:02d} {aired.end - aired.start:5.1f}s {aired.kind:<9} {aired.text}")
    print(report.summary())
    if lookup is None:
        print(f"note: {source}; lines with {{price}}/{{stock}} were skipped", file=sys.stderr)
    return 0


def _jobs(args: argparse.Namespace) -> int:
    from scripts_library.scheduler import ScheduleError, ScriptScheduler, UnknownJob, job_specs
    from scripts_library.script_file import ScriptLoadError, load_library

    settings = _settings(args.config).scripts
    if args.action in ("pause", "resume", "run") and not args.job_id:
        print(f"error: `scripts jobs {args.action}` needs a JOB_ID (see `scripts jobs list`)", file=sys.stderr)
        return 2
    try:
        with ScriptScheduler(settings.database_url, settings.jobs_table, settings.timezone,
                             settings.misfire_grace_s) as scheduler:
            if args.action == "sync":
                summary = scheduler.sync(job_specs(load_library(settings.dir), settings))
                print(" ".join(f"{k}={len(v)}" for k, v in summary.items()))
            elif args.action == "pause":
                scheduler.pause(args.job_id)
            elif args.action == "resume":
                scheduler.resume(args.job_id)
            elif args.action == "run":
                scheduler.request_run(args.job_id)
            jobs = scheduler.jobs()
    except (ScheduleError, UnknownJob, ScriptLoadError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1
    if not jobs:
        print("no jobs yet: the host creates them at start (or run `scripts jobs sync`)")
    for job in jobs:
        when = "paused" if job.paused else job.next_run_time.isoformat(timespec="seconds")
        print(f"{job.id:<28} {job.kind:<8} {when:<27} {job.trigger}")
    return 0
