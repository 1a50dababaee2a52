"""A job's page: state, stage, progress and epsilon spent, followed live; cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from api.deps import DatabaseDep, SessionDep
from api.ui.core import Csrf, PageActor, PageRoute, flash, redirect, render
from pipelines import jobs
from pipelines.store.models import Role

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)

TERMINAL = ("succeeded", "failed", "cancelled")


def job_status(job: Any) -> dict[str, Any]:
    return {
        "id": job.id,
        "state": job.state,
        "stage": job.stage,
        "progress": round(job.progress or 0.0, 1),
        "epsilon_reserved": job.epsilon_reserved,
        "epsilon_spent": job.epsilon_spent,
        "release_id": job.release_id,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "terminal": job.state in TERMINAL,
    }


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, actor: PageActor, session: SessionDep) -> Response:
    job = jobs.get_job(session, actor, job_id)
    return render(
        request,
        "job.html",
        {
            "job": job,
            "status": job_status(job),
            "show_source": actor.role != Role.ml_engineer,
            "can_cancel": actor.role != Role.auditor and job.state not in TERMINAL,
        },
    )


@router.get("/jobs/{job_id}/status")
def job_status_json(job_id: str, actor: PageActor, session: SessionDep) -> Response:
    """What the job page's script polls (the session's cookie, not a key)."""
    return JSONResponse(job_status(jobs.get_job(session, actor, job_id)))


@router.post("/jobs/{job_id}/cancel", dependencies=[Csrf])
def cancel_job(request: Request, job_id: str, actor: PageActor, db: DatabaseDep) -> Response:
    jobs.cancel_job(db, actor, job_id)
    flash(request, "cancel requested")
    return redirect(f"/ui/jobs/{job_id}")
