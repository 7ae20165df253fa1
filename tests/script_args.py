"""Load a script of ch02/ as a module and run its argument check in this
process: nothing is loaded before the check, so no subprocess is needed."""

import importlib.util

import pytest


def load_script(path):
    """The script at ``path`` as a module, to call its ``parse_args``."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bad_arguments(path, args, capsys):
    """(exit code, standard error) of the script's ``parse_args(args)``."""
    with pytest.raises(SystemExit) as exit_info:
        load_script(path).parse_args(args)
    return exit_info.value.code, capsys.readouterr().err.strip()
