"""The command line: a thin layer over the Python API, no logic of its own."""
