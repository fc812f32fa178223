"""Stage ``validate``: check all of ``params.yaml`` before any other stage runs.

DVC deletes a stage's outputs before it starts the stage's command, so a stage that found a bad
value only in its own script would lose its previous metrics and plots. Every stage depends on this
stage's marker file, whose content never changes: a params change re-runs only the stages that
read the changed keys, and a bad value stops the pipeline here with one line naming the key.
"""

from pathlib import Path

from asvit.atomic import atomic_path
from asvit.errors import exit_on_user_error
from asvit.validation import validate_params

MARKER = Path("artifacts/params.validated")


@exit_on_user_error
def main() -> None:
    validate_params()
    with atomic_path(MARKER) as tmp:
        tmp.write_text("params.yaml is valid\n")
    print("params.yaml is valid")


if __name__ == "__main__":
    main()
