"""Stage ``score``: every sampled architecture scored with the configured proxies (the timed
``latency_ms`` on ``hardware.*``); continues a partial ``artifacts/scores.csv`` after an interruption."""

from pathlib import Path

from asvit.config import load_params
from asvit.deploy import LatencySettings
from asvit.errors import exit_on_user_error
from asvit.executor import Engine
from asvit.proxies import get_proxy
from asvit.proxies.scoring import ScoreSettings, score_file
from asvit.tracking import stage_run

DATA = Path("data/cls")  # the NTK batch's images (proxy.inputs: data)
ARCHS = Path("artifacts/topologies.jsonl")
OUT = Path("artifacts/scores.csv")
METRICS = Path("metrics/score.json")
SECONDS = Path("metrics/seconds/score.json")  # each row's seconds per proxy, kept across resumes


@exit_on_user_error
def main() -> None:
    params = load_params()
    proxy = params.proxy
    timed = any(get_proxy(name).timed for name in proxy.names)
    latency = LatencySettings.from_params(params.hardware) if timed else None
    logged = {"space": params.space.model_dump(), "proxy": proxy.model_dump(),
              **({"hardware": params.hardware.model_dump()} if timed else {})}
    with stage_run("score", logged) as run:
        settings = ScoreSettings.from_params(proxy, DATA, latency)
        summary = score_file(ARCHS, params.space.record_format, proxy.names, settings, OUT,
                             engine=Engine.from_params(params.executor, proxy.workers), seconds=SECONDS)
        run.write_metrics(METRICS, summary)
        run.log_artifact(OUT)


if __name__ == "__main__":
    main()
