"""A training run's output folder: its config, its resumable state, and the refusal to mix runs.

Re-running a command with the same output folder continues the run ("kill it and restart: it
continues, nothing lost"). The folder remembers the config that made it (``config.json``); a
different config is refused unless ``--restart`` is given, because continuing someone else's run
with other settings would silently produce a model nobody asked for. Only settings that cannot
change the result (number of epochs, device, workers, logging) may differ on resume.

The resumable state ``trainer_state.pt`` is a ``torch.save``-d dict of tensors, numbers, text,
lists and dicts (networks, optimisers, epoch, step, position in the epoch, best score, history,
torch RNG states), so ``torch.load(weights_only=True)`` reads it without running code from the
file. It is written atomically: a crash while saving leaves the previous state intact.

Nothing is created in the folder before the run's settings and data were checked, and a folder
holding only the ``config.json`` of a run that never saved a state (it failed at once) is no run
to protect: the corrected command simply starts afresh there. While a run works in the folder it
holds a lock on ``.low2high.lock``, so a second run into the same folder is refused instead of
both overwriting each other's state.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import Any, Iterable, Iterator, Optional

import torch

from ...core.destinations import check_writable_folder
from ...core.errors import Low2HighError
from ...core.files import atomic_write, atomic_write_json
from .lock import LOCK_FILE, FolderLock

CONFIG_FILE = "config.json"
STATE_FILE = "trainer_state.pt"
STATE_FORMAT = "low2high.trainer-state"
#: Config fields naming a file the run reads (fit's and pretrain's): none may lie in the run folder.
INPUT_FILE_FIELDS = ("init", "exemplar_raster", "prior")


def field_defaults(config: Any) -> dict[str, Any]:
    """The default of each field of a config dataclass (without building one: defaults may not validate)."""
    defaults: dict[str, Any] = {}
    for item in dataclasses.fields(config):
        if item.default is not dataclasses.MISSING:
            defaults[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:
            defaults[item.name] = item.default_factory()
    return defaults


class RunFolder:
    """The output folder of one ``fit`` or ``pretrain`` run.

    Args:
        folder: The output folder (created when missing).
        config: The run's config dataclass (paths already absolute).
        kind: "fit" or "pretrain"; a folder of the other kind is refused.
        resumable: Config fields that may change when resuming.
        outputs: File names the run writes (removed by ``--restart``).
    """

    def __init__(self, folder: str, config: Any, kind: str, resumable: Iterable[str], outputs: Iterable[str]) -> None:
        self.folder = os.path.abspath(folder)
        self.config = config
        self.kind = kind
        self.resumable = set(resumable)
        self.outputs = tuple(outputs) + (CONFIG_FILE, STATE_FILE)

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    @property
    def state_path(self) -> str:
        return self.path(STATE_FILE)

    def _identity(self, values: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in values.items() if key not in self.resumable}

    def _files(self) -> list[str]:
        """The folder's files, apart from the lock (empty when the folder does not exist)."""
        if not os.path.isdir(self.folder):
            return []
        return [name for name in os.listdir(self.folder) if name != LOCK_FILE]

    def started(self) -> bool:
        """True when a run saved something here beyond its config (a state or any output)."""
        return any(name != CONFIG_FILE for name in self._files())

    def check(self, restart: bool, locked_here: bool = False) -> None:
        """Refuse a folder holding another run (or other files) unless restarting; read-only.

        Args:
            restart: ``--restart``: another run's files may be discarded.
            locked_here: This process holds the folder's lock (do not probe it).
        """
        if os.path.exists(self.folder) and not os.path.isdir(self.folder):
            raise Low2HighError(f"The output '{self.folder}' is a file, not a folder; choose a folder name.")
        check_writable_folder(self.folder, "output folder")
        self._refuse_inputs_inside()
        if not locked_here:
            FolderLock.refuse_if_held(self.path(LOCK_FILE), f"the output folder '{self.folder}'")
        config_path = self.path(CONFIG_FILE)
        if not os.path.exists(config_path) or not self.started():
            # nothing, or only the config of a run that failed before saving anything: start afresh
            if self._files() and not os.path.exists(config_path) and not restart:
                raise Low2HighError(f"The output folder '{self.folder}' is not empty and holds no {CONFIG_FILE} of a "
                                    "Low2High run; choose a new or empty folder.")
            return
        try:
            with open(config_path, encoding="utf-8") as handle:
                saved = json.load(handle)
        except (OSError, ValueError) as error:
            raise Low2HighError(f"{config_path} cannot be read ({error}); use --restart true to start over.") from error
        if restart:
            return
        if saved.get("_kind", self.kind) != self.kind:
            raise Low2HighError(f"'{self.folder}' holds a {saved.get('_kind')} run, not a {self.kind} run; choose "
                                "another output folder.")
        current = self._identity(self._plain_config())
        # A setting added by a later version than the run's holds its default there: a run folder
        # written before it existed continues when the setting is left at its default.
        defaults = json.loads(json.dumps(field_defaults(self.config)))
        previous = self._identity({**defaults, **{k: v for k, v in saved.items() if k != "_kind"}})
        changed = sorted(key for key in set(current) | set(previous) if current.get(key) != previous.get(key))
        if changed:
            details = "; ".join(f"{key}: {previous.get(key)!r} → {current.get(key)!r}" for key in changed[:6])
            raise Low2HighError(f"'{self.folder}' holds a run with other settings ({details}). Use the same settings "
                                "to continue it, another output folder, or --restart true to discard it and start "
                                "over.")

    def _refuse_inputs_inside(self) -> None:
        """An input file in the run folder is one the run replaces or ``--restart`` removes
        (``--init run/best.pt --restart`` read the old best model, then wrote the new one over it)."""
        if not os.path.isdir(self.folder):
            return
        for name in INPUT_FILE_FIELDS:
            path = getattr(self.config, name, "") or ""
            if path and os.path.exists(path) and os.path.samefile(os.path.dirname(os.path.realpath(path)), self.folder):
                flag = "--" + name.replace("_", "-")
                raise Low2HighError(f"{flag} '{path}' lies in the output folder '{self.folder}', whose files this run "
                                    f"replaces (and --restart removes); copy it elsewhere first, or choose another "
                                    "--output.")

    def _plain_config(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self.config)))

    @contextlib.contextmanager
    def locked(self, take: bool = True) -> Iterator[None]:
        """Hold the folder's lock (created with the folder) for the ``with`` block; rank 0 takes it.

        Raises:
            Low2HighError: another process holds the lock (a run is working in this folder).
        """
        if not take:
            yield
            return
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as error:
            raise Low2HighError(f"The output folder '{self.folder}' cannot be created ({error.strerror}); choose "
                                "a folder you can write to.") from error
        with FolderLock(self.path(LOCK_FILE), f"the output folder '{self.folder}'"):
            yield

    def prepare(self, restart: bool) -> None:
        """Remove a discarded run's files (``restart``) and record the config.

        Call on rank 0 only, holding :meth:`locked`, after :meth:`check`.
        """
        os.makedirs(self.folder, exist_ok=True)
        if restart:
            for name in self.outputs:
                if os.path.exists(self.path(name)):
                    os.remove(self.path(name))
        values = self._plain_config()
        if "restart" in values:
            values["restart"] = False  # the file must reproduce the run, not discard it again
        values["_kind"] = self.kind
        atomic_write_json(self.path(CONFIG_FILE), values)

    def load_state(self) -> Optional[dict[str, Any]]:
        """The saved state (None when the run has not saved one yet)."""
        if not os.path.exists(self.state_path):
            return None
        try:
            state = torch.load(self.state_path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for a damaged file
            raise Low2HighError(f"The saved state {self.state_path} cannot be read ({error}); use --restart true to "
                                "start over.") from error
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or state.get("kind") != self.kind:
            raise Low2HighError(f"{self.state_path} is not a {self.kind} state of Low2High; use --restart true to "
                                "start over.")
        return state

    def save_state(self, state: dict[str, Any]) -> None:
        """Write the state atomically (rank 0 only)."""
        payload = {"format": STATE_FORMAT, "kind": self.kind, **state}
        atomic_write(self.state_path, lambda stream: torch.save(payload, stream))
