"""Denoising autoencoders (PyTorch) that embed the pool: an MLP for tabular rows, a small CNN for images.

Both are estimator-shaped (``fit(X)`` returns self, learned state ends in ``_``), seeded through
``random_state``, train and infer in mini-batches so memory stays bounded by ``batch_size``, stop early on a
held-out split, and save/load as a plain state dict plus a plain config (loaded with ``weights_only=True``).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn
from torch.nn import functional as F

_FORMAT_VERSION = 1
# A module whose reconstructions vary across items less than this share of the items' own variance has
# collapsed. Measured on noisy rendered glyphs (16 x 16): a healthy run's reconstructions keep about 5% of it (the
# rest is the noise it removes), a collapsed run's 1e-7 to 2e-5.
COLLAPSE_VARIANCE_RATIO = 1e-3


class AutoencoderCollapsedError(RuntimeError):
    """Every training run of an autoencoder collapsed (see ``attempts_``): its embedding would be meaningless."""


def _resolve_device(device: str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class _Autoencoder(BaseEstimator):
    """Shared training loop; subclasses build the module and define the input shape and the corruption.

    On large pools an epoch is a fresh seeded sample of at most ``epoch_items`` training rows, and the held-out
    loss is measured on at most ``validation_items`` rows: a million-item pool then trains about as fast as a
    fifty-thousand-item one (the embedding of every item is computed afterwards all the same). Smaller pools are
    trained exactly as before, every row in every epoch."""

    epoch_items = 50_000
    validation_items = 10_000

    def _build(self, input_shape: tuple[int, ...]) -> nn.Module:
        raise NotImplementedError

    def _corrupt(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def _check_input(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def fit(self, X: Any, y: Any = None) -> _Autoencoder:
        """Train on X (see the subclass for its shape); returns self.

        A ``validation_fraction`` of the rows (at least one) is held out; training stops after ``patience``
        epochs without improvement of the held-out loss, and the best weights are kept. A run that collapsed
        (its loss went flat with near-constant output or embedding, see :meth:`_collapse`) is trained again from
        another initialisation at half the learning rate, up to ``max_attempts`` runs in all (an image
        autoencoder's retries also drop the output sigmoid, see :class:`ImageAutoencoder`); ``attempts_`` records
        each run (learning rate, retry, epochs, held-out loss, why it was rejected), and
        :class:`AutoencoderCollapsedError` is raised when every run collapsed.
        """
        X = self._check_input(X)
        if len(X) < 2:
            raise ValueError("an autoencoder needs at least 2 items to train")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        self.device_ = _resolve_device(self.device)
        self.input_shape_ = tuple(int(s) for s in X.shape[1:])
        rng = np.random.default_rng(self.random_state)
        seed = int(rng.integers(2**31 - 1))
        order = rng.permutation(len(X))
        n_valid = max(1, round(len(X) * self.validation_fraction))
        valid_idx, train_idx = np.sort(order[: min(n_valid, self.validation_items)]), order[n_valid:]
        if len(train_idx) == 0:
            train_idx = valid_idx
        self.attempts_: list[dict[str, Any]] = []
        for attempt in range(self.max_attempts):
            learning_rate = self.learning_rate * 0.5**attempt
            self.retrying_ = attempt > 0
            self._train(X, train_idx, valid_idx, seed, learning_rate)
            # Only a run whose loss went flat can have collapsed: one that ran out of epochs while its loss still
            # fell may simply be young (a few epochs on a few items also reconstruct every item alike).
            collapse = self._collapse(X[valid_idx]) if self.stopped_early_ else None
            self.attempts_.append(
                {
                    "learning_rate": learning_rate,
                    "retry": self.retrying_,
                    "epochs": self.n_epochs_,
                    "valid_loss": float(self.loss_),
                    "collapsed": collapse,
                }
            )
            if collapse is None:
                return self
            seed = int(rng.integers(2**31 - 1))  # another initialisation, shuffling and noise
        raise AutoencoderCollapsedError(
            f"the autoencoder collapsed in all {self.max_attempts} training runs ({self.attempts_[-1]['collapsed']}): "
            "its embedding would say nothing about the items"
        )

    def _train(
        self, X: np.ndarray, train_idx: np.ndarray, valid_idx: np.ndarray, seed: int, learning_rate: float
    ) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.module_ = self._build(self.input_shape_).to(self.device_)
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(self.module_.parameters(), lr=learning_rate, weight_decay=self.weight_decay)
        best_loss, best_state, stale = math.inf, None, 0
        self.history_: list[dict[str, float]] = []
        self.stopped_early_ = False
        for epoch in range(self.max_epochs):
            train_loss = self._train_epoch(X, train_idx, optimizer, generator)
            valid_loss = float(self._errors(X[valid_idx]).mean())
            self.history_.append({"epoch": epoch, "train_loss": train_loss, "valid_loss": valid_loss})
            if self.on_epoch_end is not None:
                self.on_epoch_end(epoch, train_loss)
            if valid_loss < best_loss - 1e-6:
                best_loss, best_state, stale = valid_loss, copy.deepcopy(self.module_.state_dict()), 0
            else:
                stale += 1
                if stale >= self.patience:
                    self.stopped_early_ = True
                    break
        if best_state is not None:
            self.module_.load_state_dict(best_state)
        self.loss_ = best_loss
        self.n_epochs_ = len(self.history_)
        self.module_.eval()

    @torch.no_grad()
    def _collapse(self, X_valid: np.ndarray) -> str | None:
        """Why the trained module is useless, or None: its reconstructions of the held-out items (nearly) all the
        same (dead units: the loss goes flat early and the output no longer depends on the input), or its
        embedding the same for every item. Needs two held-out items that differ; fewer: None."""
        inputs = X_valid.reshape(len(X_valid), -1).astype(np.float64)
        input_var = float(inputs.var(axis=0).mean()) if len(inputs) > 1 else 0.0
        if input_var <= 0.0:
            return None
        self.module_.eval()
        outputs = np.concatenate([self.module_(batch).cpu().numpy() for batch in self._batches(X_valid)])
        output_var = float(outputs.reshape(len(outputs), -1).astype(np.float64).var(axis=0).mean())
        if output_var < COLLAPSE_VARIANCE_RATIO * input_var:
            return f"near-constant output: variance {output_var:.2g} across held-out items, theirs {input_var:.2g}"
        embedding = np.concatenate([self._encode(batch).cpu().numpy() for batch in self._batches(X_valid)])
        if float(embedding.astype(np.float64).var(axis=0).max()) < 1e-12:
            return "constant embedding: every held-out item embeds to the same point"
        return None

    def _train_epoch(
        self, X: np.ndarray, train_idx: np.ndarray, optimizer: torch.optim.Optimizer, generator: torch.Generator
    ) -> float:
        self.module_.train()
        perm = train_idx[torch.randperm(len(train_idx), generator=generator).numpy()[: self.epoch_items]]
        total, count = 0.0, 0
        for start in range(0, len(perm), self.batch_size):
            batch_idx = np.sort(perm[start : start + self.batch_size])
            clean = torch.from_numpy(X[batch_idx]).to(self.device_)
            noisy = self._corrupt(clean, generator)
            loss = F.mse_loss(self.module_(noisy), clean)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            total += float(loss.detach()) * len(batch_idx)
            count += len(batch_idx)
        return total / count

    def _batches(self, X: np.ndarray) -> Iterator[torch.Tensor]:
        for start in range(0, len(X), self.batch_size):
            yield torch.from_numpy(X[start : start + self.batch_size]).to(self.device_)

    @torch.no_grad()
    def _errors(self, X: np.ndarray) -> np.ndarray:
        self.module_.eval()
        out = []
        for batch in self._batches(X):
            diff = (self.module_(batch) - batch).reshape(len(batch), -1)
            out.append((diff**2).mean(dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    @torch.no_grad()
    def transform(self, X: Any) -> np.ndarray:
        """X -> (n_items, n_components) float32 embedding, computed in batches of ``batch_size``."""
        X = self._check_input(X)
        self.module_.eval()
        out = [self._encode(batch).cpu().numpy() for batch in self._batches(X)]
        return np.concatenate(out) if out else np.zeros((0, self.n_components), np.float32)

    def _encode(self, batch: torch.Tensor) -> torch.Tensor:
        encoder = self.module_.encoder
        assert isinstance(encoder, nn.Module)
        return encoder(batch)

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X).transform(X)

    def reconstruction_error(self, X: Any) -> np.ndarray:
        """X -> (n_items,) mean squared reconstruction error of the clean input (a novelty signal)."""
        return self._errors(self._check_input(X))

    def save(self, path_or_file: Any) -> None:
        """Write the fitted weights and plain hyperparameters with ``torch.save`` (no pickled objects)."""
        config = {k: v for k, v in self.get_params().items() if k != "on_epoch_end"}
        config["hidden_dims"] = list(config.get("hidden_dims") or [])
        state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        payload = {
            "format_version": _FORMAT_VERSION,
            "class": type(self).__name__,
            "config": config,
            "input_shape": list(self.input_shape_),
            "state_dict": state,
            "loss": float(self.loss_),
            "retrying": bool(getattr(self, "retrying_", False)),
        }
        torch.save(payload, path_or_file)

    @classmethod
    def load(cls, path_or_file: Any, device: str | None = None) -> _Autoencoder:
        """Rebuild a fitted autoencoder saved with :meth:`save`; only tensors and plain values are unpickled."""
        payload = torch.load(path_or_file, map_location="cpu", weights_only=True)
        if payload.get("class") != cls.__name__:
            raise ValueError(f"file holds a {payload.get('class')}, not a {cls.__name__}")
        if payload.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported autoencoder file format {payload.get('format_version')}")
        config = dict(payload["config"])
        config["hidden_dims"] = tuple(config["hidden_dims"])
        if device is not None:
            config["device"] = device
        model = cls(**config)
        model.device_ = _resolve_device(model.device)
        model.input_shape_ = tuple(payload["input_shape"])
        model.retrying_ = bool(payload.get("retrying", False))
        model.module_ = model._build(model.input_shape_).to(model.device_)
        model.module_.load_state_dict(payload["state_dict"])
        model.module_.eval()
        model.loss_ = payload["loss"]
        return model


class _MLP(nn.Module):
    def __init__(self, n_features: int, hidden_dims: tuple[int, ...], n_components: int) -> None:
        super().__init__()
        dims = [n_features, *hidden_dims]
        enc: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            enc += [nn.Linear(a, b), nn.ReLU()]
        self.encoder = nn.Sequential(*enc, nn.Linear(dims[-1], n_components))
        dec: list[nn.Module] = []
        back = [n_components, *reversed(hidden_dims)]
        for a, b in itertools.pairwise(back):
            dec += [nn.Linear(a, b), nn.ReLU()]
        self.decoder = nn.Sequential(*dec, nn.Linear(back[-1], n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class TabularAutoencoder(_Autoencoder):
    """Denoising MLP autoencoder for preprocessed tabular rows (see ``features.TabularPreprocessor``).

    Parameters
    ----------
    n_components : int
        Embedding width.
    hidden_dims : tuple of int
        Encoder layer widths (the decoder mirrors them).
    noise_std : float
        Gaussian noise added to the (standardized) inputs while training.
    max_epochs, patience, batch_size, learning_rate, weight_decay, validation_fraction
        Training loop; early stopping watches the held-out reconstruction loss.
    max_attempts : int
        Training runs allowed when a run collapses (near-constant output or embedding); each retry starts from
        another initialisation at half the previous learning rate.
    random_state : int, optional
        Seeds the weight initialisation, the split, the shuffling and the noise.
    device : str, optional
        ``"cpu"``, ``"cuda"``...; None picks CUDA when present, else the CPU.
    on_epoch_end : callable(epoch, train_loss), optional
        Progress hook called after each epoch.
    """

    def __init__(
        self,
        n_components: int = 16,
        hidden_dims: tuple[int, ...] = (128, 64),
        noise_std: float = 0.1,
        max_epochs: int = 30,
        patience: int = 3,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        max_attempts: int = 3,
        random_state: int | None = None,
        device: str | None = None,
        on_epoch_end: Callable[[int, float], None] | None = None,
    ) -> None:
        self.n_components = n_components
        self.hidden_dims = hidden_dims
        self.noise_std = noise_std
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.max_attempts = max_attempts
        self.random_state = random_state
        self.device = device
        self.on_epoch_end = on_epoch_end

    def _check_input(self, X: Any) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"expected (n_items, n_features), got shape {X.shape}")
        if hasattr(self, "input_shape_") and X.shape[1:] != self.input_shape_:
            raise ValueError(f"expected {self.input_shape_[0]} features, got {X.shape[1]}")
        return np.asarray(X)

    def _build(self, input_shape: tuple[int, ...]) -> nn.Module:
        return _MLP(input_shape[0], tuple(self.hidden_dims), self.n_components)

    def _corrupt(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.noise_std <= 0:
            return batch
        noise = torch.randn(batch.shape, generator=generator).to(batch.device)
        return batch + self.noise_std * noise


class _ConvNet(nn.Module):
    def __init__(
        self, channels: int, size: int, hidden_dims: tuple[int, ...], n_components: int, linear_output: bool = False
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, s = channels, size
        for c_out in hidden_dims:
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
            c_in, s = c_out, (s + 1) // 2
        self.size, self.grid, self.c_last = size, s, c_in
        self.encoder = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * s * s, n_components))
        up: list[nn.Module] = []
        for c_out in [*reversed(hidden_dims[:-1]), channels]:
            up += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
            c_in = c_out
        # Pixels live in [0, 1], hence the sigmoid; but it can saturate early and stick at a constant image (rendered
        # glyphs: every run collapsed with it, none without it), so retries go without it.
        up[-1] = nn.Identity() if linear_output else nn.Sigmoid()
        self.project = nn.Linear(n_components, self.c_last * s * s)
        self.decoder = nn.Sequential(*up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.project(self.encoder(x)).relu().view(len(x), self.c_last, self.grid, self.grid)
        out: torch.Tensor = self.decoder(z)
        if out.shape[-1] != self.size:
            out = F.interpolate(out, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return out


class ImageAutoencoder(_Autoencoder):
    """Denoising convolutional autoencoder for images ``(n_items, channels, size, size)`` in [0, 1].

    Prepare images with ``features.images_to_array`` (which resizes to a configurable size and keeps
    channels). Each entry of ``hidden_dims`` is a stride-2 convolution; the decoder mirrors them with
    transposed convolutions, the last followed by a sigmoid (pixels in [0, 1]). Training corrupts inputs by
    zeroing a ``mask_fraction`` of pixels. A collapsed run is retried without the output sigmoid: saturated, it
    can hold the output at one constant image however the weights move.
    Other parameters as in :class:`TabularAutoencoder`.
    """

    def __init__(
        self,
        n_components: int = 32,
        hidden_dims: tuple[int, ...] = (16, 32, 64),
        mask_fraction: float = 0.2,
        max_epochs: int = 20,
        patience: int = 3,
        batch_size: int = 128,
        learning_rate: float = 2e-3,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        max_attempts: int = 3,
        random_state: int | None = None,
        device: str | None = None,
        on_epoch_end: Callable[[int, float], None] | None = None,
    ) -> None:
        self.n_components = n_components
        self.hidden_dims = hidden_dims
        self.mask_fraction = mask_fraction
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.max_attempts = max_attempts
        self.random_state = random_state
        self.device = device
        self.on_epoch_end = on_epoch_end

    def _check_input(self, X: Any) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 4 or X.shape[2] != X.shape[3]:
            raise ValueError(f"expected (n_items, channels, size, size) images, got shape {X.shape}")
        if hasattr(self, "input_shape_") and X.shape[1:] != self.input_shape_:
            raise ValueError(f"expected images of shape {self.input_shape_}, got {X.shape[1:]}")
        return np.asarray(X)

    def _build(self, input_shape: tuple[int, ...]) -> nn.Module:
        channels, size, _ = input_shape
        linear = bool(getattr(self, "retrying_", False))
        return _ConvNet(channels, size, tuple(self.hidden_dims), self.n_components, linear_output=linear)

    def _corrupt(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.mask_fraction <= 0:
            return batch
        keep = torch.rand(batch.shape, generator=generator).to(batch.device) >= self.mask_fraction
        return batch * keep
