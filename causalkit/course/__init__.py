"""The course: a student and an instructor edition of every notebook, and their grading.

The committed notebooks are the single source. An exercise is a code cell tagged
``exercise`` whose answer sits between nbgrader's ``### BEGIN SOLUTION`` and
``### END SOLUTION`` markers; the student edition replaces that region with a stub
(nbgrader's ``ClearSolutions``) and drops cells tagged ``solution`` (nbconvert's
``TagRemovePreprocessor``). ``grade`` runs a notebook headless and checks each exercise's
function with the graders in :mod:`causalkit.course.checks`.
"""

from causalkit.course.checks import Check, checks_for
from causalkit.course.editions import EDITIONS, exercise_namespace, make_edition
from causalkit.course.grading import GradeReport, Score, grade, grade_exercise

__all__ = [
    "EDITIONS",
    "Check",
    "GradeReport",
    "Score",
    "checks_for",
    "exercise_namespace",
    "grade",
    "grade_exercise",
    "make_edition",
]
