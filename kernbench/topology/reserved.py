"""Memory the system keeps for itself in every PE's TCM, HBM share and cube SRAM: IPCQ rings and mailboxes.

A PE's TCM ends with its receive rings (`RING_AREA`), the barrier's rings (`SYNC_AREA`) and its mailboxes
(`MAILBOX_AREA`), in that order; the scheduler's staging area ends where they begin.

The sizes are fixed by the engine's IPCQ (`kernbench.engine.ipcq` lays the rings out), but they are a fact about
the memory map, so they live here, where the loader can refuse a topology whose memories cannot hold them
(``pe.scheduler.tcm_reserved_mib: 0``, a 1 MiB SRAM) before anything runs.
"""

from __future__ import annotations

MAILBOX_BYTES = 64
"""Room for one credit; a credit's first 8 bytes name the freed receive ring."""
MAILBOX_AREA = 2 * MAILBOX_BYTES
"""Bytes at the top of each PE's TCM: its credit inbox, then its outbox."""
RING_AREA = 2 << 20
"""Bytes per PE kept for IPCQ receive rings in TCM and in HBM (the scheduler's staging area ends below the TCM one)."""
SRAM_RING_AREA = 1 << 20
"""Bytes per PE kept for IPCQ receive rings at the top of the cube's SRAM."""
SYNC_AREA = 4 << 10
"""Bytes per PE in TCM for the process group's barrier rings (`kernbench.ccl.barrier`): a few 64-byte slots per
round, apart from the rings the collectives fill, so a barrier always has room."""
TCM_TOP_AREA = RING_AREA + SYNC_AREA + MAILBOX_AREA
"""Bytes at the top of each PE's TCM that the system keeps: receive rings, barrier rings, mailboxes."""
