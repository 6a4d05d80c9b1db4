"""Latent noise traversal (§5.1, Fig. 3): slide each latent's noise n_i and watch the oval move.

One slider per latent sets its noise n_i in units of the learned σ_i; the noise goes through
the prior's SEM ancestrally (z_1 = z_0² + n_1 for the causal-prior VAE, z = n for a β-VAE,
:func:`decode_from_noise`) and is decoded. Beside the decoded oval, the *sweep* picture
superimposes the images decoded as one chosen noise n_j runs over ±3σ_j, each tinted by its
value (blue for negative, red for positive), with the current image outlined: Fig. 3's
superimposed columns, where the parabola shows up when n_0 is swept and the "red tint ...
above the parabola, and the blue tint ... below" when n_1 is. A dropdown switches to the β = 1
and β = 4 VAEs, in which §5.1 finds position "entangled ... with their rotation and scale".
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence

import ipywidgets as ipw
import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image, ImageDraw

from causalkit import semvae
from causalkit.core.validate import is_int
from causalkit.semvae.analysis import noise_std
from causalkit.semvae.model import KIND_LABELS, KINDS, CausalOvalVAE, OvalVAE, decode_from_noise
from causalkit.semvae.ovals import IMAGE_SIZE, ink_positions
from widgets.panel import Challenge, Panel, Rendered, register_panel
from widgets.render import BLACK, FONT, WHITE, Tile, sheet_png, tile_sheet, upscale

BUDGET_MS = 50.0
RIGHT_ARM = 0.8  # the challenge: the oval this far right, on the parabola's right arm
CHALLENGE = Challenge(
    f"With the causal-prior VAE, carry the oval to the parabola's right arm (x ≥ {RIGHT_ARM} "
    "in the readout) by moving one noise slider only, all others at 0. Which one does it?",
    lambda frame: (
        frame.facts["kind"] == "causal"
        and frame.facts["moved"] == 1
        and frame.facts["x"] is not None
        and frame.facts["x"] >= RIGHT_ARM
    ),
    "In the paper's SEM, z1 = z0² + n1: n0 sets x and carries the oval along the curve, n1 "
    "only its distance from it. Compare with the slider you moved, and with what the "
    "notebook found this model learned.",
)
NOISE_RANGE = 3.0  # sliders span ±3σ_i
SWEEP_STEPS = 9  # images superimposed in the sweep picture
TILE = 3 * IMAGE_SIZE  # each picture is drawn TILE × TILE, nearest neighbour
_ALPHA = 0.55  # opacity of each swept oval: overlaps stay readable
_BAR = 12  # height of the colour bar under the sweep picture
_BAR_LABELS = 14  # room under the bar for its "-3σ" and "+3σ"
_INK = 0.5  # a decoded pixel is "on" above this probability (outline, readout)


def _colours(values: np.ndarray) -> np.ndarray:
    """Diverging tint of noise values in σ units: blue at -3σ, grey at 0, red at +3σ."""
    return colormaps["coolwarm"]((values + NOISE_RANGE) / (2 * NOISE_RANGE))[:, :3]


def _outline(mask: np.ndarray) -> np.ndarray:
    """The border pixels of a boolean mask (on, with a 4-neighbour off)."""
    padded = np.pad(mask, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


def _position(image: np.ndarray) -> tuple[float, float] | None:
    """The decoded oval's (x, y) in App. E's units (:func:`ink_positions`); None if blank."""
    xy = ink_positions(torch.as_tensor(image)[None, None], threshold=_INK)[0]
    return None if bool(xy.isnan().any()) else (float(xy[0]), float(xy[1]))


class NoiseTraversal:
    """The pure layer: (model, noise in σ units, swept latent) -> decoded ovals and numbers.

    ``models`` maps kinds of :data:`~causalkit.semvae.model.KINDS` to trained models with
    the same number of latents (:meth:`from_result` takes the three of a result). They are
    copied to the CPU in eval mode, so the panel never moves or changes a model the notebook
    still uses.
    """

    def __init__(self, models: Mapping[str, OvalVAE | CausalOvalVAE]) -> None:
        if not isinstance(models, Mapping) or not models:
            raise ValueError("models must be a non-empty mapping of kind -> trained oval VAE")
        dims = set()
        for kind, model in models.items():
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}; choose among {', '.join(KINDS)}")
            if not isinstance(model, OvalVAE | CausalOvalVAE):
                raise ValueError(
                    f"models[{kind!r}] must be an OvalVAE or CausalOvalVAE, "
                    f"got {type(model).__name__}"
                )
            dims.add(model.latent_dim)
        if len(dims) != 1:
            raise ValueError(f"every model must have the same number of latents, got {dims}")
        self.latent_dim = dims.pop()
        self.models = {k: copy.deepcopy(m).cpu().eval() for k, m in models.items()}
        self.sigmas = {k: noise_std(m) for k, m in self.models.items()}
        self.sweep_values = np.linspace(-NOISE_RANGE, NOISE_RANGE, SWEEP_STEPS)
        self._sweep_colours = _colours(self.sweep_values)
        self._bar = self._colour_bar()

    @classmethod
    def from_result(cls, result: semvae.Result) -> NoiseTraversal:
        """The traversal over a result's three oval VAEs (trained first if not yet)."""
        if not isinstance(result, semvae.Result):
            raise ValueError(f"result must be a semvae.Result, got {type(result).__name__}")
        return cls({kind: run.model for kind, run in result.ovals.items()})

    def _check(self, kind: str, noise: Sequence[float], sweep: int) -> np.ndarray:
        if kind not in self.models:
            raise ValueError(f"kind must be one of {', '.join(self.models)}, got {kind!r}")
        values = np.asarray(noise, dtype=np.float64)
        if values.shape != (self.latent_dim,):
            raise ValueError(
                f"noise must hold {self.latent_dim} values, one n_i per latent, "
                f"got shape {values.shape}"
            )
        if not (np.isfinite(values).all() and np.abs(values).max() <= NOISE_RANGE):
            raise ValueError(
                f"noise values are in units of σ_i and must lie in [-{NOISE_RANGE:g}, "
                f"{NOISE_RANGE:g}], got {values.tolist()}"
            )
        if not (is_int(sweep, 0) and sweep < self.latent_dim):
            raise ValueError(
                f"sweep must be a latent index in 0..{self.latent_dim - 1}, got {sweep!r}"
            )
        return values

    def traverse(self, kind: str, noise: Sequence[float], sweep: int) -> dict[str, torch.Tensor]:
        """Decode the current noise and the sweep of latent ``sweep`` over ±3σ (Fig. 3).

        ``noise`` holds n_i / σ_i for every latent. Returns ``"image"`` (64, 64), ``"sweep"``
        (SWEEP_STEPS, 64, 64) pixel probabilities, ``"noise"`` (raw n, (d,)) and ``"z"``
        (the latents the SEM makes of it, (d,)).
        """
        values = self._check(kind, noise, sweep)
        model, sigma = self.models[kind], self.sigmas[kind]
        units = torch.tensor(values, dtype=torch.float32).repeat(SWEEP_STEPS + 1, 1)
        units[1:, sweep] = torch.as_tensor(self.sweep_values, dtype=torch.float32)
        raw = units * sigma  # n_i = (slider value) σ_i
        images = decode_from_noise(model, raw)[:, 0]  # one batched decode: one MLP call
        with torch.no_grad():
            z = model.sem.from_noise(raw[:1])[0] if isinstance(model, CausalOvalVAE) else raw[0]
        return {"image": images[0], "sweep": images[1:], "noise": raw[0], "z": z}

    def _colour_bar(self) -> np.ndarray:
        ramp = _colours(np.linspace(-NOISE_RANGE, NOISE_RANGE, TILE))
        return np.repeat((ramp * 255)[None], _BAR, axis=0).astype(np.uint8)

    def _sweep_picture(self, canvas: np.ndarray, current: float) -> Image.Image:
        """The superimposed sweep, its colour bar and a tick at the swept slider's value."""
        picture = Image.new("RGB", (TILE, TILE + 2 + _BAR + _BAR_LABELS), WHITE)
        picture.paste(upscale(canvas, TILE), (0, 0))
        top = TILE + 2
        picture.paste(Image.fromarray(self._bar), (0, top))
        draw = ImageDraw.Draw(picture)
        tick = round((current + NOISE_RANGE) / (2 * NOISE_RANGE) * (TILE - 1))
        draw.rectangle((tick - 1, top - 2, tick + 1, top + _BAR + 1), fill=BLACK)
        draw.text((0, top + _BAR + 1), "-3σ", fill=(40, 40, 160), font=FONT)
        draw.text((TILE - 24, top + _BAR + 1), "+3σ", fill=(160, 40, 40), font=FONT)
        return picture

    def render(self, kind: str, noise: Sequence[float], sweep: int = 0) -> Rendered:
        """The decoded oval | the sweep of n_``sweep`` superimposed, and a readout."""
        result = self.traverse(kind, noise, sweep)
        image = result["image"].numpy()
        stack = result["sweep"].numpy()
        # Each swept oval tints the canvas by its own colour, in proportion to its ink.
        canvas = np.ones((*image.shape, 3))
        for picture, colour in zip(stack, self._sweep_colours, strict=True):
            weight = _ALPHA * picture[..., None]
            canvas = canvas * (1 - weight) + colour * weight
        canvas[_outline(image > _INK)] = 0.0
        current = float(np.asarray(noise, dtype=np.float64)[sweep])
        tiles = [
            Tile(upscale(1.0 - image, TILE), f"decoded ({KIND_LABELS[kind]})"),
            Tile(self._sweep_picture(canvas, current), f"n{sweep} swept over ±3σ{sweep}"),
        ]
        sheet, _ = tile_sheet([tiles])
        where = _position(image)
        facts = {
            "kind": kind,
            "x": None if where is None else where[0],
            "offset": None if where is None else where[1] - where[0] ** 2,
            "moved": int(np.count_nonzero(np.asarray(noise, dtype=np.float64))),
        }
        return Rendered(sheet_png(sheet), self._readout(kind, result, image), facts)

    def _readout(self, kind: str, result: dict[str, torch.Tensor], image: np.ndarray) -> str:
        sigma = self.sigmas[kind]
        n = ", ".join(f"{v:+.2f}" for v in result["noise"].tolist())
        z = ", ".join(f"{v:+.2f}" for v in result["z"].tolist())
        s = ", ".join(f"{v:.2f}" for v in sigma.tolist())
        sem = (
            "z<sub>1</sub> = z<sub>0</sub>² + n<sub>1</sub>, other z<sub>i</sub> = n<sub>i</sub>"
            if isinstance(self.models[kind], CausalOvalVAE)
            else "z = n (no edges)"
        )
        where = _position(image)
        if where is None:
            position = "no oval drawn (no pixel above ½)"
        else:
            x, y = where
            position = (
                f"oval at x = {x:+.2f}, y = {y:+.2f}: offset from the parabola "
                f"y - x² = {y - x * x:+.2f}"
            )
        return f"<b>{KIND_LABELS[kind]}</b> ({sem}). σ = ({s}); n = ({n}); z = ({z}). {position}."


