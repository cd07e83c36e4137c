"""Auto-checks for the course's exercises, one ``check_<exercise>`` each.

Each check prints one ``PASS`` or ``FAIL`` line, in the manner of CS231n's
``rel_error``, and returns ``True`` or ``False``. A ``FAIL`` line names the
mistake where the answer matches a typical one. An answer may be a number, an
array, a tuple or, where the exercise says so, a function that the check calls on
its own test inputs. In the notebooks each check runs in an nbgrader test cell,
``assert checks.check_<exercise>(answer)``, which is what the autograder scores.

- ``core``: the shared comparison and reporting;
- ``counts``: notebooks 00 and 01;
- ``maths``: notebooks 02 and 03;
- ``training``: notebooks 05 to 08;
- ``toy_gan``, ``gan_build``, ``vae_build``: the build exercises of notebooks 04,
  05 and 06, which compare the learner's networks and ``train_step`` with the
  library's twins.

Introduced in notebooks/01_background.ipynb.
"""

from course_lib.checks import gan_build, toy_gan, vae_build
from course_lib.checks.core import (
    DEFAULT_TOLERANCE,
    NOT_IMPLEMENTED,
    rel_error,
)
from course_lib.checks.counts import (
    HISTORY_YEARS,
    check_autoregressive_steps,
    check_bright_pixels,
    check_history_years,
    check_token_count,
)
from course_lib.checks.maths import (
    LINEAR_GAUSSIAN,
    check_gaussian_kl,
    check_gaussian_nll,
    check_generator_logit_gradient,
    check_jsd,
    check_linear_gaussian_posterior,
    check_optimal_discriminator_value,
)
from course_lib.checks.training import (
    check_bits_per_pixel,
    check_conv_flops,
    check_discriminator_loss_value,
    check_elbo_gap,
    check_generator_logit_gradient_value,
    check_iwae_bound,
    check_kv_cache_factors,
    check_midpoint_norm_ratio,
    check_slerp,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "HISTORY_YEARS",
    "LINEAR_GAUSSIAN",
    "NOT_IMPLEMENTED",
    "check_autoregressive_steps",
    "check_bits_per_pixel",
    "check_bright_pixels",
    "check_conv_flops",
    "check_discriminator_loss_value",
    "check_elbo_gap",
    "check_gaussian_kl",
    "check_gaussian_nll",
    "check_generator_logit_gradient",
    "check_generator_logit_gradient_value",
    "check_history_years",
    "check_iwae_bound",
    "check_jsd",
    "check_kv_cache_factors",
    "check_linear_gaussian_posterior",
    "check_midpoint_norm_ratio",
    "check_optimal_discriminator_value",
    "check_slerp",
    "check_token_count",
    "rel_error",
]

# Each build-check module lists its own checks in its __all__.
for _module in (toy_gan, gan_build, vae_build):
    for _name in _module.__all__:
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
del _module
