import io

import numpy as np
import pytest
import torch

from active_learning.core.autoencoders import ImageAutoencoder, TabularAutoencoder


def _table(n=64, d=8, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 2))
    return (latent @ rng.normal(size=(2, d)) + 0.05 * rng.normal(size=(n, d))).astype(np.float32)


def _images(n=32, size=16, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 1, size, dtype=np.float32)
    bright = rng.random((n, channels, 1, 1)).astype(np.float32)
    return np.clip(bright * base[None, None, :, None] * base[None, None, None, :] * 2, 0, 1)


def _tabular(**kw):
    params = {
        "n_components": 3,
        "hidden_dims": (16,),
        "max_epochs": 3,
        "patience": 5,
        "batch_size": 16,
        "learning_rate": 1e-2,
        "random_state": 0,
        "device": "cpu",
    }
    return TabularAutoencoder(**{**params, **kw})


def _image(**kw):
    params = {
        "n_components": 4,
        "hidden_dims": (4, 8),
        "max_epochs": 3,
        "patience": 5,
        "batch_size": 8,
        "learning_rate": 1e-2,
        "random_state": 0,
        "device": "cpu",
    }
    return ImageAutoencoder(**{**params, **kw})


def test_tabular_autoencoder_loss_falls_and_shapes_are_right():
    X = _table()
    seen = []
    model = _tabular(on_epoch_end=lambda epoch, loss: seen.append((epoch, loss))).fit(X)
    assert [e for e, _ in seen] == [0, 1, 2]
    assert seen[-1][1] < seen[0][1]
    assert model.history_[-1]["valid_loss"] < model.history_[0]["valid_loss"]
    assert model.transform(X).shape == (64, 3)
    assert model.transform(X).dtype == np.float32
    assert model.reconstruction_error(X).shape == (64,)


def test_image_autoencoder_loss_falls_and_shapes_are_right():
    X = _images()
    model = _image().fit(X)
    losses = [h["train_loss"] for h in model.history_]
    assert losses[-1] < losses[0]
    assert model.transform(X).shape == (32, 4)
    assert model.module_(torch.from_numpy(X)).shape == X.shape
    assert (model.reconstruction_error(X) >= 0).all()


def test_image_autoencoder_handles_sizes_that_do_not_halve_evenly():
    X = _images(n=8, size=12, channels=1)
    model = _image(max_epochs=1).fit(X)
    assert model.module_(torch.from_numpy(X)).shape == X.shape


@pytest.mark.parametrize(("factory", "data"), [(_tabular, _table), (_image, _images)])
def test_save_load_round_trip_gives_identical_transform(factory, data, tmp_path):
    X = data()
    model = factory().fit(X)
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    loaded = type(model).load(buffer)
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    model.save(tmp_path / "model.pt")
    from_path = type(model).load(tmp_path / "model.pt")
    np.testing.assert_array_equal(from_path.reconstruction_error(X), model.reconstruction_error(X))
    assert from_path.get_params()["hidden_dims"] == model.hidden_dims


