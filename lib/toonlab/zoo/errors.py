"""The one error every weight loader raises when pretrained weights are not on this machine."""


class WeightsMissingError(RuntimeError):
    """Pretrained weights are needed but absent, and they cannot be downloaded from here.

    The message always says what to download and where to put it (or which environment variable to set),
    so a researcher can fix it in one step. Raised at once: never a hang, never random weights instead.
    """
