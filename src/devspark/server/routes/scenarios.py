"""Scenario catalogue: ``GET /api/v1/scenarios`` and ``GET /api/v1/scenarios/{id}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from devspark.scenarios import ScenarioInfo, describe, list_scenarios, resolve
from devspark.server.errors import NOT_FOUND_RESPONSE
from devspark.server.pagination import Page, PageParams, page_params, paginate

router = APIRouter(prefix="/api/v1/scenarios", tags=["scenarios"])

_EXAMPLE: dict[str, Any] = {
    "id": "tictactoe",
    "version": 1,
    "full_id": "tictactoe-v1",
    "domains": ["game"],
    "players": [2, 2],
    "difficulties": [1],
    "parallel": False,
}


class ScenarioPublic(BaseModel):
    """A scenario version as the API shows it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    id: str = Field(description="Scenario id without version.")
    version: int = Field(ge=1, description="Version number.")
    full_id: str = Field(description="Versioned id, `<id>-v<version>`.")
    domains: list[str] = Field(description="Declared domains.")
    players: list[int] = Field(
        min_length=2, max_length=2, description="Minimum and maximum number of agents."
    )
    difficulties: list[int] = Field(description="Accepted difficulty levels.")
    parallel: bool = Field(description="Simultaneous moves rather than turns.")

    @classmethod
    def from_info(cls, info: ScenarioInfo) -> ScenarioPublic:
        """Build the public view of a registry entry."""
        return cls(
            id=info.id,
            version=info.version,
            full_id=info.full_id,
            domains=list(info.domains),
            players=list(info.players),
            difficulties=list(info.difficulties),
            parallel=info.parallel,
        )


class ScenarioDetail(ScenarioPublic):
    """A scenario version with its documentation page."""

    docs: str = Field(
        description="Rules, observation, actions and rewards (Markdown-like plain text), "
        "as `devspark scenarios show` prints them."
    )


@router.get("", summary="List scenarios")
async def list_all(params: Annotated[PageParams, Depends(page_params)]) -> Page[ScenarioPublic]:
    """Every registered scenario version, sorted by id then version."""
    items = [ScenarioPublic.from_info(info) for info in list_scenarios()]
    return paginate(items, params)


@router.get("/{scenario_id}", summary="Get a scenario", responses=NOT_FOUND_RESPONSE)
async def get_one(
    scenario_id: Annotated[
        str,
        Path(
            description="`name` (latest version) or `name-vN`.",
            examples=["tictactoe", "tictactoe-v1"],
        ),
    ],
) -> ScenarioDetail:
    """One scenario version with its rules; 404 (near names suggested) when unknown."""
    cls = resolve(scenario_id)
    summary = ScenarioPublic.from_info(
        ScenarioInfo(
            id=cls.scenario_id,
            version=cls.version,
            domains=tuple(cls.domains),
            players=(cls.players[0], cls.players[1]),
            difficulties=tuple(cls.difficulties),
            parallel=cls.parallel,
        )
    )
    return ScenarioDetail(**summary.model_dump(), docs=describe(cls))
