"""Tests for course_lib.vq: the nearest code against brute force, the straight-through
gradient with a tape, both VQ losses against NumPy, usage and re-seeding, and the
VQ-VAE's training step and bad inputs."""

import numpy as np
import pytest
import tensorflow as tf

from course_lib import vq


def _brute_force(vectors, codebook):
    flat = vectors.reshape(-1, codebook.shape[1])
    best = []
    for vector in flat:
        distances = [float(np.sum((vector - code) ** 2)) for code in codebook]
        best.append(int(np.argmin(distances)))
    return np.array(best).reshape(vectors.shape[:-1])


def test_nearest_codes_match_brute_force():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, 3, 3, 4)).astype(np.float32)
    codebook = rng.normal(size=(11, 4)).astype(np.float32)
    codes = np.asarray(vq.nearest_codes(vectors, codebook))
    assert codes.shape == (5, 3, 3) and codes.dtype == np.int32
    np.testing.assert_array_equal(codes, _brute_force(vectors, codebook))


def test_nearest_codes_refuse_a_codebook_of_another_size():
    with pytest.raises(ValueError, match="Fix"):
        vq.nearest_codes(np.zeros((2, 4), np.float32), np.zeros((8, 3), np.float32))


def test_straight_through_has_the_value_of_z_q_and_the_identity_gradient():
    rng = np.random.default_rng(1)
    z_e = tf.Variable(rng.normal(size=(2, 3, 4)).astype(np.float32))
    z_q = tf.Variable(rng.normal(size=(2, 3, 4)).astype(np.float32))
    weights = tf.constant(rng.normal(size=(2, 3, 4)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        output = vq.straight_through(z_e, z_q)
        loss = tf.reduce_sum(weights * output)
    np.testing.assert_allclose(output.numpy(), z_q.numpy(), atol=1e-6)
    # d loss / d z_e = weights: the identity passes the gradient through.
    np.testing.assert_allclose(tape.gradient(loss, z_e).numpy(), weights.numpy())
    assert tape.gradient(loss, z_q) is None


def test_vq_losses_match_numpy_and_send_gradients_to_the_right_side():
    rng = np.random.default_rng(2)
    e_np = rng.normal(size=(3, 5)).astype(np.float32)
    q_np = rng.normal(size=(3, 5)).astype(np.float32)
    z_e, z_q = tf.Variable(e_np), tf.Variable(q_np)
    with tf.GradientTape(persistent=True) as tape:
        codebook_loss, commitment_loss = vq.vq_losses(z_e, z_q)
    expected = np.mean((e_np - q_np) ** 2)
    assert float(codebook_loss) == pytest.approx(expected, rel=1e-5)
    assert float(commitment_loss) == pytest.approx(expected, rel=1e-5)
    size = e_np.size
    np.testing.assert_allclose(
        tape.gradient(codebook_loss, z_q).numpy(), 2 * (q_np - e_np) / size, rtol=1e-5
    )
    assert tape.gradient(codebook_loss, z_e) is None
    np.testing.assert_allclose(
        tape.gradient(commitment_loss, z_e).numpy(),
        2 * (e_np - q_np) / size,
        rtol=1e-5,
    )
    assert tape.gradient(commitment_loss, z_q) is None


def test_code_usage_counts_perplexity_and_dead_codes():
    usage = vq.code_usage(np.array([[0, 1], [2, 3]]), num_codes=6)
    assert usage["counts"].tolist() == [1, 1, 1, 1, 0, 0]
    assert usage["perplexity"] == pytest.approx(4.0)
    assert usage["dead_codes"] == 2 and usage["used_fraction"] == pytest.approx(4 / 6)
    single = vq.code_usage(np.zeros(10, np.int64), num_codes=3)
    assert single["perplexity"] == pytest.approx(1.0) and single["dead_codes"] == 2
    skewed = vq.code_usage(np.array([0, 0, 0, 1]), num_codes=2)
    p = np.array([0.75, 0.25])
    assert skewed["perplexity"] == pytest.approx(np.exp(-np.sum(p * np.log(p))))


@pytest.mark.parametrize(
    "tokens", [np.array([0, 5]), np.array([-1, 0]), np.array([0.0, 1.0])]
)
def test_tokens_out_of_range_or_not_integers_are_refused(tokens):
    with pytest.raises(ValueError, match="Fix"):
        vq.check_tokens(tokens, 5)


def test_reseeding_moves_only_dead_codes_onto_encoder_outputs():
    codebook = tf.Variable(np.zeros((4, 2), np.float32))
    vectors = np.array([[10.0, 10.0], [20.0, 20.0]], np.float32)
    moved = vq.reseed_dead_codes(codebook, np.array([3, 0, 1, 0]), vectors, seed=0)
    table = codebook.numpy()
    assert moved == 2
    np.testing.assert_array_equal(table[[0, 2]], 0.0)
    for row in table[[1, 3]]:
        distances = np.abs(vectors - row).max(axis=1)
        assert distances.min() < 0.01
    assert vq.reseed_dead_codes(codebook, np.ones(4), vectors) == 0


@pytest.fixture(scope="module")
def tiny_vqvae():
    model = vq.build_vqvae(num_codes=8, code_dim=4)
    images = (np.random.default_rng(3).random((16, 28, 28, 1)) > 0.7).astype("float32")
    history = model.fit(images, batch_size=8, epochs=1, verbose=0)
    return model, images, history.history


def test_vqvae_trains_and_tokenizes(tiny_vqvae):
    model, images, history = tiny_vqvae
    assert all(np.isfinite(values[-1]) for values in history.values())
    assert {"loss", "reconstruction", "codebook", "commitment", "perplexity"} <= set(
        history
    )
    tokens = model.tokenize(images[:3])
    assert tokens.shape == (3, 7, 7) and tokens.min() >= 0 and tokens.max() < 8
    z_e = model.encode(images[:3])
    np.testing.assert_array_equal(tokens, _brute_force(z_e, np.asarray(model.codebook)))
    decoded = model.decode_tokens(tokens.reshape(3, 49))
    assert decoded.shape == (3, 28, 28, 1)
    assert 0.0 <= decoded.min() and decoded.max() <= 1.0
    np.testing.assert_allclose(model.reconstruct(images[:3]), decoded, atol=1e-6)


@pytest.mark.parametrize(
    ("tokens", "match"),
    [
        (np.zeros((2, 48), np.int32), "shape"),
        (np.zeros((2, 7, 6), np.int32), "shape"),
        (np.full((1, 49), 8, np.int32), r"\[0, 8\)"),
    ],
)
def test_decode_tokens_refuses_bad_tokens(tiny_vqvae, tokens, match):
    with pytest.raises(ValueError, match=match):
        tiny_vqvae[0].decode_tokens(tokens)


def test_reseeding_callback_records_usage(tiny_vqvae):
    model, images, _ = tiny_vqvae
    callback = vq.ReseedDeadCodes(images, enabled=False)
    callback.set_model(model)
    callback.on_epoch_end(0)
    record = callback.records[0]
    usage = vq.code_usage(model.tokenize(images), 8)
    assert record["dead_codes"] == usage["dead_codes"] and record["reseeded"] == 0
    assert record["perplexity"] == pytest.approx(usage["perplexity"], abs=0.01)


def test_bad_codebook_sizes_are_refused():
    with pytest.raises(ValueError, match="Fix"):
        vq.VQVAE(num_codes=1)