def test_saved_file_loads_with_weights_only_and_refuses_the_wrong_class(tmp_path):
    model = _tabular().fit(_table())
    model.save(tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    assert payload["class"] == "TabularAutoencoder"
    with pytest.raises(ValueError, match="not a ImageAutoencoder"):
        ImageAutoencoder.load(tmp_path / "model.pt")


def test_same_seed_same_embedding_other_seed_differs():
    X = _table()
    a = _tabular(random_state=1).fit(X).transform(X)
    b = _tabular(random_state=1).fit(X).transform(X)
    c = _tabular(random_state=2).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_early_stopping_keeps_the_best_epoch():
    X = _table()
    model = _tabular(max_epochs=40, patience=1, learning_rate=0.5).fit(X)
    best = min(h["valid_loss"] for h in model.history_)
    assert model.loss_ == pytest.approx(best)
    assert model.n_epochs_ <= 40


def test_transform_is_batched_and_matches_one_big_batch():
    X = _table(n=50)
    model = _tabular(batch_size=7).fit(X)
    small = model.transform(X)
    model.batch_size = 1000
    np.testing.assert_allclose(model.transform(X), small, rtol=1e-5, atol=1e-6)


def test_wrong_input_shape_is_refused():
    model = _tabular().fit(_table())
    with pytest.raises(ValueError, match="expected 8 features"):
        model.transform(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="size, size"):
        _image().fit(np.zeros((4, 3, 8, 6), np.float32))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_autoencoder_trains_on_cuda():
    model = _tabular(device="cuda").fit(_table())
    assert next(model.module_.parameters()).is_cuda
    assert model.transform(_table()).shape == (64, 3)


GLYPHS_COLLAPSING_SEEDS = (0, 1)  # with the output sigmoid, every seed we tried collapsed on these glyphs


@pytest.fixture(scope="module")
def glyphs():
    from active_learning.core.features import images_to_array
    from active_learning.core.glyphs import render_glyphs

    images, _ = render_glyphs(30, random_state=0)  # 300 letters, fonts, affine transforms, noise
    return images_to_array(list(images), 16)


@pytest.mark.parametrize("seed", GLYPHS_COLLAPSING_SEEDS)
def test_a_collapsed_image_autoencoder_is_retried_and_the_outcome_recorded(glyphs, seed):
    model = ImageAutoencoder(random_state=seed, device="cpu").fit(glyphs)

    first, *retries = model.attempts_
    assert first["collapsed"].startswith("near-constant output")
    assert not first["retry"]
    assert retries
    assert retries[-1]["retry"]
    assert retries[-1]["collapsed"] is None
    assert retries[-1]["learning_rate"] < first["learning_rate"]
    assert retries[-1]["valid_loss"] < first["valid_loss"]
    embedding = model.transform(glyphs[:50])
    assert embedding.std(axis=0).max() > 1e-3
    reconstruction = model.module_(torch.from_numpy(glyphs[:50])).detach().numpy()
    assert reconstruction.var(axis=0).mean() > 0.01 * glyphs[:50].var(axis=0).mean()  # 10x the collapse limit


def test_an_autoencoder_that_collapses_in_every_run_fails_loudly(glyphs):
    from active_learning.core.autoencoders import AutoencoderCollapsedError

    model = ImageAutoencoder(random_state=GLYPHS_COLLAPSING_SEEDS[0], device="cpu", max_attempts=1)
    with pytest.raises(AutoencoderCollapsedError, match=r"collapsed in all 1 training runs \(near-constant output"):
        model.fit(glyphs)
    assert len(model.attempts_) == 1


def test_a_healthy_run_is_trained_once(glyphs):
    model = _tabular(max_epochs=30, patience=2).fit(_table(n=200))
    assert len(model.attempts_) == 1
    assert model.attempts_[0]["collapsed"] is None
    assert not model.attempts_[0]["retry"]


class _CountingAutoencoder(TabularAutoencoder):
    """Counts the training rows each epoch visits (every training batch is corrupted once)."""

    epoch_items = 100
    validation_items = 20

    def _corrupt(self, batch, generator):
        self.rows_seen_ = getattr(self, "rows_seen_", 0) + len(batch)
        return super()._corrupt(batch, generator)

    def _errors(self, X):
        self.largest_check_ = max(getattr(self, "largest_check_", 0), len(X))
        return super()._errors(X)


def test_a_large_pool_trains_on_a_bounded_sample_each_epoch_and_still_embeds_every_item():
    X = np.random.default_rng(0).normal(size=(1_000, 4)).astype(np.float32)
    ae = _CountingAutoencoder(n_components=2, hidden_dims=(8,), max_epochs=3, patience=10, random_state=0).fit(X)
    assert ae.rows_seen_ == 3 * 100
    assert ae.largest_check_ == 20  # the held-out loss, on at most validation_items rows
    assert ae.transform(X).shape == (1_000, 2)


def test_a_pool_below_the_bounds_trains_on_every_row_each_epoch():
    X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    ae = _CountingAutoencoder(n_components=2, hidden_dims=(8,), max_epochs=3, patience=10, random_state=0).fit(X)
    assert ae.rows_seen_ == 3 * 54  # 6 of the 60 rows held out
