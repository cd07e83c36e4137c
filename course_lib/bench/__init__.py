"""The course's speed benchmarks, one job per module.

Imports flow one way, from the statistics up to the record:

- :mod:`~course_lib.bench.stats`: window statistics and the load warning (pure
  arithmetic);
- :mod:`~course_lib.bench.harness`: the timed windows, results, the matmul peak;
- :mod:`~course_lib.bench.flops`: FLOPs per image, layer by layer, and per
  training step;
- :mod:`~course_lib.bench.slow_samplers`: an autoregressive pixel transformer
  and an iterative denoiser, built only to be timed;
- :mod:`~course_lib.bench.sampling_speed`: the ways to sample the DCGAN
  generator, BatchNorm folding;
- :mod:`~course_lib.bench.training_speed`: the TF tutorial's reference loop and
  ``gan.build_gan()``, as timed workloads;
- :mod:`~course_lib.bench.profile`: the TensorFlow profiler's op times of a
  step, grouped into families;
- :mod:`~course_lib.bench.generation`: the cost per image of the generator
  families;
- :mod:`~course_lib.bench.record`: the whole suite, its JSON record and table.

``python -m course_lib.bench [--quick] [--json FILE]`` (:mod:`__main__`) runs the
suite and stores the record in ``data/benchmarks/``.

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""
