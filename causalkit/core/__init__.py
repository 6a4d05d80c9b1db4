"""Shared machinery for every paper: device, seeding, cache, metrics, progress, source display."""

from causalkit.core.cache import CacheWarning, cache_dir, cache_key, cached, entry_path
from causalkit.core.config import choose_preset
from causalkit.core.device import describe_device, flush_denormal, get_device
from causalkit.core.metrics import METRIC_MIMETYPE, read_metrics, record_metric
from causalkit.core.plotting import BlitFigure, rgba_png
from causalkit.core.progress import progress
from causalkit.core.seed import seed_everything
from causalkit.core.source import show_source, source_markdown

__all__ = [
    "METRIC_MIMETYPE",
    "BlitFigure",
    "CacheWarning",
    "cache_dir",
    "cache_key",
    "cached",
    "choose_preset",
    "describe_device",
    "entry_path",
    "flush_denormal",
    "get_device",
    "progress",
    "read_metrics",
    "record_metric",
    "rgba_png",
    "seed_everything",
    "show_source",
    "source_markdown",
]
