"""A small on-disk list of Tavus conversations we opened and have not yet ended.

Tavus bills a conversation until it is ended. Every id is written here when created and
removed when ended, so conversations left open by a crash can be ended at the next start.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from loguru import logger

__all__ = ["JournalEntry", "TavusJournal", "end_orphaned_conversations"]


@dataclass(frozen=True)
class JournalEntry:
    conversation_id: str
    api_url: str


class TavusJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def entries(self) -> list[JournalEntry]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except ValueError:
            logger.warning(f"Tavus journal {self.path} is unreadable; starting a new one")
            return []
        return [
            JournalEntry(e["conversation_id"], e["api_url"])
            for e in raw
            if isinstance(e, dict) and "conversation_id" in e and "api_url" in e
        ]

    def add(self, conversation_id: str, api_url: str) -> None:
        with self._lock:
            entries = [e for e in self.entries() if e.conversation_id != conversation_id]
            self._write([*entries, JournalEntry(conversation_id, api_url)])

    def remove(self, conversation_id: str) -> None:
        with self._lock:
            entries = self.entries()
            kept = [e for e in entries if e.conversation_id != conversation_id]
            if len(kept) != len(entries):
                self._write(kept)

    def _write(self, entries: list[JournalEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([e.__dict__ for e in entries], indent=1))
        os.replace(tmp, self.path)  # atomic: a crash never leaves half a journal


async def end_orphaned_conversations(journal: TavusJournal, api_key: str | None) -> int:
    """End conversations an earlier run left open; returns how many were ended."""
    entries = journal.entries()
    if not entries:
        return 0
    if not api_key:
        logger.warning(
            f"{len(entries)} Tavus conversation(s) from an earlier run may still be open "
            f"(journal {journal.path}); set TAVUS_API_KEY so localagent can end them"
        )
        return 0
    ended = 0
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for entry in entries:
            url = f"{entry.api_url.rstrip('/')}/conversations/{entry.conversation_id}/end"
            try:
                async with http.post(url, headers={"x-api-key": api_key}) as resp:
                    if resp.status < 300 or resp.status == 404:  # 404: already gone
                        journal.remove(entry.conversation_id)
                        ended += resp.status < 300
                        continue
                    problem = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as e:
                problem = type(e).__name__
            logger.warning(
                f"could not end Tavus conversation {entry.conversation_id} left "
                f"open by an earlier run ({problem}); will retry at next start"
            )
    if ended:
        logger.warning(f"ended {ended} Tavus conversation(s) left open by an earlier run")
    return ended
