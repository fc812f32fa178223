"""``params.yaml``, validated before any work: an unknown key, a wrong type or an out-of-range
value stops a stage with an error that names the full key path and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import AsvitError

DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(AsvitError):
    """``params.yaml`` is missing, unreadable or invalid."""


class Section(BaseModel):
    """A params group: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SpaceParams(Section):
    """Which search space ``sample`` draws from."""

    name: Literal["asvit", "autoformer-tiny", "autoformer-small", "autoformer-base"] = "asvit"

    @property
    def record_format(self) -> str:
        """The architecture-record format of this space: ``asvit`` or ``autoformer``."""
        return self.name.split("-")[0]


class SampleParams(Section):
    count: int = Field(32, ge=1, description="number of distinct architectures to draw")
    seed: int = 0


class ProxyParams(Section):
    """How the training-free proxies are measured."""

    names: list[str] = Field(default_factory=lambda: [
        "length_distortion", "ntk_cond", "params", "flops", "macs", "synflow", "dss"], min_length=1)
    image_size: int = Field(224, ge=32, multiple_of=32)
    batch_size: int = Field(16, ge=2, description="images in the NTK batch")
    repeats: int = Field(5, ge=1, description="freshly initialised networks averaged per proxy")
    num_classes: int = Field(1000, ge=1)
    seed: int = 0

    @field_validator("names")
    @classmethod
    def _known_proxies(cls, names: list[str]) -> list[str]:
        from .proxies import PROXIES

        unknown = [n for n in names if n not in PROXIES]
        if unknown:
            raise ValueError(f"unknown proxy {', '.join(unknown)}; allowed: {', '.join(PROXIES)}")
        if len(set(names)) != len(names):
            raise ValueError("a proxy is listed twice")
        return names


class Params(Section):
    """All of ``params.yaml``, grouped by stage."""

    space: SpaceParams = SpaceParams()
    sample: SampleParams = SampleParams()
    proxy: ProxyParams = ProxyParams()


def format_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem: ``source: key.path: message (got value)``."""
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        got = "" if problem["type"] == "missing" else f" (got {problem['input']!r})"
        message = "unknown key" if problem["type"] == "extra_forbidden" else problem["msg"]
        lines.append(f"{source}: {key}: {message}{got}")
    return "\n".join(lines)


def parse_params(data: Any, source: str = "params") -> Params:
    """Validate an already loaded mapping."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of stage groups")
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    """Read and validate ``params.yaml`` (``yaml.safe_load``)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_params(data, str(path))
