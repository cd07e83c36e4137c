"""Tests for course_lib.frontier: the table's columns and arithmetic, reused reports
for identical samplers, and the plot's labels (with stand-in families)."""

import numpy as np
import pytest

from course_lib import frontier
from course_lib.bench import harness


def _family(name, kind, steps=None, same=None):
    def sample(count, seed):
        return np.zeros((count, 28, 28, 1), np.float32)

    return frontier.Family(
        name, kind, sample, lambda batch: lambda: None, steps, same_samples_as=same
    )


def _result(ms_per_call, batch):
    return harness.Result("x", batch, 1, [ms_per_call / 1000] * 3, 1.0, None, "CPU")


ENTRIES = [
    _family("GAN (shipped)", "gan"),
    _family("token AR, KV cache", "autoregressive"),
    _family("token AR, no cache", "autoregressive", same="token AR, KV cache"),
    _family("MaskGIT K=8", "maskgit", 8),
    _family("latent diffusion T=50", "latent_diffusion", 50),
]


def _report(share):
    return {
        "recognisable_fraction": 0.5,
        "class_counts": [10] * 9 + [0],
        "largest_share": share,
        "fid": 12.34,
        "fid_floor": 5.0,
    }


def test_sequential_calls_per_family():
    assert [family.sequential_calls for family in ENTRIES] == [1, 50, 50, 9, 51]


def test_identical_samplers_reuse_the_report(monkeypatch):
    calls = []

    def fake_report(images, value_range, mnist, binarised=False):
        calls.append(len(images))
        return _report(0.1)

    monkeypatch.setattr(frontier.evaluation, "sample_report", fake_report)
    reports = frontier.measure_quality(ENTRIES, None, 5)
    assert len(calls) == 4  # the uncached sampler is not sampled again
    assert reports["token AR, no cache"] is reports["token AR, KV cache"]


def test_the_table_divides_call_time_by_the_batch():
    reports = {family.name: _report(0.2) for family in ENTRIES}
    speed = {
        family.name: {1: _result(10.0, 1), 256: _result(512.0, 256)}
        for family in ENTRIES
    }
    rows = frontier.table(ENTRIES, reports, speed)
    assert rows[0]["ms/image @ 1"] == pytest.approx(10.0)
    assert rows[0]["ms/image @ 256"] == pytest.approx(2.0)
    assert rows[0]["digits present"] == 9 and rows[0]["FID"] == 12.3
    assert [row["sequential calls"] for row in rows] == [1, 50, 50, 9, 51]
    figure = frontier.plot(rows, (1, 256), title="test")
    labels = [axis.get_xlabel() for axis in figure.axes]
    assert labels[0].startswith("milliseconds per image at batch 1")
    assert all(axis.get_ylabel() for axis in figure.axes)
