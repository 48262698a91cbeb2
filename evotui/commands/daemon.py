"""`evotui daemon --base-dir B`: train on each JSONL dropped into ``B/inbox/``, one version each."""

from __future__ import annotations

import argparse

from evotui.commands.train import (
    add_tracking_flags,
    model_arg,
    positive_int,
    tracking_from_args,
    user_path,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-dir",
        required=True,
        metavar="B",
        type=user_path,
        help="folder holding inbox/, processing/, done/, failed/, models/, data/",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="process everything waiting (and anything left by a crash), then exit",
    )
    parser.add_argument("--steps", type=positive_int, metavar="N", help="training steps per file")
    parser.add_argument(
        "--model",
        metavar="M",
        type=model_arg,
        help="model of the first training (name or path; default: the embedded "
        "tiny model); later files start from the latest version",
    )
    add_tracking_flags(parser)
    parser.add_argument(
        "--poll",
        action="store_true",
        help="poll the inbox instead of file-system events (network file systems)",
    )


def run(args: argparse.Namespace) -> int:
    from evotui.errors import EvotuiError, require_training_extra

    require_training_extra("daemon")
    from tracker.daemon import Daemon, DaemonOptions, DaemonStopped, pipe_safe_output

    # Refuse bad options once, up front, rather than failing every file with the same reason
    # (--steps, --seed and --max-examples are checked by their argument types).
    if args.model is not None:
        from tracker.tiny import check_model_path

        check_model_path(args.model)  # a mistyped path would send every good file to failed/
    daemon = Daemon(
        DaemonOptions(
            base_dir=args.base_dir,
            once=args.once,
            steps=args.steps,
            model=args.model,
            tracking=tracking_from_args(args),  # a bad --schedule: one line, no file touched
            poll=args.poll,
        )
    )
    with pipe_safe_output():  # a closed log pipe must not fail good files (see the class)
        try:
            daemon.run()
        except OSError as exc:  # an unwritable base folder, a full disk: one line, file kept
            where = exc.filename or args.base_dir
            raise EvotuiError(f"{where}: {exc.strerror or exc}") from None
        except (KeyboardInterrupt, DaemonStopped):
            print(
                "⏹ abandoned the current file; it stays in processing/ and is retried on the "
                "next start",
                flush=True,
            )
            return 130
        done = sum(1 for o in daemon.outcomes if o.ok)
        failed = len(daemon.outcomes) - done
        print(f"⏹ daemon stopped: {done} done, {failed} failed", flush=True)
    return 0
