"""REINFORCE over the 13 decisions of the As-ViT space (docs/design.md section 7).

pi(a) = prod_d softmax(theta_d)[a_d] with 13 independent categorical distributions, theta_d
initialised to 1e-3 N(0, 1); each step samples one topology a and takes one Adam step on
loss = -log pi(a) (r - b), b the bias-corrected moving average of r updated first. The result is
the most likely value of each decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.distributions import Categorical

from ..config import SearchParams
from ..space import DECISIONS, Topology
from .objective import Objective
from .reward import EMABaseline

INIT_SCALE = 1e-3


class CategoricalPolicy(nn.Module):
    """One categorical distribution per decision, over the indices of its choices."""

    def __init__(self, generator: torch.Generator) -> None:
        super().__init__()
        self.logits = nn.ParameterList(
            nn.Parameter(INIT_SCALE * torch.randn(len(d.choices), generator=generator)) for d in DECISIONS)

    def distributions(self) -> list[Categorical]:
        return [Categorical(logits=theta) for theta in self.logits]

    def sample(self, generator: torch.Generator) -> list[int]:
        """Choice indices drawn from pi with ``generator``."""
        with torch.no_grad():
            return [int(torch.multinomial(d.probs, 1, generator=generator)) for d in self.distributions()]

    def log_prob(self, actions: Sequence[int]) -> torch.Tensor:
        """log pi(a) = sum_d log softmax(theta_d)[a_d]."""
        return sum(d.log_prob(torch.tensor(a)) for d, a in zip(self.distributions(), actions))

    def entropy(self) -> float:
        """H(pi) = sum_d H(softmax(theta_d)) in nats."""
        with torch.no_grad():
            return float(sum(d.entropy() for d in self.distributions()))

    def mode(self) -> list[int]:
        """The most likely choice index of each decision."""
        return [int(theta.argmax()) for theta in self.logits]


def topology_of(actions: Sequence[int]) -> Topology:
    """The seed topology of choice indices (one per decision)."""
    return Topology.from_decisions([d.choices[a] for d, a in zip(DECISIONS, actions)])


class ReinforceSearch:
    """The REINFORCE search method: ``propose`` samples a topology, ``observe`` takes the policy step."""

    def __init__(self, params: SearchParams, objective: Objective | None = None) -> None:
        """``objective`` is unused: the policy learns from the rewards alone."""
        self.generator = torch.Generator().manual_seed(params.seed)
        self.policy = CategoricalPolicy(self.generator)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=params.learning_rate)
        self.baseline = EMABaseline(params.baseline_momentum)
        self._actions: list[int] = []

    def entropy(self) -> float:
        return self.policy.entropy()

    def propose(self) -> Topology:
        self._actions = self.policy.sample(self.generator)
        return topology_of(self._actions)

    def observe(self, topology: Topology, values: Mapping[str, float], reward: float) -> None:
        baseline = self.baseline.update(reward)
        loss = -self.policy.log_prob(self._actions) * (reward - baseline)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def result(self) -> Topology:
        return topology_of(self.policy.mode())

    def state_dict(self) -> dict[str, Any]:
        return {"logits": [theta.detach().clone() for theta in self.policy.logits],
                "optimizer": self.optimizer.state_dict(), "baseline": self.baseline.state_dict(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        with torch.no_grad():
            for theta, saved in zip(self.policy.logits, state["logits"]):
                theta.copy_(saved)
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline.load_state_dict(state["baseline"])
        self.generator.set_state(state["generator"])
