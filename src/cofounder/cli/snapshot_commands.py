"""`cofounder restore` and `cofounder export`: get a recorded workspace back out of the store.

Both read the snapshot id that an iteration's checkpoint recorded, fetch every blob it names
from the object store and verify its sha256; a missing or corrupt blob is named and the command
exits 1 without leaving a half-written result. Rebuildable folders (`node_modules`, `.venv`,
caches) are never stored, so they are listed for the founder to regenerate.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cofounder.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    DataDir,
    SessionId,
    fail,
    open_catalog,
    out,
    resolve_or_fail,
)

if TYPE_CHECKING:
    from cofounder.engine import Catalog
    from cofounder.storage import Checkpoint, SnapshotStore
    from cofounder.storage.snapshots.history import IterationRecord

Iteration = Annotated[
    int | None,
    typer.Option("--iteration", "-i", min=0, help="Which iteration (default: the last committed)."),
]

GitHistory = Annotated[
    bool,
    typer.Option(
        "--git-history",
        help=(
            "Add a .git with one commit per committed iteration (0 to N) on branch main, "
            "tagged iteration-N: its message is that iteration's narration (or 'iteration N'), "
            "its date the iteration's commit time, its author 'Cofounder agent'. An iteration "
            "that changed no file still gets its (empty) commit, so `git checkout iteration-K` "
            "always gives iteration K's code. Git keeps no empty folders and no .git folders. "
            "Needs the git program; refused when the code has its own .git."
        ),
    ),
]


def _checkpoint_of(catalog: Catalog, session_id: str, iteration: int | None) -> Checkpoint:
    record = resolve_or_fail(catalog, session_id)
    latest = catalog.checkpoint(record.id)
    if latest is None:
        fail(f"session {record.id} has no recorded iteration yet", EXIT_BAD_INPUT)
    if iteration is None:
        return latest
    found = catalog.checkpoint(record.id, iteration)
    if found is None:
        fail(
            f"session {record.id} has no iteration {iteration} (recorded: 0 to {latest.iteration})",
            EXIT_BAD_INPUT,
        )
    return found


def _store_of(catalog: Catalog) -> SnapshotStore:
    from cofounder.engine import ConfigurationError

    try:
        return catalog.snapshots
    except ConfigurationError as exc:
        fail(f"bad configuration: {exc}", EXIT_BAD_INPUT)


def _excluded_note(store: SnapshotStore, snapshot_id: str) -> str:
    from cofounder.storage.snapshots.manifest import decode_name

    names = sorted(
        {
            decode_name(e.path).rsplit("/", 1)[-1]
            for e in store.load(snapshot_id).entries
            if e.kind == "excluded"
        }
    )
    if not names:
        return ""
    return (
        f"not included (rebuildable, regenerate with the project's install step): "
        f"{', '.join(names)}"
    )


def restore(
    session_id: SessionId,
    directory: Annotated[Path, typer.Argument(help="An empty or new directory.")],
    iteration: Iteration = None,
    data_dir: DataDir = None,
) -> None:
    """Materialise a recorded workspace snapshot, verifying every file's hash."""
    from cofounder.storage import SnapshotError

    catalog = open_catalog(data_dir)
    checkpoint = _checkpoint_of(catalog, session_id, iteration)
    target = directory.expanduser().absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        fail(f"{directory} must be an empty or new directory", EXIT_BAD_INPUT)
    created = not target.exists()
    store = _store_of(catalog)
    try:
        store.restore(checkpoint.snapshot_id, target)
        note = _excluded_note(store, checkpoint.snapshot_id)
    except SnapshotError as exc:
        if created and target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        fail(f"cannot restore iteration {checkpoint.iteration}: {exc}", EXIT_FAILED)
    except OSError as exc:
        fail(f"cannot write to {directory}: {exc}", EXIT_FAILED)
    out().print(
        f"restored iteration {checkpoint.iteration} of session {checkpoint.session_id} "
        f"to {target} (snapshot {checkpoint.snapshot_id[:12]}, every hash verified)"
    )
    if note:
        out().print(note)


