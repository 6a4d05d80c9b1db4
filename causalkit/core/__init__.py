"""Shared machinery for every paper: settings, the lifecycle helpers, device, seeding, cache,
metrics, progress, source display."""

from causalkit.core.cache import (
    CacheWarning,
    cache_dir,
    cache_key,
    cached,
    code_version,
    entry_path,
)
from causalkit.core.config import check_config, check_seed, choose_preset, make_config
from causalkit.core.device import describe_device, flush_denormal, get_device
from causalkit.core.metrics import METRIC_MIMETYPE, read_metrics, record_metric
from causalkit.core.progress import progress
from causalkit.core.seed import child_seed, seed_everything
from causalkit.core.settings import Settings, get_settings
from causalkit.core.source import show_source, source_markdown

__all__ = [
    "METRIC_MIMETYPE",
    "CacheWarning",
    "Settings",
    "cache_dir",
    "cache_key",
    "cached",
    "check_config",
    "check_seed",
    "child_seed",
    "choose_preset",
    "code_version",
    "describe_device",
    "entry_path",
    "flush_denormal",
    "get_device",
    "get_settings",
    "make_config",
    "progress",
    "read_metrics",
    "record_metric",
    "seed_everything",
    "show_source",
    "source_markdown",
]