def noise_traversal_panel(traversal: NoiseTraversal) -> Panel:
    """Controls: which VAE, which noise to sweep, and one slider per latent (units of σ_i)."""
    d = traversal.latent_dim
    kinds = list(traversal.models)
    controls: dict[str, ipw.ValueWidget] = {
        "kind": ipw.Dropdown(
            options=[(KIND_LABELS[k], k) for k in kinds],
            value="causal" if "causal" in kinds else kinds[0],
            description="VAE",
        ),
        "sweep": ipw.Dropdown(
            options=[(f"n{j}", j) for j in range(d)], value=0, description="sweep"
        ),
    }
    for j in range(d):
        controls[f"n{j}"] = ipw.FloatSlider(
            0.0,
            min=-NOISE_RANGE,
            max=NOISE_RANGE,
            step=0.1,
            description=f"n{j} / σ{j}",
            continuous_update=True,
        )

    def render(kind: str, sweep: int, **noise: float) -> Rendered:
        return traversal.render(kind, [noise[f"n{j}"] for j in range(d)], sweep)

    title = "Latent noise traversal (Fig. 3)"
    return Panel(controls, render, title, BUDGET_MS, challenge=CHALLENGE)


def _settings(i: int, d: int) -> tuple[str, list[float], int]:
    """The i-th of a varied sequence of control values, as a person would move them."""
    kind = KINDS[i % len(KINDS)]
    noise = [round(NOISE_RANGE * math.sin(0.7 * i + 1.3 * j), 1) for j in range(d)]
    return kind, noise, i % d


@register_panel("semvae_noise_traversal", budget_ms=BUDGET_MS)
def _benchmark() -> Callable[[int], Rendered]:
    # Trains the quick preset's ovals when the cache is cold (about a minute on a CPU).
    traversal = NoiseTraversal.from_result(semvae.result(semvae.config("quick"), seed=0))
    return lambda i: traversal.render(*_settings(i, traversal.latent_dim))
