"""How 270s leave and 271s arrive: a small transport interface, with drop folders as the first adapter.

`Transport.deliver(file_name, content)` hands a file over and returns where it went; `Transport.collect()` returns
the files waiting for us as (name, content) pairs. An SFTP or real-time (CORE SOAP/REST) adapter implements the
same two methods and is chosen with the ELIGIBILITY_TRANSPORT setting (a dotted path to the class).

FolderTransport writes to `<MEDIA_ROOT>/edi/outbox/` and reads from `<MEDIA_ROOT>/edi/inbox/` unless the settings
EDI_OUTBOX_DIR / EDI_INBOX_DIR (or the constructor) name other folders. A clearinghouse agent (or a person) moves
the files between those folders and the payer.
"""

import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

from otbilling.errors import AppError

MAX_INBOX_FILE_BYTES = 20 * 1024 * 1024


class Transport:
    """The interface every adapter implements."""

    def deliver(self, file_name: str, content: str) -> str:
        """Send one file; return a description of where it went (stored on the batch)."""
        raise NotImplementedError

    def collect(self) -> list[tuple[str, str]]:
        """The files waiting for us, oldest first, as (name, content)."""
        raise NotImplementedError

    def archive(self, file_name: str, *, failed: bool = False) -> None:
        """Mark a collected file as handled so the next collect() does not return it again."""


def _safe_name(file_name: str) -> str:
    name = os.path.basename(file_name or "")
    if not name or name != file_name or name.startswith("."):
        raise AppError(f"{file_name!r} is not a plain file name.", code="invalid", field="file_name")
    return name


class FolderTransport(Transport):
    """Outbox and inbox folders on the local disk (or a mounted share)."""

    def __init__(self, *, outbox: str | Path | None = None, inbox: str | Path | None = None):
        root = Path(settings.MEDIA_ROOT) / "edi"
        self.outbox = Path(outbox or getattr(settings, "EDI_OUTBOX_DIR", None) or root / "outbox")
        self.inbox = Path(inbox or getattr(settings, "EDI_INBOX_DIR", None) or root / "inbox")

    def deliver(self, file_name: str, content: str) -> str:
        name = _safe_name(file_name)
        self.outbox.mkdir(parents=True, exist_ok=True)
        target = self.outbox / name
        # Write then rename, so whoever watches the outbox never picks up half a file.
        fd, temp = tempfile.mkstemp(dir=self.outbox, prefix=".partial-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(content)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return str(target)

    def collect(self) -> list[tuple[str, str]]:
        if not self.inbox.is_dir():
            return []
        files = []
        for path in sorted(self.inbox.iterdir(), key=lambda p: (p.stat().st_mtime, p.name)):
            if not path.is_file() or path.name.startswith("."):
                continue
            if path.stat().st_size > MAX_INBOX_FILE_BYTES:
                continue  # left in place; the import page refuses it with a message when uploaded by hand
            files.append((path.name, path.read_text(encoding="utf-8", errors="replace")))
        return files

    def archive(self, file_name: str, *, failed: bool = False) -> None:
        name = _safe_name(file_name)
        target_dir = self.inbox / ("failed" if failed else "done")
        target_dir.mkdir(parents=True, exist_ok=True)
        source = self.inbox / name
        if source.exists():
            os.replace(source, target_dir / name)


def get_transport() -> Transport:
    """The configured adapter (ELIGIBILITY_TRANSPORT, default FolderTransport)."""
    path = getattr(settings, "ELIGIBILITY_TRANSPORT", "")
    return import_string(path)() if path else FolderTransport()
