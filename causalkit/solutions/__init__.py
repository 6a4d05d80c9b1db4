"""Reference solutions to the exercises that close each notebook.

They live in the package, not in the notebooks, so that the test suite runs them
(``tests/test_solutions.py``) and they never rot. Instructors: show them with
``causalkit.core.show_source``.
"""
