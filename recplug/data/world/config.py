"""World configuration and its presets; the whole config is stored in dataset.json so the world
(and its ground truth) can be rebuilt exactly from a dataset folder."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DAY = 86_400
START_TS = 1_704_067_200  # 2024-01-01 00:00 UTC: a fixed epoch keeps generation byte-identical


class WorldConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_users: int = Field(3000, ge=2)
    n_items: int = Field(3000, ge=4)
    n_days: int = Field(40, ge=5)
    initial_item_share: float = Field(0.6, gt=0, le=1, description="share of items that exist on day 0")
    fresh_window_days: int = Field(3, ge=1, description="items this young get a share of candidates")

    collab_dim: int = Field(16, ge=2)
    item_specific_scale: float = Field(
        0.8, ge=0, description="s in v = Wc + s*e: how much of behaviour no content shows"
    )
    popularity_pareto_alpha: float = Field(1.3, gt=0)
    popularity_bias_scale: float = Field(0.3, ge=0, description="weight of log-popularity in true affinity")
    affinity_scale: float = Field(5.0, gt=0)
    interest_drift: float = Field(
        0.3, ge=0, description="how far interest centres move over the whole period"
    )

    # logging policy
    sessions_per_active_day: float = Field(1.5, ge=1)
    impressions_per_session: int = Field(10, ge=2)
    candidates_per_session: int = Field(100, ge=10)
    candidate_popularity_power: float = Field(
        0.5, ge=0, description="popular candidates drawn by popularity**power"
    )
    candidate_mix: tuple[float, float, float] = (0.45, 0.1, 0.45)  # popular, fresh, uniform
    policy_personalisation: float = Field(0.4, ge=0, le=1)
    policy_noise: float = Field(1.5, ge=0)

    # labels: click ~ Bernoulli(sigmoid(alpha * (a + noise) + beta)); finish, like given click
    click_alpha: float = 1.0
    click_beta: float = -5.5
    label_noise: float = 0.5
    finish_alpha: float = 0.8
    finish_beta: float = -3.5
    like_alpha: float = 1.0
    like_beta: float = -6.5

    # return model: p(return next day) = sigmoid(r0 + r_act*log(activity) + r_sat*(sat - sat_ref))
    return_base: float = 0.2
    return_activity: float = 0.8
    return_satisfaction: float = 5.0
    satisfaction_ref: float = 0.09
    satisfaction_decay: float = 0.7

    # queries
    queries_per_item: float = Field(1.0, ge=0)
    relevance_candidates: int = Field(200, ge=10)
    relevance_rows_per_query: int = Field(6, ge=1)

    # media
    media: Literal["inline", "on_demand"] = "inline"
    image_size: int = Field(32, ge=16)
    audio_seconds: float = Field(0.5, gt=0)
    sample_rate: int = Field(8000, ge=8000)

    # splits (fractions of days)
    train_frac: float = Field(0.7, gt=0, lt=1)
    valid_frac: float = Field(0.15, ge=0, lt=1)

    user_chunk: int = Field(4_000, ge=100, description="users simulated together; bounds memory")


PRESETS: dict[str, WorldConfig] = {
    "tiny": WorldConfig(n_users=400, n_items=1000, n_days=20, candidates_per_session=60),
    "demo": WorldConfig(n_users=3000, n_items=3000, n_days=40),
    "large": WorldConfig(
        n_users=100_000, n_items=100_000, n_days=25, media="on_demand", queries_per_item=0.2
    ),
}


def preset(name: str, **overrides) -> WorldConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown world preset '{name}'; choose one of {sorted(PRESETS)}")
    return WorldConfig.model_validate({**PRESETS[name].model_dump(), **overrides})
