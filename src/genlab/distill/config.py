"""The config of a distilled student: the diffusion sections of its teacher plus [distill]."""
from __future__ import annotations

from dataclasses import dataclass, field

from genlab.diffusion.config import DDPMConfig


@dataclass
class DistillSection:
    """Whom the student learns from: the teacher run, the teacher's DDIM steps (twice the student's) and the
    classifier-free guidance scale the teacher's targets are drawn at (a conditional teacher only)."""

    teacher: str = ""                     # run folder of the teacher (a ddpm run, or the previous stage)
    teacher_steps: int = field(default=2, metadata={"ge": 2})
    guidance: float = field(default=1.0, metadata={"ge": 0})


@dataclass
class DistillConfig(DDPMConfig):
    """DDPM's sections ([model], [diffusion], [condition]) plus [distill]."""

    distill: DistillSection = field(default_factory=DistillSection)
