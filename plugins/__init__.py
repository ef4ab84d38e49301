"""art-ext's built-in plugins, loaded through the ``art_ext`` entry-point group like any other."""
