"""What a resumed run of either modality may spend: everything its spend log holds.

The accountant of a resumed run is rebuilt from the append-only spend log
(``privacy/spend_log.py``), never from the checkpoint alone: DP-SGD steps that ran after
the last checkpoint were released (their noisy updates left the optimizer) and stay charged
although their work is lost. The run then ends as many steps earlier, so its DP-SGD steps,
and its epsilon, stay those it was calibrated for.
"""

from __future__ import annotations

from pathlib import Path

from synthgen.errors import ResumeRefused
from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.spend_log import SPEND_LOG, JournaledAccountant, SpendLog, covers, replay


def restore_accountant(private: Path, *,
                       checkpointed: RunAccountant | None = None) -> JournaledAccountant:
    """Everything the interrupted run spent, logging on to the same spend log. Refused if
    the log is missing or holds less than the checkpoint's accountant (edited, replaced)."""
    log = SpendLog(private / SPEND_LOG)
    if not log.exists():
        raise ResumeRefused(f"the run's spend log ({SPEND_LOG}) is missing: what the "
                            "interrupted run spent cannot be known, start a new run")
    accountant = replay(log.records()).attach(log)
    if checkpointed is not None:
        check_covers(accountant, checkpointed)
    return accountant


def check_covers(accountant: RunAccountant, checkpointed: RunAccountant) -> None:
    if not covers(accountant, checkpointed):
        raise ResumeRefused("the spend log holds less than the checkpoint's accountant: "
                            "it was edited or replaced; start a new run")


def steps_to_run(*, done: int, planned: int, spent: int) -> int:
    """The step a run resumed at ``done`` ends at: ``planned`` less the DP-SGD steps that
    were ``spent`` (in the accountant) after the checkpoint and are lost."""
    return max(done, planned - max(0, spent - done))
