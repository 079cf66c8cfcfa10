#!/usr/bin/env python
"""Screenshot of one trial's learning curves, taken from the real MLflow UI.

Starts a light ``mlflow ui`` on 127.0.0.1 (a free port, one worker, no job
runner, no telemetry) over a tracking store, picks a fold trial run (tags
``paaan.step=trial`` and ``paaan.role=fold``), opens that run's "Model
metrics" tab in headless Chromium (driven by Selenium and Debian's
chromedriver), filters the charts to the per-epoch curves with the UI's own
search box, waits until Plotly has drawn them and saves a PNG. The server is
stopped by its process group whatever happens.

Needs: Debian's ``chromium`` and ``chromium-driver`` (apt-get install -y
chromium chromium-driver) and ``pip install selenium``.

Usage:
    python docs/screenshots.py /path/to/mlflow.db
    python docs/screenshots.py sqlite:////abs/mlflow.db --run-id RUN_ID \
        --out docs/images/mlflow_learning_curves.png --width 1400 --height 900

The page opened is ``http://127.0.0.1:PORT/#/experiments/<experiment_id>/runs/
<run_id>/model-metrics?workflowType=machine_learning`` (MLflow 3.17's run page,
"Model metrics" tab, in the "Model training" side of the UI).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "images" / "mlflow_learning_curves.png"
# Learning curves logged per epoch by every training run (step = epoch).
CURVE_METRICS = ("train_loss", "val_uar", "val_loss", "best_val_uar", "lr", "epoch_seconds")
# Variants preferred for the default pick (fold 1, seed 0).
PREFERRED_VARIANTS = ("PAaAN_PP", "PAaAN+_oracle", "PAaAN_oracle")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
# Plotly's zoom/pan toolbar sits on top of each chart's first tick labels, and the
# floating "MLflow Assistant" button on the last chart's corner.
HIDE_CSS = (
    ".modebar-container, .modebar { display: none !important; }\n"
    '[data-assistant-ui="true"] { display: none !important; }\n'
)


def log(msg: str) -> None:
    print(f"[screenshots] {msg}", file=sys.stderr, flush=True)


def sqlite_uri(store: str) -> tuple[str, Path | None]:
    """Turn a path or URI into an absolute tracking URI (and the db path for sqlite)."""
    if store.startswith("sqlite:///"):
        path = Path(store[len("sqlite:///"):])
        if not path.is_absolute():
            path = Path.cwd() / path
    elif "://" in store:
        return store, None
    else:
        path = Path(store)
    path = path.resolve()
    if not path.is_file():
        raise SystemExit(f"no such tracking database: {path}")
    return f"sqlite:///{path}", path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base: str, endpoint: str, body: dict | None = None, timeout: float = 30) -> dict:
    url = f"{base}/api/2.0/mlflow/{endpoint}"
    if body is None:
        req = urllib.request.Request(url)
    else:
        req = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.load(resp)


def start_server(uri: str, port: int, cwd: Path, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
    )
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_TRACKING_URI"):
        env.pop(var, None)
    cmd = [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", uri,
        "--workers", "1",
        "--host", "127.0.0.1",
        "--port", str(port),
    ]
    log(f"starting: {' '.join(cmd)}")
    out = open(log_path, "wb")
    try:
        # Own session = own process group, so killpg reaches uvicorn too.
        return subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    finally:
        out.close()


def stop_process_group(proc: subprocess.Popen | None, name: str) -> None:
    """SIGTERM, then SIGKILL, the process group that ``proc`` leads (started with start_new_session)."""
    if proc is None:
        return
    pgid = proc.pid  # a session leader's pid is its process group id
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break  # nothing left in the group
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            time.sleep(0.5)  # let children that got SIGTERM too finish, then sweep the group
    try:
        proc.wait(timeout=1)
    except subprocess.TimeoutExpired:
        pass
    log(f"stopped {name} (process group {pgid})")


def wait_for_server(base: str, proc: subprocess.Popen, timeout: float, log_path: Path) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"mlflow ui exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - t0
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"mlflow ui did not answer within {timeout:.0f} s (log: {log_path})")


def run_tags(run: dict) -> dict:
    return {t["key"]: t.get("value") for t in run.get("data", {}).get("tags", [])}


def find_trial(base: str, run_id: str | None) -> dict:
    if run_id:
        try:
            return api(base, f"runs/get?run_id={run_id}")["run"]
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"run {run_id!r} not found in the store (HTTP {exc.code})") from None
    exps = api(base, "experiments/search", {"max_results": 1000, "view_type": "ACTIVE_ONLY"})
    exp_ids = [e["experiment_id"] for e in exps.get("experiments", [])]
    if not exp_ids:
        raise SystemExit("the store has no experiments")
    runs: list[dict] = []
    token = None
    while True:
        body = {
            "experiment_ids": exp_ids,
            "filter": "tags.`paaan.step` = 'trial' and tags.`paaan.role` = 'fold'",
            "run_view_type": "ACTIVE_ONLY",
            "max_results": 1000,
            "order_by": ["attributes.start_time ASC"],
        }
        if token:
            body["page_token"] = token
        page = api(base, "runs/search", body)
        runs.extend(page.get("runs", []))
        token = page.get("next_page_token")
        if not token:
            break
    if not runs:
        raise SystemExit("no fold trial run (paaan.step=trial, paaan.role=fold) in the store")

    def rank(run: dict) -> tuple:
        tags = run_tags(run)
        variant = tags.get("paaan.variant")
        pref = PREFERRED_VARIANTS.index(variant) if variant in PREFERRED_VARIANTS else len(PREFERRED_VARIANTS)
        fold1 = tags.get("paaan.fold") == "1" and tags.get("paaan.seed") == "0"
        finished = run["info"].get("status") == "FINISHED"
        return (not (fold1 and pref < len(PREFERRED_VARIANTS)), pref, not fold1, not finished)

    # sorted() is stable: among equals, the earliest run (the "first") wins.
    return sorted(runs, key=rank)[0]


def make_driver(width: int, height: int, scale: float, profile: Path, chromium: str, chromedriver: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    service = Service(executable_path=chromedriver, popen_kw={"start_new_session": True})
    driver = webdriver.Chrome(options=opts, service=service)
    # The window size includes browser chrome in new headless mode: pin the viewport.
    set_viewport(driver, width, height, scale)
    return driver


def charts_state(driver) -> dict:
    return driver.execute_script(
        """
        const plots = [...document.querySelectorAll('.js-plotly-plot')];
        const drawn = plots.filter(p => [...p.querySelectorAll('.scatterlayer .trace path.js-line, .barlayer path')]
            .some(x => (x.getAttribute('d') || '').length > 4));
        return {plots: plots.length, drawn: drawn.length};
        """
    )


def overflow_below(driver) -> int:
    """Pixels of chart area hidden below the fold (the charts scroll inside their own pane)."""
    return driver.execute_script(
        """
        const plot = document.querySelector('.js-plotly-plot');
        let extra = Math.max(0, document.documentElement.scrollHeight - window.innerHeight);
        for (let el = plot; el; el = el.parentElement) {
            const oy = getComputedStyle(el).overflowY;
            if ((oy === 'auto' || oy === 'scroll') && el.scrollHeight > el.clientHeight + 1) {
                extra = Math.max(extra, el.scrollHeight - el.clientHeight);
            }
        }
        return Math.ceil(extra);
        """
    )


def set_viewport(driver, width: int, height: int, scale: float) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": False},
    )


def click_if_present(driver, css: str) -> bool:
    from selenium.common.exceptions import WebDriverException

    try:
        for el in driver.find_elements("css selector", css):
            if el.is_displayed():
                el.click()
                return True
    except WebDriverException:
        pass
    return False


def wait_drawn(driver, want: int | None, t0: float, timeout: float) -> dict:
    """Wait until every chart shown is drawn (and, with ``want``, that many are shown) and stays so."""
    last, stable_since = None, time.monotonic()
    while True:
        state = charts_state(driver)
        ok = state["drawn"] == state["plots"] and state["plots"] > 0 and (want is None or state["plots"] == want)
        if state != last:
            last, stable_since = state, time.monotonic()
        if ok and time.monotonic() - stable_since > 1.0:
            return state
        if time.monotonic() - t0 > timeout:
            log(f"charts not settled within {timeout:.0f} s ({state}); saving what is shown")
            return state
        time.sleep(0.3)


def shoot(driver, url: str, metrics: list[str] | None, out: Path, timeout: float, hide_chrome: bool,
          size: tuple[int, int, float], max_height: int) -> tuple[int, int]:
    from selenium.webdriver.common.keys import Keys

    driver.get(url)
    t0 = time.monotonic()
    # First charts of the run page (all metrics) appear.
    while charts_state(driver)["drawn"] == 0:
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"no chart was drawn within {timeout:.0f} s at {url}")
        time.sleep(0.5)
    # The "MLflow Assistant" side panel opens by itself on a first visit: close it.
    if click_if_present(driver, 'button[data-component-id="mlflow.assistant.chat_panel.close"]'):
        log("closed the assistant panel")
    want = None
    if metrics:
        # The UI's own chart search takes a case-insensitive regular expression.
        regex = "^(" + "|".join(m.replace(".", r"\.") for m in metrics) + ")$"
        box = driver.find_element("css selector", 'input[role="searchbox"], input[placeholder="Search metric charts"]')
        box.click()
        box.send_keys(regex)
        box.send_keys(Keys.TAB)  # leave the box: no caret in the picture
        click_if_present(driver, "h2")  # click the run's title: drops the box's focus ring
        want = len(metrics)
    state = wait_drawn(driver, want, t0, timeout)
    if hide_chrome:
        driver.execute_script(
            "const s=document.createElement('style');s.textContent=arguments[0];document.head.appendChild(s);",
            HIDE_CSS,
        )
    driver.execute_script("document.activeElement && document.activeElement.blur && document.activeElement.blur()")
    # Grow the viewport (up to max_height) so that the last row of charts is not cut off.
    width, height, scale = size
    extra = overflow_below(driver)
    if extra > 0 and height < max_height:
        height = min(max_height, height + extra + 8)
        log(f"charts run {extra} px below the fold: viewport {width}x{height}")
        set_viewport(driver, width, height, scale)
        time.sleep(0.5)
        state = wait_drawn(driver, want, time.monotonic(), 15)
    time.sleep(0.5)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not driver.save_screenshot(str(out)):
        raise SystemExit(f"could not save {out}")
    log(f"charts: {state}")
    return width, height


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("store", help="tracking store: a sqlite file path or sqlite:////abs/path URI")
    p.add_argument("--run-id", help="run to show (default: PAaAN_PP / PAaAN+_oracle fold 1 seed 0, else the first fold trial)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG to write (default {DEFAULT_OUT.relative_to(REPO)})")
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=900)
    p.add_argument("--scale", type=float, default=1.0, help="device pixel ratio (2 doubles the PNG's pixels)")
    p.add_argument("--metrics", default=",".join(CURVE_METRICS),
                   help="comma-separated metrics to chart (only those the run has are kept); '' for all charts")
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--server-timeout", type=float, default=180)
    p.add_argument("--chart-timeout", type=float, default=90)
    p.add_argument("--max-height", type=int, default=1100,
                   help="the viewport may grow up to this height so the last chart row shows whole")
    p.add_argument("--keep-chrome", action="store_true",
                   help="keep Plotly's toolbars and the floating assistant button over the charts")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    p.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    args = p.parse_args(argv)

    uri, db_path = sqlite_uri(args.store)
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="paaan-shot-"))
    server_log = work / "mlflow-ui.log"
    t_start = time.monotonic()
    server = driver = None
    try:
        # cwd next to the db: the default ./mlartifacts of that store resolves there.
        server = start_server(uri, port, db_path.parent if db_path else work, server_log)
        ready = wait_for_server(base, server, args.server_timeout, server_log)
        log(f"mlflow ui answers on {base} after {ready:.1f} s")

        run = find_trial(base, args.run_id)
        info, tags = run["info"], run_tags(run)
        run_id, exp_id = info["run_id"], info["experiment_id"]
        have = {m["key"] for m in run.get("data", {}).get("metrics", [])}
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
        if metrics:
            kept = [m for m in metrics if m in have]
            if not kept:
                log(f"run has none of {metrics}; showing all its charts")
            metrics = kept
        log(f"run {run_id} ({info.get('run_name')}, variant={tags.get('paaan.variant')}, "
            f"fold={tags.get('paaan.fold')}, seed={tags.get('paaan.seed')}), experiment {exp_id}")

        url = f"{base}/#/experiments/{exp_id}/runs/{run_id}/model-metrics?workflowType=machine_learning"
        log(f"opening {url}")
        t_browser = time.monotonic()
        driver = make_driver(args.width, args.height, args.scale, work / "chromium-profile",
                             args.chromium, args.chromedriver)
        w, h = shoot(driver, url, metrics or None, args.out.resolve(), args.chart_timeout,
                     not args.keep_chrome, (args.width, args.height, args.scale), args.max_height)
        log(f"saved {args.out} ({w}x{h} CSS px, browser {time.monotonic() - t_browser:.1f} s, "
            f"total {time.monotonic() - t_start:.1f} s)")
        print(args.out)
        return 0
    finally:
        if driver is not None:
            chromedriver_proc = getattr(driver.service, "process", None)
            try:
                driver.quit()
            except Exception as exc:  # noqa: BLE001 - cleanup must go on
                log(f"driver.quit failed: {exc}")
            stop_process_group(chromedriver_proc, "chromedriver")
        stop_process_group(server, "mlflow ui")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
