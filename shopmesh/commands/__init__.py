"""Sub-commands of the ``shopmesh`` command line, one module per group."""
