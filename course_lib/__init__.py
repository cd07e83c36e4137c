"""course_lib: the tested, reusable code of 'GANs and VAEs: derived, trained and timed'.

The notebooks hold the teaching; this package holds the code they share. Import
modules, not names: ``from course_lib import config, data``.
"""

import os

# Keras reads its backend once, at import time; the course uses TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Hide TensorFlow's C++ start-up chatter (oneDNN and CUDA notices) in notebooks.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
