"""The ``art-ext`` command line, the top layer: it imports the rest of art-ext, nothing imports it.

* :mod:`art_ext.cli.app`: the parser, ``art-ext plugins`` and the dispatch to a command's runner;
* :mod:`art_ext.cli.runners`: the runner contract (``honours``, the common options, ``prepare_out``,
  ``write_json``) that plugin runners use too;
* :mod:`art_ext.cli.attack`: the default ``art-ext attack`` runner for image attacks;
* :mod:`art_ext.cli.train`: the default ``art-ext train`` runner (the trainer core);
* :mod:`art_ext.cli.bench`: ``art-ext bench``'s options, handed to :mod:`art_ext.bench`.
"""

from art_ext.cli.app import main

__all__ = ["main"]