def export(
    session_id: SessionId,
    out_file: Annotated[Path, typer.Argument(help="Where to write the .tar.gz.")],
    iteration: Iteration = None,
    git_history: GitHistory = False,
    data_dir: DataDir = None,
) -> None:
    """Write a session's code as a .tar.gz, with the documentation the agent wrote (as last
    written) as Markdown files in COFOUNDER_DOCS/ (COFOUNDER_DOCS-2/ if the code has a path
    by that name). Without --git-history a .git the agent made itself is included as is."""
    from cofounder.storage import SnapshotError
    from cofounder.storage.snapshots.export import (
        ExtraFile,
        ExtraTree,
        doc_files,
        docs_folder,
        write_tar,
    )
    from cofounder.storage.snapshots.history import HistoryError, build_history, git_program
    from cofounder.storage.snapshots.manifest import decode_name

    catalog = open_catalog(data_dir)
    checkpoint = _checkpoint_of(catalog, session_id, iteration)
    if out_file.exists():
        fail(f"{out_file} already exists; give a new file name", EXIT_BAD_INPUT)
    if not out_file.parent.is_dir():
        fail(f"folder {out_file.parent} does not exist", EXIT_BAD_INPUT)
    if git_history:
        try:
            git_program()
        except HistoryError as exc:
            fail(str(exc), EXIT_BAD_INPUT)
    record = catalog.session(checkpoint.session_id)
    root = _slug(record.name if record else "") or checkpoint.session_id
    store = _store_of(catalog)
    failed = f"cannot export iteration {checkpoint.iteration}"
    try:
        manifest = store.load(checkpoint.snapshot_id)
    except SnapshotError as exc:
        fail(f"{failed}: {exc}", EXIT_FAILED)
    if git_history and any(decode_name(e.path).split("/")[0] == ".git" for e in manifest.entries):
        fail(
            f"iteration {checkpoint.iteration}'s code has its own .git (a repository the "
            "agent made); --git-history would replace it, so it is refused: export without "
            "--git-history to get the code with that repository",
            EXIT_BAD_INPUT,
        )
    sections = catalog.documents(checkpoint.session_id, as_of=checkpoint.iteration)
    folder = docs_folder(manifest)
    extras: list[ExtraFile | ExtraTree] = list(doc_files(folder, sections))
    records: list[IterationRecord] = []
    skipped: list[int] = []
    try:
        with tempfile.TemporaryDirectory(prefix="cofounder-export-") as work:
            if git_history:
                records, skipped = iteration_records(catalog, checkpoint)
                history = build_history(
                    records,
                    store.load,
                    store.fetch_verified,
                    Path(work),
                    ignore=[folder] if extras else [],
                )
                extras.append(ExtraTree(history.git_dir, ".git"))
            count = write_tar(manifest, store.fetch_verified, out_file, root, extras)
        note = _excluded_note(store, checkpoint.snapshot_id)
    except (SnapshotError, HistoryError) as exc:
        fail(f"{failed}: {exc}", EXIT_FAILED)
    except OSError as exc:
        fail(f"cannot write {out_file}: {exc}", EXIT_FAILED)
    out().print(
        f"wrote {out_file}: {count} files of iteration {checkpoint.iteration} "
        f"under {root}/ (every hash verified)"
    )
    if sections:
        out().print(f"documentation: {len(sections)} Markdown files in {root}/{folder}/")
    else:
        out().print("documentation: none written yet")
    if git_history:
        out().print(
            f"history: {len(records)} commits in {root}/.git "
            f"(one per iteration, 0 to {checkpoint.iteration})"
        )
    if skipped:
        out().print(
            f"no commit for iteration(s) {', '.join(map(str, skipped))}: no snapshot was "
            "stored for them (the object store failed then)"
        )
    if note:
        out().print(note)


def iteration_records(
    catalog: Catalog, last: Checkpoint
) -> tuple[list[IterationRecord], list[int]]:
    """Every committed iteration up to `last`, with its narration; and the iterations left out
    because their snapshot could not be stored at the time (their checkpoint says so)."""
    from cofounder.events import Narration
    from cofounder.storage.snapshots.history import IterationRecord

    narration: dict[int, list[str]] = {}
    after = 0
    while batch := catalog.events_after(last.session_id, after):
        after = batch[-1].seq
        for event in batch:
            if isinstance(event.body, Narration) and event.body.message:
                narration.setdefault(event.body.iteration, []).append(event.body.message)
    records: list[IterationRecord] = []
    skipped: list[int] = []
    for number in range(last.iteration + 1):
        found = catalog.checkpoint(last.session_id, number)
        if found is None:
            continue
        if not found.snapshot_id:
            skipped.append(number)
            continue
        records.append(
            IterationRecord(
                iteration=number,
                snapshot_id=found.snapshot_id,
                narration=tuple(narration.get(number, ())),
                committed_at=found.created_at,
            )
        )
    return records, skipped


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]


def register(app: typer.Typer) -> None:
    """Add `restore` and `export` to the main app."""
    app.command()(restore)
    app.command()(export)
