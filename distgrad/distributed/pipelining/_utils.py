"""What torch keeps in `torch.distributed.pipelining._utils` and programs catch."""


class PipeliningMetadataError(RuntimeError):
    """torch's error for a stage that lacks what its step needs (a last stage's target)."""
