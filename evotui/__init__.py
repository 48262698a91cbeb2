"""evotui: see what your language model is guessing for your training data, live, in a terminal.

The package never imports torch or transformers at module level (the viewer runs without them);
training lives in the sibling package ``tracker``.
"""

__version__ = "0.1.0"
