"""Tests for course_lib.bench.profile: the profiler's op times, grouped.

Nothing here is timed: the tests check which ops a trace contains and how the
grouping adds up, never how long anything took.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest
import tensorflow as tf

from course_lib.bench import profile


@pytest.mark.parametrize(
    ("op_type", "category"),
    [
        ("_MklNativeConv2DBackpropInput", "convolutions"),
        ("_MklNativeFusedConv2D", "convolutions"),
        ("_MklMatMul", "matrix products"),
        ("StatelessRandomUniformV2", "random numbers"),
        ("Mul", profile.OTHER),  # not a MatMul
        ("LeakyReluGrad", profile.OTHER),
    ],
)
def test_op_types_fall_in_their_family(op_type, category):
    assert profile.category_of(op_type) == category


def test_by_category_adds_every_op_once_and_keeps_empty_families():
    grouped = profile.by_category(
        {"Conv2D": 3.0, "Conv2DBackpropFilter": 2.0, "Mul": 0.5, "AddV2": 0.25}
    )
    assert grouped == {
        "convolutions": 5.0,
        "matrix products": 0.0,
        "random numbers": 0.0,
        profile.OTHER: 0.75,
    }


def test_a_profiled_step_shows_its_matmul_and_random_ops():
    @tf.function
    def step(x):
        noise = tf.random.uniform(tf.shape(x))  # stateful: never constant-folded
        return tf.matmul(x + noise, x)

    batches = [tf.ones((128, 128))] * 4
    grouped = profile.by_category(profile.op_milliseconds(step, batches))
    assert grouped["matrix products"] > 0
    assert grouped["random numbers"] > 0
    assert grouped["convolutions"] == 0


def test_too_few_batches_name_the_fix():
    with pytest.raises(ValueError, match="dataset.take"):
        profile.op_milliseconds(tf.function(lambda x: x), [tf.ones(2)], warmup=1)
