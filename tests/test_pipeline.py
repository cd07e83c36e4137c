"""Every course pipeline ends in a fixed prefetch with tf.data's autotuner off.

An autotuned iterator's deletion waits for its tuning thread's sleep (measured:
up to 7 s at the end of a 14 s ``fit`` call; ``course_lib/pipeline.py``), so the
tests read each pipeline's options and its last transformation, not its speed.
"""

import os
import types

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import tensorflow as tf

from course_lib import data, pipeline, token_data
from course_lib.bench import training_speed


def _prefetch_buffer(dataset):
    # A PrefetchDataset keeps its buffer size; options() wraps it in an
    # _OptionsDataset, whose input is the pipeline itself.
    while not hasattr(dataset, "_buffer_size"):
        dataset = dataset._input_dataset
    return int(dataset._buffer_size)


def test_untuned_switches_the_autotuner_off_and_keeps_the_elements():
    dataset = tf.data.Dataset.range(5).map(lambda x: x * 2)
    assert dataset.options().autotune.enabled is not False
    untuned = pipeline.untuned(dataset)
    assert untuned.options().autotune.enabled is False
    assert list(untuned.as_numpy_iterator()) == [0, 2, 4, 6, 8]


def test_fixed_prefetch_buffers_a_fixed_number_of_batches():
    dataset = pipeline.fixed_prefetch(tf.data.Dataset.range(3))
    assert dataset.options().autotune.enabled is False
    assert _prefetch_buffer(dataset) == pipeline.PREFETCH_BATCHES > 0


def test_make_dataset_is_untuned_with_or_without_prefetch():
    images = np.zeros((8, 28, 28, 1), np.float32)
    for prefetch in (True, False):
        dataset = data.make_dataset(images, 4, prefetch=prefetch)
        assert dataset.options().autotune.enabled is False, prefetch
    assert _prefetch_buffer(data.make_dataset(images, 4)) == pipeline.PREFETCH_BATCHES


def test_the_benchmark_and_token_pipelines_are_untuned():
    images = np.zeros((8, 28, 28), np.uint8)
    assert training_speed.image_dataset(images, 4).options().autotune.enabled is False
    recipe = types.SimpleNamespace(batch_size=4, num_codes=16)
    sequences = np.zeros((8, 5), np.int32)
    for causal in (True, False):
        dataset = token_data.prior_dataset(sequences, recipe, causal, shuffle=True)
        assert dataset.options().autotune.enabled is False, causal
        assert _prefetch_buffer(dataset) == pipeline.PREFETCH_BATCHES, causal
