"""Stage ``members``: check that ``train.models`` and ``detect.backbone`` name members of
``artifacts/family.jsonl`` (and that the detection backbone is trained) before ``train`` and ``detect``
run. These values can only be judged against the family ``grow`` wrote, after ``validate``; DVC
removes a stage's outputs before its command starts, so the check must stop the pipeline before
``train`` or ``detect`` starts, or a mistyped name would cost the previous models, detectors, plots
and metrics. Its output is a constant marker, so a valid change re-runs only the stages that read it."""

from pathlib import Path

from asvit.atomic import atomic_path
from asvit.config import load_params
from asvit.errors import exit_on_user_error
from asvit.train import check_members

FAMILY = Path("artifacts/family.jsonl")
MARKER = Path("artifacts/members.checked")


@exit_on_user_error
def main() -> None:
    params = load_params()
    check_members(FAMILY, params.train.models, params.detect.backbone)
    with atomic_path(MARKER) as tmp:
        tmp.write_text("train.models and detect.backbone name members of the family\n")
    print(f"members: {', '.join(params.train.models)}; detection backbone {params.detect.backbone}")


if __name__ == "__main__":
    main()
