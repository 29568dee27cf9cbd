"""The demo's drawing, importable under its published path (``from demo.predictor import
VisualizationDemo``, run from the repository root); it lives in
:mod:`mask2former.engine.visualization`."""

from mask2former.engine.visualization import (  # noqa: F401
    TASKS,
    TaskUnavailableError,
    VisualizationDemo,
    check_task,
    drawing_metadata,
)
