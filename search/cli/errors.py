"""How the CLI fails: one line on stderr, a non-zero exit, never a traceback (unless --verbose)."""

from __future__ import annotations

import sys

import click

EXIT_USAGE = 2


def expected_errors() -> tuple[type[BaseException], ...]:
    from search.analysis.zoom import ZoomError
    from search.cli.output import OutputError
    from search.core.artifacts import ArtifactError
    from search.core.spec import SpecError
    from search.core.storage import StorageError
    from search.service.confirm import ConfirmError
    from search.service.studies import StudyError
    from spaces import SpaceError
    from trainers.config import ConfigError

    return (ArtifactError, ConfigError, OutputError, SpaceError, SpecError, StorageError, StudyError, ZoomError, ConfirmError)


def run_cli(group: click.Group) -> int:
    from search.core.storage import describe_error, is_connection_error, mask_secrets

    verbose = "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]
    try:
        group.main(standalone_mode=False)
        return 0
    except click.exceptions.Abort:
        click.echo("hpsearch: aborted", err=True)
        return 130
    except click.ClickException as exc:
        # Usage errors: click's own message, on one line.
        click.echo(f"hpsearch: error: {mask_secrets(exc.format_message())}", err=True)
        return exc.exit_code or EXIT_USAGE
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        click.echo("hpsearch: interrupted", err=True)
        return 130
    except Exception as exc:
        if verbose:
            raise
        if isinstance(exc, expected_errors()):
            message = str(exc)
        elif is_connection_error(exc):
            message = f"cannot reach the storage: {describe_error(exc)}"
        elif isinstance(exc, OSError):
            message = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
        else:
            message = f"{type(exc).__name__}: {exc} (run with --verbose for the traceback)"
        first = mask_secrets(message.strip().splitlines()[0] if message.strip() else type(exc).__name__)
        click.echo(f"hpsearch: error: {first}", err=True)
        return EXIT_USAGE if isinstance(exc, expected_errors()) else 1
