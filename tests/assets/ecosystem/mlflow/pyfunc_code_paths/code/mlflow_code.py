"""Helper code shipped with an MLflow model through ``code_paths`` (copied into the model's ``code/``
folder and put on ``sys.path`` when the model loads: the reason that model is kind "code")."""


def scale(values, factor=2.0):  # type: ignore[no-untyped-def]
    """Multiply model inputs by a constant factor."""
    return values * factor
