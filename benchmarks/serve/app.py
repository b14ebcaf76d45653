"""The web app: `create_app(...)` builds it (FastAPI, Jinja2 templates and the static files shipped in this
package; nothing is fetched from the network), `serve(...)` runs it with uvicorn.

Pages: `/` the runs, `/run/{id}` a run (report, per-video table), `/run/{id}/video?id=` a video, `/compare?run=`
several runs, `/check` a video of your own. Files are served only from inside the run folders (`safe_files`),
a run folder that cannot be read gives an error page naming the file, and nothing else is reachable.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

import perturbations

from .catalog import RunCatalog, RunSummary
from .checks import CheckJobs, UploadError, UploadLimit
from .crops import CropError, CropRenderer
from .pages import ReportPages, profile, video_charts
from .predicting import Checker
from .safe_files import resolve_inside
from .settings import DEFAULT_PORT, LOCAL_HOST, LOCAL_HOSTS, MAX_UPLOAD_MB
from .table import PAGE_SIZES, SORT_KEYS, TableCache, TableQuery

__all__ = ["create_app", "serve"]

HERE = Path(__file__).parent
CHECK_LEVELS = "none,heavy,GB:2,GB:4"  # the form's default: clean, the published heavy tier, one graded type
CHECK_PATH = "/check"


class RunUnreadable(Exception):
    """A run folder whose files cannot be read: shown as an error page naming the file."""


def create_app(run_dirs: list[Path], *, runs_root: Path | None = None, checker: Checker | None = None,
               max_upload_mb: float = MAX_UPLOAD_MB, prewarm: bool = True) -> FastAPI:
    """The app over `run_dirs` and the run folders under `runs_root`; `checker` scores uploaded videos (None, or
    one without a usable detector: the check page says how to start the app to have it). With `prewarm`, a
    background thread reads the runs' scores.csv files at once (newest first), so a large run's page opens without
    waiting for its first read (about 5 s for 50,000 rows on 2 cores)."""
    catalog = RunCatalog(list(run_dirs), runs_root)
    tables, reports, crops = TableCache(), ReportPages(), CropRenderer()
    max_bytes = int(max_upload_mb * 1e6)
    choices = checker.detectors() if checker is not None else []
    jobs = CheckJobs(checker, max_bytes=max_bytes) if choices else None
    app = FastAPI(title="deepfake-robustness-bench", docs_url=None, redoc_url=None, openapi_url=None,
                  on_shutdown=[jobs.close] if jobs else [])
    app.add_middleware(UploadLimit, path=CHECK_PATH, max_bytes=max_bytes)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(urlencode=urlencode)
    app.state.catalog, app.state.jobs = catalog, jobs
    if prewarm:
        threading.Thread(target=tables.prewarm, args=([r.dir for r in catalog.refresh() if not r.error],),
                         name="dfbench-serve-prewarm", daemon=True).start()

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    def known(run_id: str) -> RunSummary:
        run = catalog.get(run_id)
        if run is None:
            raise HTTPException(404, f"no run {run_id!r}")
        if run.error:
            raise RunUnreadable(run.error)
        return run

    @app.exception_handler(RunUnreadable)
    @app.exception_handler(ValueError)
    @app.exception_handler(OSError)
    async def unreadable(request: Request, error: Exception) -> HTMLResponse:
        return page(request, "error.html", 500, title="This run cannot be shown", message=str(error))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> HTMLResponse:
        problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in error.errors())
        return page(request, "error.html", 400, title="Bad request", message=problems)

    @app.exception_handler(404)
    async def not_found(request: Request, error: Exception) -> HTMLResponse:
        return page(request, "error.html", 404, title="Not found", message=getattr(error, "detail", "not found"))

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request):
        return page(request, "home.html", runs=catalog.refresh(), runs_root=catalog.runs_root)

    @app.get("/run/{run_id}", response_class=HTMLResponse)
    async def run_page(request: Request, run_id: str, level: str = "", label: str = "", status: str = "",
                       group: str = "", detector: str = "", wrong: str = "", video: str = "", sort: str = "video",
                       order: str = "asc", page_no: int = 1, per_page: int = PAGE_SIZES[0]):
        run = known(run_id)
        if sort not in SORT_KEYS or per_page not in PAGE_SIZES or order not in ("asc", "desc"):
            raise HTTPException(404, "unknown sort order or page size")
        query = TableQuery(level=level, label=label, status=status, group=group, detector=detector,
                           wrong=wrong == "1", video=video, sort=sort, descending=order == "desc", page=page_no,
                           per_page=per_page)
        table = await run_in_threadpool(tables.load, run.dir)
        report, more = await run_in_threadpool(reports.run, run.dir, lambda rel: f"/run/{run_id}/file/{rel}")
        filters = {k: v for k, v in dict(level=level, label=label, status=status, group=group, detector=detector,
                                         wrong=wrong, video=video, sort=sort, order=order,
                                         per_page=per_page).items() if v}
        return page(request, "run.html", run=run, table=table, result=table.query(query), query=query,
                    filters=filters, report=report, more=more, page_sizes=PAGE_SIZES, others=catalog.refresh())

    @app.get("/run/{run_id}/file/{relative:path}")
    async def run_file(run_id: str, relative: str):
        run = catalog.get(run_id)
        path = resolve_inside(run.dir, relative) if run is not None else None
        if path is None:
            raise HTTPException(404, "no such file in this run")
        return FileResponse(path)

    @app.get("/run/{run_id}/video", response_class=HTMLResponse)
    async def video_page(request: Request, run_id: str, id: str):
        run = known(run_id)
        table = await run_in_threadpool(tables.load, run.dir)
        rows = table.video(id)
        if not rows:
            raise HTTPException(404, f"no video {id!r} in this run")
        return page(request, "video.html", run=run, video_id=id, rows=rows, levels=table.levels,
                    detectors=table.detectors, charts=video_charts(rows))

    @app.get("/run/{run_id}/crops.png")
    async def crops_png(run_id: str, video: str, level: str, detector: str):
        run = known(run_id)
        table = await run_in_threadpool(tables.load, run.dir)
        if not table.video(video):
            raise HTTPException(404, f"no video {video!r} in this run")
        try:
            png = await run_in_threadpool(crops.render, run.dir, run.manifest, video, level, detector)
        except CropError as error:
            return Response(str(error), status_code=422, media_type="text/plain")
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @app.get("/compare", response_class=HTMLResponse)
    async def compare(request: Request, run: list[str] = Query(default=[])):
        chosen = [known(run_id) for run_id in dict.fromkeys(run)]
        html = await run_in_threadpool(reports.rendered, [r.dir for r in chosen]) if len(chosen) >= 2 else ""
        return page(request, "compare.html", runs=catalog.refresh(), chosen=chosen, report=html)

    def check_form(request: Request, error: str = "", status: int = 200, **values) -> HTMLResponse:
        return page(request, "check.html", status, error=error, available=jobs is not None,
                    detector_names=choices, max_mb=max_upload_mb,
                    values={"detector": choices[0] if choices else "", "levels": CHECK_LEVELS, **values},
                    jobs=list(jobs.jobs.values())[::-1] if jobs else [])

    @app.get(CHECK_PATH, response_class=HTMLResponse)
    async def check_page(request: Request):
        return check_form(request)

    @app.post(CHECK_PATH)
    async def check_upload(request: Request, video: UploadFile = File(...), detector: str = Form("meso"),
                           levels: str = Form(CHECK_LEVELS)):
        values = {"detector": detector, "levels": levels}
        if jobs is None:
            return check_form(request, "checking a video is not available in this app", 503, **values)
        try:
            names = [d.strip() for d in detector.split(",") if d.strip()]
            unknown = [d for d in names if d not in choices]
            if not names or unknown:
                raise UploadError(f"detector {', '.join(unknown) or '(none)'} is not available here (choose from "
                                  f"{', '.join(choices)})")
            expanded = perturbations.expand(levels)
            path = await run_in_threadpool(jobs.save, video.file, video.filename or "upload")
            job = await run_in_threadpool(jobs.start, path, video.filename or "upload", names, expanded)
        except (UploadError, ValueError, KeyError) as error:
            return check_form(request, str(error).strip("'\""), 400, **values)
        return RedirectResponse(f"{CHECK_PATH}/{job.id}", status_code=303)

    @app.get(CHECK_PATH + "/{job_id}", response_class=HTMLResponse)
    async def check_job(request: Request, job_id: str):
        job = jobs.jobs.get(job_id) if jobs else None
        if job is None:
            raise HTTPException(404, "no such check")
        return page(request, "check_job.html", job=job, profiles=profile(job.rows) if job.state == "done" else {})

    return app


def serve(run_dirs: list[Path], *, runs_root: Path | None = None, host: str = LOCAL_HOST, port: int = DEFAULT_PORT,
          checker: Checker | None = None, max_upload_mb: float = MAX_UPLOAD_MB) -> None:
    """Run the app until Ctrl-C. Any host but 127.0.0.1 exposes the runs (and uploads) to the network: warn."""
    if host not in LOCAL_HOSTS:
        print(f"warning: serving on {host}: anyone who can reach this machine on port {port} can read these runs "
              "and upload videos; the app has no login", file=sys.stderr)
    app = create_app(run_dirs, runs_root=runs_root, checker=checker, max_upload_mb=max_upload_mb)
    print(f"serving {len(app.state.catalog.refresh())} run(s) on http://{host}:{port}/ (Ctrl-C stops)", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
